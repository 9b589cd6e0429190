/**
 * A service-side rate limit for the fakes: at most `requests` in any window of `perMs`; past it the
 * fake answers 429 with Retry-After (seconds until the oldest request leaves the window), as Key Vault
 * (https://learn.microsoft.com/azure/key-vault/general/overview-throttling) and Graph
 * (https://learn.microsoft.com/graph/throttling) do. A refused request does not count.
 */
export class SlidingWindow {
  private readonly times: number[] = [];

  constructor(
    readonly requests: number,
    readonly perMs: number,
  ) {}

  /** Undefined when the request is admitted; otherwise the Retry-After value in whole seconds. */
  take(now = Date.now()): number | undefined {
    while (this.times.length && this.times[0]! <= now - this.perMs) this.times.shift();
    if (this.times.length < this.requests) {
      this.times.push(now);
      return undefined;
    }
    return Math.max(1, Math.ceil((this.times[0]! + this.perMs - now) / 1000));
  }
}
