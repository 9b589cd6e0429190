/**
 * Alert sink that writes each alert as a structured log event named after it (`KeyRotationFailed`,
 * `KeySyncDrift`, `KeyExpiring`, `KeyRotationSucceeded`, `KeyCompromiseRotation`) with the dimensions an Application Insights
 * log alert rule filters on: credential, target, phase, code, status (firing | reminder | resolved |
 * info) and hint. Where the Logger forwards fields as customDimensions, a rule such as
 *
 *   traces | where customDimensions.event == "KeyRotationFailed" and customDimensions.status == "firing"
 *
 * fires once per failure, because the alerter already deduplicates (see docs/local-stack/storage.md).
 * The Logger redacts every field, so nothing secret reaches the log even by accident.
 */
import type { Logger, LogLevel } from "../../ports/engine.js";
import type { AlertEvent, AlertSink } from "../../ports/infrastructure.js";

function levelOf(e: AlertEvent): LogLevel {
  if (e.status === "resolved" || e.status === "info") return "info";
  return e.event === "KeyRotationFailed" ? "error" : "warn";
}

export function createLogSink(logger: Logger): AlertSink {
  return {
    name: "log",
    async send(e) {
      logger.log(levelOf(e), e.event, {
        status: e.status,
        credential: e.credential,
        ...(e.target === undefined ? {} : { target: e.target }),
        ...(e.phase === undefined ? {} : { phase: e.phase }),
        ...(e.trigger === undefined ? {} : { trigger: e.trigger }),
        ...(e.code === undefined ? {} : { code: e.code }),
        message: e.message,
        ...(e.hint === undefined ? {} : { hint: e.hint }),
        ...(e.actor === undefined ? {} : { actor: e.actor }),
        ...(e.reason === undefined ? {} : { reason: e.reason }),
        ...(e.revoked === undefined ? {} : { revoked: e.revoked }),
        alertTime: e.time,
      });
    },
  };
}
