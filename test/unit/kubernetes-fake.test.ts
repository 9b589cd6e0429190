/**
 * The Kubernetes fake answers @kubernetes/client-node the way the API server does: the three PATCH content
 * types, Status bodies, resourceVersion preconditions, selectors, RBAC denials, and client-go's event spam
 * filter on KIC's events.
 */
import { resolve } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ApiException,
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { ensureCa, issueServerTls, type ServerTls } from "../../stack/common/tls.js";
import { startKubernetesFake, type KubernetesFake } from "../../stack/kubernetes/fake.js";
import { startHttpsServer } from "../../stack/common/server.js";
import { generateRsaJwk } from "../../stack/kong/seed.js";
import { createLocalJWKSet, jwtVerify, type JWK } from "jose";

const NS = "kong";
const TOKEN = "k8s-fake-test-token-0123456789";
const LIMITED = "k8s-fake-limited-token-0123456789";
const NAMESPACED = "k8s-fake-namespaced-token-0123456789";
let tls: ServerTls;
let k8s: KubernetesFake | undefined;

beforeAll(async () => {
  tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
});

afterEach(async () => {
  await k8s?.close();
  k8s = undefined;
});

async function start(): Promise<KubernetesFake> {
  k8s = await startKubernetesFake({
    tls,
    namespace: NS,
    proxySyncMs: 60_000,
    proxyPods: [{ name: "gw-0" }, { name: "gw-1", rejects: true }],
    tokens: {
      [TOKEN]: { user: "admin", rules: [{ verbs: ["*"], resources: ["*"] }] },
      [LIMITED]: {
        user: "system:serviceaccount:kong:limited",
        rules: [{ verbs: ["get"], resources: ["secrets"] }],
      },
      [NAMESPACED]: {
        user: "system:serviceaccount:kong:namespaced",
        rules: [{ verbs: ["list", "get"], resources: ["kongvaults"], namespaces: [NS] }],
      },
    },
  });
  k8s.addSecret(NS, "s", { a: "one", b: "two" });
  return k8s;
}

function kubeConfig(k: KubernetesFake, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "fake", server: k.url, caData: Buffer.from(tls.ca).toString("base64") }],
    users: [{ name: "u", token }],
    contexts: [{ name: "fake", cluster: "fake", user: "u" }],
    currentContext: "fake",
  });
  return kc;
}

function api(k: KubernetesFake, token = TOKEN): CoreV1Api {
  return kubeConfig(k, token).makeApiClient(CoreV1Api);
}

async function statusOf(p: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiException) {
      const err = e as ApiException<unknown>;
      // client-node drops the body of a 401 (the only status its generated code declares).
      const body = typeof err.body === "string" ? (JSON.parse(err.body) as Record<string, unknown>) : {};
      return { code: err.code, body };
    }
    throw e;
  }
  throw new Error("expected an ApiException");
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("kubernetes fake: Secrets", () => {
  it("JSON patch (client-node's default content type), strategic merge and merge patch", async () => {
    const k = await start();
    const core = api(k);
    const rv0 = k.getSecret(NS, "s")?.metadata.resourceVersion;
    const a = await core.patchNamespacedSecret({
      name: "s",
      namespace: NS,
      body: [{ op: "replace", path: "/data/a", value: b64("uno") }],
    });
    expect(a.metadata?.resourceVersion).not.toBe(rv0);
    expect(k.secretValue(NS, "s", "a")).toBe("uno");
    await core.patchNamespacedSecret(
      { name: "s", namespace: NS, body: { metadata: { labels: { x: "1" } }, stringData: { c: "three" } } },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    );
    await core.patchNamespacedSecret(
      { name: "s", namespace: NS, body: { data: { b: null } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const s = await core.readNamespacedSecret({ name: "s", namespace: NS });
    expect(s.metadata?.labels).toEqual({ x: "1" });
    expect(Object.keys(s.data ?? {}).sort()).toEqual(["a", "c"]);
    expect(s.stringData).toBeUndefined();
  });

  it("Status bodies: 404, 409 on a stale resourceVersion, 422 on a failed JSON-patch test, 415", async () => {
    const k = await start();
    const core = api(k);
    expect(await statusOf(core.readNamespacedSecret({ name: "nope", namespace: NS }))).toEqual({
      code: 404,
      body: {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: 'secrets "nope" not found',
        reason: "NotFound",
        details: { name: "nope", kind: "secrets" },
        code: 404,
      },
    });
    const stale = await statusOf(
      core.patchNamespacedSecret(
        { name: "s", namespace: NS, body: { metadata: { resourceVersion: "1" }, data: { a: b64("x") } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      ),
    );
    expect(stale.code).toBe(409);
    expect(stale.body).toMatchObject({ reason: "Conflict", status: "Failure" });
    expect(String(stale.body.message)).toContain("the object has been modified");
    const test = await statusOf(
      core.patchNamespacedSecret({
        name: "s",
        namespace: NS,
        body: [{ op: "test", path: "/data/a", value: "nope" }],
      }),
    );
    expect(test.code).toBe(422);
    const plain = await statusOf(
      core.patchNamespacedSecret(
        { name: "s", namespace: NS, body: {} },
        setHeaderOptions("Content-Type", "application/json"),
      ),
    );
    expect(plain).toMatchObject({ code: 415, body: { reason: "UnsupportedMediaType" } });
    expect(k.secretValue(NS, "s", "a")).toBe("one");
  });

  it("RBAC: the API server's forbidden message, and 401 for an unknown token", async () => {
    const k = await start();
    const denied = await statusOf(api(k, LIMITED).listNamespacedPod({ namespace: NS }));
    expect(denied).toMatchObject({
      code: 403,
      body: {
        reason: "Forbidden",
        message:
          'pods is forbidden: User "system:serviceaccount:kong:limited" cannot list resource "pods" in API group "" in the namespace "kong"',
      },
    });
    const patch = await statusOf(
      api(k, LIMITED).patchNamespacedSecret({ name: "s", namespace: NS, body: [] }),
    );
    expect(String(patch.body.message)).toBe(
      'secrets "s" is forbidden: User "system:serviceaccount:kong:limited" cannot patch resource "secrets" in API group "" in the namespace "kong"',
    );
    expect(
      (await statusOf(api(k, "unknown-token-0123456789").listNamespacedPod({ namespace: NS }))).code,
    ).toBe(401);
  });
});

describe("kubernetes fake: KIC's Secret webhook", () => {
  it("KongVaults: cluster-scoped list and get, Programmed once KIC pushed them, 404, and no Role grants them", async () => {
    const k = await start();
    k.addKongVault({ name: "kv", backend: "azure", prefix: "azure-kv", config: { vault_uri: "https://v" } });
    const custom = kubeConfig(k, TOKEN).makeApiClient(CustomObjectsApi);
    const at = { group: "configuration.konghq.com", version: "v1alpha1", plural: "kongvaults" };
    const programmed = (o: unknown) =>
      (o as { status: { conditions: { type: string; status: string; reason: string }[] } }).status.conditions;
    const before = (await custom.getClusterCustomObject({ ...at, name: "kv" })) as Record<string, unknown>;
    expect(before).toMatchObject({
      apiVersion: "configuration.konghq.com/v1alpha1",
      kind: "KongVault",
      metadata: { name: "kv" },
      spec: { backend: "azure", prefix: "azure-kv", config: { vault_uri: "https://v" } },
    });
    expect(before.metadata).not.toHaveProperty("namespace");
    expect(programmed(before)).toEqual([expect.objectContaining({ status: "Unknown", reason: "Pending" })]);
    k.syncNow();
    const list = (await custom.listClusterCustomObject(at)) as { kind: string; items: unknown[] };
    expect(list.kind).toBe("KongVaultList");
    expect(programmed(list.items[0])).toEqual([
      expect.objectContaining({ type: "Programmed", status: "True", reason: "Programmed" }),
    ]);
    expect(await statusOf(custom.getClusterCustomObject({ ...at, name: "nope" }))).toMatchObject({
      code: 404,
      body: { reason: "NotFound", message: 'kongvaults.configuration.konghq.com "nope" not found' },
    });
    const namespaced = kubeConfig(k, NAMESPACED).makeApiClient(CustomObjectsApi);
    expect(await statusOf(namespaced.listClusterCustomObject(at))).toMatchObject({
      code: 403,
      body: {
        message:
          'kongvaults.configuration.konghq.com is forbidden: User "system:serviceaccount:kong:namespaced" cannot list resource "kongvaults" in API group "configuration.konghq.com" at the cluster scope',
      },
    });
  });

  it("checks only Secrets labelled konghq.com/validate or /credential (the chart's filter since 3.2)", async () => {
    const k = await start();
    k.addKongPlugin({
      name: "p",
      namespace: NS,
      plugin: "openid-connect",
      config: { client_id: ["c1"], client_auth: ["private_key_jwt"] },
      configPatches: [{ path: "/client_jwk", valueFrom: { secretKeyRef: { name: "s", key: "a" } } }],
    });
    const core = api(k);
    const merge = (body: unknown) =>
      core.patchNamespacedSecret(
        { name: "s", namespace: NS, body },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    await merge({ data: { a: b64("not json") } }); // unlabelled: not checked
    const denied = await statusOf(
      merge({ metadata: { labels: { "konghq.com/validate": "plugin" } }, data: { a: b64('[{"kid":"x"}]') } }),
    );
    expect(denied.code).toBe(403);
    expect(String(denied.body.message)).toMatch(
      /^admission webhook "secrets\.validation\.ingress-controller\.konghq\.com" denied the request: .*kty/,
    );
    expect(k.secretValue(NS, "s", "a")).toBe("not json");
  });
});

describe("kubernetes fake: Pods and Events", () => {
  it("label selectors; pod IPs are loopback addresses where nothing listens", async () => {
    const k = await start();
    const core = api(k);
    const pods = await core.listNamespacedPod({
      namespace: NS,
      labelSelector: "app.kubernetes.io/component=app,app.kubernetes.io/name notin (controller)",
    });
    expect(pods.items.map((p) => p.metadata?.name)).toEqual(["gw-0", "gw-1"]);
    const ip = pods.items[0]?.status?.podIP ?? "";
    expect(ip).toMatch(/^127\./);
    expect(ip).not.toBe("127.0.0.1");
    const port = pods.items[0]?.spec?.containers[0]?.ports?.find((p) => p.name === "status")?.containerPort;
    expect(port).toBe(8100);
    await expect(fetch(`http://${ip}:${port}/status`)).rejects.toThrow();
  });

  it("the pod proxy subresource reaches each proxy's Status API, with RBAC on pods/proxy", async () => {
    const k = await start();
    const status = (token: string, name: string, path = "status") =>
      api(k, token).connectGetNamespacedPodProxyWithPath({ name, namespace: NS, path });
    expect(await status(TOKEN, "gw-0:8100")).toMatchObject({ configuration_hash: "0".repeat(32) });
    expect(await status(TOKEN, "http:gw-1:8100")).toMatchObject({ configuration_hash: "0".repeat(32) });
    // Kong's own 404 for another path comes through.
    expect(await statusOf(status(TOKEN, "gw-0:8100", "nope"))).toMatchObject({ code: 404 });
    // A port nothing serves: the API server cannot reach it.
    const refused = await statusOf(status(TOKEN, "gw-0:8000"));
    expect(refused).toMatchObject({ code: 503, body: { reason: "ServiceUnavailable" } });
    expect(String(refused.body.message)).toMatch(
      /^error trying to reach service: dial tcp 127\.80\.0\.1:8000: /,
    );
    expect(await statusOf(status(TOKEN, "nope:8100"))).toMatchObject({ code: 404 });
    expect(await statusOf(status(TOKEN, "ftp:gw-0:8100"))).toMatchObject({ code: 400 });
    const denied = await statusOf(status(LIMITED, "gw-0:8100"));
    expect(denied.code).toBe(403);
    expect(denied.body.message).toBe(
      'pods "gw-0" is forbidden: User "system:serviceaccount:kong:limited" cannot get resource "pods/proxy" in API group "" in the namespace "kong"',
    );
    // SelfSubjectAccessReview names the subresource apart.
    const authz = kubeConfig(k, LIMITED).makeApiClient(AuthorizationV1Api);
    const review = await authz.createSelfSubjectAccessReview({
      body: {
        spec: { resourceAttributes: { verb: "get", resource: "pods", subresource: "proxy", namespace: NS } },
      },
    });
    expect(review.status?.allowed).toBe(false);
  });

  it("reachablePods: the pods advertise a loopback listener for their Status API", async () => {
    k8s = await startKubernetesFake({
      tls,
      namespace: NS,
      reachablePods: true,
      proxyPods: [{ name: "gw-0" }],
      tokens: { [TOKEN]: { user: "admin", rules: [{ verbs: ["*"], resources: ["*"] }] } },
    });
    const pods = await api(k8s).listNamespacedPod({
      namespace: NS,
      labelSelector: "app.kubernetes.io/name=gateway",
    });
    const pod = pods.items[0];
    const port = pod?.spec?.containers[0]?.ports?.find((p) => p.name === "status")?.containerPort;
    const res = await fetch(`http://${pod?.status?.podIP ?? ""}:${port}/status`);
    expect(((await res.json()) as Record<string, unknown>).configuration_hash).toBe("0".repeat(32));
  });

  it("field selectors; an unsupported field label is 400", async () => {
    const k = await start();
    const core = api(k);
    k.syncNow();
    const onKic = await core.listNamespacedEvent({
      namespace: NS,
      fieldSelector: `involvedObject.kind=Pod,involvedObject.name=${k.kicPod},reason=KongConfigurationApplyFailed`,
    });
    expect(onKic.items).toHaveLength(1);
    expect(onKic.items[0]?.type).toBe("Warning");
    const bad = await statusOf(core.listNamespacedEvent({ namespace: NS, fieldSelector: "spec.foo=bar" }));
    expect(bad).toMatchObject({ code: 400, body: { message: "field label not supported: spec.foo" } });
  });

  it("client-go's spam filter: 25 events per object, then silence; repeats update count", async () => {
    const k = await start();
    // A KIC retrying a config the second pod rejects, on every sync: 2 events (one per pod) per sync.
    for (let i = 0; i < 20; i++) k.syncNow();
    const total = k.events().reduce((n, e) => n + (e.count as number), 0);
    expect(total).toBe(25);
    // Two distinct messages (one per pod URL): two Event objects, deduplicated by count.
    expect(k.events()).toHaveLength(2);
  });

  it("each pod signs the login with the JWK it holds: old key until KIC pushes, the new one after", async () => {
    const k = await start();
    const oldKey = generateRsaJwk({ kid: "kid-old" });
    const newKey = generateRsaJwk({ kid: "kid-new" });
    const pub = (j: Record<string, string>): JWK => ({ kty: "RSA", n: j.n, e: j.e, kid: j.kid, alg: j.alg });
    // A token endpoint that accepts assertions signed by the key registered as current.
    let registered: JWK[] = [pub(oldKey)];
    const idp = await startHttpsServer("idp", tls, async (req) => {
      const assertion = new URLSearchParams(req.body.toString("utf8")).get("client_assertion") ?? "";
      try {
        await jwtVerify(assertion, createLocalJWKSet({ keys: registered }));
        return { status: 200, body: { access_token: "t", token_type: "Bearer", expires_in: 60 } };
      } catch {
        return { status: 401, body: { error: "invalid_client" } };
      }
    });
    try {
      k.addKongPlugin({
        name: "p",
        namespace: NS,
        plugin: "openid-connect",
        config: { client_id: ["c1"], client_auth: ["private_key_jwt"], token_endpoint: `${idp.url}/token` },
        configPatches: [{ path: "/client_jwk", valueFrom: { secretKeyRef: { name: "jwk", key: "v" } } }],
      });
      k.pods[1]?.setRejects(false);
      k.addSecret(NS, "jwk", { v: JSON.stringify([oldKey]) });
      k.syncNow();
      expect(await k.pods[0]?.probe("p", "c1")).toMatchObject({ ok: true, kid: "kid-old" });
      k.addSecret(NS, "jwk", { v: JSON.stringify([newKey]) });
      registered = [pub(newKey)];
      expect(await k.pods[0]?.probe("p", "c1")).toMatchObject({ ok: false, status: 401, kid: "kid-old" });
      k.syncNow();
      expect(await k.pods[0]?.probe("p", "c1")).toMatchObject({ ok: true, kid: "kid-new" });
    } finally {
      await idp.close();
    }
  });
});
