/**
 * `doctor` end to end on the local stack: the CLI and the HTTP function run the read-only preflight checks
 * through the real adapters against the fakes. Every scenario asserts that nothing changed: the fakes'
 * request logs show no non-GET request other than Key Vault's `sign` (token requests go to the login server,
 * which is not counted).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { request } from "undici";
import { HttpRequest, InvocationContext } from "@azure/functions";
import {
  startLocalStack,
  APP_CLIENT_ID,
  CREDENTIAL,
  PARTNER_CLIENT_ID,
  type LocalStack,
} from "../../stack/stack.js";
import { runCli } from "../support/cli.js";
import { parseConfig } from "../../src/config/load.js";
import { createRuntime } from "../../src/app/runtime.js";
import { silentLogger } from "../../src/log/logger.js";
import { setFunctionsRuntime } from "../../src/functions/runtime.js";
import { doctorHttpHandler } from "../../src/functions/doctorHttp.js";
import type { Check, CheckReport } from "../../src/app/checks.js";

let stack: LocalStack;
let dir: string;
let configPath: string;

function writeConfig(doc: Record<string, unknown>): string {
  const path = join(dir, `rotator-${Math.random().toString(36).slice(2, 8)}.yaml`);
  writeFileSync(path, stringify(doc));
  return path;
}

const cli = (argv: string[], opts: { config?: string; env?: Record<string, string> } = {}) =>
  runCli(argv, opts.config ?? configPath, opts.env ?? stack.env);

async function doctorJson(
  opts: { config?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; report: CheckReport }> {
  const r = await cli(["doctor", "--json"], opts);
  return { code: r.code, report: JSON.parse(r.out) as CheckReport };
}

/** State-changing requests: anything but GET, except Key Vault's side-effect-free sign. */
const mutations = () =>
  [...stack.keyVault.requests, ...stack.entra.graph.requests, ...stack.kong.requests].filter(
    (r) => r.method !== "GET" && !/\/sign(\?|$)/.test(r.path),
  ).length;

const find = (r: CheckReport, code: string): Check | undefined => r.checks.find((c) => c.code === code);
const statusOf = (r: CheckReport, code: string) => find(r, code)?.status;

/** A credential config pointing at one plugin by id, or with another client id. */
function variant(change: { pluginId?: string; clientId?: string }): Record<string, unknown> {
  const doc = structuredClone(stack.config) as { credentials: Record<string, unknown>[] };
  const cred = doc.credentials[0]!;
  if (change.clientId) cred.entra = { ...(cred.entra as object), clientId: change.clientId };
  if (change.pluginId) {
    const [target] = cred.kong as Record<string, unknown>[];
    cred.kong = [
      {
        name: target!.name,
        adminUrl: target!.adminUrl,
        adminToken: target!.adminToken,
        pluginId: change.pluginId,
      },
    ];
  }
  return doc;
}

beforeAll(async () => {
  stack = await startLocalStack({
    propagationDelayMs: 600,
    createDelayMs: 100,
    policy: {
      overlap: "PT2S",
      verifyInterval: "PT0.2S",
      verifyConsecutive: 2,
      verifyTimeout: "PT30S",
      forceCooldown: "PT0S",
    },
  });
  dir = mkdtempSync(join(tmpdir(), "rotator-doctor-"));
  configPath = writeConfig(stack.config);
}, 60_000);

afterAll(async () => {
  setFunctionsRuntime(undefined);
  await stack?.close();
});

describe("doctor", () => {
  it("on the fresh stack: Kong passes except our missing JWK, bootstrap is flagged, nothing fails or changes", async () => {
    const before = mutations();
    const { code, report } = await doctorJson();
    expect(code, JSON.stringify(report.checks.filter((c) => c.status === "fail"))).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.counts.fail).toBe(0);
    expect(statusOf(report, "KV_REACHABLE")).toBe("pass");
    expect(statusOf(report, "KV_NO_CERTIFICATE")).toBe("info");
    expect(statusOf(report, "KV_NO_GENERATION")).toBe("info");
    expect(statusOf(report, "IDP_CLIENT_OK")).toBe("pass");
    expect(find(report, "ENTRA_BOOTSTRAP_PATCH")).toMatchObject({
      status: "warn",
      hint: expect.stringMatching(/Application\.ReadWrite\.OwnedBy/),
    });
    expect(statusOf(report, "KONG_REACHABLE")).toBe("pass");
    expect(statusOf(report, "KONG_CLIENT_OK")).toBe("pass");
    expect(statusOf(report, "KONG_ISSUER_OK")).toBe("pass");
    expect(find(report, "KONG_NO_JWK")).toMatchObject({
      status: "warn",
      target: "local",
      message: expect.stringMatching(/index 1.*falls back/),
    });
    expect(find(report, "KONG_SESSION_COOKIE")).toMatchObject({
      status: "warn",
      hint: expect.stringMatching(/redis/),
    });
    expect(statusOf(report, "STORAGE_OK")).toBe("pass");
    expect(mutations()).toBe(before);
  });

  it("after a rotation (and redis sessions) every check passes, and the human output says so", async () => {
    expect((await cli(["rotate", CREDENTIAL])).code).toBe(0);
    const res = await request(`${stack.kong.url}/plugins/${stack.pluginId}`, {
      method: "PATCH",
      headers: { "content-type": "application/json", "kong-admin-token": stack.env.KONG_ADMIN_TOKEN! },
      body: JSON.stringify({
        config: { session_storage: "redis", redis: { host: "redis.internal", port: 6379 } },
      }),
    });
    await res.body.text();
    expect(res.statusCode).toBe(200);

    const before = mutations();
    const { code, report } = await doctorJson();
    expect(code).toBe(0);
    expect(report.checks.filter((c) => c.status === "warn" || c.status === "fail")).toEqual([]);
    for (const c of [
      "KV_POLICY_OK",
      "KV_SECRET_OK",
      "KV_SIGN_OK",
      "ENTRA_ADDKEY_OK",
      "KONG_JWK_OK",
      "KONG_SESSION_OK",
    ])
      expect(statusOf(report, c), c).toBe("pass");
    const human = await cli(["doctor"]);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/PASS +kong\[local\] +KONG_JWK_OK/);
    expect(human.out).toMatch(/doctor: ok \(\d+ pass/);
    expect(mutations()).toBe(before);
    for (const text of [human.out, JSON.stringify(report)]) {
      expect(text).not.toContain(stack.env.KONG_ADMIN_TOKEN);
      expect(text).not.toMatch(/PRIVATE KEY|eyJ[A-Za-z0-9_-]{10,}\./);
    }
  });

  it("DB-less Kong behind adminUrl fails with the KONG_DBLESS hint; a hybrid control plane without live data planes warns", async () => {
    const before = mutations();
    stack.kong.setDbless(true);
    try {
      const { code, report } = await doctorJson();
      expect(code).toBe(1);
      expect(find(report, "KONG_DBLESS")).toMatchObject({
        status: "fail",
        target: "local",
        hint: expect.stringMatching(/dbless: \{ nodes/),
      });
    } finally {
      stack.kong.setDbless(false);
    }
    stack.kong.setRole("control_plane");
    try {
      const { code, report } = await doctorJson();
      expect(code).toBe(0);
      expect(find(report, "KONG_REACHABLE")?.message).toMatch(/Kong hybrid target/);
      expect(find(report, "KONG_GATEWAYS")).toMatchObject({
        status: "warn",
        message: expect.stringMatching(/^0 live data plane/),
      });
    } finally {
      stack.kong.setRole("traditional");
    }
    expect(mutations()).toBe(before);
  });

  it("a plugin that is not openid-connect, or our client without private_key_jwt, fails with the fix", async () => {
    const { id: limiter } = stack.kong.addPlugin({ name: "rate-limiting", config: { minute: 5 } });
    const { id: secretAuth } = stack.kong.addPlugin({
      name: "openid-connect",
      config: {
        issuer: stack.entra.issuer,
        client_id: [PARTNER_CLIENT_ID, APP_CLIENT_ID],
        client_auth: ["private_key_jwt", "client_secret_post"],
      },
    });
    const before = mutations();
    const notOidc = await doctorJson({ config: writeConfig(variant({ pluginId: limiter })) });
    expect(notOidc.code).toBe(1);
    expect(find(notOidc.report, "KONG_NOT_OIDC")).toMatchObject({
      status: "fail",
      message: expect.stringMatching(/rate-limiting/),
      hint: expect.stringMatching(/pluginId/),
    });
    const wrongAuth = await doctorJson({ config: writeConfig(variant({ pluginId: secretAuth })) });
    expect(wrongAuth.code).toBe(1);
    expect(find(wrongAuth.report, "KONG_NOT_PRIVATE_KEY_JWT")).toMatchObject({
      status: "fail",
      message: expect.stringMatching(/client_secret_post/),
      hint: expect.stringMatching(/client_auth\[1\]/),
    });
    expect(mutations()).toBe(before);
  });

  it("a Key Vault role missing (403) names the role; an unknown Entra app fails; a bad config fails with its path", async () => {
    const before = mutations();
    stack.keyVault.deny("Microsoft.KeyVault/vaults/keys/sign");
    stack.keyVault.deny("Microsoft.KeyVault/vaults/secrets/");
    try {
      const { code, report } = await doctorJson();
      expect(code).toBe(1);
      const forbidden = report.checks.filter((c) => c.code === "KV_FORBIDDEN");
      expect(forbidden.map((c) => c.hint)).toEqual([
        expect.stringMatching(/Key Vault Secrets User/),
        expect.stringMatching(/Key Vault Crypto User/),
      ]);
    } finally {
      stack.keyVault.allowAll();
    }

    const unknown = await doctorJson({
      config: writeConfig(variant({ clientId: "00000000-0000-4000-8000-000000000000" })),
    });
    expect(unknown.code).toBe(1);
    expect(find(unknown.report, "ENTRA_APP_NOT_FOUND")).toMatchObject({
      status: "fail",
      hint: expect.any(String),
    });
    expect(statusOf(unknown.report, "KONG_CLIENT_NOT_FOUND")).toBe("fail");

    const bad = await doctorJson({
      config: writeConfig({ ...stack.config, policy: { algorithm: "ES256", keySize: 1024 } }),
    });
    // Exit contract: a configuration error exits 2, for doctor too (after listing every invalid field).
    expect(bad.code).toBe(2);
    expect(bad.report.checks.map((c) => [c.status, c.code])).toEqual([
      ["fail", "CONFIG_INVALID"],
      ["fail", "CONFIG_INVALID"],
    ]);
    expect(bad.report.checks.map((c) => c.message).join("\n")).toMatch(
      /policy\.algorithm[\s\S]*policy\.keySize/,
    );

    const noStorage = await doctorJson({ env: { ...stack.env, AzureWebJobsStorage: "" } });
    expect(find(noStorage.report, "STORAGE_NOT_CONFIGURED")).toMatchObject({
      status: "warn",
      hint: expect.stringMatching(/--no-other-writer/),
    });
    expect(mutations()).toBe(before);
  });

  it("refuses bad usage with exit 2", async () => {
    expect((await cli(["doctor", "no-such-credential"])).code).toBe(2);
    expect((await cli(["doctor", "--yes"])).code).toBe(2);
  });

  it("GET /api/doctor returns the same report, without secrets", async () => {
    setFunctionsRuntime(
      createRuntime({ config: parseConfig(stack.config), env: stack.env, logger: silentLogger }),
    );
    const before = mutations();
    const res = await doctorHttpHandler(
      new HttpRequest({ method: "GET", url: "https://func.example/api/doctor?credential=orders-api" }),
      new InvocationContext({ functionName: "doctor", invocationId: "inv-doctor" }),
    );
    expect(res.status).toBe(200);
    const body = res.jsonBody as CheckReport;
    expect(body.ok).toBe(true);
    expect(statusOf(body, "KV_SIGN_OK")).toBe("pass");
    expect(statusOf(body, "KONG_JWK_OK")).toBe("pass");
    const text = JSON.stringify(body);
    expect(text).not.toContain(stack.env.KONG_ADMIN_TOKEN);
    expect(text).not.toContain(stack.env.AZURE_CLIENT_SECRET);
    expect(mutations()).toBe(before);
    const unknown = await doctorHttpHandler(
      new HttpRequest({ method: "GET", url: "https://func.example/api/doctor?credential=nope" }),
      new InvocationContext({ functionName: "doctor", invocationId: "inv-doctor-2" }),
    );
    expect(unknown.status).toBe(404);
  });
});
