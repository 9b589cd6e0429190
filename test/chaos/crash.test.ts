/**
 * The crash-point matrix (chaos/suites/crash.ts), reduced for `npm test`: the uninterrupted lifecycle
 * enumerates its mutating calls, and a few crash points (a real SIGKILL of the CLI child process right
 * before or after a call) must converge with no invariant violation. `npm run chaos` tries all of them and
 * waits for the dead holder's lease before resuming; here the resume runs with --no-other-writer (the
 * lease takeover is covered by writer.test.ts).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startChaosStack, type ChaosStack } from "../../chaos/lib/stack.js";
import { crashMatrix } from "../../chaos/suites/crash.js";

let cs: ChaosStack;
beforeAll(async () => {
  cs = await startChaosStack();
}, 60_000);
afterAll(async () => {
  await cs?.close();
});

// After the forced rotation's durable request is written (#8), after addKey (#10), before removeKey (#18).
const SELECTED = new Set(["after#8", "after#10", "before#18"]);

it("converges after a SIGKILL right before or after a mutating call, with the invariants holding after every call", async () => {
  const r = await crashMatrix(cs, {
    concurrency: 3,
    resume: "no-other-writer",
    select: (i, stage) => SELECTED.has(`${stage}#${i}`),
  });
  expect(r.baseline.problems).toEqual([]);
  expect(r.baseline.mutations.map((m) => m.label)).toEqual([
    "Key Vault create version",
    "Graph PATCH keyCredentials",
    "Key Vault tag published",
    "Key Vault tag verified",
    "Kong PATCH plugin",
    "Key Vault tag active",
    // the run ends clean: the next due time (renewal) goes on the active generation (engine/schedule.ts)
    "Key Vault tag active",
    // rotate --force: the request is recorded on the active generation before anything else
    "Key Vault tag active",
    "Key Vault create version",
    "Graph addKey",
    "Key Vault tag published",
    "Key Vault tag verified",
    "Kong PATCH plugin",
    "Key Vault tag active",
    "Key Vault tag retiring",
    // the request is marked done on the generation that holds it (now retiring)
    "Key Vault tag retiring",
    // next due: the old generation's retirement
    "Key Vault tag active",
    "Graph removeKey",
    "Key Vault disable + tag retired",
    // next due: the new generation's renewal
    "Key Vault tag active",
  ]);
  expect(r.points.map((p) => `${p.stage}#${p.index}`).sort()).toEqual([...SELECTED].sort());
  for (const p of r.points) {
    expect(p.killed, p.label).toBe(true);
    expect(p.violations, p.label).toEqual([]);
    expect(p.problems, p.label).toEqual([]);
    expect(p.endState, p.label).toBe(r.baseline.endState);
  }
  expect(cs.capture.check()).toEqual([]);
}, 240_000);
