/**
 * A forced rotation that cannot even be recorded (issue 23): the service identity gets no token for Key
 * Vault because the token endpoint answers 503. On the CLI and over HTTP the request fails visibly (exit 1
 * / 503 with the code and a hint, never a crash or a 500), the KeyRotationFailed alert that the runbook
 * names fires once, nothing is written to Key Vault, the IdP or Kong, and once the token endpoint is back
 * the next request succeeds, in the same Functions runtime too, and resolves the alert.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalStack, CREDENTIAL, type LocalStack } from "../../stack/stack.js";
import { parseConfig } from "../../src/config/load.js";
import { createRuntime } from "../../src/app/runtime.js";
import { jsonLogger } from "../../src/log/logger.js";
import { setFunctionsRuntime } from "../../src/functions/runtime.js";
import { rotateHttpHandler } from "../../src/functions/rotateHttp.js";
import { runCli } from "../support/cli.js";
import { clientPrincipal, httpRequest, invocation, withAppServiceAuth } from "../functions/harness.js";

let stack: LocalStack;
let configPath: string;
const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);

interface Alert {
  event: string;
  status: string;
  credential: string;
  code?: string;
  phase?: string;
}
const rotationAlerts = () =>
  stack.webhook.received
    .map((w) => w.body as Alert)
    .filter((a) => a.event === "KeyRotationFailed" && a.credential === CREDENTIAL);

/** Requests that could change something at Key Vault, the IdP or Kong. */
const writes = () =>
  [...stack.keyVault.requests, ...stack.entra.graph.requests, ...stack.kong.requests].filter(
    (r) => r.method !== "GET",
  ).length;

/** A forced rotation by a signed-in operator, as deployed (App Service authentication on). */
const forceOverHttp = () =>
  withAppServiceAuth(() =>
    rotateHttpHandler(
      httpRequest({
        method: "POST",
        route: `credentials/${CREDENTIAL}/rotate`,
        params: { name: CREDENTIAL },
        headers: {
          "x-ms-client-principal": clientPrincipal("oncall@contoso.example", ["Rotation.Operator"]),
        },
        body: JSON.stringify({ force: true, reason: "suspected key leak" }),
      }),
      invocation("rotateCredential").context,
    ),
  );

/** The token endpoint answers 503 (Retry-After: 1) to every token request, the service's own included. */
const tokenOutage = () =>
  stack.entra.login.faults.add({
    method: "POST",
    path: "/oauth2/v2.0/token",
    fault: { kind: "status", status: 503, retryAfter: "1" },
    times: Infinity,
  });

beforeAll(async () => {
  stack = await startLocalStack({
    propagationDelayMs: 300,
    createDelayMs: 100,
    policy: {
      overlap: "PT2S",
      verifyInterval: "PT0.2S",
      verifyConsecutive: 2,
      verifyTimeout: "PT30S",
      forceCooldown: "PT0S",
    },
  });
  configPath = join(mkdtempSync(join(tmpdir(), "rotator-not-recorded-")), "rotator.yaml");
  writeFileSync(configPath, stack.configYaml());
  const boot = await cli("run");
  expect(boot.code, boot.out + boot.err).toBe(0);
  // The Functions runtime, built once as on an instance: it keeps its token cache (and MSAL's throttling
  // of a failing token endpoint) across requests.
  setFunctionsRuntime(
    createRuntime({
      config: parseConfig(stack.config),
      env: stack.env,
      logger: jsonLogger(() => undefined),
    }),
  );
}, 90_000);

afterAll(async () => {
  setFunctionsRuntime(undefined);
  await stack?.close();
});

describe("a forced rotation that cannot be recorded", () => {
  const versions = () => stack.keyVault.versions(`kong-${CREDENTIAL}`);

  it("fails visibly on the CLI and over HTTP, alerts once, and writes nothing", async () => {
    const before = { writes: writes(), versions: versions().map((v) => [v.version, v.tags]) };
    tokenOutage();

    const r = await cli("rotate", CREDENTIAL, "--force", "--reason", "suspected key leak");
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).toMatch(/error KV_UNAUTHORIZED: the forced rotation of orders-api could not be recorded/);
    expect(r.out).toMatch(/hint: .*ask again/);

    const res = await forceOverHttp();
    expect(res.status).toBe(503);
    const body = res.jsonBody as { error: { code: string; message: string; hint: string } };
    expect(body.error.code).toBe("KV_UNAUTHORIZED");
    expect(body.error.message).toMatch(/could not be recorded, so nothing was changed/);
    expect(body.error.hint.length).toBeGreaterThan(20);

    // One condition, one notification: the second failure is deduplicated.
    expect(rotationAlerts()).toEqual([
      expect.objectContaining({ status: "firing", code: "KV_UNAUTHORIZED", phase: "request" }),
    ]);
    // Nothing written to Key Vault, the IdP or Kong: no new version, no request tag.
    expect(writes()).toBe(before.writes);
    expect(versions().map((v) => [v.version, v.tags])).toEqual(before.versions);
  }, 60_000);

  it("is the alert the runbook names: KeyRotationFailed, phase request, with what to do", () => {
    const runbook = readFileSync("docs/runbooks/key-rotation-failed.md", "utf8");
    const row = runbook.split("\n").find((l) => l.includes("`KV_UNAUTHORIZED`") && l.includes("request"));
    expect(row, "a row for KV_UNAUTHORIZED in phase request").toBeDefined();
  });

  it("succeeds on the next request once the token endpoint is back, and resolves the alert", async () => {
    stack.entra.login.faults.clear();
    const active = () => versions().find((v) => v.tags["rotator-phase"] === "active")?.version;
    const first = active();

    const r = await cli("rotate", CREDENTIAL, "--force", "--reason", "suspected key leak");
    expect(r.code, r.out + r.err).toBe(0);
    const second = active();
    expect(second).not.toBe(first);
    expect(rotationAlerts().map((a) => a.status)).toEqual(["firing", "resolved"]);

    // The same Functions runtime that saw the outage: MSAL stops refusing after the Retry-After it was given.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const res = await forceOverHttp();
    expect(res.status).toBe(202);
    expect((res.jsonBody as { outcome: string }).outcome).toBe("ok");
    expect(active()).not.toBe(second);
  }, 90_000);
});
