/**
 * activate: push the verified key to every Kong target (each apply reads back) and wait until every
 * target confirms that its gateways hold it (../kong.ts: within the run's wait budget, else the step
 * waits and a later run resumes; a target whose gateways stay behind past its maxLag window fails the
 * step, naming them, and the next attempt opens a new window), then tag the new
 * generation `active` FIRST and the previous one `retiring` (retireAfter = now + overlap). A crash
 * between the two writes leaves two `active` generations; the newest activatedAt wins on the next run.
 * A failing target leaves the generation `verified`: targets already updated hold a key the IdP accepts.
 */
import { activateNotVerified, activateShorterLifetime, EngineBug } from "../errors.js";
import { answers, pendingCompromise } from "../requests.js";
import { clearConfirmRecords, loadJwk, pushAndConfirm } from "../kong.js";
import { activesNewestFirst, effectiveActive, usableAtIdp } from "../model.js";
import type { PlannedAction } from "../plan.js";
import { phaseTags, TAG_ACTIVATED_AT, TAG_RETIRE_AFTER } from "../tags.js";
import { generation, type StepContext, type StepOutcome } from "./context.js";

export async function activateGeneration(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "activate" }>,
): Promise<StepOutcome> {
  const s = ctx.snapshot;
  const g = generation(s, action.version);
  if (g.phase !== "verified" || !usableAtIdp(s.idp.keys, g)) throw activateNotVerified(g.x5t, g.phase);
  if (g.compromisedAt) throw new EngineBug(`planned activation of compromised generation ${g.version}`);
  const current = effectiveActive(s.generations);
  if (current && (g.expiresOn?.getTime() ?? 0) < (current.expiresOn?.getTime() ?? 0))
    throw activateShorterLifetime(g.x5t, g.expiresOn, current.expiresOn);

  const jwk = await loadJwk(ctx.ports.store, ctx.cred, g);
  const pushed = await pushAndConfirm(ctx, g, ctx.ports.kong, jwk);
  if (pushed.wait) return { detail: pushed.wait.reason, wait: pushed.wait };

  const now = ctx.ports.clock.now();
  await ctx.tags.write(
    g,
    phaseTags("active", {
      [TAG_ACTIVATED_AT]: now.toISOString(),
      ...clearConfirmRecords(ctx.tags.current(g), ctx.ports.kong),
    }),
  );
  // A key-compromise rotation does not wait out the overlap: the previous generation retires at once
  // (plan.ts retires it in this same run, once no target references it).
  const compromise = pendingCompromise(s.generations);
  const immediate = compromise !== undefined && answers(g, compromise);
  const retireAfter = new Date(now.getTime() + (immediate ? 0 : ctx.cred.policy.overlap)).toISOString();
  const previous = activesNewestFirst(s.generations).filter((x) => x.version !== g.version);
  for (const old of previous)
    await ctx.tags.write(old, phaseTags("retiring", { [TAG_RETIRE_AFTER]: retireAfter }));
  return {
    detail:
      `${ctx.ports.kong.length} Kong target(s) on ${jwk.kid}` +
      (previous.length ? `; ${previous.map((x) => x.x5t).join(", ")} retiring after ${retireAfter}` : ""),
  };
}
