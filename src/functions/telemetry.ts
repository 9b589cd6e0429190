/**
 * Telemetry of the Function App (imported first by index.ts). Without APPLICATIONINSIGHTS_CONNECTION_STRING
 * this module registers nothing: no provider, no hook, no capability, and nothing is sent.
 *
 * With it (src/telemetry/azure.ts registers the SDK providers with the Azure Monitor exporters), the worker
 * does what "Use OpenTelemetry with Azure Functions" asks of a Node.js v4 app
 * (learn.microsoft.com/azure/azure-functions/opentelemetry-howto; the sample is
 * Azure/azure-functions-nodejs-samples ts/src/otelAppInsights.ts):
 * - tells the host it exports its own telemetry (capability WorkerOpenTelemetryEnabled), so the host does
 *   not export the worker's logs a second time;
 * - forwards InvocationContext logs (context.log / context.error) as OpenTelemetry log records;
 * - runs each invocation in the trace context the host passed (traceparent/tracestate), so the rotator's
 *   spans are children of the host's invocation span;
 * - flushes after each invocation: a Flex Consumption instance may be frozen or removed when idle.
 * The SDK loads in the background while the host indexes the functions; the first invocation waits for it.
 */
import { app, type LogLevel as FunctionsLogLevel } from "@azure/functions";
import { context as otelContext, propagation } from "@opentelemetry/api";
import { logs, SeverityNumber } from "@opentelemetry/api-logs";
import { redactText } from "../log/redact.js";
import { INSTRUMENTATION_NAME } from "../telemetry/metrics.js";
import { startAzureMonitor, telemetryConfigured, type TelemetryHandle } from "../telemetry/azure.js";
import { inWorker } from "./app.js";

const SEVERITY: Record<FunctionsLogLevel, SeverityNumber> = {
  trace: SeverityNumber.TRACE,
  debug: SeverityNumber.DEBUG,
  information: SeverityNumber.INFO,
  warning: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
  critical: SeverityNumber.FATAL,
  none: SeverityNumber.UNSPECIFIED,
};

/**
 * Register the worker side of OpenTelemetry with the Functions library. The SDK loads in the background
 * (`started`): the entry's import does not wait for it, the first invocation does.
 */
export function wireFunctionsTelemetry(started: Promise<TelemetryHandle | undefined>): void {
  app.setup({ capabilities: { WorkerOpenTelemetryEnabled: true } });
  app.hook.log((c) => {
    logs.getLogger(INSTRUMENTATION_NAME).emit({
      body: redactText(c.message),
      severityNumber: SEVERITY[c.level],
      severityText: c.level,
      attributes: {
        "log.category": c.category,
        ...(c.invocationContext
          ? { functionName: c.invocationContext.functionName, invocationId: c.invocationContext.invocationId }
          : {}),
      },
    });
  });
  app.hook.preInvocation(async (c) => {
    await started;
    const tc = c.invocationContext.traceContext;
    const carrier: Record<string, string> = {};
    if (tc?.traceParent) carrier.traceparent = tc.traceParent;
    if (tc?.traceState) carrier.tracestate = tc.traceState;
    c.functionHandler = otelContext.bind(
      propagation.extract(otelContext.active(), carrier),
      c.functionHandler,
    );
  });
  app.hook.postInvocation(async () => (await started)?.flush());
}

/**
 * The telemetry start, when configured; undefined otherwise. A failure to start (a malformed connection
 * string, for example) is reported on stderr and leaves telemetry off: it must not stop rotations.
 */
export const telemetry: Promise<TelemetryHandle | undefined> | undefined = telemetryConfigured(process.env)
  ? startAzureMonitor(process.env).catch((e: unknown) => {
      console.error(
        redactText(
          `telemetry could not start, continuing without it: ${e instanceof Error ? e.message : String(e)}`,
        ),
      );
      return undefined;
    })
  : undefined;
// The hooks exist only in the Functions worker; elsewhere the library would just warn that it skips them.
if (telemetry && inWorker) wireFunctionsTelemetry(telemetry);
