/**
 * OpenTelemetry for the Function App, exported to Application Insights, following "Use OpenTelemetry with
 * Azure Functions" (learn.microsoft.com/azure/azure-functions/opentelemetry-howto, Node.js v4 model): the
 * host runs with `"telemetryMode": "OpenTelemetry"` (host.json) and the worker registers its own providers
 * with the Azure Monitor exporters from @azure/monitor-opentelemetry-exporter, tells the host so
 * (capability WorkerOpenTelemetryEnabled), forwards InvocationContext logs as log records and runs each
 * invocation in the host's trace context (Azure/azure-functions-nodejs-samples ts/src/otelAppInsights.ts).
 *
 * Off unless APPLICATIONINSIGHTS_CONNECTION_STRING is set: then nothing is imported beyond the API, no
 * provider is registered, the API's no-op instruments are used and nothing is sent. When on, the SDK is
 * loaded with dynamic imports (no cost at import for the other case) and nothing is sent before the first
 * export: constructing exporters and providers makes no network call.
 *
 * Entra authentication: when APPLICATIONINSIGHTS_AUTHENTICATION_STRING is `Authorization=AAD` (with an
 * optional `ClientId=...` of a user-assigned identity), the exporters authenticate with that managed
 * identity, as the host does (learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication).
 */
import type { TokenCredential } from "@azure/identity";

/** Is telemetry to Application Insights configured (the only switch)? */
export function telemetryConfigured(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.APPLICATIONINSIGHTS_CONNECTION_STRING);
}

/**
 * Structured events sent as Application Insights customEvents (the others are traces rows): the alert
 * events and the timers' heartbeat, which the alert rules query (infra/app/alert-rules.json), the run
 * outcome and the audit of manual rotations.
 */
export const CUSTOM_EVENTS: ReadonlySet<string> = new Set([
  "RotatorHeartbeat",
  "KeyRotationFailed",
  "KeySyncDrift",
  "KeyExpiring",
  "KeyRotationSucceeded",
  "KeyCompromiseRotation",
  "RotationRun",
  "RotationNotStarted",
  "ManualRotationAudit",
]);

export interface TelemetryHandle {
  /** Export what is buffered (spans, log records, metrics); bounded by `timeoutMs`. */
  flush(timeoutMs?: number): Promise<void>;
  shutdown(): Promise<void>;
}

/** `ClientId=<guid>;Authorization=AAD` -> the identity to export with; undefined when not Entra auth. */
export function parseAuthenticationString(value: string | undefined): { clientId?: string } | undefined {
  if (!value) return undefined;
  const parts = new Map<string, string>();
  for (const kv of value.split(";")) {
    const i = kv.indexOf("=");
    if (i > 0) parts.set(kv.slice(0, i).trim().toLowerCase(), kv.slice(i + 1).trim());
  }
  if (parts.get("authorization")?.toUpperCase() !== "AAD") return undefined;
  const clientId = parts.get("clientid");
  return clientId ? { clientId } : {};
}

async function exportCredential(env: NodeJS.ProcessEnv): Promise<TokenCredential | undefined> {
  const aad = parseAuthenticationString(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING);
  if (!aad) return undefined;
  const { ManagedIdentityCredential } = namespace(await import("@azure/identity"));
  return aad.clientId
    ? new ManagedIdentityCredential({ clientId: aad.clientId })
    : new ManagedIdentityCredential();
}

/**
 * The exports of a dynamically imported module. Node gives a CommonJS module's exports as named exports
 * (and as `default`); in the esbuild bundle (scripts/package.ts, code splitting) a CommonJS module's chunk
 * has only `export default module.exports`. Most OpenTelemetry packages are CommonJS.
 */
function namespace<T extends object>(m: T): T {
  const d = (m as { default?: unknown }).default;
  return d !== null && typeof d === "object" && Object.keys(m).length === 1 ? (d as T) : m;
}

/** Register the SDK providers with the Azure Monitor exporters; undefined when telemetry is not configured. */
export async function startAzureMonitor(
  env: NodeJS.ProcessEnv = process.env,
): Promise<TelemetryHandle | undefined> {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING;
  if (!telemetryConfigured(env) || !connectionString) return undefined;
  const [exporters, api, apiLogs, contextHooks, core, resources, sdkTrace, sdkMetrics, sdkLogs, credential] =
    await Promise.all([
      import("@azure/monitor-opentelemetry-exporter").then(namespace),
      import("@opentelemetry/api").then(namespace),
      import("@opentelemetry/api-logs").then(namespace),
      import("@opentelemetry/context-async-hooks").then(namespace),
      import("@opentelemetry/core").then(namespace),
      import("@opentelemetry/resources").then(namespace),
      import("@opentelemetry/sdk-trace-base").then(namespace),
      import("@opentelemetry/sdk-metrics").then(namespace),
      import("@opentelemetry/sdk-logs").then(namespace),
      exportCredential(env),
    ]);
  const options = { connectionString, ...(credential ? { credential } : {}) };
  // service.name becomes the cloud role name in Application Insights.
  const resource = resources.resourceFromAttributes({ "service.name": "kong-key-rotator" });

  api.context.setGlobalContextManager(new contextHooks.AsyncLocalStorageContextManager().enable());
  const tracerProvider = new sdkTrace.BasicTracerProvider({
    resource,
    spanProcessors: [new sdkTrace.BatchSpanProcessor(new exporters.AzureMonitorTraceExporter(options))],
  });
  api.trace.setGlobalTracerProvider(tracerProvider);
  api.propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());

  const meterProvider = new sdkMetrics.MeterProvider({
    resource,
    readers: [
      new sdkMetrics.PeriodicExportingMetricReader({
        exporter: new exporters.AzureMonitorMetricExporter(options),
        exportIntervalMillis: 60_000,
      }),
    ],
  });
  api.metrics.setGlobalMeterProvider(meterProvider);

  const loggerProvider = new sdkLogs.LoggerProvider({
    resource,
    processors: [
      new sdkLogs.BatchLogRecordProcessor({ exporter: new exporters.AzureMonitorLogExporter(options) }),
    ],
  });
  apiLogs.logs.setGlobalLoggerProvider(loggerProvider);

  const within = (timeoutMs: number, p: Promise<unknown>) =>
    Promise.race([p.then(() => undefined), new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]);
  return {
    flush: (timeoutMs = 5_000) =>
      within(
        timeoutMs,
        Promise.allSettled([
          tracerProvider.forceFlush(),
          meterProvider.forceFlush(),
          loggerProvider.forceFlush(),
        ]),
      ),
    shutdown: async () => {
      await Promise.allSettled([
        tracerProvider.shutdown(),
        meterProvider.shutdown(),
        loggerProvider.shutdown(),
      ]);
    },
  };
}
