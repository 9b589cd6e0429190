/**
 * The use cases shared by the Azure Functions and the CLI: rotate one credential (or all) under the
 * one-writer lease, show status, check sync. Each maps engine reports to alerts and run history; the
 * callers only parse input and format output.
 */
import type { IdpSecret } from "../ports/engine.js";
import { randomUUID } from "node:crypto";
import type { CredentialConfig } from "../config/load.js";
import { isRotatorError, RotatorError, toRotatorError } from "../errors.js";
import { reconcile, type ProgressEvent, type RunReport } from "../engine/reconcile.js";
import { observe } from "../engine/observe.js";
import { credentialStatus, requestStatus, type CredentialStatus } from "../engine/status.js";
import { checkSync, type SyncReport } from "../engine/sync.js";
import {
  cancelRequest,
  isRequestRefusal,
  pendingRequestOf,
  recordUnfinished,
  submitRequest,
  type SubmitResult,
} from "../engine/manual.js";
import { newRequestId, type ManualRequest } from "../engine/requests.js";
import type { SafeError } from "../engine/types.js";
import type { CompromiseResult } from "../engine/compromise.js";
import type { RunRecord } from "../ports/infrastructure.js";
import type { OpenAlert } from "../adapters/alerts/dedup.js";
import { recordRotation, recordStatus, recordStep } from "../telemetry/metrics.js";
import type { Runtime } from "./runtime.js";
import {
  judgeNotStarted,
  judgeRun,
  judgeSync,
  judgeSyncError,
  reportJudgements,
  REQUEST_PHASE,
  START_PHASE,
} from "./alert-evidence.js";
import { auditRequestOrigin, noteRequestOrigin } from "./request-origin.js";

export type Trigger = "timer" | "http" | "cli" | "sync-timer" | "queue";

export interface RotateRequest {
  /** A new generation even if none is due: recorded as a durable request that later runs carry out. */
  force?: boolean;
  /** Put every Kong target back on the previous generation (durable request, like force). */
  rollback?: boolean;
  /** Skip policy.forceCooldown for a forced rotation (audited). */
  overrideCooldown?: boolean;
  /**
   * The active key is compromised: a forced rotation (never held back by the cooldown; the bypass is
   * audited) that revokes every earlier generation as soon as the new key is active everywhere.
   */
  compromised?: boolean;
  /** With compromised: also remove the keys at the IdP that the rotator did not create. */
  revokeUnmanaged?: boolean;
  dryRun?: boolean;
  reason?: string;
  trigger: Trigger;
  /** Who asked (HTTP caller principal, CLI user); audit only. */
  actor?: string;
  /** Stop before the next step after this many ms; the next run resumes (HTTP has a response deadline). */
  budgetMs?: number;
  /** In-run polling budget for waits; past it the run ends `waiting` (engine/wait.ts). */
  waitBudgetMs?: number;
  onProgress?: (e: ProgressEvent) => void;
}

/**
 * The one contract of `rotate` (docs/architecture.md, "What `rotate` returns"):
 * - every failure of a dependency is a result, alerted by `rotate` itself: inside the run (`done` with
 *   outcome failed/stuck), or before it (`error`): the lease could not be taken (stage `start`), or a
 *   forced rotation or rollback could not be recorded (stage `request`: Key Vault or its token
 *   unavailable; nothing was written, the caller must ask again);
 * - it throws only when the caller's request is refused as such: an unknown credential, or a request the
 *   credential's state does not allow (isRequestRefusal: REQUEST_CONFLICT, ROTATE_COOLDOWN,
 *   ROLLBACK_REFUSED). Nothing was written and nothing alerts. A programming error (anything thrown that
 *   is not a RotatorError) is not a dependency's failure either: it propagates, and callers report it as
 *   an internal error.
 */
export type RotateResult =
  | { credential: string; kind: "busy" }
  | { credential: string; kind: "done"; report: RunReport; request?: SubmitResult }
  | { credential: string; kind: "error"; stage: NotStartedStage; error: SafeError };

/** Why a run did not start: `start`, the lease (or its storage); `request`, recording the operator's request. */
export type NotStartedStage = "start" | "request";

export type CancelResult =
  | { credential: string; kind: "busy" }
  | { credential: string; kind: "cancelled"; request: ManualRequest; abandoned: string[] };

/**
 * One credential's result in a batch (timer, `run`): the same as `rotate`'s; or `idle`, when the vault's
 * certificate listing showed nothing due and nothing else was read (app/scheduler.ts `runDue`).
 */
export type BatchResult = RotateResult | { credential: string; kind: "idle" };

const holderId = (trigger: Trigger) => `${trigger}:${process.pid}:${randomUUID().slice(0, 8)}`;

/** The origin a trigger notes for the requests it records (app/request-origin.ts). */
const ORIGIN: Partial<Record<Trigger, "api" | "cli">> = { http: "api", cli: "cli" };

/** The audit line of a manual request (rotate, dry run, rollback, cancel): who asked, why, and what. */
function logRequested(
  rt: Runtime,
  name: string,
  req: { trigger: Trigger; actor?: string; reason?: string },
  what: Record<string, unknown>,
): void {
  rt.logger.log("info", "RotationRequested", {
    credential: name,
    trigger: req.trigger,
    actor: req.actor,
    reason: req.reason,
    ...what,
  });
}

export async function rotate(rt: Runtime, name: string, req: RotateRequest): Promise<RotateResult> {
  const cred = rt.credential(name);
  logRequested(rt, name, req, {
    force: req.force === true,
    rollback: req.rollback === true,
    overrideCooldown: req.overrideCooldown === true,
    ...(req.compromised ? { compromised: true, revokeUnmanaged: req.revokeUnmanaged === true } : {}),
    dryRun: req.dryRun === true,
  });
  if (req.dryRun) {
    const report = await reconcile(cred, rt.enginePorts(cred), {
      dryRun: true,
      force: req.force === true || req.compromised === true,
      rollback: req.rollback,
      reason: req.reason,
    });
    measure(rt, report, req.trigger);
    return { credential: name, kind: "done", report };
  }
  let lease: Awaited<ReturnType<Runtime["leases"]["tryAcquire"]>>;
  try {
    lease = await rt.leases.tryAcquire(name, holderId(req.trigger));
  } catch (e) {
    if (!isRotatorError(e)) throw e;
    return notStarted(rt, name, req, "start", e);
  }
  if (!lease) return { credential: name, kind: "busy" };
  try {
    const ports = rt.enginePorts(cred);
    const origin = ORIGIN[req.trigger];
    // The id of a request this call may record, noted with its origin before the tag is written.
    const requestId = newRequestId();
    const note = async () => {
      if (origin)
        await noteRequestOrigin(rt, name, {
          id: requestId,
          origin,
          ...(req.actor ? { actor: req.actor } : {}),
        });
    };
    // Forced rotations and rollbacks are written down before the run: if this run fails (Kong or the
    // IdP down) or dies, every later run carries the request out until it is done or withdrawn.
    let submitted: SubmitResult | undefined;
    if (req.force || req.rollback || req.compromised) {
      await note();
      const kind = req.rollback ? "rollback" : "rotate";
      try {
        submitted = await submitRequest(cred, ports, {
          id: requestId,
          kind,
          force: req.force === true || req.compromised === true,
          ...(req.compromised
            ? { compromised: true, ...(req.revokeUnmanaged ? { revokeUnmanaged: true } : {}) }
            : {}),
          ...(req.actor ? { actor: req.actor } : {}),
          ...(req.reason ? { reason: req.reason } : {}),
          overrideCooldown: req.overrideCooldown === true,
        });
      } catch (e) {
        if (isRequestRefusal(e) || !isRotatorError(e)) throw e;
        return notStarted(
          rt,
          name,
          req,
          "request",
          new RotatorError(
            e.code,
            `the ${kind === "rollback" ? "rollback" : req.compromised ? "compromise rotation" : "forced rotation"} of ${name} could not be recorded, so nothing was changed: ${e.message}`,
            `${e.hint} Then ask again: later runs carry out only a recorded request (asking twice records it once).`,
            {
              retryable: e.retryable,
              ...(e.status === undefined ? {} : { status: e.status }),
              ...(e.details ? { details: e.details } : {}),
            },
          ),
        );
      }
    }
    const signal = req.budgetMs
      ? AbortSignal.any([lease.signal, AbortSignal.timeout(req.budgetMs)])
      : lease.signal;
    const report = await reconcile(cred, ports, {
      reason: req.reason ?? req.trigger,
      signal,
      ...(req.waitBudgetMs === undefined ? {} : { waitBudgetMs: req.waitBudgetMs }),
      ...(req.onProgress ? { onProgress: req.onProgress } : {}),
      onRequest: (request) => auditRequestOrigin(rt, name, request, req.trigger),
    });
    measure(rt, report, req.trigger);
    const manual = req.trigger === "http" || req.trigger === "cli";
    if (manual && !submitted && (report.outcome === "failed" || report.outcome === "stuck") && report.error) {
      const error = report.error.code;
      await note();
      await recordUnfinished(cred, ports, {
        id: requestId,
        ...(req.actor ? { actor: req.actor } : {}),
        ...(req.reason ? { reason: req.reason } : {}),
        error,
      }).catch((e: unknown) =>
        rt.logger.log("warn", "RequestNotRecorded", { credential: name, code: toRotatorError(e).code }),
      );
    }
    await afterRun(rt, cred, report, req.trigger);
    return { credential: name, kind: "done", report, ...(submitted ? { request: submitted } : {}) };
  } finally {
    await lease.release();
  }
}

/** Withdraw the credential's pending manual request (audited), under the lease. */
export async function cancelRequested(
  rt: Runtime,
  name: string,
  req: { trigger: Trigger; actor?: string; reason?: string },
): Promise<CancelResult> {
  const cred = rt.credential(name);
  logRequested(rt, name, req, { cancel: true });
  const lease = await rt.leases.tryAcquire(name, holderId(req.trigger));
  if (!lease) return { credential: name, kind: "busy" };
  try {
    const { request, abandoned } = await cancelRequest(cred, rt.enginePorts(cred), req.actor);
    return { credential: name, kind: "cancelled", request, abandoned };
  } finally {
    await lease.release();
  }
}

/** Every credential in turn; one that cannot even start is alerted and does not stop the others. */
export async function rotateAll(rt: Runtime, req: RotateRequest): Promise<RotateResult[]> {
  const results: RotateResult[] = [];
  for (const c of rt.config.credentials) results.push(await rotateOrReport(rt, c.name, req));
  return results;
}

/**
 * One credential of a batch: what `rotate` throws (a refused request, or a bug) is reported and alerted
 * like a run that could not start, so that one credential never stops the others.
 */
export async function rotateOrReport(rt: Runtime, name: string, req: RotateRequest): Promise<RotateResult> {
  try {
    return await rotate(rt, name, req);
  } catch (e) {
    return notStarted(rt, name, req, "start", toRotatorError(e));
  }
}

/** A run that did not start: logged (RotationNotStarted), alerted (KeyRotationFailed), returned. */
async function notStarted(
  rt: Runtime,
  name: string,
  req: RotateRequest,
  stage: NotStartedStage,
  error: RotatorError,
): Promise<RotateResult> {
  rt.logger.log("error", "RotationNotStarted", {
    credential: name,
    trigger: req.trigger,
    stage,
    error: error.toJSON(),
  });
  await reportJudgements(rt.alerter, [
    judgeNotStarted(name, error.toJSON(), stage === "request" ? REQUEST_PHASE : START_PHASE),
  ]);
  return { credential: name, kind: "error", stage, error: error.toJSON() };
}

/** Metrics of one run (src/telemetry/metrics.ts): outcome, step durations, and the status it ended on. */
function measure(rt: Runtime, report: RunReport, trigger: Trigger): void {
  recordRotation(report.credential, report.outcome, trigger);
  for (const s of report.steps)
    if (s.status !== "skipped") recordStep(report.credential, s.action, s.status, s.durationMs);
  if (report.status) recordStatus(report.status, rt.clock.now());
}

async function afterRun(
  rt: Runtime,
  cred: CredentialConfig,
  report: RunReport,
  trigger: Trigger,
): Promise<void> {
  const at = rt.clock.now().toISOString();
  const run: RunRecord = {
    at,
    outcome: report.outcome,
    trigger,
    ...(report.error ? { code: report.error.code, message: report.error.message } : {}),
  };
  await rt.history.record(cred.name, run).catch((e: unknown) =>
    rt.logger.log("warn", "RunHistoryUnavailable", {
      credential: cred.name,
      error: toRotatorError(e).toJSON(),
    }),
  );
  await reportJudgements(
    rt.alerter,
    judgeRun(
      cred.kong.map((k) => k.name),
      report,
    ),
  );
  if (report.compromise) await notifyCompromise(rt, report.compromise, cred.name);
  if (report.outcome === "ok" || report.outcome === "noop") {
    const activated = report.steps.find((s) => s.action === "activate" && s.status === "done");
    if (activated)
      await rt.alerter.succeeded({
        credential: cred.name,
        phase: "active",
        message: `key ${activated.x5t ?? activated.version ?? ""} is active on every Kong target`,
      });
  }
}

/** KeyCompromiseRotation to every alert sink (webhooks, and the log sink that telemetry exports). */
async function notifyCompromise(rt: Runtime, c: CompromiseResult, credential: string): Promise<void> {
  const caches = (c.tokenCaches ?? []).map((t) => `${t.target}: ${t.state}`).join("; ");
  await rt.alerter.compromised({
    credential,
    ...(c.actor ? { actor: c.actor } : {}),
    ...(c.reason ? { reason: c.reason } : {}),
    revoked: c.revoked,
    message:
      `key ${c.compromised ?? "?"} was reported compromised${c.actor ? ` by ${c.actor}` : ""}; ` +
      `${c.replacement ?? "a new key"} is active on every Kong target and ${c.revoked.length} earlier key(s) ` +
      `are removed from the IdP and disabled in Key Vault` +
      (c.unmanaged.length
        ? `; ${c.unmanaged.length} key(s) not managed by the rotator kept at the IdP`
        : "") +
      (caches ? `. Kong token caches: ${caches}` : "") +
      `. Tokens already issued: ${c.tokens.join("; ")}.`,
    hint: "docs/runbooks/key-compromise.md: what to check next (issued tokens, Kong caches, keys not managed by the rotator).",
  });
}

export interface CredentialView extends CredentialStatus {
  /** During a migration from a client secret: the client's secrets at the IdP (metadata only). */
  secrets?: IdpSecret[];
  lastSuccess?: RunRecord;
  lastFailure?: RunRecord;
  error?: SafeError;
  /** Open alert conditions (failing, not yet recovered); absent when the alert state cannot be read. */
  alerts?: OpenAlert[];
}

export async function status(rt: Runtime, name?: string): Promise<CredentialView[]> {
  const creds = name ? [rt.credential(name)] : rt.config.credentials;
  return Promise.all(
    creds.map(async (cred): Promise<CredentialView> => {
      const history = await rt.history.get(cred.name).catch(() => ({}));
      const alerts = await rt.openAlerts(cred.name).then(
        (open) => ({ alerts: open }),
        (e: unknown) => {
          rt.logger.log("warn", "AlertStateUnavailable", {
            credential: cred.name,
            error: toRotatorError(e).toJSON(),
          });
          return {};
        },
      );
      try {
        const ports = rt.enginePorts(cred);
        const snapshot = await observe(cred, ports);
        const view: CredentialView = { ...credentialStatus(snapshot, rt.clock.now()), ...history, ...alerts };
        // A migration from a client secret: the secrets at the IdP (metadata), so that nobody retires one
        // someone else still signs in with. Advice: an unreadable list leaves the rest of the view.
        if (view.migration && view.migration.stage !== "retired") {
          const secrets = await ports.idp.listSecrets().catch(() => undefined);
          if (secrets) view.secrets = secrets;
        }
        recordStatus(view, rt.clock.now());
        return view;
      } catch (e) {
        // A request stays visible while Graph or Kong is down: it lives in Key Vault.
        const request = await pendingRequestOf(cred, rt.enginePorts(cred)).catch(() => undefined);
        return {
          credential: cred.name,
          generations: [],
          targets: [],
          unmanagedKeys: [],
          idp: (({ client, rules }) => ({ client, published: rules.published }))(rt.enginePorts(cred).idp),
          ...history,
          ...(request ? { request: requestStatus(request, rt.clock.now()) } : {}),
          ...alerts,
          error: toRotatorError(e).toJSON(),
        };
      }
    }),
  );
}

export type SyncResult =
  | { credential: string; kind: "busy" }
  | { credential: string; kind: "checked"; report: SyncReport }
  | { credential: string; kind: "error"; error: SafeError };

/** Drift detection for every credential; re-applies under the lease when configured to. */
export async function syncCheck(rt: Runtime, names?: string[]): Promise<SyncResult[]> {
  const results: SyncResult[] = [];
  // One tick reads each Kong plugin (and node) once, however many credentials share it.
  const kongReads = new Map<string, Promise<unknown>>();
  for (const cred of names ? names.map((n) => rt.credential(n)) : rt.config.credentials) {
    const lease = await rt.leases.tryAcquire(cred.name, holderId("sync-timer"));
    if (!lease) {
      results.push({ credential: cred.name, kind: "busy" });
      continue;
    }
    try {
      const report = await checkSync(cred, rt.enginePorts(cred, { kongReads }), {
        reapply: rt.config.sync.reapplyOnDrift,
        expiryWarningMs: rt.config.alerts.expiryWarningMs,
      });
      // The gauges show the state after re-applying: a target put back on the active key is not drifting.
      const reapplied = new Set(report.findings.flatMap((f) => (f.reapplied && f.target ? [f.target] : [])));
      recordStatus(
        {
          ...report.status,
          targets: report.status.targets.map((t) => (reapplied.has(t.name) ? { ...t, inSync: true } : t)),
        },
        rt.clock.now(),
      );
      await alertSync(rt, cred, report);
      results.push({ credential: cred.name, kind: "checked", report });
    } catch (e) {
      const error = toRotatorError(e);
      await reportJudgements(rt.alerter, [judgeSyncError(cred.name, error.toJSON())]);
      results.push({ credential: cred.name, kind: "error", error: error.toJSON() });
    } finally {
      await lease.release();
    }
  }
  return results;
}

async function alertSync(rt: Runtime, cred: CredentialConfig, report: SyncReport): Promise<void> {
  await reportJudgements(
    rt.alerter,
    judgeSync(
      cred.kong.map((k) => k.name),
      report,
    ),
  );
}
