/**
 * Contract: the Konnect adapter (undici, as in production) against the Konnect fake over HTTPS: GET + PUT of
 * the whole plugin (no PATCH), bearer token, confirmation through the nodes' hashes against the expected
 * hash with lagging and disconnected nodes, 429 + Retry-After.
 */
import { resolve } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Clock } from "../../src/ports/engine.js";
import type { KongPrivateJwk } from "../../src/crypto/keymaterial.js";
import { createKonnectTarget, konnectBaseUrl } from "../../src/adapters/kong/konnect/target.js";
import { ensureCa, issueServerTls, type ServerTls } from "../../stack/common/tls.js";
import { startKonnectFake, type KonnectFake, type KonnectFakeOptions } from "../../stack/konnect/fake.js";
import { generateRsaJwk, type SeedJwk } from "../../stack/kong/seed.js";
import { kongJwk, partnerAndUs } from "../support/kong-jwk.js";

const CLIENT = "11111111-2222-4333-8444-555555555555";
const TOKEN = "spat_konnect-token-for-tests";
const ISSUER = "https://login.microsoftonline.com/tenant/v2.0";

let tls: ServerTls;
let partner: SeedJwk;
let next: KongPrivateJwk;
let konnect: KonnectFake | undefined;

const slept: number[] = [];
const clock: Clock = {
  now: () => new Date(),
  sleep: (ms) => {
    slept.push(ms);
    return new Promise((r) => setTimeout(r, Math.min(ms, 20)));
  },
};

async function fake(opts: Partial<KonnectFakeOptions> = {}): Promise<{ k: KonnectFake; id: string }> {
  konnect = await startKonnectFake({ tls, token: TOKEN, ...opts });
  const { id } = konnect.addPlugin({
    name: "openid-connect",
    tags: ["rotator:orders"],
    config: partnerAndUs(ISSUER, CLIENT, partner),
  });
  return { k: konnect, id };
}

const target = (k: KonnectFake, over: { token?: string; pluginId?: string; vaultPrefix?: string } = {}) =>
  createKonnectTarget({
    target: {
      name: "konnect-eu",
      konnect: {
        region: "eu",
        controlPlaneId: k.controlPlaneId,
        token: { env: "KONNECT_TOKEN" },
        baseUrl: k.url,
        maxLagMs: 60_000,
      },
      ...(over.pluginId ? { pluginId: over.pluginId } : { pluginTags: ["rotator:orders"] }),
      ...(over.vaultPrefix
        ? { vaultReference: { prefix: over.vaultPrefix, secretPrefix: "kong-jwk-" } }
        : {}),
    },
    clientId: CLIENT,
    idp: "entra",
    token: over.token ?? TOKEN,
    clock,
  });

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  partner = generateRsaJwk({ kid: "partner-key" });
  next = kongJwk();
});

afterEach(async () => {
  await konnect?.close();
  konnect = undefined;
});

describe("konnect adapter", () => {
  it("base URL per region, or the override", () => {
    const k = { region: "au", controlPlaneId: "x", token: { env: "T" }, maxLagMs: 1 };
    expect(konnectBaseUrl(k)).toBe("https://au.api.konghq.com/v2");
    expect(konnectBaseUrl({ ...k, baseUrl: "https://127.0.0.1:9" })).toBe("https://127.0.0.1:9/v2");
  });

  it("GET + PUT of the whole plugin, only our entry changed; confirmed once live nodes reach the expected hash", async () => {
    const { k, id } = await fake({
      nodes: [
        { hostname: "dp-a" },
        // Behind until released below, not for a time that a loaded machine could outlast.
        { hostname: "dp-b", neverSync: true },
        { hostname: "dp-old", disconnected: true },
      ],
    });
    const t = target(k);
    const before = structuredClone(k.getPlugin(id)!);
    const baseline = await t.baseline();
    const receipt = await t.apply(next);
    expect(receipt).toMatchObject({ wrote: true, plugins: [{ pluginId: id, kid: next.kid }] });
    expect(k.requests.filter((r) => r.method !== "GET").map((r) => r.method)).toEqual(["PUT"]);
    const after = k.getPlugin(id)!;
    expect((after.config as { client_jwk: SeedJwk[] }).client_jwk.map((j) => j.kid)).toEqual([
      "partner-key",
      next.kid,
    ]);
    expect({ ...after, config: undefined, updated_at: 0 }).toEqual({
      ...before,
      config: undefined,
      updated_at: 0,
    });
    const since = { appliedAt: new Date(), ...(baseline ? { baseline } : {}) };
    await wait(50);
    expect(await t.confirm({ kid: next.kid }, since)).toMatchObject({ state: "pending", lagging: ["dp-b"] });
    expect((await k.probe(id, CLIENT)).ok).toBe(false);
    // It catches up: Konnect pushes the latest config to it.
    k.setNode("dp-b", { neverSync: false });
    expect(await t.confirm({ kid: next.kid }, since)).toMatchObject({ state: "confirmed" });
    expect(k.nodeKids(id, CLIENT)).toEqual({ "dp-a": next.kid, "dp-b": next.kid, "dp-old": undefined });
    expect(k.rejected).toEqual([]);
    const d = await t.diagnose();
    expect(d.gateways?.map((g) => [g.name, g.live, g.inSync])).toEqual([
      ["dp-a", true, true],
      ["dp-b", true, true],
      ["dp-old", false, false],
    ]);
    expect((await t.apply(next)).wrote).toBe(false);
  });

  it("retries 429 honouring Retry-After", async () => {
    const { k, id } = await fake({ nodes: [{ hostname: "dp-a" }] });
    k.faults.add({ method: "PUT", times: 1, fault: { kind: "status", status: 429, retryAfter: "2" } });
    slept.length = 0;
    expect((await target(k, { pluginId: id }).apply(next)).wrote).toBe(true);
    expect(slept).toContain(2000);
  });

  it("a bad token is KONG_UNAUTHORIZED with a Konnect hint, without the token", async () => {
    const { k } = await fake();
    const e = await target(k, { token: "spat_wrong" })
      .inspect()
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "KONG_UNAUTHORIZED", status: 401 });
    expect(JSON.stringify(e)).not.toContain("spat_wrong");
    expect((e as Error).message + String((e as { hint?: string }).hint)).toMatch(/Konnect/);
  });

  it("diagnose reads the vault entity by prefix (get-vault), and reports a missing one", async () => {
    const { k } = await fake();
    k.addVault({
      name: "azure",
      prefix: "azure-kv",
      config: { vault_uri: "https://refs.vault.azure.net/", tenant_id: "t", client_id: "c", ttl: 0 },
    });
    expect((await target(k, { vaultPrefix: "azure-kv" }).diagnose()).vaults).toEqual([
      {
        prefix: "azure-kv",
        state: "found",
        backend: "azure",
        vaultUri: "https://refs.vault.azure.net/",
        tenantId: "t",
        clientId: "c",
        ttl: 0,
      },
    ]);
    expect((await target(k, { vaultPrefix: "other-kv" }).diagnose()).vaults).toEqual([
      { prefix: "other-kv", state: "missing" },
    ]);
    expect((await target(k).diagnose()).vaults).toBeUndefined();
    expect(k.rejected).toEqual([]);
  });
});
