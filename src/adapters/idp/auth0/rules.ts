/**
 * Auth0's rules for client keys (the registry entry's data, src/adapters/idp/registry.ts): "The current
 * application storage limit is two credentials at one time"
 * (https://auth0.com/docs/get-started/applications/rotate-credentials); RS256 or PS256; a credential is
 * usable once attached to the client (client_authentication_methods.private_key_jwt). A key is proven with
 * no scope, the tenant's default audience, whatever scopes Kong's plugin uses.
 */
import type { Auth0IdpConfig } from "../../../config/load.js";
import type { IdpKindRules } from "../kind.js";

const trim = (u: string) => u.replace(/\/+$/, "");

export const AUTH0_RULES: IdpKindRules<Auth0IdpConfig> = {
  kind: "auth0",
  rules: {
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
  clientNoun: "Auth0 client",
  secretMigration: {
    cutover: "attach",
    warning:
      "Auth0's client_authentication_methods and token_endpoint_auth_method are exclusive: attaching the new credential (publish) ends the client secret. " +
      "From the attach until Kong holds the key, the gateways' secret logins fail: the window is the key's verification at the token endpoint plus Kong's confirmation.",
  },
  writeLimits: [],
  secrets: (idp) => [{ field: "management.clientSecret", ref: idp.management.clientSecret }],
  // Auth0's issuer is https://<domain>/ (with the trailing slash).
  issuer: (idp) => ({
    matches: (u) => trim(u) === `https://${idp.domain}`,
    what: `Auth0 tenant https://${idp.domain}/`,
    hint: `Set config.issuer to https://${idp.domain}/.`,
  }),
  proofScopeOverride: () => undefined,
};
