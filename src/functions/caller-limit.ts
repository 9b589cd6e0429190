/**
 * A per-caller sliding window for HTTP dry runs. A dry run takes no lease and reads the credential's whole
 * state (Key Vault versions, the IdP's keys, every Kong target), so without a limit one caller could keep
 * all three busy. The window is counted per Function App instance, in memory: with several instances a
 * caller gets this allowance on each, and the process-wide Key Vault and Graph limiters
 * (src/app/limited.ts) still bound what every instance sends.
 */

export interface CallerLimit {
  /** At most this many calls per caller ... */
  requests: number;
  /** ... in any window of this length. */
  perMs: number;
}

/** Six dry runs per caller per minute: enough to preview, retry and compare; not enough to poll. */
export const DRY_RUN_LIMIT: CallerLimit = { requests: 6, perMs: 60_000 };

/** Callers remembered at most; beyond it the least recently seen are forgotten (bounded memory). */
const MAX_CALLERS = 10_000;

export interface PerCallerWindow {
  /** Count one call by `caller`: undefined when it fits, otherwise the time a call fits again. */
  take(caller: string): Date | undefined;
}

export function perCallerWindow(limit: CallerLimit, now: () => number = Date.now): PerCallerWindow {
  // Call times per caller, ascending; Map order is least recently seen first.
  const calls = new Map<string, number[]>();
  return {
    take(caller) {
      const t = now();
      const recent = (calls.get(caller) ?? []).filter((at) => at > t - limit.perMs);
      calls.delete(caller);
      if (recent.length >= limit.requests) {
        calls.set(caller, recent);
        return new Date(recent[recent.length - limit.requests]! + limit.perMs);
      }
      recent.push(t);
      calls.set(caller, recent);
      if (calls.size > MAX_CALLERS) calls.delete(calls.keys().next().value!);
      return undefined;
    },
  };
}
