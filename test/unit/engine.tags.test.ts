import { describe, expect, it } from "vitest";
import {
  failureTags,
  mergeTags,
  parseGeneration,
  phaseTags,
  TAG_FAILURES,
  TAG_LAST_ERROR,
  TAG_PHASE,
} from "../../src/engine/tags.js";

describe("tags", () => {
  it("merges into the full map (Key Vault replaces it), keeping other tags and deleting undefined ones", () => {
    const merged = mergeTags(
      { owner: "team-a", [TAG_PHASE]: "published", [TAG_LAST_ERROR]: "VERIFY_TIMEOUT" },
      phaseTags("verified"),
    );
    expect(merged).toEqual({ owner: "team-a", [TAG_PHASE]: "verified" });
  });

  it("refuses to exceed Key Vault's 15 tags before anything is sent", () => {
    const user = Object.fromEntries(Array.from({ length: 14 }, (_, i) => [`t${i}`, "x"]));
    expect(Object.keys(mergeTags(user, phaseTags("pending")))).toHaveLength(15);
    expect(() => mergeTags(user, { [TAG_PHASE]: "pending", [TAG_FAILURES]: "1" })).toThrow(
      expect.objectContaining({ code: "TAG_LIMIT_EXCEEDED" }),
    );
  });

  it("counts failures from whatever was recorded, and ignores versions without a valid phase", () => {
    expect(failureTags({ [TAG_FAILURES]: "2" }, "X", new Date(0))).toMatchObject({
      [TAG_FAILURES]: "3",
      [TAG_LAST_ERROR]: "X",
    });
    expect(failureTags({ [TAG_FAILURES]: "junk" }, "X", new Date(0))).toMatchObject({ [TAG_FAILURES]: "1" });
    const base = { version: "v", enabled: true, createdOn: new Date(0) };
    expect(parseGeneration({ ...base, tags: {} })).toBeUndefined();
    expect(parseGeneration({ ...base, tags: { [TAG_PHASE]: "finished" } })).toBeUndefined();
    expect(
      parseGeneration({ ...base, tags: { [TAG_PHASE]: "retiring", "rotator-retireAfter": "not a date" } }),
    ).toMatchObject({
      phase: "retiring",
      retireAfter: undefined,
      failures: 0,
    });
  });
});

describe("tag budget", () => {
  it("a generation keeps at most 14 rotator tags over its life: transient tags end with their phase", async () => {
    const t = await import("../../src/engine/tags.js");
    const permanent: Record<string, string> = Object.fromEntries(
      [
        t.TAG_PHASE,
        t.TAG_IDP_KEY_ID,
        t.TAG_PUBLISHED_AT,
        t.TAG_VERIFIED_AT,
        t.TAG_ACTIVATED_AT,
        t.TAG_RETIRE_AFTER,
        t.TAG_RETIRED_AT,
        t.TAG_FAILURES,
        t.TAG_LAST_ERROR,
        t.TAG_LAST_FAILURE_AT,
        t.TAG_POLICY,
        t.TAG_REQUEST,
        t.TAG_ROLLED_BACK_AT,
      ].map((k) => [k, "x"]),
    );
    for (const transient of [t.TAG_VERIFY, t.TAG_KONG_CONFIRM, t.TAG_NEXT_DUE]) {
      const tags = t.mergeTags(permanent, { [transient]: "x" });
      expect(Object.keys(tags)).toHaveLength(14);
      const next = t.mergeTags(tags, t.phaseTags("retiring"));
      expect(next[transient]).toBeUndefined();
    }
    // The next-due time stays while the generation stays active.
    expect(t.mergeTags({ [t.TAG_NEXT_DUE]: "x" }, t.phaseTags("active"))[t.TAG_NEXT_DUE]).toBe("x");
  });
});
