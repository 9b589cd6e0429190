/**
 * The Okta org's state and its management API for OAuth 2.0 client JSON Web Keys
 * (okta/okta-management-openapi-spec, dist/current/management-oneOfInheritance.yaml, tag
 * ApplicationSSOPublicKeys: listJwk, addJwk, getJwk, deletejwk, activate/deactivateOAuth2ClientJsonWebKey).
 * The app object itself and its client secrets are in ./apps.ts.
 */
import { createHash, createPublicKey, randomBytes, type KeyObject } from "node:crypto";
import { noteSecret } from "../common/capture.js";
import type { Reply, Request } from "../common/server.js";
import type { Rejection, Validation } from "../common/openapi.js";
import { suite } from "../specs/index.js";
import { parseJsonBody } from "../common/server.js";

export type KeyStatus = "ACTIVE" | "INACTIVE";

export interface StoredJwk {
  id: string;
  kid: string | null;
  kty: "RSA";
  alg?: string;
  use: "sig";
  e: string;
  n: string;
  status: KeyStatus;
  created: string;
  lastUpdated: string;
  publicKey: KeyObject;
  /** When the token endpoint starts accepting the key (Date.now() scale). */
  visibleAt: number;
}

/** `credentials.oauthClient.token_endpoint_auth_method` (spec schema OAuthEndpointAuthenticationMethod). */
export const AUTH_METHODS = [
  "client_secret_basic",
  "client_secret_jwt",
  "client_secret_post",
  "none",
  "private_key_jwt",
] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];
export const SECRET_METHODS: readonly AuthMethod[] = [
  "client_secret_basic",
  "client_secret_post",
  "client_secret_jwt",
];

/** An OAuth 2.0 client secret (spec schema OAuth2ClientSecret). */
export interface StoredSecret {
  id: string;
  secret: string;
  /** `secret_hash`: Okta does not document the algorithm; the fake uses 16 bytes of SHA-256, base64url. */
  hash: string;
  status: KeyStatus;
  created: string;
  lastUpdated: string;
  /** When the token endpoint starts accepting it (Date.now() scale). */
  visibleAt: number;
}

export interface OktaApp {
  /** For OIDC apps the app id is the client_id. */
  id: string;
  label: string;
  tokenEndpointAuthMethod: AuthMethod;
  keys: StoredJwk[];
  secrets: StoredSecret[];
  created: string;
  lastUpdated: string;
  /** `settings.oauthClient` as last written, without `jwks` (the keys above are the JWKS). */
  oauthClientSettings: Record<string, unknown>;
}

/**
 * What an API token may do. An SSWS token acts with its admin's role
 * (https://developer.okta.com/docs/guides/create-an-api-token/main/): a Super/Org/App Admin can manage
 * apps; a Read-only Admin can read them; a user without an admin role can do neither.
 */
export type TokenRole = "SUPER_ADMIN" | "APP_ADMIN" | "READ_ONLY_ADMIN" | "NONE";

/** At most 50 keys per client (spec example ErrorClientJsonWebKeyTooManyKids). */
export const MAX_KEYS = 50;
const MIN_RSA_BITS = 2048;
const BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE62_URL = `${BASE62}-_`;

/** Okta object ids: a 3-character type prefix and 17 base62 characters (e.g. 0oa…, pks…). */
export function oktaId(prefix: string): string {
  const bytes = randomBytes(17);
  return prefix + Array.from(bytes, (b) => BASE62[b % 62]).join("");
}

/** Okta's error body (spec schema `Error`): errorCode, errorSummary, errorLink, errorId, errorCauses. */
export function oktaError(
  status: number,
  errorCode: string,
  errorSummary: string,
  causes: string[] = [],
  headers?: Record<string, string>,
): Reply {
  return {
    status,
    ...(headers ? { headers } : {}),
    body: {
      errorCode,
      errorSummary,
      errorLink: errorCode,
      errorId: oktaId("oae"),
      errorCauses: causes.map((errorSummary) => ({ errorSummary })),
    },
  };
}

/** Spec examples; every JWK validation failure is E0000001 "Api validation failed: JsonWebKey" with 400. */
export const invalidJwk = (cause: string) =>
  oktaError(400, "E0000001", "Api validation failed: JsonWebKey", [cause]);
export const CAUSES = {
  tooMany: `You can't create a new key. You have reached the maximum number of keys allowed (${MAX_KEYS}). To add another key, you must first delete an existing one.`,
  duplicateKid: "All keys in the 'jwks' must have a unique `kid`.",
  nonUniqueKid:
    "Each key should have a unique kid when adding multiple keys. Use the Apps API to update the JWKS to add a kid for the existing key, or delete the existing key and re-add the key with a kid using the JWKS APIs.",
  tooShort: "RSA key length in the 'jwks' is less than '2,048' bits for the given key.",
  deleteActive: "You can't delete an active JSON Web Key. Deactivate the key before deleting it.",
  lastActive:
    "Can't deactivate the only active JSON Web Key when the value for `token_endpoint_auth_method` is `private_key_jwt`.",
} as const;

export type PropagationDelay = number | (() => number);

export class Org {
  readonly apps = new Map<string, OktaApp>();
  readonly tokens = new Map<string, TokenRole>();

  constructor(private readonly propagationDelayMs: PropagationDelay = 0) {}

  private delay(): number {
    return typeof this.propagationDelayMs === "function"
      ? this.propagationDelayMs()
      : this.propagationDelayMs;
  }

  createApp(input: {
    clientId?: string;
    label?: string;
    tokenEndpointAuthMethod?: OktaApp["tokenEndpointAuthMethod"];
  }): OktaApp {
    const now = new Date().toISOString();
    const app: OktaApp = {
      id: input.clientId ?? oktaId("0oa"),
      label: input.label ?? "Kong gateway client",
      tokenEndpointAuthMethod: input.tokenEndpointAuthMethod ?? "private_key_jwt",
      keys: [],
      secrets: [],
      created: now,
      lastUpdated: now,
      // A service app for the client credentials flow
      // (https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/main/).
      oauthClientSettings: {
        application_type: "service",
        grant_types: ["client_credentials"],
        response_types: ["token"],
        consent_method: "REQUIRED",
        issuer_mode: "DYNAMIC",
      },
    };
    this.apps.set(app.id, app);
    return app;
  }

  /**
   * Build a client secret as createOAuth2ClientSecret does: the given one, or a generated 64-character
   * secret (the length of the secret in the spec's OPENID_CONNECT response example); `immediate` skips the
   * propagation delay (a hand-made setup).
   */
  buildSecret(secret: string | undefined, status: KeyStatus, immediate = false): StoredSecret {
    const value = secret ?? Array.from(randomBytes(64), (b) => BASE62_URL[b % BASE62_URL.length]).join("");
    noteSecret("client-secret", value);
    const now = new Date().toISOString();
    return {
      id: oktaId("ocs"),
      secret: value,
      hash: createHash("sha256").update(value).digest().subarray(0, 16).toString("base64url"),
      status,
      created: now,
      lastUpdated: now,
      visibleAt: immediate ? Date.now() : Date.now() + this.delay(),
    };
  }

  /** Build a key as addJwk would; `immediate` skips the propagation delay (a hand-made setup). */
  buildKey(
    jwk: { kid: string | null; n: string; e: string; alg?: string },
    status: KeyStatus,
    immediate = false,
  ): StoredJwk {
    const now = new Date().toISOString();
    return {
      id: oktaId("pks"),
      kid: jwk.kid,
      kty: "RSA",
      ...(jwk.alg ? { alg: jwk.alg } : {}),
      use: "sig",
      e: jwk.e,
      n: jwk.n,
      status,
      created: now,
      lastUpdated: now,
      publicKey: createPublicKey({ key: { kty: "RSA", n: jwk.n, e: jwk.e }, format: "jwk" }),
      visibleAt: immediate ? Date.now() : Date.now() + this.delay(),
    };
  }
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v.length > 0 ? v : undefined);

/** The key as the API returns it (OAuth2ClientJsonWebKeyRsaResponse), with lifecycle `_links`. */
export function keyView(orgUrl: string, app: OktaApp, k: StoredJwk): Record<string, unknown> {
  const self = `${orgUrl}/api/v1/apps/${app.id}/credentials/jwks/${k.id}`;
  const links =
    k.status === "ACTIVE"
      ? { deactivate: { href: `${self}/lifecycle/deactivate`, hints: { allow: ["POST"] } } }
      : {
          activate: { href: `${self}/lifecycle/activate`, hints: { allow: ["POST"] } },
          delete: { href: self, hints: { allow: ["DELETE"] } },
        };
  return {
    id: k.id,
    kid: k.kid,
    kty: k.kty,
    ...(k.alg ? { alg: k.alg } : {}),
    use: k.use,
    e: k.e,
    n: k.n,
    status: k.status,
    created: k.created,
    lastUpdated: k.lastUpdated,
    _links: links,
  };
}

/** A request the management API's published description refuses, in Okta's error shape. */
function specRefusal(v: Exclude<Validation, { ok: true }>): Reply {
  if (v.reason === "unknown-path" || v.reason === "method")
    return oktaError(v.status, "E0000022", "The endpoint does not support the provided HTTP method");
  if (v.reason === "media-type" || (v.in === "body" && v.unparsable))
    return oktaError(v.status, "E0000003", "The request body was not well-formed.");
  return oktaError(400, "E0000001", `Api validation failed: ${v.in}`, v.errors);
}

/**
 * `/api/v1/apps/{appId}/credentials/jwks[/{keyId}[/lifecycle/{activate|deactivate}]]`, and through ./apps.ts
 * `/api/v1/apps/{appId}` and `/api/v1/apps/{appId}/credentials/secrets[…]`, each request first validated
 * against the published management API description (stack/specs/okta/; stack/common/openapi.ts), refusals
 * added to `rejected`.
 */
export function managementHandler(
  org: Org,
  orgUrl: () => string,
  rejected: Rejection[],
  /** Other management routes (./apps.ts), after authentication, validation and the role check; undefined when not theirs. */
  apps: (req: Request) => Reply | undefined = () => undefined,
): (req: Request) => Reply {
  const spec = suite("okta");
  return (req) => {
    // Authorization: SSWS {token} (spec securitySchemes.apiToken). Invalid or missing: 401 E0000011.
    const auth = req.headers.authorization;
    const token = typeof auth === "string" ? /^SSWS\s+(\S+)$/.exec(auth)?.[1] : undefined;
    const role = token === undefined ? undefined : org.tokens.get(token);
    if (role === undefined) return oktaError(401, "E0000011", "Invalid token provided");
    const v = spec.check(req, rejected);
    if (!v.ok) return specRefusal(v);
    const m =
      /^\/api\/v1\/apps\/([^/]+)\/credentials\/jwks(?:\/([^/]+)(?:\/lifecycle\/(activate|deactivate))?)?$/.exec(
        req.path,
      );
    const write = req.method !== "GET";
    // Reads need okta.apps.read, writes okta.apps.manage (spec security per operation).
    if (role === "NONE" || (write && role === "READ_ONLY_ADMIN"))
      return oktaError(403, "E0000006", "You do not have permission to perform the requested action");
    const other = apps(req);
    if (other) return other;
    if (!m) return oktaError(404, "E0000022", "The endpoint does not support the provided HTTP method");
    const [, appId = "", keyId, action] = m;
    const app = org.apps.get(appId);
    if (!app) return oktaError(404, "E0000007", `Not found: Resource not found: ${appId} (AppInstance)`);
    const base = orgUrl();
    if (keyId === undefined) {
      // listJwk: a plain array (spec: `type: array`).
      if (req.method === "GET") return { status: 200, body: app.keys.map((k) => keyView(base, app, k)) };
      if (req.method === "POST") return addJwk(org, base, app, req);
      return oktaError(405, "E0000022", "The endpoint does not support the provided HTTP method");
    }
    const key = app.keys.find((k) => k.id === keyId);
    if (!key) return oktaError(404, "E0000007", `Not found: Resource not found: ${keyId} (JsonWebKey)`);
    if (action !== undefined) {
      if (req.method !== "POST")
        return oktaError(405, "E0000022", "The endpoint does not support the provided HTTP method");
      if (action === "deactivate" && key.status === "ACTIVE") {
        const active = app.keys.filter((k) => k.status === "ACTIVE");
        if (active.length === 1 && app.tokenEndpointAuthMethod === "private_key_jwt")
          return invalidJwk(CAUSES.lastActive);
      }
      const status: KeyStatus = action === "activate" ? "ACTIVE" : "INACTIVE";
      if (key.status !== status) {
        key.status = status;
        key.lastUpdated = new Date().toISOString();
      }
      return { status: 200, body: keyView(base, app, key) };
    }
    if (req.method === "GET") return { status: 200, body: keyView(base, app, key) };
    if (req.method === "DELETE") {
      // "You can only delete an inactive key." (deletejwk)
      if (key.status === "ACTIVE") return invalidJwk(CAUSES.deleteActive);
      app.keys.splice(app.keys.indexOf(key), 1);
      return { status: 204 };
    }
    return oktaError(405, "E0000022", "The endpoint does not support the provided HTTP method");
  };
}

function addJwk(org: Org, orgUrl: string, app: OktaApp, req: Request): Reply {
  let body: unknown;
  try {
    body = parseJsonBody(req);
  } catch {
    return oktaError(400, "E0000003", "The request body was not well-formed.");
  }
  if (!body || typeof body !== "object" || Array.isArray(body))
    return oktaError(400, "E0000003", "The request body was not well-formed.");
  const built = jwkFromBody(org, body as Record<string, unknown>);
  if (isReply(built)) return built;
  if (app.keys.length >= MAX_KEYS) return invalidJwk(CAUSES.tooMany);
  // "This API doesn't allow you to add a key if the existing key doesn't have a `kid`" (addJwk).
  if (app.keys.length > 0 && (built.kid === null || app.keys.some((k) => k.kid === null)))
    return invalidJwk(CAUSES.nonUniqueKid);
  if (app.keys.some((k) => k.kid === built.kid)) return invalidJwk(CAUSES.duplicateKid);
  app.keys.push(built);
  return { status: 201, body: keyView(orgUrl, app, built) };
}

export const isReply = <T extends { status: unknown }>(v: T | Reply): v is Reply =>
  typeof v.status === "number";

/** An RSA signing key from an addJwk body (or a JWKS entry of a replaced app), or Okta's 400. */
export function jwkFromBody(org: Org, b: Record<string, unknown>): StoredJwk | Reply {
  const n = str(b.n);
  const e = str(b.e);
  // This fake models RSA signing keys only (Okta also takes EC keys and encryption keys).
  if (b.kty !== "RSA" || !n || !e || (b.use !== undefined && b.use !== "sig"))
    return invalidJwk("An RSA signing key with `kty`, `n` and `e` is required.");
  const status = b.status === undefined ? "ACTIVE" : b.status;
  if (status !== "ACTIVE" && status !== "INACTIVE")
    return oktaError(400, "E0000001", "Api validation failed: status", [
      "status: must be ACTIVE or INACTIVE",
    ]);
  const kid = b.kid === undefined || b.kid === null ? null : str(b.kid);
  if (kid === undefined) return invalidJwk("kid: must not be empty");
  let key: StoredJwk;
  try {
    key = org.buildKey({ kid, n, e, ...(str(b.alg) ? { alg: str(b.alg) } : {}) }, status);
  } catch {
    return invalidJwk("The JSON Web Key is not a valid RSA public key.");
  }
  if ((key.publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS)
    return invalidJwk(CAUSES.tooShort);
  return key;
}
