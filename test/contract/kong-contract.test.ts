/**
 * Runs the Kong contract (./kong-contract.ts) for every kind in the registry: each rig starts the kind's fake
 * over HTTPS (stack/kong, stack/konnect, stack/kubernetes), seeds our plugin next to another client's entry,
 * and builds the target with the registry's createTargetOfKind from a configuration block.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { createTargetOfKind, KONG_KINDS, type KongKind } from "../../src/adapters/kong/registry.js";
import type { KongTargetSpec } from "../../src/config/load.js";
import type { KongPrivateJwk } from "../../src/crypto/keymaterial.js";
import type { Clock } from "../../src/ports/engine.js";
import { ensureCa, issueServerTls, type ServerTls } from "../../stack/common/tls.js";
import { startKongFake, type KongFake, type KongFakeOptions } from "../../stack/kong/fake.js";
import { generateRsaJwk, type SeedJwk } from "../../stack/kong/seed.js";
import { startKonnectFake } from "../../stack/konnect/fake.js";
import { startKubernetesFake, type Identity } from "../../stack/kubernetes/fake.js";
import { kongJwk, partnerAndUs } from "../support/kong-jwk.js";
import { writeKubeconfig } from "../support/kubeconfig.js";
import { kongContract, type KongKindHarness, type KongRig } from "./kong-contract.js";

const CLIENT = "11111111-2222-4333-8444-555555555555";
const PLUGIN = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
const ISSUER = "https://login.microsoftonline.com/tenant/v2.0";
const KONNECT_TOKEN = "spat_contract-token-0123456789";
const K8S_TOKEN = "k8s-token-contract-0123456789";
const NS = "kong";
const SECRET = "orders-oidc-jwk";
const KEY = "client_jwk";

let tls: ServerTls;
let partner: SeedJwk;
let keys: { next: KongPrivateJwk; newer: KongPrivateJwk };
let dir: string;

/** Sleeps shortened (the targets' retries), time real. */
const clock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
};

const build = (target: KongTargetSpec, secret?: string) =>
  createTargetOfKind({ target, clientId: CLIENT, idp: "entra", clock, secret: async () => secret });

/** Our plugin on a Kong node (traditional, control plane, or DB-less). */
function seedKong(k: KongFake): void {
  k.addPlugin({
    id: PLUGIN,
    name: "openid-connect",
    tags: ["rotator"],
    config: partnerAndUs(ISSUER, CLIENT, partner),
  });
}

async function kongNode(opts: Partial<KongFakeOptions> = {}): Promise<KongFake> {
  const k = await startKongFake({ tls, ...opts });
  seedKong(k);
  return k;
}

const jwksOf = (config: Record<string, unknown> | undefined): Record<string, unknown>[] =>
  (config?.client_jwk as Record<string, unknown>[] | undefined) ?? [];

const common = { foreign: { index: 0, kid: "partner-key" }, ours: 1 };

const harnesses: Record<KongKind, KongKindHarness["rig"]> = {
  async admin(): Promise<KongRig> {
    const k = await kongNode();
    return {
      ...common,
      target: await build({ name: "kong", adminUrl: k.url, pluginId: PLUGIN }),
      stored: async () => jwksOf(k.getPlugin(PLUGIN)?.config),
      // A traditional node serves what its database holds: no gateway to fall behind.
      hold: async () => undefined,
      afterWrite: async () => undefined,
      release: async () => undefined,
      loseNextWrite: () => k.dropWrites(1),
      close: () => k.close(),
    };
  },

  async hybrid(): Promise<KongRig> {
    const k = await kongNode({ dataPlanes: [{ hostname: "dp-0" }, { hostname: "dp-1" }] });
    return {
      ...common,
      target: await build({
        name: "cp",
        adminUrl: k.url,
        pluginId: PLUGIN,
        dataPlanes: { confirm: "always", maxLagMs: 10_000 },
      }),
      stored: async () => jwksOf(k.getPlugin(PLUGIN)?.config),
      hold: async () => {
        k.setDataPlane("dp-1", { neverSync: true });
        return "dp-1";
      },
      afterWrite: async () => undefined,
      release: async () => k.setDataPlane("dp-1", { neverSync: false }),
      loseNextWrite: () => k.dropWrites(1),
      close: () => k.close(),
    };
  },

  async dbless(): Promise<KongRig> {
    const [a, b] = [await kongNode({ dbless: true }), await kongNode({ dbless: true })];
    const target = await build({
      name: "edge",
      dbless: { nodes: [a.url, b.url], maxLagMs: 10_000 },
      pluginId: PLUGIN,
    });
    let held = false;
    return {
      ...common,
      target,
      stored: async () => jwksOf(b.getPlugin(PLUGIN)?.config),
      // Each node is written directly; one falls behind when the operator's pipeline posts its own file
      // (with the old entry) to it after our write, until the next run writes it again.
      hold: async () => {
        held = true;
        return new URL(b.url).host;
      },
      afterWrite: async () => {
        if (held) seedKong(b);
      },
      release: async () => {
        held = false;
        await target.apply(keys.next);
      },
      loseNextWrite: () => b.dropWrites(1),
      close: async () => {
        await a.close();
        await b.close();
      },
    };
  },

  async konnect(): Promise<KongRig> {
    const k = await startKonnectFake({
      tls,
      token: KONNECT_TOKEN,
      nodes: [{ hostname: "node-0" }, { hostname: "node-1" }],
    });
    const { id } = k.addPlugin({
      name: "openid-connect",
      tags: ["rotator"],
      config: partnerAndUs(ISSUER, CLIENT, partner),
    });
    const spec: KongTargetSpec = {
      name: "konnect-eu",
      konnect: {
        region: "eu",
        controlPlaneId: k.controlPlaneId,
        token: { env: "KONNECT_TOKEN" },
        baseUrl: k.url,
        maxLagMs: 10_000,
      },
      pluginId: id,
    };
    return {
      ...common,
      target: await build(spec, KONNECT_TOKEN),
      stored: async () => jwksOf(k.getPlugin(id)?.config as Record<string, unknown> | undefined),
      hold: async () => {
        k.setNode("node-1", { neverSync: true });
        return "node-1";
      },
      afterWrite: async () => undefined,
      release: async () => k.setNode("node-1", { neverSync: false }),
      loseNextWrite: () => k.dropWrites(1),
      close: () => k.close(),
    };
  },

  async kubernetes(): Promise<KongRig> {
    const rules: Identity["rules"] = [
      { verbs: ["get", "patch"], resources: ["secrets"], resourceNames: [SECRET], namespaces: [NS] },
      { verbs: ["list"], resources: ["pods", "events", "kongplugins"], namespaces: [NS] },
      { verbs: ["get"], resources: ["pods/proxy"], namespaces: [NS] },
    ];
    const k = await startKubernetesFake({
      tls,
      tokens: { [K8S_TOKEN]: { user: "system:serviceaccount:kong:key-rotator", rules } },
      proxySyncMs: 100,
      namespace: NS,
      proxyPods: [{ name: "gw-0" }, { name: "gw-1" }],
    });
    const { client_jwk: seeded, ...config } = partnerAndUs(ISSUER, CLIENT, partner);
    k.addKongPlugin({
      name: "orders-oidc",
      namespace: NS,
      plugin: "openid-connect",
      config,
      configPatches: [{ path: "/client_jwk", valueFrom: { secretKeyRef: { name: SECRET, key: KEY } } }],
    });
    const original = JSON.stringify(seeded);
    k.addSecret(NS, SECRET, { [KEY]: original });
    k.syncNow();
    let lose = false;
    k.hook.set(async (stage, req) => {
      // Another writer puts the Secret back right after our PATCH.
      if (stage === "after" && req.method === "PATCH" && lose) {
        lose = false;
        k.addSecret(NS, SECRET, { [KEY]: original });
      }
      return undefined;
    });
    const pod = (name: string) => k.pods.find((p) => p.name === name);
    return {
      ...common,
      target: await build({
        name: "aks",
        kubernetes: {
          namespace: NS,
          secretName: SECRET,
          secretKey: KEY,
          kubeconfig: writeKubeconfig(dir, k, tls.ca, K8S_TOKEN, NS),
          maxLagMs: 10_000,
          statusAccess: "apiserver",
          proxies: { selector: "app.kubernetes.io/component=app", port: "status", scheme: "http" },
        },
      }),
      stored: async () => JSON.parse(k.secretValue(NS, SECRET, KEY) ?? "[]") as Record<string, unknown>[],
      hold: async () => {
        pod("gw-1")?.setStuck(true);
        return "gw-1";
      },
      afterWrite: async () => undefined,
      release: async () => pod("gw-1")?.setStuck(false),
      loseNextWrite: () => {
        lose = true;
      },
      close: () => k.close(),
    };
  },
};

beforeAll(async () => {
  tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  dir = mkdtempSync(join(tmpdir(), "kong-contract-"));
  partner = generateRsaJwk({ kid: "partner-key" });
  keys = { next: kongJwk(), newer: kongJwk() };
});

it("the contract runs every kind in the registry", () => {
  expect(Object.keys(harnesses).sort()).toEqual(Object.keys(KONG_KINDS).sort());
});

for (const kind of Object.keys(KONG_KINDS) as KongKind[])
  describe(`Kong contract: ${kind}`, () => {
    kongContract({ kind, rig: harnesses[kind] }, () => keys);
  });
