/**
 * create: a new certificate version, tagged `pending` at creation so that a crash right after leaves a
 * generation the next run continues (it never creates a second one while this one is in flight).
 * The Key Vault adapter sets the rest of the policy the brief requires (self-signed, exportable, RSA,
 * reuseKey false, PEM content type). A creation still pending after the run's wait budget is a `wait`:
 * the next run's observe picks the version up once Key Vault has issued it; so is a create the
 * process's rate plan defers (RATE_DEFERRED): the run comes back at its reserved slot.
 */
import { RotatorError } from "../../errors.js";
import { policyFingerprint } from "../requests.js";
import { TAG_PHASE, TAG_POLICY } from "../tags.js";
import { CREATE_RECHECK_MS, KV_CREATE_PENDING, RATE_DEFERRED } from "../wait.js";
import type { StepContext, StepOutcome } from "./context.js";

/** `tags`: more tags the version is created with (a migration's record, so that it exists from the start). */
export async function createGeneration(
  ctx: StepContext,
  tags: Record<string, string> = {},
): Promise<StepOutcome> {
  const p = ctx.cred.policy;
  try {
    const v = await ctx.ports.store.createVersion(
      ctx.cred.certificateName,
      { subject: p.subject ?? `CN=${ctx.cred.name}`, validityMonths: p.validityMonths, keySize: p.keySize },
      { ...tags, [TAG_PHASE]: "pending", [TAG_POLICY]: policyFingerprint(p, ctx.cred.name) },
      Number.isFinite(ctx.waitBudgetMs) ? { maxWaitMs: ctx.waitBudgetMs } : {},
    );
    return {
      detail: `created version ${v.version} expiring ${v.expiresOn?.toISOString() ?? "(pending)"}`,
      version: v.version,
      ...(v.x5t ? { x5t: v.x5t } : {}),
    };
  } catch (e) {
    if (!(e instanceof RotatorError)) throw e;
    if (e.code === RATE_DEFERRED) {
      const until = new Date(String(e.details?.["until"] ?? ""));
      const reason = "waiting for a Key Vault create slot (rate limit)";
      if (!Number.isNaN(until.getTime())) return { detail: reason, wait: { until, reason } };
    }
    if (e.code !== KV_CREATE_PENDING) throw e;
    const reason = "Key Vault is still issuing the new certificate";
    return {
      detail: reason,
      wait: { until: new Date(ctx.ports.clock.now().getTime() + CREATE_RECHECK_MS), reason },
    };
  }
}
