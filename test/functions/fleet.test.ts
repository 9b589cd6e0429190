/**
 * The fleet through the real handlers on the local stack, against Azurite queues: the rotation timer
 * enqueues the credentials with work from one certificate listing, the queue-triggered function does the
 * work (driven as the Functions host would, stack/queue-host.ts), waiting work comes back through the
 * queue with a visibility delay, and a message that keeps failing ends in the poison queue with an alert.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalStack, type LocalStack } from "../../stack/stack.js";
import { seedFleet, type SeededFleet } from "../../stack/fleet.js";
import { parseConfig } from "../../src/config/load.js";
import { createRuntime, type Runtime } from "../../src/app/runtime.js";
import { jsonLogger } from "../../src/log/logger.js";
import { setFunctionsRuntime } from "../../src/functions/runtime.js";
import { rotationTimerHandler } from "../../src/functions/rotationTimer.js";
import { expectNoSecrets, invocation, startQueueWorkers, timerInfo } from "./harness.js";

let stack: LocalStack;
let fleet: SeededFleet;
let rt: Runtime;
let workers: Awaited<ReturnType<typeof startQueueWorkers>>;
const logs: string[] = [];
const STUCK = "stuck-0001";
const STUCK_VERIFY_TIMEOUT_S = 30;
const BROKEN = "broken-0001";

const events = (event: string) =>
  logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === event);

async function tick(): Promise<string[]> {
  const { context, lines } = invocation("rotationTimer");
  await rotationTimerHandler(timerInfo(), context);
  return lines;
}

const jwkOf = (pluginId: string, clientId: string) => {
  const config = stack.kong.getPlugin(pluginId)!.config;
  const i = (config.client_id as string[]).indexOf(clientId);
  return (config.client_jwk as Record<string, unknown>[] | null)?.[i];
};

beforeAll(async () => {
  stack = await startLocalStack({
    policy: { verifyInterval: "PT0.5S", verifyConsecutive: 3, verifyTimeout: "PT8S", overlap: "PT1H" },
    propagationDelayMs: 1_000,
    createDelayMs: 1_500,
  });
  fleet = seedFleet(stack, { credentials: 6, targetsPerCredential: 2 });
  const stuck = seedFleet(stack, { credentials: 1, targetsPerCredential: 1, prefix: "stuck" });
  const broken = seedFleet(stack, { credentials: 1, targetsPerCredential: 1, prefix: "broken" });
  // Verification never succeeds: the token endpoint of a tenant that does not exist rejects every assertion.
  // Its own verifyTimeout is long enough that the six healthy credentials finish first even on a busy
  // machine: the case shows that they do not queue behind it, not how fast they are.
  const stuckCred = {
    ...stuck.credentials[0]!,
    entra: { ...(stuck.credentials[0]!.entra as object), tenantId: "00000000-0000-4000-8000-000000000000" },
    policy: { verifyTimeout: `PT${STUCK_VERIFY_TIMEOUT_S}S` },
  };
  // Every run fails: its Kong target's Admin API is not listening.
  const brokenCred = {
    ...broken.credentials[0]!,
    kong: [
      { ...(broken.credentials[0]!.kong as Record<string, unknown>[])[0]!, adminUrl: "https://127.0.0.1:9" },
    ],
  };
  const config = parseConfig({
    ...stack.config,
    credentials: [...fleet.credentials, stuckCred, brokenCred],
  });
  rt = createRuntime({ config, env: stack.env, logger: jsonLogger((l) => logs.push(l), "debug") });
  setFunctionsRuntime(rt);
  workers = await startQueueWorkers(stack, { maxDequeueCount: 2 });
}, 60_000);

afterAll(async () => {
  await workers?.stop();
  setFunctionsRuntime(undefined);
  await stack?.close();
});

describe("fleet on queues", () => {
  it("one tick enqueues every credential with work; the queue function rotates them, the waits going through the queue", async () => {
    const lines = await tick();
    expect(lines[0]).toBe("8 of 8 credential(s) enqueued (1 Key Vault list call(s))");
    const started = Date.now();
    await workers.work.idle();
    await workers.poison.idle();
    const elapsed = Date.now() - started;

    // Every healthy credential converged: each of its targets holds its new key.
    for (const m of fleet.members) {
      const versions = stack.keyVault.versions(`kong-${m.name}`);
      expect(versions).toHaveLength(1);
      expect(versions[0]!.tags["rotator-phase"]).toBe("active");
      for (const p of m.plugins) expect(jwkOf(p, m.clientId)).toMatchObject({ kid: versions[0]!.x5t });
    }
    // Waits were handed back to the queue rather than slept through: runs ended `waiting`.
    expect(events("RotationRun").filter((e) => e.outcome === "waiting").length).toBeGreaterThan(0);
    // The healthy ones did not wait for the stuck one: it needs its whole verifyTimeout and more.
    const done = events("RotationRun").filter(
      (e) => e.outcome === "ok" && String(e.credential).startsWith("app-"),
    );
    expect(new Set(done.map((e) => e.credential)).size).toBe(6);
    expect(elapsed).toBeGreaterThan(STUCK_VERIFY_TIMEOUT_S * 1_000);
  }, 120_000);

  it("a credential whose verification never succeeds ends stuck and alerts, without holding the others", () => {
    const stuck = events("RotationRun").filter((e) => e.credential === STUCK);
    expect(stuck.at(-1)).toMatchObject({ outcome: "stuck", code: "VERIFY_TIMEOUT" });
    const alerts = stack.webhook.received.map((r) => r.body as Record<string, unknown>);
    expect(alerts.some((a) => a.credential === STUCK && a.code === "VERIFY_TIMEOUT")).toBe(true);
    // The healthy credentials were all done before the stuck one gave up.
    const stuckAt = Date.parse(String(stuck.at(-1)?.time ?? ""));
    const lastHealthy = Math.max(
      ...events("RotationRun")
        .filter((e) => e.outcome === "ok" && String(e.credential).startsWith("app-"))
        .map((e) => Date.parse(String(e.time))),
    );
    expect(lastHealthy).toBeLessThan(stuckAt);
  });

  it("a message that keeps failing goes to the poison queue, and the poison function alerts naming the credential", () => {
    expect(workers.work.poisoned).toBe(1);
    expect(workers.poison.processed).toBe(1);
    expect(events("FleetMessagePoisoned")).toEqual([expect.objectContaining({ credential: BROKEN })]);
    const alerts = stack.webhook.received.map((r) => r.body as Record<string, unknown>);
    expect(alerts.some((a) => a.credential === BROKEN && a.code === "ROTATION_POISONED")).toBe(true);
  });

  it("an idle tick: no Graph and no Kong call, one Key Vault list call for all the credentials", async () => {
    const before = {
      graph: stack.entra.graph.requests.length,
      kong: stack.kong.requests.length,
      kv: stack.keyVault.requests.filter((r) => r.method === "GET" && /\/certificates\?/.test(r.path)).length,
    };
    const lines = await tick();
    // The stuck and the broken credential still have work; the six healthy ones do not.
    expect(lines[0]).toBe("2 of 8 credential(s) enqueued (1 Key Vault list call(s))");
    expect(stack.entra.graph.requests.length).toBe(before.graph);
    expect(stack.kong.requests.length).toBe(before.kong);
    await workers.work.idle();
  }, 120_000);

  it("logs and alerts hold no key material", () => {
    expectNoSecrets(stack, [...logs, ...workers.lines]);
  });
});
