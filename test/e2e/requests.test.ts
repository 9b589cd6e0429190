/**
 * Durable manual requests end to end on the local stack, through the CLI: a forced rotation made while
 * Kong (or Graph) is down is kept, `run` keeps failing (and resolves no alert) while the outage lasts,
 * and one `run` completes it once the service is back; `--cancel` withdraws a request; `--rollback` puts
 * Kong back on the previous key with no failed gateway login, and is refused once that key is retired.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalStack, APP_CLIENT_ID, CREDENTIAL, type LocalStack } from "../../stack/stack.js";
import type { FaultInjector } from "../../stack/common/server.js";
import { runCli } from "../support/cli.js";

let stack: LocalStack;
let configPath: string;

const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);
const ourKid = () => {
  const cfg = stack.kong.getPlugin(stack.pluginId)!.config;
  return (cfg.client_jwk as Record<string, unknown>[])[1]!.kid as string;
};
const versions = () => stack.keyVault.versions(`kong-${CREDENTIAL}`).length;

interface Alert {
  event: string;
  status: string;
  code?: string;
  target?: string;
  trigger?: string;
}
const alerts = (): Alert[] => stack.webhook.received.map((w) => w.body as Alert);
const rotationAlerts = (since: number) =>
  alerts()
    .slice(since)
    .filter((a) => a.event === "KeyRotationFailed");

interface StatusView {
  request?: {
    kind: string;
    force: boolean;
    attempts: number;
    lastError?: string;
    actor?: string;
    ageSeconds: number;
  };
}
async function statusView(): Promise<StatusView> {
  const r = await cli("status", CREDENTIAL, "--json");
  return (JSON.parse(r.out) as StatusView[])[0]!;
}

/** Every request answered 503 with Retry-After: 0 (the adapters retry at once, then give up). */
function outage(faults: FaultInjector): () => void {
  faults.add({ fault: { kind: "status", status: 503, retryAfter: "0" }, times: Infinity });
  return () => faults.clear();
}

beforeAll(async () => {
  stack = await startLocalStack({
    propagationDelayMs: 600,
    createDelayMs: 100,
    policy: {
      overlap: "PT4S",
      verifyInterval: "PT0.2S",
      verifyConsecutive: 2,
      verifyTimeout: "PT30S",
      forceCooldown: "PT0S",
    },
  });
  configPath = join(mkdtempSync(join(tmpdir(), "rotator-requests-")), "rotator.yaml");
  writeFileSync(configPath, stack.configYaml());
  const boot = await cli("run");
  expect(boot.code, boot.out + boot.err).toBe(0);
}, 90_000);

afterAll(async () => {
  await stack?.close();
});

describe.each([
  { service: "Kong", faults: () => stack.kong.faults },
  { service: "Graph", faults: () => stack.entra.graph.faults },
])("a forced rotation while $service answers 503", ({ faults }) => {
  it("is kept: run fails and resolves nothing during the outage, then one run completes it and the alert resolves", async () => {
    const oldKid = ourKid();
    const since = alerts().length;
    const restore = outage(faults());
    try {
      const forced = await cli("rotate", CREDENTIAL, "--force", "--reason", "suspected key leak");
      expect(forced.code, forced.out + forced.err).toBe(1);
      expect(forced.out).toMatch(/request [0-9a-f]{8} recorded/);
      expect(rotationAlerts(since).map((a) => a.status)).toEqual(["firing"]);
      expect(rotationAlerts(since)[0]!.trigger).toBe("ManualRequest");
      const pending = await statusView();
      expect(pending.request).toMatchObject({ kind: "rotate", force: true, attempts: 1 });
      expect(pending.request?.lastError).toBeDefined();

      const stillDown = await cli("run");
      expect(stillDown.code, stillDown.out + stillDown.err).toBe(1);
      expect(rotationAlerts(since).some((a) => a.status === "resolved")).toBe(false);
      expect((await statusView()).request?.attempts).toBe(2);
      expect(ourKid()).toBe(oldKid);
    } finally {
      restore();
    }
    const done = await cli("run");
    expect(done.code, done.out + done.err).toBe(0);
    expect(ourKid()).not.toBe(oldKid);
    expect((await stack.kong.probe(stack.pluginId, APP_CLIENT_ID)).ok).toBe(true);
    expect(rotationAlerts(since).at(-1)?.status).toBe("resolved");
    expect((await statusView()).request).toBeUndefined();
  }, 180_000);
});

describe("cancel", () => {
  it("status shows the pending request; --cancel withdraws it and the next run does not rotate", async () => {
    const restore = outage(stack.kong.faults);
    try {
      const forced = await cli("rotate", CREDENTIAL, "--force", "--reason", "maybe");
      expect(forced.code).toBe(1);
      const text = await cli("status", CREDENTIAL);
      expect(text.out).toMatch(
        /pending rotate \(forced\) request [0-9a-f]{8} by cli:.*attempts 1, last error/,
      );
      const cancelled = await cli(
        "rotate",
        CREDENTIAL,
        "--cancel",
        "--reason",
        "false alarm",
        "--log-format",
        "json",
      );
      expect(cancelled.code, cancelled.out + cancelled.err).toBe(0);
      expect(cancelled.out).toMatch(/withdrawn/);
      expect(cancelled.err).toMatch(/"event":"RotationRequested".*"cancel":true/);
    } finally {
      restore();
    }
    const kid = ourKid();
    const before = versions();
    const r = await cli("run");
    expect(r.code, r.out + r.err).toBe(0);
    expect(versions()).toBe(before);
    expect(ourKid()).toBe(kid);
    expect((await statusView()).request).toBeUndefined();
  }, 120_000);
});

describe("rollback", () => {
  it("puts Kong back on the previous key with 0 failed gateway logins; plan refuses once that key is retired", async () => {
    let probing = true;
    const failures: string[] = [];
    let logins = 0;
    const loop = (async () => {
      while (probing) {
        const p = await stack.kong.probe(stack.pluginId, APP_CLIENT_ID);
        logins++;
        if (!p.ok) failures.push(p.error ?? String(p.status));
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    try {
      const previousKid = ourKid();
      const forced = await cli("rotate", CREDENTIAL, "--force");
      expect(forced.code, forced.out + forced.err).toBe(0);
      const badKid = ourKid();
      expect(badKid).not.toBe(previousKid);

      const rb = await cli("rotate", CREDENTIAL, "--rollback", "--reason", "new key breaks a data plane");
      expect(rb.code, rb.out + rb.err).toBe(0);
      expect(rb.out).toMatch(/rollback request [0-9a-f]{8} recorded/);
      expect(ourKid()).toBe(previousKid);
      expect((await statusView()).request).toBeUndefined();

      // The rolled-back key is retired by the normal rules after the overlap, and never comes back.
      await new Promise((r) => setTimeout(r, 4500));
      const retire = await cli("run");
      expect(retire.code, retire.out + retire.err).toBe(0);
      expect(ourKid()).toBe(previousKid);
      expect(stack.entra.keyCredentials(APP_CLIENT_ID).map((k) => k.x5t)).not.toContain(badKid);

      const refused = await cli("plan", CREDENTIAL, "--rollback");
      expect(refused.out).toMatch(
        /rollback \(blocked: rollback refused: the previous generation .* is retired/,
      );
      const again = await cli("rotate", CREDENTIAL, "--rollback");
      expect(again.code).toBe(1);
      expect(again.err).toMatch(/ROLLBACK_REFUSED/);
    } finally {
      probing = false;
      await loop;
    }
    expect(logins).toBeGreaterThan(10);
    expect(failures).toEqual([]);
  }, 120_000);
});
