/** Loggers behind the `Logger` port (ports/engine.ts). */
import type { Logger, LogLevel } from "../ports/engine.js";
import { redact, redactText } from "./redact.js";

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
