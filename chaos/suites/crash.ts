/**
 * 1. Crash-point matrix. A full lifecycle (bootstrap, forced rotation, retirement after the overlap) runs
 * through the CLI as child processes. For every external mutating call k of the uninterrupted run, two
 * crash points: the child is SIGKILLed immediately before call k (the fake never applies it) and
 * immediately after it (applied, the answer never arrives). Then, as in production, the next runs carry
 * on: the resume waits for the dead holder's blob lease to expire (real Azurite lease, 15 s, renewed
 * every 5 s), runs `run` until it succeeds, and re-issues the forced rotation only if the kill came
 * before its new version existed. The invariants are checked after every mutating call and after every
 * completed run; the end state is compared with the uninterrupted run's.
 *
 * Each crash point has its own lane (credential, app, plugin, certificate, lease), so points run in
 * parallel; the resume holds the real lease (no --no-other-writer), which is what makes the takeover time
 * a measured figure rather than an assumption.
 */
import type { Violation } from "../../src/engine/invariants.js";
import { addLane } from "../lib/lanes.js";
import type { LaneState, Mutation, Stage } from "../lib/interceptor.js";
import { endState } from "../lib/world.js";
import { pool, sleep, type ChaosStack } from "../lib/stack.js";

export interface CrashPointResult {
  index: number;
  stage: Stage;
  label: string;
  killed: boolean;
  converged: boolean;
  endState: string;
  violations: (Violation & { at: string })[];
  extraMutating: number;
  extraCalls: number;
  takeoverMs?: number;
  problems: string[];
  checks: number;
}

export interface CrashReport {
  baseline: { mutations: Mutation[]; calls: number; endState: string; problems: string[] };
  points: CrashPointResult[];
  checks: number;
}

const total = (st: LaneState) => Object.values(st.calls).reduce((a, b) => a + b, 0);

async function waitRetireDue(cs: ChaosStack, st: LaneState): Promise<void> {
  const due = cs.stack.keyVault
    .versions(st.lane.certName)
    .map((v) => Date.parse(v.tags["rotator-retireAfter"] ?? ""))
    .filter((t) => !Number.isNaN(t));
  const wait = Math.max(0, ...due.map((t) => t - Date.now()));
  await sleep(wait + 300);
}

/** Run a command until it succeeds (busy = the lease is still held; failed = an alert, the next run resumes). */
async function untilOk(cs: ChaosStack, st: LaneState, args: string[], problems: string[]): Promise<void> {
  for (let attempt = 1; attempt <= 8; attempt++) {
    const r = await cs.cli(st, args);
    if (r.code === 0) return;
    if (r.signal) problems.push(`${args[0]} died with ${r.signal}`);
    await sleep(r.code === 3 ? 1000 : 300);
  }
  problems.push(`${args.join(" ")} did not succeed in 8 attempts`);
}

async function scenario(
  cs: ChaosStack,
  st: LaneState,
  resume: Resume = "lease",
): Promise<{ problems: string[]; takeoverMs?: number }> {
  const name = st.lane.name;
  const problems: string[] = [];
  let takeoverMs: number | undefined;
  const steps: string[][] = [
    ["run", name],
    ["rotate", name, "--force", "--reason", "chaos crash matrix"],
    [],
    ["run", name],
  ];
  let bypass = false;
  for (let step of steps) {
    if (step.length === 0) {
      await waitRetireDue(cs, st);
      continue;
    }
    // After a kill in "no-other-writer" mode the dead holder's lease is left to expire unobserved, and
    // every later command of the lifecycle states that nothing else writes.
    if (bypass) step = [...step, "--no-other-writer"];
    const versionsBefore = cs.stack.keyVault.versions(st.lane.certName).length;
    const r = await cs.cli(st, step);
    if (r.signal === "SIGKILL" && st.killed) {
      const killedAt = st.killed.at;
      if (resume === "lease") {
        while (!(await cs.leaseFree(name))) await sleep(100);
        takeoverMs = performance.now() - killedAt;
      }
      bypass = resume === "no-other-writer";
      await untilOk(cs, st, ["run", name, ...(bypass ? ["--no-other-writer"] : [])], problems);
      if (step[0] === "rotate" && cs.stack.keyVault.versions(st.lane.certName).length === versionsBefore)
        await untilOk(cs, st, step, problems);
    } else if (r.code !== 0) {
      problems.push(
        `${step.join(" ")} exited ${r.code}: ${r.err.split("\n").filter(Boolean).slice(-1)[0] ?? ""}`,
      );
      await untilOk(cs, st, ["run", name], problems);
    }
    cs.interceptor.check(st, `after '${step.join(" ")}' completed`, true);
  }
  return { problems, ...(takeoverMs !== undefined ? { takeoverMs } : {}) };
}

/**
 * How the run after a kill starts: "lease" waits for the dead holder's lease to expire (real, measured);
 * "no-other-writer" runs at once with --no-other-writer (the operator's statement that nothing else
 * writes), for the reduced suite in `npm test`, where the takeover is covered by the one-writer test.
 */
export type Resume = "lease" | "no-other-writer";

export interface CrashOptions {
  concurrency: number;
  resume?: Resume;
  /** Which crash points to try (1-based call index and stage); all of them by default. */
  select?: (index: number, stage: Stage, label: string) => boolean;
}

export async function crashMatrix(cs: ChaosStack, opts: CrashOptions): Promise<CrashReport> {
  cs.setPropagation(() => 400);
  const base = cs.interceptor.track(addLane(cs.stack, "base"));
  const baseRun = await scenario(cs, base);
  const baseline = {
    mutations: base.mutations,
    calls: total(base),
    endState: endState(cs.stack, base.lane),
    problems: [...baseRun.problems, ...base.violations.map((v) => `${v.invariant}: ${v.message}`)],
  };

  const points: { index: number; stage: Stage; label: string }[] = [];
  for (const m of base.mutations)
    for (const stage of ["before", "after"] as const)
      if (!opts.select || opts.select(m.index, stage, m.label))
        points.push({ index: m.index, stage, label: m.label });

  const results = await pool(points, opts.concurrency, async (p): Promise<CrashPointResult> => {
    const st = cs.interceptor.track(addLane(cs.stack, "crash"));
    st.kill = { index: p.index, stage: p.stage };
    const run = await scenario(cs, st, opts.resume);
    const state = endState(cs.stack, st.lane);
    const killed = st.killed !== undefined;
    if (killed && st.killed!.mutation.label !== p.label)
      run.problems.push(`killed at '${st.killed!.mutation.label}', expected '${p.label}'`);
    if (!killed) run.problems.push("the crash point was never reached");
    return {
      ...p,
      killed,
      converged: killed && state === baseline.endState && run.problems.length === 0,
      endState: state,
      violations: st.violations,
      extraMutating: st.mutations.length - baseline.mutations.length,
      extraCalls: total(st) - baseline.calls,
      ...(run.takeoverMs !== undefined ? { takeoverMs: run.takeoverMs } : {}),
      problems: run.problems,
      checks: st.checks,
    };
  });
  return { baseline, points: results, checks: base.checks + results.reduce((a, r) => a + r.checks, 0) };
}
