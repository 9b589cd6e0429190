/**
 * A fleet over two Key Vaults (issue 22): the configuration's default vault plus a per-credential override.
 * Each credential's certificate is created in its own vault, the rate plan holds each vault to its own
 * create limit (a full vault does not delay another's creates), and the lean `run` lists each vault once.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startLocalStack, type LocalStack } from "../../stack/stack.js";
import { seedFleet } from "../../stack/fleet.js";
import type { KeyVaultFake } from "../../stack/keyvault/fake.js";
import { parseConfig } from "../../src/config/load.js";
import { createRuntime } from "../../src/app/runtime.js";
import { rotate } from "../../src/app/service.js";
import { silentLogger } from "../../src/log/logger.js";
import { runCli } from "../support/cli.js";

let stack: LocalStack;
let doc: Record<string, unknown>;
let names: string[];
let vaultOf: Map<string, KeyVaultFake>;

beforeAll(async () => {
  stack = await startLocalStack({
    policy: { verifyInterval: "PT1S", verifyConsecutive: 2, verifyTimeout: "PT1M" },
    propagationDelayMs: 500,
    createDelayMs: 500,
    extraKeyVaults: 1,
  });
  const fleet = seedFleet(stack, { credentials: 4, targetsPerCredential: 1 });
  const second = stack.extraKeyVaults[0]!;
  // Odd credentials name the second vault; even ones use the default.
  const credentials = fleet.credentials.map((c, i) => (i % 2 ? { ...c, keyVault: { url: second.url } } : c));
  names = fleet.members.map((m) => m.name);
  vaultOf = new Map(names.map((n, i) => [n, i % 2 ? second : stack.keyVault]));
  // One RSA create per 10 s per vault: the plan's own limit, per vault.
  doc = { ...stack.config, credentials, limits: { keyVaultCreates: 1 } };
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

it("holds each vault to its own create limit: the second vault's create does not wait for the first's", async () => {
  const rt = createRuntime({ config: parseConfig(doc), env: stack.env, logger: silentLogger });
  const [a1, b1, a2] = names as [string, string, string];
  const queued = { trigger: "queue" as const, waitBudgetMs: 100 };
  const first = await rotate(rt, a1, queued);
  const sameVault = await rotate(rt, a2, queued);
  const otherVault = await rotate(rt, b1, queued);
  const outcome = (r: typeof first) => (r.kind === "done" ? r.report : undefined);
  // a1 took the default vault's one slot; a2 (same vault) is deferred to the next window, with nothing created;
  // b1 (second vault) creates at once.
  expect(stack.keyVault.versions(`kong-${a1}`)).toHaveLength(1);
  expect(outcome(sameVault)?.outcome).toBe("waiting");
  expect(outcome(sameVault)?.steps.at(-1)?.detail).toMatch(/Key Vault create/);
  expect(stack.keyVault.versions(`kong-${a2}`)).toHaveLength(0);
  expect(stack.extraKeyVaults[0]!.versions(`kong-${b1}`)).toHaveLength(1);
  expect(outcome(first)?.outcome).toBe("waiting");
  expect(outcome(otherVault)?.outcome).toBe("waiting");
});

it("run rotates every credential in its own vault, then decides from one listing per vault", async () => {
  const configPath = join(mkdtempSync(join(tmpdir(), "several-vaults-")), "rotator.json");
  // The documented limits now: the first test's one-create plan would make this run wait for its windows.
  writeFileSync(configPath, JSON.stringify({ ...doc, limits: undefined }));
  const r = await runCli(["run"], configPath, stack.env);
  expect(r.code, r.err).toBe(0);
  for (const n of names) {
    const own = vaultOf.get(n)!;
    const other = own === stack.keyVault ? stack.extraKeyVaults[0]! : stack.keyVault;
    expect(own.versions(`kong-${n}`)[0]?.tags["rotator-phase"], n).toBe("active");
    expect(other.versions(`kong-${n}`), n).toHaveLength(0);
  }

  const vaults = [stack.keyVault, stack.extraKeyVaults[0]!];
  const kvBefore = vaults.map((v) => v.requests.length);
  const graphBefore = stack.entra.graph.requests.length;
  const kongBefore = stack.kong.requests.length;
  const idle = await runCli(["run"], configPath, stack.env);
  expect(idle.code).toBe(0);
  expect(idle.err).toContain("[run] 0 of 4 credential(s) due (2 Key Vault list call(s))");
  for (const [i, v] of vaults.entries())
    expect(
      v.requests
        .slice(kvBefore[i])
        .filter((q) => q.status !== 401)
        .map((q) => `${q.method} ${q.path.split("?")[0]}`),
    ).toEqual(["GET /certificates"]);
  expect(stack.entra.graph.requests.length).toBe(graphBefore);
  expect(stack.kong.requests.length).toBe(kongBefore);
}, 120_000);
