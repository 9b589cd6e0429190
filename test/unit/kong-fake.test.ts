/**
 * The Kong fake itself, over HTTPS: the Admin API behaviours the adapter relies on (merge semantics,
 * pagination, errors, RBAC, DB-less), checked against the shapes Kong documents.
 */
import { resolve } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { request } from "undici";
import { ensureCa, issueServerTls, type ServerTls } from "../../stack/common/tls.js";
import { startKongFake, type KongFake } from "../../stack/kong/fake.js";
import { generateRsaJwk, type SeedJwk } from "../../stack/kong/seed.js";

let tls: ServerTls;
let kong: KongFake;
let jwkA: SeedJwk;
let jwkB: SeedJwk;

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await request(`${kong.url}${path}`, {
    method: method as "GET",
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? (JSON.parse(text) as Record<string, any>) : undefined }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const oidc = (over: Record<string, unknown> = {}) => ({
  issuer: "https://login.example.test/tenant/v2.0",
  client_id: ["client-a", "client-b"],
  client_auth: ["private_key_jwt", "private_key_jwt"],
  client_jwk: [jwkA, jwkB],
  ...over,
});

beforeAll(async () => {
  tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  jwkA = generateRsaJwk({ kid: "kid-a" });
  jwkB = generateRsaJwk({ kid: "kid-b", alg: "RS256" });
});

beforeEach(async () => {
  await kong?.close();
  kong = await startKongFake({ tls });
});

afterAll(async () => {
  await kong?.close();
});

describe("kong fake: entities", () => {
  it("GET / reports version and database; DB-less reports database off", async () => {
    const info = await call("GET", "/");
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({
      version: "3.10.0.0",
      edition: "enterprise",
      configuration: { database: "postgres" },
    });
    kong.setDbless(true);
    expect((await call("GET", "/")).body?.configuration.database).toBe("off");
  });

  it("returns every config field (defaults or null) and JWK members unset as null", async () => {
    const { id } = kong.addPlugin({ name: "openid-connect", config: oidc() });
    const got = await call("GET", `/plugins/${id}`);
    expect(got.status).toBe(200);
    expect(got.body?.config.cache_ttl).toBe(3600);
    expect(got.body?.config.client_alg).toBeNull();
    expect(got.body?.config.client_jwk[0]).toMatchObject({
      kid: "kid-a",
      n: jwkA.n,
      x5c: null,
      "x5t#S256": null,
    });
    expect(got.body).toMatchObject({ id, name: "openid-connect", enabled: true, tags: null, route: null });
  });

  it("scopes /plugins/{id} to the default workspace and /{ws}/plugins/{id} to that workspace", async () => {
    const { id } = kong.addPlugin({ name: "openid-connect", workspace: "team-a", config: oidc() });
    expect(kong.workspaces).toEqual(["default", "team-a"]);
    expect((await call("GET", `/plugins/${id}`)).body).toEqual({ message: "Not found" });
    expect((await call("GET", `/team-a/plugins/${id}`)).status).toBe(200);
    expect((await call("GET", `/nope/plugins/${id}`)).status).toBe(404);
    const ws = await call("GET", "/workspaces");
    expect(ws.body?.data.map((w: { name: string }) => w.name)).toEqual(["default", "team-a"]);
  });

  it("PATCH merges config records, keeps omitted fields and replaces arrays wholesale", async () => {
    const { id } = kong.addPlugin({
      name: "openid-connect",
      tags: ["t1"],
      config: { ...oidc(), scopes: ["openid", "profile"], redis: { host: "r1", port: 6380 } },
    });
    const res = await call("PATCH", `/plugins/${id}`, {
      config: { client_jwk: [jwkB], redis: { host: "r2" } },
    });
    expect(res.status).toBe(200);
    const c = kong.getPlugin(id)?.config ?? {};
    expect((c.client_jwk as SeedJwk[]).map((j) => j.kid)).toEqual(["kid-b"]);
    expect(c.client_id).toEqual(["client-a", "client-b"]);
    expect(c.scopes).toEqual(["openid", "profile"]);
    expect(c.redis).toEqual({ host: "r2", port: 6380 });
    expect(kong.getPlugin(id)?.tags).toEqual(["t1"]);
  });

  it("PUT replaces the entity without merging and fills defaults again", async () => {
    const { id } = kong.addPlugin({
      name: "openid-connect",
      tags: ["t1"],
      config: { ...oidc(), scopes: ["openid", "profile"] },
    });
    const res = await call("PUT", `/plugins/${id}`, {
      name: "openid-connect",
      config: { issuer: "https://other.example.test", client_id: ["x"] },
    });
    expect(res.status).toBe(200);
    const p = kong.getPlugin(id);
    expect(p?.config.scopes).toEqual(["openid"]);
    expect(p?.config.client_jwk).toBeNull();
    expect(p?.tags).toBeNull();
  });

  it("rejects invalid openid-connect configs with Kong's schema violation body", async () => {
    const { id } = kong.addPlugin({ name: "openid-connect", config: oidc() });
    const noKty = Object.fromEntries(Object.entries(jwkB).filter(([k]) => k !== "kty"));
    const one = await call("PATCH", `/plugins/${id}`, { config: { client_jwk: [jwkA, noKty] } });
    expect(one.status).toBe(400);
    expect(one.body).toEqual({
      code: 2,
      name: "schema violation",
      message:
        'schema violation (config.client_jwk: {\n  [2] = {\n    kty = "required field missing"\n  }\n})',
      fields: { config: { client_jwk: [null, { kty: "required field missing" }] } },
    });
    const many = await call("PATCH", `/plugins/${id}`, {
      config: {
        bogus: 1,
        client_auth: ["private_key_jwt", "magic"],
        client_jwk: [
          { ...jwkA, alg: "RS1", extra: "x" },
          { kty: "RSA", n: jwkB.n },
        ],
      },
    });
    expect(many.status).toBe(400);
    expect(many.body?.message).toMatch(
      /^3 schema violations \(config\.bogus: unknown field; config\.client_auth: /,
    );
    expect(many.body?.fields.config).toEqual({
      bogus: "unknown field",
      client_auth: [
        null,
        "expected one of: client_secret_basic, client_secret_jwt, client_secret_post, none, private_key_jwt, self_signed_tls_client_auth, tls_client_auth",
      ],
      client_jwk: [
        {
          alg: "expected one of: ES256, ES384, ES512, EdDSA, HS256, HS384, HS512, PS256, PS384, PS512, RS256, RS384, RS512",
          extra: "unknown field",
        },
        { e: "required field missing" },
      ],
    });
    expect((await call("PATCH", `/plugins/${id}`, { config: { issuer: null } })).body?.fields).toEqual({
      config: { issuer: "required field missing" },
    });
    expect((await call("PATCH", `/plugins/${id}`, "{not json")).body).toEqual({
      message: "Cannot parse JSON body",
    });
    expect((await call("DELETE", `/plugins/${id}`)).status).toBe(405);
    expect(
      (await call("PATCH", `/plugins/00000000-0000-4000-8000-000000000000`, { enabled: false })).body,
    ).toEqual({ message: "Not found" });
  });

  it("uses the schema of the configured Kong version", async () => {
    await kong.close();
    kong = await startKongFake({ tls, version: "3.4.3.12" });
    const { id } = kong.addPlugin({ name: "openid-connect", config: oidc() });
    const res = await call("PATCH", `/plugins/${id}`, { config: { client_auth: ["tls_client_auth"] } });
    expect(res.status).toBe(400);
    expect((await call("PATCH", `/plugins/${id}`, { config: { session_redis_host: "r" } })).status).toBe(200);
  });
});

describe("kong fake: RBAC and DB-less", () => {
  it("answers 401 Invalid RBAC credentials without the right Kong-Admin-Token", async () => {
    await kong.close();
    kong = await startKongFake({ tls, adminToken: "s3cret-admin-token" });
    const { id } = kong.addPlugin({ name: "openid-connect", config: oidc() });
    expect(await call("GET", `/plugins/${id}`)).toEqual({
      status: 401,
      body: { message: "Invalid RBAC credentials" },
    });
    expect((await call("GET", `/plugins/${id}`, undefined, { "Kong-Admin-Token": "wrong" })).status).toBe(
      401,
    );
    expect(
      (await call("GET", `/plugins/${id}`, undefined, { "Kong-Admin-Token": "s3cret-admin-token" })).status,
    ).toBe(200);
  });

  it("DB-less: 404 first, then schema validation, then 405 operation unsupported", async () => {
    const { id } = kong.addPlugin({ name: "openid-connect", config: oidc() });
    kong.setDbless(true);
    expect(
      (await call("PATCH", "/plugins/00000000-0000-4000-8000-000000000000", { enabled: false })).status,
    ).toBe(404);
    expect((await call("PATCH", `/plugins/${id}`, { config: { nope: true } })).status).toBe(400);
    expect(await call("PATCH", `/plugins/${id}`, { enabled: false })).toEqual({
      status: 405,
      body: {
        code: 12,
        name: "operation unsupported",
        message: "cannot update 'plugins' entities when not using a database",
      },
    });
    expect(
      (await call("PUT", `/plugins/${id}`, { name: "openid-connect", config: oidc() })).body?.message,
    ).toBe("cannot create or update 'plugins' entities when not using a database");
    expect(kong.getPlugin(id)?.enabled).toBe(true);
  });

  it("dropWrites answers 200 but loses the write", async () => {
    const { id } = kong.addPlugin({ name: "openid-connect", config: oidc() });
    kong.dropWrites(1);
    expect((await call("PATCH", `/plugins/${id}`, { enabled: false })).body?.enabled).toBe(false);
    expect(kong.getPlugin(id)?.enabled).toBe(true);
    await call("PATCH", `/plugins/${id}`, { enabled: false });
    expect(kong.getPlugin(id)?.enabled).toBe(false);
  });
});

describe("kong fake: listing", () => {
  const seed = () => {
    for (let i = 0; i < 5; i++)
      kong.addPlugin({
        name: "openid-connect",
        workspace: "team-a",
        tags: ["rotator", i % 2 ? "odd" : "even"],
        config: oidc(),
      });
    kong.addPlugin({ name: "rate-limiting", workspace: "team-a", tags: ["other"], config: { minute: 5 } });
  };

  it("pages with size/offset and builds next like Kong (no workspace prefix, tags and size kept)", async () => {
    seed();
    const first = await call("GET", "/team-a/plugins?tags=rotator&size=2");
    expect(first.body?.data).toHaveLength(2);
    expect(typeof first.body?.offset).toBe("string");
    expect(first.body?.next).toBe(
      `/plugins?offset=${encodeURIComponent(first.body?.offset)}&tags=rotator&size=2`,
    );
    const ids: string[] = first.body?.data.map((p: { id: string }) => p.id);
    let offset: string | undefined = first.body?.offset;
    while (offset) {
      const page = await call(
        "GET",
        `/team-a/plugins?tags=rotator&size=2&offset=${encodeURIComponent(offset)}`,
      );
      ids.push(...(page.body?.data ?? []).map((p: { id: string }) => p.id));
      offset = page.body?.offset;
      if (!offset) expect(page.body?.next).toBeNull();
    }
    expect(new Set(ids).size).toBe(5);
    expect((await call("GET", "/plugins")).body).toEqual({ data: [], next: null });
  });

  it("filters tags with ',' as AND and '/' as OR, and rejects bad queries like Kong", async () => {
    seed();
    expect((await call("GET", "/team-a/plugins?tags=rotator,odd")).body?.data).toHaveLength(2);
    expect((await call("GET", "/team-a/plugins?tags=odd/other")).body?.data).toHaveLength(3);
    expect((await call("GET", "/team-a/plugins?tags=a,b,c,d,e,f")).body).toMatchObject({
      code: 11,
      message: "invalid option (tags: cannot query more than 5 tags)",
    });
    expect((await call("GET", "/team-a/plugins?tags=a,b/c")).status).toBe(400);
    expect((await call("GET", "/team-a/plugins?size=0")).body).toMatchObject({
      code: 9,
      name: "invalid size",
    });
    expect((await call("GET", "/team-a/plugins?size=abc")).body?.message).toBe("size must be a number");
    expect((await call("GET", "/team-a/plugins?offset=x")).body).toMatchObject({
      code: 7,
      name: "invalid offset",
    });
  });
});
