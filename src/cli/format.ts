/** Human-readable output for the CLI. Everything printed comes from secret-free views. */
import type { ProgressEvent, RunReport } from "../engine/reconcile.js";
import type { CredentialView, SyncResult } from "../app/service.js";
import type { Check, CheckReport } from "../app/checks.js";
import type { AdoptReport } from "../app/adopt.js";

const mark: Record<ProgressEvent["event"], string> = {
  start: "…",
  progress: " ",
  done: "✓",
  skip: "-",
  fail: "✗",
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
        `  plan: ${a.kind}${a.blocked ? ` (blocked: ${a.blocked})` : ""}${"version" in a && a.version ? ` ${String(a.version)}` : ""}`,
      );
  }
  for (const s of r.steps)
    lines.push(
      `  ${s.status === "done" ? "✓" : s.status === "failed" ? "✗" : "-"} ${s.action}${s.target ? ` [${s.target}]` : ""}: ${s.detail} (${s.durationMs} ms)`,
    );
  if (r.error) lines.push(`  error ${r.error.code}: ${r.error.message}`, `  hint: ${r.error.hint}`);
  if (r.failedTarget) lines.push(`  failed target: ${r.failedTarget}`);
  for (const u of r.unmanaged)
    lines.push(
      `  note: unmanaged key at the app ${u.x5t ?? u.keyId}${u.displayName ? ` (${u.displayName})` : ""} is left alone`,
    );
  return lines.join("\n");
}

export function statusText(v: CredentialView): string {
  const lines = [`${v.credential}${v.active ? `  active ${v.active}` : "  no active key"}`];
  if (v.error) lines.push(`  error ${v.error.code}: ${v.error.message}`, `  hint: ${v.error.hint}`);
  for (const g of v.generations)
    lines.push(
      `  ${g.phase.padEnd(9)} ${g.x5t ?? "(pending)"}  ${g.notBefore?.slice(0, 10) ?? "?"} → ${g.expiresOn?.slice(0, 10) ?? "?"}` +
        `${g.retireAfter ? `  retireAfter ${g.retireAfter}` : ""}${g.atIdp ? "  at IdP" : ""}${g.enabled ? "" : "  disabled"}` +
        `${g.failures ? `  failures ${g.failures}${g.lastError ? ` (${g.lastError})` : ""}` : ""}`,
    );
  for (const t of v.targets)
    lines.push(
      `  kong ${t.name}: ${t.error ? `error ${t.error.code}` : t.inSync ? "in sync" : "OUT OF SYNC"} ${t.plugins.map((p) => `${p.pluginId.slice(0, 8)}…=${p.kid ?? "none"}`).join(" ")}`,
    );
  for (const u of v.unmanagedKeys) lines.push(`  unmanaged key at the app: ${u.x5t ?? u.keyId}`);
  if (v.nextAction) lines.push(`  next: ${v.nextAction}`);
  if (v.lastSuccess)
    lines.push(`  last success ${v.lastSuccess.at} (${v.lastSuccess.trigger}, ${v.lastSuccess.outcome})`);
  if (v.lastFailure)
    lines.push(
      `  last failure ${v.lastFailure.at} (${v.lastFailure.trigger}, ${v.lastFailure.code ?? v.lastFailure.outcome})`,
    );
  return lines.join("\n");
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
