/**
 * Credentials whose clients share openid-connect plugins, rotated all at once through the fleet queue:
 * 20 credentials, 4 plugins, 5 clients per plugin. The Admin API has no compare-and-swap and PATCH
 * replaces `client_jwk` wholesale, so without one writer per plugin concurrent rotations overwrite each
 * other's entries. Every client must end with its own new key, read from Kong itself.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startLocalStack, type LocalStack } from "../../stack/stack.js";
import { seedFleet, type SeededFleet } from "../../stack/fleet.js";
import { parseConfig } from "../../src/config/load.js";
import { createRuntime } from "../../src/app/runtime.js";
import { jsonLogger } from "../../src/log/logger.js";
import { setFunctionsRuntime } from "../../src/functions/runtime.js";
import { rotationTimerHandler } from "../../src/functions/rotationTimer.js";
import { syncCheckTimerHandler } from "../../src/functions/syncCheckTimer.js";
import { invocation, startQueueWorkers, timerInfo } from "./harness.js";

let stack: LocalStack;
let fleet: SeededFleet;
let workers: Awaited<ReturnType<typeof startQueueWorkers>>;

beforeAll(async () => {
  stack = await startLocalStack({
    policy: { verifyInterval: "PT0.2S", verifyConsecutive: 2, verifyTimeout: "PT30S" },
    propagationDelayMs: 300,
    createDelayMs: 300,
  });
  fleet = seedFleet(stack, { credentials: 20, targetsPerCredential: 1, sharedPlugins: 4 });
  const config = parseConfig({ ...stack.config, credentials: fleet.credentials });
  setFunctionsRuntime(createRuntime({ config, env: stack.env, logger: jsonLogger(() => undefined) }));
  // 32 messages at once per poll: all 20 credentials run concurrently.
  workers = await startQueueWorkers(stack, { batchSize: 32 });
}, 60_000);

afterAll(async () => {
  await workers?.stop();
  setFunctionsRuntime(undefined);
  await stack?.close();
});

it("20 credentials sharing 4 plugins, rotated concurrently: every client's JWK ends correct, no write lost", async () => {
  const { context, lines } = invocation("rotationTimer");
  await rotationTimerHandler(timerInfo(), context);
  expect(lines[0]).toBe("20 of 20 credential(s) enqueued (1 Key Vault list call(s))");
  await workers.work.idle();
  expect(workers.work.peakInFlight).toBeGreaterThanOrEqual(16);
  // No run failed: without one writer per plugin, read-backs find other clients' writes lost.
  expect(workers.work.failed).toBe(0);
  expect(workers.poison.processed).toBe(0);

  const plugins = [...new Set(fleet.members.flatMap((m) => m.plugins))];
  expect(plugins).toHaveLength(4);
  for (const pluginId of plugins) {
    const config = stack.kong.getPlugin(pluginId)!.config;
    const clients = config.client_id as string[];
    const jwks = (config.client_jwk ?? []) as Record<string, unknown>[];
    expect(clients).toHaveLength(5);
    expect(jwks).toHaveLength(5);
    clients.forEach((clientId, i) => {
      const m = fleet.members.find((x) => x.clientId === clientId)!;
      const [version] = stack.keyVault.versions(`kong-${m.name}`);
      expect(version?.tags["rotator-phase"]).toBe("active");
      expect(jwks[i]).toMatchObject({ kid: version!.x5t, x5t: version!.x5t });
    });
  }
  // And Kong signs in with each of them.
  for (const m of fleet.members)
    expect(await stack.kong.probe(m.plugins[0]!, m.clientId)).toMatchObject({ ok: true });
}, 180_000);

it("the sync timer reads each shared plugin once per tick, and finds all 20 in sync", async () => {
  const before = stack.kong.requests.length;
  const { context, lines } = invocation("syncCheckTimer");
  await syncCheckTimerHandler(timerInfo(), context);
  expect(lines.filter((l) => l.endsWith(": in sync"))).toHaveLength(20);
  const reads = stack.kong.requests.slice(before).filter((r) => r.method === "GET");
  const byPath = new Map<string, number>();
  for (const r of reads) byPath.set(r.path, (byPath.get(r.path) ?? 0) + 1);
  // 4 plugins and the node's GET /, each once, for 20 credentials.
  expect(reads).toHaveLength(5);
  expect(Math.max(...byPath.values())).toBe(1);
}, 60_000);
