/**
 * 2. Faults per adapter. Each adapter is built as production builds it (same factory, same SDK/HTTP
 * client) over real HTTPS to the fakes, with a small retry policy and a clock that records every wait:
 * a 429's Retry-After must be waited exactly; 5xx, resets and timeouts back off exponentially with
 * jitter under the cap; a persistent failure gives up after maxAttempts with a typed error.
 * Then, through the service layer (what the timer runs), a persistent failure of each dependency during a
 * rotation must raise exactly one alert over repeated runs (deduplicated), make no unsafe transition, and
 * resolve once the dependency recovers.
 */
import { serviceCredential } from "../../src/app/identity.js";
import { rotate } from "../../src/app/service.js";
import { createKeyVaultStore } from "../../src/adapters/keyvault/store.js";
import { createGraphDirectory } from "../../src/adapters/idp/entra/graph.js";
import { createTokenEndpoint } from "../../src/adapters/idp/entra/token-endpoint.js";
import { createKongTarget } from "../../src/adapters/kong/admin/target.js";
import { createWebhookSink } from "../../src/adapters/alerts/webhook-sink.js";
import { toRotatorError } from "../../src/errors.js";
import type { RetryPolicy } from "../../src/http/retry.js";
import type { Fault, FaultInjector, RunningServer } from "../../stack/common/server.js";
import { TENANT_ID } from "../../stack/stack.js";
import { addLane, type Lane } from "../lib/lanes.js";
import type { LaneState } from "../lib/interceptor.js";
import { endState, ourKid } from "../lib/world.js";
import { recordingClock, type ChaosStack } from "../lib/stack.js";
import type { Violation } from "../../src/engine/invariants.js";

export const FAULT_RETRY: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 200,
  maxDelayMs: 800,
  attemptTimeoutMs: 600,
  maxRetryAfterMs: 10_000,
};

export interface AdapterFaultResult {
  adapter: string;
  fault: string;
  injected: number;
  retries: number;
  waitsMs: number[];
  outcome: string;
  /** What the policy requires for this fault, checked. */
  expected: string;
  ok: boolean;
}

export interface PersistentResult {
  dependency: string;
  failingRuns: number;
  code: string;
  alertsFiring: number;
  reminders: number;
  resolved: number;
  kongKeyUnchanged: boolean;
  unsafeTransitions: number;
  /** Outcome of the first run after the dependency recovered. */
  recovered: string;
  converged: boolean;
  violations: (Violation & { at: string })[];
}

interface FaultCase {
  name: string;
  fault: Fault;
  times: number;
  expect: (waits: number[], outcome: string) => boolean;
  expected: string;
}

const jitterOk = (waits: number[]) =>
  waits.every(
    (w, i) =>
      w <= FAULT_RETRY.maxDelayMs &&
      w >= Math.min(FAULT_RETRY.maxDelayMs, FAULT_RETRY.baseDelayMs * 2 ** i) / 2,
  );

const CASES: FaultCase[] = [
  {
    name: "429 Retry-After: 2",
    fault: { kind: "status", status: 429, retryAfter: "2" },
    times: 2,
    expected: "waits 2000, 2000; ok",
    expect: (w, o) => o === "ok" && w.length === 2 && w.every((x) => x === 2000),
  },
  {
    name: "503",
    fault: { kind: "status", status: 503 },
    times: 2,
    expected: "2 capped backoffs; ok",
    expect: (w, o) => o === "ok" && w.length === 2 && jitterOk(w),
  },
  {
    name: "500",
    fault: { kind: "status", status: 500 },
    times: 2,
    expected: "2 capped backoffs; ok",
    expect: (w, o) => o === "ok" && w.length === 2 && jitterOk(w),
  },
  {
    name: "connection reset",
    fault: { kind: "reset" },
    times: 2,
    expected: "2 capped backoffs; ok",
    expect: (w, o) => o === "ok" && w.length === 2 && jitterOk(w),
  },
  {
    name: "timeout (hang)",
    fault: { kind: "hang" },
    times: 1,
    expected: "1 backoff after the attempt timeout; ok",
    expect: (w, o) => o === "ok" && w.length === 1 && jitterOk(w),
  },
  {
    name: "persistent 503",
    fault: { kind: "status", status: 503 },
    times: Infinity,
    expected: `${FAULT_RETRY.maxAttempts - 1} retries, then a typed error`,
    expect: (w, o) => o !== "ok" && w.length === FAULT_RETRY.maxAttempts - 1 && jitterOk(w),
  },
];

interface AdapterUnderTest {
  adapter: string;
  server: RunningServer;
  method: string;
  path: string | RegExp;
  /** One call through the adapter with the given clock. */
  call: (clock: ReturnType<typeof recordingClock>) => Promise<unknown>;
}

async function bootstrapped(cs: ChaosStack, prefix: string): Promise<{ lane: Lane; st: LaneState }> {
  const lane = addLane(cs.stack, prefix);
  const st = cs.interceptor.track(lane);
  const r = await rotate(cs.runtime(lane, { clock: recordingClock() }), lane.name, { trigger: "cli" });
  if (r.kind !== "done" || r.report.outcome !== "ok") throw new Error(`could not bootstrap ${lane.name}`);
  return { lane, st };
}

export async function adapterFaults(cs: ChaosStack): Promise<AdapterFaultResult[]> {
  const { stack } = cs;
  cs.setPropagation(() => 300);
  const { lane } = await bootstrapped(cs, "faults");
  const credential = serviceCredential(stack.entra.authorityHost, stack.env);
  const version = stack.keyVault.versions(lane.certName).find((v) => v.tags["rotator-phase"] === "active")!;
  const kvWith = (clock: ReturnType<typeof recordingClock>) =>
    createKeyVaultStore({ vaultUrl: stack.keyVault.url, credential, retry: FAULT_RETRY, clock });
  const target = { name: "local", adminUrl: stack.kong.url, pluginId: lane.pluginId } as Parameters<
    typeof createKongTarget
  >[0]["target"];
  const adapters: AdapterUnderTest[] = [
    {
      adapter: "Key Vault",
      server: stack.keyVault,
      method: "GET",
      path: `/certificates/${lane.certName}/versions`,
      call: (clock) => kvWith(clock).listVersions(lane.certName),
    },
    {
      adapter: "Graph",
      server: stack.entra.graph,
      method: "GET",
      path: "/applications",
      call: (clock) =>
        createGraphDirectory({
          credential,
          graphBaseUrl: stack.entra.graphBaseUrl,
          retry: FAULT_RETRY,
          clock,
        }).getApplication(lane.appId),
    },
    {
      adapter: "Entra token endpoint",
      server: stack.entra.login,
      method: "POST",
      path: "/oauth2/v2.0/token",
      call: (clock) =>
        createTokenEndpoint({
          authorityHost: stack.entra.authorityHost,
          retry: FAULT_RETRY,
          clock,
        }).tryClientAssertion(
          TENANT_ID,
          lane.appId,
          kvWith(recordingClock()).signer(lane.certName, version.version, { x5t: version.x5t! }),
          "PS256",
        ),
    },
    {
      adapter: "Kong Admin API",
      server: stack.kong,
      method: "GET",
      path: `/plugins`,
      call: (clock) =>
        createKongTarget({
          target,
          clientId: lane.appId,
          idp: "entra",
          adminToken: stack.env.KONG_ADMIN_TOKEN!,
          retry: FAULT_RETRY,
          clock,
        }).inspect(),
    },
  ];
  // Warm up: identity tokens are cached by the credential, so the faults below hit the call under test.
  for (const a of adapters) await a.call(recordingClock());

  const results: AdapterFaultResult[] = [];
  for (const a of adapters)
    for (const c of CASES) {
      const clock = recordingClock(5);
      a.server.faults.clear();
      a.server.faults.add({ method: a.method, path: a.path, fault: c.fault, times: c.times });
      const injectedBefore = countFaults(a);
      let outcome = "ok";
      try {
        const r = await a.call(clock);
        if (r && typeof r === "object" && "ok" in r && r.ok === false)
          outcome = `refused ${String((r as { code?: unknown }).code ?? "")}`;
      } catch (e) {
        outcome = toRotatorError(e).code;
      }
      a.server.faults.clear();
      results.push({
        adapter: a.adapter,
        fault: c.name,
        injected: countFaults(a) - injectedBefore,
        retries: clock.slept.length,
        waitsMs: clock.slept,
        outcome,
        expected: c.expected,
        ok: c.expect(clock.slept, outcome),
      });
    }

  // Alert webhooks: the receiver answers 429/503 with Retry-After: 1 (as Slack and Teams do) and 500 without.
  for (const [name, status, times] of [
    ["429 Retry-After: 1", 429, 2],
    ["503 Retry-After: 1", 503, 2],
    ["500", 500, 2],
    ["persistent 500", 500, FAULT_RETRY.maxAttempts],
  ] as const) {
    const clock = recordingClock(5);
    stack.webhook.failNext(times, status);
    const sink = createWebhookSink({
      url: `${stack.webhook.url}/alerts`,
      format: "generic",
      clock,
      retryPolicy: FAULT_RETRY,
    });
    let outcome = "ok";
    try {
      await sink.send({
        event: "KeyRotationFailed",
        status: "firing",
        credential: "chaos-webhook-check",
        code: "CHAOS",
        message: "webhook fault check",
        time: new Date().toISOString(),
      });
    } catch (e) {
      outcome = toRotatorError(e).code;
    }
    const persistent = times >= FAULT_RETRY.maxAttempts;
    const ok = persistent
      ? outcome !== "ok" && clock.slept.length === FAULT_RETRY.maxAttempts - 1
      : outcome === "ok" &&
        clock.slept.length === 2 &&
        (status === 500 ? jitterOk(clock.slept) : clock.slept.every((w) => w === 1000));
    results.push({
      adapter: "Alert webhook",
      fault: name,
      injected: persistent ? FAULT_RETRY.maxAttempts : times,
      retries: clock.slept.length,
      waitsMs: clock.slept,
      outcome,
      expected: persistent
        ? `${FAULT_RETRY.maxAttempts - 1} retries, then a typed error`
        : status === 500
          ? "2 capped backoffs; ok"
          : "waits 1000, 1000; ok",
      ok,
    });
  }
  return results;
}

const countFaults = (a: AdapterUnderTest) => a.server.requests.filter((r) => r.fault !== undefined).length;

/** Persistent failure of each dependency during a rotation, through the service layer. */
export async function persistentFailures(
  cs: ChaosStack,
  runs = 3,
  only?: RegExp,
): Promise<PersistentResult[]> {
  const { stack } = cs;
  cs.setPropagation(() => 300);
  const deps: {
    dependency: string;
    faults: FaultInjector;
    rule: (lane: Lane) => { method: string; path: string | RegExp };
  }[] = [
    {
      dependency: "Key Vault (create)",
      faults: stack.keyVault.faults,
      rule: (l) => ({ method: "POST", path: `/certificates/${l.certName}/create` }),
    },
    {
      dependency: "Graph (addKey)",
      faults: stack.entra.graph.faults,
      rule: (l) => ({ method: "POST", path: new RegExp(`${l.objectId}.*/addKey|${l.appId}.*/addKey`) }),
    },
    {
      dependency: "Entra token endpoint",
      faults: stack.entra.login.faults,
      rule: () => ({ method: "POST", path: "/oauth2/v2.0/token" }),
    },
    {
      dependency: "Kong Admin API (PATCH)",
      faults: stack.kong.faults,
      rule: (l) => ({ method: "PATCH", path: `/plugins/${l.pluginId}` }),
    },
  ];
  const results: PersistentResult[] = [];
  for (const d of deps.filter((x) => !only || only.test(x.dependency))) {
    const { lane, st } = await bootstrapped(cs, "persist");
    const rt = cs.runtime(lane, { clock: recordingClock() });
    const kidBefore = ourKid(stack, lane);
    const activeBefore = stack.keyVault
      .versions(lane.certName)
      .find((v) => v.tags["rotator-phase"] === "active")?.version;
    d.faults.add({ ...d.rule(lane), fault: { kind: "status", status: 503 }, times: Infinity });
    let code = "";
    for (let i = 0; i < runs; i++) {
      const r = await rotate(rt, lane.name, {
        trigger: "timer",
        force: true,
        reason: "chaos persistent failure",
      });
      code =
        r.kind === "done"
          ? (r.report.error?.code ?? r.report.outcome)
          : r.kind === "error"
            ? r.error.code
            : r.kind;
      cs.interceptor.check(st, `after failing run ${i + 1} (${d.dependency})`, true);
    }
    const kongKeyUnchanged = ourKid(stack, lane) === kidBefore;
    const activeAfter = stack.keyVault
      .versions(lane.certName)
      .filter((v) => v.tags["rotator-phase"] === "active")
      .map((v) => v.version);
    const unsafeTransitions =
      (kongKeyUnchanged ? 0 : 1) + (activeAfter.length === 1 && activeAfter[0] === activeBefore ? 0 : 1);
    d.faults.clear();
    // The next timer invocation, in a fresh runtime: MSAL keeps refusing token requests for a while after
    // a 5xx/429 from the token endpoint (its server throttling cache), within the process that saw them.
    const recovered = await rotate(cs.runtime(lane, { clock: recordingClock() }), lane.name, {
      trigger: "timer",
    });
    const alerts = stack.webhook.received
      .map((w) => w.body as { event?: string; status?: string; credential?: string })
      .filter((b) => b.credential === lane.name && b.event === "KeyRotationFailed");
    results.push({
      dependency: d.dependency,
      failingRuns: runs,
      code,
      alertsFiring: alerts.filter((a) => a.status === "firing").length,
      reminders: alerts.filter((a) => a.status === "reminder").length,
      resolved: alerts.filter((a) => a.status === "resolved").length,
      kongKeyUnchanged,
      unsafeTransitions,
      recovered:
        recovered.kind === "done"
          ? `${recovered.report.outcome}${recovered.report.error ? ` ${recovered.report.error.code}` : ""}`
          : recovered.kind,
      converged:
        recovered.kind === "done" &&
        (recovered.report.outcome === "ok" || recovered.report.outcome === "noop") &&
        / kong=active /.test(endState(stack, lane)),
      violations: st.violations,
    });
  }
  return results;
}
