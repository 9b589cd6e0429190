/**
 * The gateway login probe: does what Kong's openid-connect plugin does when it authenticates to the IdP
 * with `private_key_jwt`, from a plugin config, and answers "can the gateway log in right now?".
 *
 * Real behaviours reproduced (sources, Kong Gateway Enterprise source published in github.com/Kong/kong):
 * - Client selection: client_id[i] and the parallel arrays, each falling back to its first entry
 *   (`client.jwk = jwks[client_index] or jwks[1]`, same for client_auth): kong/plugins/openid-connect/clients.lua.
 * - The assertion: iss = sub = client_id, aud = the token endpoint, jti = 32 random bytes base64url,
 *   iat, exp = iat + 60: kong/openid-connect/utils.lua `generate_private_key_jwt`.
 * - Signed with the JWK's own `alg`, "RS256" when absent, header `{typ: "JWT", alg, kid}` (kid from the
 *   JWK; no x5t header): kong/openid-connect/jws.lua `jws.encode`.
 * - The token request drops client_id from the body and sends client_assertion and
 *   client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer:
 *   kong/openid-connect/token.lua `token:request`.
 * - Token endpoint: `config.token_endpoint` when set, else discovery at
 *   `<issuer>/.well-known/openid-configuration` (or `issuer` itself when it already is that document).
 * - `scope` = config.scopes joined with spaces (default ["openid"]).
 *
 * Not reproduced: token caching (`cache_tokens`), the plugin's auto-generated fallback keys when no
 * client_jwk exists (the probe reports an error instead), `client_arg` header lookup (the caller names
 * the client; an unknown client is an error rather than Kong's fallback to client_id[1]), audience /
 * extra token args, mTLS, proxies. TLS is verified against the local CA even though Kong's
 * `ssl_verify` defaults to false. The access token is never returned.
 */
import { request as httpsRequest } from "node:https";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { randomBytes } from "node:crypto";
import { SignJWT, importJWK, type JWK } from "jose";
import { isRecord } from "./validate.js";
import type { KongVaults } from "./vault.js";

export interface ProbeResult {
  ok: boolean;
  /** HTTP status of the token endpoint (or of discovery when that failed); 0 when nothing was sent. */
  status: number;
  error?: string;
  /** The kid the assertion carried. */
  kid?: string;
}

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

/** Run the probe against a plugin `config` (as Kong returns it from the Admin API). */
export async function probeLogin(
  config: Record<string, unknown>,
  clientId: string | undefined,
  ca: string,
  vaults?: KongVaults,
): Promise<ProbeResult> {
  const clients = arrayOf(config.client_id);
  const index = clientId === undefined ? 0 : clients.indexOf(clientId);
  const id = clients[index];
  if (index < 0 || typeof id !== "string")
    return { ok: false, status: 0, error: "client is not in config.client_id" };
  const auths = arrayOf(config.client_auth);
  const auth = auths[index] ?? auths[0];
  if (auth !== "private_key_jwt")
    return { ok: false, status: 0, error: `client_auth is ${String(auth ?? "unset")}, not private_key_jwt` };
  const jwks = arrayOf(config.client_jwk);
  const stored = jwks[index] ?? jwks[0];
  if (!isRecord(stored)) return { ok: false, status: 0, error: "no client_jwk for this client" };
  // Referenceable members are resolved when the config loads (./vault.ts); unresolvable ones become "".
  const jwk = vaults ? await vaults.resolveEntry(stored) : stored;
  const alg = typeof jwk.alg === "string" ? jwk.alg : "RS256";
  const kid = typeof jwk.kid === "string" ? jwk.kid : undefined;
  const timeoutMs = typeof config.timeout === "number" ? config.timeout : 10_000;

  let tokenEndpoint = typeof config.token_endpoint === "string" ? config.token_endpoint : undefined;
  if (!tokenEndpoint) {
    if (typeof config.issuer !== "string") return { ok: false, status: 0, error: "config.issuer is not set" };
    let discovery: HttpResult;
    try {
      discovery = await send(discoveryUrl(config.issuer), ca, timeoutMs);
    } catch (e) {
      return {
        ok: false,
        status: 0,
        error: `discovery failed: ${(e as Error).message}`,
        ...(kid ? { kid } : {}),
      };
    }
    const te = isRecord(discovery.body) ? discovery.body.token_endpoint : undefined;
    if (discovery.status !== 200 || typeof te !== "string")
      return {
        ok: false,
        status: discovery.status,
        error: "discovery returned no token_endpoint",
        ...(kid ? { kid } : {}),
      };
    tokenEndpoint = te;
  }

  let assertion: string;
  try {
    const keyJwk: JWK = {};
    for (const m of KEY_MEMBERS)
      if (typeof jwk[m] === "string") (keyJwk as Record<string, unknown>)[m] = jwk[m];
    const key = await importJWK(keyJwk, alg);
    const iat = Math.floor(Date.now() / 1000);
    assertion = await new SignJWT({
      iss: id,
      sub: id,
      aud: tokenEndpoint,
      jti: randomBytes(32).toString("base64url"),
      exp: iat + 60,
      iat,
    })
      .setProtectedHeader({ typ: "JWT", alg, ...(kid ? { kid } : {}) })
      .sign(key);
  } catch (e) {
    return {
      ok: false,
      status: 0,
      error: `unable to encode JWT for private key jwt authentication (${(e as Error).message})`,
      ...(kid ? { kid } : {}),
    };
  }

  const scopes = arrayOf(config.scopes ?? ["openid"]).filter((s): s is string => typeof s === "string");
  const form: Record<string, string> = {
    grant_type: "client_credentials",
    client_assertion: assertion,
    client_assertion_type: ASSERTION_TYPE,
  };
  if (scopes.length) form.scope = scopes.join(" ");
  let res: HttpResult;
  try {
    res = await send(tokenEndpoint, ca, timeoutMs, form);
  } catch (e) {
    return {
      ok: false,
      status: 0,
      error: `token request failed: ${(e as Error).message}`,
      ...(kid ? { kid } : {}),
    };
  }
  const ok = res.status === 200 && isRecord(res.body) && typeof res.body.access_token === "string";
  return {
    ok,
    status: res.status,
    ...(ok ? {} : { error: describeIdpError(res.body) }),
    ...(kid ? { kid } : {}),
  };
}
