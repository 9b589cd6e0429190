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
  // Nothing exists yet: the vault listing finds every credential due (bootstrap).
  expect(r.err).toContain("[run] 10 of 10 credential(s) due (1 Key Vault list call(s))");
  const progress = r.err.split("\n").filter((l) => l.startsWith("[run] done "));
  const inFlight = progress.map((l) => Number(/in flight (\d+)/.exec(l)?.[1]));
  const waiting = progress.map((l) => Number(/waiting (\d+)/.exec(l)?.[1]));
  expect(Math.max(...inFlight)).toBe(8);
  expect(Math.max(...waiting)).toBeGreaterThan(0);
  expect(progress.at(-1)).toBe("[run] done 10 / in flight 0 / waiting 0 / failed 0 (of 10)");
  // Each report holds every step of every resumed run, the waits included.
  expect(r.out).toContain("⏸ verify");
  expect(r.out.match(/✓ activate/g)).toHaveLength(10);
}, 120_000);

it("run again is as lean as a timer tick: one vault listing, no Graph or Kong call; run --check and run <name> read them", async () => {
  const count = () => ({
    kv: stack.keyVault.requests.length,
    graph: stack.entra.graph.requests.length,
    kong: stack.kong.requests.length,
  });
  const before = count();
  const idle = await runCli(["run", "--json"], configPath, stack.env);
  expect(idle.code).toBe(0);
  const after = count();
  expect(after.graph - before.graph).toBe(0);
  expect(after.kong - before.kong).toBe(0);
  // 10 certificates fit in one page of the listing (25 per page).
  // (A 401 is the Key Vault client's authentication challenge, answered before its first call.)
  const kvCalls = stack.keyVault.requests.slice(before.kv).filter((r) => r.status !== 401);
  expect(kvCalls.map((r) => `${r.method} ${r.path.split("?")[0]}`)).toEqual(["GET /certificates"]);
  const results = JSON.parse(idle.out) as { credential: string; kind: string }[];
  expect(results.map((r) => r.kind)).toEqual(fleet.members.map(() => "idle"));
  expect(results.map((r) => r.credential)).toEqual(fleet.members.map((m) => m.name));

  // --check observes every credential: its app at the IdP and each of its 2 Kong targets, at least.
  const checked = await runCli(["run", "--check", "--json"], configPath, stack.env);
  expect(checked.code).toBe(0);
  const end = count();
  expect(end.graph - after.graph).toBeGreaterThanOrEqual(10);
  expect(end.kong - after.kong).toBeGreaterThanOrEqual(20);
  // One credential by name is looked at in full too, as `rotate <name>` does.
  const one = await runCli(["run", fleet.members[3]!.name], configPath, stack.env);
  expect(one.code).toBe(0);
  expect(one.out).not.toContain("nothing due (from the Key Vault listing");
  expect(count().graph - end.graph).toBeGreaterThanOrEqual(1);
  expect(count().kong - end.kong).toBeGreaterThanOrEqual(2);
  const full = JSON.parse(checked.out) as { kind: string; report?: { outcome: string } }[];
  expect(full.map((r) => [r.kind, r.report?.outcome])).toEqual(fleet.members.map(() => ["done", "noop"]));
}, 120_000);
