/**
 * Okta's rules for client keys (the registry entry's data, src/adapters/idp/registry.ts): at most 50 JWKs
 * per app, unique `kid`, registered keys start INACTIVE when staged; RS256 or ES256, no PS256
 * (https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/main/,
 * okta-management-openapi-spec ApplicationSSOPublicKeys). A custom authorization server refuses a client
 * credentials request without `scope` unless it has default scopes, and grants only the scopes its access
 * policy allows the client, so the proof sends the scopes Kong sends (proofScopes "kong"), unless
 * `okta.scopes` overrides them.
 */
import { z } from "zod";
import { httpsUrl, secretRef } from "../../../config/fields.js";
import type { OktaIdpConfig } from "../../../config/load.js";
import type { IdpKindRules } from "../kind.js";

/** `okta:` in a credential: the OIDC app (its client id is its app id) and the authorization server Kong uses. */
const part = z
  .object({
    // The org's origin only: the token endpoint and the issuer are derived from it
    // (<orgUrl>/oauth2/<authorizationServer>/v1/token), so a pasted issuer or path would be cut off.
    orgUrl: httpsUrl.refine((u) => new URL(u).pathname === "/" && !/[?#]/.test(u), {
      message:
        "must be the Okta org's URL without a path, like https://example.okta.com (set the authorization server with authorizationServer)",
    }),
    authorizationServer: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, { message: "must be an authorization server id such as default" })
      .optional(),
    clientId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, { message: "must be the app's client id" }),
    token: secretRef,
    /**
     * Scopes the proof sends instead of the Kong plugin's config.scopes (an override: by default keys
     * are proven with the scopes Kong sends, read with the plugin).
     */
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/)).optional(),
  })
  .strict();

const trim = (u: string) => u.replace(/\/+$/, "");

export const OKTA_RULES: IdpKindRules<OktaIdpConfig, z.output<typeof part>> = {
  kind: "okta",
  config: {
    schema: part,
    toConfig: (p) => ({
      kind: "okta",
      orgUrl: p.orgUrl,
      clientId: p.clientId,
      token: p.token,
      ...(p.authorizationServer ? { authorizationServer: p.authorizationServer } : {}),
      ...(p.scopes ? { scopes: p.scopes } : {}),
    }),
    identity: (p) => ({ at: p.orgUrl, clientId: p.clientId, what: "Okta app" }),
    problems: () => [],
  },
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
