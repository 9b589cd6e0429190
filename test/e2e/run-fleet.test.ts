/**
 * The CLI's `run` over several credentials uses the in-process fleet scheduler: bounded concurrency,
 * waits (Key Vault create, verification streak) that end a run `waiting` and come back later without
 * holding a slot, and progress counts on stderr.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startLocalStack, type LocalStack } from "../../stack/stack.js";
import { seedFleet, type SeededFleet } from "../../stack/fleet.js";
import { runCli } from "../support/cli.js";

let stack: LocalStack;
let fleet: SeededFleet;
let configPath: string;

beforeAll(async () => {
  stack = await startLocalStack({
    policy: { verifyInterval: "PT2S", verifyConsecutive: 4, verifyTimeout: "PT1M" },
    propagationDelayMs: 2_000,
    createDelayMs: 1_500,
  });
  fleet = seedFleet(stack, { credentials: 10, targetsPerCredential: 2 });
  configPath = join(mkdtempSync(join(tmpdir(), "run-fleet-")), "rotator.json");
  writeFileSync(configPath, JSON.stringify({ ...stack.config, credentials: fleet.credentials }));
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

it("run rotates 10 credentials 8 at a time, waits through the scheduler, and prints progress", async () => {
  const r = await runCli(["run"], configPath, stack.env);
  expect(r.code).toBe(0);
  for (const m of fleet.members) {
    const [v] = stack.keyVault.versions(`kong-${m.name}`);
    expect(v?.tags["rotator-phase"]).toBe("active");
  }
  const progress = r.err.split("\n").filter((l) => l.startsWith("[run] "));
  const inFlight = progress.map((l) => Number(/in flight (\d+)/.exec(l)?.[1]));
  const waiting = progress.map((l) => Number(/waiting (\d+)/.exec(l)?.[1]));
  expect(Math.max(...inFlight)).toBe(8);
  expect(Math.max(...waiting)).toBeGreaterThan(0);
  expect(progress.at(-1)).toBe("[run] done 10 / in flight 0 / waiting 0 / failed 0 (of 10)");
  // Each report holds every step of every resumed run, the waits included.
  expect(r.out).toContain("⏸ verify");
  expect(r.out.match(/✓ activate/g)).toHaveLength(10);
}, 120_000);
