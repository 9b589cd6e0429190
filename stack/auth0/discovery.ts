/**
 * The tenant's OpenID Connect discovery document, at `https://<domain>/.well-known/openid-configuration`
 * ("You can configure applications with the OpenID Connect (OIDC) discovery documents found at:
 * https://{yourDomain}/.well-known/openid-configuration", the "Configure Applications with OIDC Discovery" page, https://auth0.com/docs/oidc-rs256-owin).
 * The members follow a live tenant's document (a fixture captured from a `*.us.auth0.com` tenant): issuer
 * with its trailing slash, token endpoint `/oauth/token`, `token_endpoint_auth_methods_supported`
 * `[client_secret_basic, client_secret_post, private_key_jwt]` and
 * `token_endpoint_auth_signing_alg_values_supported` `[RS256, RS384, PS256]` (the algorithms a `public_key`
 * credential takes, ./assertions.ts). Not reproduced: `/.well-known/oauth-authorization-server`, custom
 * domains.
 */
import { CREDENTIAL_ALGS } from "./tenant.js";

export function openidConfiguration(base: string): Record<string, unknown> {
  return {
    issuer: `${base}/`,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/oauth/token`,
    device_authorization_endpoint: `${base}/oauth/device/code`,
    userinfo_endpoint: `${base}/userinfo`,
    mfa_challenge_endpoint: `${base}/mfa/challenge`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    registration_endpoint: `${base}/oidc/register`,
    revocation_endpoint: `${base}/oauth/revoke`,
    scopes_supported: ["openid", "profile", "offline_access", "name", "given_name", "family_name", "email"],
    response_types_supported: [
      "code",
      "token",
      "id_token",
      "code token",
      "code id_token",
      "token id_token",
      "code token id_token",
    ],
    code_challenge_methods_supported: ["S256", "plain"],
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["HS256", "RS256", "PS256"],
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "private_key_jwt"],
    claims_supported: ["aud", "auth_time", "email", "exp", "iat", "iss", "name", "sub"],
    request_uri_parameter_supported: false,
    request_parameter_supported: false,
    token_endpoint_auth_signing_alg_values_supported: [...CREDENTIAL_ALGS],
  };
}
