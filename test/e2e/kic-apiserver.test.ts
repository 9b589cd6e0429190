/**
 * Kong on Kubernetes (KIC) end to end on the local stack, with the rotator outside the cluster network: the
 * proxy pods' IPs are loopback addresses where nothing listens, as pod IPs are unreachable from Azure
 * Functions (kubenet and overlay CNIs, private clusters). Issue 17, item 1.
 * - Two rotations with 0 failed logins, every proxy pod's Status API read through the API server's pod proxy
 *   subresource; `doctor`'s access review lists `get pods/proxy`.
 * - Without `get` on `pods/proxy`, doctor fails naming the rule, and a rotation stops before any write, with an
 *   alert; the old key keeps working; once granted, the next run completes.
 * - `statusAccess: direct` (opt-in, a rotator inside the cluster network) still confirms by pod IP when the pods
 *   are reachable.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREDENTIAL, KIC, type LocalStack } from "../../stack/stack.js";
import type { RbacRule } from "../../stack/kubernetes/fake.js";
import { runCli } from "../support/cli.js";
import { probeLoop, startE2eStack } from "../support/e2e.js";

const ROTATOR = "system:serviceaccount:kong:key-rotator";
/** The Role and ClusterRole docs/kong-kubernetes.md asks for (the stack's). */
const ROLE: RbacRule[] = [
  {
    verbs: ["get", "patch"],
    resources: ["secrets"],
    resourceNames: [KIC.secret],
    namespaces: [KIC.namespace],
  },
  { verbs: ["list"], resources: ["pods", "events", "kongplugins"], namespaces: [KIC.namespace] },
  { verbs: ["get"], resources: ["pods/proxy"], namespaces: [KIC.namespace] },
  { verbs: ["list"], resources: ["kongvaults"] },
];

const checks = (out: string) =>
  (JSON.parse(out) as { checks: { code: string; status: string; message: string; hint?: string }[] }).checks;

describe("KIC with unreachable pod IPs: confirmation through the API server", () => {
  let stack: LocalStack;
  let configPath: string;
  const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);
  const k8s = () => stack.kubernetes!;
  const secretWrites = () =>
    k8s().requests.filter((r) => r.method === "PATCH" && r.path.includes("/secrets/")).length;

  beforeAll(async () => {
    ({ stack, configPath } = await startE2eStack({ kongMode: "kubernetes" }));
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("the pods' IPs cannot be reached from here", async () => {
    const pods = k8s().pods;
    expect(pods.length).toBeGreaterThan(0);
    for (const pod of pods) {
      expect(pod.ip).toMatch(/^127\./);
      await expect(
        fetch(`http://${pod.ip}:${pod.statusPort}/status`, { signal: AbortSignal.timeout(2000) }),
      ).rejects.toThrow();
    }
  });

  it("rotates twice with 0 failed logins, reading every proxy's /status through the pod proxy subresource", async () => {
    const boot = await cli("rotate", CREDENTIAL);
    expect(boot.code, boot.out + boot.err).toBe(0);
    const probes = probeLoop(() => stack.probe(), 200);
    try {
      for (let i = 0; i < 2; i++) {
        const r = await cli("rotate", CREDENTIAL, "--force", "--reason", `kic apiserver ${i}`);
        expect(r.code, r.out + r.err).toBe(0);
      }
    } finally {
      expect(await probes.stop()).toEqual([]);
    }
    const live = Object.entries(stack.gatewayKids()).filter(([name]) => !name.includes("retired"));
    expect(new Set(live.map(([, kid]) => kid)).size).toBe(1);
    const proxied = new Set(
      k8s()
        .requests.filter((r) => r.path.includes("/proxy/"))
        .map((r) => decodeURIComponent(r.path)),
    );
    for (const pod of ["dp-1", "dp-2"])
      expect(proxied).toContain(`/api/v1/namespaces/kong/pods/${pod}:8100/proxy/status`);
  });

  it("doctor's access review includes get on pods/proxy", async () => {
    const r = await cli("doctor", "--json");
    const access = checks(r.out).find((c) => c.code === "KONG_ACCESS");
    expect(access?.status).toBe("pass");
    expect(access?.message).toContain("get pods/proxy in namespace kong");
    expect(checks(r.out).find((c) => c.code === "KONG_GATEWAYS")?.status).toBe("pass");
  });

  it("without get on pods/proxy: doctor fails naming the rule; a rotation writes nothing and alerts; the old key works", async () => {
    k8s().setRules(
      ROTATOR,
      ROLE.filter((r) => !r.resources.includes("pods/proxy")),
    );
    try {
      const doctor = await cli("doctor", "--json");
      const denied = checks(doctor.out).find((c) => c.code === "KONG_ACCESS_DENIED");
      expect(denied?.status).toBe("fail");
      expect(denied?.message).toContain("get pods/proxy in namespace kong");
      expect(denied?.hint).toContain('{ apiGroups: [""], resources: ["pods/proxy"], verbs: ["get"] }');

      const kid = stack.gatewayKids()["dp-1"];
      const writes = secretWrites();
      const alerts = stack.webhook.received.length;
      const r = await cli("rotate", CREDENTIAL, "--force", "--reason", "no pods/proxy");
      expect(r.code).not.toBe(0);
      expect(r.out + r.err).toContain("KONG_K8S_FORBIDDEN");
      expect(r.out + r.err).toContain("pods/proxy");
      expect(secretWrites()).toBe(writes);
      expect(stack.gatewayKids()["dp-1"]).toBe(kid);
      expect((await stack.probe()).ok).toBe(true);
      const fired = stack.webhook.received.slice(alerts).map((w) => JSON.stringify(w.body));
      expect(fired.some((a) => a.includes("KeyRotationFailed") && a.includes("KONG_K8S_FORBIDDEN"))).toBe(
        true,
      );
    } finally {
      k8s().setRules(ROTATOR, ROLE);
    }
    const again = await cli("run");
    expect(again.code, again.out + again.err).toBe(0);
    expect((await stack.probe()).ok).toBe(true);
  });
});

describe("KIC with statusAccess: direct, for a rotator inside the cluster network", () => {
  let stack: LocalStack;
  let configPath: string;

  beforeAll(async () => {
    ({ stack, configPath } = await startE2eStack({ kongMode: "kubernetes", reachablePods: true }));
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("confirms by pod IP with 0 failed logins, and never asks the API server's pod proxy", async () => {
    const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);
    expect(stack.configYaml()).toContain("statusAccess: direct");
    const boot = await cli("rotate", CREDENTIAL);
    expect(boot.code, boot.out + boot.err).toBe(0);
    const probes = probeLoop(() => stack.probe(), 200);
    try {
      const r = await cli("rotate", CREDENTIAL, "--force", "--reason", "kic direct");
      expect(r.code, r.out + r.err).toBe(0);
    } finally {
      expect(await probes.stop()).toEqual([]);
    }
    expect(stack.kubernetes!.requests.filter((r) => r.path.includes("/proxy"))).toEqual([]);
    const doctor = await cli("doctor", "--json");
    expect(checks(doctor.out).find((c) => c.code === "KONG_ACCESS")?.message).not.toContain("pods/proxy");
  });
});
