/** sync: put a Kong target that drifted away from the active key back on it (idempotent re-apply), and confirm its gateways hold it. */
import { EngineBug } from "../errors.js";
import { forgetConfirmations, loadJwk, pushAndConfirm } from "../kong.js";
import type { PlannedAction } from "../plan.js";
import { generation, type StepContext, type StepOutcome } from "./context.js";

export async function syncTarget(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "sync" }>,
): Promise<StepOutcome> {
  const g = generation(ctx.snapshot, action.version);
  const target = ctx.ports.kong.find((t) => t.name === action.target);
  if (!target)
    throw new EngineBug(`planned sync names Kong target ${action.target}, which is not configured`);
  const pushed = await pushAndConfirm(ctx, g, [target], await loadJwk(ctx.ports.store, ctx.cred, g));
  if (pushed.wait) return { detail: pushed.wait.reason, wait: pushed.wait };
  await forgetConfirmations(ctx, g, [target]);
  return { detail: `confirmed ${pushed.confirmed[0] ?? action.x5t}` };
}
