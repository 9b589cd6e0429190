/** complete-request: record on the request's tag that it is done, and by which generation. */
import type { PlannedAction } from "../plan.js";
import { pendingRequest, requestTag } from "../requests.js";
import { EngineBug } from "../errors.js";
import { toRotatorError } from "../../errors.js";
import { compromiseView, type TokenCacheOutcome } from "../compromise.js";
import { generation, type StepContext, type StepOutcome } from "./context.js";

export async function completeRequest(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "complete-request" }>,
): Promise<StepOutcome> {
  const holder = generation(ctx.snapshot, action.version);
  const held = pendingRequest(ctx.snapshot.generations);
  if (held?.request.id !== action.requestId || held.holder.version !== holder.version)
    throw new EngineBug(`planned completion of request ${action.requestId}, which is not the pending one`);
  const r = held.request;
  // A compromise: the gateways drop what they cached with the old credential where their kind allows it
  // (before the request is marked done, so a crash repeats it: clearing is idempotent). A target that
  // fails to clear is reported, not retried: the keys are already revoked and the runbook says what to do.
  const caches: TokenCacheOutcome[] = [];
  if (r.compromised)
    for (const t of ctx.ports.kong) {
      try {
        caches.push({ target: t.name, ...(await t.clearTokenCache()) });
      } catch (e) {
        const err = toRotatorError(e);
        caches.push({ target: t.name, state: "failed", detail: `${err.code}: ${err.message}` });
      }
    }
  await ctx.tags.write(
    holder,
    requestTag({
      ...r,
      state: "done",
      attempts: r.attempts + 1,
      lastAttemptAt: ctx.ports.clock.now(),
      result: action.result,
      endedAt: ctx.ports.clock.now(),
    }),
  );
  ctx.ports.logger.log("info", "ManualRequestDone", {
    credential: ctx.cred.name,
    request: r.id,
    kind: r.kind,
    generation: action.result,
  });
  const detail = `request ${r.id} (${r.kind}) done: ${action.result} is active on every Kong target`;
  if (!r.compromised) return { detail };
  const compromise = compromiseView(ctx.snapshot, caches, held);
  return {
    detail:
      `${detail}; key compromise: ${compromise?.revoked.length ?? 0} earlier generation(s) revoked; token caches: ` +
      caches.map((c) => `${c.target} ${c.state}`).join(", "),
    ...(compromise ? { compromise: { ...compromise, state: "done" as const } } : {}),
  };
}
