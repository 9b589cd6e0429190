/** One writer (chaos/suites/writer.ts), reduced: concurrent HTTP, CLI and timer triggers, then a takeover. */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startChaosStack, type ChaosStack } from "../../chaos/lib/stack.js";
import { oneWriter } from "../../chaos/suites/writer.js";
import { START_TIMEOUT_MS } from "../../stack/azurite.js";

let cs: ChaosStack;
beforeAll(async () => {
  cs = await startChaosStack();
}, START_TIMEOUT_MS + 60_000);
afterAll(async () => {
  await cs?.close();
});

it("concurrent triggers on one credential make exactly one rotation; a killed holder's lease is taken over", async () => {
  // The winner's new key does not propagate until every other trigger has answered (chaos/suites/writer.ts),
  // so every trigger meets a held lease however slowly its process starts.
  const r = await oneWriter(cs, { http: 10, cli: 2, renewal: false });
  expect(r.unexpected).toEqual([]);
  expect(r.rotations).toBe(1);
  // Every HTTP request was either the one rotation (202) or refused (409); every CLI process that did
  // not rotate reported busy (exit 3).
  expect(r.http202 + r.http409).toBe(r.httpTriggers);
  expect(r.http409 + r.cliBusy).toBeGreaterThanOrEqual(r.httpTriggers + r.cliTriggers - 1);
  // The timer only enqueues work for the queue function (app/fleet.ts); it never rotates itself.
  expect(r.timerOutcome).toMatch(/^[01] of \d+ credential\(s\) enqueued/);
  expect(Number.isFinite(r.takeoverMs)).toBe(true);
  expect(r.violations).toEqual([]);
  expect(cs.capture.check()).toEqual([]);
}, 420_000);
