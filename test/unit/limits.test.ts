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

  it("a sliding window grants N calls per window and makes the next one wait for room, in order", async () => {
    const clock = new FakeClock();
    const start = clock.now().getTime();
    const w = slidingWindow({ requests: 20, perMs: 10_000, source: "test" }, clock);
    const at: number[] = [];
    await Promise.all(
      Array.from({ length: 45 }, async () => {
        await w.take();
        at.push(clock.now().getTime() - start);
      }),
    );
    expect(at.filter((t) => t < 10_000)).toHaveLength(20);
    expect(at.filter((t) => t >= 10_000 && t < 20_000)).toHaveLength(20);
    expect(at.filter((t) => t >= 20_000)).toHaveLength(5);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });
});
