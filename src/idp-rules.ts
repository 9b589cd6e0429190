/**
 * The identity providers' rules across kinds, in one place: each kind's own rules (allowed algorithms, key
 * limit, how keys are matched, wording) live in its registry entry's folder (src/adapters/idp/<kind>/
 * rules.ts); this module lists the kinds and answers the questions the configuration, the Kong adapters and
 * doctor ask of any of them. The adapters enforce the rules, the configuration checks the policy against
 * them at load, and the planner stays within them.
 */
import type { z } from "zod";
import type { IdpConfig } from "./config/load.js";
import type { SigningAlg } from "./crypto/keymaterial.js";
import type { IdpKindRules } from "./adapters/idp/kind.js";
import { AUTH0_RULES } from "./adapters/idp/auth0/rules.js";
import { ENTRA_RULES } from "./adapters/idp/entra/rules.js";
import { OKTA_RULES } from "./adapters/idp/okta/rules.js";
import type { IdpRules, SecretMigrationRules } from "./ports/engine.js";
import { RotatorError } from "./errors.js";

export type IdpKind = IdpConfig["kind"];

const KINDS = { entra: ENTRA_RULES, okta: OKTA_RULES, auth0: AUTH0_RULES } satisfies {
  [K in IdpKind]: IdpKindRules<Extract<IdpConfig, { kind: K }>, unknown>;
};

export const IDP_KINDS = Object.keys(KINDS) as readonly IdpKind[];

export const IDP_RULES = Object.fromEntries(IDP_KINDS.map((k) => [k, KINDS[k].rules])) as Record<
  IdpKind,
  IdpRules
>;

/** The kind's declared data, for the credential's configuration (KINDS pairs each kind with its own). */
export function kindRules<C extends IdpConfig>(config: C): IdpKindRules<C> {
  return KINDS[config.kind] as unknown as IdpKindRules<C>;
}

/** A kind's declared data for its configuration part, whatever the part's type. */
const partOf = (kind: IdpKind) => KINDS[kind] as unknown as IdpKindRules<IdpConfig, unknown>;

type PartSchema<K extends IdpKind> = (typeof KINDS)[K]["config"]["schema"];

/** Each provider's part of a credential (`entra:`, `okta:`, `auth0:`), optional: the credential schema spreads them. */
export const IDP_CONFIG_PARTS = Object.fromEntries(
  IDP_KINDS.map((k) => [k, KINDS[k].config.schema.optional()]),
) as { [K in IdpKind]: z.ZodOptional<PartSchema<K>> };

/** A validated credential's provider parts. */
export type IdpParts = { [K in IdpKind]?: z.output<PartSchema<K>> };

const present = (c: IdpParts) =>
  IDP_KINDS.flatMap((kind) => (c[kind] === undefined ? [] : [{ kind, part: c[kind] as unknown }]));

/** The credential's typed IdP configuration; undefined without a provider part (the schema refuses that). */
export function idpConfigOf(c: IdpParts): IdpConfig | undefined {
  const [first] = present(c);
  return first && partOf(first.kind).config.toConfig(first.part);
}

/** The client the credential's provider part names, for the one-credential-per-client rule. */
export function idpIdentityOf(
  c: IdpParts,
): { kind: IdpKind; at: string; clientId: string; what: string } | undefined {
  const [first] = present(c);
  return first && { kind: first.kind, ...partOf(first.kind).config.identity(first.part) };
}

/** Problems across the fields of each provider part present, with paths relative to the part. */
export function idpPartProblems(c: IdpParts): { kind: IdpKind; path: string[]; message: string }[] {
  return present(c).flatMap(({ kind, part }) =>
    partOf(kind)
      .config.problems(part)
      .map((p) => ({ kind, ...p })),
  );
}

/** How messages name the client at its provider: "app <id>", "Okta app <id>", "Auth0 client <id>". */
export function clientLabel(kind: IdpKind, clientId: string): string {
  return `${KINDS[kind].clientNoun} ${clientId}`;
}

/** The algorithm used when no policy sets one: the first the provider accepts. */
export function defaultAlgorithm(kind: IdpKind): SigningAlg {
  return IDP_RULES[kind].algorithms[0] ?? "RS256";
}

/**
 * Kong's `client_alg` for the credential's client, in one rule for activation (adapters/kong/common/plugin.ts) and
 * doctor (app/doctor.ts), from the credential's IdP rules: when set, it must be an algorithm that IdP
 * accepts from the rotator's RSA keys (IdpRules.algorithms; Okta takes RS256 only). Kong's private_key_jwt
 * signer uses the JWK's own `alg` (kong/openid-connect/utils.lua `generate_private_key_jwt`), but the schema
 * documents client_alg as applying to private_key_jwt too; under either reading it must be one the IdP
 * accepts. The rotator leaves client_alg alone (it is shared, parallel config). The problem is reported as
 * KONG_CLIENT_ALG_INCOMPATIBLE by both; undefined when there is none.
 */
export function clientAlgProblem(
  clientAlg: unknown,
  index: number,
  idp: IdpKind,
): { message: string; hint: string } | undefined {
  const algorithms: readonly string[] = IDP_RULES[idp].algorithms;
  if (clientAlg === undefined || clientAlg === null) return undefined;
  if (typeof clientAlg === "string" && algorithms.includes(clientAlg)) return undefined;
  return {
    message: `client_alg ${String(clientAlg)} is not an algorithm ${idp} accepts from the rotator's RSA keys`,
    hint: `Set config.client_alg[${index}] to ${algorithms.join(" or ")} (or remove client_alg).`,
  };
}

/** A migration's retirement found the secret still authenticating where the cutover should have ended it. */
export function secretStillUsable(client: string, id: string): RotatorError {
  return new RotatorError(
    "MIGRATE_SECRET_STILL_USABLE",
    `${client}: client secret ${id} still authenticates after the switch to private_key_jwt`,
    "Check the client's authentication method at the provider; run migrate again to repeat the switch.",
    { retryable: true },
  );
}

/**
 * How each provider ends client-secret authentication when a client moves to private_key_jwt
 * (SecretMigrationRules, declared by each kind's rules; docs/migration.md). Data, so that dry runs and
 * status know it before an adapter is built.
 */
export const SECRET_MIGRATION = Object.fromEntries(
  IDP_KINDS.map((k) => [k, KINDS[k].secretMigration]),
) as Record<IdpKind, SecretMigrationRules>;
