import { describe, expect, it } from "vitest";
import { checkInvariants, type WorldView } from "../../src/engine/invariants.js";

const healthy: WorldView = {
  generations: [
    { version: "v1", x5t: "old", phase: "retiring", enabled: true, activatedAt: "2026-01-01T00:00:00Z" },
    { version: "v2", x5t: "new", phase: "active", enabled: true, activatedAt: "2026-02-01T00:00:00Z" },
  ],
  appKeys: [
    { keyId: "k1", x5t: "old" },
    { keyId: "k2", x5t: "new" },
    { keyId: "k3", x5t: "unmanaged" },
  ],
  accepted: ["old", "new", "unmanaged"],
  kong: [
    { target: "edge", kids: ["new"] },
    { target: "internal", kids: ["new", "old"] },
  ],
};

describe("checkInvariants", () => {
  it("accepts a healthy world (unmanaged keys are not leaks)", () => {
    expect(checkInvariants(healthy, { settled: true })).toEqual([]);
  });

  it("reports an outage for a kid the app does not list, or does not accept yet", () => {
    const v = checkInvariants({ ...healthy, appKeys: healthy.appKeys.slice(1), accepted: ["unmanaged"] });
    expect(v.map((x) => `${x.invariant}: ${x.message}`)).toEqual([
      "no-outage: Kong target edge holds new, which the token endpoint does not accept yet",
      "no-outage: Kong target internal holds new, which the token endpoint does not accept yet",
      "no-outage: Kong target internal holds old, which the app does not list",
    ]);
  });

  it("reports a leak for a key of a retired or disabled generation", () => {
    const generations = [
      { ...healthy.generations[0], phase: "retired" },
      { ...healthy.generations[1], enabled: false },
    ] as WorldView["generations"];
    expect(checkInvariants({ ...healthy, kong: [], generations }).map((x) => x.invariant)).toEqual([
      "no-leak",
      "no-leak",
    ]);
  });

  it("allows two actives only transiently, and only when the newest activation is unambiguous", () => {
    const two = { ...healthy, generations: healthy.generations.map((g) => ({ ...g, phase: "active" })) };
    expect(checkInvariants(two)).toEqual([]);
    expect(checkInvariants(two, { settled: true }).map((x) => x.invariant)).toEqual(["one-active"]);
    const tie = {
      ...two,
      generations: two.generations.map((g) => ({ ...g, activatedAt: "2026-02-01T00:00:00Z" })),
    };
    expect(checkInvariants(tie).map((x) => x.invariant)).toEqual(["one-active"]);
  });
});
