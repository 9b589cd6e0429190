/**
 * One runtime per Function App instance, built on first use (not at module load, to keep cold start
 * cheap and to let a bad configuration surface as a clear error on the first invocation).
 */
import { RotatorError } from "../errors.js";
import type { Runtime } from "../app/runtime.js";

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
    return createRuntime({ config: await loadConfig(path) });
  })();
  cached.catch(() => (cached = undefined));
  return cached;
}

/** For tests: use this runtime instead of building one from the environment. */
export function setFunctionsRuntime(rt: Runtime | undefined): void {
  cached = rt ? Promise.resolve(rt) : undefined;
}
