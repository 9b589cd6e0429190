/** complete-request: record on the request's tag that it is done, and by which generation. */
import type { PlannedAction } from "../plan.js";
import { pendingRequest, requestTag } from "../requests.js";
import { EngineBug } from "../errors.js";
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
  return { detail: `request ${r.id} (${r.kind}) done: ${action.result} is active on every Kong target` };
}
