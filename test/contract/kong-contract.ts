/**
 * The Kong contract (issue 20 item 5): the same cases for every Kong kind in the registry
 * (src/adapters/kong/registry.ts), each against its local fake over real HTTPS, through the production
 * clients, the target built by the registry from a configuration block as the runtime builds it.
 *
 * A kind's rig (./kong-contract.test.ts) seeds the fake with our plugin, whose client_jwk holds another
 * client's entry ("foreign") next to our slot, and gives the controls the cases need:
 * - `hold()` before a write: one gateway will not take the new configuration until `release()`. How a
 *   gateway falls behind depends on the kind: a data plane, Konnect node or proxy pod that does not sync; a
 *   DB-less node whose configuration the operator's pipeline posts again after our write (`afterWrite()`).
 *   A kind confirmed by its read-back (`confirmation: "read-back"`, a traditional node) has no gateway behind it.
 * - `loseNextWrite()`: the next write is answered as accepted but another value is read back (a lost write,
 *   or another writer landing right after ours).
 */
import { expect, it } from "vitest";
import { kongKind, type KongKind } from "../../src/adapters/kong/registry.js";
import type { KongPrivateJwk } from "../../src/crypto/keymaterial.js";
import type { KongTarget } from "../../src/ports/engine.js";
import { applied, pollConfirm } from "../support/kong-confirm.js";
import { failure } from "../support/kong-jwk.js";

export interface KongRig {
  target: KongTarget;
  /** Our plugin's client_jwk array where the kind stores it (plugin, declarative config, Secret). */
  stored(): Promise<Record<string, unknown>[]>;
  /** The kid of the other client's entry the fake was seeded with, and its index. */
  foreign: { index: number; kid: string };
  /** Our client's index in client_jwk. */
  ours: number;
  hold(): Promise<string | undefined>;
  afterWrite(): Promise<void>;
  release(): Promise<void>;
  loseNextWrite(): void;
  close(): Promise<void>;
}

export interface KongKindHarness {
  kind: KongKind;
  /** A fresh fake and target; `gateways` gateways behind it where the kind has any. */
  rig(): Promise<KongRig>;
}

/** Register the contract's cases for one kind (call inside its describe block). */
export function kongContract(
  h: KongKindHarness,
  keys: () => { next: KongPrivateJwk; newer: KongPrivateJwk },
): void {
  const { capabilities } = kongKind(h.kind);
  const readBackOnly = capabilities.confirmation === "read-back";
  const withRig = (fn: (rig: KongRig) => Promise<void>) => async () => {
    const rig = await h.rig();
    try {
      await fn(rig);
    } finally {
      await rig.close();
    }
  };

  it(
    "apply: writes our entry only, keeps the foreign entry, reads back, and a second apply writes nothing",
    withRig(async (rig) => {
      const { next } = keys();
      const before = await rig.stored();
      const r = await applied(rig.target, next);
      expect(r.wrote).toBe(true);
      expect(r.plugins.length).toBeGreaterThan(0);
      for (const p of r.plugins)
        expect(p).toMatchObject({ clientIndex: rig.ours, kid: next.kid, alg: next.alg });
      const after = await rig.stored();
      expect(after[rig.foreign.index]).toEqual(before[rig.foreign.index]);
      expect(after[rig.foreign.index]?.kid).toBe(rig.foreign.kid);
      expect(after[rig.ours]).toMatchObject({ kid: next.kid, n: next.n, e: next.e, alg: next.alg });
      expect(after).toHaveLength(Math.max(before.length, rig.ours + 1));
      const again = await rig.target.apply(next);
      expect(again.wrote).toBe(false);
      expect(await rig.target.inspect()).toEqual(
        r.plugins.map((p) => expect.objectContaining({ pluginId: p.pluginId, kid: next.kid })),
      );
    }),
  );

  it(
    "confirm: every gateway takes the key within the kind's lag budget",
    withRig(async (rig) => {
      const { next } = keys();
      const { since } = await applied(rig.target, next);
      const seen = await pollConfirm(rig.target, next, since, (c) => c.state !== "pending");
      expect(seen.at(-1)).toMatchObject({ state: "confirmed" });
      expect(rig.target.maxLagMs).toBeGreaterThanOrEqual(0);
    }),
  );

  it(
    "lag: a gateway behind keeps confirm pending, named, until it catches up",
    withRig(async (rig) => {
      const { next } = keys();
      const held = await rig.hold();
      const { since } = await applied(rig.target, next);
      await rig.afterWrite();
      if (readBackOnly) {
        // No gateway behind the node: the read-back is the confirmation.
        expect(held).toBeUndefined();
        expect(await rig.target.confirm({ kid: next.kid }, since)).toMatchObject({ state: "confirmed" });
        return;
      }
      expect(held).toBeDefined();
      const first = await rig.target.confirm({ kid: next.kid }, since);
      expect(first).toMatchObject({ state: "pending", lagging: expect.arrayContaining([held]) });
      await rig.release();
      const seen = await pollConfirm(rig.target, next, since, (c) => c.state !== "pending");
      expect(seen.at(-1)).toMatchObject({ state: "confirmed" });
    }),
  );

  it(
    "a stuck gateway: confirm never passes while it is stuck, and names it every time",
    withRig(async (rig) => {
      const { newer } = keys();
      const held = await rig.hold();
      const { since } = await applied(rig.target, newer);
      await rig.afterWrite();
      if (readBackOnly) {
        expect(held).toBeUndefined();
        return;
      }
      const seen = await pollConfirm(rig.target, newer, since, (c) => c.state !== "pending", 1200);
      expect(seen.length).toBeGreaterThan(1);
      for (const c of seen)
        expect(c).toMatchObject({ state: "pending", lagging: expect.arrayContaining([held]) });
    }),
  );

  it(
    "read-back mismatch: a write that does not stick fails typed and retryable, naming no key member; the next apply converges",
    withRig(async (rig) => {
      const { next } = keys();
      rig.loseNextWrite();
      const e = await failure(rig.target.apply(next));
      expect(e).toMatchObject({ code: "KONG_READBACK_MISMATCH", retryable: true });
      const text = `${e.message} ${e.hint} ${JSON.stringify(e.toJSON())}`;
      for (const m of ["d", "p", "q", "dp", "dq", "qi"] as const) expect(text).not.toContain(next[m]);
      const r = await rig.target.apply(next);
      expect(r.plugins.every((p) => p.kid === next.kid)).toBe(true);
      expect((await rig.stored())[rig.foreign.index]?.kid).toBe(rig.foreign.kid);
    }),
  );
}
