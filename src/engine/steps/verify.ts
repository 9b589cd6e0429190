/**
 * verify: prove the new key at the token endpoint with client assertions signed by it (inside Key
 * Vault), requiring policy.verifyConsecutive consecutive acceptances within policy.verifyTimeout.
 *
 * Resumable: the streak, the attempt count and the first/latest probe times live in the generation's
 * `rotator-verify` tag. A run polls for at most `ctx.waitBudgetMs`, saves the streak and returns a
 * `wait` until the next probe is due; the next run continues the same streak and the same timeout. On
 * timeout the saved streak is cleared, the generation stays `published` and the run is reported stuck;
 * the next run verifies again from scratch.
 *
 * The proof is the request Kong makes: the IdP adapter gets what the Kong plugin sends (its config.scopes,
 * read with the plugin in the snapshot). A refusal the provider marks final (TokenAttempt.retryable false:
 * a scope, grant or algorithm the client may not use) ends verification at once with VERIFY_REFUSED,
 * carrying the provider's description and a hint; polling would only delay the alert until verifyTimeout.
 */
import { toRotatorError } from "../../errors.js";
import type { TokenAttempt } from "../../ports/engine.js";
import { runAborted, verifyRefused, verifyTimeout } from "../errors.js";
import { generationAlgorithm, kongTokenRequest } from "../model.js";
import type { PlannedAction } from "../plan.js";
import { continueConsecutive, type ProbeResult } from "../propagation.js";
import {
  formatVerifyProgress,
  parseVerifyProgress,
  phaseTags,
  TAG_VERIFIED_AT,
  TAG_VERIFY,
} from "../tags.js";
import { generation, signerFor, type StepContext, type StepOutcome } from "./context.js";

export async function verifyGeneration(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "verify" }>,
): Promise<StepOutcome> {
  const g = generation(ctx.snapshot, action.version);
  const { idp, clock } = ctx.ports;
  const p = ctx.cred.policy;
  const signer = signerFor(ctx, g);
  // The request Kong makes for this client, read with its plugins in this step's snapshot.
  const kong = kongTokenRequest(ctx.snapshot);
  let refusal: Extract<TokenAttempt, { ok: false }> | undefined;
  const probe = async (): Promise<ProbeResult> => {
    // A transport failure is one more unsuccessful attempt: it resets the streak, polling goes on.
    try {
      const r = await idp.verify(signer, generationAlgorithm(g, p), kong);
      if (r.ok) return r;
      // A refusal that waiting does not fix (the provider said so): stop now, not at verifyTimeout.
      if (!r.retryable) refusal = r;
      return { ok: false, code: r.code, final: !r.retryable };
    } catch (e) {
      return { ok: false, code: toRotatorError(e).code };
    }
  };
  const saved = parseVerifyProgress(ctx.tags.current(g)[TAG_VERIFY]);
  const out = await continueConsecutive(
    probe,
    { intervalMs: p.verifyInterval, consecutive: p.verifyConsecutive, timeoutMs: p.verifyTimeout },
    clock,
    saved,
    {
      budgetMs: ctx.waitBudgetMs,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onAttempt: (n, ok, streak) =>
        ctx.progress(
          `attempt ${n}: ${ok ? "accepted" : "rejected"} (${streak}/${p.verifyConsecutive} in a row)`,
        ),
    },
  );
  // Aborted: the lease may be lost, so nothing more is written; the streak of this run is lost (time only).
  if (out.result === "aborted") throw runAborted();
  if (out.result === "refused" && refusal) {
    await ctx.tags.write(g, { [TAG_VERIFY]: undefined });
    throw verifyRefused(g.x5t ?? g.version, refusal.code, refusal.description, refusal.hint);
  }
  if (out.result === "timeout") {
    await ctx.tags.write(g, { [TAG_VERIFY]: undefined });
    const x5t = g.x5t ?? g.version;
    throw verifyTimeout(x5t, p.verifyTimeout, p.verifyConsecutive, out.lastFailure, idp.verifyHint(x5t));
  }
  if (out.result === "wait") {
    await ctx.tags.write(g, { [TAG_VERIFY]: formatVerifyProgress(out.state) });
    const reason = `verification: ${out.state.streak}/${p.verifyConsecutive} accepted in a row after ${out.attempts} attempt(s)`;
    return { detail: reason, wait: { until: out.nextAt ?? clock.now(), reason } };
  }
  await ctx.tags.write(g, phaseTags("verified", { [TAG_VERIFIED_AT]: clock.now().toISOString() }));
  return { detail: `accepted ${p.verifyConsecutive} times in a row after ${out.attempts} attempt(s)` };
}
