/**
 * Alerts end to end on the local stack, through the CLI: a webhook at a plain-http loopback URL (which
 * the configuration accepts) receives them; a failure on a Kong target fires, a run that cannot reach the
 * target resolves nothing, a run that reads the target healthy resolves it; a webhook that cannot
 * deliver never blocks a command and is listed by doctor.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { startLocalStack, CREDENTIAL, type LocalStack } from "../../stack/stack.js";
import { startWebhookReceiver, type RunningWebhookReceiver } from "../../stack/webhook-receiver.js";
import { runCli } from "../support/cli.js";
import type { AlertEvent } from "../../src/ports/infrastructure.js";

let stack: LocalStack;
let receiver: RunningWebhookReceiver;
let dir: string;

const writeConfig = (alerts: Record<string, unknown>): string => {
  const path = join(dir, `rotator-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, stringify({ ...stack.config, alerts }));
  return path;
};
const alerts = (): AlertEvent[] => receiver.received.map((r) => r.body as AlertEvent);
const about = (event: AlertEvent["event"], status: AlertEvent["status"]) =>
  alerts().filter((a) => a.event === event && a.status === status);
const kongDown = () =>
  stack.kong.faults.add({
    times: Infinity,
    fault: { kind: "status", status: 503, retryAfter: "0" },
  });
const mutations = () =>
  [...stack.keyVault.requests, ...stack.entra.graph.requests, ...stack.kong.requests].filter(
    (r) => r.method !== "GET",
  ).length;

beforeAll(async () => {
  stack = await startLocalStack({
    propagationDelayMs: 800,
    createDelayMs: 100,
    policy: { verifyInterval: "PT0.3S", verifyConsecutive: 3, verifyTimeout: "PT30S" },
  });
  receiver = await startWebhookReceiver(undefined);
  dir = mkdtempSync(join(tmpdir(), "rotator-alerts-"));
}, 60_000);

afterAll(async () => {
  await receiver?.close();
  await stack?.close();
});

describe("alerts on the local stack", () => {
  it("refuses an unknown credential with exit 2 before touching storage or any service", async () => {
    expect(receiver.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const config = writeConfig({ webhooks: [{ url: `${receiver.url}/hook` }] });
    const before = mutations();
    // No storage at all: had the CLI built the runtime first, this would be STORAGE_NOT_CONFIGURED.
    const r = await runCli(["rotate", "no-such-credential"], config, {
      ...stack.env,
      AzureWebJobsStorage: "",
    });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/UNKNOWN_CREDENTIAL/);
    expect(mutations()).toBe(before);
    expect(receiver.received).toEqual([]);
  });

  it("delivers to http://127.0.0.1:PORT/hook; fires on a Kong outage, resolves nothing while it lasts, resolves once Kong is read healthy", async () => {
    const config = writeConfig({ webhooks: [{ url: `${receiver.url}/hook` }], remindEvery: "PT1H" });
    const cli = (...argv: string[]) => runCli(argv, config, stack.env);

    expect((await cli("run")).code).toBe(0);
    expect(about("KeyRotationSucceeded", "info")).toHaveLength(1);
    expect(receiver.received.every((r) => r.path === "/hook")).toBe(true);

    kongDown();
    try {
      expect((await cli("rotate", CREDENTIAL, "--force")).code).toBe(1);
      expect(about("KeyRotationFailed", "firing")).toEqual([
        expect.objectContaining({ credential: CREDENTIAL, target: "local", phase: "observe" }),
      ]);
      // Kong still down: whatever this run does, it cannot reach the target, so nothing resolves.
      await cli("run");
      await cli("run");
      expect(about("KeyRotationFailed", "resolved")).toEqual([]);
    } finally {
      stack.kong.faults.clear();
    }

    expect((await cli("run")).code).toBe(0);
    expect(about("KeyRotationFailed", "resolved")).toEqual([
      expect.objectContaining({ credential: CREDENTIAL, target: "local" }),
    ]);
    // Nothing left to resolve: a further run sends nothing.
    const count = receiver.received.length;
    expect((await cli("run")).code).toBe(0);
    expect(receiver.received).toHaveLength(count);
  }, 120_000);

  it("a webhook that cannot deliver never blocks a command; the run goes on and doctor lists the sink", async () => {
    const dead = await startWebhookReceiver(undefined);
    await dead.close();
    const config = writeConfig({
      webhooks: [{ url: `${dead.url}/hook` }, { url: `${receiver.url}/hook` }],
      remindEvery: "PT1H",
    });
    const cli = (...argv: string[]) => runCli(argv, config, stack.env);

    kongDown();
    try {
      const r = await cli("rotate", CREDENTIAL, "--force");
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/AlertSinkFailed[\s\S]*ALERT_WEBHOOK_UNREACHABLE/);
    } finally {
      stack.kong.faults.clear();
    }
    // The live webhook still got the alert.
    expect(about("KeyRotationFailed", "firing").length).toBeGreaterThanOrEqual(2);

    const doctor = await cli("doctor", "--json");
    const report = JSON.parse(doctor.out) as {
      checks: { status: string; area: string; code: string; message: string }[];
    };
    const sinkLines = report.checks.filter((c) => c.area === "alerts");
    expect(sinkLines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ status: "pass", code: "ALERT_SINK_CONFIGURED" }),
        expect.objectContaining({
          status: "warn",
          code: "ALERT_WEBHOOK_UNREACHABLE",
          message: expect.stringMatching(/1 notification\(s\) waiting/),
        }),
      ]),
    );
  }, 120_000);

  it("run tries every credential: one that fails does not stop the next; the summary lists each; exit 1", async () => {
    const [ours] = stack.config.credentials as Record<string, unknown>[];
    const broken = {
      name: "broken-api",
      certificateName: "kong-broken-api",
      entra: {
        tenantId: (ours!.entra as { tenantId: string }).tenantId,
        clientId: "0f0e0d0c-0b0a-4908-8706-050403020100",
      },
      kong: [{ ...(ours!.kong as Record<string, unknown>[])[0]!, pluginTags: ["rotator:nowhere"] }],
    };
    const path = join(dir, "two.yaml");
    writeFileSync(
      path,
      stringify({ ...stack.config, credentials: [broken, ours], alerts: { webhooks: [] } }),
    );

    const r = await runCli(["run", "--json"], path, stack.env);
    expect(r.code).toBe(1);
    const results = JSON.parse(r.out) as { credential: string; kind: string; report?: { outcome: string } }[];
    expect(results.map((x) => [x.credential, x.kind])).toEqual([
      ["broken-api", "done"],
      [CREDENTIAL, "done"],
    ]);
    expect(results[0]?.report?.outcome).toBe("failed");
    expect(["ok", "noop"]).toContain(results[1]?.report?.outcome);

    // Storage unreachable: with --check no credential can even start; each is tried, listed and alerted, exit 1.
    const deadStorage = stack.env.AzureWebJobsStorage!.replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:9");
    const human = await runCli(["run", "--check"], path, { ...stack.env, AzureWebJobsStorage: deadStorage });
    expect(human.code).toBe(1);
    expect(human.out).toMatch(/^broken-api: error [A-Z_]+: [\s\S]*^orders-api: error [A-Z_]+: /m);
    // Without it, only the credential with work needs the lease: the idle one is answered from the vault listing.
    const lean = await runCli(["run"], path, { ...stack.env, AzureWebJobsStorage: deadStorage });
    expect(lean.code).toBe(1);
    expect(lean.out).toMatch(/^broken-api: error [A-Z_]+: [\s\S]*^orders-api: nothing due/m);
  }, 120_000);
  it("webhook URLs given as {keyVaultSecret} and {env} references are read on first use and never shown", async () => {
    const own = await startWebhookReceiver(undefined);
    const kvHook = `${own.url}/from-key-vault`;
    const envHook = `${own.url}/from-env`;
    stack.keyVault.putSecret("alert-webhook-url", kvHook);
    const config = writeConfig({
      webhooks: [
        { url: { keyVaultSecret: "alert-webhook-url" } },
        { url: { env: "ALERT_WEBHOOK_URL" } },
        { url: { env: "NO_SUCH_WEBHOOK_VARIABLE" } },
      ],
      remindEvery: "PT1H",
    });
    const cli = (...argv: string[]) => runCli(argv, config, { ...stack.env, ALERT_WEBHOOK_URL: envHook });
    // Whatever an earlier test left firing is resolved first, so the outage below is a new condition.
    expect((await cli("run")).code).toBe(0);
    const before = own.received.length;
    kongDown();
    let rotate;
    try {
      rotate = await cli("rotate", CREDENTIAL, "--force");
    } finally {
      stack.kong.faults.clear();
    }
    expect(rotate.code, rotate.err).toBe(1);
    const paths = own.received.slice(before).map((r) => r.path);
    expect(paths).toEqual(expect.arrayContaining(["/from-key-vault", "/from-env"]));
    // The reference that cannot be read fails its own deliveries only, named by the reference.
    expect(rotate.err).toMatch(
      /AlertSinkFailed[\s\S]*webhook:generic:env:NO_SUCH_WEBHOOK_VARIABLE[\s\S]*ALERT_WEBHOOK_URL_MISSING/,
    );

    const doctor = await cli("doctor", "--json");
    const report = JSON.parse(doctor.out) as { checks: { status: string; code: string; message: string }[] };
    expect(report.checks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          status: "pass",
          code: "ALERT_SINK_CONFIGURED",
          message: "alerts.webhooks[0]: webhook:generic:keyVaultSecret:alert-webhook-url",
        }),
        expect.objectContaining({
          status: "pass",
          code: "ALERT_SINK_CONFIGURED",
          message: "alerts.webhooks[1]: webhook:generic:env:ALERT_WEBHOOK_URL",
        }),
        expect.objectContaining({
          code: "ALERT_WEBHOOK_URL_MISSING",
          message: expect.stringMatching(/^alerts\.webhooks\[2\]: .*NO_SUCH_WEBHOOK_VARIABLE/),
        }),
      ]),
    );
    for (const text of [rotate.out, rotate.err, doctor.out, doctor.err]) {
      expect(text).not.toContain("/from-key-vault");
      expect(text).not.toContain("/from-env");
    }
    expect((await cli("run")).code).toBe(0);
    await own.close();
  }, 120_000);
});
