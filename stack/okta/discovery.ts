/**
 * OpenID Connect discovery of the Okta fake's authorization servers, which is how Kong's openid-connect
 * plugin finds the token endpoint from its `issuer` (stack/kong/probe.ts). Routes and documents follow
 * Okta's OpenID Connect & OAuth 2.0 API (okta/okta-management-openapi-spec,
 * dist/current/oauth-oneOfInheritance.yaml: `getWellKnownOpenIDConfiguration` at
 * `/.well-known/openid-configuration` for the org authorization server, issuer `https://{yourOktaDomain}`;
 * `getWellKnownOpenIDConfigurationCustomAS` at `/oauth2/{authorizationServerId}/.well-known/openid-configuration`,
 * issuer `https://{yourOktaDomain}/oauth2/{authorizationServerId}`; examples OrgASOidcMetadata and
 * CustomASOidcMetadata). Both list `private_key_jwt` in `token_endpoint_auth_methods_supported`. Okta's
 * metadata has no `token_endpoint_auth_signing_alg_values_supported` (neither the `OidcMetadata` schema nor
 * the examples carry it), so neither does the fake; the accepted algorithms are enforced at the token
 * endpoint (./token.ts). Custom scopes appear only when made publicly discoverable (the spec's description);
 * the fake lists the standard ones. Not reproduced: the `client_id` query parameter and
 * `/.well-known/oauth-authorization-server`.
 */
import type { Reply } from "../common/server.js";

const AUTH_METHODS = [
  "client_secret_basic",
  "client_secret_post",
  "client_secret_jwt",
  "private_key_jwt",
  "none",
];

/** The metadata of the org authorization server (`id` undefined) or of a custom one. */
export function openidConfiguration(orgUrl: string, id: string | undefined): Reply {
  const issuer = id === undefined ? orgUrl : `${orgUrl}/oauth2/${id}`;
  const endpoint = (name: string) => `${id === undefined ? `${orgUrl}/oauth2` : issuer}/v1/${name}`;
  return {
    status: 200,
    body: {
      issuer,
      authorization_endpoint: endpoint("authorize"),
      token_endpoint: endpoint("token"),
      userinfo_endpoint: endpoint("userinfo"),
      registration_endpoint: `${orgUrl}/oauth2/v1/clients`,
      jwks_uri: endpoint("keys"),
      response_types_supported: [
        "code",
        "id_token",
        "code id_token",
        "code token",
        "id_token token",
        "code id_token token",
      ],
      response_modes_supported: ["query", "fragment", "form_post", "okta_post_message"],
      grant_types_supported: [
        "authorization_code",
        "implicit",
        "refresh_token",
        "password",
        "urn:ietf:params:oauth:grant-type:device_code",
      ],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["RS256"],
      scopes_supported: ["openid", "profile", "email", "address", "phone", "offline_access"],
      token_endpoint_auth_methods_supported: AUTH_METHODS,
      claims_supported: ["iss", "ver", "sub", "aud", "iat", "exp", "jti", "auth_time", "amr", "idp", "nonce"],
      code_challenge_methods_supported: ["S256"],
      introspection_endpoint: endpoint("introspect"),
      introspection_endpoint_auth_methods_supported: AUTH_METHODS,
      revocation_endpoint: endpoint("revoke"),
      revocation_endpoint_auth_methods_supported: AUTH_METHODS,
      end_session_endpoint: endpoint("logout"),
      request_parameter_supported: true,
    },
  };
}
