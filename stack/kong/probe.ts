/**
 * The gateway login probe: does what Kong's openid-connect plugin does when it authenticates to the IdP
 * with its configured client, from a plugin config, and answers "can the gateway log in right now?".
 *
 * Real behaviours reproduced (sources, Kong Gateway Enterprise source published in github.com/Kong/kong):
 * - Client selection: client_id[i] and the parallel arrays, each falling back to its first entry
 *   (`client.jwk = jwks[client_index] or jwks[1]`, same for client_auth and client_secret):
 *   kong/plugins/openid-connect/handler.lua `find_trusted_client`.
 * - The authentication method (kong/openid-connect/token.lua `token:request`): `config.token_endpoint_auth_method`
 *   when set, else the client's `client_auth`; with neither, the discovery document's
 *   `token_endpoint_auth_methods_supported` (else `client_secret_basic` with a secret, `private_key_jwt`
 *   without), taken in the order basic, post, client_secret_jwt, private_key_jwt.
 * - `client_secret_basic`: `Authorization: Basic base64(client_id ":" client_secret)`, not form-urlencoded
 *   (kong/openid-connect/codec.lua `credentials.encode`); `client_secret_post`: `client_id` and
 *   `client_secret` in the body. `client_secret[i]` may be a vault reference, resolved like the JWK.
 * - `private_key_jwt`, the assertion: iss = sub = client_id, aud = the token endpoint, jti = 32 random bytes
 *   base64url, iat, exp = iat + 60: kong/openid-connect/utils.lua `generate_private_key_jwt`; signed with
 *   the JWK's own `alg`, "RS256" when absent, header `{typ: "JWT", alg, kid}` (kid from the JWK; no x5t
 *   header): kong/openid-connect/jws.lua `jws.encode`; no client_id in the body, client_assertion and
 *   client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer (token.lua).
 * - Token endpoint: `config.token_endpoint` when set, else discovery at
 *   `<issuer>/.well-known/openid-configuration` (or `issuer` itself when it already is that document). With
 *   a gateway node (./node-cache.ts) the discovery document is cached per issuer, with its `jwks_uri` keys
 *   ("[]" when they cannot be loaded), as the plugin's `oic_issuers` cache keeps it.
 * - `scope` = config.scopes joined with spaces (default ["openid"]).
 * - The token cache (`config.cache_tokens`, default true) on a gateway node: every successful login is cached
 *   under Kong's key for the client and its secret (./node-cache.ts) unless a live entry is there; a probe
 *   with `cached: true` answers from a live entry without calling the IdP, as a request served from the
 *   cache would (`cached: true` in the result, with the kid or secret hint that entry was obtained with).
 *   Without `cached` the probe always logs in: "could the gateway log in if its cache were cold?".
 *
 * Not reproduced: the plugin's auto-generated fallback keys when no client_jwk exists (the probe reports an
 * error instead), `client_secret_jwt`, `none` and mTLS client authentication (reported as not reproduced),
 * `client_arg` header lookup (the caller names the client; an unknown client is an error rather than Kong's
 * fallback to client_id[1]), audience / extra token args, the `redirect_uri` Kong adds to the body, proxies.
 * TLS is verified against the local CA even though Kong's `ssl_verify` defaults to false. The access token
 * is never returned.
 */
import { request as httpsRequest } from "node:https";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { randomBytes } from "node:crypto";
import { SignJWT, importJWK, type JWK } from "jose";
import { isRecord } from "./validate.js";
import type { KongVaults } from "./vault.js";
import { cacheTtlSeconds, tokenCacheKey, type GatewayNode } from "./node-cache.js";

export interface ProbeResult {
  ok: boolean;
  /** HTTP status of the token endpoint (or of discovery when that failed); 0 when nothing was sent. */
  status: number;
  error?: string;
  /** The kid the assertion carried (`private_key_jwt`). */
  kid?: string;
  /** The first three characters of the client secret sent (`client_secret_basic`/`_post`). */
  secretHint?: string;
  /** Answered from the node's token cache (no request to the IdP). */
  cached?: true;
}

export interface ProbeContext {
  /** The gateway node whose caches the login uses (discovery, tokens). */
  node?: GatewayNode;
  /** Answer from the node's token cache when it holds a live token for the client. */
  cached?: boolean;
}

const SECRET_METHODS = ["client_secret_basic", "client_secret_post", "client_secret_jwt"];
/** The order token.lua tries a list of methods in. */
const METHOD_ORDER = ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"];

const WELL_KNOWN = "/.well-known/openid-configuration";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const KEY_MEMBERS = ["kty", "crv", "n", "e", "d", "p", "q", "dp", "dq", "qi", "x", "y", "k"];

interface HttpResult {
  status: number;
  body: unknown;
}

export function send(
  url: string,
  ca: string,
  timeoutMs: number,
  form?: Record<string, string>,
  extraHeaders: Record<string, string> = {},
): Promise<HttpResult> {
  const target = new URL(url);
  const payload = form ? new URLSearchParams(form).toString() : undefined;
  const headers: Record<string, string> = { accept: "application/json", ...extraHeaders };
  if (payload !== undefined) {
    headers["content-type"] = "application/x-www-form-urlencoded; charset=utf-8";
    headers["content-length"] = String(Buffer.byteLength(payload));
  }
  const options = { method: payload === undefined ? "GET" : "POST", headers, timeout: timeoutMs };
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on("error", reject);
    };
    const req =
      target.protocol === "https:"
        ? httpsRequest(target, { ...options, ca }, onResponse)
        : httpRequest(target, options, onResponse);
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

function discoveryUrl(issuer: string): string {
  return issuer.endsWith(WELL_KNOWN) ? issuer : issuer.replace(/\/+$/, "") + WELL_KNOWN;
}

function describeIdpError(body: unknown): string {
  if (!isRecord(body)) return "token endpoint returned no JSON error";
  const error = typeof body.error === "string" ? body.error : "error";
  const description =
    typeof body.error_description === "string"
      ? body.error_description.split(/\r?\n/)[0]?.slice(0, 200)
      : undefined;
  return description ? `${error}: ${description}` : error;
}

const arrayOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The discovery document of `issuer` (from the node's cache when it has one), or a failed probe. */
async function discover(
  issuer: string,
  ca: string,
  timeoutMs: number,
  node: GatewayNode | undefined,
): Promise<Record<string, unknown> | ProbeResult> {
  const row = node?.issuerRow(issuer);
  if (row) return JSON.parse(row.configuration) as Record<string, unknown>;
  let discovery: HttpResult;
  try {
    discovery = await send(discoveryUrl(issuer), ca, timeoutMs);
  } catch (e) {
    return { ok: false, status: 0, error: `discovery failed: ${(e as Error).message}` };
  }
  const doc = discovery.body;
  if (discovery.status !== 200 || !isRecord(doc) || typeof doc.token_endpoint !== "string")
    return { ok: false, status: discovery.status, error: "discovery returned no token_endpoint" };
  if (node) {
    let keys = "[]";
    if (typeof doc.jwks_uri === "string") {
      const jwks = await send(doc.jwks_uri, ca, timeoutMs).catch(() => undefined);
      if (jwks?.status === 200 && isRecord(jwks.body) && Array.isArray(jwks.body.keys))
        keys = JSON.stringify(jwks.body.keys);
    }
    node.storeIssuer(issuer, JSON.stringify(doc), keys);
  }
  return doc;
}

const isProbeResult = (v: Record<string, unknown> | ProbeResult): v is ProbeResult =>
  typeof v.ok === "boolean" && typeof v.status === "number";

/** The method token.lua picks: explicit, else the first supported one the client has credentials for. */
function chooseMethod(
  explicit: string | undefined,
  supported: unknown,
  hasSecret: boolean,
  hasJwk: boolean,
): string | undefined {
  if (explicit) return explicit;
  const methods = Array.isArray(supported)
    ? supported.filter((m): m is string => typeof m === "string")
    : [hasSecret ? "client_secret_basic" : "private_key_jwt"];
  return METHOD_ORDER.find((m) => methods.includes(m) && (SECRET_METHODS.includes(m) ? hasSecret : hasJwk));
}

/**
 * Run the probe against a plugin `config` (as Kong returns it from the Admin API). With `ctx.node` the
 * login uses that gateway node's discovery and token caches (./node-cache.ts).
 */
export async function probeLogin(
  config: Record<string, unknown>,
  clientId: string | undefined,
  ca: string,
  vaults?: KongVaults,
  ctx: ProbeContext = {},
): Promise<ProbeResult> {
  const clients = arrayOf(config.client_id);
  const index = clientId === undefined ? 0 : clients.indexOf(clientId);
  const id = clients[index];
  if (index < 0 || typeof id !== "string")
    return { ok: false, status: 0, error: "client is not in config.client_id" };
  const pick = (field: string): unknown => {
    const list = arrayOf(config[field]);
    return list[index] ?? list[0];
  };
  const auth = pick("client_auth");
  const explicit =
    typeof config.token_endpoint_auth_method === "string"
      ? config.token_endpoint_auth_method
      : typeof auth === "string"
        ? auth
        : undefined;
  // Referenceable values are resolved when the config loads (./vault.ts); unresolvable ones become "".
  const storedSecret = pick("client_secret");
  const secret =
    typeof storedSecret !== "string"
      ? undefined
      : vaults
        ? String((await vaults.resolveEntry({ secret: storedSecret })).secret)
        : storedSecret;
  const storedJwk = pick("client_jwk");
  const timeoutMs = typeof config.timeout === "number" ? config.timeout : 10_000;

  let tokenEndpoint = typeof config.token_endpoint === "string" ? config.token_endpoint : undefined;
  let doc: Record<string, unknown> | undefined;
  if (!tokenEndpoint || explicit === undefined) {
    if (typeof config.issuer !== "string") return { ok: false, status: 0, error: "config.issuer is not set" };
    const found = await discover(config.issuer, ca, timeoutMs, ctx.node);
    if (isProbeResult(found)) {
      const kid = isRecord(storedJwk) && typeof storedJwk.kid === "string" ? storedJwk.kid : undefined;
      return { ...found, ...(kid ? { kid } : {}) };
    }
    doc = found;
    tokenEndpoint ??= String(found.token_endpoint);
  }

  const method = chooseMethod(
    explicit,
    doc?.token_endpoint_auth_methods_supported,
    !!secret,
    isRecord(storedJwk),
  );
  if (method === undefined)
    return { ok: false, status: 0, error: "supported token endpoint authentication method was not found" };
  const usesSecret = method === "client_secret_basic" || method === "client_secret_post";
  if (!usesSecret && method !== "private_key_jwt")
    return { ok: false, status: 0, error: `client_auth ${method} is not reproduced by the login probe` };

  const scopes = arrayOf(config.scopes ?? ["openid"]).filter((x): x is string => typeof x === "string");
  const form: Record<string, string> = { grant_type: "client_credentials" };
  const headers: Record<string, string> = {};
  let via: { method: string; kid?: string; secretHint?: string };
  if (usesSecret) {
    if (!secret) return { ok: false, status: 0, error: "no client_secret for this client" };
    via = { method, secretHint: secret.slice(0, 3) };
    if (method === "client_secret_basic")
      headers.authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
    else Object.assign(form, { client_id: id, client_secret: secret });
  } else {
    if (!isRecord(storedJwk)) return { ok: false, status: 0, error: "no client_jwk for this client" };
    const jwk = vaults ? await vaults.resolveEntry(storedJwk) : storedJwk;
    const alg = typeof jwk.alg === "string" ? jwk.alg : "RS256";
    const kid = typeof jwk.kid === "string" ? jwk.kid : undefined;
    via = { method, ...(kid ? { kid } : {}) };
    try {
      const keyJwk: JWK = {};
      for (const m of KEY_MEMBERS)
        if (typeof jwk[m] === "string") (keyJwk as Record<string, unknown>)[m] = jwk[m];
      const key = await importJWK(keyJwk, alg);
      const iat = Math.floor(Date.now() / 1000);
      form.client_assertion = await new SignJWT({
        iss: id,
        sub: id,
        aud: tokenEndpoint,
        jti: randomBytes(32).toString("base64url"),
        exp: iat + 60,
        iat,
      })
        .setProtectedHeader({ typ: "JWT", alg, ...(kid ? { kid } : {}) })
        .sign(key);
      form.client_assertion_type = ASSERTION_TYPE;
    } catch (e) {
      return {
        ok: false,
        status: 0,
        error: `unable to encode JWT for private key jwt authentication (${(e as Error).message})`,
        ...(kid ? { kid } : {}),
      };
    }
  }
  if (scopes.length) form.scope = scopes.join(" ");
  const { method: _method, ...shown } = via;

  const node = ctx.node;
  const caching = node !== undefined && config.cache_tokens !== false;
  const issuer = typeof doc?.issuer === "string" ? doc.issuer : String(config.issuer ?? "");
  const salt = typeof config.cache_tokens_salt === "string" ? config.cache_tokens_salt : undefined;
  const key = tokenCacheKey(issuer, id, usesSecret ? (secret ?? "") : "", salt);
  if (caching && ctx.cached) {
    const hit = node.cachedTokens(key);
    if (hit) {
      const { method: _m, ...hitVia } = hit.via;
      return { ok: true, status: 200, cached: true, ...hitVia };
    }
  }

  let res: HttpResult;
  try {
    res = await send(tokenEndpoint, ca, timeoutMs, form, headers);
  } catch (e) {
    return { ok: false, status: 0, error: `token request failed: ${(e as Error).message}`, ...shown };
  }
  const ok = res.status === 200 && isRecord(res.body) && typeof res.body.access_token === "string";
  if (ok && caching && isRecord(res.body) && !node.cachedTokens(key)) {
    const expiresIn = typeof res.body.expires_in === "number" ? res.body.expires_in : undefined;
    const now = Date.now();
    node.storeTokens({
      key,
      clientId: id,
      via,
      tokens: res.body,
      exp: expiresIn === undefined ? 0 : Math.floor(now / 1000) + expiresIn,
      cachedAt: now,
      expiresAt: now + cacheTtlSeconds(expiresIn, config) * 1000,
    });
  }
  return {
    ok,
    status: res.status,
    ...(ok ? {} : { error: describeIdpError(res.body) }),
    ...shown,
  };
}
