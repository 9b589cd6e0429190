/**
 * create: a new certificate version, tagged `pending` at creation so that a crash right after leaves a
 * generation the next run continues (it never creates a second one while this one is in flight).
 * The Key Vault adapter sets the rest of the policy the brief requires (self-signed, exportable, RSA,
 * reuseKey false, PEM content type).
 */
import { policyFingerprint } from "../requests.js";
import { TAG_PHASE, TAG_POLICY } from "../tags.js";
import type { StepContext, StepOutcome } from "./context.js";

export async function createGeneration(ctx: StepContext): Promise<StepOutcome> {
  const p = ctx.cred.policy;
  const v = await ctx.ports.store.createVersion(
    ctx.cred.certificateName,
    { subject: p.subject ?? `CN=${ctx.cred.name}`, validityMonths: p.validityMonths, keySize: p.keySize },
    { [TAG_PHASE]: "pending", [TAG_POLICY]: policyFingerprint(p, ctx.cred.name) },
  );
  return {
    detail: `created version ${v.version} expiring ${v.expiresOn?.toISOString() ?? "(pending)"}`,
    version: v.version,
    ...(v.x5t ? { x5t: v.x5t } : {}),
  };
}
