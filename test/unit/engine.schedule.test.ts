/**
 * One "due" rule (issue 20 item 3): the fleet timer reads the due time the run's trigger chain recorded,
 * on the version the certificate listing shows, so it never enqueues work the run would decline,
 * including after a rollback (halved renewal window, policy-change exception).
 */
import { describe, expect, it } from "vitest";
import { reconcile } from "../../src/engine/reconcile.js";
import { submitRequest } from "../../src/engine/manual.js";
import { workDue } from "../../src/engine/schedule.js";
import type { World } from "../support/memory/world.js";
import { activeVersion, renewed, versionsByPhase, only } from "../support/scenarios.js";

const DAY = 86_400_000;

async function timerSays(w: World): Promise<string | undefined> {
  const listing = await w.ports.store.listCertificates!();
  const summary = listing.certificates.find((c) => c.name === w.cred.certificateName);
  return workDue(summary, w.cred.policy, w.cred.name, w.clock.now());
}

async function rolledBack(): Promise<World> {
  const w = await renewed();
  await submitRequest(w.cred, w.ports, { kind: "rollback" });
  expect((await reconcile(w.cred, w.ports)).outcome).toBe("ok");
  return w;
}

describe("one due rule: the timer and the run agree", () => {
  it("after a rollback the timer enqueues nothing the run would decline, until the halved renewal window", async () => {
    const w = await rolledBack();
    const restored = activeVersion(w);
    const expires = (restored.cert?.notAfter as Date).getTime();
    // The listing shows the generation rolled back from, not the active one.
    expect(only(versionsByPhase(w, "retiring")).version).not.toBe(restored.version);
    expect(await timerSays(w)).toBeUndefined();
    // Inside renewBefore but before half of it remains: the run declines, so must the timer.
    w.clock.set(new Date(expires - w.cred.policy.renewBefore / 2 - DAY));
    const declined = await reconcile(w.cred, w.ports, { dryRun: true });
    expect(declined.plan.filter((a) => a.kind === "create")).toEqual([]);
    // (The overlap of the rolled-back generation ended meanwhile: retiring it is real work, once.)
    if (declined.plan.length) {
      expect(await timerSays(w)).toBeDefined();
      expect((await reconcile(w.cred, w.ports)).outcome).toBe("ok");
    }
    for (let tick = 0; tick < 3; tick++) {
      expect(await timerSays(w)).toBeUndefined();
      const r = await reconcile(w.cred, w.ports);
      expect(r.outcome).toBe("noop");
      w.clock.advance(DAY / 4);
    }
    // Once half of renewBefore remains, both say renew.
    w.clock.set(new Date(expires - w.cred.policy.renewBefore / 2 + 1000));
    expect(await timerSays(w)).toMatch(/work was due/);
    const r = await reconcile(w.cred, w.ports);
    expect(r.plan[0]).toMatchObject({ kind: "create", trigger: "Renewal" });
  });

  it("after a rollback away from a policy change the timer does not ask for that policy again", async () => {
    const w = await renewed();
    w.cred.policy = { ...w.cred.policy, algorithm: "RS256" };
    const r1 = await reconcile(w.cred, w.ports);
    expect(r1.plan[0]).toMatchObject({ kind: "create", trigger: "PolicyChanged" });
    for (let i = 0; i < 6 && (await reconcile(w.cred, w.ports)).outcome !== "noop"; i++);
    await submitRequest(w.cred, w.ports, { kind: "rollback" });
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("ok");
    // The configuration still says RS256; the run declines to rotate to it again, and so does the timer.
    expect((await reconcile(w.cred, w.ports, { dryRun: true })).plan).toEqual([]);
    expect(await timerSays(w)).toBeUndefined();
  });

  it("a configuration changed since the last run is work for the timer (one run re-decides)", async () => {
    const w = await rolledBack();
    expect(await timerSays(w)).toBeUndefined();
    w.cred.policy = { ...w.cred.policy, renewBefore: w.cred.policy.renewBefore + DAY };
    expect(await timerSays(w)).toBe("the configuration changed since the last run");
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("noop");
    expect(await timerSays(w)).toBeUndefined();
  });
});
