/**
 * 4. The gateway login probe under churn. Rotations run back to back on one credential through the
 * service layer (what the timer and the HTTP trigger run), with random faults injected into Key Vault,
 * Graph, the token endpoint and Kong (429 with Retry-After, 500, 503, connection resets), while the Kong
 * fake's login probe logs in continuously the way the openid-connect plugin does, with whatever key Kong
 * holds for our client. Every new key's Entra propagation delay is drawn at random and recorded.
 * Waits (retry backoffs, verification polls) go through a recording clock capped at 50 ms of real time;
 * propagation itself is real time, so a key activated before it propagated would fail the probe.
 */
import { rotate } from "../../src/app/service.js";
import type { Fault, RunningServer } from "../../stack/common/server.js";
import { addLane } from "../lib/lanes.js";
import { endState } from "../lib/world.js";
import { recordingClock, sleep, type ChaosStack } from "../lib/stack.js";
import type { Violation } from "../../src/engine/invariants.js";

export interface ChurnReport {
  rotations: number;
  runs: number;
  failedRuns: number;
  faultsInjected: number;
  faultsHit: number;
  loginsAttempted: number;
  loginsFailed: number;
  /** Probe requests answered by an injected fault (not a key problem). */
  loginsHitByInjectedFault: number;
  failures: string[];
  delaysMs: number[];
  retired: number;
  endState: string;
  violations: (Violation & { at: string })[];
  ms: number;
}

export async function loginUnderChurn(
  cs: ChaosStack,
  opts: { rotations: number; seed?: number; delayMs?: [number, number] },
): Promise<ChurnReport> {
  const { stack } = cs;
  let seed = opts.seed ?? 20260422;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const [lo, hi] = opts.delayMs ?? [100, 2000];
  const lane = addLane(stack, "churn");
  const st = cs.interceptor.track(lane);
  const rt = cs.runtime(lane, { clock: recordingClock(50) });
  const delaysFrom = cs.delays.length;
  cs.setPropagation(() => Math.round(lo + random() * (hi - lo)));
  const boot = await rotate(rt, lane.name, { trigger: "timer" });
  if (boot.kind !== "done" || boot.report.outcome !== "ok") throw new Error("churn lane did not bootstrap");

  // A probe request that itself hit a fault injected into the token endpoint (429/5xx/reset) says
  // nothing about the keys; every other failure (AADSTS700027 = key not registered or not propagated, no
  // key in Kong, ...) is a failed login.
  const probe = { attempts: 0, failures: [] as string[], injected: 0 };
  let probing = true;
  const loop = (async () => {
    while (probing) {
      const r = await stack.kong.probe(lane.pluginId, lane.appId);
      probe.attempts++;
      if (
        !r.ok &&
        (r.status === 429 || r.status >= 500 || /^token request failed/.test(r.error ?? "")) &&
        !/AADSTS/.test(r.error ?? "")
      )
        probe.injected++;
      else if (!r.ok) probe.failures.push(`${r.status} ${r.error ?? ""}`.slice(0, 160));
      await sleep(25);
    }
  })();

  const targets: { server: RunningServer; method: string; path: string | RegExp }[] = [
    { server: stack.keyVault, method: "PATCH", path: `/certificates/${lane.certName}/` },
    { server: stack.keyVault, method: "POST", path: `/certificates/${lane.certName}/create` },
    { server: stack.entra.graph, method: "POST", path: /addKey|removeKey/ },
    { server: stack.entra.login, method: "POST", path: "/oauth2/v2.0/token" },
    { server: stack.kong, method: "PATCH", path: `/plugins/${lane.pluginId}` },
    { server: stack.kong, method: "GET", path: "/plugins" },
  ];
  const faults: Fault[] = [
    { kind: "status", status: 429, retryAfter: "1" },
    { kind: "status", status: 503 },
    { kind: "status", status: 500 },
    { kind: "reset" },
  ];
  const servers = [...new Set(targets.map((t) => t.server.requests))];
  const faulted = () =>
    servers.reduce((n, requests) => n + requests.filter((r) => r.fault !== undefined).length, 0);
  const hitBefore = faulted();
  let injected = 0;
  let rotations = 0;
  let runs = 0;
  let failedRuns = 0;
  const t0 = performance.now();
  while (rotations < opts.rotations && runs < opts.rotations * 3) {
    const n = Math.floor(random() * 3);
    for (let i = 0; i < n; i++) {
      const t = targets[Math.floor(random() * targets.length)]!;
      t.server.faults.add({
        method: t.method,
        path: t.path,
        fault: faults[Math.floor(random() * faults.length)]!,
        times: 1 + Math.floor(random() * 2),
      });
      injected++;
    }
    runs++;
    const r = await rotate(rt, lane.name, { trigger: "http", force: true, reason: "chaos churn" });
    for (const t of targets) t.server.faults.clear();
    if (r.kind === "done" && r.report.steps.some((s) => s.action === "activate" && s.status === "done"))
      rotations++;
    if (r.kind !== "done" || r.report.outcome === "failed" || r.report.outcome === "stuck") failedRuns++;
  }
  // Let the last overlap pass and retire what is due, with the probe still running.
  const due = stack.keyVault
    .versions(lane.certName)
    .map((v) => Date.parse(v.tags["rotator-retireAfter"] ?? ""))
    .filter((x) => !Number.isNaN(x));
  await sleep(Math.max(0, ...due.map((x) => x - Date.now())) + 300);
  await rotate(rt, lane.name, { trigger: "timer" });
  probing = false;
  await loop;
  cs.interceptor.check(st, "after the churn", true);
  return {
    rotations,
    runs,
    failedRuns,
    faultsInjected: injected,
    faultsHit: faulted() - hitBefore,
    loginsAttempted: probe.attempts,
    loginsFailed: probe.failures.length,
    loginsHitByInjectedFault: probe.injected,
    failures: probe.failures.slice(0, 5),
    delaysMs: cs.delays.slice(delaysFrom),
    retired: stack.keyVault.versions(lane.certName).filter((v) => v.tags["rotator-phase"] === "retired")
      .length,
    endState: endState(stack, lane),
    violations: st.violations,
    ms: performance.now() - t0,
  };
}
