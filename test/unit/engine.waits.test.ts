/**
 * Resumable waits: with a wait budget, a run never sleeps longer than the budget; it persists where it
 * is (Key Vault creation pending, verification streak in the `rotator-verify` tag) and ends `waiting`
 * with `nextRunAt`. Runs started at `nextRunAt` converge to the same end state as one blocking run.
 */
import { describe, expect, it } from "vitest";
import { reconcile, type RunReport } from "../../src/engine/reconcile.js";
import { parseVerifyProgress, TAG_PHASE, TAG_VERIFY } from "../../src/engine/tags.js";
import { createWorld, type World } from "../support/memory/world.js";

const BUDGET = 5_000;

/** Run at each nextRunAt until the outcome is not `waiting`; every run must stay within the budget. */
async function untilSettled(w: World, max = 50): Promise<RunReport[]> {
  const reports: RunReport[] = [];
  for (let i = 0; i < max; i++) {
    const started = w.clock.now().getTime();
    const r = await reconcile(w.cred, w.ports, { waitBudgetMs: BUDGET });
    expect(w.clock.now().getTime() - started).toBeLessThanOrEqual(BUDGET * 2);
    reports.push(r);
    if (r.outcome !== "waiting") return reports;
    const next = new Date(r.nextRunAt ?? "").getTime();
    expect(next).toBeGreaterThanOrEqual(w.clock.now().getTime());
    w.clock.advance(next - w.clock.now().getTime());
  }
  throw new Error("did not settle");
}

describe("resumable waits", () => {
  it("bootstrap: a pending creation and the verification streak end runs as waiting, later runs finish", async () => {
    const w = createWorld({ propagationMs: 12_000 });
    w.store.createLatencyMs = 8_000;
    w.watchInvariants();
    const reports = await untilSettled(w);
    expect(reports.at(-1)?.outcome).toBe("ok");
    const waits = reports.filter((r) => r.outcome === "waiting");
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(waits[0]?.steps.at(-1)).toMatchObject({ action: "create", status: "waiting" });
    expect(waits.some((r) => r.steps.at(-1)?.action === "verify")).toBe(true);
    expect(w.store.versions(w.cred.certificateName)).toHaveLength(1);
    expect(w.phases()).toEqual(["active"]);
    // The saved streak is gone once the phase moved on.
    expect(w.store.versions(w.cred.certificateName)[0]?.tags[TAG_VERIFY]).toBeUndefined();
    expect(w.violations).toEqual([]);
  });

  it("keeps the streak between runs in the generation's tag", async () => {
    const w = createWorld({ propagationMs: 0 });
    const first = await reconcile(w.cred, w.ports, { waitBudgetMs: BUDGET });
    expect(first.outcome).toBe("waiting");
    const v = w.store.versions(w.cred.certificateName)[0];
    expect(v?.tags[TAG_PHASE]).toBe("published");
    const saved = parseVerifyProgress(v?.tags[TAG_VERIFY]);
    expect(saved?.streak).toBeGreaterThanOrEqual(1);
    expect(saved?.streak).toBe(saved?.attempts);
    w.clock.advance(new Date(first.nextRunAt ?? "").getTime() - w.clock.now().getTime());
    const second = await reconcile(w.cred, w.ports, { waitBudgetMs: BUDGET });
    // testPolicy needs 3 in a row: the second run completes the streak started by the first.
    expect(second.outcome).toBe("ok");
    expect(second.steps.find((s) => s.action === "verify")?.detail).toContain("3 times in a row");
  });

  it("a key that is never accepted ends stuck at verifyTimeout counted from the first probe, and starts over", async () => {
    const w = createWorld({ propagationMs: 10 * 60_000 });
    const reports = await untilSettled(w);
    const last = reports.at(-1);
    expect(last?.outcome).toBe("stuck");
    expect(last?.error?.code).toBe("VERIFY_TIMEOUT");
    const first = new Date(reports[0]?.steps[0]?.startedAt ?? "").getTime();
    // testPolicy.verifyTimeout is 2 min; the runs waited in between instead of holding a worker.
    expect(w.clock.now().getTime() - first).toBeLessThan(130_000);
    expect(reports.length).toBeGreaterThan(5);
    expect(w.store.versions(w.cred.certificateName)[0]?.tags[TAG_VERIFY]).toBeUndefined();
  });

  it("without a budget, one run waits in-process as before", async () => {
    const w = createWorld();
    w.store.createLatencyMs = 8_000;
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    expect(r.nextRunAt).toBeUndefined();
  });
});
