import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { rotateAll } from "../../src/app/service.js";
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
