/**
 * What every identity provider's registry entry declares as data (src/adapters/idp/registry.ts): its rules
 * for client keys, how messages name its client, the documented write limits its key writes count against,
 * its secret references, the issuer form Kong should name, and the scopes that replace Kong's in the proof.
 * Pure data and functions of the credential's configuration: the configuration layer and the Kong adapters
 * read it through src/idp-rules.ts without building any client.
 */
import type { IdpConfig, SecretRef } from "../../config/load.js";
import type { ProviderWriteLimit } from "../../limits.js";
import type { IdpRules, SecretMigrationRules } from "../../ports/engine.js";

/** The issuer Kong's plugin should name for the credential's IdP (each provider's documented form). */
export interface IssuerForm {
  matches(issuer: string): boolean;
  /** What it names, for messages: "tenant <id>", "Okta authorization server <url>". */
  what: string;
  hint: string;
}

export interface IdpKindRules<C extends IdpConfig = IdpConfig> {
  kind: C["kind"];
  rules: IdpRules;
  /** How messages name the client at this provider: "<clientNoun> <client id>". */
  clientNoun: string;
  /** How secret authentication ends when a client moves to private_key_jwt (the `migrate` command). */
  secretMigration: SecretMigrationRules;
  /** The fleet's rate limits (src/limits.ts) that each key write at this provider takes a slot of. */
  writeLimits: readonly ProviderWriteLimit[];
  /** The credential's secret references, by configuration field under the provider's key. */
  secrets(config: C): { field: string; ref: SecretRef }[];
  issuer(config: C): IssuerForm;
  /** The configured scopes that replace Kong's in the proof (`<kind>.scopes`), when this provider has them. */
  proofScopeOverride(config: C): { key: string; scopes: string[] } | undefined;
}
