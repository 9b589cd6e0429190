/**
 * The Okta app object and its OAuth 2.0 client secrets, in the management API
 * (okta/okta-management-openapi-spec, dist/current/management-minimal.yaml: getApplication,
 * replaceApplication; tag ApplicationSSOPublicKeys: listOAuth2ClientSecrets, createOAuth2ClientSecret,
 * getOAuth2ClientSecret, deleteOAuth2ClientSecret, activate/deactivateOAuth2ClientSecret).
 *
 * Reproduced:
 * - `GET /api/v1/apps/{appId}`: the OIDC app (`name` `oidc_client`, `signOnMode` `OPENID_CONNECT`,
 *   `credentials.oauthClient` with `client_id` and `token_endpoint_auth_method`, `settings.oauthClient` with
 *   the JWKS the JWKS API manages). `client_secret` is not in it: "The client_secret is only shown when an
 *   OAuth 2.0 client app is created or updated (and only if the token_endpoint_auth_method requires a client
 *   secret)" (schema ApplicationCredentialsOAuthClient).
 * - `PUT /api/v1/apps/{appId}` replaces the app (replaceApplication). `token_endpoint_auth_method` is
 *   whatever the body says, its schema default `client_secret_basic` when left out. Switching to
 *   `private_key_jwt` deletes the app's client secrets: "When you switch the client authentication method to
 *   Public key/Private key, any existing client secrets are deleted" (Okta's guide "Client secret rotation and
 *   key management", https://developer.okta.com/docs/guides/client-secret-rotation-key/main/). Switching to
 *   a secret method with no secret generates one, as app creation does (same schema note), and the response
 *   shows it.
 * - Client secrets: list (a plain array), create (ACTIVE unless `status: INACTIVE`; the given
 *   `client_secret` or a generated one; 14..100 printable ASCII characters, 32 for `client_secret_jwt`;
 *   refused on a `private_key_jwt` app; at most two), get, delete (inactive only), activate, deactivate (not
 *   the only active one). Error bodies are the spec's examples (E0000001 with their causes). Reads need
 *   okta.apps.read, writes okta.apps.manage (the SSWS token's role, ./org.ts).
 * - The token endpoint (./token.ts) takes an ACTIVE secret only, with the app's method only.
 *
 * Decisions where Okta documents nothing (recorded in docs/local-stack/okta.md):
 * - List and get return the secret in full: the Admin Console can "view, copy" app client secrets
 *   (https://help.okta.com/en-us/content/topics/apps/oauth-client-cred-mgmt.htm), and the spec's schema
 *   says "The OAuth 2.0 client secret string" without the "undisclosed hashed value" note it carries for API
 *   service integrations. `secret_hash` is 16 bytes of SHA-256, base64url (the algorithm is not documented).
 * - A replace must send `settings.oauthClient.jwks` back when the app has keys: what Okta does to the JWKS
 *   when a replace leaves it out is not documented, so the fake refuses rather than guess (keys are kept,
 *   added or removed as the body's JWKS says, matched by `id` or `kid`). `private_key_jwt` needs an ACTIVE key
 *   in it. The wording of these refusals is the fake's.
 * - `client_secret` in a replace body is ignored (secrets are managed with the secrets API here).
 *
 * Not reproduced: other app types and sign-on modes, app lifecycle (activate/deactivate/delete), other
 * settings than `settings.oauthClient` (kept as sent, not validated), `jwks_uri`, `client_secret_jwt`
 * and `none` logins, the Dynamic Client Registration API (`/oauth2/v1/clients`).
 */
import { parseJsonBody, type Reply, type Request } from "../common/server.js";
import {
  AUTH_METHODS,
  CAUSES,
  SECRET_METHODS,
  invalidJwk,
  isReply,
  jwkFromBody,
  keyView,
  oktaError,
  type AuthMethod,
  type KeyStatus,
  type OktaApp,
  type Org,
  type StoredJwk,
  type StoredSecret,
} from "./org.js";

const APP = /^\/api\/v1\/apps\/([^/]+)$/;
const SECRETS =
  /^\/api\/v1\/apps\/([^/]+)\/credentials\/secrets(?:\/([^/]+)(?:\/lifecycle\/(activate|deactivate))?)?$/;

const MEDIATED = "Api validation failed: OAuth2ClientSecretMediated";
export const SECRET_CAUSES = {
  privateKeyJwt: "'client_secret' can't be used when 'token_endpoint_auth_method' is 'private_key_jwt'.",
  tooShort: "client_secret: 'client_secret' must be at least '14' characters long.",
  tooShortJwt:
    "client_secret: 'client_secret' must be at least '32' characters long when 'token_endpoint_auth_method' is 'client_secret_jwt'.",
  tooLong: "client_secret: 'client_secret' can't be more than '100' characters long.",
  nonAscii: "client_secret: ''client_secret'' must only contain printable ASCII: [x20-x7E]+",
  max: "You've reached the maximum number of client secrets per client.",
  deleteActive: "You can't delete an active client secret. Deactivate the secret before deleting it.",
  deactivateOnly: "You can't deactivate the only active client secret.",
} as const;

const notAllowed = () => oktaError(405, "E0000022", "The endpoint does not support the provided HTTP method");
const malformed = () => oktaError(400, "E0000003", "The request body was not well-formed.");
const blank = (field: string) =>
  oktaError(400, "E0000001", `Api validation failed: ${field}`, [`${field}: The field cannot be left blank`]);

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function readBody(req: Request): { body: Record<string, unknown> } | { error: Reply } {
  try {
    const body = parseJsonBody(req);
    return isRecord(body) ? { body } : { error: malformed() };
  } catch {
    return { error: malformed() };
  }
}

/** A client secret as the API returns it (OAuth2ClientSecret), with lifecycle `_links`. */
export function secretView(orgUrl: string, app: OktaApp, s: StoredSecret): Record<string, unknown> {
  const self = `${orgUrl}/api/v1/apps/${app.id}/credentials/secrets/${s.id}`;
  const links =
    s.status === "ACTIVE"
      ? { deactivate: { href: `${self}/lifecycle/deactivate`, hints: { allow: ["POST"] } } }
      : {
          activate: { href: `${self}/lifecycle/activate`, hints: { allow: ["POST"] } },
          delete: { href: self, hints: { allow: ["DELETE"] } },
        };
  return {
    id: s.id,
    status: s.status,
    client_secret: s.secret,
    secret_hash: s.hash,
    created: s.created,
    lastUpdated: s.lastUpdated,
    _links: links,
  };
}

/** The OIDC app as getApplication returns it; `withSecret` for the replace response of a secret method. */
export function appView(orgUrl: string, app: OktaApp, withSecret: boolean): Record<string, unknown> {
  const self = `${orgUrl}/api/v1/apps/${app.id}`;
  const newest = [...app.secrets].reverse().find((s) => s.status === "ACTIVE");
  const usesSecret = SECRET_METHODS.includes(app.tokenEndpointAuthMethod);
  const jwks = app.keys.map((k) => {
    const { _links: _ignored, ...key } = keyView(orgUrl, app, k);
    return key;
  });
  return {
    id: app.id,
    name: "oidc_client",
    label: app.label,
    status: "ACTIVE",
    created: app.created,
    lastUpdated: app.lastUpdated,
    signOnMode: "OPENID_CONNECT",
    features: [],
    // Unset redirect URLs are left out: the published schema types them as strings, not nullable.
    accessibility: { selfService: false },
    visibility: {
      autoLaunch: false,
      autoSubmitToolbar: false,
      hide: { iOS: true, web: true },
      appLinks: { oidc_client_link: false },
    },
    credentials: {
      userNameTemplate: { template: "${source.login}", type: "BUILT_IN" },
      oauthClient: {
        autoKeyRotation: true,
        client_id: app.id,
        token_endpoint_auth_method: app.tokenEndpointAuthMethod,
        pkce_required: false,
        ...(withSecret && usesSecret && newest ? { client_secret: newest.secret } : {}),
      },
    },
    settings: {
      app: {},
      oauthClient: { ...app.oauthClientSettings, ...(jwks.length ? { jwks: { keys: jwks } } : {}) },
    },
    _links: {
      self: { href: self },
      deactivate: { href: `${self}/lifecycle/deactivate` },
      users: { href: `${self}/users` },
      groups: { href: `${self}/groups` },
    },
  };
}

/** The JWKS a replace body asks for: existing keys kept (by `id` or `kid`), new ones built, the rest gone. */
function replacedKeys(org: Org, app: OktaApp, raw: unknown): StoredJwk[] | Reply {
  const list = isRecord(raw) ? raw.keys : undefined;
  if (!Array.isArray(list)) return invalidJwk("jwks: 'keys' must be an array of JSON Web Keys.");
  const out: StoredJwk[] = [];
  for (const item of list) {
    if (!isRecord(item)) return invalidJwk("jwks: 'keys' must be an array of JSON Web Keys.");
    const existing = app.keys.find(
      (k) =>
        (typeof item.id === "string" && k.id === item.id) || (item.kid !== undefined && k.kid === item.kid),
    );
    if (existing) {
      const status = item.status ?? existing.status;
      if (status !== "ACTIVE" && status !== "INACTIVE")
        return oktaError(400, "E0000001", "Api validation failed: status", [
          "status: must be ACTIVE or INACTIVE",
        ]);
      out.push(
        status === existing.status
          ? existing
          : { ...existing, status, lastUpdated: new Date().toISOString() },
      );
      continue;
    }
    const built = jwkFromBody(org, item);
    if (isReply(built)) return built;
    out.push(built);
  }
  if (out.length > 1 && out.some((k) => k.kid === null)) return invalidJwk(CAUSES.nonUniqueKid);
  if (new Set(out.map((k) => k.kid)).size !== out.length) return invalidJwk(CAUSES.duplicateKid);
  return out;
}

function replaceApp(org: Org, orgUrl: string, app: OktaApp, req: Request): Reply {
  const read = readBody(req);
  if ("error" in read) return read.error;
  const { body } = read;
  if (typeof body.name !== "string" || !body.name) return blank("name");
  if (body.name !== "oidc_client")
    return oktaError(400, "E0000001", "Api validation failed: name", [
      `name: The app name can't be changed from 'oidc_client' to '${body.name}'.`,
    ]);
  if (typeof body.label !== "string" || !body.label) return blank("label");
  if (body.signOnMode !== undefined && body.signOnMode !== "OPENID_CONNECT")
    return oktaError(400, "E0000001", "Api validation failed: signOnMode", [
      "signOnMode: The sign-on mode of an OIDC app is OPENID_CONNECT.",
    ]);
  const oauthClient = isRecord(body.credentials) ? body.credentials.oauthClient : undefined;
  const requested = isRecord(oauthClient) ? oauthClient.token_endpoint_auth_method : undefined;
  // Schema OAuthEndpointAuthenticationMethod: "default": "client_secret_basic".
  const method = requested === undefined ? "client_secret_basic" : requested;
  if (typeof method !== "string" || !(AUTH_METHODS as readonly string[]).includes(method))
    return oktaError(400, "E0000001", "Api validation failed: token_endpoint_auth_method", [
      `token_endpoint_auth_method: '${String(method)}' is not one of ${AUTH_METHODS.join(", ")}.`,
    ]);
  const settings =
    isRecord(body.settings) && isRecord(body.settings.oauthClient) ? body.settings.oauthClient : {};
  const { jwks, ...rest } = settings;
  let keys = app.keys;
  if (jwks === undefined) {
    if (app.keys.length > 0)
      return oktaError(400, "E0000001", "Api validation failed: jwks", [
        "jwks: send settings.oauthClient.jwks back as read: what Okta does to the keys when a replace leaves it out is not documented, and the local fake does not guess.",
      ]);
  } else {
    const next = replacedKeys(org, app, jwks);
    if (!Array.isArray(next)) return next;
    keys = next;
  }
  if (method === "private_key_jwt" && !keys.some((k) => k.status === "ACTIVE"))
    return oktaError(400, "E0000001", "Api validation failed: jwks", [
      "jwks: The 'jwks' must contain at least one ACTIVE key when 'token_endpoint_auth_method' is 'private_key_jwt'.",
    ]);
  const next = method as AuthMethod;
  app.label = body.label;
  app.keys = keys;
  app.oauthClientSettings = rest;
  if (next === "private_key_jwt" && app.tokenEndpointAuthMethod !== "private_key_jwt") app.secrets = [];
  if (SECRET_METHODS.includes(next) && !app.secrets.some((s) => s.status === "ACTIVE"))
    app.secrets.push(org.buildSecret(undefined, "ACTIVE"));
  app.tokenEndpointAuthMethod = next;
  app.lastUpdated = new Date().toISOString();
  return { status: 200, body: appView(orgUrl, app, true) };
}

function createSecret(org: Org, orgUrl: string, app: OktaApp, req: Request): Reply {
  const read = req.body.length === 0 ? { body: {} } : readBody(req);
  if ("error" in read) return read.error;
  const body: Record<string, unknown> = read.body;
  const invalid = (cause: string) =>
    oktaError(400, "E0000001", "Api validation failed: client_secret", [cause]);
  if (app.tokenEndpointAuthMethod === "private_key_jwt") return invalid(SECRET_CAUSES.privateKeyJwt);
  const status = body.status ?? "ACTIVE";
  if (status !== "ACTIVE" && status !== "INACTIVE")
    return oktaError(400, "E0000001", "Api validation failed: status", [
      "status: must be ACTIVE or INACTIVE",
    ]);
  const given = body.client_secret;
  if (given !== undefined) {
    if (typeof given !== "string") return malformed();
    if (!/^[\x20-\x7e]+$/.test(given)) return invalid(SECRET_CAUSES.nonAscii);
    if (given.length > 100) return invalid(SECRET_CAUSES.tooLong);
    if (app.tokenEndpointAuthMethod === "client_secret_jwt" && given.length < 32)
      return invalid(SECRET_CAUSES.tooShortJwt);
    if (given.length < 14) return invalid(SECRET_CAUSES.tooShort);
  }
  // "You can create up to two secret objects."
  if (app.secrets.length >= 2) return oktaError(400, "E0000001", MEDIATED, [SECRET_CAUSES.max]);
  const secret = org.buildSecret(given, status as KeyStatus);
  app.secrets.push(secret);
  return { status: 201, body: secretView(orgUrl, app, secret) };
}

/** Routes of ./apps.ts, after ./org.ts authenticated the token and checked its role; undefined when not theirs. */
export function appsHandler(org: Org, orgUrl: () => string): (req: Request) => Reply | undefined {
  const appOf = (id: string) => org.apps.get(id);
  const noApp = (id: string) =>
    oktaError(404, "E0000007", `Not found: Resource not found: ${id} (AppInstance)`);
  return (req) => {
    const a = APP.exec(req.path);
    if (a?.[1]) {
      const app = appOf(a[1]);
      if (!app) return noApp(a[1]);
      if (req.method === "GET") return { status: 200, body: appView(orgUrl(), app, false) };
      if (req.method === "PUT") return replaceApp(org, orgUrl(), app, req);
      return notAllowed();
    }
    const m = SECRETS.exec(req.path);
    if (!m?.[1]) return undefined;
    const [, appId = "", secretId, action] = m;
    const app = appOf(appId);
    if (!app) return noApp(appId);
    const base = orgUrl();
    if (secretId === undefined) {
      if (req.method === "GET")
        return { status: 200, body: app.secrets.map((s) => secretView(base, app, s)) };
      if (req.method === "POST") return createSecret(org, base, app, req);
      return notAllowed();
    }
    const secret = app.secrets.find((s) => s.id === secretId);
    if (!secret)
      return oktaError(404, "E0000007", `Not found: Resource not found: ${secretId} (OAuth2ClientSecret)`);
    if (action !== undefined) {
      if (req.method !== "POST") return notAllowed();
      if (action === "deactivate" && secret.status === "ACTIVE") {
        const active = app.secrets.filter((s) => s.status === "ACTIVE");
        if (active.length === 1) return oktaError(400, "E0000001", MEDIATED, [SECRET_CAUSES.deactivateOnly]);
      }
      const status: KeyStatus = action === "activate" ? "ACTIVE" : "INACTIVE";
      if (secret.status !== status) {
        secret.status = status;
        secret.lastUpdated = new Date().toISOString();
      }
      return { status: 200, body: secretView(base, app, secret) };
    }
    if (req.method === "GET") return { status: 200, body: secretView(base, app, secret) };
    if (req.method === "DELETE") {
      // "You can only delete an inactive secret." (deleteOAuth2ClientSecret)
      if (secret.status === "ACTIVE")
        return oktaError(400, "E0000001", MEDIATED, [SECRET_CAUSES.deleteActive]);
      app.secrets.splice(app.secrets.indexOf(secret), 1);
      return { status: 204 };
    }
    return notAllowed();
  };
}
