/** Human-readable output for the CLI. Everything printed comes from secret-free views. */
import type { ProgressEvent, RunReport } from "../engine/reconcile.js";
import type { BatchResult, CancelResult, CredentialView, RotateResult, SyncResult } from "../app/service.js";
import type { RequestStatus } from "../engine/status.js";
import type { Check, CheckReport } from "../app/checks.js";
import type { AdoptReport } from "../app/adopt.js";
import { targetReading } from "../app/status-view.js";
import type { IdpSecret, LogLevel } from "../ports/engine.js";
import type { MigrateResult } from "../app/migrate.js";
import { describeMigration } from "../engine/migration.js";
import { redact, redactText } from "../log/redact.js";
import { describeCompromise } from "../engine/compromise.js";

const mark: Record<ProgressEvent["event"], string> = {
  start: "…",
  progress: " ",
  done: "✓",
  skip: "-",
  fail: "✗",
  wait: "⏸",
};

export function progressLine(e: ProgressEvent): string {
  const what =
    e.event === "progress"
      ? `    ${e.detail ?? ""}`
      : `${mark[e.event]} ${e.description}${e.detail ? ` — ${e.detail}` : ""}`;
  const err = e.error ? `\n    ${e.error.code}: ${e.error.message}\n    hint: ${e.error.hint}` : "";
  return `[${e.credential}] ${what}${err}`;
}

export function reportText(r: RunReport): string {
  const lines = [`${r.credential}: ${r.outcome}${r.reason ? ` (${r.reason})` : ""}`];
  if (r.outcome === "planned") {
    if (r.plan.length === 0) lines.push("  nothing to do");
    for (const a of r.plan)
      lines.push(
        `  plan: ${a.kind}${a.kind === "create" ? ` [${a.trigger}: ${a.reason}]` : ""}${a.blocked ? ` (blocked: ${a.blocked})` : ""}${"version" in a && a.version ? ` ${String(a.version)}` : ""}`,
      );
  }
  for (const s of r.steps)
    lines.push(
      `  ${s.status === "done" ? "✓" : s.status === "failed" ? "✗" : s.status === "waiting" ? "⏸" : "-"} ${s.action}${s.target ? ` [${s.target}]` : ""}: ${s.detail} (${s.durationMs} ms)`,
    );
  if (r.error) lines.push(`  error ${r.error.code}: ${r.error.message}`, `  hint: ${r.error.hint}`);
  if (r.failedTarget) lines.push(`  failed target: ${r.failedTarget}`);
  if (r.nextRunAt) lines.push(`  continues at ${r.nextRunAt}`);
  const compromise = r.compromise ?? r.status?.compromise;
  if (compromise && (r.compromise || compromise.state === "pending"))
    for (const l of describeCompromise(compromise)) lines.push(`  ${l}`);
  else
    for (const u of r.unmanaged)
      lines.push(
        `  note: key at the IdP ${u.x5t ?? u.keyId}${u.displayName ? ` (${u.displayName})` : ""} is not managed by the rotator; left alone`,
      );
  return lines.join("\n");
}

/**
 * One credential's outcome in a `run`/`rotate`/`plan` summary. `asked`: `rotate <name>` without --force or
 * --rollback, where a run with nothing due says why and how to rotate anyway.
 */
export function batchText(r: BatchResult, opts: { asked?: boolean } = {}): string {
  if (r.kind === "busy") return `${r.credential}: busy (another writer holds the lease)`;
  if (r.kind === "idle")
    return `${r.credential}: nothing due (from the Key Vault listing; run --check also reads the identity provider and Kong)`;
  if (r.kind === "error")
    return `${r.credential}: error ${r.error.code}: ${r.error.message}\n  hint: ${r.error.hint}`;
  return [
    submittedText(r),
    reportText(r.report),
    opts.asked ? nothingDueText(r.report) : undefined,
    r.report.status?.request ? `  ${requestLine(r.report.status.request)}` : undefined,
  ]
    .filter((l) => l !== undefined)
    .join("\n");
}

/** A `rotate <name>` that did nothing because nothing was due: why, and the command that rotates anyway. */
function nothingDueText(r: RunReport): string | undefined {
  if (r.outcome !== "noop" || r.steps.length > 0 || r.status?.request) return undefined;
  const next = r.status?.trigger;
  return [
    `  nothing was due${next ? `: ${next.message}` : ""}`,
    `  to rotate now anyway: kong-key-rotator rotate ${r.credential} --force --reason "<why>"`,
  ].join("\n");
}

/** What a request asks for, when it asks for a change of its own (force, rollback, cancel); else undefined. */
export function manualChange(fields: Record<string, unknown>): string | undefined {
  if (fields.cancel === true) return "cancel of the pending request";
  if (fields.rollback === true) return "rollback";
  if (fields.force === true)
    return fields.overrideCooldown === true ? "forced rotation, overriding the cooldown" : "forced rotation";
  return undefined;
}

/** The audit record of a manual request, for people: who asked for what, and why. */
function auditText(f: Record<string, unknown>): string {
  return redactText(
    `audit [${String(f.credential)}] ${String(f.actor ?? "?")} asked for a ${manualChange(f) ?? (f.dryRun === true ? "plan" : "run")}` +
      `${typeof f.reason === "string" ? `: "${f.reason}"` : ""}`,
  );
}

/** One service log record as a line for people: level, event, credential, fields, then the error. */
export function logText(level: LogLevel, event: string, fields: Record<string, unknown>): string {
  const safe = redact(fields) as Record<string, unknown>;
  if (event === "RotationRequested") return auditText(safe);
  // An alert the log sink records: one short line (its message and hint are in the command's output).
  if (typeof safe.status === "string" && ["firing", "reminder", "resolved"].includes(safe.status))
    return redactText(
      `alert ${event} ${safe.status}${typeof safe.credential === "string" ? ` [${safe.credential}]` : ""}` +
        `${typeof safe.target === "string" ? ` target=${safe.target}` : ""}${typeof safe.code === "string" ? `: ${safe.code}` : ""}`,
    );
  const { credential, error, ...rest } = safe;
  const parts = Object.entries(rest)
    .filter(([, v]) => v !== undefined && v !== null && typeof v !== "object")
    .map(([k, v]) => `${k}=${String(v)}`);
  const e = error !== null && typeof error === "object" ? (error as Record<string, unknown>) : undefined;
  const why = e
    ? `: ${String(e.code ?? "")}${e.message ? ` ${String(e.message)}` : ""}${e.hint ? ` (hint: ${String(e.hint)})` : ""}`
    : "";
  return redactText(
    `${level === "warn" ? "warning" : level} ${event}${typeof credential === "string" ? ` [${credential}]` : ""}` +
      `${parts.length ? ` ${parts.join(" ")}` : ""}${why}`,
  );
}

export function statusText(v: CredentialView, now: Date = new Date()): string {
  const lines = [`${v.credential}${v.active ? `  active ${v.active}` : "  no active key"}`];
  if (v.error) lines.push(`  error ${v.error.code}: ${v.error.message}`, `  hint: ${v.error.hint}`);
  if (v.idp.keys !== undefined)
    lines.push(
      `  idp ${v.idp.client}: ${v.idp.keys} key(s)${v.idp.maxKeys !== undefined ? ` of at most ${v.idp.maxKeys}` : ""}`,
    );
  for (const g of v.generations)
    lines.push(
      `  ${g.phase.padEnd(9)} ${g.x5t ?? "(pending)"}  ${g.notBefore?.slice(0, 10) ?? "?"} → ${g.expiresOn?.slice(0, 10) ?? "?"}` +
        `${g.retireAfter ? `  retireAfter ${g.retireAfter}` : ""}${g.atIdp ? "  at IdP" : ""}${g.enabled ? "" : "  disabled"}` +
        `${g.failures ? `  failures ${g.failures}${g.lastError ? ` (${g.lastError})` : ""}` : ""}` +
        (g.confirming ?? [])
          .map(
            (c) =>
              `\n    kong ${c.target}: written ${c.appliedAt}, not confirmed by ${c.lagging.join(", ") || "(not yet looked)"}` +
              (c.failed
                ? " (window ended; the next run opens a new one)"
                : c.windowFrom
                  ? ` (window since ${c.windowFrom})`
                  : ""),
          )
          .join(""),
    );
  for (const t of v.targets) {
    const reading = targetReading(v, t);
    lines.push(
      `  kong ${t.name}: ${reading.label} ${t.plugins.map((p) => `${p.pluginId.slice(0, 8)}…=${p.kid ?? "none"}`).join(" ")}`.trimEnd(),
    );
    if (t.error) lines.push(`    ${t.error.message}`, `    hint: ${t.error.hint}`);
    else if (reading.state === "alert")
      lines.push("    on the active key, but an alert on this target is open (below)");
  }
  for (const a of v.alerts ?? []) {
    lines.push(
      `  ALERT ${a.event}${a.target ? ` [${a.target}]` : ""}: ${a.code} since ${a.firstAt} (${a.count} checks)`,
    );
    if (a.message) lines.push(`    ${a.message}`);
    if (a.hint) lines.push(`    hint: ${a.hint}`);
    lines.push(`    runbook: docs/runbooks/${a.runbook}`);
  }
  if (v.alerts === undefined) lines.push("  alerts: state unavailable");
  for (const u of v.unmanagedKeys)
    lines.push(`  key at the IdP not managed by the rotator: ${u.x5t ?? u.keyId}`);
  if (v.compromise) for (const l of describeCompromise(v.compromise)) lines.push(`  ${l}`);
  if (v.request) lines.push(`  ${requestLine(v.request)}`);
  if (v.migration) lines.push(`  ${describeMigration(v.migration)}`);
  for (const s of v.secrets ?? []) lines.push(`    secret at the IdP: ${secretLine(s)}`);
  if (v.trigger)
    lines.push(
      Date.parse(v.trigger.dueAt) <= now.getTime()
        ? `  due now (${v.trigger.reason}): ${v.trigger.message}`
        : `  next rotation (${v.trigger.reason}): ${v.trigger.message}`,
    );
  if (v.nextAction) lines.push(`  next: ${v.nextAction}`);
  if (v.lastSuccess)
    lines.push(`  last success ${v.lastSuccess.at} (${v.lastSuccess.trigger}, ${v.lastSuccess.outcome})`);
  if (v.lastFailure)
    lines.push(
      `  last failure ${v.lastFailure.at} (${v.lastFailure.trigger}, ${v.lastFailure.code ?? v.lastFailure.outcome})`,
    );
  return lines.join("\n");
}

export function requestLine(r: RequestStatus): string {
  const age =
    r.ageSeconds < 120
      ? `${r.ageSeconds} s`
      : r.ageSeconds < 7200
        ? `${Math.round(r.ageSeconds / 60)} min`
        : `${Math.round(r.ageSeconds / 3600)} h`;
  return (
    `pending ${r.kind}${r.force ? " (forced)" : ""} request ${r.id} by ${r.actor ?? "?"}, ${age} old` +
    `${r.reason ? `: "${r.reason}"` : ""}; attempts ${r.attempts}` +
    `${r.lastError ? `, last error ${r.lastError} at ${r.lastAttemptAt ?? "?"}` : ""}`
  );
}

/**
 * The line about the request a rotate/rollback wrote before its run. "Later runs carry it out" only while
 * it is still pending after this run (or when the run could not even read the state).
 */
export function submittedText(r: RotateResult): string | undefined {
  if (r.kind !== "done" || !r.request) return undefined;
  const q = r.request.request;
  const status = r.report.status;
  const pending = status === undefined || status.request?.id === q.id;
  switch (r.request.outcome) {
    case "recorded":
      return pending
        ? `${r.credential}: ${q.kind} request ${q.id} recorded; later runs carry it out until it is done (withdraw: rotate ${r.credential} --cancel)`
        : `${r.credential}: ${q.kind} request ${q.id} recorded and carried out by this run`;
    case "already-pending":
      return `${r.credential}: a ${q.kind} request (${q.id}, ${q.requestedAt.toISOString()}) was already pending; no second one was added`;
    case "bootstrap":
      return `${r.credential}: no generation exists yet; the bootstrap is due by itself`;
  }
}

export function nothingToCancelText(credential: string): string {
  return `${credential}: no forced rotation or rollback is pending; nothing to cancel`;
}

export function cancelText(r: CancelResult): string {
  if (r.kind === "busy")
    return `${r.credential}: busy (another writer holds the lease); nothing was withdrawn`;
  return (
    `${r.credential}: ${r.request.kind} request ${r.request.id} withdrawn` +
    (r.abandoned.length
      ? `; in-flight generation(s) ${r.abandoned.join(", ")} abandoned (retired by the next runs)`
      : "")
  );
}

export function syncText(r: SyncResult): string {
  if (r.kind === "busy") return `${r.credential}: busy (another writer holds the lease)`;
  if (r.kind === "error")
    return `${r.credential}: error ${r.error.code}: ${r.error.message}\n  hint: ${r.error.hint}`;
  if (r.report.findings.length === 0) return `${r.credential}: in sync`;
  return [
    `${r.credential}:`,
    ...r.report.findings.map(
      (f) =>
        `  ${f.code}${f.target ? ` [${f.target}]` : ""}: ${f.message}${f.reapplied ? " (re-applied)" : ""}\n    hint: ${f.hint}`,
    ),
  ].join("\n");
}

const LABEL: Record<Check["status"], string> = { pass: "PASS", info: "info", warn: "WARN", fail: "FAIL" };

function checkLines(checks: Check[]): string[] {
  const lines: string[] = [];
  let credential: string | undefined;
  for (const c of checks) {
    if (c.credential !== credential) {
      credential = c.credential;
      lines.push(credential ?? "(global)");
    }
    const where = c.target ? `${c.area}[${c.target}]` : c.area;
    lines.push(`  ${LABEL[c.status]}  ${where.padEnd(14)} ${c.code}: ${c.message}`);
    if (c.hint && c.status !== "pass") lines.push(`        hint: ${c.hint}`);
  }
  return lines;
}

function summary(r: CheckReport): string {
  return `${r.counts.pass} pass, ${r.counts.info} info, ${r.counts.warn} warn, ${r.counts.fail} fail`;
}

export function doctorText(r: CheckReport): string {
  return [...checkLines(r.checks), `doctor: ${r.ok ? "ok" : "FAILED"} (${summary(r)})`].join("\n");
}

export function adoptText(r: AdoptReport, apply: boolean): string {
  if (r.busy) return `${r.credential}: busy (another writer holds the lease); nothing was imported`;
  const lines = checkLines(r.checks);
  if (r.certificate)
    lines.splice(
      1,
      0,
      `  certificate ${r.certificate.x5t} ${r.certificate.subject} ${r.certificate.notBefore.slice(0, 10)} → ${r.certificate.notAfter.slice(0, 10)}`,
    );
  if (r.applied) lines.push(`adopted: imported as version ${r.version ?? "?"}, now the active generation`);
  else if (!r.ok) lines.push(`adopt: refused (${summary(r)}); nothing was changed`);
  else if (!apply) lines.push("dry run: with --yes it would", ...r.actions.map((a) => `  - ${a}`));
  return lines.join("\n");
}

export function migrateText(r: MigrateResult): string {
  if (r.kind === "busy") return `${r.credential}: busy (another writer holds the lease); nothing was done`;
  const m = r.report;
  const lines = [`${m.credential}: migration ${m.outcome}${m.record ? ` (stage ${m.record.stage})` : ""}`];
  lines.push(
    `  cutover at the IdP: ${m.cutover.cutover}` +
      (m.cutover.cutover === "none"
        ? " (secret and key side by side: no failed logins)"
        : ` (expected window about ${Math.ceil(m.cutover.expectedWindowMs / 1000)} s plus propagation, at most ${Math.ceil(m.cutover.maxWindowMs / 1000)} s)`),
  );
  for (const s of m.steps) lines.push(`  ${s.status.padEnd(7)} ${s.step}: ${s.detail}`);
  if (m.windowMs !== undefined) lines.push(`  measured cutover window: ${m.windowMs} ms`);
  for (const s of m.secrets ?? []) lines.push(`  secret at the IdP: ${secretLine(s)}`);
  if (m.error) lines.push(`  error ${m.error.code}: ${m.error.message}`, `  hint: ${m.error.hint}`);
  if (m.nextRunAt) lines.push(`  continues at ${m.nextRunAt} (run migrate again, or the timer continues it)`);
  return lines.join("\n");
}

export function secretLine(s: IdpSecret): string {
  return [
    s.id,
    s.hint ? `hint ${s.hint}` : undefined,
    s.displayName ? `"${s.displayName}"` : undefined,
    s.expiresAt ? `expires ${s.expiresAt}` : undefined,
    s.lastSignIn ? `last sign-in ${s.lastSignIn}` : "no sign-in reported",
    s.usable ? "usable" : "not usable",
  ]
    .filter((x) => x !== undefined)
    .join(", ");
}
