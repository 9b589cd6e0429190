/** doctor's deployment lines: gateways and their sync state, permissions, the multi-client JWK fix. */
import { describe, expect, it } from "vitest";
import { deploymentChecks, hasMultiClientFix, vaultReferenceChecks } from "../../src/app/doctor-kong.js";
import { diagnosePlugin } from "../../src/adapters/kong/common/plugin.js";
import type { CredentialConfig } from "../../src/config/load.js";
import type { KongDiagnosis, KongVaultDiagnosis } from "../../src/ports/diagnosis.js";
import { adoptReferenceLines, referenceSecretChecks } from "../../src/app/doctor-vault.js";
import { RotatorError } from "../../src/errors.js";
import { generateKeyPairSync } from "node:crypto";

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

describe("the access review", () => {
  const access = (allowed: Record<string, boolean>, optional: string[] = []) =>
    Object.entries(allowed).map(([permission, ok]) => ({
      permission,
      allowed: ok,
      required: !optional.includes(permission),
      grant: `rule for ${permission}`,
    }));
  const d = (a?: KongDiagnosis["access"]): KongDiagnosis => ({
    kind: "kubernetes",
    node: {},
    plugins: [plugin(1)],
    ...(a ? { access: a } : {}),
  });
  const lines = (a?: KongDiagnosis["access"]) =>
    deploymentChecks(d(a)).filter((c) => c.code.startsWith("KONG_ACCESS"));

  it("says nothing when the target cannot ask", () => {
    expect(lines()).toEqual([]);
  });

  it("passes when every permission is granted, listing them", () => {
    const [pass] = lines(
      access({ "get pods/proxy in namespace kong": true, "list pods in namespace kong": true }),
    );
    expect(pass).toMatchObject({ status: "pass", code: "KONG_ACCESS" });
    expect(pass?.message).toContain("get pods/proxy in namespace kong; list pods in namespace kong");
  });

  it("fails on a missing required permission with the rule to grant, and warns on an optional one", () => {
    const out = lines(
      access(
        {
          "get pods/proxy in namespace kong": false,
          "list events in namespace kong": false,
          "list pods": true,
        },
        ["list events in namespace kong"],
      ),
    );
    expect(out.map((l) => `${l.status}:${l.code}`)).toEqual([
      "fail:KONG_ACCESS_DENIED",
      "warn:KONG_ACCESS_OPTIONAL",
    ]);
    expect(out[0]?.message).toContain("get pods/proxy in namespace kong");
    expect(out[0]?.hint).toContain("rule for get pods/proxy in namespace kong");
    expect(out[1]?.message).toContain("list events");
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

  const CERTS = "https://certs.vault.azure.net";
  const REFS = "https://kong-refs.vault.azure.net";

  it("says nothing without vaultReference", () => {
    expect(vaultReferenceChecks(cred(false), "t", diag("admin", "inline"), CERTS)).toEqual([]);
  });

  it("explains Kong's role, and warns about an inline private key, Dedicated Cloud Gateways and a shared vault", () => {
    const base = [
      "info:KONG_VAULT_REFERENCE",
      "info:KONG_VAULT_READER",
      "warn:KONG_VAULT_SHARES_CERTIFICATES",
    ];
    expect(codes(vaultReferenceChecks(cred(true), "t", diag("admin", "reference"), CERTS))).toEqual(base);
    expect(codes(vaultReferenceChecks(cred(true), "t", diag("admin", "inline"), CERTS))).toEqual([
      ...base,
      "warn:KONG_JWK_INLINE",
    ]);
    expect(codes(vaultReferenceChecks(cred(true), "t", diag("konnect", "none"), CERTS))).toEqual([
      ...base,
      "warn:KONG_VAULT_DEDICATED_CLOUD",
    ]);
    const reader = vaultReferenceChecks(cred(true), "t", diag("admin", "none"), CERTS)[1]!;
    expect(reader.message).toMatch(/Key Vault Secrets User .* on https:\/\/certs\.vault\.azure\.net/);
  });

  it("does not warn when the reference secrets have a vault of their own", () => {
    const c = cred(true);
    c.kong[0]!.vaultReference!.keyVaultUrl = REFS;
    const lines = vaultReferenceChecks(c, "t", diag("admin", "reference"), CERTS);
    expect(codes(lines)).toEqual(["info:KONG_VAULT_REFERENCE", "info:KONG_VAULT_READER"]);
    expect(lines[0]!.message).toContain(REFS);
  });

  describe("the vault entity", () => {
    const withVault = (...vaults: KongVaultDiagnosis[]): KongDiagnosis => ({
      ...diag("admin", "reference"),
      vaults,
    });
    const entity = (lines: { code: string; status: string }[]) =>
      codes(lines).filter((c) => !/KONG_VAULT_(REFERENCE|READER|SHARES_CERTIFICATES)$/.test(c));
    const found = (vaultUri?: string, extra: Partial<KongVaultDiagnosis> = {}): KongVaultDiagnosis =>
      ({
        prefix: "azure-kv",
        state: "found",
        backend: "azure",
        ...(vaultUri ? { vaultUri } : {}),
        ...extra,
      }) as KongVaultDiagnosis;
    const check = (...v: KongVaultDiagnosis[]) =>
      entity(vaultReferenceChecks(cred(true), "t", withVault(...v), CERTS));

    it("passes when vault_uri is the reference vault, whatever the case and trailing '/'", () => {
      expect(check(found("https://CERTS.vault.azure.net/"))).toEqual(["pass:KONG_VAULT_ENTITY"]);
    });
    it("fails on another vault_uri, another backend, or no entity", () => {
      expect(check(found("https://other.vault.azure.net"))).toEqual(["fail:KONG_VAULT_URI_MISMATCH"]);
      expect(check(found(CERTS, { backend: "hcv" } as Partial<KongVaultDiagnosis>))).toEqual([
        "fail:KONG_VAULT_BACKEND",
      ]);
      expect(check({ prefix: "azure-kv", state: "missing", where: "edge-1" })).toEqual([
        "fail:KONG_VAULT_ENTITY_MISSING",
      ]);
      const refused = {
        notApplied: { state: "refused", detail: "Invalid: bad" },
      } as Partial<KongVaultDiagnosis>;
      expect(check(found(REFS, refused))).toEqual([
        "fail:KONG_VAULT_NOT_APPLIED",
        "fail:KONG_VAULT_URI_MISMATCH",
      ]);
      const pending = { notApplied: { state: "pending", detail: "Pending" } } as Partial<KongVaultDiagnosis>;
      // Not applied yet: Kong has no such vault until it is, so activation refuses too (the same rule).
      expect(check(found(CERTS, pending))).toEqual(["fail:KONG_VAULT_NOT_APPLIED"]);
    });
    it("fails where it cannot tell (no vault_uri, unreadable, with the adapter's hint when it has one); env config is info", () => {
      expect(check({ prefix: "azure", state: "env" })).toEqual(["info:KONG_VAULT_ENV"]);
      expect(check(found())).toEqual(["fail:KONG_VAULT_URI_UNSET"]);
      expect(check({ prefix: "azure-kv", state: "error", error: "KONG_UNAUTHORIZED: 403" })).toEqual([
        "fail:KONG_VAULT_UNREADABLE",
      ]);
      const hints = (v: KongVaultDiagnosis) =>
        vaultReferenceChecks(cred(true), "t", withVault(v), CERTS).find(
          (l) => l.code === "KONG_VAULT_UNREADABLE",
        )?.hint;
      expect(hints({ prefix: "azure-kv", state: "error", error: "KONG_UNAUTHORIZED: 403" })).toContain(
        "/vaults",
      );
      expect(
        hints({
          prefix: "azure-kv",
          state: "error",
          error: "KONG_K8S_FORBIDDEN: list",
          hint: "Grant a ClusterRole",
        }),
      ).toBe("Grant a ClusterRole");
    });
    it("calls a ttl harmless, and checks every DB-less node's entity", () => {
      expect(check(found(CERTS, { ttl: 300 } as Partial<KongVaultDiagnosis>))).toEqual([
        "pass:KONG_VAULT_ENTITY",
        "info:KONG_VAULT_TTL",
      ]);
      const lines = vaultReferenceChecks(
        cred(true),
        "t",
        withVault(found(CERTS, { where: "n1" }), found("https://x.vault.azure.net", { where: "n2" })),
        CERTS,
      );
      expect(entity(lines)).toEqual(["pass:KONG_VAULT_ENTITY", "fail:KONG_VAULT_URI_MISMATCH"]);
      expect(lines.find((l) => l.code === "KONG_VAULT_URI_MISMATCH")!.message).toMatch(/on n2/);
    });
  });

  describe("the referenced secret, read with the rotator's identity", () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = privateKey.export({ format: "jwk" }) as Record<string, string>;
    const members = Object.fromEntries(["d", "p", "q", "dp", "dq", "qi"].map((m) => [m, jwk[m]!]));
    const store = (value: string | Error, contentType = "application/json") => ({
      secrets: {
        vaultUrl: CERTS,
        set: () => Promise.resolve(),
        disable: () => Promise.resolve("disabled" as const),
        get: (name: string) =>
          value instanceof Error
            ? Promise.reject(value)
            : Promise.resolve(
                name === "kong-jwk-s" ? { value, contentType } : Promise.reject(new Error("?")),
              ),
      },
    });
    const d = (): KongDiagnosis => ({
      kind: "admin",
      node: {},
      plugins: [
        {
          ...plugin(1),
          jwk: { kid: "k", n: jwk.n! },
          jwkPrivate: "reference",
          jwkReferences: ["azure-kv/kong-jwk-s"],
        },
      ],
    });
    const run = async (value: string | Error, contentType?: string) => {
      const lines = await referenceSecretChecks(store(value, contentType), cred(true), "t", d(), CERTS);
      expect(JSON.stringify(lines)).not.toContain(jwk.d!);
      return codes(lines);
    };

    it("passes for the six members of the plugin's key", async () => {
      expect(await run(JSON.stringify(members))).toEqual(["pass:KONG_VAULT_SECRET"]);
    });
    it("fails for another key's members, missing members, or a secret that is absent or forbidden", async () => {
      const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
      expect(await run(JSON.stringify({ ...members, p: other.p, q: other.q }))).toEqual([
        "fail:KONG_VAULT_SECRET_INVALID",
      ]);
      expect(await run(JSON.stringify({ ...members, qi: 7 }))).toEqual(["fail:KONG_VAULT_SECRET_INVALID"]);
      expect(await run("not json")).toEqual(["fail:KONG_VAULT_SECRET_INVALID"]);
      expect(await run(new RotatorError("KV_NOT_FOUND", "absent", "h"))).toEqual([
        "fail:KONG_VAULT_SECRET_MISSING",
      ]);
      expect(await run(new RotatorError("KV_FORBIDDEN", "no", "h"))).toEqual([
        "fail:KONG_VAULT_SECRET_FORBIDDEN",
      ]);
    });
    it("adopt: reports a reference-based entry and checks its secret, but never fails the adoption", async () => {
      const adopt = (value: string | Error, withRef = true) =>
        adoptReferenceLines(store(value), cred(withRef), "t", d(), jwk.n, CERTS);
      const missing = await adopt(new RotatorError("KV_NOT_FOUND", "absent", "h"));
      expect(codes(missing)).toEqual(["info:ADOPT_KONG_REFERENCES", "warn:KONG_VAULT_SECRET_MISSING"]);
      expect(missing[0]!.message).toContain("azure-kv/kong-jwk-s");
      expect(codes(await adopt(JSON.stringify(members)))).toEqual([
        "info:ADOPT_KONG_REFERENCES",
        "pass:KONG_VAULT_SECRET",
      ]);
      expect(codes(await adopt(JSON.stringify(members), false))).toEqual([
        "warn:ADOPT_KONG_REFERENCES_NOT_CONFIGURED",
      ]);
    });

    it("warns on another content type, and on references through another vault prefix", async () => {
      expect(await run(JSON.stringify(members), "text/plain")).toEqual([
        "warn:KONG_VAULT_SECRET_CONTENT_TYPE",
      ]);
      const other = d();
      other.plugins[0]!.jwkReferences = ["hand-made/kong-oidc-jwk"];
      const lines = await referenceSecretChecks(
        store(JSON.stringify(members)),
        cred(true),
        "t",
        other,
        CERTS,
      );
      expect(codes(lines)).toEqual(["warn:KONG_VAULT_PREFIX_OTHER"]);
    });
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
    expect(entry(refs).jwkReferences).toEqual(["azure-kv/s"]);
    expect(entry({ ...refs, d: "secret-d-value" }).jwkPrivate).toBe("inline");
    expect(entry({}).jwkPrivate).toBe("none");
    expect(JSON.stringify(entry({ ...refs, d: "secret-d-value" }))).not.toContain("secret-d-value");
  });
});
