/**
 * Vault-reference mode end to end on the local stack, through the CLI (README "Vault-reference mode"):
 * - two forced rotations with 0 failed gateway logins, the probe resolving `{vault://...}` references
 *   through the Kong fake's Azure vault with Kong's own identity;
 * - no private JWK member value appears in any request body the Kong fake received;
 * - per generation: the secret is written, read back, then the plugin is written;
 * - retiring a generation disables its secret, never the active one's;
 * - a secret the rotator cannot read stops the activation with an alert, and the old key keeps working.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { START_TIMEOUT_MS } from "../../stack/azurite.js";
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
const doctorLines = (out: string) =>
  (JSON.parse(out) as { checks: { code: string; status: string }[] }).checks.map(
    (c) => `${c.status}:${c.code}`,
  );
/** The stack's config with its (only) Kong target changed. */
function configWith(s: LocalStack, change: (target: Record<string, unknown>) => void): string {
  const doc = parse(s.configYaml()) as { credentials: { kong: Record<string, unknown>[] }[] };
  change(doc.credentials[0]!.kong[0]!);
  return stringify(doc);
}
const secretName = (x5t: string) => `kong-jwk-${CREDENTIAL}-${x5t.replace(/[^0-9a-zA-Z-]/g, "-")}`;

beforeAll(async () => {
  ({ stack, configPath } = await startE2eStack({ vaultReference: true }));
  stack.kong.hook.set(async (stage, req) => {
    if (stage === "before") kongBodies.push(req.body.toString("utf8"));
    return undefined;
  });
}, START_TIMEOUT_MS + 60_000);

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

  it("doctor checks the vault entity and the referenced secret, and finds no inline private key", async () => {
    const r = await cli("doctor", "--json");
    const lines = doctorLines(r.out);
    expect(lines).toEqual(
      expect.arrayContaining([
        "info:KONG_VAULT_REFERENCE",
        "info:KONG_VAULT_READER",
        "pass:KONG_VAULT_ENTITY",
        "pass:KONG_VAULT_SECRET",
        // The local stack's default keeps the reference secrets next to the certificates.
        "warn:KONG_VAULT_SHARES_CERTIFICATES",
      ]),
    );
    expect(lines.filter((l) => l.includes("KONG_JWK_INLINE") || l.startsWith("fail:"))).toEqual([]);
    const secret = (JSON.parse(r.out) as { checks: { code: string; message: string }[] }).checks.find(
      (c) => c.code === "KONG_VAULT_SECRET",
    )!;
    expect(secret.message).toContain(secretName(String(ourJwk().kid)));
  });

  it("doctor fails on a prefix Kong has no vault entity for, and on a secret that is gone", async () => {
    const other = join(mkdtempSync(join(tmpdir(), "rotator-vault-")), "rotator.yaml");
    writeFileSync(
      other,
      configWith(stack, (t) => ((t.vaultReference as { prefix: string }).prefix = "no-such-vault")),
    );
    const missing = await runCli(["doctor", "--json"], other, stack.env);
    expect(missing.code).toBe(1);
    expect(doctorLines(missing.out)).toEqual(
      expect.arrayContaining(["fail:KONG_VAULT_ENTITY_MISSING", "warn:KONG_VAULT_PREFIX_OTHER"]),
    );
    const active = secretName(String(ourJwk().kid));
    const value = stack.keyVault.secret(active)!.value;
    stack.keyVault.putSecret(active, JSON.stringify({ d: "x" }), "application/json");
    try {
      const invalid = await cli("doctor", "--json");
      expect(doctorLines(invalid.out)).toContain("fail:KONG_VAULT_SECRET_INVALID");
      expect(invalid.out).not.toContain(value.slice(10, 40));
    } finally {
      stack.keyVault.putSecret(active, value, "application/json");
    }
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
  }, START_TIMEOUT_MS + 60_000);
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
    // The vault entity is read from the control plane, or from every DB-less node (each has its own).
    const doctor = doctorLines((await run("doctor", "--json")).out);
    expect(doctor.filter((l) => l === "pass:KONG_VAULT_ENTITY")).toHaveLength(kongMode === "dbless" ? 2 : 1);
    expect(doctor).toContain("pass:KONG_VAULT_SECRET");
  });
});

describe("vault-reference mode with a vault of its own for the reference secrets", () => {
  let local: LocalStack;
  let path: string;
  beforeAll(async () => {
    ({ stack: local, configPath: path } = await startE2eStack({
      vaultReference: true,
      referenceVault: true,
    }));
  }, START_TIMEOUT_MS + 60_000);
  afterAll(async () => {
    await local?.close();
  });

  it("writes the secrets to vaultReference.keyVaultUrl only, with 0 failed logins, and doctor has no warning about it", async () => {
    const run = (...argv: string[]) => runCli(argv, path, local.env);
    const boot = await run("rotate", CREDENTIAL);
    expect(boot.code, boot.out + boot.err).toBe(0);
    const probes = probeLoop(() => local.probe(), 200);
    try {
      const r = await run("rotate", CREDENTIAL, "--force", "--reason", "own vault");
      expect(r.code, r.out + r.err).toBe(0);
    } finally {
      expect(await probes.stop()).toEqual([]);
    }
    const refs = local.referenceKeyVault!;
    const jwk = (local.kong.getPlugin(local.pluginId)!.config.client_jwk as Record<string, unknown>[])[1]!;
    const active = secretName(String(jwk.kid));
    expect(refs.secretNames().filter((n) => n.startsWith("kong-jwk-"))).toHaveLength(2);
    expect(refs.secret(active)).toMatchObject({ contentType: "application/json", enabled: true });
    expect(local.keyVault.secretNames().filter((n) => n.startsWith("kong-jwk-"))).toEqual([]);
    const doctor = await run("doctor", "--json");
    const lines = doctorLines(doctor.out);
    expect(lines).toEqual(expect.arrayContaining(["pass:KONG_VAULT_ENTITY", "pass:KONG_VAULT_SECRET"]));
    expect(lines).not.toContain("warn:KONG_VAULT_SHARES_CERTIFICATES");
  });
});

describe("switching a target from inline keys to vault references (docs/migration.md)", () => {
  let local: LocalStack;
  let inline: string;
  let referenced: string;
  beforeAll(async () => {
    let refPath: string;
    ({ stack: local, configPath: refPath } = await startE2eStack({ vaultReference: true }));
    referenced = refPath;
    inline = join(mkdtempSync(join(tmpdir(), "rotator-vault-")), "rotator.yaml");
    writeFileSync(
      inline,
      configWith(local, (t) => delete t.vaultReference),
    );
  }, START_TIMEOUT_MS + 60_000);
  afterAll(async () => {
    await local?.close();
  });
  const jwk = () =>
    (local.kong.getPlugin(local.pluginId)!.config.client_jwk as Record<string, unknown>[])[1]!;

  it("leaves the inline key alone until the next activation, which moves it to references with 0 failed logins", async () => {
    const boot = await runCli(["rotate", CREDENTIAL], inline, local.env);
    expect(boot.code, boot.out + boot.err).toBe(0);
    const before = jwk();
    expect(KongVaultsRef.test(String(before.d))).toBe(false);

    const probes = probeLoop(() => local.probe(), 200);
    try {
      // Switched config: the active key is inline. That is no drift (sync compares kids), so nothing is written.
      const writes = local.kong.requests.filter((r) => r.method !== "GET").length;
      const sync = await runCli(["sync", CREDENTIAL], referenced, local.env);
      expect(sync.code, sync.out + sync.err).toBe(0);
      expect(local.kong.requests.filter((r) => r.method !== "GET").length).toBe(writes);
      expect(jwk()).toEqual(before);
      const doctor = await runCli(["doctor", "--json"], referenced, local.env);
      expect(doctorLines(doctor.out)).toEqual(
        expect.arrayContaining(["warn:KONG_JWK_INLINE", "pass:KONG_VAULT_ENTITY"]),
      );

      const r = await runCli(
        ["rotate", CREDENTIAL, "--force", "--reason", "move to references"],
        referenced,
        local.env,
      );
      expect(r.code, r.out + r.err).toBe(0);
    } finally {
      expect(await probes.stop()).toEqual([]);
    }
    const after = jwk();
    expect(after.kid).not.toBe(before.kid);
    for (const m of MEMBERS)
      expect(after[m]).toBe(`{vault://azure-kv/${secretName(String(after.kid))}/${m}}`);
    // The previous generation was never referenced: no secret of its own exists.
    expect(local.keyVault.secretNames().filter((n) => n.startsWith("kong-jwk-"))).toEqual([
      secretName(String(after.kid)),
    ]);
    expect((await local.probe()).ok).toBe(true);
  });
});

const KongVaultsRef = /^\{vault:\/\//;
