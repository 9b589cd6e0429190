/**
 * Vault-reference mode end to end on the local stack, through the CLI (README "Vault-reference mode"):
 * - two forced rotations with 0 failed gateway logins, the probe resolving `{vault://...}` references
 *   through the Kong fake's Azure vault with Kong's own identity;
 * - no private JWK member value appears in any request body the Kong fake received;
 * - per generation: the secret is written, read back, then the plugin is written;
 * - retiring a generation disables its secret, never the active one's;
 * - a secret the rotator cannot read stops the activation with an alert, and the old key keeps working.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_CLIENT_ID, CREDENTIAL, type LocalStack } from "../../stack/stack.js";
import { runCli } from "../support/cli.js";
import { probeLoop, startE2eStack } from "../support/e2e.js";

const MEMBERS = ["d", "p", "q", "dp", "dq", "qi"] as const;
let stack: LocalStack;
let configPath: string;
const kongBodies: string[] = [];

const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);
const ourJwk = () =>
  (stack.kong.getPlugin(stack.pluginId)!.config.client_jwk as Record<string, unknown>[])[1]!;
const secretName = (x5t: string) => `kong-jwk-${CREDENTIAL}-${x5t.replace(/[^0-9a-zA-Z-]/g, "-")}`;

beforeAll(async () => {
  ({ stack, configPath } = await startE2eStack({ vaultReference: true }));
  stack.kong.hook.set(async (stage, req) => {
    if (stage === "before") kongBodies.push(req.body.toString("utf8"));
    return undefined;
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe("vault-reference mode", () => {
  it("rotates twice with 0 failed logins and never sends a private JWK member to Kong", async () => {
    const boot = await cli("rotate", CREDENTIAL);
    expect(boot.code, boot.out + boot.err).toBe(0);
    expect((await stack.kong.probe(stack.pluginId, APP_CLIENT_ID)).ok).toBe(true);
    const probes = probeLoop(() => stack.kong.probe(stack.pluginId, APP_CLIENT_ID), 200);
    try {
      for (let i = 0; i < 2; i++) {
        const r = await cli("rotate", CREDENTIAL, "--force", "--reason", `vault e2e ${i}`);
        expect(r.code, r.out + r.err).toBe(0);
      }
    } finally {
      expect(await probes.stop()).toEqual([]);
    }

    const jwk = ourJwk();
    const name = secretName(String(jwk.kid));
    for (const m of MEMBERS) expect(jwk[m]).toBe(`{vault://azure-kv/${name}/${m}}`);

    const names = stack.keyVault.secretNames().filter((n) => n.startsWith("kong-jwk-"));
    expect(names).toHaveLength(3);
    const values: string[] = [];
    for (const n of names) {
      const s = stack.keyVault.secret(n)!;
      expect(s.contentType).toBe("application/json");
      const members = JSON.parse(s.value) as Record<string, string>;
      expect(Object.keys(members).sort()).toEqual([...MEMBERS].sort());
      values.push(...Object.values(members));
    }
    expect(values.every((v) => v.length >= 20)).toBe(true);
    // The scan sees the writes: the references and the kid are in the bodies, the private values are not.
    const all = kongBodies.join("\n");
    expect(all).toContain(`{vault://azure-kv/${name}/d}`);
    expect(all).toContain(String(jwk.kid));
    for (const v of values) expect(all).not.toContain(v);
    // Kong read each generation's references once each (cache keyed by the reference string, ttl 0).
    expect((await stack.kong.probe(stack.pluginId, APP_CLIENT_ID)).ok).toBe(true);
    expect(stack.kong.vaultFetches()).toBe(3 * MEMBERS.length);
    expect((await stack.kong.probe(stack.pluginId, APP_CLIENT_ID)).ok).toBe(true);
    expect(stack.kong.vaultFetches()).toBe(3 * MEMBERS.length);
  });

  it("resolves a reference Kong cannot fetch to an empty string, so that gateway's logins fail", async () => {
    const config = structuredClone(stack.kong.getPlugin(stack.pluginId)!.config);
    const jwks = config.client_jwk as Record<string, unknown>[];
    jwks[1] = { ...jwks[1], d: "{vault://azure-kv/kong-jwk-missing/d}" };
    const { id } = stack.kong.addPlugin({ name: "openid-connect", config });
    const p = await stack.kong.probe(id, APP_CLIENT_ID);
    expect(p.ok).toBe(false);
    expect(p.error).toMatch(/unable to encode JWT/);
  });

  it("doctor describes the mode and finds no inline private key", async () => {
    const r = await cli("doctor", "--json");
    const codes = (JSON.parse(r.out) as { checks: { code: string }[] }).checks.map((c) => c.code);
    expect(codes).toContain("KONG_VAULT_REFERENCE");
    expect(codes).not.toContain("KONG_JWK_INLINE");
  });

  it("writes the secret, reads it back, then writes the plugin", () => {
    const name = secretName(String(ourJwk().kid));
    const kv = stack.keyVault.requests.filter((r) => r.path.split("?")[0]!.startsWith(`/secrets/${name}`));
    const put = kv.find((r) => r.method === "PUT" && r.status === 200)!;
    const readBack = kv.find((r) => r.method === "GET" && r.status === 200 && r.time >= put.time)!;
    expect(put).toBeDefined();
    expect(readBack).toBeDefined();
    const writes = stack.kong.requests.filter((r) => r.method === "PATCH" && r.time >= put.time);
    expect(writes.length).toBeGreaterThan(0);
    expect(writes[0]!.time).toBeGreaterThanOrEqual(readBack.time);
  });

  it("disables a retired generation's secret and keeps the active one", async () => {
    await new Promise((r) => setTimeout(r, 3500));
    const run = await cli("run");
    expect(run.code, run.out + run.err).toBe(0);
    expect(run.out).toMatch(/reference secret\(s\) kong-jwk-/);
    const active = secretName(String(ourJwk().kid));
    const names = stack.keyVault.secretNames().filter((n) => n.startsWith("kong-jwk-"));
    for (const n of names) expect([n, stack.keyVault.secret(n)!.enabled]).toEqual([n, n === active]);
    expect((await stack.kong.probe(stack.pluginId, APP_CLIENT_ID)).ok).toBe(true);
  });

  it("stops the activation with an alert when the secret cannot be read, and the old key keeps working", async () => {
    const before = ourJwk();
    const alertsBefore = stack.webhook.received.length;
    // Reads of new reference secrets are refused (a role scoped to other secrets); Kong's cached reads
    // of the active secret are unaffected.
    stack.keyVault.faults.add({
      method: "GET",
      path: /^\/secrets\/kong-jwk-/,
      times: Infinity,
      fault: {
        kind: "status",
        status: 403,
        body: {
          error: {
            code: "Forbidden",
            message: "Caller is not authorized to perform action on resource.",
            innererror: { code: "ForbiddenByRbac" },
          },
        },
      },
    });
    try {
      const r = await cli("rotate", CREDENTIAL, "--force", "--reason", "unreadable secret");
      expect(r.code).not.toBe(0);
      expect(r.out + r.err).toMatch(/KV_FORBIDDEN/);
      expect(ourJwk()).toEqual(before);
      expect((await stack.kong.probe(stack.pluginId, APP_CLIENT_ID)).ok).toBe(true);
      const alerts = stack.webhook.received.slice(alertsBefore).map((w) => JSON.stringify(w.body));
      expect(alerts.some((a) => a.includes("KeyRotationFailed") && a.includes("KV_FORBIDDEN"))).toBe(true);
    } finally {
      stack.keyVault.faults.clear();
    }
    // Once readable, the next run finishes the activation.
    const again = await cli("run");
    expect(again.code, again.out + again.err).toBe(0);
    expect(ourJwk().kid).not.toBe(before.kid);
    expect((await stack.kong.probe(stack.pluginId, APP_CLIENT_ID)).ok).toBe(true);
  });
});

describe.each(["hybrid", "dbless"] as const)("vault-reference mode, %s", (kongMode) => {
  let local: LocalStack;
  let path: string;
  beforeAll(async () => {
    ({ stack: local, configPath: path } = await startE2eStack({ vaultReference: true, kongMode }));
  }, 60_000);
  afterAll(async () => {
    await local?.close();
  });

  it("rotates twice with 0 failed logins on every gateway, which hold references only", async () => {
    const run = (...argv: string[]) => runCli(argv, path, local.env);
    const boot = await run("rotate", CREDENTIAL);
    expect(boot.code, boot.out + boot.err).toBe(0);
    const probes = probeLoop(() => local.probe(), 200);
    try {
      for (let i = 0; i < 2; i++) {
        const r = await run("rotate", CREDENTIAL, "--force", "--reason", `vault ${kongMode} ${i}`);
        expect(r.code, r.out + r.err).toBe(0);
      }
    } finally {
      expect(await probes.stop()).toEqual([]);
    }
    const jwk = (local.kong.getPlugin(local.pluginId)!.config.client_jwk as Record<string, unknown>[])[1]!;
    for (const m of MEMBERS) expect(jwk[m]).toBe(`{vault://azure-kv/${secretName(String(jwk.kid))}/${m}}`);
    expect((await local.probe()).ok).toBe(true);
  });
});
