import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { z } from "zod";
import { rotate } from "../app/service.js";
import { parseDuration } from "../duration.js";
import { callerOf, errorResponse, json, problem, readJsonBody } from "./http.js";
import { functionsRuntime } from "./runtime.js";

const bodySchema = z
  .object({
    force: z.boolean().optional(),
    dryRun: z.boolean().optional(),
    reason: z.string().max(500).optional(),
  })
  .strict();

/**
 * HTTP responses must come within 230 s on Azure (load balancer idle timeout), so a manual rotation runs
 * for at most this budget and then reports its progress; the engine is resumable, and the next timer run
 * (or another request) continues from the persisted phase. ROTATE_HTTP_BUDGET overrides (ISO-8601); an
 * unparseable value means the default, and anything above 220 s is capped to stay under the limit.
 */
const BUDGET_MS = Math.min(parseDuration(process.env.ROTATE_HTTP_BUDGET ?? "PT3M") ?? 180_000, 220_000);

export async function rotateHttpHandler(
  req: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const name = req.params.name ?? "";
  const body = await readJsonBody(req);
  if (!body.ok) return body.response;
  const parsed = bodySchema.safeParse(body.value);
  if (!parsed.success)
    return problem(
      400,
      "INVALID_BODY",
      parsed.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; "),
      'Expected {"force"?: boolean, "dryRun"?: boolean, "reason"?: string}.',
    );
  try {
    const rt = await functionsRuntime();
    if (!rt.config.credentials.some((c) => c.name === name))
      return problem(
        404,
        "UNKNOWN_CREDENTIAL",
        `no credential named "${name.slice(0, 64)}"`,
        "GET /api/credentials lists the configured names.",
      );
    const actor = callerOf(req);
    rt.logger.log("info", "ManualRotationAudit", {
      credential: name,
      actor,
      reason: parsed.data.reason,
      force: parsed.data.force === true,
      dryRun: parsed.data.dryRun === true,
      invocationId: context.invocationId,
    });
    const result = await rotate(rt, name, { ...parsed.data, trigger: "http", actor, budgetMs: BUDGET_MS });
    if (result.kind === "busy")
      return problem(
        409,
        "BUSY",
        `a rotation of ${name} is already in progress`,
        "Another writer (timer, HTTP or CLI) holds the lease; retry later or check GET /api/credentials/" +
          name +
          ".",
      );
    const r = result.report;
    return json(202, {
      credential: name,
      outcome: r.outcome,
      continuing: r.error?.code === "RUN_ABORTED",
      plan: r.plan,
      steps: r.steps,
      ...(r.error ? { error: r.error } : {}),
      ...(r.failedTarget ? { failedTarget: r.failedTarget } : {}),
      status: r.status,
    });
  } catch (e) {
    return errorResponse(e, context);
  }
}

app.http("rotateCredential", {
  methods: ["POST"],
  authLevel: "function",
  route: "credentials/{name}/rotate",
  handler: rotateHttpHandler,
});
