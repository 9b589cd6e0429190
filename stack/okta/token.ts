/**
 * Okta's token endpoints for the client credentials grant with `private_key_jwt` or a client secret
 * (https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/main/,
 * https://developer.okta.com/docs/guides/build-self-signed-jwt/java/main/): `<orgUrl>/oauth2/<authServerId>/v1/token`
 * for a custom authorization server and `<orgUrl>/oauth2/v1/token` for the org authorization server.
 *
 * The assertion is verified by a real oidc-provider (https://github.com/panva/node-oidc-provider), with
 * Okta's rules:
 * - the client's JWKS is the app's ACTIVE keys that have propagated; a key is selected by `kid`
 *   (the JWKS API makes every kid unique);
 * - RS256/384/512 and ES256/384/512 only, no PS* (build-self-signed-jwt lists the supported algorithms);
 * - `aud` is the full token endpoint URL; `exp` at most one hour ahead (build-self-signed-jwt);
 * - a `scope` is required unless the authorization server has default scopes: "If the client omits the
 *   scope parameter in an authorization request, Okta returns all default scopes" (Create Scopes,
 *   https://developer.okta.com/docs/guides/customize-authz-server/main/#create-scopes), and a client
 *   credentials request's `scope` "must be at least one custom scope that you create"
 *   (https://developer.okta.com/docs/guides/implement-grant-type/clientcreds/main/); without either, 400
 *   `invalid_scope` "The authorization server resource does not have any configured default scopes, 'scope'
 *   must be provided." (the answer quoted in Okta's developer blog post "Simple Token Authentication for
 *   Java Apps", github.com/oktadev/okta-blog); a scope the server does not know is
 *   `invalid_scope` too (Okta support, "One or more scopes are not configured for the authorization server
 *   resource").
 * Stricter than Okta may be: an assertion without `kid` is refused (Kong always sends the JWK's kid), and
 * a replayed `jti` is refused (oidc-provider's replay detection; Okta documents `jti` as single-use).
 * The wording of `error_description` is close to Okta's, not guaranteed identical.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import Provider, {
  errors,
  type AdapterPayload,
  type ProviderContext,
  type ProviderError,
} from "oidc-provider";
import { noteSecret } from "../common/capture.js";
import type { Reply, Request } from "../common/server.js";
import { MemoryAdapter, clientCredentialsProvider, tokenRoute } from "../common/oidc.js";
import { decodeSegment, providerRequest } from "../entra/login.js";
import { basicCredentials, secretEquals } from "../common/auth.js";
import { oktaError, type OktaApp, type Org } from "./org.js";

export interface AuthorizationServer {
  /** Scopes the server knows. */
  scopes: string[];
  /** Granted when a client credentials request names none. */
  defaultScopes: string[];
}

interface TokenRequest {
  app: OktaApp;
  kid: string;
  scopes: string[];
  error?: ProviderError;
}

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ACCESS_TOKEN_LIFETIME_SEC = 3600;
const MAX_ASSERTION_LIFETIME_SEC = 3600;
const requests = new AsyncLocalStorage<TokenRequest>();

const oauthError = (status: number, error: string, description: string): Reply => ({
  status,
  headers: { "cache-control": "no-store", pragma: "no-cache" },
  body: { error, error_description: description },
});

/** The app as an oidc-provider client whose JWKS holds only its usable key with the assertion's kid. */
class AppClients extends MemoryAdapter {
  constructor(private readonly org: Org) {
    super();
  }
  override async find(id: string): Promise<AdapterPayload | undefined> {
    const app = this.org.apps.get(id);
    if (!app) return undefined;
    const request = requests.getStore();
    const keys =
      request?.app === app
        ? app.keys
            .filter((k) => k.status === "ACTIVE" && k.visibleAt <= Date.now() && k.kid === request.kid)
            .map((k) => ({ ...k.publicKey.export({ format: "jwk" }), kid: request.kid, use: "sig" }))
        : [];
    return {
      client_id: app.id,
      token_endpoint_auth_method: "private_key_jwt",
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
      jwks: { keys },
    };
  }
}

function createVerifier(org: Org, issuer: string, tokenPath: string, tokenEndpoint: string) {
  const provider = new Provider(issuer, {
    ...clientCredentialsProvider(new AppClients(org)),
    enabledJWA: { clientAuthSigningAlgValues: ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"] },
    routes: { token: tokenPath },
    ttl: { ClientCredentials: ACCESS_TOKEN_LIFETIME_SEC },
    assertJwtClientAuthClaimsAndHeader: async (
      _ctx: ProviderContext,
      claims: { aud?: unknown; exp?: unknown },
    ) => {
      const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!aud.includes(tokenEndpoint))
        throw new errors.InvalidClientAuth(
          "The audience claim for client_assertion must be the endpoint invoked for the request.",
        );
      if (typeof claims.exp === "number" && claims.exp > Date.now() / 1000 + MAX_ASSERTION_LIFETIME_SEC + 60)
        throw new errors.InvalidClientAuth(
          "The client_assertion token has an expiration too far in the future.",
        );
    },
  });
  const handle = tokenRoute(provider, requests, async (request, ctx) => {
    const out = ctx.status === 200 ? success(request.scopes) : failure(request.error);
    ctx.status = out.status;
    ctx.body = out.body;
  });
  return (request: TokenRequest, req: Request, res: ServerResponse) =>
    handle(request, providerRequest(req), res);
}

function success(scopes: string[]): Reply {
  const accessToken = randomBytes(48).toString("base64url");
  // A bearer credential: the secret-hygiene checks must never find it in the product's output.
  noteSecret("admin-token", accessToken);
  return {
    status: 200,
    body: {
      token_type: "Bearer",
      expires_in: ACCESS_TOKEN_LIFETIME_SEC,
      access_token: accessToken,
      scope: scopes.join(" "),
    },
  };
}

function failure(err: ProviderError | undefined): Reply {
  const detail = err?.error_detail ?? err?.error_description ?? "";
  if (err?.error !== "invalid_client")
    return oauthError(400, err?.error ?? "invalid_request", detail || "The request is invalid.");
  if (/alg/i.test(detail))
    return oauthError(401, "invalid_client", "The client_assertion token has an unsupported algorithm.");
  if (/jwt expired/.test(detail))
    return oauthError(401, "invalid_client", "The client_assertion token is expired.");
  if (/no applicable key|signature verification failed/i.test(detail))
    return oauthError(401, "invalid_client", "The client_assertion signature is invalid.");
  return oauthError(401, "invalid_client", detail || "Client authentication failed.");
}

/** The requested scopes, or the server's default ones; Okta's 400 when neither works. */
function grantedScopes(server: AuthorizationServer, form: URLSearchParams): string[] | Reply {
  const requested = (form.get("scope") ?? "").split(" ").filter(Boolean);
  if (requested.length === 0 && server.defaultScopes.length === 0)
    return oauthError(
      400,
      "invalid_scope",
      "The authorization server resource does not have any configured default scopes, 'scope' must be provided.",
    );
  if (requested.some((s) => !server.scopes.includes(s)))
    return oauthError(
      400,
      "invalid_scope",
      "One or more scopes are not configured for the authorization server resource.",
    );
  return requested.length > 0 ? requested : server.defaultScopes;
}

const clientAuthFailed = () =>
  oauthError(
    401,
    "invalid_client",
    "Client authentication failed. Either the client or the client credentials are invalid.",
  );

/**
 * A client secret login (https://developer.okta.com/docs/api/openapi/okta-oauth/guides/client-auth/): the
 * request's method must be the app's `token_endpoint_auth_method` (`client_secret_basic`: the
 * `Authorization: Basic` header; `client_secret_post`: `client_id` and `client_secret` in the body), and the
 * secret one of the app's ACTIVE secrets that has propagated. A `private_key_jwt` app, whose secrets are gone
 * once it switched (./apps.ts), refuses every secret. Wrong secret: "The client secret supplied for a
 * confidential client is invalid."; any other mismatch: Okta's generic client authentication failure.
 */
function secretLogin(
  org: Org,
  server: AuthorizationServer,
  form: URLSearchParams,
  basic: { clientId: string; clientSecret: string } | null,
): Reply {
  const method = basic ? "client_secret_basic" : "client_secret_post";
  const clientId = basic?.clientId ?? form.get("client_id") ?? "";
  const secret = basic?.clientSecret ?? form.get("client_secret") ?? "";
  const app = org.apps.get(clientId);
  if (!app || app.tokenEndpointAuthMethod !== method) return clientAuthFailed();
  const now = Date.now();
  const match = app.secrets.find(
    (s) => s.status === "ACTIVE" && s.visibleAt <= now && secretEquals(s.secret, secret),
  );
  if (!match)
    return oauthError(
      401,
      "invalid_client",
      "The client secret supplied for a confidential client is invalid.",
    );
  const scopes = grantedScopes(server, form);
  if (!Array.isArray(scopes)) return scopes;
  return success(scopes);
}

/** Okta's 404 for an authorization server id that does not exist. */
export const unknownAuthorizationServer = (id: string): Reply =>
  oktaError(404, "E0000007", `Not found: Resource not found: ${id} (AuthorizationServer)`);

/** The token endpoint route handler; `servers` maps authorization server ids (`undefined` = org AS). */
export function tokenHandler(
  org: Org,
  orgUrl: () => string,
  servers: Map<string | undefined, AuthorizationServer>,
): (req: Request, res: ServerResponse, serverId: string | undefined) => Promise<Reply | undefined> {
  const verifiers = new Map<string | undefined, ReturnType<typeof createVerifier>>();
  const verifierFor = (id: string | undefined) => {
    let v = verifiers.get(id);
    if (!v) {
      const issuer = id === undefined ? orgUrl() : `${orgUrl()}/oauth2/${id}`;
      const tokenPath = id === undefined ? "/oauth2/v1/token" : `/oauth2/${id}/v1/token`;
      verifiers.set(id, (v = createVerifier(org, issuer, tokenPath, orgUrl() + tokenPath)));
    }
    return v;
  };

  return async (req, res, serverId) => {
    const server = servers.get(serverId);
    if (!server) return unknownAuthorizationServer(String(serverId));
    const form = new URLSearchParams(req.body.toString("utf8"));
    const grantType = form.get("grant_type");
    if (grantType !== "client_credentials")
      return oauthError(
        400,
        "unsupported_grant_type",
        `The authorization grant type is not supported by the authorization server. Configured grant types: [client_credentials].`,
      );
    const basic = basicCredentials(req.headers.authorization);
    if (basic === null) return clientAuthFailed();
    if (basic || form.get("client_secret") !== null) return secretLogin(org, server, form, basic ?? null);
    const assertion = form.get("client_assertion");
    if (!assertion || form.get("client_assertion_type") !== ASSERTION_TYPE)
      return oauthError(
        401,
        "invalid_client",
        "Client authentication failed. Either the client or the client credentials are invalid.",
      );
    const [h, p] = assertion.split(".");
    const header = decodeSegment(h);
    const claims = decodeSegment(p);
    if (!header || !claims)
      return oauthError(401, "invalid_client", "The client_assertion is not a valid JWT.");
    // Kong sends no client_id with private_key_jwt; the client is then the assertion's subject (RFC 7521 §4.2).
    const clientId = form.get("client_id") ?? (typeof claims.sub === "string" ? claims.sub : "");
    const app = org.apps.get(clientId);
    if (!app || app.tokenEndpointAuthMethod !== "private_key_jwt")
      return oauthError(
        401,
        "invalid_client",
        "The client_assertion token has an invalid 'sub' claim or the client is not configured for private_key_jwt.",
      );
    const kid = typeof header.kid === "string" ? header.kid : undefined;
    if (!kid)
      return oauthError(401, "invalid_client", "The client_assertion token must have a 'kid' header.");
    if (!app.keys.some((k) => k.kid === kid))
      return oauthError(
        401,
        "invalid_client",
        "The client_assertion token has a kid which does not identify a key registered for the client.",
      );
    const scopes = grantedScopes(server, form);
    if (!Array.isArray(scopes)) return scopes;
    // oidc-provider checks the signature, time claims, `aud` and replay (it takes the client from the
    // assertion's `sub` when the form names none).
    await verifierFor(serverId)({ app, kid, scopes }, req, res);
    return undefined;
  };
}
