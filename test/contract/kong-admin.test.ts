/**
 * Contract: the Kong adapter (undici, as in production) against the Kong fake over HTTPS.
 */
import { resolve } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Clock } from "../../src/ports/engine.js";
import type { KongTargetConfig } from "../../src/config/load.js";
import type { KongPrivateJwk } from "../../src/crypto/keymaterial.js";
import type { RotatorError } from "../../src/errors.js";
import { createKongTarget } from "../../src/adapters/kong/admin/target.js";
import { ensureCa, issueServerTls, type ServerTls } from "../../stack/common/tls.js";
import { startKongFake, type KongFake, type KongFakeOptions } from "../../stack/kong/fake.js";
import type { SeedJwk } from "../../stack/kong/seed.js";
import { failure, suiteKeys } from "../support/kong-jwk.js";

const CLIENT = "11111111-2222-4333-8444-555555555555";
const ADMIN_TOKEN = "kong-rbac-token-for-tests";
const ISSUER = "https://login.microsoftonline.com/tenant/v2.0";

let tls: ServerTls;
let kong: KongFake | undefined;
let otherA: SeedJwk;
let otherC: SeedJwk;
let oldOurs: SeedJwk;
let next: KongPrivateJwk;
let newer: KongPrivateJwk;

const recordingClock = (): Clock & { slept: number[] } => {
  const slept: number[] = [];
  return { slept, now: () => new Date(), sleep: async (ms) => void slept.push(ms) };
};

/**
 * Fast backoff, but an attempt timeout no loaded machine reaches: a timed-out attempt is retried, and an
 * extra request would break every assertion on the exact requests sent. The hung-request test sets its
 * own short timeout.
 */
const retry = {
  maxAttempts: 4,
  baseDelayMs: 2,
  maxDelayMs: 8,
  attemptTimeoutMs: 15_000,
  maxRetryAfterMs: 60_000,
};

async function fake(opts: Partial<KongFakeOptions> = {}): Promise<KongFake> {
  kong = await startKongFake({ tls, ...opts });
  return kong;
}

function target(
  k: KongFake,
  over: Omit<Partial<KongTargetConfig>, "adminToken"> & {
    token?: string;
    pageSize?: number;
    clock?: Clock;
    attemptTimeoutMs?: number;
  } = {},
) {
  const { token, pageSize, clock, attemptTimeoutMs, ...t } = over;
  return createKongTarget({
    target: { name: "kong-eu", adminUrl: k.url, ...t },
    clientId: CLIENT,
    idp: "entra",
    retry: { ...retry, ...(attemptTimeoutMs ? { attemptTimeoutMs } : {}) },
    clock: clock ?? recordingClock(),
    ...(token ? { adminToken: token } : {}),
    ...(pageSize ? { pageSize } : {}),
  });
}

/** Three clients, ours in the middle, plus unrelated config that must survive. */
const threeClients = (over: Record<string, unknown> = {}) => ({
  issuer: ISSUER,
  client_id: ["client-a", CLIENT, "client-c"],
  client_auth: ["private_key_jwt", "private_key_jwt", "client_secret_post"],
  // Kong refuses empty strings ("length must be at least 1"): entries that use private_key_jwt carry a
  // placeholder.
  client_secret: ["unused-by-a", "unused-by-b", "secret-of-c"],
  client_jwk: [otherA, oldOurs, otherC],
  scopes: ["api://kong/.default"],
  cache_ttl: 600,
  ...over,
});

/** Errors and their serialised form never contain key material, secrets or the admin token. */
function expectClean(e: RotatorError): void {
  const text = `${e.message} ${e.hint} ${JSON.stringify(e.toJSON())}`;
  for (const secret of [next.d, next.p, otherA.d, otherC.d, oldOurs.d, "secret-of-c", ADMIN_TOKEN])
    expect(text).not.toContain(secret);
}

const kids = (k: KongFake, id: string) => (k.getPlugin(id)?.config.client_jwk as SeedJwk[]).map((j) => j.kid);
const writes = (k: KongFake) => k.requests.filter((r) => r.method !== "GET");

beforeAll(async () => {
  tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  ({ otherA, otherC, oldOurs, next, newer } = suiteKeys());
});

afterEach(async () => {
  await kong?.close();
  kong = undefined;
});

describe("kong adapter: resolve and apply", () => {
  it("by id: replaces only our entry, keeps other clients and other config, reads back", async () => {
    const k = await fake();
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    const t = target(k, { pluginId: id });
    expect(await t.inspect()).toEqual([
      {
        pluginId: id,
        clientIndex: 1,
        kid: "kid-old",
        alg: "PS256",
        modulusPrefix: oldOurs.n?.slice(0, 12),
        // Read with the plugin: what Kong sends to the token endpoint.
        scopes: ["api://kong/.default"],
      },
    ]);
    const before = k.getPlugin(id);
    const { plugins: views, wrote } = await t.apply(next);
    expect(wrote).toBe(true);
    expect(views).toEqual([
      {
        pluginId: id,
        clientIndex: 1,
        kid: next.kid,
        x5t: next.x5t,
        alg: "PS256",
        modulusPrefix: next.n.slice(0, 12),
        scopes: ["api://kong/.default"],
      },
    ]);
    const after = k.getPlugin(id);
    const jwks = after?.config.client_jwk as Record<string, unknown>[];
    expect(jwks[0]).toEqual((before?.config.client_jwk as unknown[])[0]);
    expect(jwks[2]).toEqual((before?.config.client_jwk as unknown[])[2]);
    expect(jwks[1]).toMatchObject(next);
    expect({ ...after?.config, client_jwk: null }).toEqual({ ...before?.config, client_jwk: null });
    expect(k.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /plugins/${id}`,
      `GET /`,
      `GET /plugins/${id}`,
      `PATCH /plugins/${id}`,
      `GET /plugins/${id}`,
    ]);
  });

  it("does not write again when the entry already holds the key", async () => {
    const k = await fake();
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    const t = target(k, { pluginId: id });
    await t.apply(next);
    const patches = writes(k).length;
    expect((await t.apply(next)).plugins[0]?.kid).toBe(next.kid);
    expect(writes(k).length).toBe(patches);
  });

  it("in a workspace: uses /{workspace}/plugins/{id}; the default-workspace path does not see it", async () => {
    const k = await fake();
    const { id } = k.addPlugin({ name: "openid-connect", workspace: "team-a", config: threeClients() });
    await target(k, { pluginId: id, workspace: "team-a" }).apply(next);
    expect(kids(k, id)).toEqual(["kid-a", next.kid, "kid-c"]);
    expect(writes(k).map((r) => r.path)).toEqual([`/team-a/plugins/${id}`]);
    const e = await failure(target(k, { pluginId: id }).inspect());
    expect(e.code).toBe("KONG_NOT_FOUND");
    expect(e.status).toBe(404);
  });

  it("by tags (AND) across pages of a workspace, never touching the default workspace", async () => {
    const k = await fake();
    const ids = Array.from(
      { length: 5 },
      () =>
        k.addPlugin({
          name: "openid-connect",
          workspace: "team-a",
          tags: ["rotator", "eu"],
          config: threeClients(),
        }).id,
    );
    const onlyOne = k.addPlugin({
      name: "openid-connect",
      workspace: "team-a",
      tags: ["rotator"],
      config: threeClients(),
    }).id;
    const elsewhere = k.addPlugin({
      name: "openid-connect",
      tags: ["rotator", "eu"],
      config: threeClients(),
    }).id;
    const { plugins: views } = await target(k, {
      pluginTags: ["rotator", "eu"],
      workspace: "team-a",
      pageSize: 2,
    }).apply(next);
    expect(views.map((v) => v.pluginId).sort()).toEqual([...ids].sort());
    for (const id of ids) expect(kids(k, id)).toEqual(["kid-a", next.kid, "kid-c"]);
    expect(kids(k, onlyOne)).toEqual(["kid-a", "kid-old", "kid-c"]);
    expect(kids(k, elsewhere)).toEqual(["kid-a", "kid-old", "kid-c"]);
    const lists = k.requests.filter((r) => r.path.includes("tags="));
    // Three pages; a page retried after a transient failure (a loaded machine) is the same request.
    const pages = [...new Set(lists.map((r) => r.path))];
    expect(pages).toHaveLength(3);
    expect(pages.every((p) => p.startsWith("/team-a/plugins?"))).toBe(true);
    expect(pages[1]).toContain("offset=");
  });

  it("tags that match nothing: KONG_PLUGIN_NOT_FOUND; invalid tags are refused before any call", async () => {
    const k = await fake();
    k.addPlugin({ name: "openid-connect", tags: ["rotator"], config: threeClients() });
    expect((await failure(target(k, { pluginTags: ["rotator", "eu"] }).inspect())).code).toBe(
      "KONG_PLUGIN_NOT_FOUND",
    );
    const requests = k.requests.length;
    expect((await failure(target(k, { pluginTags: ["a,b"] }).inspect())).code).toBe("KONG_TAGS_INVALID");
    expect((await failure(target(k, { pluginTags: ["1", "2", "3", "4", "5", "6"] }).inspect())).code).toBe(
      "KONG_TAGS_INVALID",
    );
    expect(k.requests.length).toBe(requests);
  });

  it("pads a short client_jwk with copies of client_jwk[0] so earlier clients keep their fallback", async () => {
    const k = await fake();
    const { id } = k.addPlugin({
      name: "openid-connect",
      config: {
        issuer: ISSUER,
        client_id: ["client-a", "client-b", CLIENT],
        client_auth: ["private_key_jwt"],
        client_jwk: [otherA],
      },
    });
    const [view] = (await target(k, { pluginId: id }).apply(next)).plugins;
    expect(view?.clientIndex).toBe(2);
    expect(kids(k, id)).toEqual(["kid-a", "kid-a", next.kid]);
    const jwks = k.getPlugin(id)?.config.client_jwk as SeedJwk[];
    expect(jwks[1]?.d).toBe(otherA.d);
  });

  it("sends Kong-Admin-Token; without it Kong answers 401 and the adapter says KONG_UNAUTHORIZED", async () => {
    const k = await fake({ adminToken: ADMIN_TOKEN });
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    expect((await target(k, { pluginId: id, token: ADMIN_TOKEN }).apply(next)).plugins[0]?.kid).toBe(
      next.kid,
    );
    const missing = await failure(target(k, { pluginId: id }).inspect());
    expect(missing).toMatchObject({ code: "KONG_UNAUTHORIZED", status: 401 });
    expect(missing.hint).toContain("RBAC");
    const wrong = await failure(target(k, { pluginId: id, token: "not-the-token" }).apply(newer));
    expect(wrong.code).toBe("KONG_UNAUTHORIZED");
    expectClean(wrong);
  });
});

describe("kong adapter: plugins it must not write", () => {
  it("refuses non-OIDC plugins, missing clients, other client_auth and incompatible client_alg, without writing", async () => {
    const k = await fake();
    const rl = k.addPlugin({ name: "rate-limiting", config: { minute: 5 } }).id;
    const noClient = k.addPlugin({
      name: "openid-connect",
      config: threeClients({ client_id: ["client-a"] }),
    }).id;
    const secret = k.addPlugin({
      name: "openid-connect",
      config: threeClients({ client_auth: ["private_key_jwt", "client_secret_basic"] }),
    }).id;
    const es = k.addPlugin({
      name: "openid-connect",
      config: threeClients({ client_alg: ["RS256", "ES256"] }),
    }).id;
    const cases: [string, string][] = [
      [rl, "KONG_NOT_OIDC"],
      [noClient, "KONG_CLIENT_NOT_FOUND"],
      [secret, "KONG_NOT_PRIVATE_KEY_JWT"],
      [es, "KONG_CLIENT_ALG_INCOMPATIBLE"],
    ];
    for (const [id, code] of cases) {
      const e = await failure(target(k, { pluginId: id }).apply(next));
      expect(e.code).toBe(code);
      expectClean(e);
    }
    expect((await failure(target(k, { pluginId: rl }).apply(next))).message).toBe(
      `Kong plugin ${rl} is not an openid-connect plugin (it is rate-limiting)`,
    );
    expect(writes(k)).toHaveLength(0);
  });

  it("checks every tagged plugin before writing any", async () => {
    const k = await fake();
    const good = k.addPlugin({ name: "openid-connect", tags: ["rotator"], config: threeClients() }).id;
    k.addPlugin({
      name: "openid-connect",
      tags: ["rotator"],
      config: threeClients({ client_id: ["client-a"] }),
    });
    expect((await failure(target(k, { pluginTags: ["rotator"] }).apply(next))).code).toBe(
      "KONG_CLIENT_NOT_FOUND",
    );
    expect(kids(k, good)).toEqual(["kid-a", "kid-old", "kid-c"]);
    expect(writes(k)).toHaveLength(0);
  });

  it("DB-less: inspect refuses before any rotation; a write that still reaches Kong maps its 405 to KONG_DBLESS", async () => {
    const k = await fake({ dbless: true });
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    const t = target(k, { pluginId: id });
    const refused = await failure(t.inspect());
    expect(refused.code).toBe("KONG_DBLESS");
    expect(writes(k)).toHaveLength(0);
    const e = await failure(t.apply(next));
    expect(e).toMatchObject({ code: "KONG_DBLESS", status: 405, retryable: false });
    expect(e.hint).toBe(
      "DB-less Kong: the Admin API is read-only. Configure this target as `dbless: { nodes: [...] }` (POST /config per node) instead of adminUrl.",
    );
    expect(writes(k)).toHaveLength(1);
  });

  it("surfaces Kong's schema violation with its fields", async () => {
    const k = await fake();
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    const e = await failure(target(k, { pluginId: id }).apply({ ...next, alg: "RS1" as "PS256" }));
    expect(e).toMatchObject({ code: "KONG_SCHEMA_VIOLATION", status: 400 });
    expect(e.details?.fields).toEqual({
      config: {
        client_jwk: [
          null,
          {
            alg: "expected one of: ES256, ES384, ES512, EdDSA, HS256, HS384, HS512, PS256, PS384, PS512, RS256, RS384, RS512",
          },
        ],
      },
    });
    expectClean(e);
  });

  it("scrubs values Kong echoes back in schema violation fields", async () => {
    const k = await fake();
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    k.faults.add({
      method: "PATCH",
      times: 1,
      fault: {
        kind: "status",
        status: 400,
        body: {
          code: 2,
          name: "schema violation",
          message: `schema violation (config.client_jwk.2.d: invalid value: ${next.d})`,
          fields: { config: { client_jwk: [null, { d: `invalid value: ${next.d}` }] } },
        },
      },
    });
    const e = await failure(target(k, { pluginId: id }).apply(next));
    expect(e.code).toBe("KONG_SCHEMA_VIOLATION");
    expect(JSON.stringify(e.details)).toContain("invalid value: [REDACTED]");
    expectClean(e);
  });

  it("detects a write that did not stick (read-back mismatch), and converges on the next run", async () => {
    const k = await fake();
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    const t = target(k, { pluginId: id });
    k.dropWrites(1);
    const e = await failure(t.apply(next));
    expect(e).toMatchObject({ code: "KONG_READBACK_MISMATCH", retryable: true });
    expect(e.message).toContain("kid-old");
    expectClean(e);
    expect((await t.apply(next)).plugins[0]?.kid).toBe(next.kid);
  });
});

describe("kong adapter: the vault entity (vault-reference mode)", () => {
  const vault = {
    vaultUri: "https://refs.vault.azure.net",
    tenantId: "tenant",
    clientId: "kong-identity",
    clientSecret: "kong-client-secret",
    authorityHost: "https://127.0.0.1:9",
  };
  const ref = (prefix: string) => ({ vaultReference: { prefix, secretPrefix: "kong-jwk-" } });

  it("reads GET /vaults/{prefix} (also in a workspace path and on a DB-less node); 404 is missing, or the env config for `azure`", async () => {
    const k = await fake({ adminToken: ADMIN_TOKEN });
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    k.addVault({ prefix: "azure-kv", ...vault });
    const found = await target(k, { pluginId: id, token: ADMIN_TOKEN, ...ref("azure-kv") }).diagnose();
    expect(found.vaults).toEqual([
      {
        prefix: "azure-kv",
        state: "found",
        backend: "azure",
        vaultUri: vault.vaultUri,
        tenantId: "tenant",
        clientId: "kong-identity",
      },
    ]);
    expect(JSON.stringify(found)).not.toContain(vault.clientSecret);
    const missing = await target(k, { pluginId: id, token: ADMIN_TOKEN, ...ref("other-kv") }).diagnose();
    expect(missing.vaults).toEqual([{ prefix: "other-kv", state: "missing" }]);
    const env = await target(k, { pluginId: id, token: ADMIN_TOKEN, ...ref("azure") }).diagnose();
    expect(env.vaults).toEqual([{ prefix: "azure", state: "env" }]);
    expect((await target(k, { pluginId: id, token: ADMIN_TOKEN }).diagnose()).vaults).toBeUndefined();
    expect(k.requests.filter((r) => r.path.startsWith("/vaults/")).map((r) => r.status)).toEqual([
      200, 404, 404,
    ]);
    k.setDbless(true);
    expect(
      (await target(k, { pluginId: id, token: ADMIN_TOKEN, ...ref("azure-kv") }).diagnose()).vaults,
    ).toEqual(found.vaults);
  });

  it("an unreadable vault entity is a diagnosis, not a failed diagnose", async () => {
    const k = await fake();
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    k.faults.add({
      method: "GET",
      path: /^\/vaults\//,
      times: 1,
      fault: { kind: "status", status: 403, body: { message: "forbidden" } },
    });
    const d = await target(k, { pluginId: id, ...ref("azure-kv") }).diagnose();
    expect(d.vaults).toEqual([
      { prefix: "azure-kv", state: "error", error: expect.stringMatching(/^KONG_UNAUTHORIZED/) as unknown },
    ]);
  });
});

describe("kong adapter: retries", () => {
  it("honours Retry-After on 429", async () => {
    const k = await fake();
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    k.faults.add({
      method: "GET",
      times: 2,
      fault: { kind: "status", status: 429, retryAfter: "2", body: { message: "API rate limit exceeded" } },
    });
    const clock = recordingClock();
    expect((await target(k, { pluginId: id, clock }).apply(next)).plugins[0]?.kid).toBe(next.kid);
    expect(clock.slept).toEqual([2000, 2000]);
  });

  it("retries 5xx, connection resets and hung requests, then succeeds", async () => {
    const k = await fake();
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    k.faults.add({ method: "PATCH", times: 2, fault: { kind: "status", status: 502 } });
    k.faults.add({ method: "GET", times: 1, fault: { kind: "reset" } });
    const clock = recordingClock();
    expect((await target(k, { pluginId: id, clock }).apply(next)).plugins[0]?.kid).toBe(next.kid);
    expect(clock.slept).toHaveLength(3);
    expect(clock.slept.every((ms) => ms <= retry.maxDelayMs)).toBe(true);
    k.faults.add({ method: "PATCH", times: 1, fault: { kind: "hang" } });
    // The hung PATCH is abandoned after the attempt timeout; a request that is merely slow under load and
    // times out too is retried the same way, so the result does not depend on the machine's speed.
    const hangs = target(k, { pluginId: id, attemptTimeoutMs: 1500 });
    expect((await hangs.apply(newer)).plugins[0]?.kid).toBe(newer.kid);
    expect(k.requests.filter((r) => r.fault === "hang")).toHaveLength(1);
  });

  it("gives up after maxAttempts with a retryable KONG_UNAVAILABLE / KONG_THROTTLED", async () => {
    const k = await fake();
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    k.faults.add({ method: "GET", times: Infinity, fault: { kind: "status", status: 503 } });
    const down = await failure(target(k, { pluginId: id }).inspect());
    expect(down).toMatchObject({ code: "KONG_UNAVAILABLE", status: 503, retryable: true });
    expect(k.requests).toHaveLength(retry.maxAttempts);
    k.faults.clear();
    k.faults.add({ method: "GET", times: 1, fault: { kind: "status", status: 429, retryAfter: "3600" } });
    expect(await failure(target(k, { pluginId: id }).inspect())).toMatchObject({
      code: "KONG_THROTTLED",
      retryable: true,
    });
  });

  it("does not retry other 4xx", async () => {
    const k = await fake();
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    k.faults.add({
      method: "GET",
      times: 1,
      fault: { kind: "status", status: 403, body: { message: "Forbidden" } },
    });
    expect(await failure(target(k, { pluginId: id }).inspect())).toMatchObject({
      code: "KONG_UNAUTHORIZED",
      status: 403,
    });
    expect(k.requests).toHaveLength(1);
  });

  it("a garbage body is KONG_BAD_RESPONSE, not retried", async () => {
    const k = await fake();
    const { id } = k.addPlugin({ name: "openid-connect", config: threeClients() });
    k.faults.add({ method: "GET", times: 1, fault: { kind: "garbage" } });
    const e = await failure(target(k, { pluginId: id }).inspect());
    expect(e.code).toBe("KONG_BAD_RESPONSE");
    expect(k.requests).toHaveLength(1);
  });
});
