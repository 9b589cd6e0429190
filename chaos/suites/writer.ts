/**
 * 3. One writer. On one credential, manual triggers (HTTP requests in this process, CLI child processes)
 * and a timer run start at once: exactly one rotation may happen, the others answer 409 or busy. Then a
 * holder is SIGKILLed while it holds the lease and the takeover time is measured; optionally a run that
 * lasts longer than the lease shows that renewal keeps it.
 */
import { rotate } from "../../src/app/service.js";
import { setFunctionsRuntime } from "../../src/functions/runtime.js";
import { rotateHttpHandler } from "../../src/functions/rotateHttp.js";
import { rotationTimerHandler } from "../../src/functions/rotationTimer.js";
import { addLane } from "../lib/lanes.js";
import {
  captureResponse,
  context,
  httpRequest,
  principal,
  timer,
  withAppServiceAuth,
} from "../lib/functions.js";
import { sleep, type ChaosStack } from "../lib/stack.js";
import type { Violation } from "../../src/engine/invariants.js";

export interface WriterReport {
  httpTriggers: number;
  cliTriggers: number;
  timerRuns: number;
  rotations: number;
  http202: number;
  http409: number;
  cliBusy: number;
  /** What the timer run reported: busy, or noop when it took the lease first (not due, so no rotation). */
  timerOutcome: string;
  unexpected: string[];
  takeoverMs: number;
  /** How long the winner held the lease by its propagation delay, and the CLI start-up it was set from. */
  holdMs: number;
  cliStartupMs: number;
  renewal?: { runMs: number; competitorBusyAfterMs: number; competitorBusy: boolean; outcome: string };
  violations: (Violation & { at: string })[];
}

export async function oneWriter(
  cs: ChaosStack,
  opts: { http: number; cli: number; renewal: boolean; holdMs?: number },
): Promise<WriterReport> {
  const lane = addLane(cs.stack, "writer");
  const st = cs.interceptor.track(lane);
  const rt = cs.runtime(lane);
  cs.setPropagation(() => 400);
  const boot = await rotate(rt, lane.name, { trigger: "cli" });
  const unexpected: string[] = [];
  if (boot.kind !== "done" || boot.report.outcome !== "ok") unexpected.push(`bootstrap: ${boot.kind}`);

  // A propagation delay longer than every trigger's start-up keeps the winner busy while all others try.
  // A CLI process's start-up (Node, tsx, the CLI's imports) depends on the machine and its load: measured
  // here with as many processes as the test starts, and the hold set to twice the slowest, at least 5 s and
  // at most 25 s (the winner's verification gives up after CHAOS_POLICY.verifyTimeout, 30 s). A CLI that
  // started after the winner finished would rightly rotate again.
  const startup =
    opts.holdMs === undefined
      ? await Promise.all(Array.from({ length: opts.cli }, () => cs.cli(st, ["--help"])))
      : [];
  const cliStartupMs = Math.max(0, ...startup.map((r) => r.ms));
  const holdMs = opts.holdMs ?? Math.min(25_000, Math.max(5000, Math.ceil(2 * cliStartupMs)));
  cs.setPropagation(() => holdMs);
  setFunctionsRuntime(rt);
  const creates = () => st.mutations.filter((m) => m.label === "Key Vault create version").length;
  const before = creates();
  const timerLines: string[] = [];
  // Operators signed in by the platform, as deployed.
  const [httpRes, cliRes] = await withAppServiceAuth(async () => {
    const http = Array.from({ length: opts.http }, (_, i) =>
      rotateHttpHandler(
        httpRequest({
          method: "POST",
          path: `/api/credentials/${lane.name}/rotate`,
          params: { name: lane.name },
          body: JSON.stringify({ force: true, reason: `chaos trigger ${i}` }),
          headers: {
            "x-ms-client-principal": principal(`operator${i}@example.test`, ["Rotation.Operator"], `op${i}`),
          },
        }),
        context("rotateCredential", cs.capture),
      ).then((r) => captureResponse(r, cs.capture)),
    );
    const cli = Array.from({ length: opts.cli }, () =>
      cs.cli(st, ["rotate", lane.name, "--force", "--reason", "chaos concurrent cli"]),
    );
    const timerRun = rotationTimerHandler(timer, context("rotationTimer", cs.capture, timerLines));
    const [h, c] = await Promise.all([Promise.all(http), Promise.all(cli), timerRun]);
    return [h, c] as const;
  });
  const rotations = creates() - before;
  const http202 = httpRes.filter((r) => r.status === 202).length;
  const http409 = httpRes.filter((r) => r.status === 409).length;
  const cliBusy = cliRes.filter((r) => r.code === 3).length;
  const timerOutcome = timerLines.map((l) => l.replace(`${lane.name}: `, "")).join("; ");
  for (const r of httpRes) if (r.status !== 202 && r.status !== 409) unexpected.push(`HTTP ${r.status}`);
  for (const r of cliRes) if (r.code !== 0 && r.code !== 3) unexpected.push(`CLI exit ${r.code}`);
  setFunctionsRuntime(undefined);
  cs.interceptor.check(st, "after the concurrent triggers", true);

  // Takeover: kill a CLI holder right before its first mutating call, then take the lease over.
  cs.setPropagation(() => 400);
  st.kill = { index: st.mutations.length + 1, stage: "before" };
  const killed = await cs.cli(st, ["rotate", lane.name, "--force", "--reason", "chaos takeover"]);
  if (killed.signal !== "SIGKILL") unexpected.push(`takeover victim was not killed (exit ${killed.code})`);
  const killedAt = st.killed?.at ?? performance.now();
  let lease = await rt.leases.tryAcquire(lane.name, "chaos-takeover");
  while (!lease) {
    await sleep(100);
    lease = await rt.leases.tryAcquire(lane.name, "chaos-takeover");
  }
  const takeoverMs = performance.now() - killedAt;
  await lease.release();
  const after = await rotate(rt, lane.name, { trigger: "timer" });
  if (after.kind !== "done" || after.report.outcome === "failed")
    unexpected.push("the run after the takeover failed");
  cs.interceptor.check(st, "after the takeover", true);

  let renewal: WriterReport["renewal"];
  if (opts.renewal) {
    // A rotation that outlives the 15 s lease (propagation 19 s): a competitor at 17 s must still be busy.
    cs.setPropagation(() => 19_000);
    const t0 = performance.now();
    const long = rotate(rt, lane.name, { trigger: "http", force: true, reason: "chaos long run" });
    await sleep(17_000);
    const competitor = await rt.leases.tryAcquire(lane.name, "chaos-competitor");
    const competitorBusyAfterMs = performance.now() - t0;
    if (competitor) await competitor.release();
    const done = await long;
    renewal = {
      runMs: performance.now() - t0,
      competitorBusyAfterMs,
      competitorBusy: competitor === undefined,
      outcome: done.kind === "done" ? done.report.outcome : done.kind,
    };
    cs.setPropagation(() => 400);
    cs.interceptor.check(st, "after the long run", true);
  }
  return {
    httpTriggers: opts.http,
    cliTriggers: opts.cli,
    timerRuns: 1,
    rotations,
    http202,
    http409,
    cliBusy,
    timerOutcome,
    unexpected,
    takeoverMs,
    holdMs,
    cliStartupMs,
    ...(renewal ? { renewal } : {}),
    violations: st.violations,
  };
}
