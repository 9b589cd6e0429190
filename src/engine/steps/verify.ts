/**
 * verify: prove the new key at the token endpoint with client assertions signed by it (inside Key
 * Vault), requiring policy.verifyConsecutive consecutive acceptances within policy.verifyTimeout. On
 * timeout the generation stays `published` and the run is reported stuck; the next run verifies again.
 */
import { toRotatorError } from "../../errors.js";
import { runAborted, verifyTimeout } from "../errors.js";
import type { PlannedAction } from "../plan.js";
import { awaitConsecutiveSuccesses, type ProbeResult } from "../propagation.js";
import { phaseTags, TAG_VERIFIED_AT } from "../tags.js";
import { generation, signerFor, type StepContext, type StepOutcome } from "./context.js";

export async function verifyGeneration(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "verify" }>,
): Promise<StepOutcome> {
  const g = generation(ctx.snapshot, action.version);
  const { tokens, clock } = ctx.ports;
  const { tenantId, clientId } = ctx.cred.entra;
  const p = ctx.cred.policy;
  const signer = signerFor(ctx, g);
  const probe = async (): Promise<ProbeResult> => {
    // A transport failure is one more unsuccessful attempt: it resets the streak, polling goes on.
    try {
      const r = await tokens.tryClientAssertion(tenantId, clientId, signer, p.algorithm);
      return r.ok ? r : { ok: false, code: r.code };
    } catch (e) {
      return { ok: false, code: toRotatorError(e).code };
    }
  };
  const out = await awaitConsecutiveSuccesses(
    probe,
    { intervalMs: p.verifyInterval, consecutive: p.verifyConsecutive, timeoutMs: p.verifyTimeout },
    clock,
    {
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onAttempt: (n, ok, streak) =>
        ctx.progress(
          `attempt ${n}: ${ok ? "accepted" : "rejected"} (${streak}/${p.verifyConsecutive} in a row)`,
        ),
    },
  );
  if (out.result === "aborted") throw runAborted();
  if (out.result === "timeout")
    throw verifyTimeout(g.x5t ?? g.version, clientId, p.verifyTimeout, p.verifyConsecutive, out.lastFailure);
  await ctx.tags.write(g, phaseTags("verified", { [TAG_VERIFIED_AT]: clock.now().toISOString() }));
  return { detail: `accepted ${p.verifyConsecutive} times in a row after ${out.attempts} attempt(s)` };
}
