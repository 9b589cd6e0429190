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
  /** How long the winner's new key was kept from propagating: until every other trigger had answered. */
  holdMs: number;
  renewal?: { runMs: number; competitorBusyAfterMs: number; competitorBusy: boolean; outcome: string };
  violations: (Violation & { at: string })[];
}

export async function oneWriter(
  cs: ChaosStack,
  opts: { http: number; cli: number; renewal: boolean; maxHoldMs?: number },
): Promise<WriterReport> {
  // The winner waits for its key to propagate while it holds the lease (below): its verification may wait
  // as long as that hold may last.
  const lane = addLane(cs.stack, "writer", { credential: { policy: { verifyTimeout: "PT4M" } } });
  const st = cs.interceptor.track(lane);
  const rt = cs.runtime(lane);
  cs.setPropagation(() => 400);
  const boot = await rotate(rt, lane.name, { trigger: "cli" });
  const unexpected: string[] = [];
  if (boot.kind !== "done" || boot.report.outcome !== "ok") unexpected.push(`bootstrap: ${boot.kind}`);

  // Every trigger must meet the winner while it holds the lease: a trigger that started after the winner
  // finished would rightly rotate again (forceCooldown is 0 here). How long a CLI child takes to start
  // depends on the machine and its load (over 50 s at load 25 on 2 cores), so the winner is held by an
  // event, not a delay: its new key does not propagate until all triggers but one have answered.
  // `maxHoldMs` only bounds that wait (below the HTTP trigger's 180 s budget and the lane's verifyTimeout);
  // if a second trigger also rotated, two would still be running, their keys would propagate after
  // maxHoldMs, and the report would show two rotations.
  const maxHoldMs = opts.maxHoldMs ?? 150_000;
  let released: number | undefined;
  cs.setPropagation(() => (released === undefined ? maxHoldMs : 400));
  setFunctionsRuntime(rt);
  const creates = () => st.mutations.filter((m) => m.label === "Key Vault create version").length;
  const before = creates();
  const timerLines: string[] = [];
  const triggers = opts.http + opts.cli + 1;
  let answered = 0;
  const heldFrom = performance.now();
  const answer = <T>(p: Promise<T>): Promise<T> =>
    p.finally(() => {
      if (++answered < triggers - 1 || released !== undefined) return;
      released = performance.now();
      cs.stack.entra.propagateNow();
    });
  // Operators signed in by the platform, as deployed.
  const [httpRes, cliRes] = await withAppServiceAuth(async () => {
    const http = Array.from({ length: opts.http }, (_, i) =>
      answer(
        rotateHttpHandler(
          httpRequest({
            method: "POST",
            path: `/api/credentials/${lane.name}/rotate`,
            params: { name: lane.name },
            body: JSON.stringify({ force: true, reason: `chaos trigger ${i}` }),
            headers: {
              "x-ms-client-principal": principal(
                `operator${i}@example.test`,
                ["Rotation.Operator"],
                `op${i}`,
              ),
            },
          }),
          context("rotateCredential", cs.capture),
        ).then((r) => captureResponse(r, cs.capture)),
      ),
    );
    const cli = Array.from({ length: opts.cli }, () =>
      answer(cs.cli(st, ["rotate", lane.name, "--force", "--reason", "chaos concurrent cli"])),
    );
    const timerRun = answer(rotationTimerHandler(timer, context("rotationTimer", cs.capture, timerLines)));
    const [h, c] = await Promise.all([Promise.all(http), Promise.all(cli), timerRun]);
    return [h, c] as const;
  });
  const holdMs = (released ?? performance.now()) - heldFrom;
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
    ...(renewal ? { renewal } : {}),
    violations: st.violations,
  };
}
