/**
 * Wait until a probe succeeds N times in a row. A newly added Entra key is not accepted by every replica
 * at once (seconds to minutes, no SLA), so a single accepted assertion can be a false positive from a
 * replica that already has it; like HashiCorp's Azure secrets engine, require consecutive successes and
 * reset the streak on any failure. No fixed sleeps: time is the injected clock's.
 */
import type { Clock } from "../clock.js";

export interface ConsecutivePolicy {
  intervalMs: number;
  consecutive: number;
  timeoutMs: number;
}

export type ProbeResult = { ok: true } | { ok: false; code: string };

export interface ConsecutiveOutcome {
  result: "ok" | "timeout" | "aborted";
  attempts: number;
  /** Code of the last failed probe, if any failed. */
  lastFailure?: string;
}

export async function awaitConsecutiveSuccesses(
  probe: () => Promise<ProbeResult>,
  policy: ConsecutivePolicy,
  clock: Clock,
  options: { signal?: AbortSignal; onAttempt?: (attempt: number, ok: boolean, streak: number) => void } = {},
): Promise<ConsecutiveOutcome> {
  const deadline = clock.now().getTime() + policy.timeoutMs;
  let attempts = 0;
  let streak = 0;
  let lastFailure: string | undefined;
  const outcome = (result: ConsecutiveOutcome["result"]): ConsecutiveOutcome => ({
    result,
    attempts,
    ...(lastFailure ? { lastFailure } : {}),
  });
  for (;;) {
    if (options.signal?.aborted) return outcome("aborted");
    attempts++;
    const r = await probe();
    if (r.ok) streak++;
    else {
      streak = 0;
      lastFailure = r.code;
    }
    options.onAttempt?.(attempts, r.ok, streak);
    if (streak >= policy.consecutive) return outcome("ok");
    if (clock.now().getTime() + policy.intervalMs > deadline) return outcome("timeout");
    try {
      await clock.sleep(policy.intervalMs, options.signal);
    } catch (e) {
      if (options.signal?.aborted) return outcome("aborted");
      throw e;
    }
  }
}
