/**
 * When does a run's result fire an alert, and when does it resolve one? Pure functions from a run (or sync)
 * report to one judgement per alert condition: the credential itself, and each configured Kong target.
 *
 * The rule (docs/runbooks/alerts.md): a condition fires when this run failed on it. It resolves only
 * when this run has evidence that the failure is gone, judged against the phase the failure was recorded
 * in:
 * - a failed step (create, publish, verify, activate, sync, retire, ...) is gone when a step of the same
 *   kind has succeeded since (for a target, a step that reached that target: activate, or its sync), or,
 *   for a target, when the run ended cleanly (nothing left to do or blocked) and found the target
 *   readable and holding the active key;
 * - a failure to read ("observe": Key Vault or Graph unreadable, a Kong target unreadable) is gone when
 *   this run read that service or target successfully;
 * - a run that could not start ("start": lease storage) is gone when a run started;
 * - an operator's request that could not be recorded ("request") is gone when a run observed the
 *   credential (Key Vault, and the IdP, answered again);
 * - an entry recorded without a phase (before phases were recorded) needs the clean-run evidence.
 * A run that could not reach a target, or did nothing relevant to the failed phase, resolves nothing.
 */
import type { AlertCondition, Alerter, FiringEntry, ResolveEvidence } from "../adapters/alerts/dedup.js";
import type { RunReport } from "../engine/reconcile.js";
import type { SyncReport } from "../engine/sync.js";
import type { SafeError } from "../engine/types.js";

/** Phases that are not a step: the run could not read a service or target, or could not start. */
export const OBSERVE_PHASE = "observe";
export const START_PHASE = "start";
/** An operator's forced rotation or rollback could not be recorded (Key Vault, or the IdP for a rollback). */
export const REQUEST_PHASE = "request";
/** Sync check: the IdP no longer lists the active key. */
export const IDP_PHASE = "idp";

export type Judgement =
  | { condition: AlertCondition; failing: true }
  | { condition: AlertCondition; failing: false; resolves: ResolveEvidence };

type Condition = Pick<AlertCondition, "event" | "credential" | "target">;

const at = (credential: string, target: string | undefined) =>
  target === undefined ? { credential } : { credential, target };

const fail = (
  c: Condition,
  error: Pick<SafeError, "code" | "message" | "hint">,
  phase: string,
): Judgement => ({
  condition: { ...c, code: error.code, message: error.message, hint: error.hint, phase },
  failing: true,
});

const clear = (c: Condition, code: string, message: string, resolves: ResolveEvidence): Judgement => ({
  condition: { ...c, code, message },
  failing: false,
  resolves,
});

/** The phase a failed run failed in: its failed step, else what it could not read, else what it was about to do. */
export function failedPhase(report: RunReport): string {
  const step = report.steps.find((s) => s.status === "failed");
  if (step) return step.action;
  // Nothing observed at all, or a target unreadable (a new generation is refused before any change).
  if (!report.status || report.failedTarget !== undefined) return OBSERVE_PHASE;
  // Refused or stopped between steps (PATCH not permitted, lease lost, no progress, re-observation failed,
  // a requested rollback refused): the first planned action this run did not complete.
  const done = new Set(report.steps.filter((s) => s.status === "done").map((s) => s.action));
  const open = report.plan.filter((a) => !done.has(a.kind));
  return (open.find((a) => !a.blocked) ?? open[0])?.kind ?? OBSERVE_PHASE;
}

/** KeyRotationFailed judgements for the credential and each of its Kong targets after a rotation run. */
export function judgeRun(targets: readonly string[], report: RunReport): Judgement[] {
  const failed = report.outcome === "failed" || report.outcome === "stuck";
  const phase = failed ? failedPhase(report) : undefined;
  const done = report.steps.filter((s) => s.status === "done");
  const clean =
    (report.outcome === "ok" || report.outcome === "noop") && !report.steps.some((s) => s.status !== "done");
  const readable = (t: string) => {
    const view = report.status?.targets.find((x) => x.name === t);
    return view !== undefined && view.error === undefined;
  };
  const healthy = (t: string) =>
    clean && readable(t) && report.status?.targets.find((x) => x.name === t)?.inSync === true;
  const stepReached = (kind: string | undefined, t: string | undefined) =>
    done.some((s) => s.action === kind && (t === undefined || s.target === undefined || s.target === t));

  return [undefined, ...targets].map((target) => {
    const c: Condition = { event: "KeyRotationFailed", ...at(report.credential, target) };
    // A failure pinned on one Kong target is that target's condition; anything else is the credential's.
    if (failed && report.error && report.failedTarget === target && phase) {
      const judged = fail(c, report.error, phase);
      // The trigger reason of the work that failed (engine/triggers.ts), carried by the alert.
      if (report.trigger) judged.condition.trigger = report.trigger;
      return judged;
    }
    const resolves: ResolveEvidence = (entry: FiringEntry) => {
      if (target !== undefined) {
        if (entry.phase === OBSERVE_PHASE) return readable(target);
        return stepReached(entry.phase, target) || healthy(target);
      }
      if (entry.phase === START_PHASE) return true;
      if (entry.phase === OBSERVE_PHASE || entry.phase === REQUEST_PHASE) return report.status !== undefined;
      if (entry.phase === undefined) return clean && targets.every(healthy);
      return stepReached(entry.phase, undefined);
    };
    return clear(
      c,
      "RECOVERED",
      "the failed step succeeded since, or the run found the service healthy",
      resolves,
    );
  });
}

/**
 * The judgement for a credential whose run did not start: the lease or its storage was unavailable
 * (START_PHASE), or the operator's request could not be recorded (REQUEST_PHASE).
 */
export function judgeNotStarted(
  credential: string,
  error: SafeError,
  phase: typeof START_PHASE | typeof REQUEST_PHASE = START_PHASE,
): Judgement {
  return fail({ event: "KeyRotationFailed", credential }, error, phase);
}

/** KeySyncDrift and KeyExpiring judgements after a sync check. */
export function judgeSync(targets: readonly string[], report: SyncReport): Judgement[] {
  // checkSync inspects targets, the IdP and expiry only when there is an active key: without one, it
  // observed Key Vault and Graph but checked nothing else.
  const checked = report.status.active !== undefined;
  const readable = (t: string) => report.status.targets.some((x) => x.name === t && x.error === undefined);
  const open = report.findings.filter(
    (f) => f.code !== "KEY_EXPIRING" && !(f.code === "KONG_DRIFT" && f.reapplied),
  );
  const out: Judgement[] = [undefined, ...targets].map((target) => {
    const c: Condition = { event: "KeySyncDrift", ...at(report.credential, target) };
    const f = open.find((x) => x.target === target);
    if (f)
      return fail(
        c,
        f,
        target === undefined ? IDP_PHASE : f.code === "KONG_UNREACHABLE" ? OBSERVE_PHASE : "sync",
      );
    return clear(c, "IN_SYNC", "in sync", (entry) =>
      target !== undefined ? checked && readable(target) : entry.phase === OBSERVE_PHASE || checked,
    );
  });
  const expiring = report.findings.find((f) => f.code === "KEY_EXPIRING");
  const c: Condition = { event: "KeyExpiring", credential: report.credential };
  out.push(expiring ? fail(c, expiring, "expiry") : clear(c, "KEY_EXPIRING", "not expiring", () => checked));
  return out;
}

/** The judgement for a sync check that could not observe the credential (Key Vault or Graph unreadable). */
export function judgeSyncError(credential: string, error: SafeError): Judgement {
  return fail({ event: "KeySyncDrift", credential }, error, OBSERVE_PHASE);
}

/** Fire, remind or resolve each condition as judged (the alerter deduplicates and keeps the phase). */
export async function reportJudgements(alerter: Alerter, judgements: readonly Judgement[]): Promise<void> {
  for (const j of judgements)
    await (j.failing ? alerter.report(j.condition, true) : alerter.report(j.condition, false, j.resolves));
}
