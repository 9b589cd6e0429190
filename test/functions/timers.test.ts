/**
 * The timer functions (rotationTimer, syncCheckTimer) called the way the Functions host calls them, on
 * the local stack; and the entry point's registrations in the package's test mode.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BlobServiceClient } from "@azure/storage-blob";
import { APP_CLIENT_ID, CREDENTIAL, PARTNER_CLIENT_ID } from "../../stack/stack.js";
import { generateRsaJwk } from "../../stack/kong/seed.js";
import { createBlobLeaseManager } from "../../src/adapters/lease/blob.js";
import { rotationTimerHandler } from "../../src/functions/rotationTimer.js";
import { syncCheckTimerHandler } from "../../src/functions/syncCheckTimer.js";
import { setFunctionsRuntime } from "../../src/functions/runtime.js";
import { rotationWorkHandler } from "../../src/functions/rotationQueue.js";
import { WORK_QUEUE } from "../../src/adapters/queue/names.js";
import { workMessage } from "../../src/app/fleet.js";
import { QueueServiceClient } from "@azure/storage-queue";
import {
  CERT_NAME,
  expectNoSecrets,
  invocation,
  startHarness,
  startQueueWorkers,
  timerInfo,
  type Harness,
} from "./harness.js";

let h: Harness;
let workers: Awaited<ReturnType<typeof startQueueWorkers>>;
const contextLines: string[] = [];

async function runTimer(
  handler: typeof rotationTimerHandler,
  name: string,
  isPastDue = false,
): Promise<string[]> {
  const { context, lines } = invocation(name);
  await handler(timerInfo(isPastDue), context);
  contextLines.push(...lines);
  return lines;
}
/** A timer tick, then the queue-triggered work it enqueued, until the queue is empty. */
const rotation = async (isPastDue = false) => {
  const lines = await runTimer(rotationTimerHandler, "rotationTimer", isPastDue);
  await workers.work.idle();
  return lines;
};
const syncCheck = () => runTimer(syncCheckTimerHandler, "syncCheckTimer");

const clientJwks = () =>
  h.stack.kong.getPlugin(h.stack.pluginId)!.config.client_jwk as Record<string, unknown>[];
const kongWrites = () => h.stack.kong.requests.filter((r) => r.method !== "GET").length;

/** Another writer (decK, an operator) replaces our client's JWK through the Kong Admin API. */
async function driftKong(): Promise<Record<string, string>> {
  const foreign = generateRsaJwk({ alg: "PS256", kid: "hand-pasted-key" });
  const [partner] = clientJwks();
  const res = await fetch(`${h.stack.kong.url}/plugins/${h.stack.pluginId}`, {
    method: "PATCH",
    headers: { "content-type": "application/json", "kong-admin-token": h.stack.env.KONG_ADMIN_TOKEN! },
    body: JSON.stringify({ config: { client_jwk: [partner, foreign] } }),
  });
  expect(res.status).toBe(200);
  return foreign;
}

beforeAll(async () => {
  h = await startHarness();
  workers = await startQueueWorkers(h.stack);
}, 60_000);

afterAll(async () => {
  await workers?.stop();
  await h?.close();
});

describe("entry point", () => {
  it("importing src/functions/index.ts outside the worker registers nothing, quietly (and does not throw)", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      vi.resetModules();
      await expect(import("../../src/functions/index.js")).resolves.toBeDefined();
      // The library's test-mode warnings are not shown: nothing calls it outside the worker (functions/app.ts).
      expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([]);
    } finally {
      warn.mockRestore();
    }
  });
});

describe("rotationTimer", () => {
  it("bootstraps the credential on its first run: the tick enqueues it, the queue function rotates it", async () => {
    expect(await rotation()).toEqual([
      "1 of 1 credential(s) enqueued (1 Key Vault list call(s))",
      `${CREDENTIAL}: no certificate yet (bootstrap)`,
    ]);
    expect(workers.lines.at(-1)).toBe(`${CREDENTIAL}: ok`);
    const versions = h.stack.keyVault.versions(CERT_NAME);
    expect(versions).toHaveLength(1);
    const x5t = versions[0]!.x5t!;
    expect(clientJwks()[1]).toMatchObject({ kid: x5t, x5t, alg: "PS256" });
    expect(h.stack.entra.keyCredentials(APP_CLIENT_ID).map((k) => k.x5t)).toEqual([x5t]);
    expect(await h.stack.kong.probe(h.stack.pluginId, APP_CLIENT_ID)).toMatchObject({ ok: true, kid: x5t });
    expect(h.events("RotationRequested").at(-1)).toMatchObject({
      credential: CREDENTIAL,
      trigger: "queue",
      reason: "no certificate yet (bootstrap)",
    });
  });

  it("then finds nothing to do from one certificate listing: no message, no other call", async () => {
    const before = h.mutations();
    const idle = {
      kv: h.stack.keyVault.requests.length,
      graph: h.stack.entra.graph.requests.length,
      kong: h.stack.kong.requests.length,
    };
    expect(await rotation(true)).toEqual(["0 of 1 credential(s) enqueued (1 Key Vault list call(s))"]);
    expect(h.stack.keyVault.requests.length - idle.kv).toBeLessThanOrEqual(2); // 401 challenge + list
    expect(h.stack.entra.graph.requests.length).toBe(idle.graph);
    expect(h.stack.kong.requests.length).toBe(idle.kong);
    expect(h.mutations()).toBe(before);
    expect(h.stack.keyVault.versions(CERT_NAME)).toHaveLength(1);
  });

  it("reports busy, and changes nothing, while another writer holds the lease", async () => {
    const leases = createBlobLeaseManager({
      blob: BlobServiceClient.fromConnectionString(h.stack.env.AzureWebJobsStorage!),
    });
    const lease = await leases.tryAcquire(CREDENTIAL, "cli:operator");
    expect(lease).toBeDefined();
    const before = h.mutations();
    try {
      // A message for the credential (a duplicate or a redelivery) finds it busy and looks again later.
      const { context, lines } = invocation("rotationWork");
      await rotationWorkHandler(workMessage(CREDENTIAL, "test", new Date()), context);
      expect(lines[0]).toMatch(new RegExp(`^${CREDENTIAL}: busy; looked at again at `));
      expect(await syncCheck()).toEqual([`${CREDENTIAL}: busy`]);
    } finally {
      await lease!.release();
      // The busy message re-enqueued itself 30 s out; a later run of the credential would find nothing.
      await QueueServiceClient.fromConnectionString(h.stack.env.AzureWebJobsStorage!)
        .getQueueClient(WORK_QUEUE)
        .clearMessages();
    }
    expect(h.mutations()).toBe(before);
  });
});

describe("syncCheckTimer", () => {
  it("reports in sync and writes nothing to Kong", async () => {
    const before = kongWrites();
    expect(await syncCheck()).toEqual([`${CREDENTIAL}: in sync`]);
    expect(kongWrites()).toBe(before);
  });

  it("re-applies the active key when a Kong target drifted, keeping the other clients' JWKs", async () => {
    const active = h.stack.keyVault.versions(CERT_NAME)[0]!.x5t!;
    const [partner] = clientJwks();
    const foreign = await driftKong();
    expect(clientJwks()[1]!.kid).toBe(foreign.kid);
    expect(await h.stack.kong.probe(h.stack.pluginId, APP_CLIENT_ID)).toMatchObject({ ok: false });

    expect(await syncCheck()).toEqual([`${CREDENTIAL}: KONG_DRIFT (re-applied)`]);
    const jwks = clientJwks();
    expect(jwks[1]).toMatchObject({ kid: active, x5t: active });
    expect(jwks[0]).toEqual(partner);
    expect(h.stack.kong.getPlugin(h.stack.pluginId)!.config.client_id).toEqual([
      PARTNER_CLIENT_ID,
      APP_CLIENT_ID,
    ]);
    expect(await h.stack.kong.probe(h.stack.pluginId, APP_CLIENT_ID)).toMatchObject({
      ok: true,
      kid: active,
    });
    expect(h.events("KeySyncFinding").at(-1)).toMatchObject({
      code: "KONG_DRIFT",
      target: "local",
      x5t: active,
      reapplied: true,
    });

    expect(await syncCheck()).toEqual([`${CREDENTIAL}: in sync`]);
  });

  it("only reports drift when re-applying is switched off", async () => {
    const { rt } = h;
    const noReapply = { ...rt, config: { ...rt.config, sync: { reapplyOnDrift: false } } };
    const foreign = await driftKong();
    setFunctionsRuntime(noReapply);
    try {
      expect(await syncCheck()).toEqual([`${CREDENTIAL}: KONG_DRIFT`]);
      expect(clientJwks()[1]!.kid).toBe(foreign.kid);
    } finally {
      setFunctionsRuntime(rt);
    }
    expect(await syncCheck()).toEqual([`${CREDENTIAL}: KONG_DRIFT (re-applied)`]);
    expect(clientJwks()[1]!.kid).toBe(h.stack.keyVault.versions(CERT_NAME)[0]!.x5t);
  });
});

describe("secret hygiene", () => {
  it("timer logs and runtime logs hold no key material, tokens, the admin token or the client secret", () => {
    expect(contextLines.length).toBeGreaterThan(0);
    expectNoSecrets(h.stack, [...h.logs, ...contextLines]);
  });
});
