/**
 * Okta's rules for client keys (the registry entry's data, src/adapters/idp/registry.ts): at most 50 JWKs
 * per app, unique `kid`, registered keys start INACTIVE when staged; RS256 or ES256, no PS256
 * (https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/main/,
 * okta-management-openapi-spec ApplicationSSOPublicKeys). A custom authorization server refuses a client
 * credentials request without `scope` unless it has default scopes, and grants only the scopes its access
 * policy allows the client, so the proof sends the scopes Kong sends (proofScopes "kong"), unless
 * `okta.scopes` overrides them.
 */
import type { OktaIdpConfig } from "../../../config/load.js";
import type { IdpKindRules } from "../kind.js";

const trim = (u: string) => u.replace(/\/+$/, "");

export const OKTA_RULES: IdpKindRules<OktaIdpConfig> = {
  kind: "okta",
  rules: {
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
  clientNoun: "Okta app",
  secretMigration: {
    cutover: "switch",
    warning:
      "Okta allows one token_endpoint_auth_method per app: switching it to private_key_jwt deletes the app's client secrets " +
      "(https://developer.okta.com/docs/guides/client-secret-rotation-key/main/). From that switch until Kong holds the key, " +
      "the gateways' secret logins fail: the window is the key's verification at the token endpoint plus Kong's confirmation.",
  },
  writeLimits: [],
  secrets: (idp) => [{ field: "token", ref: idp.token }],
  issuer: (idp) => {
    // https://developer.okta.com/docs/concepts/auth-servers/: a custom authorization server's issuer is
    // <orgUrl>/oauth2/<id>; the org authorization server's is the org URL itself.
    const issuer = idp.authorizationServer ? `${idp.orgUrl}/oauth2/${idp.authorizationServer}` : idp.orgUrl;
    return {
      matches: (u) => trim(u) === issuer,
      what: `Okta authorization server ${issuer}`,
      hint: `Set config.issuer to ${issuer}: the rotator verifies keys at that authorization server's token endpoint.`,
    };
  },
  proofScopeOverride: (idp) => (idp.scopes ? { key: "okta.scopes", scopes: idp.scopes } : undefined),
};
