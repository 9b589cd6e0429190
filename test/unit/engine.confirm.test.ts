/**
 * Apply vs confirm: a generation becomes active only when every target confirms that its gateways hold the
 * key; lagging gateways make activation wait (bounded by the target's maxLag), one that stays behind fails
 * the step naming it while the old key stays registered, and a later run resumes the same confirmation.
 */
import { describe, expect, it } from "vitest";
import { confirmRecordChanges, confirmRecords, TAG_KONG_CONFIRM } from "../../src/engine/confirm-tag.js";
import { reconcile } from "../../src/engine/reconcile.js";
import { TAG_LAST_ERROR } from "../../src/engine/tags.js";
import { activeVersion, bootstrapped, only, toRenewal, versionsByPhase } from "../support/scenarios.js";

const kinds = (r: { steps: { action: string; status: string }[] }) =>
  r.steps.map((s) => `${s.action}:${s.status}`);

async function renewalWithLag(lagMs: number | undefined, maxLagMs = 60_000) {
  const w = await bootstrapped();
  w.watchInvariants();
  const edge = w.kong[0]!;
  edge.maxLagMs = maxLagMs;
  toRenewal(w);
  const start = w.clock.now().getTime();
  edge.lag = {
    names: ["dp-2"],
    now: () => w.clock.now(),
    ...(lagMs === undefined ? {} : { until: new Date(start + lagMs) }),
  };
  return { w, edge, old: activeVersion(w) };
}

describe("Kong confirmation", () => {
  it("activation waits for a lagging data plane and completes once it holds the key", async () => {
    // The lag starts at renewal; verification takes ~20 s of fake time, so keep the DP behind for longer.
    const { w } = await renewalWithLag(45_000);
    const progress: string[] = [];
    const r = await reconcile(w.cred, w.ports, {
      onProgress: (e) => e.event === "progress" && e.action === "activate" && progress.push(e.detail ?? ""),
    });
    expect(r.outcome, JSON.stringify(r.error)).toBe("ok");
    expect(kinds(r)).toContain("activate:done");
    expect(progress.some((p) => /waiting for dp-2/.test(p))).toBe(true);
    expect(w.calls.count("kong[edge].confirm")).toBeGreaterThan(1);
    expect(w.calls.count("kong[edge].baseline")).toBe(1);
    // The record is gone once active.
    expect(activeVersion(w).tags[TAG_KONG_CONFIRM]).toBeUndefined();
    expect(w.violations).toEqual([]);
  });

  it("a data plane that never syncs fails the step naming it; the old key stays; a later run completes after recovery", async () => {
    const { w, edge, old } = await renewalWithLag(undefined, 30_000);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("failed");
    expect(r.error?.code).toBe("KONG_NOT_CONFIRMED");
    expect(r.failedTarget).toBe("edge");
    expect(r.error?.message).toMatch(/dp-2/);
    expect(r.error?.details).toMatchObject({ target: "edge", lagging: ["dp-2"] });
    const fresh = only(versionsByPhase(w, "verified"));
    expect(fresh.tags[TAG_LAST_ERROR]).toBe("KONG_NOT_CONFIRMED");
    // Still active, still registered: the gateways that do not have the new key keep logging in.
    expect(activeVersion(w).version).toBe(old.version);
    expect(w.directory.find(old.cert!.x5t)).toBeDefined();
    // Where the confirmation stands is persisted, with the lagging gateway named (status reads it).
    const record = confirmRecords(fresh.tags)["edge"];
    expect(record?.lagging).toEqual(["dp-2"]);
    expect(record?.baseline).toBe("base");

    // Still behind on the next run: fails at once (maxLag is counted from the recorded write), no rewrite.
    w.calls.reset();
    const again = await reconcile(w.cred, w.ports);
    expect(again.error?.code).toBe("KONG_NOT_CONFIRMED");
    expect(w.calls.count("kong[edge].baseline")).toBe(0);

    edge.lag = undefined;
    const later = await reconcile(w.cred, w.ports);
    expect(later.outcome, JSON.stringify(later.error)).toBe("ok");
    expect(activeVersion(w).version).toBe(fresh.version);
    expect(activeVersion(w).tags[TAG_KONG_CONFIRM]).toBeUndefined();
    expect(w.violations).toEqual([]);
  });

  it("a traditional target (maxLag 0) confirms by read-back and persists nothing", async () => {
    const w = await bootstrapped();
    toRenewal(w);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    expect(w.calls.log.filter((c) => c.op === "store.updateVersion").length).toBeGreaterThan(0);
    for (const v of w.store.versions(w.cred.certificateName))
      expect(v.tags[TAG_KONG_CONFIRM]).toBeUndefined();
  });
});

describe("the confirmation tag", () => {
  it("round-trips several targets and drops lagging names before exceeding 256 characters", () => {
    const at = new Date("2026-01-05T08:00:00Z");
    let tags: Record<string, string> = {};
    const put = (name: string, lagging: string[]) => {
      const c = confirmRecordChanges(tags, name, { appliedAt: at, baseline: "abcdef012345", lagging });
      tags = { [TAG_KONG_CONFIRM]: c[TAG_KONG_CONFIRM]! };
    };
    put("a", ["dp-1"]);
    put("b", []);
    expect(confirmRecords(tags)).toEqual({
      a: { appliedAt: at, baseline: "abcdef012345", lagging: ["dp-1"] },
      b: { appliedAt: at, baseline: "abcdef012345", lagging: [] },
    });
    put(
      "c",
      Array.from({ length: 30 }, (_, i) => `data-plane-${i}`),
    );
    expect(tags[TAG_KONG_CONFIRM]!.length).toBeLessThanOrEqual(256);
    expect(confirmRecords(tags)["c"]?.lagging).toEqual([]);
    expect(confirmRecordChanges(tags, "a", undefined)[TAG_KONG_CONFIRM]).not.toContain('"a"');
    expect(confirmRecords({ [TAG_KONG_CONFIRM]: "{not json" })).toEqual({});
  });
});
