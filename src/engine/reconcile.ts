/**
 * One rotation run for one credential: observe, plan, execute the first safe action, persist its phase
 * in Key Vault tags, observe again, repeat until nothing is due. Because every decision is taken from
 * freshly observed state and every step is idempotent, a run that crashed anywhere is resumed by the
 * next run (the AWS Secrets Manager rotation model: create → set → test → finish, each step resumable).
 *
 * Expected failures never throw: they stop the run and come back as outcome `failed` (or `stuck` when
 * verification timed out) with a safe error. Only programming errors throw.
 */
import type { CredentialConfig } from "../config/load.js";
import { RotatorError, toRotatorError } from "../errors.js";
import { redact, redactText } from "../log/redact.js";
import { EngineBug, noProgress, rollbackRefused, runAborted } from "./errors.js";
import { pendingRequest, requestTag, type ManualRequest } from "./requests.js";
import type { TriggerReason } from "./triggers.js";
import type { SafeError, Snapshot, UnmanagedKey } from "./types.js";
import type { EnginePorts } from "../ports/engine.js";
import { observe } from "./observe.js";
import { describeAction, plan, type ActionKind, type Plan, type PlannedAction } from "./plan.js";
import { credentialStatus, type CredentialStatus } from "./status.js";
import type { StepContext } from "./steps/context.js";
import { TagBook } from "./tag-book.js";
import { executeAction } from "./steps/index.js";
import { failureTags, parseGeneration, type Generation } from "./tags.js";
import { CREATE_RECHECK_MS, type StepWait } from "./wait.js";
import { nextDueChange } from "./schedule.js";
import { migrate, migrationUnfinished } from "./migration.js";
import type { CompromiseResult } from "./compromise.js";

export interface RunOptions {
  /**
   * Create a new generation even if the active one is not due for renewal. Callers that act for an
   * operator record a durable request instead (requests.ts); this flag serves dry-run projections.
   */
  force?: boolean;
  /** Dry-run projection of a rollback (a real one is a durable request). */
  rollback?: boolean;
  /** Observe and plan only: no mutating call. */
  dryRun?: boolean;
  /** Why the run was started (schedule, operator request); logged and reported. */
  reason?: string;
  /** The lease: when it aborts, the run stops before its next step. */
  signal?: AbortSignal;
  /**
   * How long a step may poll in-run for something that is not ready yet (Key Vault creation,
   * verification streak) before the run ends `waiting` with `nextRunAt` (engine/wait.ts). Default:
   * no limit, the run waits in-process as long as the policy allows and never ends `waiting`.
   */
  waitBudgetMs?: number;
  onProgress?: (e: ProgressEvent) => void;
  /**
   * Called once, before the first step, with the pending manual request this run works on (not for a
   * dry run). The caller audits where the request came from (app/request-origin.ts); the run waits for it.
   */
  onRequest?: (request: ManualRequest) => Promise<void>;
}

export interface ProgressEvent {
  credential: string;
  event: "start" | "progress" | "done" | "skip" | "fail" | "wait";
  action: ActionKind;
  description: string;
  version?: string;
  x5t?: string;
  target?: string;
  detail?: string;
  error?: SafeError;
}

export interface StepRecord {
  action: ActionKind;
  version?: string;
  x5t?: string;
  target?: string;
  status: "done" | "skipped" | "failed" | "waiting";
  detail: string;
  startedAt: string;
  durationMs: number;
}

/** `waiting`: a step is waiting on something external; run again at `RunReport.nextRunAt`. */
export type RunOutcome = "ok" | "noop" | "planned" | "failed" | "stuck" | "waiting";

export interface RunReport {
  credential: string;
  outcome: RunOutcome;
  reason?: string;
  /** The plan as first computed (for a dry run, the whole answer). */
  plan: PlannedAction[];
  unmanaged: UnmanagedKey[];
  steps: StepRecord[];
  error?: SafeError;
  failedTarget?: string;
  /** Why the run had work to start: the trigger of its first plan's create, or a pending manual request. */
  trigger?: TriggerReason;
  /** Absent only when the state could not be observed at all. */
  status?: CredentialStatus;
  /** For `waiting`: when to run again (ISO 8601). */
  nextRunAt?: string;
  /** A key-compromise rotation this run completed: what was revoked and cleared, and the tokens caveat. */
  compromise?: CompromiseResult;
}

export async function reconcile(
  cred: CredentialConfig,
  ports: EnginePorts,
  options: RunOptions = {},
): Promise<RunReport> {
  const { clock, logger } = ports;
  const report: RunReport = {
    credential: cred.name,
    outcome: "noop",
    ...(options.reason ? { reason: options.reason } : {}),
    plan: [],
    unmanaged: [],
    steps: [],
  };
  const emit = (event: ProgressEvent["event"], a: PlannedAction, extra: Partial<ProgressEvent> = {}): void =>
    options.onProgress?.({
      credential: cred.name,
      event,
      action: a.kind,
      description: describeAction(a),
      ...refOf(a),
      ...extra,
    });

  const waitBudgetMs = options.waitBudgetMs ?? Number.POSITIVE_INFINITY;
  const observeOptions = Number.isFinite(waitBudgetMs) ? { maxWaitMs: waitBudgetMs } : {};
  const creatingWait = (s: Snapshot): StepWait | undefined =>
    s.creating === undefined
      ? undefined
      : {
          until: new Date(clock.now().getTime() + CREATE_RECHECK_MS),
          reason: `Key Vault is still issuing version ${s.creating}`,
        };

  let snapshot: Snapshot;
  try {
    snapshot = await observe(cred, ports, observeOptions);
  } catch (e) {
    return finish(cred, ports, report, undefined, { error: toRotatorError(e) });
  }
  let current: Plan = plan(snapshot, cred.policy, snapshot.observedAt, {
    force: options.force,
    rollback: options.rollback,
  });
  report.plan = current.actions;
  const created = current.actions.find((a) => a.kind === "create");
  if (created?.kind === "create") report.trigger = created.trigger;
  else if (pendingRequest(snapshot.generations)) report.trigger = "ManualRequest";
  report.unmanaged = current.unmanaged;
  if (options.dryRun) {
    report.outcome = "planned";
    return finish(cred, ports, report, snapshot);
  }
  // A migration from a client secret that was started goes on before anything else: until Kong switched,
  // the targets authenticate with the secret and the rotation's own plan cannot use them.
  if (migrationUnfinished(snapshot.generations)) return continueMigration(cred, ports, options, report);
  const held = pendingRequest(snapshot.generations);
  if (held && options.onRequest) await options.onRequest(held.request);
  const pendingAtStart = creatingWait(snapshot);
  if (pendingAtStart) return finish(cred, ports, report, snapshot, undefined, pendingAtStart);

  let force = options.force === true;
  const done = new Set<string>();
  for (;;) {
    const action = current.actions.find((a) => !a.blocked);
    if (!action) break;
    if (options.signal?.aborted) return finish(cred, ports, report, snapshot, { error: runAborted() });
    // Each action runs at most once per run (and `create` at most once, whatever the version): if the
    // planner asks again, the step's effect did not stick, and looping would not help.
    if (done.has(actionKey(action))) {
      const error = noProgress(describeAction(action));
      await recordFailure(ports, cred, snapshot, action, error);
      return finish(cred, ports, report, snapshot, { error });
    }

    // A new generation can only end in Kong: with a target unreadable (bad token, not an openid-connect
    // plugin, our client missing, unreachable, ...) it would register a key at the IdP that no target can
    // receive. Refuse before any external change; a later run starts it once every target is readable.
    const unreadable =
      action.kind === "create" ? snapshot.targets.find((t) => t.error !== undefined) : undefined;
    if (unreadable?.error) {
      const { code, message, hint, status, details } = unreadable.error;
      const error = new RotatorError(code, message, hint, {
        ...(status === undefined ? {} : { status }),
        details: { ...details, target: unreadable.name },
      });
      return finish(cred, ports, report, snapshot, { error });
    }
    // Without a current key to sign with, some providers register through a privileged path: when the
    // identity visibly lacks it, refuse before Key Vault creates a version that could not be registered.
    const bootstrap = current.actions.some((a) => a.kind === "publish" && a.signedBy === undefined);
    const refused =
      action.kind === "create" && bootstrap ? await ports.idp.preflightRegister(false) : undefined;
    if (refused) return finish(cred, ports, report, snapshot, { error: refused });

    const startedAt = clock.now();
    const tags = new TagBook(ports.store, cred.certificateName);
    const ctx: StepContext = {
      cred,
      ports,
      snapshot,
      tags,
      ...(options.signal ? { signal: options.signal } : {}),
      waitBudgetMs,
      progress: (detail) => emit("progress", action, { detail }),
    };
    emit("start", action);
    try {
      const out = await executeAction(ctx, action);
      if (out.wait) {
        const record = stepRecord(action, "waiting", out.detail, startedAt, clock.now());
        report.steps.push(record);
        logger.log("info", "RotationStep", { credential: cred.name, ...record });
        emit("wait", action, { detail: out.detail });
        return finish(cred, ports, report, snapshot, undefined, out.wait);
      }
      const record = stepRecord(action, "done", out.detail, startedAt, clock.now());
      if (out.version) record.version = out.version;
      if (out.x5t) record.x5t = out.x5t;
      if (out.compromise) report.compromise = out.compromise;
      report.steps.push(record);
      logger.log("info", "RotationStep", { credential: cred.name, ...record });
      emit("done", action, {
        detail: out.detail,
        ...(out.version ? { version: out.version } : {}),
        ...(out.x5t ? { x5t: out.x5t } : {}),
      });
    } catch (e) {
      if (e instanceof EngineBug) throw e;
      const error = toRotatorError(e);
      const record = stepRecord(action, "failed", redactText(error.message), startedAt, clock.now());
      report.steps.push(record);
      logger.log("error", "RotationStep", { credential: cred.name, ...record, code: error.code });
      emit("fail", action, { error: safe(error) });
      if (error.code !== "RUN_ABORTED") await recordFailure(ports, cred, snapshot, action, error, tags);
      return finish(cred, ports, report, snapshot, {
        error,
        stuck: error.code === "VERIFY_TIMEOUT",
        reobserve: true,
      });
    }
    done.add(actionKey(action));
    if (action.kind === "create" || action.kind === "activate") force = false;

    try {
      snapshot = await observe(cred, ports, observeOptions);
    } catch (e) {
      return finish(cred, ports, report, snapshot, { error: toRotatorError(e) });
    }
    const pending = creatingWait(snapshot);
    if (pending) return finish(cred, ports, report, snapshot, undefined, pending);
    current = plan(snapshot, cred.policy, snapshot.observedAt, { force });
  }

  for (const a of current.actions) {
    const now = clock.now();
    report.steps.push(stepRecord(a, "skipped", a.blocked ?? "", now, now));
    emit("skip", a, { detail: a.blocked ?? "" });
  }
  // A requested rollback that cannot be done is a failure the operator must hear about, not a noop.
  const refused = current.actions.find((a) => a.kind === "rollback" && a.requestId && a.blocked);
  if (refused?.kind === "rollback")
    return finish(cred, ports, report, snapshot, {
      error: rollbackRefused(refused.blocked ?? "rollback refused", refused.requestId),
    });
  report.outcome = report.steps.some((s) => s.status === "done") ? "ok" : "noop";
  return finish(cred, ports, report, snapshot);
}

/** The timer's (and `run`'s) share of a migration: the same steps `migrate` takes, reported as a run. */
async function continueMigration(
  cred: CredentialConfig,
  ports: EnginePorts,
  options: RunOptions,
  report: RunReport,
): Promise<RunReport> {
  const m = await migrate(cred, ports, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.waitBudgetMs !== undefined ? { waitBudgetMs: options.waitBudgetMs } : {}),
  });
  report.reason ??= "migration from a client secret";
  report.outcome = m.outcome === "planned" ? "planned" : m.outcome;
  if (m.nextRunAt) report.nextRunAt = m.nextRunAt;
  if (m.error) report.error = m.error;
  const last = await observe(cred, ports).catch(() => undefined);
  if (last) report.status = credentialStatus(last, ports.clock.now());
  ports.logger.log(m.error ? "error" : "info", "RotationRun", {
    credential: report.credential,
    outcome: report.outcome,
    reason: report.reason,
    ...(report.error ? { code: report.error.code } : {}),
  });
  return report;
}

function refOf(a: PlannedAction): { version?: string; x5t?: string; target?: string } {
  return {
    ...("version" in a && a.version ? { version: a.version } : {}),
    ...("x5t" in a && a.x5t ? { x5t: a.x5t } : {}),
    ...(a.kind === "sync" ? { target: a.target } : {}),
  };
}

function actionKey(a: PlannedAction): string {
  const r = refOf(a);
  return [
    a.kind,
    r.version ?? "",
    r.target ?? "",
    a.kind === "remove-leaked" || a.kind === "remove-unusable" || a.kind === "remove-unmanaged"
      ? a.keyId
      : "",
  ].join("|");
}

function stepRecord(
  a: PlannedAction,
  status: StepRecord["status"],
  detail: string,
  startedAt: Date,
  endedAt: Date,
): StepRecord {
  return {
    action: a.kind,
    ...refOf(a),
    status,
    detail,
    startedAt: startedAt.toISOString(),
    durationMs: endedAt.getTime() - startedAt.getTime(),
  };
}

function safe(e: RotatorError): SafeError {
  return redact(e.toJSON());
}

/** Count the failure on the generation the step worked on. Best effort: it must not hide the step's error. */
async function recordFailure(
  ports: EnginePorts,
  cred: CredentialConfig,
  snapshot: Snapshot,
  action: PlannedAction,
  error: RotatorError,
  tags = new TagBook(ports.store, cred.certificateName),
): Promise<void> {
  const g = snapshot.generations.find((x) => "version" in action && x.version === action.version);
  if (!g) return;
  try {
    await tags.write(g, failureTags(tags.current(g), error.code, ports.clock.now()));
  } catch (e) {
    ports.logger.log("warn", "RotationFailureNotRecorded", {
      credential: cred.name,
      version: g.version,
      code: toRotatorError(e).code,
    });
  }
}

/**
 * A run that worked on a pending request and failed counts as an attempt: status shows the attempts and
 * the last error, and `run` exits 1 while it stays so. When the run could not even observe (the IdP down),
 * the request is found with a Key Vault listing alone. Best effort, like recordFailure.
 */
async function noteRequestAttempt(
  cred: CredentialConfig,
  ports: EnginePorts,
  snapshot: Snapshot | undefined,
  error: RotatorError,
): Promise<{ snapshot: Snapshot | undefined; request?: boolean }> {
  try {
    const generations =
      snapshot?.generations ??
      (await ports.store.listVersions(cred.certificateName))
        .map(parseGeneration)
        .filter((g): g is Generation => g !== undefined);
    const held = pendingRequest(generations);
    if (!held) return { snapshot };
    const r = {
      ...held.request,
      attempts: held.request.attempts + 1,
      lastAttemptAt: ports.clock.now(),
      lastError: error.code,
    };
    const book = new TagBook(ports.store, cred.certificateName);
    await book.write(held.holder, requestTag(r));
    const tags = book.current(held.holder);
    return {
      request: true,
      snapshot: snapshot && {
        ...snapshot,
        generations: snapshot.generations.map((g) =>
          g.version === held.holder.version ? { ...g, tags } : g,
        ),
      },
    };
  } catch (e) {
    ports.logger.log("warn", "RequestAttemptNotRecorded", {
      credential: cred.name,
      code: toRotatorError(e).code,
    });
    return { snapshot };
  }
}

/** Best effort: a missing due time only makes the fleet timer schedule one more (noop) run. */
async function recordNextDue(cred: CredentialConfig, ports: EnginePorts, s: Snapshot): Promise<void> {
  const change = nextDueChange(s, ports.clock.now());
  if (!change) return;
  try {
    await new TagBook(ports.store, cred.certificateName).write(change.generation, change.changes);
  } catch (e) {
    ports.logger.log("warn", "NextDueNotRecorded", {
      credential: cred.name,
      code: toRotatorError(e).code,
    });
  }
}

async function finish(
  cred: CredentialConfig,
  ports: EnginePorts,
  report: RunReport,
  snapshot: Snapshot | undefined,
  failure?: { error: RotatorError; stuck?: boolean; reobserve?: boolean },
  wait?: StepWait,
): Promise<RunReport> {
  let last = snapshot;
  if (wait) {
    report.outcome = "waiting";
    report.nextRunAt = wait.until.toISOString();
  }
  if (failure) {
    report.outcome = failure.stuck ? "stuck" : "failed";
    report.error = safe(failure.error);
    const target = failure.error.details?.["target"];
    if (typeof target === "string") report.failedTarget = target;
    // The failed step may have changed state (failure tags, some targets updated): show the latest.
    if (failure.reobserve) last = await observe(cred, ports).catch(() => snapshot);
    if (failure.error.code !== "RUN_ABORTED") {
      const noted = await noteRequestAttempt(cred, ports, last, failure.error);
      last = noted.snapshot;
      if (noted.request) report.trigger ??= "ManualRequest";
    }
  }
  if (last && !failure && !wait && (report.outcome === "ok" || report.outcome === "noop"))
    await recordNextDue(cred, ports, last);
  if (last) report.status = credentialStatus(last, ports.clock.now());
  ports.logger.log(failure ? "error" : "info", "RotationRun", {
    credential: report.credential,
    outcome: report.outcome,
    steps: report.steps.length,
    ...(report.reason ? { reason: report.reason } : {}),
    ...(report.error ? { code: report.error.code } : {}),
    ...(report.failedTarget ? { target: report.failedTarget } : {}),
    ...(wait ? { nextRunAt: report.nextRunAt, waitingFor: wait.reason } : {}),
  });
  return report;
}
