/**
 * The status page: one self-contained HTML document (inline CSS and SVG; no script, no external asset)
 * drawn from the same views as `status --json` (service.ts `status()`), for `GET /api/credentials` with
 * `Accept: text/html` and `kong-key-rotator status --html FILE`.
 *
 * Pure: views and "now" in, HTML out. Every value goes through `esc`. The views hold no secret (thumbprints,
 * versions, plugin ids, kids, dates, error codes), so neither does the page.
 *
 * The input is exactly what `status()` returns (`CredentialView[]`), so the page and `status --json` cannot
 * drift apart.
 */
import type { OpenAlert } from "../adapters/alerts/dedup.js";
import type { GenerationStatus, RequestStatus } from "../engine/status.js";
import { describeMigration } from "../engine/migration.js";
import { redact } from "../log/redact.js";
import type { RunRecord } from "../ports/infrastructure.js";
import type { CredentialView } from "./service.js";
import { targetReading } from "./status-view.js";
import { describeCompromise } from "../engine/compromise.js";

export interface PageOptions {
  /** Base URL of docs/runbooks: each open alert links its runbook there (else the runbook is named). */
  runbooks?: string;
}

// ---------------------------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------------------------

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** HTML-escape any value for text and attribute positions. */
export function esc(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

const ISO_TIME = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z\b/g;

/** Free text (messages, next action, trigger) for the page: escaped, every ISO timestamp in it written like the rest. */
function prose(value: unknown): string {
  return esc(String(value ?? "").replace(ISO_TIME, (m) => utc(Date.parse(m))));
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function ms(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : t;
}

/** "2026-11-30 18:27Z" */
function utc(t: number): string {
  return `${new Date(t).toISOString().slice(0, 16).replace("T", " ")}Z`;
}

function relative(t: number, now: number): string {
  const d = t - now;
  const a = Math.abs(d);
  const amount =
    a < 60_000
      ? "under a minute"
      : a < HOUR
        ? `${Math.round(a / 60_000)} min`
        : a < 2 * DAY
          ? `${Math.round(a / HOUR)} h`
          : `${Math.round(a / DAY)} d`;
  if (a < 60_000) return "now";
  return d > 0 ? `in ${amount}` : `${amount} ago`;
}

/** A date cell: absolute UTC time and, muted, how far from now. */
function when(iso: string | undefined, now: number): string {
  const t = ms(iso);
  if (t === undefined) return `<span class="muted">—</span>`;
  return `<time datetime="${esc(iso)}">${esc(utc(t))}</time> <span class="muted">${esc(relative(t, now))}</span>`;
}

const short = (s: string | undefined, n = 12) =>
  s === undefined ? "(pending)" : s.length > n ? `${s.slice(0, n)}…` : s;

// ---------------------------------------------------------------------------------------------
// Problems
// ---------------------------------------------------------------------------------------------

type Severity = "problem" | "warning" | "note";

interface Finding {
  severity: Severity;
  text: string;
}

function findings(c: CredentialView): Finding[] {
  const out: Finding[] = [];
  if (c.error)
    out.push({
      severity: "problem",
      text: `status could not be read: ${c.error.code}: ${c.error.message}${c.error.hint ? ` (hint: ${c.error.hint})` : ""}`,
    });
  if (!c.error && c.active === undefined)
    out.push({
      severity: "problem",
      text: "no active key: Kong logins with this client fail or use an unmanaged key",
    });
  for (const t of c.targets) {
    if (t.error)
      out.push({ severity: "problem", text: `Kong target ${t.name}: ${t.error.code}: ${t.error.message}` });
    else if (!t.inSync && c.active !== undefined)
      out.push({ severity: "problem", text: `Kong target ${t.name} is not on the active key ${c.active}` });
  }
  for (const a of c.alerts ?? [])
    out.push({
      severity: "problem",
      text: `open alert ${a.event}${a.target ? ` [${a.target}]` : ""}: ${a.code}${a.message ? ` — ${a.message}` : ""}, failing since ${utc(ms(a.firstAt) ?? 0)} (${a.count} checks)`,
    });
  const from = c.generations.find((g) => g.rolledBackAt !== undefined && g.phase !== "retired");
  if (from?.rolledBackAt)
    out.push({
      severity: "note",
      text: `rolled back at ${utc(ms(from.rolledBackAt) ?? 0)}: Kong went back from ${short(from.x5t ?? from.version)} to the previous key; ${short(from.x5t ?? from.version)} retires by the normal rules`,
    });
  if (c.alerts === undefined)
    out.push({ severity: "warning", text: "alert state unavailable: open alerts cannot be listed" });
  for (const g of c.generations)
    if (g.lastError && g.phase !== "retired")
      out.push({
        severity: "warning",
        text: `generation ${short(g.x5t ?? g.version)} (${g.phase}) failed ${g.failures}× — last error ${g.lastError}`,
      });
  if (c.request?.lastError)
    out.push({
      severity: "warning",
      text: `manual ${c.request.kind} request ${c.request.id} failed ${c.request.attempts}×: ${c.request.lastError}`,
    });
  if (c.idp.maxKeys !== undefined && c.idp.keys !== undefined && c.idp.keys >= c.idp.maxKeys)
    out.push({
      severity: "note",
      text: `${c.idp.client} holds ${c.idp.keys} of at most ${c.idp.maxKeys} keys: a new key waits until a retiring one is removed`,
    });
  for (const u of c.unmanagedKeys)
    out.push({
      severity: "note",
      text: `key at ${c.idp.client} ${u.x5t ?? u.keyId}${u.displayName ? ` (${u.displayName})` : ""} is not managed by the rotator; left alone`,
    });
  if (c.compromise)
    for (const text of describeCompromise(c.compromise).filter((l) => !l.startsWith("not managed")))
      out.push({ severity: c.compromise.state === "done" ? "note" : "warning", text });
  return out;
}

function overall(f: Finding[]): Severity | "ok" {
  if (f.some((x) => x.severity === "problem")) return "problem";
  if (f.some((x) => x.severity === "warning")) return "warning";
  return "ok";
}

const STATE_LABEL: Record<Severity | "ok", string> = {
  problem: "NEEDS ATTENTION",
  warning: "WARNING",
  note: "OK",
  ok: "OK",
};

// ---------------------------------------------------------------------------------------------
// Timeline (inline SVG)
// ---------------------------------------------------------------------------------------------

const PHASES = ["pending", "published", "verified", "active", "retiring", "retired"] as const;

/** What each phase means; `published` is the provider's own wording (IdpRules.published), per credential. */
const PHASE_HELP: Record<Exclude<(typeof PHASES)[number], "published">, string> = {
  pending: "created in Key Vault",
  verified: "accepted at the token endpoint",
  active: "on every Kong target",
  retiring: "replaced; kept at the IdP until retireAfter",
  retired: "removed from the IdP, version disabled",
};

interface Segment {
  phase: string;
  from: number;
  to: number;
}

/** When a generation stopped being active: the next activation after its own. */
function retiringStart(g: GenerationStatus, all: GenerationStatus[]): number | undefined {
  const own = ms(g.activatedAt);
  if (own === undefined) return undefined;
  const later = all.map((x) => ms(x.activatedAt)).filter((t): t is number => t !== undefined && t > own);
  return later.length > 0 ? Math.min(...later) : undefined;
}

function segments(g: GenerationStatus, all: GenerationStatus[], now: number): Segment[] {
  const starts: [string, number | undefined][] = [
    ["pending", ms(g.createdOn) ?? ms(g.notBefore)],
    ["published", ms(g.publishedAt)],
    ["verified", ms(g.verifiedAt)],
    ["active", ms(g.activatedAt)],
    ["retiring", g.phase === "retiring" || g.phase === "retired" ? retiringStart(g, all) : undefined],
    ["retired", ms(g.retiredAt)],
  ];
  const reached = PHASES.indexOf(g.phase as (typeof PHASES)[number]);
  const known = starts
    .filter((s, i): s is [string, number] => s[1] !== undefined && (reached < 0 || i <= reached))
    .sort((a, b) => a[1] - b[1]);
  // The current phase starts at its recorded date, or where the last known one ends.
  if (!known.some(([p]) => p === g.phase)) {
    const from = known.at(-1)?.[1] ?? ms(g.notBefore) ?? now;
    known.push([g.phase, Math.min(from, now)]);
  }
  return known.map(([phase, from], i) => ({
    phase,
    from,
    to: Math.max(from, known[i + 1]?.[1] ?? now),
  }));
}

/**
 * The time axis is logarithmic on each side of "now": an event an hour ago and one a month ago are both
 * readable on a chart that also reaches a certificate's expiry a year out. x(now) splits the plot in
 * proportion to how far the data reaches into the past and the future, each side keeping at least a third
 * of the width (each side then has its own compression; the ticks say where time is). The unit (where the scale turns from
 * linear to logarithmic) is half the distance of the event nearest to now, between 1 s and 15 min, so a
 * rotation that took seconds (the local stack) spreads out as well as one that took hours.
 */
const MAX_UNIT = 15 * 60_000;
const W = 1100;
const PLOT_X = 230;
const PLOT_W = 660;

function logScale(lo: number, hi: number, now: number, times: number[]): (t: number) => number {
  const nearest = Math.min(MAX_UNIT * 2, ...times.map((t) => Math.abs(t - now)).filter((d) => d >= 1000));
  const unit = Math.max(nearest / 2, 1000);
  const f = (d: number) => Math.log1p(Math.max(d, 0) / unit);
  const past = f(now - lo);
  const future = f(hi - now);
  const share = past === 0 ? 0 : future === 0 ? 1 : Math.min(Math.max(past / (past + future), 1 / 3), 2 / 3);
  const nowX = PLOT_X + PLOT_W * share;
  const end = PLOT_X + PLOT_W;
  return (t) =>
    t <= now
      ? nowX - (past === 0 ? 0 : (f(now - t) / past) * (nowX - PLOT_X))
      : nowX + (future === 0 ? 0 : (f(t - now) / future) * (end - nowX));
}

const TICK_OFFSETS: [number, string][] = [
  [10_000, "10 s"],
  [60_000, "1 min"],
  [10 * 60_000, "10 min"],
  [HOUR, "1 h"],
  [6 * HOUR, "6 h"],
  [DAY, "1 d"],
  [7 * DAY, "7 d"],
  [30 * DAY, "30 d"],
  [91 * DAY, "91 d"],
  [182 * DAY, "182 d"],
  [365 * DAY, "1 y"],
  [730 * DAY, "2 y"],
];

interface Tick {
  t: number;
  rel: string;
  date: string;
}

/** Ticks at round distances from now, dropped where they would crowd (48 px apart at least). */
function ticks(lo: number, hi: number, now: number, x: (t: number) => number): Tick[] {
  const out: Tick[] = [];
  for (const sign of [-1, 1]) {
    let last = x(now);
    for (const [d, label] of TICK_OFFSETS) {
      const t = now + sign * d;
      if (t < lo || t > hi || Math.abs(x(t) - last) < 48) continue;
      last = x(t);
      const iso = new Date(t).toISOString();
      out.push({
        t,
        rel: `${sign < 0 ? "−" : "+"}${label}`,
        date: d >= 91 * DAY ? iso.slice(0, 7) : iso.slice(5, 10),
      });
    }
  }
  return out;
}

const ROW_H = 34;
const TOP = 36;

function timeline(c: CredentialView, index: number, now: number): string {
  const gens = c.generations;
  if (gens.length === 0) return `<p class="muted">No key generation yet.</p>`;
  const times = gens.flatMap((g) =>
    [
      g.createdOn,
      g.notBefore,
      g.publishedAt,
      g.verifiedAt,
      g.activatedAt,
      g.retireAfter,
      g.retiredAt,
      g.expiresOn,
    ].flatMap((d) => ms(d) ?? []),
  );
  times.push(now);
  for (const d of [c.request?.requestedAt, c.trigger?.dueAt]) {
    const t = ms(d);
    if (t !== undefined) times.push(t);
  }
  const lo = Math.min(...times);
  const hi = Math.max(...times);
  const start = lo - Math.max((now - lo) * 0.1, 1000);
  const end = hi + Math.max((hi - now) * 0.02, 1000);
  const x = logScale(start, end, now, times);
  const height = TOP + gens.length * ROW_H + 44;
  const rowsBottom = TOP + gens.length * ROW_H;
  const kidsOf = (x5t: string | undefined) =>
    x5t === undefined ? [] : c.targets.filter((t) => t.plugins.some((p) => p.kid === x5t)).map((t) => t.name);

  const parts: string[] = [];
  parts.push(
    `<defs><pattern id="hatch-${index}" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" class="overlap-bg"/><line x1="0" y1="0" x2="0" y2="8" class="overlap-line"/></pattern></defs>`,
  );
  // Grid and axis.
  for (const tk of ticks(start, end, now, x)) {
    const tx = x(tk.t).toFixed(1);
    parts.push(
      `<line class="grid" x1="${tx}" x2="${tx}" y1="${TOP - 6}" y2="${rowsBottom}"/>`,
      `<text class="tick" x="${tx}" y="${rowsBottom + 16}" text-anchor="middle">${esc(tk.rel)}</text>`,
      `<text class="tick tick-date" x="${tx}" y="${rowsBottom + 31}" text-anchor="middle">${esc(tk.date)}</text>`,
    );
  }
  parts.push(
    `<line class="axis" x1="${PLOT_X}" x2="${PLOT_X + PLOT_W}" y1="${rowsBottom}" y2="${rowsBottom}"/>`,
  );
  // Overlap windows: from the successor's activation until retireAfter, both keys are accepted at the IdP.
  const windows = gens
    .flatMap((g) => {
      const to = ms(g.retireAfter);
      return to === undefined ? [] : [{ g, to, x1: x(Math.min(retiringStart(g, gens) ?? to, to)) }];
    })
    .sort((a, b) => a.x1 - b.x1);
  let labelEnd = -Infinity;
  for (const { g, to, x1 } of windows) {
    const w = Math.max(x(to) - x1, 3);
    // One label where labels would overlap (windows side by side); the legend names the hatching.
    const label = x1 + 3 >= labelEnd;
    if (label) labelEnd = x1 + 3 + 56;
    parts.push(
      `<g class="overlap" data-x5t="${esc(g.x5t)}"><title>${esc(`overlap: ${short(g.x5t)} stays at the IdP until ${utc(to)}`)}</title>` +
        `<rect x="${x1.toFixed(1)}" y="${TOP - 6}" width="${w.toFixed(1)}" height="${rowsBottom - TOP + 6}" fill="url(#hatch-${index})"/>` +
        (label
          ? `<text class="overlap-label" x="${(x1 + 3).toFixed(1)}" y="${TOP - 9}">overlap</text>`
          : "") +
        `</g>`,
    );
  }
  gens.forEach((g, i) => {
    const y = TOP + i * ROW_H;
    const mid = y + ROW_H / 2;
    const row: string[] = [];
    row.push(
      `<text class="row-label" x="8" y="${mid + 5}"><tspan class="ph-text ph-${esc(g.phase)}">${esc(g.phase)}</tspan> <tspan>${esc(short(g.x5t, 12))}</tspan></text>`,
    );
    // Remaining validity after the last phase, up to expiry: a faint outline.
    const exp = ms(g.expiresOn);
    if (exp !== undefined && exp > now && g.phase !== "retired") {
      const x1 = x(now);
      row.push(
        `<rect class="validity" x="${x1.toFixed(1)}" y="${y + 8}" width="${Math.max(x(exp) - x1, 1).toFixed(1)}" height="${ROW_H - 16}" rx="3"><title>${esc(`valid until ${utc(exp)}`)}</title></rect>`,
      );
    }
    for (const s of segments(g, gens, now)) {
      const x1 = x(s.from);
      const w = Math.max(x(s.to) - x1, 3);
      row.push(
        `<rect class="segment ph-${esc(s.phase)}" data-phase="${esc(s.phase)}" x="${x1.toFixed(1)}" y="${y + 6}" width="${w.toFixed(1)}" height="${ROW_H - 12}" rx="3"><title>${esc(`${s.phase} (${phaseHelp(s.phase, c)}): ${utc(s.from)} → ${utc(s.to)}`)}</title></rect>`,
      );
    }
    const marks: [string, string | undefined][] = [
      ["published", g.publishedAt],
      ["verified", g.verifiedAt],
      ["activated", g.activatedAt],
    ];
    for (const [what, at] of marks) {
      const t = ms(at);
      if (t === undefined) continue;
      const mx = x(t);
      row.push(
        `<path class="mark" d="M${mx.toFixed(1)} ${y + 3} l4 4 l-4 4 l-4 -4 z"><title>${esc(`${what} ${utc(t)}`)}</title></path>`,
      );
    }
    const rb = ms(g.rolledBackAt);
    if (rb !== undefined) {
      const rx = x(rb);
      row.push(
        `<g class="rollback" data-rolled-back="${esc(g.rolledBackAt)}"><path class="rollback-mark" d="M${(rx + 5).toFixed(1)} ${y + 4} l-10 6 l10 6 z"/><text class="rollback-label" x="${(rx - 8).toFixed(1)}" y="${y + 15}" text-anchor="end">rolled back</text><title>${esc(`rolled back ${utc(rb)}: Kong went back to the previous key`)}</title></g>`,
      );
    }
    const ra = ms(g.retireAfter);
    if (ra !== undefined)
      row.push(
        `<line class="retire-after" x1="${x(ra).toFixed(1)}" x2="${x(ra).toFixed(1)}" y1="${y + 2}" y2="${y + ROW_H - 2}"><title>${esc(`retireAfter ${utc(ra)}`)}</title></line>`,
      );
    if (exp !== undefined)
      row.push(
        `<line class="expiry" x1="${x(exp).toFixed(1)}" x2="${x(exp).toFixed(1)}" y1="${y + 5}" y2="${y + ROW_H - 5}"><title>${esc(`expires ${utc(exp)}`)}</title></line>`,
      );
    const kongs = kidsOf(g.x5t);
    if (kongs.length > 0)
      row.push(
        `<text class="kong-label" x="${PLOT_X + PLOT_W + 12}" y="${mid + 5}">◀ Kong: ${esc(kongs.slice(0, 2).join(", "))}${kongs.length > 2 ? ` +${kongs.length - 2}` : ""}</text>`,
      );
    parts.push(
      `<g class="generation" data-phase="${esc(g.phase)}" data-x5t="${esc(g.x5t)}" data-version="${esc(g.version)}">${row.join("")}</g>`,
    );
  });
  const nx = x(now).toFixed(1);
  parts.push(
    `<g class="now"><line class="now-line" x1="${nx}" x2="${nx}" y1="${TOP - 22}" y2="${rowsBottom + 4}"/><text class="now-label" x="${nx}" y="${TOP - 24}" text-anchor="middle">now</text></g>`,
  );
  return `<svg class="timeline" role="img" aria-label="${esc(`key generations of ${c.credential} over time`)}" viewBox="0 0 ${W} ${height}" width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">${parts.join("")}</svg>`;
}

// ---------------------------------------------------------------------------------------------
// Tables and blocks
// ---------------------------------------------------------------------------------------------

function generationsTable(c: CredentialView, now: number): string {
  if (c.generations.length === 0) return "";
  const rollbacks = new Set(c.generations.flatMap((g) => (g.rolledBackAt ? [g.rolledBackAt] : [])));
  const rows = c.generations.map(
    (g) =>
      `<tr data-x5t="${esc(g.x5t)}" class="${g.x5t !== undefined && g.x5t === c.active ? "is-active" : ""}">` +
      `<td><span class="badge ph-${esc(g.phase)}">${esc(g.phase)}</span>${g.enabled ? "" : ` <span class="muted">disabled</span>`}` +
      (g.rolledBackAt
        ? `<div class="rollback-note">rolled back ${when(g.rolledBackAt, now)}</div>`
        : g.activatedAt && rollbacks.has(g.activatedAt)
          ? `<div class="rollback-note">restored by the rollback</div>`
          : "") +
      `</td>` +
      `<td class="mono" title="${esc(g.version)}">${esc(short(g.x5t, 16))}<br><span class="muted">v ${esc(short(g.version, 10))}</span></td>` +
      `<td>${when(g.createdOn ?? g.notBefore, now)}</td>` +
      `<td>${when(g.publishedAt, now)}</td>` +
      `<td>${when(g.verifiedAt, now)}</td>` +
      `<td>${when(g.activatedAt, now)}</td>` +
      `<td>${when(g.retireAfter, now)}</td>` +
      `<td>${when(g.retiredAt, now)}</td>` +
      `<td>${when(g.expiresOn, now)}</td>` +
      `<td>${g.atIdp ? "yes" : `<span class="muted">no</span>`}</td>` +
      `<td>${g.failures > 0 ? `<span class="${g.lastError ? "bad" : ""}">${esc(g.failures)}${g.lastError ? ` · ${esc(g.lastError)}` : ""}</span>` : `<span class="muted">0</span>`}</td>` +
      `</tr>`,
  );
  return `<table class="generations"><thead><tr><th>phase</th><th>x5t / version</th><th>created</th><th>published</th><th>verified</th><th>activated</th><th>retireAfter</th><th>retired</th><th>expires</th><th>at IdP</th><th>failures</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function targetsTable(c: CredentialView): string {
  if (c.targets.length === 0) return `<p class="muted">No Kong target configured.</p>`;
  const phaseOf = (kid: string | undefined) =>
    c.generations.find((g) => g.x5t !== undefined && g.x5t === kid)?.phase;
  const rows = c.targets.map((t) => {
    const { state, label, alerts } = targetReading(c, t);
    const but = state === "alert" ? "on the active key, but " : "";
    const plugins =
      t.plugins.length === 0
        ? `<span class="muted">no plugin read</span>`
        : t.plugins
            .map((p) => {
              const onActive = p.kid !== undefined && p.kid === c.active;
              const phase = phaseOf(p.kid);
              return `<div class="plugin"><span class="mono">${esc(short(p.pluginId, 8))}</span>${p.workspace ? ` <span class="muted">ws ${esc(p.workspace)}</span>` : ""} kid <span class="mono ${onActive ? "good" : "bad"}">${esc(p.kid ?? "none")}</span>${phase ? ` <span class="badge ph-${esc(phase)}">${esc(phase)}</span>` : p.kid ? ` <span class="bad">unknown key</span>` : ""}</div>`;
            })
            .join("");
    const detail = t.error
      ? `<div class="muted">${prose(t.error.message)}</div><div class="muted">hint: ${prose(t.error.hint)}</div>`
      : alerts
          .map(
            (a) =>
              `<div class="muted">${but}${esc(a.event)} is open: ${esc(a.code)}${a.message ? ` — ${prose(a.message)}` : ""}</div>`,
          )
          .join("");
    return `<tr data-target="${esc(t.name)}" data-sync="${state}"><td>${esc(t.name)}</td><td><span class="state state-${state}">${esc(label)}</span>${detail}</td><td>${plugins}</td></tr>`;
  });
  return `<table class="targets"><thead><tr><th>Kong target</th><th>sync</th><th>plugins: kid</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function runbookLink(a: OpenAlert, base: string | undefined): string {
  if (base === undefined) return `<span class="mono">docs/runbooks/${esc(a.runbook)}</span>`;
  return `<a class="runbook" href="${esc(`${base.replace(/\/+$/, "")}/${a.runbook}`)}">${esc(a.runbook)}</a>`;
}

function alertsBlock(c: CredentialView, now: number, opts: PageOptions): string {
  if (c.alerts === undefined) return `<p class="warn-text">Alert state unavailable.</p>`;
  if (c.alerts.length === 0) return `<p class="muted alerts-none">No open alert.</p>`;
  const rows = c.alerts.map(
    (a) =>
      `<tr data-event="${esc(a.event)}" data-code="${esc(a.code)}"><td>${esc(a.event)}</td><td>${esc(a.target ?? "—")}</td><td class="mono bad">${esc(a.code)}</td>` +
      `<td class="alert-text">${a.message ? prose(a.message) : `<span class="muted">—</span>`}${a.hint ? `<div class="hint">hint: ${prose(a.hint)}</div>` : ""}</td>` +
      `<td>${runbookLink(a, opts.runbooks)}</td><td>${when(a.firstAt, now)}</td><td>${when(a.lastSentAt, now)}</td><td>${esc(a.count)}</td></tr>`,
  );
  return `<table class="alerts"><thead><tr><th>open alert</th><th>target</th><th>code</th><th>what failed</th><th>runbook</th><th>failing since</th><th>last notified</th><th>checks</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function requestBlock(r: RequestStatus | undefined, now: number): string {
  if (!r) return "";
  const row = (k: string, v: string) => `<dt>${esc(k)}</dt><dd>${v}</dd>`;
  return (
    `<div class="request${r.lastError ? " has-error" : ""}" data-request="${esc(r.id)}"><h4>Pending manual ${esc(r.kind)} request</h4><dl>` +
    row("id", `<span class="mono">${esc(r.id)}</span>`) +
    row("requested", when(r.requestedAt, now)) +
    row("by", esc(r.actor ?? "—")) +
    row("reason", prose(r.reason ?? "—")) +
    row("force", r.force ? "yes" : "no") +
    row("attempts", esc(r.attempts)) +
    row("last attempt", when(r.lastAttemptAt, now)) +
    (r.lastError ? row("last error", `<span class="bad">${esc(r.lastError)}</span>`) : "") +
    `</dl></div>`
  );
}

/** A migration from a client secret: its stage, and the IdP's secrets (metadata) while one may remain. */
function migrationBlock(c: CredentialView, now: number): string {
  const m = c.migration;
  if (!m) return "";
  const secrets = (c.secrets ?? [])
    .map(
      (s) =>
        `<li class="mono">${esc(s.id)}${s.hint ? ` · hint ${esc(s.hint)}` : ""}${s.expiresAt ? ` · expires ${when(s.expiresAt, now)}` : ""} · ${s.lastSignIn ? `last sign-in ${when(s.lastSignIn, now)}` : "no sign-in reported"}${s.usable ? "" : " · not usable"}</li>`,
    )
    .join("");
  return (
    `<div class="request" data-migration="${esc(m.stage)}"><h4>Migration from a client secret</h4><p>${prose(describeMigration(m))}</p>` +
    (secrets ? `<p>Client secrets at the identity provider:</p><ul>${secrets}</ul>` : "") +
    `</div>`
  );
}

/** The trigger that makes a new generation due now, or the next one that will. */
function triggerBlock(t: CredentialView["trigger"], now: number): string {
  if (!t) return "";
  const dueAt = ms(t.dueAt);
  const due = dueAt === undefined || dueAt <= now;
  return `<div class="trigger${due ? " due" : ""}" data-reason="${esc(t.reason)}"><h4>${due ? "A new key is due now" : "Next rotation"}</h4><p><span class="badge">${esc(t.reason)}</span> ${prose(t.message)}${due ? "" : ` · ${when(t.dueAt, now)}`}</p></div>`;
}

function runLine(label: string, r: RunRecord | undefined, now: number, cls: string): string {
  if (!r) return `<span class="muted">${esc(label)}: none recorded</span>`;
  return `<span class="${cls}">${esc(label)}: ${when(r.at, now)} (${esc(r.trigger)}, ${esc(r.code ?? r.outcome)})</span>`;
}

function credentialSection(c: CredentialView, index: number, now: number, opts: PageOptions): string {
  const f = findings(c);
  const state = overall(f);
  const active = c.generations.find((g) => g.x5t !== undefined && g.x5t === c.active);
  const expiry = ms(active?.expiresOn);
  const problems =
    f.length === 0
      ? ""
      : `<ul class="findings">${f.map((x) => `<li class="finding ${x.severity}">${prose(x.text)}</li>`).join("")}</ul>`;
  return `<section class="credential state-${state}" id="credential-${index}" data-credential="${esc(c.credential)}" data-state="${state}">
<header><h2>${esc(c.credential)}</h2><span class="pill pill-${state}">${STATE_LABEL[state]}</span></header>
<p class="summary">active key <span class="mono ${c.active ? "" : "bad"}">${esc(c.active ?? "none")}</span>${expiry !== undefined ? ` · expires ${when(active?.expiresOn, now)}` : ""}${c.nextAction ? ` · next: ${prose(c.nextAction)}` : ""}</p>
<p class="runs">${runLine("last success", c.lastSuccess, now, "good")} · ${runLine("last failure", c.lastFailure, now, "bad")}</p>
${problems}
${triggerBlock(c.trigger, now)}
${requestBlock(c.request, now)}
${migrationBlock(c, now)}
<h3>Key generations</h3>
${timeline(c, index, now)}
${generationsTable(c, now)}
<h3>Kong targets</h3>
${targetsTable(c)}
<h3>Alerts</h3>
${alertsBlock(c, now, opts)}
</section>`;
}

/** A phase's meaning for one credential: `published` in its provider's words. */
function phaseHelp(phase: string, c: CredentialView): string {
  if (phase === "published") return c.idp.published ?? "registered at the identity provider";
  return PHASE_HELP[phase as keyof typeof PHASE_HELP] ?? phase;
}

/** The legend; `published` names each provider on the page in its own words (one per distinct wording). */
function legend(views: readonly CredentialView[]): string {
  const published = [...new Set(views.map((c) => phaseHelp("published", c)))];
  const help = (p: (typeof PHASES)[number]) =>
    p === "published" ? published.join(" · ") || "registered at the identity provider" : PHASE_HELP[p];
  const phases = PHASES.map(
    (p) =>
      `<li data-phase="${p}"><span class="swatch ph-${p}"></span><b>${p}</b> <span class="muted">${esc(help(p))}</span></li>`,
  ).join("");
  return `<ul class="legend">${phases}<li><span class="swatch swatch-overlap"></span><b>overlap</b> <span class="muted">old and new key both accepted</span></li><li><span class="swatch swatch-validity"></span><b>valid until</b> <span class="muted">certificate expiry</span></li><li><span class="swatch swatch-now"></span><b>now</b></li><li><span class="diamond">◆</span> published / verified / activated · <span class="rollback-swatch">◀</span> rolled back · <span class="dash">┆</span> retireAfter · <span class="bad">|</span> expiry</li><li class="muted">time axis: logarithmic on both sides of now (hours get room next to months)</li></ul>`;
}

const CSS = `
:root{color-scheme:dark;--bg:#111418;--card:#1b2027;--line:#2c333d;--text:#e8eaed;--muted:#9aa3ad;--bad:#ff6b6b;--warn:#ffb347;--good:#5fd38d;
--pending:#8f9bb3;--published:#f2c14e;--verified:#4cc3d9;--active:#3fbf6f;--retiring:#f08a3c;--retired:#5d6672;--now:#5ab0ff}
*{box-sizing:border-box}body{margin:0;padding:20px 28px;background:var(--bg);color:var(--text);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
h1{font-size:22px;margin:0 0 4px}h2{font-size:20px;margin:0}h3{font-size:15px;margin:18px 0 6px;color:var(--muted);text-transform:uppercase;letter-spacing:.06em}h4{margin:0 0 6px;font-size:15px}
.muted{color:var(--muted)}.bad{color:var(--bad)}.good{color:var(--good)}.warn-text{color:var(--warn)}.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
.top{display:flex;flex-wrap:wrap;gap:10px 24px;align-items:baseline;margin-bottom:12px}
.overview{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0 14px;padding:0;list-style:none}.overview a{color:var(--text);text-decoration:none}
.pill{display:inline-block;padding:2px 10px;border-radius:999px;font-weight:700;font-size:12px;letter-spacing:.04em}
.pill-ok{background:#1f4d33;color:#b8f5cf}.pill-warning{background:#5a4212;color:#ffe2a8}.pill-problem{background:#6b1d1d;color:#ffd0d0}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;list-style:none;padding:10px 14px;margin:0 0 16px;background:var(--card);border:1px solid var(--line);border-radius:8px;font-size:13px}
.swatch{display:inline-block;width:22px;height:12px;border-radius:3px;vertical-align:-1px;margin-right:4px}
.swatch-overlap{background:repeating-linear-gradient(45deg,#3a2a1a 0 3px,#f08a3c 3px 5px)}.swatch-validity{border:1px dashed var(--muted)}.swatch-now{width:3px;background:var(--now)}
.diamond{color:#fff}.dash{color:var(--retiring)}
.credential{background:var(--card);border:1px solid var(--line);border-left:6px solid var(--good);border-radius:8px;padding:14px 18px;margin:0 0 18px}
.credential.state-warning{border-left-color:var(--warn)}.credential.state-problem{border-left-color:var(--bad);box-shadow:0 0 0 1px #6b1d1d}
.credential header{display:flex;gap:12px;align-items:center}.summary,.runs{margin:6px 0}
.findings{list-style:none;padding:0;margin:10px 0}.finding{padding:6px 10px;border-radius:6px;margin:4px 0;font-weight:600}
.finding.problem{background:#3a1616;color:#ffd6d6;border-left:4px solid var(--bad)}.finding.warning{background:#3a2c12;color:#ffe6bd;border-left:4px solid var(--warn)}.finding.note{background:#1e2731;color:var(--muted);font-weight:400;border-left:4px solid var(--line)}
.timeline{display:block;margin:4px 0 8px;background:#151a20;border:1px solid var(--line);border-radius:6px}
.timeline text{fill:var(--text);font:13px system-ui,sans-serif}.timeline .tick{fill:var(--muted);font-size:12px}.timeline .grid{stroke:#262d36}.timeline .axis{stroke:#4a535f}
.timeline .validity{fill:none;stroke:#6c7582;stroke-dasharray:4 3}.timeline .mark{fill:#fff;stroke:#111418;stroke-width:1}
.timeline .retire-after{stroke:var(--retiring);stroke-width:2;stroke-dasharray:3 2}.timeline .expiry{stroke:var(--bad);stroke-width:2}
.timeline .now-line{stroke:var(--now);stroke-width:2}.timeline .now-label{fill:var(--now);font-weight:700}
.timeline .overlap-bg{fill:#2a2118}.timeline .overlap-line{stroke:#f08a3c;stroke-width:2;opacity:.55}.timeline .overlap-label{fill:var(--retiring);font-size:12px}
.timeline .kong-label{fill:var(--good);font-weight:600}.timeline .rollback-mark{fill:var(--warn);stroke:#111418;stroke-width:1}.timeline .rollback-label{fill:var(--warn);font-size:12px;font-weight:600}.timeline .row-label tspan{font-weight:600}
.ph-pending{fill:var(--pending);background:var(--pending)}.ph-published{fill:var(--published);background:var(--published)}.ph-verified{fill:var(--verified);background:var(--verified)}
.ph-active{fill:var(--active);background:var(--active)}.ph-retiring{fill:var(--retiring);background:var(--retiring)}.ph-retired{fill:var(--retired);background:var(--retired)}
.timeline .segment.ph-retired{opacity:.55}
.timeline .ph-text.ph-pending{fill:var(--pending)}.timeline .ph-text.ph-published{fill:var(--published)}.timeline .ph-text.ph-verified{fill:var(--verified)}.timeline .ph-text.ph-active{fill:var(--active)}.timeline .ph-text.ph-retiring{fill:var(--retiring)}.timeline .ph-text.ph-retired{fill:#9aa3ad}
.badge{display:inline-block;padding:0 7px;border-radius:4px;color:#111418;font-weight:700;font-size:12px;background:#c9d1d9}
table{border-collapse:collapse;width:100%;font-size:13px;margin:4px 0}th{text-align:left;color:var(--muted);font-weight:600;border-bottom:1px solid var(--line);padding:4px 6px}
td{border-bottom:1px solid #232931;padding:5px 6px;vertical-align:top}tr.is-active td{background:#17261d}
.state{font-weight:700}.state-in-sync{color:var(--good)}.state-out-of-sync,.state-error,.state-alert{color:var(--bad)}
.rollback-note{color:var(--warn);font-size:12px;margin-top:2px}.rollback-swatch{color:var(--warn)}.hint{color:var(--muted);margin-top:2px}
a.runbook{color:var(--now)}
.request,.trigger{border:1px solid var(--line);border-radius:6px;padding:8px 12px;margin:10px 0;background:#171c22}.request.has-error{border-color:var(--bad)}.trigger.due{border-color:var(--warn)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}dt{color:var(--muted)}dd{margin:0}
footer{color:var(--muted);font-size:12px;margin-top:18px}
`;

/** The whole page. `now` positions the "now" marker and the relative times. */
export function renderStatusPage(
  views: readonly CredentialView[],
  now: Date,
  opts: PageOptions = {},
): string {
  // Defence in depth: the views hold no secret, and anything that slips into a message is scrubbed.
  const data = redact(views);
  const t = now.getTime();
  const states = data.map((c) => overall(findings(c)));
  const attention = states.filter((s) => s === "problem").length;
  const overview = data
    .map(
      (c, i) =>
        `<li><a href="#credential-${i}"><span class="pill pill-${states[i]}">${esc(c.credential)}: ${STATE_LABEL[states[i] ?? "ok"]}</span></a></li>`,
    )
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(attention > 0 ? `(${attention}) ` : "")}Kong key rotation status</title>
<style>${CSS}</style></head>
<body>
<div class="top"><h1>Kong key rotation status</h1><span class="muted">as of ${esc(utc(t))} · ${esc(data.length)} credential${data.length === 1 ? "" : "s"} · ${attention > 0 ? `<b class="bad">${esc(attention)} need${attention === 1 ? "s" : ""} attention</b>` : `<b class="good">all fine</b>`}</span></div>
<ul class="overview">${overview}</ul>
${legend(data)}
${data.length === 0 ? `<p class="muted">No credential is configured.</p>` : data.map((c, i) => credentialSection(c, i, t, opts)).join("\n")}
<footer>Generated by kong-key-rotator from the same data as <code>status --json</code>. Times are UTC. No secret is shown: thumbprints, versions, plugin ids and kids are public.</footer>
</body></html>
`;
}
