/**
 * The rotator's metrics, through the OpenTelemetry API only. Without a registered MeterProvider (no
 * APPLICATIONINSIGHTS_CONNECTION_STRING, the CLI, tests) the API hands out no-op instruments, so every
 * call here costs a function call and nothing else, and nothing is sent anywhere.
 *
 * Names and dimensions (they reach Application Insights as `customMetrics` rows, the attributes as
 * `customDimensions`; counters and histograms are exported as deltas, see
 * @azure/monitor-opentelemetry-exporter AzureMonitorMetricExporter.selectAggregationTemporality):
 *
 * - `rotator.rotations` (counter) {credential, outcome, trigger}: one per rotation run.
 * - `rotator.step.duration` (histogram, ms) {credential, action, status}: one per executed step.
 * - `rotator.key.days_to_expiry` (gauge) {credential}: days until the active key expires.
 * - `rotator.target.drift` (gauge) {credential, target}: 1 when the target is not on the active key.
 * - `rotator.requests.pending` (gauge) {credential}: 1 when a manual rotation request is pending.
 *
 * The gauges report the latest status this process has seen (from rotation runs, sync checks and status
 * reads): observing Key Vault, Graph and Kong at every export interval would cost calls and money.
 * Attribute values are names and enumerations from the configuration and the engine: never a secret.
 */
import { metrics, type Meter, type MeterProvider } from "@opentelemetry/api";

export const INSTRUMENTATION_NAME = "kong-entra-key-rotator";

/** The part of a status view the gauges read (src/engine/status.ts CredentialStatus, app CredentialView). */
export interface StatusForMetrics {
  credential: string;
  active?: string;
  generations: readonly { x5t?: string; expiresOn?: string }[];
  targets: readonly { name: string; inSync: boolean; error?: unknown }[];
  /** A pending manual rotation request, when the status carries one. */
  request?: unknown;
}

const DAY_MS = 86_400_000;

interface Latest {
  daysToExpiry?: number;
  drift: Map<string, number>;
  pending: number;
}

/** Latest status per credential, fed by recordStatus; bounded by the number of configured credentials. */
const latest = new Map<string, Latest>();

interface Instruments {
  provider: MeterProvider;
  rotations: ReturnType<Meter["createCounter"]>;
  stepDuration: ReturnType<Meter["createHistogram"]>;
}

let current: Instruments | undefined;

/**
 * The API has no proxy for meters: a meter taken before the SDK registered its provider stays a no-op.
 * So instruments are (re)made whenever the global provider differs from the one they came from.
 */
function instruments(): Instruments {
  const provider = metrics.getMeterProvider();
  if (current?.provider === provider) return current;
  const meter = provider.getMeter(INSTRUMENTATION_NAME);
  meter
    .createObservableGauge("rotator.key.days_to_expiry", {
      description: "Days until the active key of the credential expires (latest status seen)",
      unit: "d",
    })
    .addCallback((r) => {
      for (const [credential, l] of latest)
        if (l.daysToExpiry !== undefined) r.observe(l.daysToExpiry, { credential });
    });
  meter
    .createObservableGauge("rotator.target.drift", {
      description: "1 when the Kong target does not hold the active key (latest status seen), else 0",
    })
    .addCallback((r) => {
      for (const [credential, l] of latest)
        for (const [target, v] of l.drift) r.observe(v, { credential, target });
    });
  meter
    .createObservableGauge("rotator.requests.pending", {
      description: "1 when a manual rotation request is pending for the credential (latest status seen)",
    })
    .addCallback((r) => {
      for (const [credential, l] of latest) r.observe(l.pending, { credential });
    });
  current = {
    provider,
    rotations: meter.createCounter("rotator.rotations", { description: "Rotation runs by outcome" }),
    stepDuration: meter.createHistogram("rotator.step.duration", {
      description: "Duration of one rotation step",
      unit: "ms",
    }),
  };
  return current;
}

export function recordRotation(credential: string, outcome: string, trigger: string): void {
  instruments().rotations.add(1, { credential, outcome, trigger });
}

export function recordStep(credential: string, action: string, status: string, durationMs: number): void {
  instruments().stepDuration.record(durationMs, { credential, action, status });
}

/** Feed the gauges from a freshly observed status (rotation report, sync check, status read). */
export function recordStatus(s: StatusForMetrics, now: Date): void {
  instruments();
  const active = s.active === undefined ? undefined : s.generations.find((g) => g.x5t === s.active);
  const expires = active?.expiresOn === undefined ? NaN : Date.parse(active.expiresOn);
  const drift = new Map<string, number>();
  // An unreadable target is reported by its own alert (KONG_UNREACHABLE), not as drift.
  for (const t of s.targets) if (t.error === undefined) drift.set(t.name, t.inSync ? 0 : 1);
  latest.set(s.credential, {
    ...(Number.isNaN(expires) ? {} : { daysToExpiry: (expires - now.getTime()) / DAY_MS }),
    drift,
    pending: s.request === undefined || s.request === null ? 0 : 1,
  });
}

/** For tests: forget the statuses seen. */
export function resetMetricState(): void {
  latest.clear();
  current = undefined;
}
