/**
 * Vault-reference mode end to end on Konnect and KIC targets (README "Vault-reference mode"), through the CLI:
 * - two forced rotations with 0 failed gateway logins, each Konnect node / KIC proxy pod resolving the
 *   `{vault://...}` references itself, with Kong's own identity (the vault entity on the control plane, or a
 *   `KongVault`; the secret in the gateway's environment);
 * - no private JWK member value in any request body the Konnect fake / Kubernetes API server received (for
 *   KIC the Secret's base64 `data` decoded too), and the KIC Secret holds references only;
 * - doctor finds the vault entity (Konnect's, or the KongVault KIC makes one of) and the referenced secret;
 * - a reference the gateways cannot read (Kong's identity refused by Key Vault) fails their logins, while the
 *   same secret's content under a readable name passes: the probe really reads Key Vault.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREDENTIAL, KIC, type LocalStack } from "../../stack/stack.js";
import type { ProbeResult } from "../../stack/kong/probe.js";
import { runCli } from "../support/cli.js";
import { probeLoop, startE2eStack } from "../support/e2e.js";

const MEMBERS = ["d", "p", "q", "dp", "dq", "qi"] as const;
const secretName = (x5t: string) => `kong-jwk-${CREDENTIAL}-${x5t.replace(/[^0-9a-zA-Z-]/g, "-")}`;
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A request body as text, with every base64 Secret `data` value of a JSON body decoded and appended. */
function bodyText(raw: Buffer): string {
  const text = raw.toString("utf8");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  const data = isRecord(parsed) && isRecord(parsed.data) ? Object.values(parsed.data) : [];
  const decoded = data.filter((v): v is string => typeof v === "string").map((v) => Buffer.from(v, "base64"));
  return [text, ...decoded.map((b) => b.toString("utf8"))].join("\n");
}

describe.each(["konnect", "kubernetes"] as const)("vault-reference mode, %s", (kongMode) => {
  let local: LocalStack;
  let path: string;
  const bodies: string[] = [];
  const run = (...argv: string[]) => runCli(argv, path, local.env);
  const jwks = (): Record<string, unknown>[] =>
    kongMode === "konnect"
      ? (local.konnect!.getPlugin(local.pluginId)!.config as { client_jwk: Record<string, unknown>[] })
          .client_jwk
      : (JSON.parse(local.kubernetes!.secretValue(KIC.namespace, KIC.secret, KIC.key)!) as Record<
          string,
          unknown
        >[]);
  const fetches = () =>
    kongMode === "konnect" ? local.konnect!.vaultFetches() : local.kubernetes!.vaultFetches();
  /** The gateway login with a copy of the plugin whose JWK for our client is `jwk`, on every live gateway. */
  async function probeWith(jwk: Record<string, unknown>, label: string): Promise<ProbeResult> {
    if (kongMode === "konnect") {
      const k = local.konnect!;
      const config = structuredClone(k.getPlugin(local.pluginId)!.config as Record<string, unknown>);
      (config.client_jwk as Record<string, unknown>[])[1] = jwk;
      const { id } = k.addPlugin({ name: "openid-connect", config });
      return k.probe(id, local.clientId);
    }
    const k8s = local.kubernetes!;
    const config = structuredClone(k8s.pods[0]!.pluginConfig(KIC.plugin)!);
    const list = config.client_jwk as Record<string, unknown>[];
    list[1] = jwk;
    delete config.client_jwk;
    k8s.addSecret(KIC.namespace, `${label}-jwk`, { [KIC.key]: JSON.stringify(list) });
    k8s.addKongPlugin({
      name: label,
      namespace: KIC.namespace,
      plugin: "openid-connect",
      config,
      configPatches: [
        { path: "/client_jwk", valueFrom: { secretKeyRef: { name: `${label}-jwk`, key: KIC.key } } },
      ],
    });
    k8s.syncNow();
    // The slowest pod applies a push after its lag (300 ms in the stack).
    await new Promise((r) => setTimeout(r, 600));
    let last: ProbeResult = { ok: false, status: 0, error: "no ready pod" };
    for (const pod of k8s.pods.filter((p) => p.name !== "dp-retired")) {
      last = await pod.probe(label, local.clientId);
      if (!last.ok) return last;
    }
    return last;
  }

  beforeAll(async () => {
    ({ stack: local, configPath: path } = await startE2eStack({ vaultReference: true, kongMode }));
    (local.konnect ?? local.kubernetes)!.hook.set(async (stage, req) => {
      if (stage === "before") bodies.push(bodyText(req.body));
      return undefined;
    });
  }, 60_000);
  afterAll(async () => {
    await local?.close();
  });

  it("rotates twice with 0 failed logins, the gateways resolving the references, and no private member is ever sent", async () => {
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

    const jwk = jwks()[1]!;
    const name = secretName(String(jwk.kid));
    for (const m of MEMBERS) expect(jwk[m]).toBe(`{vault://azure-kv/${name}/${m}}`);
    const names = local.keyVault.secretNames().filter((n) => n.startsWith("kong-jwk-"));
    expect(names).toHaveLength(3);
    const values = names.flatMap((n) => Object.values(JSON.parse(local.keyVault.secret(n)!.value) as object));
    expect(values.every((v) => typeof v === "string" && v.length >= 20)).toBe(true);

    // The scan sees the writes (the references and the kid are there), never a private value.
    const all = bodies.join("\n");
    expect(all).toContain(`{vault://azure-kv/${name}/d}`);
    expect(all).toContain(String(jwk.kid));
    for (const v of values) expect(all).not.toContain(v);
    if (kongMode === "kubernetes") {
      const content = local.kubernetes!.secretValue(KIC.namespace, KIC.secret, KIC.key)!;
      for (const v of values) expect(content).not.toContain(v);
    }

    // Every live gateway runs the new kid; a resolved reference is cached (ttl 0): probing again reads nothing.
    const kids = Object.entries(local.gatewayKids()).filter(([gw]) => gw !== "dp-retired");
    expect(kids.map(([, kid]) => kid)).toEqual(kids.map(() => jwk.kid));
    expect((await local.probe()).ok).toBe(true);
    const read = fetches();
    expect(read).toBeGreaterThanOrEqual(3 * MEMBERS.length);
    expect((await local.probe()).ok).toBe(true);
    expect(fetches()).toBe(read);
  });

  it("doctor checks the vault (Konnect's entity, KIC's KongVault) and the referenced secret", async () => {
    const r = await run("doctor", "--json");
    const lines = (JSON.parse(r.out) as { checks: { code: string; status: string }[] }).checks.map(
      (c) => `${c.status}:${c.code}`,
    );
    expect(lines).toEqual(
      expect.arrayContaining([
        "pass:KONG_VAULT_SECRET",
        "pass:KONG_VAULT_ENTITY",
        ...(kongMode === "konnect" ? ["warn:KONG_VAULT_DEDICATED_CLOUD"] : []),
      ]),
    );
    expect(lines.filter((l) => l.includes("KONG_JWK_INLINE") || l.startsWith("fail:"))).toEqual([]);
  });

  it("fails the gateways' logins on a reference Kong's identity cannot read, and passes with the same content readable", async () => {
    const active = jwks()[1]!;
    const content = local.keyVault.secret(secretName(String(active.kid)))!.value;
    const refsTo = (secret: string) => ({
      ...active,
      ...Object.fromEntries(MEMBERS.map((m) => [m, `{vault://azure-kv/${secret}/${m}}`])),
    });

    local.keyVault.putSecret("kong-jwk-readable-copy", content, "application/json");
    const readable = await probeWith(refsTo("kong-jwk-readable-copy"), "probe-readable");
    expect(readable.ok, readable.error).toBe(true);

    local.keyVault.putSecret("kong-jwk-refused-copy", content, "application/json");
    local.keyVault.deny("Microsoft.KeyVault/vaults/secrets/getSecret");
    try {
      const refused = await probeWith(refsTo("kong-jwk-refused-copy"), "probe-refused");
      expect(refused.ok).toBe(false);
      expect(refused.error).toMatch(/unable to encode JWT/);
    } finally {
      local.keyVault.allowAll();
    }

    const missing = await probeWith(refsTo("kong-jwk-no-such-secret"), "probe-missing");
    expect(missing.ok).toBe(false);
    expect(missing.error).toMatch(/unable to encode JWT/);
  });
});
