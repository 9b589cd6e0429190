import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { isRotatorError } from "../errors.js";
import { withSecretScope } from "../log/redact.js";
import { app } from "./app.js";
import { authMode, authorize, callerOf, readRoute } from "./auth.js";
import { errorResponse, json, unknownCredential } from "./http.js";
import { functionsRuntime } from "./runtime.js";

/**
 * GET /api/doctor[?credential=name]: the read-only preflight report of `kong-key-rotator doctor` (no
 * secrets: lines carry identifiers, codes and hints only). A configuration that does not load is reported
 * as fail lines with the offending paths. 200 with `ok: false` when a check fails: the diagnosis worked.
 */
export function doctorHttpHandler(req: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return withSecretScope(() => handle(req, context));
}

async function handle(req: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const mode = authMode();
  const decision = authorize(callerOf(req, mode), "doctor", mode);
  if (!decision.allowed) return decision.response;
  const name = req.query.get("credential") ?? undefined;
  try {
    // Loaded on first use, not at module load: doctor pulls in the storage SDK (cold start).
    const [{ doctor }, { configChecks, report }] = await Promise.all([
      import("../app/doctor.js"),
      import("../app/checks.js"),
    ]);
    let rt: Awaited<ReturnType<typeof functionsRuntime>>;
    try {
      rt = await functionsRuntime();
    } catch (e) {
      if (isRotatorError(e) && e.code.startsWith("CONFIG_")) return json(200, report(configChecks(e)));
      throw e;
    }
    const unknown = name === undefined ? undefined : unknownCredential(rt.config.credentials, name);
    if (unknown) return unknown;
    return json(200, await doctor(rt, name));
  } catch (e) {
    return errorResponse(e, context);
  }
}

app.http("doctor", readRoute("doctor", doctorHttpHandler));
