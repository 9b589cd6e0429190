/** doctor's deployment lines: gateways and their sync state, permissions, the multi-client JWK fix. */
import { describe, expect, it } from "vitest";
import { deploymentChecks, hasMultiClientFix, vaultReferenceChecks } from "../../src/app/doctor-kong.js";
import { diagnosePlugin } from "../../src/adapters/kong/plugin.js";
import type { CredentialConfig } from "../../src/config/load.js";
import type { KongDiagnosis } from "../../src/ports.js";

const plugin = (clients: number) => ({ pluginId: "p1", name: "openid-connect", clientIndex: 0, clients });

describe("the multi-client JWK signing fix", () => {
  it.each([
    ["3.10.0.15", false],
    ["3.10.0.16", true],
    ["3.11.0.3", false],
    ["3.12.0.8", false],
    ["3.12.0.9", true],
    ["3.13.0.8", true],
    ["3.14.0.8", false],
    ["3.14.0.9", true],
    ["3.15.0.0", false],
    ["3.15.0.1", true],
    ["3.16.0.0", true],
    ["3.4.3.5", false],
    ["dev", undefined],
  ] as const)("%s → %s", (v, fixed) => {
    expect(hasMultiClientFix(v)).toBe(fixed);
  });

  it("warns for a plugin with several clients on an old data plane, not for one client", () => {
    const d: KongDiagnosis = {
      kind: "hybrid",
      node: { version: "3.12.0.9", role: "control_plane" },
      plugins: [plugin(2)],
      gateways: [
        { name: "dp-1", live: true, version: "3.12.0.3", configHash: "a" },
        { name: "dp-old", live: false, version: "3.4.0.0", configHash: "b" },
      ],
    };
    const warn = deploymentChecks(d).find((c) => c.code === "KONG_MULTI_CLIENT_JWK");
    expect(warn?.status).toBe("warn");
    expect(warn?.message).toMatch(/3\.12\.0\.3/);
    expect(warn?.message).not.toMatch(/3\.4\.0\.0/);
    expect(deploymentChecks({ ...d, plugins: [plugin(1)] }).map((c) => c.code)).not.toContain(
      "KONG_MULTI_CLIENT_JWK",
    );
  });
});

describe("gateways", () => {
  it("lists live gateways, ignores stale rows, and warns when they are not on one config", () => {
    const d: KongDiagnosis = {
      kind: "konnect",
      node: { role: "konnect" },
      plugins: [plugin(1)],
      gateways: [
        { name: "n1", live: true, inSync: true, configHash: "aaaa" },
        { name: "n2", live: true, inSync: false, configHash: "bbbb" },
        { name: "gone", live: false, configHash: "cccc" },
      ],
    };
    const lines = deploymentChecks(d);
    expect(lines.find((c) => c.code === "KONG_GATEWAYS")).toMatchObject({
      status: "pass",
      message: expect.stringMatching(/2 live node\(s\): n1, n2; ignored \(not seen recently\): gone/),
    });
    expect(lines.find((c) => c.code === "KONG_GATEWAYS_OUT_OF_SYNC")?.message).toMatch(/n2/);
    expect(lines.find((c) => c.code === "KONG_WRITE_PERMISSION")?.message).toMatch(/system-account token/);
  });

  it("an unreadable DB-less node warns with its error", () => {
    const lines = deploymentChecks({
      kind: "dbless",
      node: { database: "off" },
      plugins: [plugin(1)],
      gateways: [
        { name: "edge-1:8444", live: true, configHash: "a" },
        { name: "edge-2:8444", live: false, error: "KONG_UNAVAILABLE" },
      ],
    });
    expect(lines.find((c) => c.code === "KONG_GATEWAYS")).toMatchObject({
      status: "warn",
      message: expect.stringMatching(/unreadable: edge-2:8444 \(KONG_UNAVAILABLE\)/),
    });
  });
});

describe("vault-reference mode lines", () => {
  const cred = (withRef: boolean) =>
    ({
      name: "orders-api",
      kong: [
        {
          name: "t",
          adminUrl: "https://kong.example",
          ...(withRef ? { vaultReference: { prefix: "azure-kv", secretPrefix: "kong-jwk-" } } : {}),
        },
      ],
    }) as unknown as CredentialConfig;
  const diag = (kind: KongDiagnosis["kind"], jwkPrivate: "reference" | "inline" | "none"): KongDiagnosis => ({
    kind,
    node: {},
    plugins: [{ ...plugin(1), jwkPrivate }],
  });
  const codes = (lines: { code: string; status: string }[]) => lines.map((l) => `${l.status}:${l.code}`);

  it("says nothing without vaultReference", () => {
    expect(vaultReferenceChecks(cred(false), "t", diag("admin", "inline"))).toEqual([]);
  });

  it("warns about an inline private key and about Dedicated Cloud Gateways", () => {
    expect(codes(vaultReferenceChecks(cred(true), "t", diag("admin", "reference")))).toEqual([
      "info:KONG_VAULT_REFERENCE",
    ]);
    expect(codes(vaultReferenceChecks(cred(true), "t", diag("admin", "inline")))).toEqual([
      "info:KONG_VAULT_REFERENCE",
      "warn:KONG_JWK_INLINE",
    ]);
    expect(codes(vaultReferenceChecks(cred(true), "t", diag("konnect", "none")))).toEqual([
      "info:KONG_VAULT_REFERENCE",
      "warn:KONG_VAULT_DEDICATED_CLOUD",
    ]);
  });

  it("classifies the stored private members without exposing them", () => {
    const entry = (jwk: Record<string, string>) =>
      diagnosePlugin(
        {
          id: "p1",
          name: "openid-connect",
          config: { client_id: ["c"], client_auth: ["private_key_jwt"], client_jwk: [{ kid: "k", ...jwk }] },
        },
        "c",
        undefined,
      );
    const refs = Object.fromEntries(
      ["d", "p", "q", "dp", "dq", "qi"].map((m) => [m, `{vault://azure-kv/s/${m}}`]),
    );
    expect(entry(refs).jwkPrivate).toBe("reference");
    expect(entry({ ...refs, d: "secret-d-value" }).jwkPrivate).toBe("inline");
    expect(entry({}).jwkPrivate).toBe("none");
    expect(JSON.stringify(entry({ ...refs, d: "secret-d-value" }))).not.toContain("secret-d-value");
  });
});
