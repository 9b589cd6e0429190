/**
 * The Kong fake's gateway login with a client secret (`client_secret_post` / `client_secret_basic`, as the
 * real plugin sends them) and its caches, over real HTTP against a tiny local IdP: the token cache the
 * probe honours (`cache_tokens`, the key's salt and secret, never the JWK), the Admin API's `/cache`
 * endpoints, declarative reconfigurations that purge it (DB-less, hybrid data planes), and the
 * openid-connect plugin's own endpoints (discovery cache, JWKS), none of which clears tokens.
 */
import { resolve } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { importJWK, jwtVerify, type JWK } from "jose";
import { ensureCa, issueServerTls, type ServerTls } from "../../stack/common/tls.js";
import { startHttpsServer, type RunningServer } from "../../stack/common/server.js";
import { startKongFake, type KongFake } from "../../stack/kong/fake.js";
import { tokenCacheKey } from "../../stack/kong/node-cache.js";
import { generateRsaJwk, type SeedJwk } from "../../stack/kong/seed.js";

const ADMIN_TOKEN = "kong-cache-test-admin-token";
let tls: ServerTls;
let idp: RunningServer;
const kongs: KongFake[] = [];
/** client id -> secret the IdP accepts */
const secrets = new Map<string, string>();
/** client id -> public JWK the IdP accepts */
const jwks = new Map<string, JWK>();
const seen: { auth: string | undefined; form: Record<string, string> }[] = [];
let discoveries = 0;
let jwk: SeedJwk;

const issuer = () => `${idp.url}/tenant`;
const tokenEndpoint = () => `${idp.url}/tenant/token`;

async function kong(opts: Parameters<typeof startKongFake>[0] = { tls }): Promise<KongFake> {
  const k = await startKongFake(opts);
  kongs.push(k);
  return k;
}

async function admin(k: KongFake, method: string, path: string, body?: unknown) {
  const res = await fetch(`${k.url}${path}`, {
    method,
    headers: {
      "kong-admin-token": ADMIN_TOKEN,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    body: (text ? JSON.parse(text) : undefined) as Record<string, unknown>,
  };
}

const config = (over: Record<string, unknown> = {}) => ({
  issuer: issuer(),
  client_id: ["partner", "gateway"],
  client_auth: ["private_key_jwt", "client_secret_post"],
  client_jwk: [jwk],
  client_secret: ["partner-placeholder-secret", "gateway-secret+with/odd=chars"],
  scopes: ["orders"],
  ...over,
});

beforeAll(async () => {
  tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  jwk = generateRsaJwk({ kid: "partner-key", alg: "RS256" });
  idp = await startHttpsServer("tiny-idp", tls, async (req) => {
    if (req.method === "GET" && req.path === "/tenant/.well-known/openid-configuration") {
      discoveries++;
      return {
        status: 200,
        body: {
          issuer: issuer(),
          token_endpoint: tokenEndpoint(),
          jwks_uri: `${idp.url}/tenant/keys`,
          token_endpoint_auth_methods_supported: [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
          ],
        },
      };
    }
    if (req.method === "GET" && req.path === "/tenant/keys")
      return { status: 200, body: { keys: [{ kty: "RSA", kid: "idp-1", n: "AQAB", e: "AQAB" }] } };
    if (req.method !== "POST" || req.path !== "/tenant/token") return { status: 404, body: {} };
    const form = Object.fromEntries(new URLSearchParams(req.body.toString("utf8")));
    const auth = typeof req.headers.authorization === "string" ? req.headers.authorization : undefined;
    seen.push({ auth, form });
    let client: string | undefined;
    if (auth?.startsWith("Basic ")) {
      const raw = Buffer.from(auth.slice(6), "base64").toString("utf8");
      const [id, ...rest] = raw.split(":");
      if (id && secrets.get(id) === rest.join(":")) client = id;
    } else if (form.client_secret !== undefined) {
      if (secrets.get(form.client_id ?? "") === form.client_secret) client = form.client_id;
    } else if (form.client_assertion) {
      const claims = JSON.parse(
        Buffer.from(form.client_assertion.split(".")[1] ?? "", "base64url").toString(),
      );
      const key = jwks.get(String(claims.sub));
      if (key) {
        await jwtVerify(form.client_assertion, await importJWK(key, "RS256"), { audience: tokenEndpoint() });
        client = String(claims.sub);
      }
    }
    if (!client)
      return { status: 401, body: { error: "invalid_client", error_description: "bad credentials" } };
    return {
      status: 200,
      body: { token_type: "Bearer", expires_in: 3600, access_token: `tok.${client}.${seen.length}` },
    };
  });
});

beforeEach(() => {
  secrets.clear();
  jwks.clear();
  seen.length = 0;
  discoveries = 0;
});

afterAll(async () => {
  for (const k of kongs) await k.close();
  await idp?.close();
});

describe("gateway login with a client secret", () => {
  it("sends client_secret_post as Kong does: client_id and client_secret in the body", async () => {
    secrets.set("gateway", "gateway-secret+with/odd=chars");
    const k = await kong();
    const { id } = k.addPlugin({ name: "openid-connect", config: config() });
    const result = await k.probe(id, "gateway");
    expect(result).toEqual({ ok: true, status: 200, secretHint: "gat" });
    expect(seen[0]?.auth).toBeUndefined();
    expect(seen[0]?.form).toEqual({
      grant_type: "client_credentials",
      client_id: "gateway",
      client_secret: "gateway-secret+with/odd=chars",
      scope: "orders",
    });
    expect(JSON.stringify(result)).not.toContain("tok.");
  });

  it("sends client_secret_basic as Kong does: base64(id:secret) without form-encoding, nothing in the body", async () => {
    secrets.set("gateway", "gateway-secret+with/odd=chars");
    const k = await kong();
    const { id } = k.addPlugin({
      name: "openid-connect",
      config: config({ client_auth: ["private_key_jwt", "client_secret_basic"] }),
    });
    expect(await k.probe(id, "gateway")).toMatchObject({ ok: true });
    expect(seen[0]?.auth).toBe(
      `Basic ${Buffer.from("gateway:gateway-secret+with/odd=chars").toString("base64")}`,
    );
    expect(seen[0]?.form).toEqual({ grant_type: "client_credentials", scope: "orders" });
  });

  it("follows the parallel arrays, token_endpoint_auth_method and the discovered methods", async () => {
    secrets.set("gateway", "only-secret-in-the-list");
    const k = await kong();
    // client_secret shorter than client_id: the gateway entry falls back to client_secret[0].
    const short = k.addPlugin({
      name: "openid-connect",
      config: config({ client_secret: ["only-secret-in-the-list"] }),
    });
    expect(await k.probe(short.id, "gateway")).toMatchObject({ ok: true, secretHint: "onl" });
    // token_endpoint_auth_method overrides client_auth.
    const forced = k.addPlugin({
      name: "openid-connect",
      config: config({
        client_secret: ["only-secret-in-the-list"],
        token_endpoint_auth_method: "client_secret_basic",
      }),
    });
    expect(await k.probe(forced.id, "gateway")).toMatchObject({ ok: true });
    expect(seen.at(-1)?.auth).toMatch(/^Basic /);
    // No client_auth at all: the first supported method the client has credentials for (basic).
    const unset = k.addPlugin({
      name: "openid-connect",
      config: config({ client_auth: null, client_secret: ["only-secret-in-the-list"], client_jwk: null }),
    });
    expect(await k.probe(unset.id, "gateway")).toMatchObject({ ok: true });
    expect(seen.at(-1)?.auth).toMatch(/^Basic /);
  });

  it("fails with the IdP's error once the secret is no longer accepted", async () => {
    secrets.set("gateway", "gateway-secret+with/odd=chars");
    const k = await kong();
    const { id } = k.addPlugin({ name: "openid-connect", config: config() });
    expect((await k.probe(id, "gateway")).ok).toBe(true);
    secrets.delete("gateway");
    expect(await k.probe(id, "gateway")).toEqual({
      ok: false,
      status: 401,
      secretHint: "gat",
      error: "invalid_client: bad credentials",
    });
  });
});

describe("client_secret in the plugin schema", () => {
  it("refuses an empty string, as Kong refuses every empty string field", async () => {
    const k = await kong({ tls, adminToken: ADMIN_TOKEN });
    const { id } = k.addPlugin({ name: "openid-connect", config: config() });
    const res = await admin(k, "PATCH", `/plugins/${id}`, {
      config: { client_secret: ["kept-partner-secret", ""] },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      code: 2,
      name: "schema violation",
      fields: { config: { client_secret: [null, "length must be at least 1"] } },
    });
    expect(k.getPlugin(id)?.config.client_secret).toEqual(config().client_secret);
    // Shortening the array is accepted: the entry then falls back to client_secret[0].
    const shorter = await admin(k, "PATCH", `/plugins/${id}`, {
      config: { client_secret: ["kept-partner-secret"] },
    });
    expect(shorter.status).toBe(200);
  });
});

describe("token cache", () => {
  it("answers a cached probe from the cache until the key or the cache changes, whatever happens to the JWK", async () => {
    secrets.set("gateway", "gateway-secret+with/odd=chars");
    jwks.set("partner", { kty: "RSA", n: jwk.n, e: jwk.e });
    const k = await kong({ tls, adminToken: ADMIN_TOKEN });
    const { id } = k.addPlugin({ name: "openid-connect", config: config() });
    expect(await k.probe(id, "partner")).toMatchObject({ ok: true, kid: "partner-key" });
    const requests = seen.length;
    expect(await k.probe(id, "partner", { cached: true })).toEqual({
      ok: true,
      status: 200,
      cached: true,
      kid: "partner-key",
    });
    expect(seen.length).toBe(requests);

    // A new key in the plugin (a rotation, or the answer to a compromise) leaves the cached token in place.
    const next = generateRsaJwk({ kid: "partner-key-2", alg: "RS256" });
    await admin(k, "PATCH", `/plugins/${id}`, { config: { client_jwk: [next] } });
    expect(await k.probe(id, "partner", { cached: true })).toMatchObject({
      cached: true,
      kid: "partner-key",
    });
    // A fresh login does not replace a live entry.
    jwks.set("partner", { kty: "RSA", n: next.n, e: next.e });
    expect(await k.probe(id, "partner")).toMatchObject({ ok: true, kid: "partner-key-2" });
    expect(await k.probe(id, "partner", { cached: true })).toMatchObject({ kid: "partner-key" });

    // DELETE /cache/{key} on this node, then DELETE /cache.
    const key = tokenCacheKey(issuer(), "partner", "");
    const value = await admin(k, "GET", `/cache/${encodeURIComponent(key)}`);
    expect(value.status).toBe(200);
    expect(value.body).toEqual([expect.any(Number), expect.objectContaining({ expires_in: 3600 }), {}]);
    expect((await admin(k, "DELETE", `/cache/${encodeURIComponent(key)}`)).status).toBe(204);
    expect((await admin(k, "GET", `/cache/${encodeURIComponent(key)}`)).body).toEqual({
      message: "Not found",
    });
    expect(await k.probe(id, "partner", { cached: true })).toEqual({
      ok: true,
      status: 200,
      kid: "partner-key-2",
    });
    expect(await k.probe(id, "partner", { cached: true })).toMatchObject({
      cached: true,
      kid: "partner-key-2",
    });
    expect((await admin(k, "DELETE", "/cache")).status).toBe(204);
    expect(k.node.tokenEntries()).toEqual([]);
    expect((await admin(k, "GET", "/cache")).status).toBe(405);
    expect(k.node.purges).toBe(1);
  });

  it("keys secret logins by the secret and the salt, and skips the cache with cache_tokens false", async () => {
    secrets.set("gateway", "gateway-secret+with/odd=chars");
    const k = await kong({ tls, adminToken: ADMIN_TOKEN });
    const { id } = k.addPlugin({ name: "openid-connect", config: config({ cache_tokens_salt: "salt-1" }) });
    expect((await k.probe(id, "gateway")).ok).toBe(true);
    expect(await k.probe(id, "gateway", { cached: true })).toMatchObject({ cached: true, secretHint: "gat" });
    expect(k.node.tokenEntries().map((e) => e.key)).toEqual([
      tokenCacheKey(issuer(), "gateway", "gateway-secret+with/odd=chars", "salt-1"),
    ]);
    // A new salt makes the old entry unreachable (on every node, since it is plugin config).
    await admin(k, "PATCH", `/plugins/${id}`, { config: { cache_tokens_salt: "salt-2" } });
    expect((await k.probe(id, "gateway", { cached: true })).cached).toBeUndefined();
    // A new secret too.
    secrets.set("gateway", "second-secret-0123");
    await admin(k, "PATCH", `/plugins/${id}`, {
      config: { client_secret: ["partner-placeholder-secret", "second-secret-0123"] },
    });
    expect(await k.probe(id, "gateway", { cached: true })).toEqual({
      ok: true,
      status: 200,
      secretHint: "sec",
    });
    await admin(k, "PATCH", `/plugins/${id}`, { config: { cache_tokens: false } });
    const before = seen.length;
    expect((await k.probe(id, "gateway", { cached: true })).cached).toBeUndefined();
    expect(seen.length).toBe(before + 1);
  });

  it("is purged by a DB-less declarative load, not by a plugin write on a traditional node", async () => {
    secrets.set("gateway", "gateway-secret+with/odd=chars");
    const traditional = await kong({ tls, adminToken: ADMIN_TOKEN });
    const t = traditional.addPlugin({ name: "openid-connect", config: config() });
    await traditional.probe(t.id, "gateway");
    await admin(traditional, "PATCH", `/plugins/${t.id}`, { config: { scopes: ["orders"] } });
    expect((await traditional.probe(t.id, "gateway", { cached: true })).cached).toBe(true);

    const dbless = await kong({ tls, adminToken: ADMIN_TOKEN, dbless: true });
    const d = dbless.addPlugin({ name: "openid-connect", config: config() });
    await dbless.probe(d.id, "gateway");
    expect((await dbless.probe(d.id, "gateway", { cached: true })).cached).toBe(true);
    const doc = await admin(dbless, "GET", "/config");
    expect((await admin(dbless, "POST", "/config", { config: doc.body.config })).status).toBe(201);
    expect((await dbless.probe(d.id, "gateway", { cached: true })).cached).toBeUndefined();
  });

  it("is purged on each hybrid data plane that applies a full config, not with incremental sync", async () => {
    secrets.set("gateway", "gateway-secret+with/odd=chars");
    const cp = await kong({
      tls,
      adminToken: ADMIN_TOKEN,
      dataPlanes: [{ hostname: "dp-full" }, { hostname: "dp-delta", incrementalSync: true }],
    });
    const { id } = cp.addPlugin({ name: "openid-connect", config: config() });
    expect((await cp.probe(id, "gateway")).ok).toBe(true);
    const nodes = cp.gatewayNodes();
    expect(Object.keys(nodes)).toEqual(["dp-full", "dp-delta"]);
    expect(nodes["dp-full"]!.tokenEntries()).toHaveLength(1);
    // The control plane's own cache is not where the data planes keep their tokens.
    expect((await admin(cp, "DELETE", "/cache")).status).toBe(204);
    expect(nodes["dp-full"]!.tokenEntries()).toHaveLength(1);
    await admin(cp, "PATCH", `/plugins/${id}`, { config: { scopes: ["orders"], timeout: 9000 } });
    await new Promise((r) => setTimeout(r, 50));
    expect(nodes["dp-full"]!.tokenEntries()).toHaveLength(0);
    expect(nodes["dp-delta"]!.tokenEntries()).toHaveLength(1);
  });
});

describe("openid-connect plugin endpoints", () => {
  it("serve the discovery cache, whose deletion makes the next login rediscover", async () => {
    secrets.set("gateway", "gateway-secret+with/odd=chars");
    const k = await kong({ tls, adminToken: ADMIN_TOKEN });
    const { id } = k.addPlugin({ name: "openid-connect", config: config() });
    await k.probe(id, "gateway");
    await k.probe(id, "gateway");
    expect(discoveries).toBe(1);
    const list = await admin(k, "GET", "/openid-connect/issuers");
    const rows = list.body.data as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      issuer: issuer(),
      configuration: { token_endpoint: tokenEndpoint() },
      keys: [{ kid: "idp-1" }],
    });
    expect(rows[0]!.secret).toBeUndefined();
    const byIssuer = await admin(k, "GET", `/openid-connect/issuers/${encodeURIComponent(issuer())}`);
    expect(byIssuer.body.id).toBe(rows[0]!.id);
    expect((await admin(k, "GET", `/openid-connect/issuers/${String(rows[0]!.id)}`)).status).toBe(200);
    // DELETE /cache leaves the discovery rows alone.
    await admin(k, "DELETE", "/cache");
    expect(((await admin(k, "GET", "/openid-connect/issuers")).body.data as unknown[]).length).toBe(1);
    expect((await admin(k, "DELETE", `/openid-connect/issuers/${String(rows[0]!.id)}`)).status).toBe(204);
    expect((await admin(k, "GET", `/openid-connect/issuers/${String(rows[0]!.id)}`)).status).toBe(404);
    await k.probe(id, "gateway");
    expect(discoveries).toBe(2);
    expect((await admin(k, "DELETE", "/openid-connect/issuers")).status).toBe(204);
    expect((await admin(k, "GET", "/openid-connect/issuers")).body.data).toEqual([]);
  });

  it("serve the plugin's own public JWKS and rotate it on DELETE", async () => {
    const k = await kong({ tls, adminToken: ADMIN_TOKEN });
    const first = await admin(k, "GET", "/openid-connect/jwks");
    expect(first.status).toBe(200);
    expect(first.type).toContain("application/jwk-set+json");
    const [key] = first.body.keys as Record<string, unknown>[];
    expect(key).toMatchObject({ kty: "RSA", alg: "RS256" });
    expect(key!.d).toBeUndefined();
    expect((await admin(k, "DELETE", "/openid-connect/jwks")).status).toBe(204);
    const second = await admin(k, "GET", "/openid-connect/jwks");
    expect((second.body.keys as Record<string, unknown>[])[0]!.kid).not.toBe(key!.kid);
  });

  it("need the RBAC token like every Admin API route", async () => {
    const k = await kong({ tls, adminToken: ADMIN_TOKEN });
    for (const path of ["/cache", "/openid-connect/issuers"]) {
      const res = await fetch(`${k.url}${path}`, { method: "DELETE" });
      expect(res.status).toBe(401);
    }
  });
});
