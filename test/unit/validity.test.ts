/** "Is this key or certificate valid now?" (src/crypto/validity.ts), the one rule every caller uses. */
import { describe, expect, it } from "vitest";
import { validityAt } from "../../src/crypto/validity.js";

describe("validityAt", () => {
  const from = new Date("2026-01-01T00:00:00Z");
  const to = new Date("2026-07-01T00:00:00Z");
  const at = (iso: string) => validityAt({ notBefore: from, notAfter: to }, new Date(iso));

  it("runs from notBefore (inclusive) to notAfter (exclusive)", () => {
    expect(at("2025-12-31T23:59:59.999Z")).toBe("not-yet-valid");
    expect(at("2026-01-01T00:00:00Z")).toBe("valid");
    expect(at("2026-06-30T23:59:59.999Z")).toBe("valid");
    expect(at("2026-07-01T00:00:00Z")).toBe("expired");
  });

  it("reads ISO strings as the IdPs give them, and a bound they do not give does not limit", () => {
    const now = new Date("2026-03-01T00:00:00Z");
    expect(validityAt({ notBefore: "2026-01-01T00:00:00Z", notAfter: "2026-02-01T00:00:00Z" }, now)).toBe(
      "expired",
    );
    expect(validityAt({ notBefore: "2026-04-01T00:00:00Z", notAfter: null }, now)).toBe("not-yet-valid");
    expect(validityAt({}, now)).toBe("valid");
    expect(validityAt({ notBefore: null, notAfter: undefined }, now)).toBe("valid");
  });

  it("does not count a bound it cannot read as met", () => {
    const now = new Date("2026-03-01T00:00:00Z");
    expect(validityAt({ notAfter: "soon" }, now)).toBe("expired");
    expect(validityAt({ notBefore: "a while ago" }, now)).toBe("not-yet-valid");
  });
});
