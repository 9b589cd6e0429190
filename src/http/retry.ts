import type { Clock } from "../ports/engine.js";
import { systemClock } from "../clock.js";

/**
 * One retry policy for every adapter: a server's requested wait (Retry-After or its vendor's reset header)
 * is honoured up to `maxRetryAfterMs`; otherwise attempts back off exponentially with jitter, capped.
 * Microsoft's guidance for Key Vault and Graph throttling is to honour Retry-After, else back off 1, 2, 4,
 * 8, 16 s (https://learn.microsoft.com/azure/key-vault/general/overview-throttling,
 *  https://learn.microsoft.com/graph/throttling). Which failures are retried at all is decided once, in
 * ./transient.ts (`retryDecision`).
 */
export interface RetryPolicy {
  /** Total attempts, including the first. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per-attempt timeout; the attempt's AbortSignal fires after it. */
  attemptTimeoutMs: number;
  /** A Retry-After longer than this is not waited for: the call fails as retryable instead. */
  maxRetryAfterMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 1000,
  maxDelayMs: 16_000,
  attemptTimeoutMs: 30_000,
  maxRetryAfterMs: 120_000,
};

export interface RetryDecision {
  retry: boolean;
  /** Server-requested wait (from Retry-After), in ms. */
  retryAfterMs?: number;
}

export interface RetryEvent {
  attempt: number;
  delayMs: number;
  reason: string;
}

/** Parse a Retry-After header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(
  value: string | null | undefined,
  now: Date = new Date(),
): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now.getTime());
}

export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  // "Equal jitter": half fixed, half random, so retries spread out but never collapse to zero.
  return Math.round(exp / 2 + (random() * exp) / 2);
}

export class TimeoutError extends Error {
  override readonly name = "TimeoutError";
}

export async function withRetry<T>(
  op: (attempt: number, signal: AbortSignal) => Promise<T>,
  classify: (error: unknown) => RetryDecision,
  options: {
    policy?: RetryPolicy;
    clock?: Clock;
    onRetry?: (e: RetryEvent) => void;
    random?: () => number;
  } = {},
): Promise<T> {
  const policy = options.policy ?? defaultRetryPolicy;
  const clock = options.clock ?? systemClock;
  for (let attempt = 1; ; attempt++) {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new TimeoutError(`attempt timed out after ${policy.attemptTimeoutMs} ms`)),
      policy.attemptTimeoutMs,
    );
    try {
      return await op(attempt, controller.signal);
    } catch (error) {
      const decision = classify(controller.signal.aborted ? controller.signal.reason : error);
      if (!decision.retry || attempt >= policy.maxAttempts)
        throw controller.signal.aborted ? controller.signal.reason : error;
      if (decision.retryAfterMs !== undefined && decision.retryAfterMs > policy.maxRetryAfterMs) throw error;
      const delayMs = decision.retryAfterMs ?? backoffDelay(attempt, policy, options.random);
      options.onRetry?.({ attempt, delayMs, reason: describe(error) });
      await clock.sleep(delayMs);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Why a call got no usable answer, for messages: an HTTP status, a timeout, or a transport error code. */
export function transportReason(e: unknown): string {
  if (e instanceof TimeoutError) return "timed out";
  if (e && typeof e === "object") {
    if ("status" in e && typeof e.status === "number") return `HTTP ${e.status}`;
    if ("code" in e) return String(e.code);
  }
  return "no answer";
}

function describe(error: unknown): string {
  if (error && typeof error === "object" && "code" in error && typeof error.code === "string")
    return error.code;
  return error instanceof Error ? error.name : "error";
}
