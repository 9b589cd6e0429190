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
