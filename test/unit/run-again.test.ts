/** When a credential's work continues after a run (src/app/fleet.ts `runAgain`): one rule for the queue, the CLI and HTTP. */
import { describe, expect, it } from "vitest";
import { runAgain } from "../../src/app/fleet.js";
import type { RunReport } from "../../src/engine/reconcile.js";

const now = new Date("2026-03-01T12:00:00Z");
const step = (detail: string): RunReport["steps"][number] => ({
  action: "verify",
  status: "waiting",
  detail,
  startedAt: now.toISOString(),
  durationMs: 5,
});

describe("runAgain", () => {
  it("continues a waiting run at its nextRunAt, with what it waits for", () => {
    expect(
      runAgain(
        { outcome: "waiting", nextRunAt: "2026-03-01T12:00:30.000Z", steps: [step("verification 1/3")] },
        now,
      ),
    ).toEqual({ at: new Date("2026-03-01T12:00:30.000Z"), reason: "verification 1/3" });
    expect(runAgain({ outcome: "waiting", steps: [] }, now)).toEqual({ at: now, reason: "waiting" });
  });

  it("continues at once a run stopped by a lost lease or an ended budget (RUN_ABORTED)", () => {
    const aborted = runAgain(
      { outcome: "failed", error: { code: "RUN_ABORTED", message: "m", hint: "h" }, steps: [] },
      now,
    );
    expect(aborted?.at).toEqual(now);
    expect(aborted?.reason).toMatch(/RUN_ABORTED/);
  });

  it("leaves finished and failed work alone", () => {
    for (const outcome of ["ok", "noop", "planned", "stuck"] as const)
      expect(runAgain({ outcome, steps: [] }, now), outcome).toBeUndefined();
    expect(
      runAgain(
        { outcome: "failed", error: { code: "KONG_UNAVAILABLE", message: "m", hint: "h" }, steps: [] },
        now,
      ),
    ).toBeUndefined();
  });
});
