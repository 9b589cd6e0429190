/**
 * Apply vs confirm: a generation becomes active only when every target confirms that its gateways hold the
 * key; lagging gateways make activation wait (bounded by the target's maxLag window), one that stays behind
 * fails the step naming it while the old key stays registered. On a wait budget, a run inside the window
 * ends `waiting` and a later run resumes it; after a failed window the next attempt opens a new one (and
 * writes the key again, with a new baseline, when the control plane lost it). All on the fake clock.
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

    // Still behind on the next run: a new window of maxLag opens (no rewrite: the control plane holds the
    // key), and the run fails only when that window ends.
    w.calls.reset();
    const before = w.clock.now().getTime();
    const again = await reconcile(w.cred, w.ports);
    expect(again.error?.code).toBe("KONG_NOT_CONFIRMED");
    expect(w.clock.now().getTime() - before).toBeGreaterThanOrEqual(30_000);
    expect(w.calls.count("kong[edge].baseline")).toBe(0);
    expect(confirmRecords(only(versionsByPhase(w, "verified")).tags)["edge"]?.failed).toBe(true);

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

describe("confirmation windows", () => {
  const BUDGET = { waitBudgetMs: 5_000 };

  it("inside the window a run on a wait budget ends waiting (no failure); it fails only when the window ends", async () => {
    const { w, edge } = await renewalWithLag(undefined, 30_000);
    // Verification first (its own waits), until the activation step waits on the data plane.
    let r = await reconcile(w.cred, w.ports, BUDGET);
    while (r.outcome === "waiting" && r.steps.at(-1)?.action !== "activate") {
      w.clock.set(new Date(r.nextRunAt!));
      r = await reconcile(w.cred, w.ports, BUDGET);
    }
    expect(r.outcome).toBe("waiting");
    expect(r.steps.at(-1)).toMatchObject({ action: "activate", status: "waiting" });
    expect(r.steps.at(-1)?.detail).toMatch(/Kong target edge: waiting for dp-2 .* until /);
    const fresh = only(versionsByPhase(w, "verified"));
    const record = confirmRecords(fresh.tags)["edge"]!;
    expect(record).toMatchObject({ baseline: "base", lagging: ["dp-2"] });
    expect(record.failed).toBeUndefined();
    const windowEnd = record.appliedAt.getTime() + 30_000;

    // Every run inside the window waits; none fails.
    let runs = 0;
    while (w.clock.now().getTime() < windowEnd - 2_000) {
      w.clock.set(new Date(r.nextRunAt!));
      r = await reconcile(w.cred, w.ports, BUDGET);
      runs++;
      if (r.outcome !== "waiting") break;
    }
    expect(runs).toBeGreaterThan(2);
    expect(w.calls.count("kong[edge].baseline")).toBe(1);
    // The run that reaches the window's end fails, naming the data plane.
    while (r.outcome === "waiting") {
      w.clock.set(new Date(r.nextRunAt!));
      r = await reconcile(w.cred, w.ports, BUDGET);
    }
    expect(r.outcome).toBe("failed");
    expect(r.error).toMatchObject({ code: "KONG_NOT_CONFIRMED", details: { lagging: ["dp-2"] } });
    expect(w.clock.now().getTime()).toBeGreaterThanOrEqual(windowEnd);
    expect(edge.kids()).toEqual([fresh.cert!.x5t]);
    expect(w.violations).toEqual([]);
  });

  it("a data plane that recovers after a failed window: the next run opens a new window, waits, then activates", async () => {
    const { w, edge, old } = await renewalWithLag(undefined, 30_000);
    const failed = await reconcile(w.cred, w.ports);
    expect(failed.error?.code).toBe("KONG_NOT_CONFIRMED");
    const fresh = only(versionsByPhase(w, "verified"));
    const stale = confirmRecords(fresh.tags)["edge"]!;
    expect(stale.failed).toBe(true);

    // Long after the failed window, the data plane comes back and needs 8 s to sync.
    w.clock.advance(3_600_000);
    edge.lag = {
      names: ["dp-2"],
      now: () => w.clock.now(),
      until: new Date(w.clock.now().getTime() + 8_000),
    };
    w.calls.reset();
    const first = await reconcile(w.cred, w.ports, BUDGET);
    expect(first.outcome, JSON.stringify(first.error)).toBe("waiting");
    expect(first.error).toBeUndefined();
    const reopened = confirmRecords(only(versionsByPhase(w, "verified")).tags)["edge"]!;
    expect(reopened.failed).toBeUndefined();
    expect(reopened.windowFrom?.getTime()).toBeGreaterThan(stale.appliedAt.getTime() + 3_000_000);
    // Same write and baseline: the control plane still holds the key, so nothing is written again.
    expect(reopened).toMatchObject({ appliedAt: stale.appliedAt, baseline: "base" });
    expect(w.calls.count("kong[edge].baseline")).toBe(0);
    expect(edge.kids()).toEqual([fresh.cert!.x5t]);
    expect(activeVersion(w).version).toBe(old.version);

    let r = first;
    while (r.outcome === "waiting") {
      w.clock.set(new Date(r.nextRunAt!));
      r = await reconcile(w.cred, w.ports, BUDGET);
    }
    expect(r.outcome, JSON.stringify(r.error)).toBe("ok");
    expect(activeVersion(w).version).toBe(fresh.version);
    expect(activeVersion(w).tags[TAG_KONG_CONFIRM]).toBeUndefined();
    expect(w.violations).toEqual([]);
  });

  it("a new attempt writes the key again, with a new baseline, when the control plane lost it", async () => {
    const { w, edge, old } = await renewalWithLag(undefined, 30_000);
    expect((await reconcile(w.cred, w.ports)).error?.code).toBe("KONG_NOT_CONFIRMED");
    // The control plane is restored from a backup that predates the write.
    const oldJwk = { kid: old.cert!.x5t, x5t: old.cert!.x5t, alg: "PS256", kty: "RSA", n: "old" };
    edge.hold(oldJwk);
    edge.lag = undefined;
    w.calls.reset();
    const r = await reconcile(w.cred, w.ports, BUDGET);
    expect(r.outcome, JSON.stringify(r.error)).toBe("ok");
    expect(w.calls.count("kong[edge].baseline")).toBe(1);
    const fresh = activeVersion(w);
    expect(edge.kids()).toEqual([fresh.cert!.x5t]);
    expect(fresh.version).not.toBe(old.version);
  });

  it("a record written before windows were kept: lagging names mean its window failed", () => {
    const tags = {
      [TAG_KONG_CONFIRM]: JSON.stringify({ a: [1767600000, "h1", "dp-2"], b: [1767600000, "h2", ""] }),
    };
    expect(confirmRecords(tags)["a"]).toMatchObject({ failed: true, lagging: ["dp-2"] });
    expect(confirmRecords(tags)["b"]?.failed).toBeUndefined();
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
