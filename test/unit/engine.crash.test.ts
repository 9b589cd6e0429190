/**
 * Crash safety: for every external call of a run, simulate the process dying right before it, and
 * right after it (effect done, answer lost); then re-run until nothing is due. The world must reach the
 * same end state as an uninterrupted run, and the invariants must hold after every single mutation (a
 * key-compromise run included: no key leaves the IdP before every target holds its replacement).
 */
import { describe, expect, it } from "vitest";
import { checkInvariants } from "../../src/engine/invariants.js";
import { reconcile } from "../../src/engine/reconcile.js";
import { submitRequest } from "../../src/engine/manual.js";
import type { FaultTiming } from "../support/memory/calls.js";
import { createWorld, type World } from "../support/memory/world.js";
import { bootstrapped, endState, renewed, settle, toRenewal, toRetirement } from "../support/scenarios.js";

const scenarios: { name: string; setup: () => Promise<World> }[] = [
  { name: "bootstrap", setup: async () => createWorld() },
  {
    name: "renewal",
    setup: async () => {
      const w = await bootstrapped();
      toRenewal(w);
      return w;
    },
  },
  {
    name: "retirement",
    setup: async () => {
      const w = await renewed();
      toRetirement(w);
      return w;
    },
  },
  {
    // rotate --compromised while the previous generation is in its overlap: the new key, then both
    // earlier generations revoked and the token caches cleared, all in one run.
    name: "key compromise",
    setup: async () => {
      const w = await renewed();
      await submitRequest(w.cred, w.ports, { kind: "rotate", compromised: true, id: "c0ffee00" });
      return w;
    },
  },
];

describe.each(scenarios)("crash safety: $name", ({ setup }) => {
  it("converges to the uninterrupted end state after a crash before or after any external call", async () => {
    const base = await setup();
    base.calls.reset();
    base.watchInvariants();
    const uninterrupted = await reconcile(base.cred, base.ports);
    expect(uninterrupted.outcome).toBe("ok");
    const ops = base.calls.log.map((e) => e.op);
    await settle(base);
    const expected = endState(base);
    expect(base.violations).toEqual([]);

    let crashes = 0;
    for (const timing of ["before", "after"] as FaultTiming[])
      for (let k = 1; k <= ops.length; k++) {
        const where = `crash ${timing} call ${k} (${ops[k - 1]})`;
        const w = await setup();
        w.calls.reset();
        w.watchInvariants();
        w.calls.crashAt(k, timing);
        const crashed = await reconcile(w.cred, w.ports);
        if (crashed.outcome !== "ok") crashes++;
        w.calls.revive();
        await settle(w);
        expect(endState(w), where).toEqual(expected);
        expect(w.violations, where).toEqual([]);
        expect(checkInvariants(w.view(), { settled: true }), where).toEqual([]);
      }
    // Nearly every crash point fails its run (a crash at a last read can go unnoticed).
    expect(crashes).toBeGreaterThan(ops.length);
  });
});
