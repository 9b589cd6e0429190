import { describe, expect, it } from "vitest";
import { DOCUMENTED_LIMITS, effectiveLimits } from "../../src/limits.js";
import { slidingWindow } from "../../src/app/limited.js";
import { FakeClock } from "../support/fake-clock.js";

describe("rate limits", () => {
  it("documents each value with its source, and lets the configuration override the count", () => {
    expect(DOCUMENTED_LIMITS.keyVaultCreates).toMatchObject({ requests: 20, perMs: 10_000 });
    expect(DOCUMENTED_LIMITS.keyVaultOther).toMatchObject({ requests: 4_000, perMs: 10_000 });
    expect(DOCUMENTED_LIMITS.graphWritesPerApp.source).toContain(
      "learn.microsoft.com/graph/throttling-limits",
    );
    const l = effectiveLimits({ keyVaultCreates: 10 });
    expect(l.keyVaultCreates).toMatchObject({ requests: 10, perMs: 10_000 });
    expect(l.keyVaultOther.requests).toBe(4_000);
  });

  it("a sliding window grants N calls per window and makes the next one wait for room", async () => {
    const clock = new FakeClock();
    const start = clock.now().getTime();
    const w = slidingWindow({ requests: 20, perMs: 10_000, source: "test" }, clock);
    const at: number[] = [];
    for (let i = 0; i < 45; i++) {
      await w.take();
      at.push(clock.now().getTime() - start);
    }
    expect(at.filter((t) => t < 10_000)).toHaveLength(20);
    expect(at.filter((t) => t >= 10_000 && t < 20_000)).toHaveLength(20);
    expect(at.filter((t) => t >= 20_000)).toHaveLength(5);
  });

  it("acquire reserves the next free slot instead of waiting past the budget; a later caller claims it", async () => {
    const clock = new FakeClock();
    const start = clock.now().getTime();
    const w = slidingWindow({ requests: 2, perMs: 10_000, source: "test" }, clock);
    expect(await w.acquire(1_000)).toEqual({ granted: true });
    expect(await w.acquire(1_000)).toEqual({ granted: true });
    const third = await w.acquire(1_000);
    const fourth = await w.acquire(1_000);
    expect(third.granted).toBe(false);
    expect(fourth.granted).toBe(false);
    const at3 = third.granted ? 0 : third.at.getTime() - start;
    const at4 = fourth.granted ? 0 : fourth.at.getTime() - start;
    // Distinct reservations, one window (plus the arrival margin) after the grants they follow.
    expect(at3).toBeGreaterThanOrEqual(10_000);
    expect(at4).toBe(at3);
    expect(await w.acquire(1_000)).toMatchObject({ granted: false });
    clock.advance(at3);
    expect(await w.acquire(0)).toEqual({ granted: true });
    expect(await w.acquire(0)).toEqual({ granted: true });
    expect(clock.now().getTime() - start).toBe(at3);
  });
});
