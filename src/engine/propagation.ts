/**
 * Wait until a probe succeeds N times in a row, or one answers with a final refusal. A newly registered key is not accepted by every replica
 * of the IdP at once (seconds to minutes, no SLA), so a single accepted assertion can be a false positive from a
 * replica that already has it; like HashiCorp's Azure secrets engine, require consecutive successes and
 * reset the streak on any failure. No fixed sleeps: time is the injected clock's.
 *
 * The wait is resumable: `continueConsecutive` starts from a saved `StreakState` (the verify step keeps
 * it in a Key Vault tag), polls for at most `budgetMs`, and answers `wait` with the state to save and the
 * time of the next probe, so a run can return instead of holding its worker (docs/engine.md, "Waits").
 */
import type { Clock } from "../ports/engine.js";

export interface ConsecutivePolicy {
  intervalMs: number;
  consecutive: number;
  timeoutMs: number;
}

/** `final`: a refusal that waiting does not fix; the wait ends at once with `refused`. */
export type ProbeResult = { ok: true } | { ok: false; code: string; final?: boolean };

/** Where a consecutive-success wait stands; serialisable (see tags.ts `formatVerifyProgress`). */
export interface StreakState {
  streak: number;
  attempts: number;
  /** Time of the first probe: the timeout counts from here, across runs. */
  firstAt: Date;
  /** Time of the latest probe: the next one is due `intervalMs` later. */
  lastAt?: Date;
  /** Code of the last failed probe, if any failed. */
  lastFailure?: string;
}

export interface ConsecutiveOutcome {
  result: "ok" | "timeout" | "aborted" | "wait" | "refused";
  attempts: number;
  /** Code of the last failed probe, if any failed. */
  lastFailure?: string;
  state: StreakState;
  /** For `wait`: when the next probe is due. */
  nextAt?: Date;
}

export interface ConsecutiveOptions {
  signal?: AbortSignal;
  onAttempt?: (attempt: number, ok: boolean, streak: number) => void;
  /** Poll for at most this long in this call, then answer `wait` (default: until the timeout). */
  budgetMs?: number;
}

export async function continueConsecutive(
  probe: () => Promise<ProbeResult>,
  policy: ConsecutivePolicy,
  clock: Clock,
  from: StreakState | undefined,
  options: ConsecutiveOptions = {},
): Promise<ConsecutiveOutcome> {
  const state: StreakState = from ? { ...from } : { streak: 0, attempts: 0, firstAt: clock.now() };
  const deadline = state.firstAt.getTime() + policy.timeoutMs;
  const budgetEnd = clock.now().getTime() + (options.budgetMs ?? Number.POSITIVE_INFINITY);
  const outcome = (result: ConsecutiveOutcome["result"], nextAt?: number): ConsecutiveOutcome => ({
    result,
    attempts: state.attempts,
    ...(state.lastFailure ? { lastFailure: state.lastFailure } : {}),
    state,
    ...(nextAt === undefined ? {} : { nextAt: new Date(nextAt) }),
  });
  for (;;) {
    if (options.signal?.aborted) return outcome("aborted");
    const now = clock.now().getTime();
    const due = Math.max(now, state.lastAt ? state.lastAt.getTime() + policy.intervalMs : now);
    if (due > deadline) return outcome("timeout");
    if (due > budgetEnd) return outcome("wait", due);
    if (due > now) {
      try {
        await clock.sleep(due - now, options.signal);
      } catch (e) {
        if (options.signal?.aborted) return outcome("aborted");
        throw e;
      }
      continue;
    }
    state.attempts++;
    const r = await probe();
    state.lastAt = clock.now();
    if (r.ok) state.streak++;
    else {
      state.streak = 0;
      state.lastFailure = r.code;
    }
    options.onAttempt?.(state.attempts, r.ok, state.streak);
    if (!r.ok && r.final) return outcome("refused");
    if (state.streak >= policy.consecutive) return outcome("ok");
  }
}

/** The whole wait in one call: polls until N in a row, the timeout, or the signal. */
export async function awaitConsecutiveSuccesses(
  probe: () => Promise<ProbeResult>,
  policy: ConsecutivePolicy,
  clock: Clock,
  options: Omit<ConsecutiveOptions, "budgetMs"> = {},
): Promise<ConsecutiveOutcome> {
  return continueConsecutive(probe, policy, clock, undefined, options);
}
