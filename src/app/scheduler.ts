/**
 * The fleet scheduler in-process, for the CLI's `run`: the same work as the queue-triggered function
 * (app/fleet.ts), with an in-memory queue instead of Azure Storage. At most `concurrency` credentials
 * run at once; a run that ends `waiting` (or is stopped by a lost lease) is put back until its work
 * continues (app/fleet.ts `runAgain`) and does not hold a slot meanwhile; the process's rate plan
 * (app/limited.ts) paces the calls as in Azure. Progress is reported as counts: done, in flight, waiting,
 * failed.
 */
import type { RunReport } from "../engine/reconcile.js";
import { dueWork, runAgain } from "./fleet.js";
import { rotate, rotateOrReport, type BatchResult, type RotateRequest } from "./service.js";
import type { Runtime } from "./runtime.js";
import { DEFAULT_WAIT_BUDGET_MS } from "../engine/wait.js";

export interface FleetProgress {
  done: number;
  inFlight: number;
  waiting: number;
  failed: number;
  total: number;
}

export interface SchedulerOptions {
  concurrency: number;
  waitBudgetMs?: number;
  onStatus?: (p: FleetProgress) => void;
}

export async function runScheduled(
  rt: Runtime,
  names: string[],
  req: RotateRequest,
  options: SchedulerOptions,
): Promise<BatchResult[]> {
  const waitBudgetMs = options.waitBudgetMs ?? DEFAULT_WAIT_BUDGET_MS;
  const results = new Map<string, BatchResult>();
  const steps = new Map<string, RunReport["steps"]>();
  /** Credentials to run, with the earliest time to run them. */
  const pending = names.map((name) => ({ name, at: 0 }));
  let inFlight = 0;
  let waiting = 0;
  const status = () => {
    const finished = [...results.values()];
    const failed = finished.filter(
      (r) =>
        r.kind === "error" ||
        (r.kind === "done" && (r.report.outcome === "failed" || r.report.outcome === "stuck")),
    ).length;
    options.onStatus?.({ done: finished.length - failed, inFlight, waiting, failed, total: names.length });
  };

  const one = async (name: string): Promise<void> => {
    const r = await rotateOrReport(rt, name, { ...req, waitBudgetMs });
    if (r.kind === "done") {
      const all = [...(steps.get(name) ?? []), ...r.report.steps];
      steps.set(name, all);
      const again = runAgain(r.report, rt.clock.now());
      if (again) {
        pending.push({ name, at: again.at.getTime() });
        waiting++;
        return;
      }
      results.set(name, { ...r, report: { ...r.report, steps: all } });
      return;
    }
    results.set(name, r);
  };

  let timerSet = false;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      const now = rt.clock.now().getTime();
      pending.sort((a, b) => a.at - b.at);
      while (inFlight < options.concurrency && pending.length && pending[0]!.at <= now) {
        const next = pending.shift()!;
        if (next.at > 0) waiting--;
        inFlight++;
        status();
        void one(next.name).finally(() => {
          inFlight--;
          status();
          pump();
        });
      }
      if (results.size === names.length) return resolve();
      // A free slot and work due later: wake up then (one timer at a time; a finishing run also pumps).
      if (inFlight < options.concurrency && pending.length && !timerSet) {
        timerSet = true;
        const wait = Math.max(0, pending[0]!.at - rt.clock.now().getTime());
        void rt.clock.sleep(wait).then(() => {
          timerSet = false;
          pump();
        });
      }
    };
    pump();
  });
  return names.map((n) => results.get(n)!);
}

/**
 * The CLI's `run`, as lean as a timer tick: one certificate listing of each Key Vault decides which
 * credentials have work (app/fleet.ts `dueWork`, the timer's rule); only those are run (one by name, as
 * `rotate` does; several through `runScheduled`). A credential with nothing due costs no IdP and no Kong call
 * and is answered `idle`. `full` (`run --check`, or `run <name>`) runs every credential named, observing each
 * in full.
 */
export async function runDue(
  rt: Runtime,
  names: string[],
  req: RotateRequest,
  options: SchedulerOptions & {
    full?: boolean;
    onPlan?: (p: { due: number; total: number; listCalls: number }) => void;
  },
): Promise<BatchResult[]> {
  const plan = options.full ? undefined : await dueWork(rt, names);
  const due = plan ? names.filter((n) => plan.due.some((d) => d.credential === n)) : names;
  if (plan) options.onPlan?.({ due: due.length, total: names.length, listCalls: plan.listCalls });
  const ran =
    due.length === 1 && names.length === 1
      ? [await rotate(rt, due[0]!, req)]
      : due.length
        ? await runScheduled(rt, due, req, options)
        : [];
  const byName = new Map<string, BatchResult>(ran.map((r) => [r.credential, r]));
  return names.map((n) => byName.get(n) ?? { credential: n, kind: "idle" });
}
