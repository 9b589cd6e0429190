/**
 * One runtime per Function App instance, built on first use (not at module load, to keep cold start
 * cheap and to let a bad configuration surface as a clear error on the first invocation).
 */
import { loadConfig } from "../config/load.js";
import { RotatorError } from "../errors.js";
import { createRuntime, type Runtime } from "../app/runtime.js";

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
    return createRuntime({ config: await loadConfig(path) });
  })();
  cached.catch(() => (cached = undefined));
  return cached;
}

/** For tests: use this runtime instead of building one from the environment. */
export function setFunctionsRuntime(rt: Runtime | undefined): void {
  cached = rt ? Promise.resolve(rt) : undefined;
}
