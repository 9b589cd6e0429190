/**
 * `adopt` end to end on the local stack: a setup made by hand as the manual guide describes (openssl key and
 * certificate, thumbprint, JWK with kid = x5t and alg PS256 pasted into the plugin, certificate uploaded to
 * the app) is checked, imported into Key Vault as the active generation, rotated away from with addKey, and
 * retired after the overlap, while the gateway keeps logging in.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import {
  startLocalStack,
  APP_CLIENT_ID,
  CREDENTIAL,
  SERVICE_CLIENT_ID,
  type LocalStack,
} from "../../stack/stack.js";
import { probeLogin } from "../../stack/kong/probe.js";
import { runCli } from "../support/cli.js";
import { probeLoop } from "../support/e2e.js";
import { handMadeKey, type HandMade } from "../support/hand-made.js";
import type { AdoptReport } from "../../src/app/adopt.js";

const CERT_NAME = `kong-${CREDENTIAL}`;
let stack: LocalStack;
let dir: string;
let configPath: string;

/** Step 1-4 of the manual guide: openssl key + certificate, thumbprint, JWK (kid = x5t, alg PS256). */
const handMade = (name: string, days = 90): HandMade => handMadeKey(dir, name, { days });

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);
const cliWithStdin = (stdin: string, ...argv: string[]) => runCli(argv, configPath, stack.env, stdin);

async function adoptJson(...argv: string[]): Promise<{ code: number; report: AdoptReport }> {
  const r = await cli("adopt", CREDENTIAL, "--json", ...argv);
  return { code: r.code, report: JSON.parse(r.out) as AdoptReport };
}

const mutations = () =>
  [...stack.keyVault.requests, ...stack.entra.graph.requests, ...stack.kong.requests].filter(
    (r) => r.method !== "GET" && !/\/sign(\?|$)/.test(r.path),
  ).length;
const ourJwk = () =>
  (stack.kong.getPlugin(stack.pluginId)!.config.client_jwk as Record<string, unknown>[])[1]!;
const probe = () => stack.kong.probe(stack.pluginId, APP_CLIENT_ID);
const failing = (r: AdoptReport) => r.checks.filter((c) => c.status === "fail").map((c) => c.code);

let manual: HandMade;
let pemPath: string;
let entraKeyId: string;

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
  dir = mkdtempSync(join(tmpdir(), "rotator-adopt-"));
  configPath = file("rotator.yaml", stack.configYaml());

  manual = handMade("orders-api");
  pemPath = file("orders-api.pem", manual.keyPem + manual.certPem);
  // Step 5 of the guide: the JWK goes into our client's slot (index 1; the partner keeps index 0), with
  // Redis sessions as recommended for Entra's large tokens.
  const config = stack.kong.getPlugin(stack.pluginId)!.config;
  const partner = (config.client_jwk as Record<string, unknown>[])[0]!;
  const res = await request(`${stack.kong.url}/plugins/${stack.pluginId}`, {
    method: "PATCH",
    headers: { "content-type": "application/json", "kong-admin-token": stack.env.KONG_ADMIN_TOKEN! },
    body: JSON.stringify({
      config: {
        client_jwk: [partner, manual.jwk],
        session_storage: "redis",
        redis: { host: "redis.internal", port: 6379 },
      },
    }),
  });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`seeding the plugin failed: ${res.statusCode}`);
  // Step 2: the certificate uploaded to the app registration.
  entraKeyId = stack.entra.seedKeyCredential(APP_CLIENT_ID, manual.der).keyId;
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe("adopt a hand-made setup", () => {
  it("the hand-made setup logs in", async () => {
    expect(await probe()).toMatchObject({ ok: true, kid: manual.x5t });
  });

  it("a dry run reports every check passing and what --yes would do, and changes nothing", async () => {
    const before = mutations();
    const { code, report } = await adoptJson("--cert", pemPath);
    expect(code, JSON.stringify(report.checks)).toBe(0);
    expect(report).toMatchObject({ ok: true, applied: false, certificate: { x5t: manual.x5t } });
    expect(report.checks.map((c) => c.code)).toEqual(
      expect.arrayContaining([
        "CERT_RSA",
        "CERT_KEY_MATCH",
        "CERT_VALID",
        "ADOPT_NO_GENERATION",
        "ADOPT_AT_IDP",
        "ADOPT_KONG_MATCH",
      ]),
    );
    expect(report.checks.every((c) => c.status === "pass")).toBe(true);
    expect(report.actions.join("\n")).toContain(`rotator-idpKeyId=${entraKeyId}`);
    const human = await cli("adopt", CREDENTIAL, "--cert", pemPath);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/dry run: with --yes it would/);
    expect(human.out).not.toMatch(/PRIVATE KEY/);
    expect(mutations()).toBe(before);
    expect(stack.keyVault.versions(CERT_NAME)).toEqual([]);
  });

  it("a PKCS#1 key is read as well", async () => {
    const pkcs1 = createPrivateKey(manual.keyPem).export({ format: "pem", type: "pkcs1" }).toString();
    const { code, report } = await adoptJson("--cert", file("pkcs1.pem", pkcs1 + manual.certPem));
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
  });

  it("a certificate with another key reports every mismatch and changes nothing, even with --yes", async () => {
    const other = handMade("someone-else");
    const before = mutations();
    const swapped = await adoptJson("--cert", file("swapped.pem", manual.keyPem + other.certPem), "--yes");
    expect(swapped.code).toBe(1);
    expect(failing(swapped.report)).toEqual(["CERT_KEY_MISMATCH", "ADOPT_NOT_AT_IDP", "ADOPT_KONG_MISMATCH"]);
    const unrelated = await adoptJson("--cert", file("other.pem", other.keyPem + other.certPem), "--yes");
    expect(unrelated.code).toBe(1);
    expect(failing(unrelated.report)).toEqual(["ADOPT_NOT_AT_IDP", "ADOPT_KONG_MISMATCH"]);
    const kong = unrelated.report.checks.find((c) => c.code === "ADOPT_KONG_MISMATCH")!;
    expect(kong).toMatchObject({
      target: "local",
      message: expect.stringMatching(/modulus n differs.*kid is/),
    });
    const human = await cli("adopt", CREDENTIAL, "--cert", join(dir, "other.pem"), "--yes");
    expect(human.out).toMatch(/refused .*nothing was changed/);
    expect(mutations()).toBe(before);
    expect(stack.keyVault.versions(CERT_NAME)).toEqual([]);
  });

  it("an RSA key under 2048 bits is refused with a clear error, and nothing changes, even with --yes", async () => {
    const weak = handMadeKey(dir, "weak-key", { bits: 1024 });
    const before = mutations();
    const { code, report } = await adoptJson("--cert", file("weak.pem", weak.keyPem + weak.certPem), "--yes");
    expect(code).toBe(1);
    expect(report.applied).toBe(false);
    const check = report.checks.find((c) => c.code === "CERT_KEY_TOO_SMALL");
    expect(check).toMatchObject({
      status: "fail",
      message: "the key is RSA 1024 bits; at least 2048 are required",
    });
    expect(check?.hint).toMatch(/bootstrap a new key/);
    expect(mutations()).toBe(before);
    expect(stack.keyVault.versions(CERT_NAME)).toEqual([]);
  });

  it("adopt --yes imports a PFX as the active generation; the gateway still logs in", async () => {
    const pfx = join(dir, "orders-api.pfx");
    execFileSync(
      "openssl",
      [
        "pkcs12",
        "-export",
        "-inkey",
        join(dir, "orders-api.key.pem"),
        "-in",
        join(dir, "orders-api.cert.pem"),
        "-out",
        pfx,
        "-passout",
        "pass:hand-made",
      ],
      { stdio: "ignore" },
    );
    const noPassword = await cli("adopt", CREDENTIAL, "--cert", pfx);
    expect(noPassword.code).toBe(1);
    expect(noPassword.err).toMatch(/CERT_INPUT_INVALID[\s\S]*--password/);

    const unset = await cli("adopt", CREDENTIAL, "--cert", pfx, "--password-env", "NO_SUCH_VARIABLE");
    expect(unset.code).toBe(2);
    const wrong = await cli("adopt", CREDENTIAL, "--cert", pfx, "--password", "not-the-password");
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/PFX_MAC_INVALID/);
    // A password in argv is visible in the process list: it works, with a warning naming the other ways.
    expect(wrong.err).toMatch(/warning: --password puts the password in the process list.*--password-stdin/);
    const both = await cli("adopt", CREDENTIAL, "--cert", pfx, "--password", "x", "--password-env", "X");
    expect(both.code).toBe(2);
    // From standard input (the first line), no warning: a dry run reads the PFX and passes every check.
    const piped = await cliWithStdin("hand-made\n", "adopt", CREDENTIAL, "--cert", pfx, "--password-stdin");
    expect(piped.code, piped.err).toBe(0);
    expect(piped.err).not.toMatch(/warning/);
    expect((await cliWithStdin("", "adopt", CREDENTIAL, "--cert", pfx, "--password-stdin")).code).toBe(2);

    stack.env.PFX_PASSWORD = "hand-made";
    const { code, report } = await adoptJson("--cert", pfx, "--password-env", "PFX_PASSWORD", "--yes");
    expect(code, JSON.stringify(report.checks)).toBe(0);
    expect(report).toMatchObject({ ok: true, applied: true });
    expect(JSON.stringify(report)).not.toContain('hand-made"');
    const [version] = stack.keyVault.versions(CERT_NAME);
    expect(version).toMatchObject({ x5t: manual.x5t, enabled: true, exportable: true, kty: "RSA" });
    expect(version!.tags).toMatchObject({
      "rotator-phase": "active",
      "rotator-idpKeyId": entraKeyId,
      "rotator-activatedAt": expect.any(String),
    });
    expect(stack.keyVault.policy(CERT_NAME)).toMatchObject({
      key_props: { exportable: true, kty: "RSA" },
      secret_props: { contentType: "application/x-pem-file" },
    });
    expect(await probe()).toMatchObject({ ok: true, kid: manual.x5t });

    const status = await cli("status", "--json");
    const [view] = JSON.parse(status.out) as {
      active: string;
      targets: { inSync: boolean }[];
      unmanagedKeys: unknown[];
    }[];
    expect(view).toMatchObject({ active: manual.x5t, unmanagedKeys: [] });
    expect(view!.targets[0]!.inSync).toBe(true);
    // The status page from the same views: the adopted key, active, on the target.
    const pagePath = join(dir, "status.html");
    const page = await cli("status", "--html", pagePath);
    expect(page.code).toBe(0);
    const html = readFileSync(pagePath, "utf8");
    expect(html).toContain(`data-phase="active" data-x5t="${manual.x5t}"`);
    expect(html).toContain('data-sync="in-sync"');
    expect(html).not.toContain("hand-made");
    expect((await cli("sync", "--html", pagePath)).code).toBe(2);
    expect((await cli("doctor")).code).toBe(0);

    const again = await adoptJson("--cert", pemPath, "--yes");
    expect(again.code).toBe(1);
    expect(failing(again.report)).toEqual(["ADOPT_GENERATION_EXISTS"]);
    expect(stack.keyVault.versions(CERT_NAME)).toHaveLength(1);
  });

  it("rotate --force adds a new key with addKey signed by the adopted key, and run retires the hand-made key after the overlap", async () => {
    stack.entra.setAppRoles(SERVICE_CLIENT_ID, ["Application.Read.All"]);
    const handMadeConfig = structuredClone(stack.kong.getPlugin(stack.pluginId)!.config);
    const r = await cli("rotate", CREDENTIAL, "--force", "--reason", "adopted");
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/publish: registered with a proof signed by current key \S+/);
    const fresh = ourJwk();
    expect(fresh.kid).not.toBe(manual.x5t);
    expect(await probe()).toMatchObject({ ok: true, kid: fresh.kid });
    expect(stack.entra.keyCredentials(APP_CLIENT_ID).map((k) => k.x5t)).toEqual([manual.x5t, fresh.x5t]);

    await new Promise((res) => setTimeout(res, 2500));
    const retire = await cli("run");
    expect(retire.code, retire.out + retire.err).toBe(0);
    expect(retire.out).toMatch(/retire/);
    expect(stack.entra.keyCredentials(APP_CLIENT_ID).map((k) => k.x5t)).toEqual([fresh.x5t]);
    const adopted = stack.keyVault.versions(CERT_NAME).find((v) => v.x5t === manual.x5t)!;
    expect(adopted).toMatchObject({ enabled: false, tags: { "rotator-phase": "retired" } });
    expect(ourJwk().kid).toBe(fresh.kid);
    expect(await probe()).toMatchObject({ ok: true, kid: fresh.kid });
    const old = await probeLogin(handMadeConfig, APP_CLIENT_ID, stack.ca.certPem);
    expect(old.ok).toBe(false);
    expect(old.error).toMatch(/AADSTS700027/);
  });
});

describe("adopt a hand-made setup that already uses vault references", () => {
  let local: LocalStack;
  let config: string;
  let hand: HandMade;
  let pem: string;
  const HAND_SECRET = "kong-oidc-jwk-manual";
  const MEMBERS = ["d", "p", "q", "dp", "dq", "qi"] as const;
  const run = (...argv: string[]) => runCli(argv, config, local.env);
  const entry = () =>
    (local.kong.getPlugin(local.pluginId)!.config.client_jwk as Record<string, unknown>[])[1]!;

  beforeAll(async () => {
    local = await startLocalStack({
      vaultReference: true,
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
    config = file("rotator-vault.yaml", local.configYaml());
    hand = handMade("orders-api-vault");
    pem = file("orders-api-vault.pem", hand.keyPem + hand.certPem);
    // By hand: the private members in a JSON secret, the plugin entry with the public members and references.
    const jwk = hand.jwk as Record<string, string>;
    local.keyVault.putSecret(
      HAND_SECRET,
      JSON.stringify(Object.fromEntries(MEMBERS.map((m) => [m, jwk[m]]))),
      "application/json",
    );
    const referenced = {
      ...jwk,
      ...Object.fromEntries(MEMBERS.map((m) => [m, `{vault://azure-kv/${HAND_SECRET}/${m}}`])),
    };
    const partner = (
      local.kong.getPlugin(local.pluginId)!.config.client_jwk as Record<string, unknown>[]
    )[0]!;
    const res = await request(`${local.kong.url}/plugins/${local.pluginId}`, {
      method: "PATCH",
      headers: { "content-type": "application/json", "kong-admin-token": local.env.KONG_ADMIN_TOKEN! },
      body: JSON.stringify({ config: { client_jwk: [partner, referenced] } }),
    });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`seeding the plugin failed: ${res.statusCode}`);
    local.entra.seedKeyCredential(APP_CLIENT_ID, hand.der);
  }, 60_000);

  afterAll(async () => {
    await local?.close();
  });

  it("checks the public members and the referenced secret, adopts, and the next rotation writes its own secret with 0 failed logins", async () => {
    const probe = () => local.kong.probe(local.pluginId, APP_CLIENT_ID);
    expect(await probe()).toMatchObject({ ok: true, kid: hand.x5t });

    const dry = await run("adopt", CREDENTIAL, "--json", "--cert", pem);
    const report = JSON.parse(dry.out) as AdoptReport;
    expect(dry.code, JSON.stringify(report.checks)).toBe(0);
    const lines = report.checks.map((c) => `${c.status}:${c.code}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        "pass:ADOPT_KONG_MATCH",
        "info:ADOPT_KONG_REFERENCES",
        "pass:KONG_VAULT_SECRET",
      ]),
    );
    expect(report.checks.find((c) => c.code === "ADOPT_KONG_REFERENCES")!.message).toContain(
      `azure-kv/${HAND_SECRET}`,
    );
    expect(dry.out).not.toContain(String((hand.jwk as Record<string, string>).d));

    const yes = await run("adopt", CREDENTIAL, "--json", "--cert", pem, "--yes");
    expect(yes.code, yes.out).toBe(0);
    expect(entry().d).toBe(`{vault://azure-kv/${HAND_SECRET}/d}`);
    expect((await run("sync")).code).toBe(0);

    const probes = probeLoop(() => probe(), 200);
    try {
      const r = await run("rotate", CREDENTIAL, "--force", "--reason", "adopted references");
      expect(r.code, r.out + r.err).toBe(0);
    } finally {
      expect(await probes.stop()).toEqual([]);
    }
    const fresh = entry();
    expect(fresh.kid).not.toBe(hand.x5t);
    const own = `kong-jwk-${CREDENTIAL}-${String(fresh.kid).replace(/[^0-9a-zA-Z-]/g, "-")}`;
    for (const m of MEMBERS) expect(fresh[m]).toBe(`{vault://azure-kv/${own}/${m}}`);
    expect(local.keyVault.secret(own)).toMatchObject({ contentType: "application/json", enabled: true });
    // The hand-made secret is not the rotator's: left as it is.
    expect(local.keyVault.secret(HAND_SECRET)!.enabled).toBe(true);
    expect(await probe()).toMatchObject({ ok: true, kid: fresh.kid });
  });
});
