/**
 * Contract: the Admin API adapter's hybrid confirmation and the DB-less adapter, over HTTPS against the
 * Kong fake in hybrid (control plane + data planes) and DB-less modes.
 */
import { resolve } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Clock } from "../../src/ports/engine.js";
import type { KongPrivateJwk } from "../../src/crypto/keymaterial.js";
import { createKongTarget } from "../../src/adapters/kong/admin/target.js";
import { createDblessTarget } from "../../src/adapters/kong/dbless/target.js";
import { ensureCa, issueServerTls, type ServerTls } from "../../stack/common/tls.js";
import { startKongFake, type KongFake, type KongFakeOptions } from "../../stack/kong/fake.js";
import { generateRsaJwk, type SeedJwk } from "../../stack/kong/seed.js";
import { failure, kongJwk, partnerAndUs } from "../support/kong-jwk.js";

const CLIENT = "11111111-2222-4333-8444-555555555555";
const PLUGIN = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
const ISSUER = "https://login.microsoftonline.com/tenant/v2.0";

let tls: ServerTls;
let partner: SeedJwk;
let next: KongPrivateJwk;
const fakes: KongFake[] = [];

const clock: Clock = { now: () => new Date(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** Our plugin as seeded (and as the operator's own pipeline would post it, with the old entry). */
const seed = (k: KongFake) =>
  k.addPlugin({
    id: PLUGIN,
    name: "openid-connect",
    tags: ["rotator"],
    config: partnerAndUs(ISSUER, CLIENT, partner),
  });

async function fake(opts: Partial<KongFakeOptions> = {}): Promise<KongFake> {
  const k = await startKongFake({ tls, ...opts });
  fakes.push(k);
  seed(k);
  return k;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An error names kids and ids only: no private member of the key written or read back. */
const expectNoKey = (e: Error) => {
  const text = JSON.stringify({ ...e, message: e.message });
  for (const m of ["d", "p", "q", "dp", "dq", "qi"] as const) expect(text).not.toContain(next[m]);
};

beforeAll(async () => {
  tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  partner = generateRsaJwk({ kid: "partner-key" });
  next = kongJwk();
});

afterEach(async () => {
  for (const k of fakes.splice(0)) await k.close();
});

describe("hybrid control plane", () => {
  it("confirms only when every live data plane moved to one new hash; ignores a stale row", async () => {
    const k = await fake({
      dataPlanes: [
        { hostname: "dp-fast" },
        // Behind until released below, not for a time that a loaded machine could outlast.
        { hostname: "dp-slow", neverSync: true },
        { hostname: "dp-gone", disconnected: true },
      ],
    });
    const t = createKongTarget({
      target: { name: "cp", adminUrl: k.url, pluginId: PLUGIN },
      clientId: CLIENT,
      idp: "entra",
      clock,
    });
    expect(t.maxLagMs).toBe(120_000);
    const baseline = await t.baseline();
    expect(baseline).toMatch(/^[0-9a-f]{12}$/);
    const since = { appliedAt: new Date(), ...(baseline ? { baseline } : {}) };
    const receipt = await t.apply(next);
    expect(receipt).toMatchObject({ wrote: true, plugins: [{ kid: next.kid }] });
    // The control plane holds it at once; the slow data plane does not yet.
    await wait(100);
    const pending = await t.confirm({ kid: next.kid }, since);
    expect(pending).toMatchObject({ state: "pending", lagging: ["dp-slow"] });
    expect(k.dataPlaneKids(PLUGIN, CLIENT)).toMatchObject({ "dp-fast": next.kid, "dp-gone": undefined });
    expect((await k.probe(PLUGIN, CLIENT)).ok).toBe(false);
    // It catches up: the control plane pushes the latest config to it.
    k.setDataPlane("dp-slow", { neverSync: false });
    expect(await t.confirm({ kid: next.kid }, since)).toMatchObject({ state: "confirmed" });
    const d = await t.diagnose();
    expect(d.gateways?.map((g) => [g.name, g.live])).toEqual([
      ["dp-fast", true],
      ["dp-slow", true],
      ["dp-gone", false],
    ]);
  });

  it("a data plane that never syncs stays pending; without a baseline agreement is required", async () => {
    const k = await fake({ dataPlanes: [{ hostname: "dp-1" }, { hostname: "dp-stuck", neverSync: true }] });
    const t = createKongTarget({
      target: {
        name: "cp",
        adminUrl: k.url,
        pluginId: PLUGIN,
        dataPlanes: { confirm: "always", maxLagMs: 5_000 },
      },
      clientId: CLIENT,
      idp: "entra",
      clock,
    });
    const baseline = await t.baseline();
    await t.apply(next);
    await wait(50);
    const c = await t.confirm(
      { kid: next.kid },
      { appliedAt: new Date(), ...(baseline ? { baseline } : {}) },
    );
    expect(c).toMatchObject({ state: "pending", lagging: ["dp-stuck"] });
    expect(await t.confirm({ kid: next.kid }, { appliedAt: new Date() })).toMatchObject({
      state: "pending",
      lagging: ["dp-stuck"],
    });
    k.setDataPlane("dp-stuck", { neverSync: false });
    expect(await t.confirm({ kid: next.kid }, { appliedAt: new Date() })).toMatchObject({
      state: "confirmed",
    });
  });

  it("auto detects a traditional node (no data planes): read-back confirms; never skips the data planes", async () => {
    const k = await fake();
    const t = createKongTarget({
      target: { name: "n", adminUrl: k.url, pluginId: PLUGIN },
      clientId: CLIENT,
      idp: "entra",
      clock,
    });
    expect(await t.baseline()).toBeUndefined();
    await t.apply(next);
    expect(await t.confirm({ kid: next.kid }, { appliedAt: new Date() })).toMatchObject({
      state: "confirmed",
    });
    const hybrid = await fake({ dataPlanes: [{ hostname: "dp", neverSync: true }] });
    const never = createKongTarget({
      target: {
        name: "cp",
        adminUrl: hybrid.url,
        pluginId: PLUGIN,
        dataPlanes: { confirm: "never", maxLagMs: 1 },
      },
      clientId: CLIENT,
      idp: "entra",
      clock,
    });
    expect(never.maxLagMs).toBe(0);
    await never.apply(next);
    expect(await never.confirm({ kid: next.kid }, { appliedAt: new Date() })).toMatchObject({
      state: "confirmed",
    });
  });

  it("GET /clustering/data-planes answers 400 on a node that is not a control plane", async () => {
    const k = await fake();
    const t = createKongTarget({
      target: {
        name: "n",
        adminUrl: k.url,
        pluginId: PLUGIN,
        dataPlanes: { confirm: "always", maxLagMs: 1000 },
      },
      clientId: CLIENT,
      idp: "entra",
      clock,
    });
    await expect(t.baseline()).rejects.toMatchObject({ code: "KONG_REQUEST_FAILED", status: 400 });
  });
});

describe("DB-less nodes", () => {
  it("reads each node's /config, replaces only our entry, POSTs it and confirms each node's hash", async () => {
    const [a, b] = [await fake({ dbless: true }), await fake({ dbless: true })];
    const t = createDblessTarget({
      target: {
        name: "edge",
        dbless: { nodes: [a!.url, b!.url], maxLagMs: 10_000 },
        pluginTags: ["rotator"],
      },
      clientId: CLIENT,
      idp: "entra",
      clock,
    });
    const before = await t.inspect();
    expect(before.map((v) => v.kid)).toEqual(["partner-key", "partner-key"]);
    const baseline = await t.baseline();
    const receipt = await t.apply(next);
    expect(receipt.wrote).toBe(true);
    expect(receipt.plugins.map((v) => v.kid)).toEqual([next.kid, next.kid]);
    for (const k of [a!, b!]) {
      const cfg = k.getPlugin(PLUGIN)!.config;
      expect((cfg.client_jwk as SeedJwk[]).map((j) => j.kid)).toEqual(["partner-key", next.kid]);
      expect(k.requests.filter((r) => r.method === "POST").map((r) => r.path)).toEqual(["/config"]);
      expect(k.requests.some((r) => r.method === "PATCH")).toBe(false);
    }
    expect(
      await t.confirm({ kid: next.kid }, { appliedAt: new Date(), ...(baseline ? { baseline } : {}) }),
    ).toMatchObject({ state: "confirmed" });
    // Idempotent: a second apply writes nothing.
    expect((await t.apply(next)).wrote).toBe(false);
  });

  it("a node whose pipeline reverted the config is named as lagging", async () => {
    const [a, b] = [await fake({ dbless: true }), await fake({ dbless: true })];
    const t = createDblessTarget({
      target: { name: "edge", dbless: { nodes: [a!.url, b!.url], maxLagMs: 10_000 }, pluginId: PLUGIN },
      clientId: CLIENT,
      idp: "entra",
      clock,
    });
    const baseline = await t.baseline();
    await t.apply(next);
    // The operator's pipeline posts its own file (with the old entry) to node b.
    const host = new URL(b!.url).host;
    seed(b!);
    expect(
      await t.confirm({ kid: next.kid }, { appliedAt: new Date(), ...(baseline ? { baseline } : {}) }),
    ).toMatchObject({ state: "pending", lagging: [host] });
  });

  it("a node that accepts the POST but keeps serving another key fails the read-back, naming it", async () => {
    const [a, b] = [await fake({ dbless: true }), await fake({ dbless: true })];
    const t = createDblessTarget({
      target: { name: "edge", dbless: { nodes: [a!.url, b!.url], maxLagMs: 10_000 }, pluginId: PLUGIN },
      clientId: CLIENT,
      idp: "entra",
      clock,
    });
    // Node b answers 201 to POST /config but keeps its configuration: our slot stays empty there.
    b!.dropWrites(1);
    const lost = await failure(t.apply(next));
    expect(lost).toMatchObject({ code: "KONG_READBACK_MISMATCH", retryable: true });
    expect(lost.details).toMatchObject({ node: new URL(b!.url).host, pluginId: PLUGIN, clientIndex: 1 });
    expectNoKey(lost);
    // The next run re-applies: node a already holds the key, node b takes it now.
    expect((await t.apply(next)).plugins.map((v) => v.kid)).toEqual([next.kid, next.kid]);

    // Same kid, another key: a node serving an impostor under our kid is caught on its modulus, not passed on its kid.
    const c = await fake({ dbless: true });
    const impostor = kongJwk(next.kid);
    c.addPlugin({
      id: PLUGIN,
      name: "openid-connect",
      tags: ["rotator"],
      config: { ...partnerAndUs(ISSUER, CLIENT, partner), client_jwk: [partner, { ...impostor }] },
    });
    c.dropWrites(1);
    const single = createDblessTarget({
      target: { name: "edge", dbless: { nodes: [c.url], maxLagMs: 10_000 }, pluginId: PLUGIN },
      clientId: CLIENT,
      idp: "entra",
      clock,
    });
    const swapped = await failure(single.apply(next));
    expect(swapped).toMatchObject({ code: "KONG_READBACK_MISMATCH" });
    expect(swapped.details?.mismatched).toEqual(["n"]);
    expectNoKey(swapped);
  });

  it("the DB-less fake refuses entity writes (405) and /config on a node with a database (400)", async () => {
    const d = await fake({ dbless: true });
    const db = await fake();
    const admin = createKongTarget({
      target: { name: "x", adminUrl: d.url, pluginId: PLUGIN },
      clientId: CLIENT,
      idp: "entra",
      clock,
    });
    await expect(admin.inspect()).rejects.toMatchObject({ code: "KONG_DBLESS" });
    const wrong = createDblessTarget({
      target: { name: "y", dbless: { nodes: [db.url], maxLagMs: 1000 }, pluginId: PLUGIN },
      clientId: CLIENT,
      idp: "entra",
      clock,
    });
    await expect(wrong.inspect()).rejects.toMatchObject({ status: 400 });
  });
});
