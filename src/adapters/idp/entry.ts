/**
 * One identity provider's registry entry (src/adapters/idp/registry.ts): how its adapter is built from the credential's configuration, the resolved secrets and the shared
 * dependencies the composition root (src/app/idp.ts) hands every entry alike.
 */
import type { TokenCredential } from "@azure/identity";
import type { IdpConfig, Policy, SecretRef } from "../../config/load.js";
import type { Clock, IdentityProvider } from "../../ports/engine.js";

export interface IdpBuildDeps {
  /** The cloud's endpoints (config.cloud): the authority host and Microsoft Graph. */
  cloud: { authorityHost: string; graphBaseUrl: string };
  /** The service identity (managed identity, workload identity or a developer's sign-in). */
  credential: TokenCredential;
  clock: Clock;
  /** The credential's effective policy. */
  policy: Policy;
  /** Waits for a slot for one key write at the provider, under the entry's declared writeLimits. */
  writeSlot(): Promise<void>;
  /** One of the entry's secret references (`secrets()`), resolved and registered for redaction. */
  secret(field: string, ref: SecretRef): Promise<string>;
}

/** Its declared data (rules, wording, secrets, issuer form) is the kind's ./<kind>/rules.ts (./kind.ts). */
export interface IdpEntry<C extends IdpConfig = IdpConfig> {
  create(config: C, deps: IdpBuildDeps): Promise<IdentityProvider>;
}
