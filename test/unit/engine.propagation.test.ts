import { describe, expect, it } from "vitest";
import { awaitConsecutiveSuccesses, type ProbeResult } from "../../src/engine/propagation.js";
import { FakeClock } from "../support/fake-clock.js";

const script = (answers: boolean[]) => {
  let i = 0;
  return async (): Promise<ProbeResult> =>
    (answers[i++] ?? false) ? { ok: true } : { ok: false, code: "AADSTS700027" };
};
const policy = { intervalMs: 5_000, consecutive: 3, timeoutMs: 60_000 };

describe("awaitConsecutiveSuccesses", () => {
  it("needs N successes in a row; a failure resets the streak", async () => {
    const clock = new FakeClock();
    const start = clock.now().getTime();
    const out = await awaitConsecutiveSuccesses(script([true, true, false, true, true, true]), policy, clock);
    expect(out).toEqual({ result: "ok", attempts: 6, lastFailure: "AADSTS700027" });
    expect(clock.now().getTime() - start).toBe(5 * 5_000);
  });

  it("gives up at the timeout measured on the clock, without starting an attempt past it", async () => {
    const clock = new FakeClock();
    const start = clock.now().getTime();
    const out = await awaitConsecutiveSuccesses(script([]), policy, clock);
    expect(out.result).toBe("timeout");
    expect(out.attempts).toBe(13);
    expect(clock.now().getTime() - start).toBe(60_000);
  });

  it("stops when the signal aborts, before the next attempt", async () => {
    const clock = new FakeClock();
    const ac = new AbortController();
    const out = await awaitConsecutiveSuccesses(script([true, true, true]), policy, clock, {
      signal: ac.signal,
      onAttempt: (n) => n === 2 && ac.abort(),
    });
    expect(out).toEqual({ result: "aborted", attempts: 2 });
  });
});
