/** The planner is pure: every trigger and guard is checked on hand-built snapshots. */
import { describe, expect, it } from "vitest";
import type { IdpKey, IdpRules } from "../../src/ports/engine.js";
import { IDP_RULES } from "../../src/idp-rules.js";
import { plan, type PlannedAction } from "../../src/engine/plan.js";
import {
  parseGeneration,
  TAG_ACTIVATED_AT,
  TAG_PHASE,
  TAG_RETIRE_AFTER,
  type Generation,
  type Phase,
} from "../../src/engine/tags.js";
import type { Snapshot, TargetObservation } from "../../src/engine/types.js";
import { testPolicy } from "../support/memory/world.js";

const NOW = new Date("2026-03-01T00:00:00.000Z");
const DAY = 86_400_000;
const policy = { ...testPolicy, renewBefore: 30 * DAY, overlap: DAY };
let counter = 0;

function gen(
  phase: Phase,
  o: {
    x5t?: string | null;
    ageDays?: number;
    expiresInDays?: number;
    tags?: Record<string, string>;
    enabled?: boolean;
  } = {},
): Generation {
  counter++;
  const createdOn = new Date(NOW.getTime() - (o.ageDays ?? 10) * DAY);
  const g = parseGeneration({
    version: `v${counter}`,
    enabled: o.enabled ?? true,
    createdOn,
    ...(o.x5t === null
      ? {}
      : {
          x5t: o.x5t ?? `x5t-${counter}`,
          notBefore: createdOn,
          expiresOn: new Date(NOW.getTime() + (o.expiresInDays ?? 150) * DAY),
        }),
    tags: { [TAG_PHASE]: phase, ...o.tags },
  });
  if (!g) throw new Error("bad test generation");
  return g;
}

function keyOf(g: Generation, o: { expired?: boolean; usable?: boolean } = {}): IdpKey {
  return {
    id: `key-${g.version}`,
    usable: o.usable ?? true,
    ...(g.notBefore ? { notBefore: g.notBefore.toISOString() } : {}),
    ...(o.expired
      ? { expiresAt: new Date(NOW.getTime() - DAY).toISOString() }
      : g.expiresOn
        ? { expiresAt: g.expiresOn.toISOString() }
        : {}),
    ...(g.x5t ? { x5t: g.x5t, kid: g.x5t } : {}),
  };
}

function snap(
  generations: Generation[],
  keys: IdpKey[],
  targets?: TargetObservation[],
  rules: IdpRules = IDP_RULES.entra,
): Snapshot {
  const active = generations.find((g) => g.phase === "active");
  return {
    credential: "c",
    certificateName: "c",
    policy,
    observedAt: NOW,
    generations,
    idp: { client: "app a", rules, keys },
    targets: targets ?? [
      {
        name: "edge",
        plugins: [{ pluginId: "p1", clientIndex: 0, ...(active?.x5t ? { kid: active.x5t } : {}) }],
      },
    ],
  };
}

const kinds = (actions: PlannedAction[]) => actions.map((a) => (a.blocked ? `${a.kind}(blocked)` : a.kind));

describe("plan: create triggers", () => {
  it("bootstraps when there is no generation at all, registering without a current key to sign", () => {
    const p = plan(snap([], []), policy, NOW);
    expect(kinds(p.actions)).toEqual(["create", "publish", "verify", "activate"]);
    expect(p.actions[1]).toMatchObject({ kind: "publish" });
    expect(p.actions[1]).not.toHaveProperty("signedBy");
  });

  it("does nothing while the active key is outside renewBefore", () => {
    const a = gen("active", { expiresInDays: 31 });
    expect(plan(snap([a], [keyOf(a)]), policy, NOW).actions).toEqual([]);
  });

  it("renews, signed by the current key, once the active key expires within renewBefore", () => {
    const a = gen("active", { expiresInDays: 30 });
    const p = plan(snap([a], [keyOf(a)]), policy, NOW);
    expect(kinds(p.actions)).toEqual(["create", "publish", "verify", "activate"]);
    expect(p.actions[1]).toMatchObject({ signedBy: a.x5t });
  });

  it("registers without a current key when the active key has expired at the IdP, is not listed or is not usable", () => {
    const a = gen("active", { expiresInDays: 5 });
    for (const keys of [[keyOf(a, { expired: true })], [], [keyOf(a, { usable: false })]]) {
      const publish = plan(snap([a], keys), policy, NOW).actions[1];
      expect(publish?.kind).toBe("publish");
      expect(publish).not.toHaveProperty("signedBy");
    }
  });

  it("creates on force even when the active key is fresh", () => {
    const a = gen("active");
    expect(kinds(plan(snap([a], [keyOf(a)]), policy, NOW, { force: true }).actions)).toEqual([
      "create",
      "publish",
      "verify",
      "activate",
    ]);
  });

  it("never creates while a generation is in flight: it continues it instead (even when forced or due)", () => {
    const a = gen("active", { expiresInDays: 2, ageDays: 20 });
    const b = gen("pending", { ageDays: 1 });
    for (const force of [false, true]) {
      const p = plan(snap([b, a], [keyOf(a)]), policy, NOW, { force });
      expect(kinds(p.actions)).toEqual(["publish", "verify", "activate"]);
      expect(p.actions.every((x) => !("version" in x) || x.version === b.version)).toBe(true);
    }
  });
});

describe("plan: continuing a generation", () => {
  it("verifies a published generation whose key the app lists", () => {
    const a = gen("active", { ageDays: 20 });
    const b = gen("published", { ageDays: 1 });
    expect(kinds(plan(snap([b, a], [keyOf(a), keyOf(b)]), policy, NOW).actions)).toEqual([
      "verify",
      "activate",
    ]);
  });

  it("publishes again when the app no longer lists an in-flight key, and verifies again before activating", () => {
    const a = gen("active", { ageDays: 20 });
    const b = gen("verified", { ageDays: 1 });
    expect(kinds(plan(snap([b, a], [keyOf(a)]), policy, NOW).actions)).toEqual([
      "publish",
      "verify",
      "activate",
    ]);
  });

  it("activates a verified generation and leaves targets to the activation (no separate sync)", () => {
    const a = gen("active", { ageDays: 20 });
    const b = gen("verified", { ageDays: 1 });
    const targets: TargetObservation[] = [
      { name: "edge", plugins: [{ pluginId: "p", clientIndex: 0, kid: b.x5t }] },
    ];
    expect(kinds(plan(snap([b, a], [keyOf(a), keyOf(b)], targets), policy, NOW).actions)).toEqual([
      "activate",
    ]);
  });

  it("marks older in-flight generations and ones whose certificate was never issued as retiring", () => {
    const a = gen("active", { ageDays: 20 });
    const broken = gen("pending", { ageDays: 3, x5t: null });
    const old = gen("published", { ageDays: 2 });
    const newest = gen("pending", { ageDays: 1 });
    const p = plan(snap([newest, old, broken, a], [keyOf(a), keyOf(old)]), policy, NOW);
    expect(kinds(p.actions)).toEqual(["mark-retiring", "mark-retiring", "publish", "verify", "activate"]);
    expect(p.actions.slice(0, 2).map((x) => ("version" in x ? x.version : ""))).toEqual([
      old.version,
      broken.version,
    ]);
    expect(p.actions[2]).toMatchObject({ version: newest.version });
  });

  it("marks an in-flight generation older than the active one as retiring", () => {
    const stale = gen("verified", { ageDays: 30 });
    const a = gen("active", { ageDays: 20 });
    expect(kinds(plan(snap([a, stale], [keyOf(a), keyOf(stale)]), policy, NOW).actions)).toEqual([
      "mark-retiring",
    ]);
  });

  it("resolves two active generations by activatedAt: the older one retires after the newer one's activation + overlap", () => {
    const activated = "2026-02-28T12:00:00.000Z";
    const older = gen("active", { ageDays: 40, tags: { [TAG_ACTIVATED_AT]: "2026-01-01T00:00:00.000Z" } });
    const newer = gen("active", { ageDays: 1, tags: { [TAG_ACTIVATED_AT]: activated } });
    const p = plan(snap([newer, older], [keyOf(older), keyOf(newer)]), policy, NOW);
    expect(p.actions).toEqual([
      expect.objectContaining({
        kind: "mark-retiring",
        version: older.version,
        retireAfter: new Date(Date.parse(activated) + DAY).toISOString(),
      }),
    ]);
  });
});

describe("plan: retiring and cleaning up", () => {
  const retiring = (retireAfter: Date) =>
    gen("retiring", { ageDays: 200, tags: { [TAG_RETIRE_AFTER]: retireAfter.toISOString() } });

  it("retires only after retireAfter, removing the key with removeKey signed by the active key", () => {
    const a = gen("active", { ageDays: 1 });
    const early = retiring(new Date(NOW.getTime() + 1000));
    expect(plan(snap([a, early], [keyOf(a), keyOf(early)]), policy, NOW).actions).toEqual([]);
    const due = retiring(NOW);
    expect(plan(snap([a, due], [keyOf(a), keyOf(due)]), policy, NOW).actions).toEqual([
      expect.objectContaining({
        kind: "retire",
        version: due.version,
        keyId: `key-${due.version}`,
      }),
    ]);
  });

  it("never retires a key a Kong target references", () => {
    const a = gen("active", { ageDays: 1 });
    const due = retiring(NOW);
    const targets: TargetObservation[] = [
      { name: "edge", plugins: [{ pluginId: "p1", clientIndex: 0, kid: a.x5t }] },
      {
        name: "internal",
        plugins: [
          { pluginId: "p2", clientIndex: 0, kid: a.x5t },
          { pluginId: "p3", clientIndex: 0, x5t: due.x5t },
        ],
      },
    ];
    const retire = plan(snap([a, due], [keyOf(a), keyOf(due)], targets), policy, NOW).actions.find(
      (x) => x.kind === "retire",
    );
    expect(retire?.blocked).toMatch(/referenced by Kong target\(s\) internal/);
  });

  it("never retires while a target's state is unknown (its inspection failed)", () => {
    const a = gen("active", { ageDays: 1 });
    const due = retiring(NOW);
    const targets: TargetObservation[] = [
      { name: "edge", plugins: [{ pluginId: "p1", clientIndex: 0, kid: a.x5t }] },
      { name: "internal", error: { code: "KONG_UNAVAILABLE", message: "503", hint: "" } },
    ];
    const p = plan(snap([a, due], [keyOf(a), keyOf(due)], targets), policy, NOW);
    expect(kinds(p.actions)).toEqual(["retire(blocked)"]);
    expect(p.actions[0]?.blocked).toMatch(/internal is unknown/);
  });

  it("retires a generation whose key is already gone from the app by tagging only (crash after removeKey)", () => {
    const a = gen("active", { ageDays: 1 });
    const due = retiring(NOW);
    const [retire] = plan(snap([a, due], [keyOf(a)]), policy, NOW).actions;
    expect(retire).toMatchObject({ kind: "retire" });
    expect(retire && "keyId" in retire ? retire.keyId : undefined).toBeUndefined();
  });

  it("removes a retired generation's key found at the app (no leak), and disables a retired version left enabled", () => {
    const a = gen("active", { ageDays: 1 });
    const retired = gen("retired", { ageDays: 200, enabled: true });
    const p = plan(snap([a, retired], [keyOf(a), keyOf(retired)]), policy, NOW);
    expect(p.actions).toEqual([
      expect.objectContaining({
        kind: "remove-leaked",
        version: retired.version,
        keyId: `key-${retired.version}`,
      }),
      expect.objectContaining({ kind: "disable", version: retired.version }),
    ]);
  });

  it("reports keys that match no generation as unmanaged and never plans to touch them", () => {
    const a = gen("active", { ageDays: 1 });
    const foreign: IdpKey = { id: "by-hand", usable: true, x5t: "someone-elses", displayName: "portal" };
    const p = plan(snap([a], [keyOf(a), foreign]), policy, NOW);
    expect(p.unmanaged).toEqual([{ keyId: "by-hand", x5t: "someone-elses", displayName: "portal" }]);
    expect(p.actions).toEqual([]);
  });
});

describe("plan: Kong drift", () => {
  it("re-applies the active key to a target that holds another key", () => {
    const a = gen("active", { ageDays: 1 });
    const targets: TargetObservation[] = [
      { name: "edge", plugins: [{ pluginId: "p1", clientIndex: 0, kid: a.x5t }] },
      { name: "internal", plugins: [{ pluginId: "p2", clientIndex: 0, kid: "other" }] },
    ];
    expect(plan(snap([a], [keyOf(a)], targets), policy, NOW).actions).toEqual([
      expect.objectContaining({ kind: "sync", target: "internal", x5t: a.x5t }),
    ]);
  });

  it("does not push an active key the app does not list (that would break logins)", () => {
    const a = gen("active", { ageDays: 1 });
    const targets: TargetObservation[] = [
      { name: "edge", plugins: [{ pluginId: "p1", clientIndex: 0, kid: "other" }] },
    ];
    const actions = plan(snap([a], [], targets), policy, NOW).actions;
    // The missing key itself triggers a new generation (verified before any push).
    expect(kinds(actions)).toEqual(["sync(blocked)", "create", "publish", "verify", "activate"]);
  });

  it("does not sync a target whose inspection failed (its state is unknown)", () => {
    const a = gen("active", { ageDays: 1 });
    const targets: TargetObservation[] = [
      { name: "edge", error: { code: "KONG_UNAVAILABLE", message: "down", hint: "" } },
    ];
    expect(plan(snap([a], [keyOf(a)], targets), policy, NOW).actions).toEqual([]);
  });
});

describe("plan: the IdP's key limit", () => {
  const two = IDP_RULES.auth0;
  const retiring = (afterMs: number) =>
    gen("retiring", {
      ageDays: 40,
      tags: {
        [TAG_ACTIVATED_AT]: new Date(NOW.getTime() - 35 * DAY).toISOString(),
        [TAG_RETIRE_AFTER]: new Date(NOW.getTime() + afterMs).toISOString(),
      },
    });

  it("waits for the retiring key to be removed before a new one, and says so", () => {
    const old = retiring(6 * 3_600_000);
    const a = gen("active", { ageDays: 1 });
    const p = plan(snap([a, old], [keyOf(a), keyOf(old)], undefined, two), policy, NOW, { force: true });
    expect(kinds(p.actions)).toEqual([
      "create(blocked)",
      "publish(blocked)",
      "verify(blocked)",
      "activate(blocked)",
    ]);
    expect(p.actions[0]?.blocked).toContain(`the new key waits until retiring ${old.x5t} is removed`);
    expect(p.actions[0]?.blocked).toContain(new Date(NOW.getTime() + 6 * 3_600_000).toISOString());
  });

  it("retires first and then creates, once the overlap is over", () => {
    const old = retiring(-60_000);
    const a = gen("active", { ageDays: 1 });
    const p = plan(snap([a, old], [keyOf(a), keyOf(old)], undefined, two), policy, NOW, { force: true });
    expect(kinds(p.actions)).toEqual([
      "retire",
      "create(blocked)",
      "publish(blocked)",
      "verify(blocked)",
      "activate(blocked)",
    ]);
    const after = plan(snap([a, { ...old, phase: "retired" }], [keyOf(a)], undefined, two), policy, NOW, {
      force: true,
    });
    expect(kinds(after.actions)).toContain("create");
  });

  it("frees the slot of an active key withdrawn at the IdP, and never withdraws the only usable key", () => {
    // Auth0: the active credential was detached by someone while the retiring one is still attached.
    const old = retiring(-60_000);
    const a = gen("active", { ageDays: 1 });
    const s = snap([a, old], [keyOf(a, { usable: false }), keyOf(old)], undefined, two);
    const p = plan(s, policy, NOW);
    expect(kinds(p.actions)).toEqual([
      "retire(blocked)",
      "remove-unusable",
      "create(blocked)",
      "publish(blocked)",
      "verify(blocked)",
      "activate(blocked)",
    ]);
    expect(p.actions[0]?.blocked).toContain("only usable one");
    expect(p.actions[1]).toMatchObject({
      kind: "remove-unusable",
      version: a.version,
      keyId: `key-${a.version}`,
    });
    expect(p.trigger?.reason).toBe("KeyMissingAtIdp");
    // Once the slot is free the replacement is made; the old key goes when the new one is usable.
    const freed = plan(snap([a, old], [keyOf(old)], undefined, two), policy, NOW);
    expect(kinds(freed.actions)).toEqual(["retire(blocked)", "create", "publish", "verify", "activate"]);
  });

  it("names unmanaged keys that hold the slots when no retiring generation will free one", () => {
    const a = gen("active", { ageDays: 1 });
    const foreign: IdpKey = { id: "cred_hand", usable: true, kid: "someone-elses" };
    const p = plan(snap([a], [keyOf(a), foreign], undefined, two), policy, NOW, { force: true });
    expect(p.actions[0]).toMatchObject({ kind: "create" });
    expect(p.actions[0]?.blocked).toContain("remove unmanaged key(s) someone-elses");
  });

  it("does not count against the limit a key that is already registered for the in-flight generation", () => {
    const a = gen("active", { ageDays: 5 });
    const w = gen("published", { ageDays: 0 });
    const p = plan(snap([a, w], [keyOf(a), keyOf(w)], undefined, two), policy, NOW);
    expect(kinds(p.actions)).toEqual(["verify", "activate"]);
  });

  it("makes a registered but staged key usable before verifying it", () => {
    const a = gen("active", { ageDays: 5 });
    const w = gen("published", { ageDays: 0 });
    const p = plan(snap([a, w], [keyOf(a), keyOf(w, { usable: false })], undefined, two), policy, NOW);
    expect(kinds(p.actions)).toEqual(["publish", "verify", "activate"]);
    expect(p.actions[0]?.reason).toContain("registered but not usable");
  });
});
