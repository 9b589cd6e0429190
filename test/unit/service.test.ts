import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { rotate, rotateAll } from "../../src/app/service.js";
import { createNoLeaseManager } from "../../src/adapters/lease/none.js";
import { CLIENT_ID, TENANT_ID, createWorld } from "../support/memory/world.js";
import type { Runtime } from "../../src/app/runtime.js";
import type { AlertCondition } from "../../src/adapters/alerts/dedup.js";
import { RotatorError } from "../../src/errors.js";
import { silentLogger } from "../../src/log/logger.js";
import { systemClock } from "../../src/clock.js";
import { createMemoryRunHistory } from "../../src/adapters/history/blob.js";

const credential = (name: string, clientId: string) => ({
  name,
  certificateName: `kong-${name}`,
  entra: { tenantId: "11111111-2222-3333-4444-555555555555", clientId },
  kong: [{ name: "k", adminUrl: "https://kong.example:8444", pluginTags: ["rotator"] }],
});

describe("rotateAll", () => {
  it("alerts a credential whose run cannot start and goes on with the next one", async () => {
    const config = parseConfig({
      keyVault: { url: "https://v.vault.azure.net" },
      credentials: [
        credential("a", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
        credential("b", "bbbbbbbb-cccc-dddd-eeee-ffffffffffff"),
      ],
    });
    const alerts: { condition: AlertCondition; failing: boolean }[] = [];
    const rt: Runtime = {
      config,
      clock: systemClock,
      logger: silentLogger,
      storage: "test",
      leases: {
        tryAcquire: async (name) => {
          if (name === "a")
            throw new RotatorError("LEASE_STORAGE_UNAVAILABLE", "storage down", "check storage");
          return undefined;
        },
      },
      alerter: {
        report: async (condition, failing) => void alerts.push({ condition, failing }),
        succeeded: async () => {},
        compromised: async () => {},
        sinkHealth: async () => [],
      },
      history: createMemoryRunHistory(),
      openAlerts: async () => [],
      webhookUrl: async () => {
        throw new Error("no alert is sent in this test");
      },
      credential: (name) => config.credentials.find((c) => c.name === name)!,
      enginePorts: () => {
        throw new Error("no run should start");
      },
    };
    const results = await rotateAll(rt, { trigger: "timer" });
    expect(results.map((r) => [r.credential, r.kind])).toEqual([
      ["a", "error"],
      ["b", "busy"],
    ]);
    expect(alerts).toEqual([
      {
        condition: expect.objectContaining({
          event: "KeyRotationFailed",
          credential: "a",
          code: "LEASE_STORAGE_UNAVAILABLE",
        }),
        failing: true,
      },
    ]);
  });
});

describe("rotate: one contract for every caller", () => {
  /** A runtime over the in-memory world, its alerts captured. */
  async function bootstrapped() {
    const world = createWorld({ targets: [{ name: "edge" }] });
    const config = parseConfig({
      keyVault: { url: "https://v.vault.azure.net" },
      credentials: [
        {
          name: world.cred.name,
          certificateName: world.cred.certificateName,
          entra: { tenantId: TENANT_ID, clientId: CLIENT_ID },
          kong: world.cred.kong,
        },
      ],
    });
    const alerts: { condition: AlertCondition; failing: boolean }[] = [];
    const rt: Runtime = {
      config: { ...config, credentials: [world.cred] },
      clock: world.clock,
      logger: silentLogger,
      storage: "test",
      leases: createNoLeaseManager(),
      alerter: {
        report: async (condition, failing) => void alerts.push({ condition, failing }),
        succeeded: async () => {},
        compromised: async () => {},
        sinkHealth: async () => [],
      },
      history: createMemoryRunHistory(),
      openAlerts: async () => [],
      webhookUrl: async () => {
        throw new Error("no alert is sent in this test");
      },
      credential: () => world.cred,
      enginePorts: () => world.ports,
    };
    const boot = await rotate(rt, world.cred.name, { trigger: "cli" });
    expect(boot).toMatchObject({ kind: "done", report: { outcome: "ok" } });
    alerts.length = 0;
    return { world, rt, alerts };
  }

  it("returns a forced rotation that cannot be recorded as an alerted error, and writes nothing", async () => {
    const { world, rt, alerts } = await bootstrapped();
    world.calls.reset();
    world.calls.failNext("store.listVersions", 1, {
      error: () =>
        new RotatorError("KV_UNAUTHORIZED", "Key Vault list versions: no token", "Check the identity."),
    });
    const r = await rotate(rt, world.cred.name, { trigger: "http", force: true, reason: "leak" });
    expect(r).toMatchObject({
      kind: "error",
      stage: "request",
      error: { code: "KV_UNAUTHORIZED", message: expect.stringMatching(/could not be recorded/) },
    });
    expect(world.calls.mutations()).toEqual([]);
    expect(alerts).toEqual([
      {
        condition: expect.objectContaining({
          event: "KeyRotationFailed",
          code: "KV_UNAUTHORIZED",
          phase: "request",
        }),
        failing: true,
      },
    ]);
  });

  it("throws a refused request (the cooldown) without writing or alerting", async () => {
    const { world, rt, alerts } = await bootstrapped();
    world.calls.reset();
    await expect(rotate(rt, world.cred.name, { trigger: "http", force: true })).rejects.toMatchObject({
      code: "ROTATE_COOLDOWN",
    });
    expect(world.calls.mutations()).toEqual([]);
    expect(alerts).toEqual([]);
  });

  it("returns a run that cannot take its lease as an alerted error", async () => {
    const { world, rt, alerts } = await bootstrapped();
    const down = new RotatorError("LEASE_STORAGE_UNAVAILABLE", "storage down", "check storage");
    const r = await rotate(
      {
        ...rt,
        leases: {
          tryAcquire: async () => {
            throw down;
          },
        },
      },
      world.cred.name,
      { trigger: "timer" },
    );
    expect(r).toMatchObject({ kind: "error", stage: "start", error: { code: "LEASE_STORAGE_UNAVAILABLE" } });
    expect(alerts.map((a) => [a.condition.phase, a.failing])).toEqual([["start", true]]);
  });
});
