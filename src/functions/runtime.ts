/**
 * One runtime per Function App instance, built on first use (not at module load, to keep cold start
 * cheap and to let a bad configuration surface as a clear error on the first invocation).
 */
import { RotatorError } from "../errors.js";
import type { Runtime } from "../app/runtime.js";
import { jsonLogger } from "../log/logger.js";
import type { Logger } from "../ports/engine.js";
import { otelLogger } from "../log/otel.js";
import { CUSTOM_EVENTS, telemetryConfigured } from "../telemetry/azure.js";
import { INSTRUMENTATION_NAME } from "../telemetry/metrics.js";

/**
 * With telemetry configured, the rotator's structured events go out as OpenTelemetry log records (fields as
 * customDimensions; alert and run events as customEvents). Without it, JSON lines on stderr, which the
 * host shows in its console (`func start`).
 */
export function functionsLogger(env: NodeJS.ProcessEnv = process.env): Logger {
  return telemetryConfigured(env)
    ? otelLogger({ name: INSTRUMENTATION_NAME, customEvents: CUSTOM_EVENTS })
    : jsonLogger();
}

let cached: Promise<Runtime> | undefined;

export function functionsRuntime(): Promise<Runtime> {
  cached ??= (async () => {
    const path = process.env.ROTATOR_CONFIG;
    if (!path)
      throw new RotatorError(
        "CONFIG_NOT_SET",
        "the ROTATOR_CONFIG app setting is not set",
        "Set ROTATOR_CONFIG to the path of the rotator's YAML/JSON configuration file.",
      );
    // Loaded here, not at module load: the composition root pulls in the Azure SDKs, MSAL and undici, which
    // the host need not evaluate to index the functions (cold start; see docs/performance.md).
    const [{ loadConfig }, { createRuntime }] = await Promise.all([
      import("../config/load.js"),
      import("../app/runtime.js"),
    ]);
    return createRuntime({ config: await loadConfig(path), logger: functionsLogger() });
  })();
  cached.catch(() => (cached = undefined));
  return cached;
}

/** For tests: use this runtime instead of building one from the environment. */
export function setFunctionsRuntime(rt: Runtime | undefined): void {
  cached = rt ? Promise.resolve(rt) : undefined;
}
