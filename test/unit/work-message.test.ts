/** The fleet's work message (app/fleet.ts): what the queue function accepts, checked without zod. */
import { expect, it } from "vitest";
import { parseWorkMessage, workMessage } from "../../src/app/fleet.js";

const at = new Date("2026-12-07T10:00:00Z");

it("reads back what workMessage writes, as a string or as the host's parsed object", () => {
  const raw = workMessage("orders-api", "renewal is due", at);
  const expected = { v: 1, credential: "orders-api", reason: "renewal is due", at: at.toISOString() };
  expect(parseWorkMessage(raw)).toEqual(expected);
  expect(parseWorkMessage(JSON.parse(raw))).toEqual(expected);
  // Unknown fields are dropped, not refused (a newer sender's extra field).
  expect(parseWorkMessage({ ...expected, extra: true })).toEqual(expected);
});

it("refuses anything else", () => {
  const ok = { v: 1, credential: "a", reason: "", at: at.toISOString() };
  for (const bad of [
    "not json",
    "[]",
    null,
    42,
    [ok],
    { ...ok, v: 2 },
    { ...ok, credential: "" },
    { ...ok, credential: "x".repeat(64) },
    { ...ok, credential: 7 },
    { ...ok, reason: "r".repeat(301) },
    { ...ok, at: undefined },
  ])
    expect(parseWorkMessage(bad), JSON.stringify(bad)).toBeUndefined();
});
