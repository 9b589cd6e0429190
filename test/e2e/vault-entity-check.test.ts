/**
 * Vault-reference mode end to end on the local stack: the rotator never points Kong at a vault it does not
 * have (issue 17, item 3). Before the write that puts `{vault://<prefix>/…}` references into the plugin, it
 * reads Kong's vault entity where the gateways look and refuses, with the rule doctor uses:
 * - Admin API: a prefix Kong has no vault entity for (a typo), and a vault entity whose vault_uri names
 *   another Key Vault (the certificates' vault, while the reference secrets go to a vault of their own);
 * - KIC: a KongVault that is not Programmed.
 * Each refusal: the run fails with the code, an alert carries it, nothing is written to Kong (the fakes'
 * request logs), the gateways keep the current key with 0 failed logins; with the config fixed, the next
 * run completes the activation.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  APP_CLIENT_ID,
  CREDENTIAL,
  KONG_IDENTITY_CLIENT_ID,
  TENANT_ID,
  type LocalStack,
} from "../../stack/stack.js";
import { runCli } from "../support/cli.js";
import { probeLoop, startE2eStack } from "../support/e2e.js";

/** The stack's config with the target's vaultReference.prefix changed, in a file of its own. */
function withPrefix(s: LocalStack, prefix: string): string {
  const doc = parse(s.configYaml()) as {
    credentials: { kong: { vaultReference: { prefix: string } }[] }[];
  };
  doc.credentials[0]!.kong[0]!.vaultReference.prefix = prefix;
  const path = join(mkdtempSync(join(tmpdir(), "rotator-vault-entity-")), "rotator.yaml");
  writeFileSync(path, stringify(doc));
  return path;
}

const alertsSince = (s: LocalStack, n: number) =>
  s.webhook.received.slice(n).map((w) => JSON.stringify(w.body));

describe("vault references: Kong's vault entity is checked before the plugin is switched (Admin API)", () => {
  let stack: LocalStack;
  let configPath: string;
  const run = (config: string, ...argv: string[]) => runCli(argv, config, stack.env);
  const kongWrites = () => stack.kong.requests.filter((r) => r.method !== "GET");
  const ourJwk = () =>
    (stack.kong.getPlugin(stack.pluginId)!.config.client_jwk as Record<string, unknown>[])[1]!;

  beforeAll(async () => {
    // The reference secrets go to a vault of their own (vaultReference.keyVaultUrl).
    ({ stack, configPath } = await startE2eStack({ vaultReference: true, referenceVault: true }));
    // A vault entity reading the certificates' vault instead: Kong would look for the secrets there.
    stack.kong.addVault({
      prefix: "certs-kv",
      vaultUri: stack.keyVault.url,
      tenantId: TENANT_ID,
      clientId: KONG_IDENTITY_CLIENT_ID,
      authorityHost: stack.entra.authorityHost,
    });
    const boot = await run(configPath, "rotate", CREDENTIAL);
    expect(boot.code, boot.out + boot.err).toBe(0);
  }, 90_000);
  afterAll(async () => {
    await stack?.close();
  });

  it.each([
    ["a prefix Kong has no vault entity for", "no-such-kv", "KONG_VAULT_ENTITY_MISSING"],
    ["a vault entity whose vault_uri names another Key Vault", "certs-kv", "KONG_VAULT_URI_MISMATCH"],
  ])(
    "%s (prefix %s): refused with %s, an alert, no Kong write, 0 failed logins",
    async (_what, prefix, code) => {
      const wrong = withPrefix(stack, prefix);
      const before = ourJwk();
      const writes = kongWrites().length;
      const alerts = stack.webhook.received.length;
      const probes = probeLoop(() => stack.probe(), 200);
      try {
        const r = await run(wrong, "rotate", CREDENTIAL, "--force", "--reason", `vault ${prefix}`);
        expect(r.code).not.toBe(0);
        expect(r.out + r.err).toContain(code);
        expect(kongWrites()).toHaveLength(writes);
        expect(ourJwk()).toEqual(before);
        expect(
          alertsSince(stack, alerts).some((a) => a.includes("KeyRotationFailed") && a.includes(code)),
        ).toBe(true);
        // doctor reports the same rule as a failure.
        const doctor = await run(wrong, "doctor", "--json");
        const lines = (JSON.parse(doctor.out) as { checks: { code: string; status: string }[] }).checks;
        expect(lines).toContainEqual(expect.objectContaining({ code, status: "fail" }));

        // With the configured prefix the next run activates the verified generation.
        const fixed = await run(configPath, "run");
        expect(fixed.code, fixed.out + fixed.err).toBe(0);
        expect(ourJwk().kid).not.toBe(before.kid);
        expect(String(ourJwk().d)).toMatch(/^\{vault:\/\/azure-kv\//);
      } finally {
        expect(await probes.stop()).toEqual([]);
      }
      expect((await stack.kong.probe(stack.pluginId, APP_CLIENT_ID)).ok).toBe(true);
    },
  );
});

describe("vault references on KIC: a KongVault that is not Programmed", () => {
  let stack: LocalStack;
  let configPath: string;

  beforeAll(async () => {
    ({ stack, configPath } = await startE2eStack({ vaultReference: true, kongMode: "kubernetes" }));
    stack.kubernetes!.addKongVault({
      name: "broken-kv",
      backend: "azure",
      prefix: "broken-kv",
      config: { vault_uri: stack.keyVault.url, tenant_id: TENANT_ID, client_id: KONG_IDENTITY_CLIENT_ID },
      invalid: "vault config failed schema validation",
    });
  }, 90_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("refuses with KONG_VAULT_NOT_APPLIED and never writes the Secret; the gateways keep the key", async () => {
    const run = (config: string, ...argv: string[]) => runCli(argv, config, stack.env);
    const boot = await run(configPath, "rotate", CREDENTIAL);
    expect(boot.code, boot.out + boot.err).toBe(0);
    const k8s = stack.kubernetes!;
    const patches = () => k8s.requests.filter((r) => r.method === "PATCH").length;
    const before = patches();
    const kids = stack.gatewayKids();
    const alerts = stack.webhook.received.length;
    const probes = probeLoop(() => stack.probe(), 200);
    try {
      const r = await run(withPrefix(stack, "broken-kv"), "rotate", CREDENTIAL, "--force", "--reason", "kic");
      expect(r.code).not.toBe(0);
      expect(r.out + r.err).toContain("KONG_VAULT_NOT_APPLIED");
      expect(patches()).toBe(before);
      expect(stack.gatewayKids()).toEqual(kids);
      expect(
        alertsSince(stack, alerts).some(
          (a) => a.includes("KeyRotationFailed") && a.includes("KONG_VAULT_NOT_APPLIED"),
        ),
      ).toBe(true);
    } finally {
      expect(await probes.stop()).toEqual([]);
    }
  });
});
