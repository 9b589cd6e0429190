/**
 * End to end for every kind of Kong deployment on the local stack, through the CLI, with the gateway login
 * probe signing with what the gateways (data planes, DB-less nodes, Konnect nodes) actually hold:
 * - each kind rotates twice with 0 failed logins, and every live gateway holds the key when the run ends;
 * - hybrid: a data plane lagging 20 s makes activation wait for it; one that never syncs fails the step
 *   with an alert naming it and the old key stays registered; once it is back (and needs seconds to sync),
 *   the first run opens a new confirmation window and exits 0; on the queue's wait budget the runs inside
 *   that window end `waiting`, and the alert stays open until the key is confirmed.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startLocalStack,
  APP_CLIENT_ID,
  CREDENTIAL,
  type KongMode,
  type LocalStack,
} from "../../stack/stack.js";
import { parse, stringify } from "yaml";
import { createRuntime } from "../../src/app/runtime.js";
import { rotate } from "../../src/app/service.js";
import { parseConfig } from "../../src/config/load.js";
import { jsonLogger } from "../../src/log/logger.js";
import { runCli } from "../support/cli.js";
import { probeLoop } from "../support/e2e.js";

interface Alert {
  event: string;
  status: string;
  code?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WINDOW_S = 12;

const POLICY = {
  overlap: "PT1H",
  verifyInterval: "PT0.3S",
  verifyConsecutive: 3,
  verifyTimeout: "PT30S",
  forceCooldown: "PT0S",
};

function writeConfig(config: Record<string, unknown>): string {
  const path = join(mkdtempSync(join(tmpdir(), "rotator-kong-modes-")), "rotator.yaml");
  writeFileSync(path, stringify(config));
  return path;
}

const activeKid = (stack: LocalStack) => stack.entra.keyCredentials(APP_CLIENT_ID).map((k) => k.x5t);

async function bootstrapAndRotateTwice(stack: LocalStack, configPath: string): Promise<void> {
  const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);
  const boot = await cli("rotate", CREDENTIAL);
  expect(boot.code, boot.out + boot.err).toBe(0);
  expect((await stack.probe()).ok).toBe(true);
  const probes = probeLoop(() => stack.probe());
  const kids: string[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const r = await cli("rotate", CREDENTIAL, "--force", "--reason", `e2e ${i}`);
      expect(r.code, r.out + r.err).toBe(0);
      const held = Object.entries(stack.gatewayKids()).filter(([name]) => !name.includes("retired"));
      const kid = held[0]?.[1];
      expect(kid).toBeDefined();
      // Activation ended only once every live gateway held the new key.
      for (const [, k] of held) expect(k).toBe(kid);
      kids.push(kid!);
    }
  } finally {
    expect(await probes.stop()).toEqual([]);
  }
  expect(new Set(kids).size).toBe(2);
}

describe.each<KongMode>(["hybrid", "dbless", "konnect", "kubernetes"])(
  "%s: rotates twice with 0 failed logins",
  (mode) => {
    let stack: LocalStack;
    let configPath: string;

    beforeAll(async () => {
      stack = await startLocalStack({
        propagationDelayMs: 800,
        createDelayMs: 100,
        policy: POLICY,
        kongMode: mode,
      });
      configPath = writeConfig(stack.config);
    }, 60_000);

    afterAll(async () => {
      await stack?.close();
    });

    it("doctor lists the gateways behind the target and their sync state", async () => {
      const r = await runCli(["doctor", "--json"], configPath, stack.env);
      const report = JSON.parse(r.out) as { checks: { code: string; status: string; message: string }[] };
      const gateways = report.checks.find((c) => c.code === "KONG_GATEWAYS");
      expect(gateways?.status, r.out).toBe("pass");
      expect(gateways?.message).toMatch(
        mode === "dbless"
          ? /2 live node/
          : mode === "kubernetes"
            ? /2 live proxy pod.*dp-1.*dp-2/
            : /2 live .*dp-1.*dp-2.*ignored.*dp-retired/,
      );
      expect(report.checks.find((c) => c.code === "KONG_DBLESS")).toBeUndefined();
      expect(report.checks.find((c) => c.code === "KONG_WRITE_PERMISSION")?.message).toMatch(
        new RegExp(mode),
      );
      // Vault-reference mode without a vault configured: Konnect has no vault entity and the cluster no
      // KongVault with the prefix (KIC's KongVaults are listed with the stack's ClusterRole rule).
      if (mode === "konnect" || mode === "kubernetes") {
        const config = structuredClone(stack.config) as {
          credentials: { kong: Record<string, unknown>[] }[];
        };
        config.credentials[0]!.kong[0]!.vaultReference = { prefix: "azure-kv", secretPrefix: "kong-jwk-" };
        const v = await runCli(["doctor", "--json"], writeConfig(config), stack.env);
        const lines = (JSON.parse(v.out) as { checks: { code: string; status: string }[] }).checks.map(
          (c) => `${c.status}:${c.code}`,
        );
        expect(lines).toEqual(
          expect.arrayContaining(
            mode === "konnect"
              ? ["fail:KONG_VAULT_ENTITY_MISSING", "warn:KONG_VAULT_DEDICATED_CLOUD"]
              : ["fail:KONG_VAULT_ENTITY_MISSING"],
          ),
        );
      }
    }, 60_000);

    it("bootstrap, then two forced rotations", async () => {
      await bootstrapAndRotateTwice(stack, configPath);
      const status = await runCli(["status", "--json"], configPath, stack.env);
      const [view] = JSON.parse(status.out) as { targets: { inSync: boolean }[] }[];
      expect(view!.targets.map((t) => t.inSync)).toEqual([true]);
    }, 120_000);
  },
);

describe("hybrid: lagging and stuck data planes", () => {
  let stack: LocalStack;
  let configPath: string;
  let strictPath: string;
  const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);

  beforeAll(async () => {
    stack = await startLocalStack({
      propagationDelayMs: 800,
      createDelayMs: 100,
      policy: POLICY,
      kongMode: "hybrid",
      maxLag: "PT40S",
    });
    configPath = writeConfig(stack.config);
    // The same deployment with a 12 s confirmation window, for the data plane that stops syncing: long
    // enough for a recovered data plane to sync in, short enough to fail a run in reasonable time.
    const strict = structuredClone(stack.config) as { credentials: { kong: { dataPlanes: object }[] }[] };
    strict.credentials[0]!.kong[0]!.dataPlanes = { confirm: "auto", maxLag: `PT${WINDOW_S}S` };
    strictPath = writeConfig(strict);
    const boot = await cli("rotate", CREDENTIAL);
    expect(boot.code, boot.out + boot.err).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it("a data plane lagging 20 s: activation waits for it, with no failed login", async () => {
    stack.kong.setDataPlane("dp-2", { lagMs: 20_000 });
    const probes = probeLoop(() => stack.probe());
    const started = Date.now();
    let r;
    try {
      r = await cli("rotate", CREDENTIAL, "--force");
    } finally {
      expect(await probes.stop()).toEqual([]);
    }
    expect(r.code, r.out + r.err).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(20_000);
    expect(r.out + r.err).toMatch(/waiting for dp-2/);
    const kids = stack.gatewayKids();
    expect(kids["dp-1"]).toBe(kids["dp-2"]);
    stack.kong.setDataPlane("dp-2", { lagMs: 300 });
  }, 90_000);

  it("a data plane that recovers after a failed run: the first run after recovery exits 0", async () => {
    const before = activeKid(stack);
    const oldKid = stack.gatewayKids()["dp-1"];
    stack.kong.setDataPlane("dp-2", { neverSync: true });
    const alertsBefore = stack.webhook.received.length;
    const failed = await runCli(["rotate", CREDENTIAL, "--force"], strictPath, stack.env);
    expect(failed.code).not.toBe(0);
    expect(failed.out + failed.err).toMatch(/KONG_NOT_CONFIRMED/);
    expect(failed.out + failed.err).toMatch(/dp-2/);
    const alerts = () => stack.webhook.received.slice(alertsBefore).map((w) => w.body as Alert);
    expect(alerts().some((a) => a.code === "KONG_NOT_CONFIRMED" && a.status === "firing")).toBe(true);
    expect(JSON.stringify(alerts())).toContain("dp-2");
    // The old key is still registered (dp-2 still signs with it) and logins keep working.
    expect(stack.gatewayKids()["dp-2"]).toBe(oldKid);
    expect(activeKid(stack)).toEqual(expect.arrayContaining(before));
    expect((await stack.probe()).ok).toBe(true);
    const status = await runCli(["status", "--json"], strictPath, stack.env);
    const [view] = JSON.parse(status.out) as {
      active: string;
      generations: {
        phase: string;
        confirming?: { target: string; lagging: string[]; failed?: boolean }[];
      }[];
    }[];
    expect(view!.active).toBe(oldKid);
    const verified = view!.generations.find((g) => g.phase === "verified");
    expect(verified?.confirming).toEqual([
      expect.objectContaining({ target: "local", lagging: ["dp-2"], failed: true }),
    ]);

    // dp-2 is back; it takes the config 7 s after reconnecting (longer than the CLI takes to start and look,
    // shorter than a window), as a data plane that must receive and apply it does. The next run gives it a
    // new window instead of failing at once on the window that already ended.
    stack.kong.setDataPlane("dp-2", { neverSync: false, lagMs: 7_000 });
    const later = await runCli(["run"], strictPath, stack.env);
    expect(later.code, later.out + later.err).toBe(0);
    expect(later.out + later.err).not.toMatch(/KONG_NOT_CONFIRMED/);
    const kids = stack.gatewayKids();
    expect(kids["dp-2"]).not.toBe(oldKid);
    expect(kids["dp-1"]).toBe(kids["dp-2"]);
    const after = await runCli(["status", "--json"], strictPath, stack.env);
    expect((JSON.parse(after.out) as { active: string }[])[0]!.active).toBe(kids["dp-2"]);
    expect((await stack.probe()).ok).toBe(true);
    expect(alerts().some((a) => a.code === "KONG_NOT_CONFIRMED" && a.status === "resolved")).toBe(true);
    stack.kong.setDataPlane("dp-2", { lagMs: 300 });
  }, 90_000);

  it("on the queue's wait budget, a run inside the new window ends waiting (no failure) and the alert stays open until the key is confirmed", async () => {
    stack.kong.setDataPlane("dp-2", { neverSync: true });
    const alertsBefore = stack.webhook.received.length;
    const alerts = () => stack.webhook.received.slice(alertsBefore).map((w) => w.body as Alert);
    const failed = await runCli(["rotate", CREDENTIAL, "--force"], strictPath, stack.env);
    expect(failed.out + failed.err).toMatch(/KONG_NOT_CONFIRMED/);
    expect(alerts().filter((a) => a.code === "KONG_NOT_CONFIRMED" && a.status === "firing")).toHaveLength(1);

    // The same work as the queue function, on its wait budget (app/fleet.ts processWork).
    const logs: string[] = [];
    const rt = createRuntime({
      config: parseConfig(parse(readFileSync(strictPath, "utf8"))),
      env: stack.env,
      logger: jsonLogger((line) => logs.push(line), "debug"),
    });
    stack.kong.setDataPlane("dp-2", { neverSync: false, lagMs: 4_000 });
    const outcomes: string[] = [];
    let result = await rotate(rt, CREDENTIAL, { trigger: "queue", waitBudgetMs: 1_000 });
    for (let i = 0; i < 10 && result.kind === "done" && result.report.outcome === "waiting"; i++) {
      outcomes.push(result.report.outcome);
      expect(result.report.error).toBeUndefined();
      expect(result.report.steps.at(-1)).toMatchObject({ action: "activate", status: "waiting" });
      expect(result.report.steps.at(-1)?.detail).toMatch(/waiting for dp-2/);
      // While it waits the alert is neither resolved nor fired again.
      expect(alerts().filter((a) => a.code === "KONG_NOT_CONFIRMED")).toHaveLength(1);
      await sleep(Math.max(0, Date.parse(result.report.nextRunAt!) - Date.now()));
      result = await rotate(rt, CREDENTIAL, { trigger: "queue", waitBudgetMs: 1_000 });
    }
    expect(outcomes.length).toBeGreaterThan(0);
    expect(result.kind === "done" && result.report.outcome).toBe("ok");
    expect(alerts().some((a) => a.code === "KONG_NOT_CONFIRMED" && a.status === "resolved")).toBe(true);
    const kids = stack.gatewayKids();
    expect(kids["dp-1"]).toBe(kids["dp-2"]);
    expect((await stack.probe()).ok).toBe(true);
    stack.kong.setDataPlane("dp-2", { lagMs: 300 });
  }, 90_000);
});
