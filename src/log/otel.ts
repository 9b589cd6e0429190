/**
 * Logger that emits OpenTelemetry log records (through @opentelemetry/api-logs; the SDK and the Azure
 * Monitor exporter are registered by src/telemetry/azure.ts). Each record's body is the event name and its
 * attributes are the event's fields, redacted first, so they arrive in Application Insights as
 * `customDimensions` that queries and alert rules filter on without parsing text.
 *
 * Events named in `customEvents` also carry `microsoft.custom_event.name`: the Azure Monitor exporter sends
 * those records as `customEvents` rows named after the event (see @azure/monitor-opentelemetry-exporter
 * utils/logUtils.js logToEnvelope and ApplicationInsightsCustomEventName). The alert rules in
 * infra/app/alerts.bicep query those rows.
 */
import { logs, SeverityNumber, type AnyValue } from "@opentelemetry/api-logs";
import type { Clock, Logger, LogLevel } from "../ports/engine.js";
import { redact, redactText } from "./redact.js";

const SEVERITY: Record<LogLevel, SeverityNumber> = {
  debug: SeverityNumber.DEBUG,
  info: SeverityNumber.INFO,
  warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
};

export const CUSTOM_EVENT_NAME_ATTRIBUTE = "microsoft.custom_event.name";

/**
 * Attribute values are primitives or arrays of them: nested objects become JSON text. Like every sink
 * (src/log/logger.ts jsonLogger), the text gets the final redaction after serialising: a JWK-shaped
 * object without `kty`, for example, passes the structural redaction but not the private-member pattern.
 */
function attributeValue(v: unknown): AnyValue {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "number" || typeof v === "boolean") return v;
  return redactText(typeof v === "string" ? v : JSON.stringify(v));
}

export function otelLogger(options: {
  name: string;
  customEvents: ReadonlySet<string>;
  minLevel?: LogLevel;
  /** The records' time (default: the SDK's, i.e. now); the alert-replay test runs on a fake clock. */
  clock?: Clock;
}): Logger {
  const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  const minLevel = options.minLevel ?? "info";
  return {
    log(level, event, fields = {}) {
      if (order[level] < order[minLevel]) return;
      const attributes: Record<string, AnyValue> = { event };
      for (const [k, v] of Object.entries(redact(fields))) {
        const value = attributeValue(v);
        if (value !== undefined) attributes[k] = value;
      }
      if (options.customEvents.has(event)) attributes[CUSTOM_EVENT_NAME_ATTRIBUTE] = event;
      logs.getLogger(options.name).emit({
        severityNumber: SEVERITY[level],
        severityText: level.toUpperCase(),
        body: redactText(event),
        attributes,
        ...(options.clock ? { timestamp: options.clock.now() } : {}),
      });
    },
  };
}
