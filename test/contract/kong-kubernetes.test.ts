/**
 * Contract: the KIC (Kubernetes) Kong target through the real @kubernetes/client-node, against the fake
 * Kubernetes API server over HTTPS (stack/kubernetes), with KIC and the Kong proxy pods simulated.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Agent, fetch } from "undici";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { KongPrivateJwk } from "../../src/crypto/keymaterial.js";
import type { RotatorError } from "../../src/errors.js";
import type { KicTargetConfig } from "../../src/adapters/kong/kubernetes/api.js";
import { createKubernetesTarget, SECRET_LABELS } from "../../src/adapters/kong/kubernetes/target.js";
import { createTargetOfKind } from "../../src/adapters/kong/registry.js";
import { systemClock } from "../../src/clock.js";
import type { KongConfirmBase, KongConfirmation, KongTarget } from "../../src/ports/engine.js";
import { ensureCa, issueServerTls, type ServerTls } from "../../stack/common/tls.js";
import {
  startKubernetesFake,
  type Identity,
  type KubernetesFake,
  type KubernetesFakeOptions,
} from "../../stack/kubernetes/fake.js";
import { generateRsaJwk, type SeedJwk } from "../../stack/kong/seed.js";
import { vaultReferenceChecks } from "../../src/app/doctor-kong.js";
import type { CredentialConfig } from "../../src/config/load.js";
import { failure, suiteKeys } from "../support/kong-jwk.js";
import { writeKubeconfig } from "../support/kubeconfig.js";
import { applied, pollConfirm } from "../support/kong-confirm.js";

const CLIENT = "11111111-2222-4333-8444-555555555555";
const NS = "kong";
const SECRET = "orders-oidc-jwk";
const KEY = "client_jwk";
const PLUGIN = "orders-oidc";
const ROTATOR_TOKEN = "k8s-token-rotator-0123456789";
const READONLY_TOKEN = "k8s-token-readonly-0123456789";
const NO_EVENTS_TOKEN = "k8s-token-no-events-0123456789";
const NO_PROXY_TOKEN = "k8s-token-no-proxy-0123456789";

/** The Role docs/kong-kubernetes.md asks for, and its ClusterRole for KongVaults (no namespace: cluster-wide). */
const rotatorRules: Identity["rules"] = [
  { verbs: ["get", "patch"], resources: ["secrets"], resourceNames: [SECRET], namespaces: [NS] },
  { verbs: ["list"], resources: ["pods", "events", "kongplugins"], namespaces: [NS] },
  { verbs: ["get"], resources: ["pods/proxy"], namespaces: [NS] },
  { verbs: ["list"], resources: ["kongvaults"] },
];
const tokens: Record<string, Identity> = {
  [ROTATOR_TOKEN]: { user: "system:serviceaccount:kong:key-rotator", rules: rotatorRules },
  [READONLY_TOKEN]: {
    user: "system:serviceaccount:kong:viewer",
    rules: [
      { verbs: ["get"], resources: ["secrets", "pods/proxy"], namespaces: [NS] },
      { verbs: ["list"], resources: ["pods", "events", "kongplugins"], namespaces: [NS] },
    ],
  },
  [NO_EVENTS_TOKEN]: {
    user: "system:serviceaccount:kong:no-events",
    rules: rotatorRules.map((r) => ({ ...r, resources: r.resources.filter((x) => x !== "events") })),
  },
  // The Role before the rotator read the proxies through the API server.
  [NO_PROXY_TOKEN]: {
    user: "system:serviceaccount:kong:no-proxy",
    rules: rotatorRules.filter((r) => !r.resources.includes("pods/proxy")),
  },
};

let tls: ServerTls;
let k8s: KubernetesFake | undefined;
let otherA: SeedJwk;
let otherC: SeedJwk;
let oldOurs: SeedJwk;
let next: KongPrivateJwk;
let newer: KongPrivateJwk;
let dir: string;

const retry = {
  maxAttempts: 3,
  baseDelayMs: 2,
  maxDelayMs: 8,
  attemptTimeoutMs: 2000,
  maxRetryAfterMs: 1000,
};

async function fake(opts: Partial<KubernetesFakeOptions> = {}, seed = true): Promise<KubernetesFake> {
  k8s = await startKubernetesFake({ tls, tokens, proxySyncMs: 100, namespace: NS, ...opts });
  if (seed) {
    k8s.addKongPlugin({
      name: PLUGIN,
      namespace: NS,
      plugin: "openid-connect",
      config: {
        issuer: "https://login.microsoftonline.com/tenant/v2.0",
        client_id: ["client-a", CLIENT, "client-c"],
        client_auth: ["private_key_jwt", "private_key_jwt", "client_secret_post"],
      },
      configPatches: [{ path: "/client_jwk", valueFrom: { secretKeyRef: { name: SECRET, key: KEY } } }],
    });
    k8s.addSecret(NS, SECRET, { [KEY]: JSON.stringify([otherA, oldOurs, otherC]) });
    k8s.syncNow();
  }
  return k8s;
}

const kubeconfig = (k: KubernetesFake, token: string): string => writeKubeconfig(dir, k, tls.ca, token, NS);

function target(k: KubernetesFake, token = ROTATOR_TOKEN, over: Partial<KicTargetConfig> = {}) {
  return createKubernetesTarget({
    maxLagMs: 5000,
    target: {
      name: "aks",
      namespace: NS,
      secretName: SECRET,
      secretKey: KEY,
      kubeconfig: kubeconfig(k, token),
      ...over,
    },
    clientId: CLIENT,
    idp: "entra",
    retry,
  });
}

const stored = (k: KubernetesFake): Record<string, unknown>[] =>
  JSON.parse(k.secretValue(NS, SECRET, KEY) ?? "null") as Record<string, unknown>[];
const patches = (k: KubernetesFake) => k.requests.filter((r) => r.method === "PATCH");

function expectClean(e: RotatorError): void {
  const text = `${e.message} ${e.hint} ${JSON.stringify(e.toJSON())}`;
  for (const secret of [next.d, next.p, otherA.d, otherC.d, oldOurs.d, ROTATOR_TOKEN, READONLY_TOKEN])
    expect(text).not.toContain(secret);
}

/**
 * A pod that lags behind KIC's push, by event rather than by wall time: the pod at `lagging` is held back
 * (its hash frozen), the push is run at once, and confirm() must then name it as the only lagging pod.
 * Once it is released (it loads the pushed config, as a pod that catches up does), confirm() must confirm.
 * Returns both observations.
 */
async function lagThenCatchUp(
  k: KubernetesFake,
  t: KongTarget,
  jwk: KongPrivateJwk,
  lagging: string,
  from: (s: KongConfirmBase) => KongConfirmBase = (s) => s,
): Promise<KongConfirmation[]> {
  const pod = k.pods.find((p) => p.name === lagging);
  if (!pod) throw new Error(`no proxy pod ${lagging}`);
  pod.setStuck(true);
  const since = from((await applied(t, jwk)).since);
  k.syncNow();
  const held = await t.confirm({ kid: jwk.kid }, since);
  pod.setStuck(false);
  return [held, await t.confirm({ kid: jwk.kid }, since)];
}

beforeAll(async () => {
  tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  dir = mkdtempSync(join(tmpdir(), "kic-contract-"));
  ({ otherA, otherC, oldOurs, next, newer } = suiteKeys());
});

afterEach(async () => {
  await k8s?.close();
  k8s = undefined;
});

describe("kubernetes (KIC) target: inspect and apply", () => {
  it("inspect finds our entry through the KongPlugin's client_id", async () => {
    const k = await fake();
    expect(await target(k).inspect()).toEqual([
      {
        pluginId: `${NS}/${PLUGIN}`,
        clientIndex: 1,
        kid: "kid-old",
        alg: "PS256",
        modulusPrefix: oldOurs.n?.slice(0, 12),
        // The KongPlugin sets no config.scopes: Kong sends its default.
        scopes: ["openid"],
      },
    ]);
  });

  it("apply replaces only our entry, keeps the others' entries, writes JSON, labels the Secret, and confirms", async () => {
    const k = await fake({ proxyPods: [{ name: "gw-0" }, { name: "gw-1" }] });
    const t = target(k);
    const hashesBefore = k.pods.map((p) => p.hash);
    const { plugins: views, wrote, since } = await applied(t, next);
    expect(views).toEqual([
      {
        pluginId: `${NS}/${PLUGIN}`,
        clientIndex: 1,
        kid: next.kid,
        x5t: next.x5t,
        alg: "PS256",
        modulusPrefix: next.n.slice(0, 12),
        scopes: ["openid"],
      },
    ]);
    const jwks = stored(k);
    expect(jwks[0]).toEqual(otherA);
    expect(jwks[2]).toEqual(otherC);
    expect(jwks[1]).toEqual(next);
    const secret = k.getSecret(NS, SECRET);
    expect(secret?.metadata.labels).toEqual({
      "konghq.com/secret": "true",
      "konghq.com/validate": "plugin",
      "app.kubernetes.io/managed-by": "kong-entra-key-rotator",
    });
    expect(wrote).toBe(true);
    // The baseline: the live pods' distinct configuration_hashes before the write, sorted.
    expect(since.baseline).toBe([...new Set(hashesBefore)].sort().join(","));
    const seen = await pollConfirm(t, next, since, (c) => c.state === "confirmed");
    expect(seen.at(-1)).toEqual({
      state: "confirmed",
      detail: "2 proxy pod(s) on one new configuration_hash",
    });
    for (const pod of k.pods) {
      const held = pod.pluginConfig(PLUGIN)?.client_jwk as Record<string, unknown>[];
      expect(held.map((j) => j.kid)).toEqual(["kid-a", next.kid, "kid-c"]);
    }
    expect(patches(k)).toHaveLength(1);
  });

  it("a second apply of the same key writes nothing and confirms on agreement", async () => {
    const k = await fake();
    const t = target(k);
    const first = await applied(t, next);
    await pollConfirm(t, next, first.since, (c) => c.state === "confirmed");
    const again = await applied(t, next);
    expect(again.wrote).toBe(false);
    expect(again.since.baseline).toBeUndefined();
    expect(patches(k)).toHaveLength(1);
    expect(await t.confirm({ kid: next.kid }, again.since)).toMatchObject({ state: "confirmed" });
  });

  it("a Secret holding the key but unlabelled gets only the labels (no config change to wait for)", async () => {
    const k = await fake();
    k.addSecret(NS, SECRET, { [KEY]: JSON.stringify([otherA, next, otherC]) });
    k.syncNow();
    const t = target(k);
    const r = await applied(t, next);
    expect(r.wrote).toBe(false);
    expect(k.getSecret(NS, SECRET)?.metadata.labels).toEqual(SECRET_LABELS);
    expect(await t.confirm({ kid: next.kid }, r.since)).toMatchObject({ state: "confirmed" });
  });

  it("a concurrent writer makes the merge patch fail with 409; apply re-reads and keeps their change", async () => {
    const k = await fake();
    let raced = false;
    k.hook.set(async (stage, req) => {
      if (stage === "before" && req.method === "PATCH" && !raced) {
        raced = true;
        const theirs = generateRsaJwk({ kid: "kid-c2" });
        k.addSecret(NS, SECRET, { [KEY]: JSON.stringify([otherA, oldOurs, theirs]) });
      }
      return undefined;
    });
    await target(k).apply(next);
    expect(stored(k).map((j) => j.kid)).toEqual(["kid-a", next.kid, "kid-c2"]);
    expect(patches(k).map((r) => r.status)).toEqual([409, 200]);
  });

  it("in-cluster: the service-account token and CA files and KUBERNETES_SERVICE_HOST/PORT", async () => {
    const k = await fake();
    const prefix = mkdtempSync(join(tmpdir(), "kic-sa-"));
    const sa = join(prefix, "var/run/secrets/kubernetes.io/serviceaccount");
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, "token"), ROTATOR_TOKEN);
    writeFileSync(join(sa, "ca.crt"), tls.ca);
    writeFileSync(join(sa, "namespace"), NS);
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = "127.0.0.1";
    process.env.KUBERNETES_SERVICE_PORT = String(k.port);
    try {
      const t = createKubernetesTarget({
        maxLagMs: 5000,
        target: { name: "aks", namespace: NS, secretName: SECRET, secretKey: KEY },
        clientId: CLIENT,
        idp: "entra",
        retry,
        inClusterPathPrefix: prefix,
      });
      expect((await t.inspect())[0]?.kid).toBe("kid-old");
    } finally {
      if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
      else process.env.KUBERNETES_SERVICE_HOST = saved.host;
      if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
      else process.env.KUBERNETES_SERVICE_PORT = saved.port;
    }
  });

  it("diagnose reports DB-less proxies and the plugin's public facts", async () => {
    const k = await fake();
    const d = await target(k).diagnose();
    expect(d.node).toEqual({ database: "off", role: "traditional", version: "3.10.0.16" });
    expect(d.plugins).toEqual([
      expect.objectContaining({
        pluginId: `${NS}/${PLUGIN}`,
        name: "openid-connect",
        clientIndex: 1,
        clientAuth: "private_key_jwt",
      }),
    ]);
    expect(JSON.stringify(d)).not.toContain(oldOurs.d);
  });
});

describe("kubernetes (KIC) target: KongVault for doctor (vault-reference mode)", () => {
  const REFS = "https://kong-refs.vault.azure.net";
  /** A KongVault KIC has pushed (Programmed True), unless `invalid`. */
  const seedVault = (k: KubernetesFake, vaultUri: string, invalid?: string) => {
    k.addKongVault({
      name: "kong-refs",
      backend: "azure",
      prefix: "azure-kv",
      description: "reference secrets",
      config: {
        vault_uri: vaultUri,
        tenant_id: "tenant-1",
        client_id: "kong-identity",
        type: "secrets",
        ttl: 0,
      },
      ...(invalid ? { invalid } : {}),
    });
    k.syncNow();
  };

  it("lists the cluster-scoped KongVaults and returns the one with the prefix as a vault entity", async () => {
    const k = await fake();
    seedVault(k, REFS);
    expect((await target(k).vaults("azure-kv"))[0]).toEqual({
      prefix: "azure-kv",
      where: "KongVault kong-refs",
      state: "found",
      backend: "azure",
      vaultUri: REFS,
      tenantId: "tenant-1",
      clientId: "kong-identity",
      ttl: 0,
    });
    expect((await target(k).vaults("other"))[0]).toEqual({ prefix: "other", state: "missing" });
    // The backend name as prefix: the proxies' KONG_VAULT_AZURE_* env applies, which no API shows.
    expect((await target(k).vaults("azure"))[0]).toEqual({ prefix: "azure", state: "env" });
    const listed = k.requests.filter((r) => r.path.includes("kongvaults"));
    expect(listed.map((r) => `${r.method} ${r.path}`)).toEqual(
      Array(3).fill("GET /apis/configuration.konghq.com/v1alpha1/kongvaults"),
    );
  });

  it("without list on kongvaults (a namespaced Role cannot grant it): unreadable, naming the ClusterRole rule", async () => {
    const k = await fake();
    seedVault(k, REFS);
    const v = (await target(k, READONLY_TOKEN).vaults("azure-kv"))[0];
    expect(v).toMatchObject({ prefix: "azure-kv", state: "error" });
    if (v?.state !== "error") throw new Error("expected an error");
    expect(v.error).toContain("KONG_K8S_FORBIDDEN");
    expect(v.error).toContain("kongvaults (cluster-scoped)");
    expect(v.hint).toContain(
      'ClusterRole with { apiGroups: ["configuration.konghq.com"], resources: ["kongvaults"], verbs: ["list"] }',
    );
    expect(v.hint).toContain("ClusterRoleBinding");
    // The API server's own words for a cluster-scoped refusal (apiserver responsewriters forbiddenMessage).
    const res = await fetch(`${k.url}/apis/configuration.konghq.com/v1alpha1/kongvaults`, {
      headers: { authorization: `Bearer ${READONLY_TOKEN}` },
      dispatcher: new Agent({ connect: { ca: tls.ca } }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({
      kind: "Status",
      status: "Failure",
      reason: "Forbidden",
      code: 403,
      message:
        'kongvaults.configuration.konghq.com is forbidden: User "system:serviceaccount:kong:viewer" cannot list resource "kongvaults" in API group "configuration.konghq.com" at the cluster scope',
    });
  });

  it("doctor's rules apply to the KongVault: the right vault_uri passes, another fails, and so does a 403", async () => {
    const k = await fake();
    seedVault(k, "https://Other.vault.azure.net/");
    const cred = (token: string) => ({
      target: {
        name: "aks",
        vaultReference: { prefix: "azure-kv", secretPrefix: "kong-jwk-", keyVaultUrl: REFS },
        kubernetes: {
          namespace: NS,
          secretName: SECRET,
          secretKey: KEY,
          kubeconfig: kubeconfig(k, token),
          maxLagMs: 5000,
          statusAccess: "apiserver" as const,
          proxies: { selector: "app.kubernetes.io/component=app", port: "status", scheme: "http" as const },
        },
      },
      config: {
        name: "orders-api",
        kong: [
          {
            name: "aks",
            vaultReference: { prefix: "azure-kv", secretPrefix: "kong-jwk-", keyVaultUrl: REFS },
          },
        ],
      } as unknown as CredentialConfig,
    });
    const lines = async (token: string) => {
      const c = cred(token);
      const t = await createTargetOfKind({
        target: c.target,
        clientId: CLIENT,
        idp: "entra",
        clock: systemClock,
        secret: async () => undefined,
      });
      const d = await t.diagnose();
      return vaultReferenceChecks(c.config, "aks", d, "https://certs.vault.azure.net")
        .filter((l) => l.code.startsWith("KONG_VAULT_") && !/REFERENCE|READER/.test(l.code))
        .map((l) => `${l.status}:${l.code}`);
    };
    expect(await lines(ROTATOR_TOKEN)).toEqual(["fail:KONG_VAULT_URI_MISMATCH"]);
    seedVault(k, `${REFS.toUpperCase()}/`);
    expect(await lines(ROTATOR_TOKEN)).toEqual(["pass:KONG_VAULT_ENTITY"]);
    // Unreadable: activation cannot check it and refuses, so doctor fails (one rule).
    expect(await lines(READONLY_TOKEN)).toEqual(["fail:KONG_VAULT_UNREADABLE"]);
    // KIC refused it (Programmed False/Invalid): left out of Kong's config whatever its vault_uri.
    seedVault(k, REFS, "vault config failed schema validation");
    expect(await lines(ROTATOR_TOKEN)).toEqual(["fail:KONG_VAULT_NOT_APPLIED"]);
    const v = (await target(k).vaults("azure-kv"))[0];
    expect(v).toMatchObject({
      notApplied: { state: "refused", detail: "Invalid: vault config failed schema validation" },
    });
  });

  it("a KongVault KIC has not processed yet (Programmed Unknown/Pending) is reported as not applied", async () => {
    const k = await fake({ proxySyncMs: 60_000 });
    k.addKongVault({ name: "kong-refs", backend: "azure", prefix: "azure-kv", config: { vault_uri: REFS } });
    expect((await target(k).vaults("azure-kv"))[0]).toMatchObject({
      state: "found",
      notApplied: { state: "pending", detail: "Pending: Waiting for controller" },
    });
  });

  it("a cluster without the KongVault CRD answers 404: unreadable, asking for KIC's CRDs", async () => {
    const k = await fake({ kicCrds: false }, false);
    const v = (await target(k).vaults("azure-kv"))[0];
    expect(v).toMatchObject({ state: "error", error: expect.stringContaining("KONG_KIC_CRD_MISSING") });
  });
});

describe("kubernetes (KIC) target: typed errors", () => {
  it("RBAC without patch: names the verb and resource, and writes nothing", async () => {
    const k = await fake();
    const e = await failure(target(k, READONLY_TOKEN).apply(next));
    expect(e.code).toBe("KONG_K8S_FORBIDDEN");
    expect(e.status).toBe(403);
    expect(e.message).toContain("patch");
    expect(e.hint).toContain('resources: ["secrets"], verbs: ["patch"], resourceNames: ["orders-oidc-jwk"]');
    expect(stored(k)[1]?.kid).toBe("kid-old");
    expectClean(e);
  });

  it("checkAccess (for doctor) asks SelfSubjectAccessReview and writes nothing", async () => {
    const k = await fake();
    // "get secrets yes" from the review's "get secrets \"orders-oidc-jwk\" in namespace kong".
    const can = async (t: KongTarget) =>
      ((await t.diagnose()).access ?? []).map((c) => {
        const [verb, resource] = c.permission.split(" ");
        return `${verb} ${resource?.replace(".configuration.konghq.com", "")} ${c.allowed ? "yes" : "no"}`;
      });
    expect(await can(target(k))).toEqual([
      "get secrets yes",
      "patch secrets yes",
      "list kongplugins yes",
      "list pods yes",
      "get pods/proxy yes",
      "list events yes",
    ]);
    const withVault = createKubernetesTarget({
      maxLagMs: 5000,
      vaultPrefix: "azure-kv",
      target: {
        name: "aks",
        namespace: NS,
        secretName: SECRET,
        secretKey: KEY,
        kubeconfig: kubeconfig(k, ROTATOR_TOKEN),
      },
      clientId: CLIENT,
      idp: "entra",
      retry,
    });
    expect(await can(withVault)).toContain("list kongvaults yes");
    // Reading the pods by IP needs no pods/proxy.
    expect(await can(target(k, ROTATOR_TOKEN, { statusAccess: "direct" }))).not.toContain(
      "get pods/proxy yes",
    );
    expect(await can(target(k, READONLY_TOKEN))).toContain("patch secrets no");
    expect(await can(target(k, NO_EVENTS_TOKEN))).toContain("list events no");
    expect(await can(target(k, NO_PROXY_TOKEN))).toContain("get pods/proxy no");
    expect(patches(k)).toHaveLength(0);
  });

  it("an unknown token is 401", async () => {
    const k = await fake();
    const e = await failure(target(k, "not-a-token-at-all").inspect());
    expect(e.code).toBe("KONG_K8S_UNAUTHORIZED");
    expectClean(e);
  });

  it("KIC's admission webhook refuses an invalid JWK: the write fails and nothing changes", async () => {
    const k = await fake();
    const broken = { ...next, n: undefined } as unknown as KongPrivateJwk;
    const rv = k.getSecret(NS, SECRET)?.metadata.resourceVersion;
    const e = await failure(target(k).apply(broken));
    expect(e.code).toBe("KONG_KIC_WEBHOOK_REJECTED");
    expect(e.status).toBe(403);
    expect(e.message).toContain("admission webhook");
    expect(k.getSecret(NS, SECRET)?.metadata.resourceVersion).toBe(rv);
    expectClean(e);
  });

  it("webhook and Event messages that quote key material are scrubbed like the Kong Admin API's", async () => {
    const k = await fake();
    // Another client's private member (never built by the rotator, so not registered) quoted by KIC.
    k.setWebhookDenial(`plugin failed schema validation: client_jwk.1.d: invalid value: ${otherA.d}`);
    const e = await failure(target(k).apply(next));
    expect(e.code).toBe("KONG_KIC_WEBHOOK_REJECTED");
    expect(e.message).toMatch(/client_jwk\.1\.d: invalid value: \[REDACTED\]/);
    expectClean(e);

    k.setWebhookDenial(undefined);
    const quoted = String(otherC.p);
    k.pods[0]?.setRejects(`client_jwk.3.p: invalid value: ${quoted}`);
    const t = target(k);
    const { since } = await applied(t, next);
    const seen = await pollConfirm(t, next, since, (c) => c.state !== "pending");
    const last = seen.at(-1)!;
    expect(last).toMatchObject({ state: "failed", code: "KONG_KIC_APPLY_FAILED" });
    const detail = "detail" in last ? last.detail : "";
    expect(detail).toMatch(/KongConfigurationApplyFailed/);
    expect(detail).not.toContain(quoted);
    expect(detail).not.toContain(quoted.slice(0, 24));
  });

  it("a missing Secret and a Secret no KongPlugin uses", async () => {
    const k = await fake({}, false);
    k.addKongPlugin({
      name: PLUGIN,
      namespace: NS,
      plugin: "openid-connect",
      config: { client_id: [CLIENT], client_auth: ["private_key_jwt"] },
      configPatches: [{ path: "/client_jwk", valueFrom: { secretKeyRef: { name: SECRET, key: KEY } } }],
    });
    expect((await failure(target(k).inspect())).code).toBe("KONG_KIC_SECRET_NOT_FOUND");
    expect((await failure(target(k, ROTATOR_TOKEN, { secretKey: "other" }).inspect())).code).toBe(
      "KONG_PLUGIN_NOT_FOUND",
    );
  });

  it("two KongPlugins sharing the Secret: one write when the client order agrees, refused when it does not", async () => {
    const k = await fake();
    const second = (name: string, clients: string[]) =>
      k.addKongPlugin({
        name,
        namespace: NS,
        plugin: "openid-connect",
        config: { client_id: clients, client_auth: ["private_key_jwt"] },
        configPatches: [{ path: "/client_jwk", valueFrom: { secretKeyRef: { name: SECRET, key: KEY } } }],
      });
    second("orders-oidc-eu", ["client-a", CLIENT, "client-c"]);
    const views = (await target(k).apply(next)).plugins;
    expect(views.map((v) => v.pluginId)).toEqual([`${NS}/${PLUGIN}`, `${NS}/orders-oidc-eu`]);
    expect(patches(k)).toHaveLength(1);
    second("orders-oidc-us", [CLIENT]);
    const e = await failure(target(k).apply(newer));
    expect(e.code).toBe("KONG_KIC_SHARED_SECRET_LAYOUT");
    expect(stored(k)[1]?.kid).toBe(next.kid);
  });

  it("an immutable Secret is refused by the API server with a typed error", async () => {
    const k = await fake();
    k.addSecret(NS, SECRET, { [KEY]: JSON.stringify([otherA, oldOurs, otherC]) }, undefined, true);
    const e = await failure(target(k).apply(next));
    expect(e.code).toBe("KONG_KIC_SECRET_IMMUTABLE");
    expect(e.status).toBe(422);
    expect(stored(k)[1]?.kid).toBe("kid-old");
  });

  it("a cluster without KIC's CRDs", async () => {
    const k = await fake({ kicCrds: false }, false);
    expect((await failure(target(k).inspect())).code).toBe("KONG_KIC_CRD_MISSING");
  });

  it("a Secret value that is not a JSON array is refused without echoing it", async () => {
    const k = await fake();
    k.addSecret(NS, SECRET, { [KEY]: `{"d":"${oldOurs.d}"` });
    const e = await failure(target(k).inspect());
    expect(e.code).toBe("KONG_KIC_SECRET_INVALID");
    expectClean(e);
  });
});

describe("kubernetes (KIC) target: confirm on the proxy pods", () => {
  it("a lagging pod keeps the step pending, named, until it reports the new hash", async () => {
    const k = await fake({ proxyPods: [{ name: "gw-fast" }, { name: "gw-slow" }] });
    const [held, caughtUp] = await lagThenCatchUp(k, target(k), next, "gw-slow");
    expect(held).toMatchObject({ state: "pending", lagging: ["gw-slow"] });
    expect(caughtUp).toMatchObject({ state: "confirmed" });
  });

  it("a pod that never syncs stays pending (never confirmed), then confirms once it recovers", async () => {
    const k = await fake({ proxyPods: [{ name: "gw-0" }, { name: "gw-stuck" }] });
    k.pods[1]?.setStuck(true);
    const t = target(k);
    const { since } = await applied(t, newer);
    const seen = await pollConfirm(t, newer, since, (c) => c.state !== "pending", 1200);
    expect(seen.every((c) => c.state === "pending")).toBe(true);
    expect(seen.at(-1)).toMatchObject({ state: "pending", lagging: ["gw-stuck"] });
    k.pods[1]?.setStuck(false);
    expect(await t.confirm({ kid: newer.kid }, since)).toMatchObject({ state: "confirmed" });
  });

  it("a KongConfigurationApplyFailed event after the write fails fast, naming the pods", async () => {
    const k = await fake({ proxyPods: [{ name: "gw-0" }, { name: "gw-bad" }] });
    k.pods[1]?.setRejects(true);
    const t = target(k);
    const { since } = await applied(t, next);
    const seen = await pollConfirm(t, next, since, (c) => c.state !== "pending");
    expect(seen.at(-1)).toMatchObject({
      state: "failed",
      code: "KONG_KIC_APPLY_FAILED",
      lagging: ["gw-bad"],
    });
  });

  it("events spam-filtered away: no event at all, and /status still confirms", async () => {
    const k = await fake({ priorEvents: 25, proxyPods: [{ name: "gw-0" }, { name: "gw-1" }] });
    const t = target(k);
    const count = () => k.events().reduce((n, e) => n + (e.count as number), 0);
    const before = count();
    const { since } = await applied(t, next);
    const seen = await pollConfirm(t, next, since, (c) => c.state === "confirmed");
    expect(seen.at(-1)).toMatchObject({ state: "confirmed" });
    expect(count()).toBe(before);
  });

  it("a failure hidden by the spam filter is not seen as one: pending, not failed", async () => {
    const k = await fake({ priorEvents: 25, proxyPods: [{ name: "gw-bad" }] });
    k.pods[0]?.setRejects(true);
    const t = target(k);
    const { since } = await applied(t, next);
    const seen = await pollConfirm(t, next, since, (c) => c.state !== "pending", 600);
    expect(seen.at(-1)).toMatchObject({ state: "pending", lagging: ["gw-bad"] });
  });

  it("without the right to list events, confirmation still works from /status", async () => {
    const k = await fake({ proxyPods: [{ name: "gw-0" }, { name: "gw-slow", lagMs: 400 }] });
    const t = target(k, NO_EVENTS_TOKEN);
    const { since } = await applied(t, next);
    const seen = await pollConfirm(t, next, since, (c) => c.state === "confirmed");
    expect(seen.at(-1)).toMatchObject({ state: "confirmed" });
  });

  it("after a rollout replaced every snapshotted pod, the new pods confirm by agreeing on one hash", async () => {
    const k = await fake({ proxyPods: [{ name: "gw-new-0" }, { name: "gw-new-1" }] });
    // No pod reports a pre-write hash: the rollout replaced every pod seen before the write.
    const rolled = (s: KongConfirmBase) => ({ ...s, baseline: "0123456789abcdef0123456789abcdef" });
    const [held, caughtUp] = await lagThenCatchUp(k, target(k), next, "gw-new-1", rolled);
    expect(held).toMatchObject({ state: "pending", lagging: ["gw-new-1"] });
    expect(caughtUp).toMatchObject({ state: "confirmed" });
  });

  it("429 and 5xx from the API server are retried (Retry-After honoured)", async () => {
    const k = await fake();
    k.faults.add({
      method: "GET",
      path: "/secrets/",
      times: 1,
      fault: { kind: "status", status: 429, retryAfter: "0" },
    });
    k.faults.add({ method: "PATCH", path: "/secrets/", times: 1, fault: { kind: "status", status: 503 } });
    await target(k).apply(next);
    expect(stored(k)[1]?.kid).toBe(next.kid);
    expect(k.requests.filter((r) => r.fault).map((r) => `${r.method} ${r.status}`)).toEqual([
      "GET 429",
      "PATCH 503",
    ]);
  });

  it("the Secret changed by someone else after our write fails the confirmation", async () => {
    const k = await fake();
    const t = target(k);
    const { since } = await applied(t, next);
    k.addSecret(NS, SECRET, { [KEY]: JSON.stringify([otherA, oldOurs, otherC]) });
    expect(await t.confirm({ kid: next.kid }, since)).toMatchObject({
      state: "failed",
      code: "KONG_KIC_SECRET_CHANGED",
    });
  });

  it("no proxy pod behind the selector fails with a hint, instead of waiting forever", async () => {
    const k = await fake();
    const t = target(k, ROTATOR_TOKEN, { proxySelector: "app.kubernetes.io/name=nothing" });
    const { since } = await applied(t, next);
    expect(await t.confirm({ kid: next.kid }, since)).toMatchObject({
      state: "failed",
      code: "KONG_KIC_NO_PROXY_PODS",
    });
  });

  it("reads each pod's /status through the API server's pod proxy, never by pod IP (the default)", async () => {
    const k = await fake({ proxyPods: [{ name: "gw-0" }, { name: "gw-1", lagMs: 300 }] });
    const t = target(k);
    const { since } = await applied(t, next);
    const seen = await pollConfirm(t, next, since, (c) => c.state === "confirmed");
    expect(seen.at(-1)).toMatchObject({ state: "confirmed" });
    const proxied = k.requests.filter((r) => r.path.includes("/proxy/"));
    // The status port is sent as its number: the API server dials podIP:port as given.
    expect(new Set(proxied.map((r) => decodeURIComponent(r.path)))).toEqual(
      new Set([
        "/api/v1/namespaces/kong/pods/gw-0:8100/proxy/status",
        "/api/v1/namespaces/kong/pods/gw-1:8100/proxy/status",
      ]),
    );
    for (const pod of k.pods)
      await expect(fetch(`http://${pod.ip}:${pod.statusPort}/status`)).rejects.toThrow();
  });

  it("a pod the API server cannot reach (503) is a lagging pod, named with the API server's message", async () => {
    const k = await fake({ proxyPods: [{ name: "gw-0" }, { name: "gw-1" }] });
    const t = target(k);
    const { since } = await applied(t, next);
    k.faults.add({
      method: "GET",
      path: "/pods/gw-1",
      times: Infinity,
      fault: {
        kind: "status",
        status: 503,
        body: {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: "error trying to reach service: dial tcp 127.80.0.2:8100: i/o timeout",
          reason: "ServiceUnavailable",
          code: 503,
        },
      },
    });
    const seen = await pollConfirm(t, next, since, (c) => c.state !== "pending", 600);
    expect(seen.at(-1)).toMatchObject({ state: "pending", lagging: ["gw-1"] });
    expect((seen.at(-1) as { detail: string }).detail).toContain(
      "gw-1: status API through the API server: API server answered 503: error trying to reach service",
    );
    // One attempt per look: the poll is the retry.
    expect(k.requests.filter((r) => r.fault).length).toBe(seen.length);
    k.faults.clear();
    expect(await t.confirm({ kid: next.kid }, since)).toMatchObject({ state: "confirmed" });
  });

  it("without get on pods/proxy the write is refused before it happens (at the baseline), naming the rule", async () => {
    const k = await fake();
    const e = await failure(applied(target(k, NO_PROXY_TOKEN), next));
    expect(e.code).toBe("KONG_K8S_FORBIDDEN");
    expect(e.message).toContain("pods/proxy");
    expect(e.hint).toContain('{ apiGroups: [""], resources: ["pods/proxy"], verbs: ["get"] }');
    expect(e.hint).toContain("Role in namespace kong");
    expect(patches(k)).toHaveLength(0);
    expectClean(e);
  });

  it("statusAccess direct: reads each pod's /status by pod IP, for a rotator inside the cluster network", async () => {
    const k = await fake({ reachablePods: true, proxyPods: [{ name: "gw-0" }, { name: "gw-1" }] });
    // No pods/proxy needed.
    const t = target(k, NO_PROXY_TOKEN, { statusAccess: "direct" });
    const [held, caughtUp] = await lagThenCatchUp(k, t, next, "gw-1");
    expect(held).toMatchObject({ state: "pending", lagging: ["gw-1"] });
    expect(caughtUp).toMatchObject({ state: "confirmed" });
    expect(k.requests.filter((r) => r.path.includes("/proxy"))).toEqual([]);
  });

  it("statusAccess direct from outside the cluster network: the pods stay pending, named", async () => {
    const k = await fake({ proxyPods: [{ name: "gw-0" }] });
    const t = target(k, ROTATOR_TOKEN, { statusAccess: "direct" });
    const { since } = await applied(t, next);
    const c = await t.confirm({ kid: next.kid }, since);
    expect(c).toMatchObject({ state: "pending", lagging: ["gw-0"] });
    expect((c as { detail: string }).detail).toContain("status API unreachable");
  });

  it("with proxyAdmin, each pod must also hold our kid in its Admin API", async () => {
    // proxyAdmin reads each pod's Admin API by pod IP: the rotator is in the cluster network.
    const k = await fake({ reachablePods: true, proxyPods: [{ name: "gw-0" }, { name: "gw-1" }] });
    const caFile = join(dir, "local-ca.pem");
    writeFileSync(caFile, tls.ca);
    const t = target(k, ROTATOR_TOKEN, { proxyAdmin: { caFile } });
    const { since } = await applied(t, next);
    const pod = k.pods[1];
    // gw-1's Admin API still shows the old key although its hash moved (a stale worker, say).
    pod?.admin?.faults.add({
      path: "/plugins",
      times: Infinity,
      fault: {
        kind: "status",
        status: 200,
        body: {
          data: [
            {
              id: "p-1",
              name: "openid-connect",
              config: {
                client_id: ["client-a", CLIENT],
                client_auth: ["private_key_jwt"],
                client_jwk: [otherA, oldOurs],
              },
            },
          ],
          next: null,
        },
      },
    });
    const seen = await pollConfirm(t, next, since, (c) => c.state !== "pending", 1000);
    expect(seen.at(-1)).toMatchObject({ state: "pending", lagging: ["gw-1"] });
    expect((seen.at(-1) as { detail: string }).detail).toContain("still holds kid kid-old");
    pod?.admin?.faults.clear();
    expect(await t.confirm({ kid: next.kid }, since)).toMatchObject({ state: "confirmed" });
    expect(k.pods[0]?.admin?.requests.map((r) => r.path)).toContainEqual(
      expect.stringMatching(/^\/plugins\?tags=k8s-uid%3A/),
    );
  });
});
