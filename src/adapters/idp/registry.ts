/**
 * The identity-provider registry, keyed by the credential's one IdP key (`entra`, `okta`, `auth0`): each
 * entry is one folder under src/adapters/idp/<kind>/ that owns its rules and wording (rules.ts), its
 * construction (entry.ts) and its adapter. src/app reaches identity providers only through this module
 * (lint: eslint.config.js); adding a provider is its folder, its configuration part and one line here
 * (docs/architecture.md "How to add an identity provider").
 */
import type { IdpConfig, SecretRef } from "../../config/load.js";
import { clientLabel, kindRules, type IdpKind } from "../../idp-rules.js";
import type { ProviderWriteLimit } from "../../limits.js";
import type { IdentityProvider, IdpRules, SecretMigrationRules } from "../../ports/engine.js";
import { AUTH0_ENTRY } from "./auth0/entry.js";
import type { IdpBuildDeps, IdpEntry } from "./entry.js";
import { ENTRA_ENTRY } from "./entra/entry.js";
import type { IssuerForm } from "./kind.js";
import { OKTA_ENTRY } from "./okta/entry.js";

export type { IdpBuildDeps } from "./entry.js";
export type { IssuerForm } from "./kind.js";
export { clientAlgProblem, IDP_KINDS, type IdpKind } from "../../idp-rules.js";

const ENTRIES: { [K in IdpKind]: IdpEntry<Extract<IdpConfig, { kind: K }>> } = {
  entra: ENTRA_ENTRY,
  okta: OKTA_ENTRY,
  auth0: AUTH0_ENTRY,
};

/** A credential's identity provider as the registry describes it: its entry bound to its configuration. */
export interface RegisteredIdp {
  kind: IdpKind;
  rules: IdpRules;
  /** How messages name the client: "app <id>", "Okta app <id>", "Auth0 client <id>". */
  client: string;
  /** The secret references of its configuration, by field under the provider's key. */
  secrets: { field: string; ref: SecretRef }[];
  writeLimits: readonly ProviderWriteLimit[];
  /** How secret authentication ends when the client moves to private_key_jwt. */
  secretMigration: SecretMigrationRules;
  /** The issuer Kong's plugin should name. */
  issuer: IssuerForm;
  /** The configured scopes that replace Kong's in the proof, when set. */
  proofScopeOverride: { key: string; scopes: string[] } | undefined;
  create(deps: IdpBuildDeps): Promise<IdentityProvider>;
}

export function registeredIdp<C extends IdpConfig>(idp: C): RegisteredIdp {
  const declared = kindRules(idp);
  // The mapped type above pairs each kind with the entry for its configuration.
  const entry = ENTRIES[idp.kind] as unknown as IdpEntry<C>;
  return {
    kind: idp.kind,
    rules: declared.rules,
    client: clientLabel(idp.kind, idp.clientId),
    secrets: declared.secrets(idp),
    writeLimits: declared.writeLimits,
    secretMigration: declared.secretMigration,
    issuer: declared.issuer(idp),
    proofScopeOverride: declared.proofScopeOverride(idp),
    create: (deps) => entry.create(idp, deps),
  };
}
