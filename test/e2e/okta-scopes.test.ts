/**
 * Okta with the scope only on the Kong plugin, through the CLI on the local stack: the credential in the
 * documented shape (`okta: {orgUrl, authorizationServer, clientId, token}`, no `okta.scopes`), against a
 * custom authorization server with no default scopes, which refuses a client-credentials request without
 * `scope` (`invalid_scope`), as Okta does.
 * - every proof sends the plugin's config.scopes, read with the plugin, as Kong's own request does, and the
 *   rotation goes through with 0 failed gateway logins;
 * - a scope the authorization server refuses ends verification at once (one token request, not polling
 *   until verifyTimeout) with Okta's answer, a hint and an alert; with the plugin fixed, the next run
 *   completes and the alert resolves;
 * - doctor warns when the plugins of the credential send different scopes (keys are proven with the first);
 * - doctor and activation judge the plugin's client_alg by one rule, the credential's IdP rules (Okta takes
 *   RS256 only): both refuse PS256 with the same code and hint, both accept RS256.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREDENTIAL, OKTA, type LocalStack } from "../../stack/stack.js";
import { runCli } from "../support/cli.js";
import { probeLoop, startE2eStack } from "../support/e2e.js";

interface Alert {
  event: string;
  status: string;
  code?: string;
  message?: string;
  hint?: string;
}

describe("okta: keys are proven with the scopes Kong sends", () => {
  let stack: LocalStack;
  let configPath: string;
  /** The `scope` of every request to the custom authorization server's token endpoint, in order. */
  const sent: (string | null)[] = [];
  const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);
  const alerts = () => stack.webhook.received.map((w) => w.body as Alert);

  const patchPlugin = async (config: Record<string, unknown>) => {
    const res = await request(`${stack.kong.url}/plugins/${stack.pluginId}`, {
      method: "PATCH",
      headers: { "content-type": "application/json", "kong-admin-token": stack.env.KONG_ADMIN_TOKEN! },
      body: JSON.stringify({ config }),
    });
    await res.body.text();
    expect(res.statusCode).toBe(200);
  };
  const setPluginScopes = (scopes: string[]) => patchPlugin({ scopes });

  beforeAll(async () => {
    ({ stack, configPath } = await startE2eStack({ idp: "okta", propagationDelayMs: 800 }));
    stack.okta!.server.hook.set(async (stage, req) => {
      if (
        stage === "before" &&
        req.method === "POST" &&
        req.path === `/oauth2/${OKTA.authorizationServer}/v1/token`
      )
        sent.push(new URLSearchParams(req.body.toString("utf8")).get("scope"));
      return undefined;
    });
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it("the credential names no scopes; the plugin does", () => {
    const credential = (stack.config.credentials as { okta?: Record<string, unknown> }[])[0]!;
    expect(Object.keys(credential.okta ?? {}).sort()).toEqual([
      "authorizationServer",
      "clientId",
      "orgUrl",
      "token",
    ]);
    expect(stack.kong.getPlugin(stack.pluginId)?.config.scopes).toEqual([OKTA.scope]);
  });

  it("bootstraps and rotates with the plugin's scope on every proof, with 0 failed gateway logins", async () => {
    const boot = await cli("rotate", CREDENTIAL);
    expect(boot.code, boot.out + boot.err).toBe(0);
    expect(sent.length).toBeGreaterThan(0);
    expect(new Set(sent)).toEqual(new Set([OKTA.scope]));

    const probes = probeLoop(() => stack.probe());
    try {
      const r = await cli("rotate", CREDENTIAL, "--force", "--reason", "scope from the plugin");
      expect(r.code, r.out + r.err).toBe(0);
    } finally {
      expect(await probes.stop()).toEqual([]);
    }
    expect(new Set(sent)).toEqual(new Set([OKTA.scope]));
    const doctor = await cli("doctor", CREDENTIAL, "--json");
    const checks = (JSON.parse(doctor.out) as { checks: { code: string; status: string; message: string }[] })
      .checks;
    expect(checks.find((c) => c.code === "KONG_SCOPES_OK")).toMatchObject({ status: "pass" });
  }, 120_000);

  it("a scope the authorization server refuses stops verification at once, with Okta's answer, a hint and an alert", async () => {
    const since = alerts().length;
    // Someone adds a scope the authorization server does not have: Kong's own token requests now fail too.
    await setPluginScopes([OKTA.scope, "orders.write"]);
    const before = sent.length;
    let r;
    try {
      r = await cli("rotate", CREDENTIAL, "--force", "--reason", "scope refused");
    } finally {
      await setPluginScopes([OKTA.scope]);
    }
    expect(r.code, r.out + r.err).toBe(1);
    const text = r.out + r.err;
    expect(text).toMatch(/VERIFY_REFUSED/);
    expect(text).toMatch(/invalid_scope/);
    expect(text).toMatch(/One or more scopes are not configured for the authorization server resource/);
    expect(text).toMatch(/config\.scopes/);
    expect(text).not.toMatch(/VERIFY_TIMEOUT/);
    // One token request for the new key, with the plugin's scopes; no polling towards verifyTimeout.
    expect(sent.slice(before)).toEqual([`${OKTA.scope} orders.write`]);
    const firing = alerts()
      .slice(since)
      .filter((a) => a.event === "KeyRotationFailed" && a.status === "firing");
    expect(firing).toHaveLength(1);
    expect(firing[0]).toMatchObject({ code: "VERIFY_REFUSED" });
    expect(firing[0]?.hint).toMatch(/okta\.scopes/);

    // The plugin is back on a scope the server grants: the next run proves the key and activates it.
    const run = await cli("run", CREDENTIAL);
    expect(run.code, run.out + run.err).toBe(0);
    expect(
      alerts()
        .slice(since)
        .some(
          (a) => a.event === "KeyRotationFailed" && a.status === "resolved" && a.code === "VERIFY_REFUSED",
        ),
    ).toBe(true);
    expect((await stack.probe()).ok).toBe(true);
  }, 120_000);

  it("doctor warns when the credential's plugins send different scopes", async () => {
    const seed = stack.kong.getPlugin(stack.pluginId)!;
    const other = stack.kong.addPlugin({
      name: "openid-connect",
      config: { ...seed.config, scopes: ["kong.gateway", "orders.read"] },
    });
    const config = structuredClone(stack.config) as { credentials: { kong: Record<string, unknown>[] }[] };
    const first = config.credentials[0]!.kong[0]!;
    const { pluginTags: _tags, ...rest } = first;
    config.credentials[0]!.kong.push({ ...rest, name: "second", pluginId: other.id });
    const path = join(mkdtempSync(join(tmpdir(), "rotator-okta-scopes-")), "rotator.yaml");
    writeFileSync(path, stringify(config));
    const doctor = await runCli(["doctor", CREDENTIAL, "--json"], path, stack.env);
    const checks = (JSON.parse(doctor.out) as { checks: { code: string; status: string; message: string }[] })
      .checks;
    const differ = checks.find((c) => c.code === "KONG_SCOPES_DIFFER");
    expect(differ).toMatchObject({ status: "warn" });
    expect(differ?.message).toContain(`local/${stack.pluginId}: kong.gateway;`);
    expect(differ?.message).toContain(`second/${other.id}: kong.gateway orders.read`);
    expect(differ?.message).toMatch(/proven with the first \(local\//);
  }, 60_000);

  it("doctor and activation give one answer on client_alg: Okta's rules refuse PS256 in both", async () => {
    type Report = { checks: { code: string; status: string; message: string; hint?: string }[] };
    const doctorCheck = async (code: string) =>
      (JSON.parse((await cli("doctor", CREDENTIAL, "--json")).out) as Report).checks.find(
        (c) => c.code === code,
      );
    // client_alg is parallel to client_id and falls back to its first entry: PS256 for every client.
    await patchPlugin({ client_alg: ["PS256"] });
    let rotation;
    let refused;
    try {
      refused = await doctorCheck("KONG_CLIENT_ALG_INCOMPATIBLE");
      rotation = await cli("rotate", CREDENTIAL, "--force", "--reason", "client_alg PS256");
    } finally {
      await patchPlugin({ client_alg: ["RS256"] });
    }
    expect(refused).toMatchObject({ status: "fail" });
    expect(refused?.hint).toMatch(/to RS256 \(or remove client_alg\)/);
    expect(rotation.code, rotation.out + rotation.err).toBe(1);
    const text = rotation.out + rotation.err;
    expect(text).toMatch(/KONG_CLIENT_ALG_INCOMPATIBLE/);
    expect(text).toContain(refused?.hint);
    // RS256: doctor passes the plugin and the next run activates the verified key.
    expect(await doctorCheck("KONG_CLIENT_OK")).toMatchObject({ status: "pass" });
    expect(await doctorCheck("KONG_CLIENT_ALG_INCOMPATIBLE")).toBeUndefined();
    const run = await cli("run", CREDENTIAL);
    expect(run.code, run.out + run.err).toBe(0);
    expect((await stack.probe()).ok).toBe(true);
  }, 120_000);
});
