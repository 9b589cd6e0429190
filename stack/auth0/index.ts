/**
 * Fake Auth0 tenant for the local stack: the Authentication API's token endpoint and the Management API v2
 * parts that `private_key_jwt` credential rotation uses, over HTTPS from one server standing in for
 * `https://<domain>`. It never imports src/. What it reproduces, with sources, is in
 * docs/local-stack/auth0.md; in short:
 * - `POST /oauth/token` (JSON or form): client_credentials with the client secret, by the client's
 *   `token_endpoint_auth_method` (`client_secret_post` in the body, `client_secret_basic` in Authorization;
 *   none at all once `client_authentication_methods` is configured), or with a `private_key_jwt` assertion
 *   verified by a real oidc-provider against ATTACHED credentials only (./assertions.ts); assertion at most
 *   2048 bytes; `audience` or the tenant's default audience, without
 *   which Auth0 answers access_denied; a client grant for the audience.
 * - Management API v2 (`/api/v2/`): bearer tokens for audience `https://<domain>/api/v2/` with scopes
 *   enforced per endpoint; `GET/PATCH /clients/{id}`; `GET/POST /clients/{id}/credentials`;
 *   `GET/DELETE /clients/{id}/credentials/{credential_id}`; at most 2 credentials; an attached credential
 *   can't be deleted; `client_authentication_methods` and `token_endpoint_auth_method` mutually exclusive;
 *   `client_secret` in GET with read:client_keys only, hidden while Private Key JWT is configured;
 *   `POST /clients/{id}/rotate-secret` (update:client_keys), refused for a Private Key JWT client.
 * - OpenID Connect discovery at `/.well-known/openid-configuration` (issuer `https://<domain>/`), which
 *   Kong's openid-connect plugin reads to find the token endpoint (./discovery.ts).
 * - A plan switch (`setPrivateKeyJwt(false)`), and rate limiting (`rateLimit`): 429 with
 *   `X-RateLimit-Limit/Remaining/Reset` (and `Retry-After` when asked).
 * - Every Management API request is validated against the published Management API description
 *   (stack/specs/auth0/, from auth0/docs-v2; stack/common/openapi.ts): no such operation is 404, a body
 *   that does not match 400 "Payload validation error" (invalid_body), a bad query or path parameter 400
 *   (invalid_query_string, invalid_uri).
 */
import type { ProviderContext } from "oidc-provider";
import { basicCredentials, secretEquals } from "../common/auth.js";
import { providerRequest } from "../common/oidc.js";
import {
  parseJsonBody,
  startHttpsServer,
  type Reply,
  type Request,
  type RunningServer,
} from "../common/server.js";
import type { ServerTls } from "../common/tls.js";
import { createAssertionVerifier, type AssertionRequest } from "./assertions.js";
import { openidConfiguration } from "./discovery.js";
import type { Rejection, Validation } from "../common/openapi.js";
import { suite } from "../specs/index.js";
import {
  MAX_CREDENTIALS,
  Tenant,
  auth0Error,
  clientView,
  credentialView,
  type StoredClient,
} from "./tenant.js";

/** "The maximum size of the assertion is 2048 bytes"
 * (https://auth0.com/docs/get-started/authentication-and-authorization-flow/authenticate-with-private-key-jwt). */
export const MAX_ASSERTION_BYTES = 2048;
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/**
 * Scopes per Management API endpoint (Management API v2 reference, "Scopes" of each endpoint). Updating a
 * client's `client_authentication_methods` needs `update:client_credentials` on top of the endpoint's
 * `update:clients` ("To configure `client_authentication_methods`, the `update:client_credentials` scope is
 * required", https://auth0.com/docs/api/management/v2/clients/patch-clients-by-id).
 */
const SCOPES = {
  readClient: ["read:clients"],
  updateClient: ["update:clients"],
  configureAuthMethods: ["update:client_credentials"],
  readCredentials: ["read:client_credentials"],
  createCredential: ["create:client_credentials"],
  deleteCredential: ["delete:client_credentials"],
} as const;
/**
 * The client's keys: reading `client_secret` ("can only be retrieved with the read:client_keys scope",
 * https://auth0.com/docs/api/management/v2/clients/get-clients-by-id) and rotating it (post-rotate-secret).
 * Not rotation scopes: a client secret migration may need them, key rotation does not.
 */
export const READ_CLIENT_KEYS = "read:client_keys";
export const UPDATE_CLIENT_KEYS = "update:client_keys";

/** Every Management API scope credential rotation needs (what docs/idp-auth0.md tells operators to grant). */
export const ROTATION_SCOPES: readonly string[] = Object.values(SCOPES).flat();

/** A request the Management API's published description refuses, in Auth0's error shape. */
function specRefusal(v: Exclude<Validation, { ok: true }>): Reply {
  if (v.reason === "unknown-path" || v.reason === "method") return auth0Error(404, "Not Found");
  if (v.reason === "media-type" || (v.in === "body" && v.unparsable))
    return auth0Error(400, "Invalid request payload JSON format", "invalid_body");
  const what = v.in === "body" ? "Payload" : v.in === "query" ? "Query" : "Path";
  const code = v.in === "body" ? "invalid_body" : v.in === "query" ? "invalid_query_string" : "invalid_uri";
  return auth0Error(400, `${what} validation error: '${v.errors.join("; ")}'.`, code);
}

export interface Auth0FakeOptions {
  tls: ServerTls;
  /** The tenant's default audience (Tenant Settings > API Authorization Settings). */
  defaultAudience?: string;
  /** Management API token lifetime; Auth0's default is 86400 s. */
  managementTokenLifetimeSec?: number;
}

export interface Auth0ClientView {
  tokenEndpointAuthMethod: string | null;
  attached: string[] | null;
  credentials: { id: string; kid: string; alg: string; name: string; expiresAt?: Date }[];
}

export interface Auth0Fake {
  /** Stands in for https://<domain> (no trailing slash). */
  baseUrl: string;
  /** The tenant URL with its trailing slash, the issuer and an accepted assertion `aud`. */
  tenantUrl: string;
  tokenEndpoint: string;
  /** The Management API's identifier: `https://<domain>/api/v2/`. */
  managementAudience: string;
  server: RunningServer;
  /** Management API requests the published description refused, for conformance tests. */
  readonly rejected: Rejection[];
  /** An application that authenticates with private_key_jwt once credentials are attached. */
  /** `jwtAlg`: the client's `jwt_configuration.alg` (RS256 by default, as for new applications). */
  createClient(input: {
    name: string;
    clientId?: string;
    tokenEndpointAuthMethod?: string;
    jwtAlg?: string;
    /** Generated (as Auth0 does) when left out, unless the method is `none`. */
    clientSecret?: string;
  }): {
    clientId: string;
    /** The client's secret (a local secret: the fake notes it for the hygiene checks). */
    clientSecret?: string;
  };
  /**
   * Add a `public_key` credential directly, as a hand-made setup in the dashboard would have (same
   * validation as `POST /api/v2/clients/{id}/credentials`); `attach` also attaches it to
   * `client_authentication_methods.private_key_jwt` (clearing `token_endpoint_auth_method`).
   */
  seedCredential(
    clientId: string,
    input: { pem: string; alg?: string; kid?: string; name?: string },
    attach: boolean,
  ): Promise<{ id: string; kid: string }>;
  /** A Machine-to-Machine application authorized for the Management API with `scopes`. */
  addManagementClient(input: { clientId: string; clientSecret: string; scopes: string[] }): void;
  /** Replace a client's grant for `audience` (default: the Management API). */
  setGrant(clientId: string, scopes: string[], audience?: string): void;
  setPrivateKeyJwt(enabled: boolean): void;
  setDefaultAudience(audience: string | undefined): void;
  /** The next `times` requests whose path contains `path` get 429 with Auth0's rate-limit headers. */
  rateLimit(input: { path: string; times: number; resetInSec: number; retryAfter?: boolean }): void;
  client(clientId: string): Auth0ClientView;
  /** Detach a credential from the client, as an admin would in the dashboard (it stays registered). */
  detach(clientId: string, credentialId: string): void;
  close(): Promise<void>;
}

export async function startAuth0Fake(opts: Auth0FakeOptions): Promise<Auth0Fake> {
  const tenant = new Tenant();
  tenant.defaultAudience = opts.defaultAudience;
  const lifetime = opts.managementTokenLifetimeSec ?? 86400;
  let base = "";
  const managementAudience = () => `${base}/api/v2/`;
  const spec = suite("auth0");
  const rejected: Rejection[] = [];

  const oauthError = (status: number, error: string, description: string): Reply => ({
    status,
    headers: { "cache-control": "no-store", pragma: "no-cache" },
    body: { error, error_description: description },
  });
  const notAuthorized = (audience: string) =>
    oauthError(
      403,
      "access_denied",
      `Client is not authorized to access "${audience}". You need to create a "client-grant" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants`,
    );
  /** Audience and client grant, once the client is authenticated. */
  const grantToken = (
    client: StoredClient,
    requested: string | undefined,
    scope: string | undefined,
  ): Reply => {
    const audience = requested ?? tenant.defaultAudience;
    if (!audience)
      return oauthError(
        403,
        "access_denied",
        "No audience parameter was provided, and no default audience has been configured",
      );
    const granted = client.grants.get(audience);
    if (!granted) return notAuthorized(audience);
    const wanted = scope ? scope.split(" ").filter(Boolean) : granted;
    const scopes = wanted.filter((s) => granted.includes(s));
    return {
      status: 200,
      headers: { "cache-control": "no-store", pragma: "no-cache" },
      body: {
        access_token: tenant.issueToken(client.clientId, audience, scopes, lifetime),
        scope: scopes.join(" "),
        expires_in: lifetime,
        token_type: "Bearer",
      },
    };
  };

  const reply = async (request: AssertionRequest, ctx: ProviderContext): Promise<void> => {
    const out =
      ctx.status === 200
        ? grantToken(request.client, request.audience, undefined)
        : oauthError(
            401,
            "invalid_client",
            request.error?.error_detail ?? request.error?.error_description ?? "Invalid client assertion",
          );
    ctx.status = out.status;
    ctx.body = out.body;
  };

  const token = async (
    req: Request,
    res: Parameters<typeof verifier.handle>[2],
  ): Promise<Reply | undefined> => {
    const json = String(req.headers["content-type"] ?? "").includes("application/json");
    let params: Record<string, string>;
    try {
      const raw = json
        ? (parseJsonBody(req) as Record<string, unknown> | undefined)
        : Object.fromEntries(new URLSearchParams(req.body.toString("utf8")));
      params = Object.fromEntries(
        Object.entries(raw ?? {}).filter((e): e is [string, string] => typeof e[1] === "string"),
      );
    } catch {
      return oauthError(400, "invalid_request", "Invalid JSON body");
    }
    if (params.grant_type !== "client_credentials")
      return oauthError(403, "unauthorized_client", "Grant type not allowed for the client.");
    const assertion = params.client_assertion;
    if (assertion !== undefined) {
      if (params.client_assertion_type !== ASSERTION_TYPE)
        return oauthError(400, "invalid_request", `client_assertion_type must be ${ASSERTION_TYPE}`);
      if (Buffer.byteLength(assertion) > MAX_ASSERTION_BYTES)
        return oauthError(
          400,
          "invalid_request",
          `client_assertion exceeds the maximum length of ${MAX_ASSERTION_BYTES} bytes`,
        );
      const claims = decodeSegment(assertion.split(".")[1]);
      const clientId = params.client_id ?? (typeof claims?.sub === "string" ? claims.sub : undefined);
      const client = clientId ? tenant.clients.get(clientId) : undefined;
      if (!client) return oauthError(401, "invalid_client", "Unknown client.");
      if (!tenant.privateKeyJwt)
        return oauthError(
          401,
          "invalid_client",
          "Private Key JWT authentication is not enabled for this tenant.",
        );
      if (!client.attached)
        return oauthError(
          401,
          "invalid_client",
          `Client authentication method mismatch: the client uses ${client.tokenEndpointAuthMethod ?? "none"}`,
        );
      // oidc-provider takes the form body; JSON requests are re-encoded.
      const form = new URLSearchParams(params).toString();
      await verifier.handle({ client, audience: params.audience }, providerRequest(req, form), res);
      return undefined;
    }
    // A client secret, by the client's token_endpoint_auth_method: `client_secret_basic` in the
    // Authorization header, `client_secret_post` in the body (JSON or form). A client whose method is null
    // (client_authentication_methods configured) takes no secret at all: the two are mutually exclusive
    // (https://auth0.com/docs/get-started/applications/configure-private-key-jwt).
    const basic = basicCredentials(req.headers.authorization);
    const method = basic ? "client_secret_basic" : "client_secret_post";
    const clientId = basic?.clientId ?? params.client_id;
    const secret = basic?.clientSecret ?? params.client_secret;
    const client = clientId ? tenant.clients.get(clientId) : undefined;
    if (
      basic === null ||
      !client?.clientSecret ||
      secret === undefined ||
      client.tokenEndpointAuthMethod !== method ||
      !secretEquals(client.clientSecret, secret)
    )
      return oauthError(401, "access_denied", "Unauthorized");
    return grantToken(client, params.audience, params.scope);
  };

  /** Bearer token for the Management API with one of `scopes`, or Auth0's 401/403. */
  const authorize = (req: Request, scopes: readonly string[]): Reply | undefined => {
    const header = String(req.headers.authorization ?? "");
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) return auth0Error(401, "Missing authentication");
    const issued = tenant.tokens.get(match[1]);
    if (!issued || issued.audience !== managementAudience()) return auth0Error(401, "Invalid token");
    if (issued.expiresAt <= Date.now()) return auth0Error(401, "Expired token");
    if (!scopes.some((s) => issued.scopes.includes(s)))
      return auth0Error(
        403,
        `Insufficient scope, expected any of: ${scopes.join(",")}`,
        "insufficient_scope",
      );
    return undefined;
  };

  const management = async (req: Request, segments: string[]): Promise<Reply> => {
    const v = spec.check(req, rejected);
    if (!v.ok) return specRefusal(v);
    const [resource, clientId, sub, credentialId, ...rest] = segments;
    if (resource === "clients" && clientId && sub === "rotate-secret" && credentialId === undefined)
      return req.method === "POST" ? rotateSecret(req, clientId) : auth0Error(404, "Not Found");
    if (
      resource !== "clients" ||
      !clientId ||
      rest.length > 0 ||
      (sub !== undefined && sub !== "credentials")
    )
      return auth0Error(404, "Not Found");
    const need =
      sub === undefined
        ? req.method === "PATCH"
          ? SCOPES.updateClient
          : [...SCOPES.readClient, READ_CLIENT_KEYS]
        : req.method === "POST"
          ? SCOPES.createCredential
          : req.method === "DELETE"
            ? SCOPES.deleteCredential
            : SCOPES.readCredentials;
    const denied = authorize(req, need);
    if (denied) return denied;
    const client = tenant.clients.get(clientId);
    if (!client) return auth0Error(404, "The client does not exist", "inexistent_client");
    let body: Record<string, unknown> = {};
    if (req.method === "POST" || req.method === "PATCH") {
      try {
        const parsed = parseJsonBody(req);
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
          return auth0Error(400, "Payload validation error: 'Expected type object'.", "invalid_body");
        body = parsed as Record<string, unknown>;
      } catch {
        return auth0Error(400, "Invalid request payload JSON format", "invalid_body");
      }
    }
    if (sub === undefined) {
      if (req.method === "GET")
        return { status: 200, body: clientView(client, !authorize(req, [READ_CLIENT_KEYS])) };
      if (req.method === "PATCH") {
        if ("client_authentication_methods" in body) {
          const missing = authorize(req, SCOPES.configureAuthMethods);
          if (missing) return missing;
        }
        return patchClient(req, client, body);
      }
      return auth0Error(404, "Not Found");
    }
    if (credentialId === undefined) {
      if (req.method === "GET") return { status: 200, body: client.credentials.map(credentialView) };
      if (req.method !== "POST") return auth0Error(404, "Not Found");
      // Guess (no documented wording): Auth0 refuses credentials on a plan without Private Key JWT.
      if (!tenant.privateKeyJwt)
        return auth0Error(
          403,
          "Private Key JWT is not available on your current plan. It requires an Enterprise subscription.",
          "operation_not_supported",
        );
      if (client.credentials.length >= MAX_CREDENTIALS)
        return auth0Error(
          400,
          `The client has reached the limit of ${MAX_CREDENTIALS} credentials. Delete an unused credential first.`,
          "credentials_limit_exceeded",
        );
      const built = await tenant.buildCredential(client, body);
      if ("status" in built) return built;
      client.credentials.push(built);
      return { status: 201, body: credentialView(built) };
    }
    const credential = client.credentials.find((c) => c.id === credentialId);
    if (!credential) return auth0Error(404, "The credential does not exist", "inexistent_credential");
    if (req.method === "GET") return { status: 200, body: credentialView(credential) };
    if (req.method !== "DELETE") return auth0Error(404, "Not Found");
    // "Once disabled, ... select Delete Credential" (rotate-credentials): an attached credential stays.
    if (client.attached?.includes(credential.id))
      return auth0Error(
        400,
        `The credential ${credential.id} is in use by client_authentication_methods; remove it from the client before deleting it.`,
        "invalid_body",
      );
    client.credentials = client.credentials.filter((c) => c !== credential);
    return { status: 204 };
  };

  /**
   * `POST /api/v2/clients/{id}/rotate-secret` (scope update:client_keys): a new generated secret, the old one
   * refused at once; the response is the client with its new `client_secret`. "This endpoint cannot be used
   * with clients configured with Private Key JWT authentication method"
   * (https://auth0.com/docs/api/management/v2/clients/post-rotate-secret); the refusal's wording is the fake's.
   */
  const rotateSecret = (req: Request, clientId: string): Reply => {
    const denied = authorize(req, [UPDATE_CLIENT_KEYS]);
    if (denied) return denied;
    const client = tenant.clients.get(clientId);
    if (!client) return auth0Error(404, "The client does not exist", "inexistent_client");
    if (client.attached)
      return auth0Error(
        400,
        "The client secret cannot be rotated while client_authentication_methods is configured with private_key_jwt.",
        "invalid_body",
      );
    tenant.rotateSecret(client);
    return { status: 200, body: clientView(client, true) };
  };

  const patchClient = (req: Request, client: StoredClient, body: Record<string, unknown>): Reply => {
    const invalid = (m: string) => auth0Error(400, `Payload validation error: ${m}`, "invalid_body");
    let tokenEndpointAuthMethod = client.tokenEndpointAuthMethod;
    let attached = client.attached;
    if ("token_endpoint_auth_method" in body) {
      const t = body.token_endpoint_auth_method;
      if (t !== null && !["none", "client_secret_post", "client_secret_basic"].includes(String(t)))
        return invalid(
          "'token_endpoint_auth_method' must be one of [none, client_secret_post, client_secret_basic, null].",
        );
      tokenEndpointAuthMethod = t as string | null;
    }
    if ("client_authentication_methods" in body) {
      // "To configure `client_authentication_methods`, the property `jwt_configuration.alg` must be set to
      // RS256" (patch-clients-by-id); the wording of the refusal is a guess.
      if (client.jwtAlg !== "RS256")
        return invalid("To configure client_authentication_methods, jwt_configuration.alg must be RS256.");
      const cam = body.client_authentication_methods;
      if (cam === null) attached = null;
      else {
        const pkjwt = (cam as { private_key_jwt?: { credentials?: unknown } } | undefined)?.private_key_jwt;
        const list = pkjwt?.credentials;
        if (!Array.isArray(list) || list.length === 0)
          return invalid(
            "'client_authentication_methods.private_key_jwt.credentials' needs at least 1 item.",
          );
        const ids = list.map((x) => (x && typeof x === "object" ? (x as { id?: unknown }).id : undefined));
        if (!ids.every((id): id is string => typeof id === "string"))
          return invalid(
            "Missing required property: id (client_authentication_methods.private_key_jwt.credentials).",
          );
        if (!tenant.privateKeyJwt)
          return auth0Error(
            403,
            "Private Key JWT is not available on your current plan. It requires an Enterprise subscription.",
            "operation_not_supported",
          );
        const unknown = ids.find((id) => !client.credentials.some((c) => c.id === id));
        if (unknown)
          return auth0Error(404, `The credential ${unknown} does not exist`, "inexistent_credential");
        attached = [...new Set(ids)];
      }
    }
    // "client_authentication_methods and token_endpoint_auth_method are mutually exclusive"; the
    // configure-private-key-jwt example sets token_endpoint_auth_method: null in the same PATCH.
    if (attached && tokenEndpointAuthMethod !== null)
      return invalid(
        "The properties client_authentication_methods and token_endpoint_auth_method are mutually exclusive.",
      );
    client.tokenEndpointAuthMethod = tokenEndpointAuthMethod;
    client.attached = attached;
    return { status: 200, body: clientView(client, !authorize(req, [READ_CLIENT_KEYS])) };
  };

  const server = await startHttpsServer("auth0", opts.tls, async (req, res) => {
    const segments = req.path.split("/").filter(Boolean).map(decodeURIComponent);
    if (req.method === "POST" && req.path === "/oauth/token") return token(req, res);
    if (segments[0] === "api" && segments[1] === "v2") return management(req, segments.slice(2));
    if (req.method === "GET" && req.path === "/.well-known/openid-configuration")
      return { status: 200, body: openidConfiguration(base) };
    return auth0Error(404, "Not Found");
  });
  base = server.url;
  const verifier = createAssertionVerifier({
    issuer: `${base}/`,
    tokenPath: "/oauth/token",
    tokenEndpoint: `${base}/oauth/token`,
    tenant,
    reply,
  });

  return {
    baseUrl: base,
    tenantUrl: `${base}/`,
    tokenEndpoint: `${base}/oauth/token`,
    managementAudience: managementAudience(),
    server,
    rejected,
    createClient(input) {
      const c = tenant.createClient(input);
      return { clientId: c.clientId, ...(c.clientSecret ? { clientSecret: c.clientSecret } : {}) };
    },
    async seedCredential(clientId, input, attach) {
      const client = tenant.client(clientId);
      const built = await tenant.buildCredential(client, { credential_type: "public_key", ...input });
      if ("status" in built) throw new Error(`auth0 fake: credential refused: ${JSON.stringify(built.body)}`);
      if (client.credentials.length >= MAX_CREDENTIALS)
        throw new Error(`auth0 fake: client ${clientId} already holds ${MAX_CREDENTIALS} credentials`);
      client.credentials.push(built);
      if (attach) {
        client.attached = [...(client.attached ?? []), built.id];
        client.tokenEndpointAuthMethod = null;
      }
      return { id: built.id, kid: built.kid };
    },
    addManagementClient(input) {
      const c = tenant.createClient({ name: `mgmt-${input.clientId}`, ...input });
      c.grants.set(managementAudience(), [...input.scopes]);
    },
    setGrant(clientId, scopes, audience = managementAudience()) {
      tenant.client(clientId).grants.set(audience, [...scopes]);
    },
    setPrivateKeyJwt(enabled) {
      tenant.privateKeyJwt = enabled;
    },
    setDefaultAudience(audience) {
      tenant.defaultAudience = audience;
    },
    rateLimit({ path, times, resetInSec, retryAfter }) {
      // Auth0 sends x-ratelimit-limit/-remaining/-reset (epoch seconds) on every Management API answer
      // (https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy).
      server.faults.add({
        path,
        times,
        fault: {
          kind: "status",
          status: 429,
          ...(retryAfter ? { retryAfter: String(resetInSec) } : {}),
          headers: {
            "x-ratelimit-limit": "50",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) + resetInSec),
          },
          body: auth0Error(429, "Global limit has been reached", "too_many_requests").body,
        },
      });
    },
    detach(clientId, credentialId) {
      const c = tenant.client(clientId);
      c.attached = (c.attached ?? []).filter((id) => id !== credentialId);
    },
    client(clientId) {
      const c = tenant.client(clientId);
      return {
        tokenEndpointAuthMethod: c.tokenEndpointAuthMethod,
        attached: c.attached ? [...c.attached] : null,
        credentials: c.credentials.map((x) => ({
          id: x.id,
          kid: x.kid,
          alg: x.alg,
          name: x.name,
          ...(x.expiresAt ? { expiresAt: x.expiresAt } : {}),
        })),
      };
    },
    close: () => server.close(),
  };
}

function decodeSegment(segment: string | undefined): Record<string, unknown> | undefined {
  if (!segment) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
