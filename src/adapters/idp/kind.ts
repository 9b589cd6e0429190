/**
 * What every identity provider's registry entry declares as data (src/adapters/idp/registry.ts): its rules
 * for client keys, how messages name its client, the documented write limits its key writes count against,
 * its secret references, the issuer form Kong should name, and the scopes that replace Kong's in the proof.
 * It also owns its part of the configuration file (the credential's `<kind>:` object): the schema that
 * src/config/schema.ts composes, and the mapping to the typed configuration. Pure data and functions of
 * the configuration: the configuration layer and the Kong adapters read it through src/idp-rules.ts
 * without building any client.
 */
import type { z } from "zod";
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

/** The provider's part of a credential in the configuration file: `credentials[i].<kind>`. */
export interface IdpConfigPart<C extends IdpConfig, P> {
  /** Validated with the whole file; error paths start at the part (`okta.orgUrl`). */
  schema: z.ZodType<P, unknown>;
  /** The typed configuration from the validated part. */
  toConfig(part: P): C;
  /**
   * The client the part names, for the one-credential-per-client rule: where it lives, its id, and how the
   * message names it ("Okta app").
   */
  identity(part: P): { at: string; clientId: string; what: string };
  /** Problems across the part's fields, with paths relative to the part. */
  problems(part: P): { path: string[]; message: string }[];
}

export interface IdpKindRules<C extends IdpConfig = IdpConfig, P = unknown> {
  kind: C["kind"];
  config: IdpConfigPart<C, P>;
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
