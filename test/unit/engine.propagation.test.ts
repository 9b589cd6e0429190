import { describe, expect, it } from "vitest";
import {
  awaitConsecutiveSuccesses,
  continueConsecutive,
  type ProbeResult,
} from "../../src/engine/propagation.js";
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
    expect(out).toMatchObject({ result: "ok", attempts: 6, lastFailure: "AADSTS700027" });
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
    expect(out).toMatchObject({ result: "aborted", attempts: 2 });
  });

  it("resumes from a saved streak: a budget ends the call with the next probe's time, not a sleep", async () => {
    const clock = new FakeClock();
    const start = clock.now().getTime();
    const probe = script([false, true, true, true]);
    const first = await continueConsecutive(probe, policy, clock, undefined, { budgetMs: 6_000 });
    expect(first).toMatchObject({ result: "wait", attempts: 2, state: { streak: 1 } });
    expect(first.nextAt?.getTime()).toBe(start + 10_000);
    expect(clock.now().getTime() - start).toBe(5_000);
    // A later run (here: 2 s after the probe was due) continues the same streak and timeout.
    clock.advance(7_000);
    const second = await continueConsecutive(probe, policy, clock, first.state, { budgetMs: 6_000 });
    expect(second).toMatchObject({ result: "ok", attempts: 4, state: { streak: 3 } });
  });

  it("counts the timeout from the first probe of the first run", async () => {
    const clock = new FakeClock();
    const first = await continueConsecutive(script([]), policy, clock, undefined, { budgetMs: 0 });
    expect(first.result).toBe("wait");
    clock.advance(61_000);
    const later = await continueConsecutive(script([true]), policy, clock, first.state, { budgetMs: 5_000 });
    expect(later).toMatchObject({ result: "timeout", attempts: 1 });
  });
});
