import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { app } from "./app.js";
import { continueOnQueue, runAgain } from "../app/fleet.js";
import { cancelRequested, rotate } from "../app/service.js";
import { isRotatorError, toRotatorError } from "../errors.js";
import { parseDuration } from "../duration.js";
import { withSecretScope } from "../log/redact.js";
import { authMode, authorize, callerOf, type Action } from "./auth.js";
import { DRY_RUN_LIMIT, perCallerWindow } from "./caller-limit.js";
import { errorResponse, json, problem, readJsonBody, unknownCredential } from "./http.js";
import { functionsRuntime } from "./runtime.js";
import type { RotateBody } from "./rotate-body.js";

/** The action a request asks for (auth.ts ACTION_ROLES): a dry run of anything is a dry run. */
function actionOf(b: RotateBody): Action {
  if (b.dryRun) return "dryRun";
  if (b.cancel) return "cancel";
  if (b.rollback) return "rollback";
  if (b.compromised) return "compromise";
  if (b.overrideCooldown) return "overrideCooldown";
  return b.force ? "force" : "rotate";
}

const dryRuns = perCallerWindow(DRY_RUN_LIMIT);

/**
 * HTTP responses must come within 230 s on Azure (load balancer idle timeout), so a manual rotation runs
 * for at most this budget and then reports its progress; the engine is resumable, and the next timer run
 * (or another request) continues from the persisted phase. ROTATE_HTTP_BUDGET overrides (ISO-8601); an
 * unparseable value means the default, and anything above 220 s is capped to stay under the limit.
 */
const BUDGET_MS = Math.min(parseDuration(process.env.ROTATE_HTTP_BUDGET ?? "PT3M") ?? 180_000, 220_000);

export function rotateHttpHandler(req: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return withSecretScope(() => handle(req, context));
}

async function handle(req: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const mode = authMode();
  const caller = callerOf(req, mode);
  // A caller who may not change anything is refused before the body is read.
  const entry = authorize(caller, "rotate", mode);
  if (!entry.allowed) return entry.response;
  const name = req.params.name ?? "";
  const body = await readJsonBody(req);
  if (!body.ok) return body.response;
  const { rotateBodySchema } = await import("./rotate-body.js");
  const parsed = rotateBodySchema.safeParse(body.value);
  if (!parsed.success)
    return problem(
      400,
      "INVALID_BODY",
      parsed.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; "),
      'Expected {"force"?: boolean, "overrideCooldown"?: boolean, "compromised"?: boolean, "revokeUnmanaged"?: boolean, "rollback"?: boolean, "cancel"?: boolean, "dryRun"?: boolean, "reason"?: string}.',
    );
  const action = actionOf(parsed.data);
  const decision = authorize(caller, action, mode);
  if (!decision.allowed) return decision.response;
  if (action === "dryRun") {
    const retryAt = dryRuns.take(caller.id);
    if (retryAt) return dryRunLimited(caller.actor, retryAt);
  }
  try {
    const rt = await functionsRuntime();
    const unknown = unknownCredential(rt.config.credentials, name);
    if (unknown) return unknown;
    const actor = caller.actor;
    if (decision.grant === "key-only-opt-in") {
      // Loud on purpose: this is the local-development path, never a deployment's.
      context.warn(`${name}: ${action} allowed without a signed-in caller (ROTATOR_ALLOW_KEY_ONLY_WRITES)`);
      rt.logger.log("warn", "KeyOnlyWriteAllowed", {
        credential: name,
        action,
        invocationId: context.invocationId,
      });
    }
    rt.logger.log("info", "ManualRotationAudit", {
      credential: name,
      origin: "api",
      action,
      actor,
      authenticated: caller.authenticated,
      roles: caller.roles,
      grant: decision.grant,
      reason: parsed.data.reason,
      force: parsed.data.force === true,
      rollback: parsed.data.rollback === true,
      cancel: parsed.data.cancel === true,
      overrideCooldown: parsed.data.overrideCooldown === true,
      compromised: parsed.data.compromised === true,
      revokeUnmanaged: parsed.data.revokeUnmanaged === true,
      dryRun: parsed.data.dryRun === true,
      invocationId: context.invocationId,
    });
    const { cancel, ...request } = parsed.data;
    if (cancel) {
      const c = await cancelRequested(rt, name, {
        trigger: "http",
        actor,
        ...(request.reason ? { reason: request.reason } : {}),
      });
      if (c.kind === "busy") return busy(name);
      return json(200, {
        credential: name,
        cancelled: c.request.id,
        kind: c.request.kind,
        abandoned: c.abandoned,
      });
    }
    const result = await rotate(rt, name, { ...request, trigger: "http", actor, budgetMs: BUDGET_MS });
    if (result.kind === "busy") return busy(name);
    // Nothing ran (lease storage, or recording the request, failed): already alerted; the caller may
    // ask again once the dependency is back (docs/architecture.md, "What `rotate` returns").
    if (result.kind === "error")
      return problem(503, result.error.code, result.error.message, result.error.hint);
    const r = result.report;
    const again = runAgain(r, new Date());
    const continuing = again !== undefined;
    // Work the response could not wait for goes to the queue function (at once when the budget ran out,
    // at nextRunAt when a step waits), instead of waiting for the next timer tick.
    const queued =
      again && rt.queue && !request.dryRun
        ? await continueOnQueue(rt.queue, name, "continue a manual rotation", new Date(), again.at).then(
            () => true,
            (e: unknown) => {
              context.warn(`${name}: could not queue the continuation: ${toRotatorError(e).code}`);
              return false;
            },
          )
        : false;
    return json(202, {
      credential: name,
      outcome: r.outcome,
      continuing,
      ...(continuing ? { continuesOn: queued ? "queue" : "timer" } : {}),
      ...(result.request
        ? {
            request: {
              outcome: result.request.outcome,
              id: result.request.request.id,
              kind: result.request.request.kind,
              requestedAt: result.request.request.requestedAt.toISOString(),
            },
          }
        : {}),
      plan: r.plan,
      steps: r.steps,
      ...(r.error ? { error: r.error } : {}),
      ...(r.failedTarget ? { failedTarget: r.failedTarget } : {}),
      ...(r.compromise ? { compromise: r.compromise } : {}),
      status: r.status,
    });
  } catch (e) {
    const response = errorResponse(e, context);
    // 429 carries Retry-After (RFC 9110 §10.2.3) from the cooldown's end.
    const retryAt = isRotatorError(e) && e.code === "ROTATE_COOLDOWN" ? e.details?.["retryAt"] : undefined;
    if (typeof retryAt === "string")
      response.headers = {
        ...(response.headers as Record<string, string>),
        "retry-after": String(Math.max(1, Math.ceil((Date.parse(retryAt) - Date.now()) / 1000))),
      };
    return response;
  }
}

function dryRunLimited(actor: string, retryAt: Date): HttpResponseInit {
  const res = problem(
    429,
    "DRY_RUN_RATE_LIMITED",
    `${actor} made ${DRY_RUN_LIMIT.requests} dry runs in the last ${DRY_RUN_LIMIT.perMs / 1000} s`,
    "A dry run reads Key Vault, the IdP and every Kong target; try again after Retry-After.",
  );
  res.headers = {
    ...(res.headers as Record<string, string>),
    "retry-after": String(Math.max(1, Math.ceil((retryAt.getTime() - Date.now()) / 1000))),
  };
  return res;
}

function busy(name: string): HttpResponseInit {
  return problem(
    409,
    "BUSY",
    `a rotation of ${name} is already in progress`,
    "Another writer (timer, HTTP or CLI) holds the lease; retry later or check GET /api/credentials/" +
      name +
      ".",
  );
}

// The local-development opt-in is announced when the app starts, and again on every request it lets through.
const atStart = authMode();
if (atStart.keyOnlyWrites)
  console.warn(
    "ROTATOR_ALLOW_KEY_ONLY_WRITES=true: state-changing HTTP requests need only the function key (local development only)",
  );
else if (atStart.keyOnlyIgnored)
  console.warn(
    `ROTATOR_ALLOW_KEY_ONLY_WRITES is set but ignored (${atStart.keyOnlyIgnored === "app-service" ? "running on App Service" : "ROTATOR_AUTH_REQUIRED is true"})`,
  );

// Always the per-function key, on top of the sign-in: automation that starts rotations holds this
// function's key only, never a host key.
app.http("rotateCredential", {
  methods: ["POST"],
  authLevel: "function",
  route: "credentials/{name}/rotate",
  handler: rotateHttpHandler,
});
