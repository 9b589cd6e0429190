/**
 * rollback: put every Kong target back on the previous generation while it is still registered and
 * valid at the IdP (the planner checked), then tag it `active` FIRST and the generation rolled back from
 * `retiring` with `rotator-rolledBackAt` (retired by the normal rules after the overlap; never made
 * active again by the engine). Generations still in flight are retired too: activating one later would
 * undo the rollback. Targets are confirmed as in activate (../kong.ts). A crash before the tags leaves targets split; the next run (the request is durable)
 * applies again. A crash between the tags leaves two `active` generations, and the newest activatedAt
 * (the restored one) wins.
 */
import { EngineBug } from "../errors.js";
import { clearConfirmRecords, loadJwk, pushAndConfirm } from "../kong.js";
import { effectiveActive, inFlight } from "../model.js";
import type { PlannedAction } from "../plan.js";
import { phaseTags, TAG_ACTIVATED_AT, TAG_RETIRE_AFTER, TAG_ROLLED_BACK_AT } from "../tags.js";
import { generation, type StepContext, type StepOutcome } from "./context.js";

export async function rollbackGeneration(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "rollback" }>,
): Promise<StepOutcome> {
  const s = ctx.snapshot;
  const to = generation(s, action.version);
  const from = effectiveActive(s.generations);
  if (!from || from.version === to.version)
    throw new EngineBug(`planned rollback to ${to.version} does not leave the active generation`);

  const jwk = await loadJwk(ctx.ports.store, ctx.cred, to);
  // Back on the previous key only once every target's gateways hold it (as for an activation).
  const pushed = await pushAndConfirm(ctx, to, ctx.ports.kong, jwk);
  if (pushed.wait) return { detail: pushed.wait.reason, wait: pushed.wait };

  const now = ctx.ports.clock.now();
  await ctx.tags.write(
    to,
    phaseTags("active", {
      [TAG_ACTIVATED_AT]: now.toISOString(),
      [TAG_RETIRE_AFTER]: undefined,
      ...clearConfirmRecords(ctx.tags.current(to), ctx.ports.kong),
    }),
  );
  const retireAfter = new Date(now.getTime() + ctx.cred.policy.overlap).toISOString();
  await ctx.tags.write(
    from,
    phaseTags("retiring", { [TAG_RETIRE_AFTER]: retireAfter, [TAG_ROLLED_BACK_AT]: now.toISOString() }),
  );
  const abandoned = inFlight(s.generations);
  for (const g of abandoned)
    await ctx.tags.write(g, phaseTags("retiring", { [TAG_RETIRE_AFTER]: now.toISOString() }));
  return {
    detail:
      `${ctx.ports.kong.length} Kong target(s) back on ${jwk.kid}; ${from.x5t ?? from.version} retiring after ${retireAfter}` +
      (abandoned.length
        ? `; in-flight ${abandoned.map((g) => g.x5t ?? g.version).join(", ")} abandoned`
        : ""),
  };
}
