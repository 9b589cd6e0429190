/**
 * Each identity provider's rules for client keys, in one place: the adapters enforce them, the
 * configuration checks the policy against them at load, and the planner stays within them.
 *
 * - Entra ID: keyCredentials are matched by the certificate thumbprint (x5t header); PS256 and RS256
 *   (https://learn.microsoft.com/entra/identity-platform/certificate-credentials). No documented count
 *   limit per app (the manifest's size bounds it), so none is planned for.
 * - Okta: at most 50 JWKs per app, unique `kid`, registered keys start INACTIVE when staged; RS256 or
 *   ES256, no PS256 (https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/main/,
 *   okta-management-openapi-spec ApplicationSSOPublicKeys). A custom authorization server refuses a client
 *   credentials request without `scope` unless it has default scopes, and grants only the scopes its access
 *   policy allows the client, so the proof sends the scopes Kong sends (proofScopes "kong").
 * - Auth0: "The current application storage limit is two credentials at one time"
 *   (https://auth0.com/docs/get-started/applications/rotate-credentials); RS256 or PS256; a credential
 *   is usable once attached to the client (client_authentication_methods.private_key_jwt).
 * - Entra and Auth0 prove a key with a scope of their own (Entra: a resource's `/.default`, which client
 *   credentials require; Auth0: none, the tenant's default audience), whatever scopes Kong's plugin uses.
 */
import type { SigningAlg } from "./crypto/keymaterial.js";
import type { IdpRules, SecretMigrationRules } from "./ports/engine.js";
import { RotatorError } from "./errors.js";

export const IDP_KINDS = ["entra", "okta", "auth0"] as const;
export type IdpKind = (typeof IDP_KINDS)[number];

export const IDP_RULES: Record<IdpKind, IdpRules> = {
  entra: {
    maxKeys: Number.POSITIVE_INFINITY,
    algorithms: ["PS256", "RS256"],
    kid: "x5t",
    staged: false,
    proofOfPossession: true,
    published: "listed on the Entra app",
    proofScopes: "own",
    // https://learn.microsoft.com/entra/identity-platform/access-tokens#token-lifetime
    issuedTokens:
      "access tokens Entra already issued stay valid until they expire (60-90 minutes after issue; Entra cannot revoke them)",
  },
  okta: {
    maxKeys: 50,
    algorithms: ["RS256"],
    kid: "registered",
    staged: true,
    proofOfPossession: false,
    published: "registered and ACTIVE on the Okta app",
    proofScopes: "kong",
    // https://developer.okta.com/docs/guides/configure-access-policy/main/ (access token lifetime, 1 hour by default)
    issuedTokens:
      "access tokens Okta already issued stay valid until they expire (the access policy's lifetime, 1 hour by default)",
  },
  auth0: {
    maxKeys: 2,
    algorithms: ["RS256", "PS256"],
    kid: "optional",
    staged: true,
    proofOfPossession: false,
    published: "attached to the Auth0 application",
    proofScopes: "own",
    // https://auth0.com/docs/secure/tokens/access-tokens/update-access-token-lifetime (86400 s by default)
    issuedTokens:
      "access tokens Auth0 already issued stay valid until they expire (the API's token lifetime, 24 hours by default)",
  },
};

const CLIENT_NOUN: Record<IdpKind, string> = { entra: "app", okta: "Okta app", auth0: "Auth0 client" };

/** How messages name the client at its provider: "app <id>", "Okta app <id>", "Auth0 client <id>". */
export function clientLabel(kind: IdpKind, clientId: string): string {
  return `${CLIENT_NOUN[kind]} ${clientId}`;
}

/** The algorithm used when no policy sets one: the first the provider accepts. */
export function defaultAlgorithm(kind: IdpKind): SigningAlg {
  return IDP_RULES[kind].algorithms[0] ?? "RS256";
}

/**
 * Kong's `client_alg` for the credential's client, in one rule for activation (adapters/kong/plugin.ts) and
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
 * (SecretMigrationRules; docs/migration.md). Data, so that dry runs and status know it before an adapter
 * is built.
 */
export const SECRET_MIGRATION: Record<IdpKind, SecretMigrationRules> = {
  entra: {
    cutover: "none",
    warning:
      "Entra accepts the client secret and certificates side by side: the gateways keep logging in with the secret until Kong switches, so the migration has no failed logins. The secret stays on the app until you run it again with --retire-secret.",
  },
  okta: {
    cutover: "switch",
    warning:
      "Okta allows one token_endpoint_auth_method per app: switching it to private_key_jwt deletes the app's client secrets " +
      "(https://developer.okta.com/docs/guides/client-secret-rotation-key/main/). From that switch until Kong holds the key, " +
      "the gateways' secret logins fail: the window is the key's verification at the token endpoint plus Kong's confirmation.",
  },
  auth0: {
    cutover: "attach",
    warning:
      "Auth0's client_authentication_methods and token_endpoint_auth_method are exclusive: attaching the new credential (publish) ends the client secret. " +
      "From the attach until Kong holds the key, the gateways' secret logins fail: the window is the key's verification at the token endpoint plus Kong's confirmation.",
  },
};
