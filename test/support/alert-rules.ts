/**
 * An evaluator of the alert rule definitions in infra/app/alert-rules.json (the file infra/app/alerts.bicep
 * builds the Azure Monitor rules from), for tests that replay telemetry. It gives each aggregation kind the
 * meaning of its KQL template in that file, over rows shaped like the Azure Monitor tables they query:
 *
 * - A field is `tostring(<path>)` of the row: a column (`Id`), a member (`customDimensions.status`) or a
 *   bracketed member (`Identity.claim['http://…']`); a missing value is "" (KQL's tostring of null).
 * - `where <eventColumn> == '<event>'` compares exactly; filters `in` / `notIn` are KQL's `in~` / `!in~`
 *   (case-insensitive) against the values, `{rotatorPrincipalId}` substituted.
 * - The rows queried are those with `from < time <= at`, where `from` is `at` minus the range: the rule's
 *   `lookbackHours` when above 0 (overrideQueryTimeRange), else its window.
 * - `rows`: every row that passes the filters.
 * - `latest`: `summarize arg_max(time, *) by <by>` over the rows that pass the filters (a tie goes to the
 *   row emitted last), then the rows whose `aggregation.field` is in `aggregation.values`.
 * - `missing`: `since` is the earliest row of the event in the range (whatever its fields), `seen` the
 *   values of `aggregation.field` among rows that pass the filters within the window; when there is no
 *   row at all or `since` is at least a window old, one row per value of `aggregation.values` not seen.
 * - The alert: the result rows grouped by the `splitBy` columns (one alert per group, as Azure Monitor's
 *   dimensions), each group's row count compared with `threshold` by `operator` (timeAggregation Count).
 *   Stateful (autoMitigate): an alert fires at the first evaluation where its group passes and resolves at
 *   the first later evaluation where it does not. Rules are evaluated every `everyMinutes`, on the minute
 *   grid (UTC). Ingestion latency is not modelled: a row is queryable from the instant it is emitted.
 */
import { readFileSync } from "node:fs";

export interface Source {
  scope: string;
  table: string;
  time: string;
  event: string;
  fields: Record<string, string>;
}

export interface Filter {
  field: string;
  op: "in" | "notIn";
  values: string[];
}

export interface RuleDefinition {
  key: string;
  displayName: string;
  description: string;
  severity: number;
  runbook: string;
  source: string;
  event: string;
  where: Filter[];
  aggregation: { kind: "rows" | "latest" | "missing"; by: string[]; field: string; values: string[] };
  operator: "GreaterThan" | "GreaterThanOrEqual" | "LessThan" | "LessThanOrEqual" | "Equal";
  threshold: number;
  splitBy: string[];
  everyMinutes: number;
  window: { minutes: number; rotationIntervals: number };
  lookbackHours: number;
}

export interface AlertDefinitions {
  sources: Record<string, Source>;
  filters: Record<string, string>;
  queries: Record<string, string>;
  rules: RuleDefinition[];
}

export const ALERT_RULES_PATH = "infra/app/alert-rules.json";

export function loadAlertDefinitions(path = ALERT_RULES_PATH): AlertDefinitions {
  return JSON.parse(readFileSync(path, "utf8")) as AlertDefinitions;
}

/** The deployment's values the definitions refer to (alerts.bicep parameters). */
export interface Deployment {
  rotationIntervalHours: number;
  rotatorPrincipalId: string;
}

/** A row of an Azure Monitor table: columns by name (dynamic columns as objects). */
export type Row = Record<string, unknown>;
export type Tables = Record<string, readonly Row[]>;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export function windowMs(rule: RuleDefinition, d: Deployment): number {
  return rule.window.rotationIntervals > 0
    ? rule.window.rotationIntervals * d.rotationIntervalHours * HOUR
    : rule.window.minutes * MINUTE;
}

export function rangeMs(rule: RuleDefinition, d: Deployment): number {
  return rule.lookbackHours > 0 ? rule.lookbackHours * HOUR : windowMs(rule, d);
}

/** `a.b['c'].d` → ["a", "b", "c", "d"]. */
function pathSegments(path: string): string[] {
  const out: string[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)|\['([^']*)'\]|\.|(.)/g;
  for (const m of path.matchAll(re)) {
    if (m[3] !== undefined) throw new Error(`unsupported field path ${path}`);
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(m[2]);
  }
  return out;
}

/** KQL tostring(<path>) of a row. */
export function fieldValue(row: Row, path: string): string {
  let v: unknown = row;
  for (const s of pathSegments(path)) v = v !== null && typeof v === "object" ? (v as Row)[s] : undefined;
  if (v === undefined || v === null) return "";
  if (v instanceof Date) return v.toISOString();
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function timeOf(row: Row, source: Source): number {
  const t = row[source.time];
  return t instanceof Date ? t.getTime() : Date.parse(String(t));
}

const substitute = (values: string[], d: Deployment) =>
  values.map((v) => v.replaceAll("{rotatorPrincipalId}", d.rotatorPrincipalId).toLowerCase());

/** The rule's query at `at`: its result rows, each with the source's fields as columns. */
export function runQuery(
  defs: AlertDefinitions,
  rule: RuleDefinition,
  tables: Tables,
  at: Date,
  d: Deployment,
): Row[] {
  const source = defs.sources[rule.source];
  if (!source) throw new Error(`${rule.key}: unknown source ${rule.source}`);
  const now = at.getTime();
  const from = now - rangeMs(rule, d);
  const extended = (tables[source.table] ?? [])
    .filter((r) => String(r[source.event]) === rule.event)
    .map((r) => ({ time: timeOf(r, source), row: r }))
    .filter((r) => r.time > from && r.time <= now)
    .map(({ time, row }) => {
      const fields: Row = {};
      for (const [name, path] of Object.entries(source.fields)) fields[name] = fieldValue(row, path);
      return { time, fields };
    });
  const passes = (fields: Row) =>
    rule.where.every((w) => {
      const values = substitute(w.values, d);
      const v = String(fields[w.field] ?? "").toLowerCase();
      return w.op === "in" ? values.includes(v) : !values.includes(v);
    });
  const agg = rule.aggregation;
  if (agg.kind === "rows") return extended.filter((r) => passes(r.fields)).map((r) => r.fields);
  if (agg.kind === "latest") {
    const latest = new Map<string, { time: number; fields: Row }>();
    for (const r of extended.filter((x) => passes(x.fields))) {
      const key = JSON.stringify(agg.by.map((b) => r.fields[b]));
      const seen = latest.get(key);
      if (!seen || r.time >= seen.time) latest.set(key, r);
    }
    const firing = substitute(agg.values, d);
    return [...latest.values()]
      .filter((r) => firing.includes(String(r.fields[agg.field]).toLowerCase()))
      .map((r) => r.fields);
  }
  const window = windowMs(rule, d);
  const since = Math.min(...extended.map((r) => r.time));
  if (extended.length > 0 && since > now - window) return [];
  const seen = new Set(
    extended.filter((r) => r.time > now - window && passes(r.fields)).map((r) => String(r.fields[agg.field])),
  );
  return agg.values.filter((v) => !seen.has(v)).map((v) => ({ [agg.field]: v }));
}

function compare(count: number, op: RuleDefinition["operator"], threshold: number): boolean {
  switch (op) {
    case "GreaterThan":
      return count > threshold;
    case "GreaterThanOrEqual":
      return count >= threshold;
    case "LessThan":
      return count < threshold;
    case "LessThanOrEqual":
      return count <= threshold;
    case "Equal":
      return count === threshold;
  }
}

/** The alert instances (splitBy values, joined with "/") whose condition holds at `at`. */
export function firingAt(
  defs: AlertDefinitions,
  rule: RuleDefinition,
  tables: Tables,
  at: Date,
  d: Deployment,
): string[] {
  const groups = new Map<string, number>();
  for (const row of runQuery(defs, rule, tables, at, d)) {
    const key = rule.splitBy.map((c) => String(row[c] ?? "")).join("/");
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return [...groups].filter(([, n]) => compare(n, rule.operator, rule.threshold)).map(([k]) => k);
}

export interface AlertEpisode {
  rule: string;
  instance: string;
  firedAt: Date;
  resolvedAt?: Date;
}

/** Every rule evaluated on its schedule as time advances, with stateful (autoMitigate) alerts. */
export class AlertMonitor {
  readonly episodes: AlertEpisode[] = [];
  private readonly next = new Map<string, number>();

  constructor(
    private readonly defs: AlertDefinitions,
    private readonly deployment: Deployment,
    start: Date,
  ) {
    for (const r of defs.rules) {
      const every = r.everyMinutes * MINUTE;
      this.next.set(r.key, Math.ceil(start.getTime() / every) * every);
    }
  }

  /** Run every evaluation due up to and including `until`, over `tables` as they are now. */
  advanceTo(until: Date, tables: Tables): void {
    for (const r of this.defs.rules) {
      const every = r.everyMinutes * MINUTE;
      for (let t = this.next.get(r.key)!; t <= until.getTime(); t += every) {
        this.evaluate(r, new Date(t), tables);
        this.next.set(r.key, t + every);
      }
    }
  }

  private evaluate(rule: RuleDefinition, at: Date, tables: Tables): void {
    const now = new Set(firingAt(this.defs, rule, tables, at, this.deployment));
    for (const e of this.open(rule.key)) if (!now.has(e.instance)) e.resolvedAt = at;
    const open = new Set(this.open(rule.key).map((e) => e.instance));
    for (const instance of now)
      if (!open.has(instance)) this.episodes.push({ rule: rule.key, instance, firedAt: at });
  }

  /** The alerts firing now (of one rule, or of all). */
  open(rule?: string): AlertEpisode[] {
    return this.episodes.filter((e) => e.resolvedAt === undefined && (rule === undefined || e.rule === rule));
  }

  /** The next evaluation time of a rule at or after `t`. */
  evaluationAtOrAfter(rule: string, t: Date): Date {
    const every = this.defs.rules.find((r) => r.key === rule)!.everyMinutes * MINUTE;
    return new Date(Math.ceil(t.getTime() / every) * every);
  }
}
