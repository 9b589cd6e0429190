import { redact, redactText } from "./redact.js";

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Structured logger port. `event` is a stable name (e.g. `KeyRotationFailed`); fields are dimensions. */
export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

export type LogSink = (line: string, level: LogLevel) => void;

/** JSON-lines logger; everything passes through the redactor. */
export function jsonLogger(
  sink: LogSink = (line) => process.stderr.write(line + "\n"),
  minLevel: LogLevel = "info",
): Logger {
  const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  return {
    log(level, event, fields = {}) {
      if (order[level] < order[minLevel]) return;
      const line = JSON.stringify({ time: new Date().toISOString(), level, event, ...redact(fields) });
      sink(redactText(line), level);
    },
  };
}

export const silentLogger: Logger = { log() {} };
