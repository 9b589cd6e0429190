/**
 * Secret hygiene of the OpenTelemetry output (part of hygiene.setup.ts): processors that hand every log
 * record (body, severity, attributes) and every ended span (name, attributes, status, events with their
 * attributes) to the capture, and global providers that use them, so that whatever the product emits
 * through the OpenTelemetry API in any test is checked with the rest of the suite's output.
 *
 * A test that installs providers of its own (test/functions/telemetry.test.ts) puts these processors in
 * them with `hygieneProcessors()` and gives the globals back with `installHygieneProviders()` when done.
 */
import { logs } from "@opentelemetry/api-logs";
import { trace } from "@opentelemetry/api";
import { LoggerProvider, type LogRecordProcessor, type SdkLogRecord } from "@opentelemetry/sdk-logs";
import { BasicTracerProvider, type ReadableSpan, type SpanProcessor } from "@opentelemetry/sdk-trace-base";

export type CaptureFn = (channel: string, text: string) => void;

interface HygieneOtel {
  spans: SpanProcessor;
  logs: LogRecordProcessor;
}

type Global = typeof globalThis & { __rotatorHygieneOtel?: HygieneOtel };
const g = globalThis as Global;

export function spanProcessor(capture: CaptureFn): SpanProcessor {
  return {
    onStart() {},
    onEnd(span: ReadableSpan) {
      capture(
        "otel-span",
        JSON.stringify({
          name: span.name,
          attributes: span.attributes,
          status: span.status,
          events: span.events.map((e) => ({ name: e.name, attributes: e.attributes ?? {} })),
          links: span.links.map((l) => l.attributes ?? {}),
        }),
      );
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
}

export function logProcessor(capture: CaptureFn): LogRecordProcessor {
  return {
    onEmit(record: SdkLogRecord) {
      capture(
        "otel-log",
        JSON.stringify({
          body: record.body,
          severity: record.severityText,
          attributes: record.attributes,
          scope: record.instrumentationScope.name,
        }),
      );
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
}

/** Create the processors once per process (they write to the capture function given first). */
export function createHygieneProcessors(capture: CaptureFn): void {
  g.__rotatorHygieneOtel ??= { spans: spanProcessor(capture), logs: logProcessor(capture) };
}

/** The processors to add to a test's own providers; none when the capture is off. */
export function hygieneProcessors(): { spans: SpanProcessor[]; logs: LogRecordProcessor[] } {
  const h = g.__rotatorHygieneOtel;
  return h ? { spans: [h.spans], logs: [h.logs] } : { spans: [], logs: [] };
}

/** Register global tracer and logger providers that only capture (replacing whatever is registered). */
export function installHygieneProviders(): void {
  const h = g.__rotatorHygieneOtel;
  if (!h) return;
  trace.disable();
  logs.disable();
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [h.spans] }));
  logs.setGlobalLoggerProvider(new LoggerProvider({ processors: [h.logs] }));
}
