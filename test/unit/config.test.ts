import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, parseConfigText } from "../../src/config/load.js";
import { createWebhookSink } from "../../src/adapters/alerts/webhook-sink.js";

const valid = () => ({
  keyVault: { url: "https://example.vault.azure.net" },
  credentials: [
    {
      name: "orders-api",
      certificateName: "kong-orders-api",
      entra: {
        tenantId: "11111111-2222-3333-4444-555555555555",
        clientId: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
      },
      kong: [
        {
          name: "prod",
          adminUrl: "https://kong-admin.example:8444/",
          pluginId: "6b0c7f3e-4a6f-4a8e-9d1b-2c3d4e5f6a7b",
          adminToken: { env: "KONG_ADMIN_TOKEN" },
        },
      ],
    },
  ],
});

function issues(doc: unknown): { path: string; message: string }[] {
  try {
    parseConfig(doc);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues;
  }
  throw new Error("expected the config to be rejected");
}

describe("configuration", () => {
  it("puts each credential in the default Key Vault or its own, and a certificate name once per vault", () => {
    const base = valid();
    const other = {
      ...base.credentials[0]!,
      name: "billing-api",
      entra: { ...base.credentials[0]!.entra, clientId: "bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee" },
    };
    const cfg = parseConfig({
      ...base,
      credentials: [...base.credentials, { ...other, keyVault: { url: "https://second.vault.azure.net" } }],
    });
    expect(cfg.credentials.map((c) => c.keyVaultUrl)).toEqual([
      "https://example.vault.azure.net",
      "https://second.vault.azure.net",
    ]);
    // The same certificate name in the same vault (named twice, differently spelled) is one certificate.
    expect(
      issues({
        ...base,
        credentials: [
          ...base.credentials,
          {
            ...other,
            certificateName: "KONG-orders-api",
            keyVault: { url: "https://EXAMPLE.vault.azure.net/" },
          },
        ],
      }),
    ).toEqual([
      {
        path: "credentials[1].certificateName",
        message: 'certificate "KONG-orders-api" is already used by credential #0 in the same Key Vault',
      },
    ]);
    expect(issues({ ...base, credentials: [{ ...other, keyVault: { url: "http://x" } }] })[0]?.path).toBe(
      "credentials[0].keyVault.url",
    );
  });

  it("applies public-cloud and policy defaults", () => {
    const cfg = parseConfig(valid());
    expect(cfg.cloud).toEqual({
      authorityHost: "https://login.microsoftonline.com",
      graphBaseUrl: "https://graph.microsoft.com",
    });
    const p = cfg.credentials[0]!.policy;
    expect(p.algorithm).toBe("PS256");
    expect(p.renewBefore).toBe(30 * 86_400_000);
    expect(p.overlap).toBe(24 * 3_600_000);
    expect(p.verifyTimeout).toBe(10 * 60_000);
    expect(cfg.credentials[0]!.kong[0]).toMatchObject({ adminUrl: "https://kong-admin.example:8444" });
  });

  it("lets a credential override the global policy", () => {
    const doc = { ...valid(), policy: { overlap: "PT12H" } } as Record<string, unknown>;
    (doc.credentials as Record<string, unknown>[])[0]!.policy = { algorithm: "RS256", verifyConsecutive: 3 };
    const p = parseConfig(doc).credentials[0]!.policy;
    expect(p).toMatchObject({ algorithm: "RS256", verifyConsecutive: 3, overlap: 12 * 3_600_000 });
  });

  it("reports every problem with its path", () => {
    const doc = valid() as Record<string, unknown>;
    const cred = (doc.credentials as Record<string, unknown>[])[0]!;
    cred.entra = { tenantId: "not-a-tenant", clientId: "x" };
    cred.kong = [{ name: "prod", adminUrl: "kong:8001" }];
    doc.policy = { algorithm: "ES256", overlap: "24h" };
    const found = issues(doc).map((i) => i.path);
    expect(found).toEqual(
      expect.arrayContaining([
        "policy.algorithm",
        "policy.overlap",
        "credentials[0].entra.tenantId",
        "credentials[0].entra.clientId",
        "credentials[0].kong[0].adminUrl",
        "credentials[0].kong[0].pluginId",
      ]),
    );
  });

  it("refuses unknown fields, duplicates and impossible policies", () => {
    const doc = valid() as Record<string, unknown>;
    const creds = doc.credentials as Record<string, unknown>[];
    creds.push({ ...creds[0]!, kong: creds[0]!.kong });
    doc.keyVault = { url: "https://x.vault.azure.net", typo: 1 };
    expect(issues(doc).map((i) => i.path)).toEqual(
      expect.arrayContaining(["keyVault", "credentials[1].name", "credentials[1].certificateName"]),
    );
    const bad = valid() as Record<string, unknown>;
    bad.policy = { validityMonths: 1, renewBefore: "P40D" };
    expect(issues(bad).map((i) => i.path)).toContain("credentials[0].policy.renewBefore");
    const never = valid() as Record<string, unknown>;
    never.policy = { verifyTimeout: "PT10S", verifyInterval: "PT5S", verifyConsecutive: 5 };
    expect(issues(never).map((i) => i.path)).toContain("credentials[0].policy.verifyTimeout");
  });

  it("refuses plain http except to this machine, and two credentials on one Entra app", () => {
    const doc = valid() as Record<string, unknown>;
    const creds = doc.credentials as Record<string, unknown>[];
    creds[0]!.kong = [{ name: "prod", adminUrl: "http://kong-admin.example:8001", pluginTags: ["r"] }];
    creds.push({ ...creds[0]!, name: "second", certificateName: "kong-second" });
    expect(issues(doc).map((i) => i.path)).toEqual(
      expect.arrayContaining(["credentials[0].kong[0].adminUrl", "credentials[1].entra.clientId"]),
    );
    const local = valid() as Record<string, unknown>;
    (local.credentials as Record<string, unknown>[])[0]!.kong = [
      { name: "dev", adminUrl: "http://127.0.0.1:8001", pluginTags: ["r"] },
    ];
    expect(parseConfig(local).credentials[0]!.kong[0]).toMatchObject({ adminUrl: "http://127.0.0.1:8001" });
  });

  it("enforces at load every rule the adapters enforce, so the runtime accepts what validation accepted", () => {
    const doc = valid() as Record<string, unknown>;
    doc.keyVault = { url: "http://127.0.0.1:8443" };
    doc.cloud = { graphBaseUrl: "http://localhost:9000" };
    const cred = (doc.credentials as Record<string, unknown>[])[0]!;
    cred.kong = [
      { name: "a", adminUrl: "https://k:8444", pluginTags: ["a", "b", "c", "d", "e", "f"] },
      { name: "b", adminUrl: "https://k:8444", pluginTags: ["has space"] },
    ];
    doc.alerts = { webhooks: [{ url: "http://hooks.example.com/x" }], remindEvery: "P3D" };
    expect(issues(doc).map((i) => i.path)).toEqual(
      expect.arrayContaining([
        "keyVault.url",
        "cloud.graphBaseUrl",
        "credentials[0].kong[0].pluginTags",
        "credentials[0].kong[1].pluginTags",
        "alerts.webhooks[0].url",
        "alerts.remindEvery",
      ]),
    );

    const local = valid() as Record<string, unknown>;
    local.alerts = { webhooks: [{ url: "http://127.0.0.1:9999/hook", format: "slack" }] };
    const cfg = parseConfig(local);
    expect(cfg.alerts.webhooks).toEqual([{ url: "http://127.0.0.1:9999/hook", format: "slack" }]);
    // The sink accepts every URL the schema accepts (it used to refuse plain http to loopback).
    for (const w of cfg.alerts.webhooks)
      expect(createWebhookSink({ url: String(w.url), format: w.format }).name).toBe(
        "webhook:slack:127.0.0.1:9999",
      );
  });

  it("webhook URLs are literal or a reference, like the other secrets; a bad one is named with its problem", () => {
    const doc = valid() as Record<string, unknown>;
    doc.alerts = {
      webhooks: [
        { url: { env: "ALERT_TEAMS_URL" }, format: "teams" },
        { url: { keyVaultSecret: "alert-slack-url" }, format: "slack" },
        { url: "https://hooks.example.com/generic" },
      ],
    };
    expect(parseConfig(doc).alerts.webhooks).toEqual([
      { url: { env: "ALERT_TEAMS_URL" }, format: "teams" },
      { url: { keyVaultSecret: "alert-slack-url" }, format: "slack" },
      { url: "https://hooks.example.com/generic", format: "generic" },
    ]);
    const bad = valid() as Record<string, unknown>;
    bad.alerts = {
      webhooks: [
        { url: "http://hooks.example.com/x" },
        { url: { env: "not a name" } },
        { url: { keyVaultSecret: "has_underscore" } },
        { url: { env: "A", keyVaultSecret: "b" } },
      ],
    };
    const found = issues(bad);
    expect(found.map((i) => i.path)).toEqual(
      expect.arrayContaining(
        [0, 1, 2, 3].map((i) => expect.stringMatching(`^alerts\\.webhooks\\[${i}\\]\\.url`)),
      ),
    );
    expect(found.find((i) => i.path === "alerts.webhooks[0].url")?.message).toMatch(/must be an https URL/);
    expect(JSON.stringify(found)).not.toContain("hooks.example.com");
  });

  it("parses YAML and explains syntax errors", () => {
    const cfg = parseConfigText(
      `keyVault: { url: https://v.vault.azure.net }\ncredentials:\n  - name: a\n    certificateName: c\n    entra: { tenantId: contoso.onmicrosoft.com, clientId: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee }\n    kong: [ { name: k, adminUrl: "https://k:8444", pluginTags: [rotator:a] } ]\n`,
      "rotator.yaml",
    );
    expect(cfg.credentials[0]!.kong[0]).toMatchObject({ pluginTags: ["rotator:a"] });
    expect(() => parseConfigText("{ not json", "x.json")).toThrow(/not valid JSON/);
  });

  it("a syntax error names the line and column, never the content (it may hold a URL or a token)", () => {
    const hook = "https://hooks.slack.com/services/T000/B000/s3cr3tW3bh00kT0k3n";
    const message = (text: string, source: string): string => {
      try {
        parseConfigText(text, source);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        const err = e as ConfigError;
        expect(JSON.stringify(err.toJSON())).not.toContain("s3cr3t");
        return err.issues.map((i) => i.message).join("; ");
      }
      throw new Error("parsed");
    };
    const yaml = `keyVault: { url: https://v.vault.azure.net }\nalerts:\n  webhooks:\n    - url: "${hook}\n      format: slack\n`;
    expect(message(yaml, "rotator.yaml")).toMatch(
      /^not valid YAML: syntax error at line \d+, column \d+ \([A-Z_]+\)$/,
    );
    expect(message("a: b: c", "rotator.yaml")).toBe(
      "not valid YAML: syntax error at line 1, column 4 (BLOCK_AS_IMPLICIT_KEY)",
    );
    // V8 gives a position for most errors, and for some only the token with the text around it.
    expect(message(`{\n  "url": "${hook}",\n}`, "rotator.json")).toBe(
      "not valid JSON: syntax error at line 3, column 1",
    );
    expect(message(`{\n  "url": ${hook}\n}`, "rotator.json")).toBe(
      "not valid JSON: syntax error at line 2, column 10",
    );
    expect(message(`{ "url": "${hook}"`, "rotator.json")).toMatch(
      /^not valid JSON: syntax error at line 1, column \d+$/,
    );
  });
});

describe("Kong target kinds", () => {
  const withKong = (kong: unknown[]) => {
    const doc = valid() as Record<string, unknown>;
    (doc.credentials as Record<string, unknown>[])[0]!.kong = kong;
    return doc;
  };
  const CP = "9524ec7d-36d9-465d-a8c5-83a3c9390458";

  it("parses the issue's contract: adminUrl + dataPlanes, konnect, kubernetes, dbless", () => {
    const cfg = parseConfig(
      withKong([
        {
          name: "prod-cp",
          adminUrl: "https://cp.example:8444",
          dataPlanes: { confirm: "auto", maxLag: "PT2M" },
          pluginId: "6b0c7f3e-4a6f-4a8e-9d1b-2c3d4e5f6a7b",
        },
        {
          name: "konnect-eu",
          konnect: { region: "eu", controlPlaneId: CP, token: { env: "KONNECT_TOKEN" } },
          pluginTags: ["rotator:orders-api"],
        },
        {
          name: "aks",
          kubernetes: { namespace: "kong", secretName: "orders-oidc-jwk", secretKey: "client_jwk" },
        },
        {
          name: "edge",
          dbless: { nodes: ["https://edge-1:8444", "https://edge-2:8444"] },
          pluginTags: ["rotator:orders-api"],
        },
      ]),
    );
    expect(cfg.credentials[0]!.kong).toEqual([
      {
        name: "prod-cp",
        adminUrl: "https://cp.example:8444",
        dataPlanes: { confirm: "auto", maxLagMs: 120_000 },
        pluginId: "6b0c7f3e-4a6f-4a8e-9d1b-2c3d4e5f6a7b",
      },
      {
        name: "konnect-eu",
        konnect: { region: "eu", controlPlaneId: CP, token: { env: "KONNECT_TOKEN" }, maxLagMs: 120_000 },
        pluginTags: ["rotator:orders-api"],
      },
      {
        name: "aks",
        kubernetes: {
          namespace: "kong",
          secretName: "orders-oidc-jwk",
          secretKey: "client_jwk",
          maxLagMs: 120_000,
          // Today's defaults: the Kong chart's proxy labels and status port, read through the API server.
          statusAccess: "apiserver",
          proxies: { selector: "app.kubernetes.io/component=app", port: "status", scheme: "http" },
        },
      },
      {
        name: "edge",
        dbless: { nodes: ["https://edge-1:8444", "https://edge-2:8444"], maxLagMs: 60_000 },
        pluginTags: ["rotator:orders-api"],
      },
    ]);
  });

  it("kubernetes: statusAccess and proxies (namespace, selector, port name or number, scheme)", () => {
    const k8s = (kubernetes: Record<string, unknown>) =>
      withKong([
        { name: "aks", kubernetes: { namespace: "kong", secretName: "s", secretKey: "k", ...kubernetes } },
      ]);
    const parsed = parseConfig(
      k8s({
        statusAccess: "direct",
        proxies: { namespace: "kong-dp", selector: "app=kong-proxy", port: 8100, scheme: "https" },
      }),
    ).credentials[0]!.kong[0] as { kubernetes: Record<string, unknown> };
    expect(parsed.kubernetes).toMatchObject({
      statusAccess: "direct",
      proxies: { namespace: "kong-dp", selector: "app=kong-proxy", port: 8100, scheme: "https" },
    });
    const partial = parseConfig(k8s({ proxies: { port: "kong-status" } })).credentials[0]!.kong[0] as {
      kubernetes: Record<string, unknown>;
    };
    expect(partial.kubernetes.proxies).toEqual({
      selector: "app.kubernetes.io/component=app",
      port: "kong-status",
      scheme: "http",
    });
    const bad = (kubernetes: Record<string, unknown>) => issues(k8s(kubernetes)).map((i) => i.path);
    expect(bad({ statusAccess: "podIP" })).toEqual(["credentials[0].kong[0].kubernetes.statusAccess"]);
    expect(bad({ proxies: { port: "Status_Port" } })).toEqual([
      "credentials[0].kong[0].kubernetes.proxies.port",
    ]);
    expect(bad({ proxies: { port: 70000 } })).toEqual(["credentials[0].kong[0].kubernetes.proxies.port"]);
    expect(bad({ proxies: { selctor: "a=b" } })).toEqual(["credentials[0].kong[0].kubernetes.proxies"]);
  });

  it("a kubernetes target authenticates with a kubeconfig file, a kubeconfig secret or AKS Entra, one at a time", () => {
    const k8s = (kubernetes: Record<string, unknown>) => ({
      name: "aks",
      kubernetes: { namespace: "kong", secretName: "jwk", secretKey: "client_jwk", ...kubernetes },
    });
    const ca = Buffer.from("-----BEGIN CERTIFICATE-----\n").toString("base64");
    const cfg = parseConfig(
      withKong([
        k8s({ kubeconfig: "./kubeconfig.yaml" }),
        { ...k8s({ kubeconfig: { keyVaultSecret: "aks-kubeconfig" } }), name: "kv" },
        {
          ...k8s({
            aks: { server: "https://aks-1.hcp.westeurope.azmk8s.io:443", certificateAuthorityData: ca },
          }),
          name: "entra",
        },
      ]),
    );
    expect(cfg.credentials[0]!.kong.map((t) => ("kubernetes" in t ? t.kubernetes : undefined))).toEqual([
      expect.objectContaining({ kubeconfig: "./kubeconfig.yaml" }),
      expect.objectContaining({ kubeconfigSecret: { keyVaultSecret: "aks-kubeconfig" } }),
      expect.objectContaining({
        aks: {
          server: "https://aks-1.hcp.westeurope.azmk8s.io:443",
          certificateAuthorityData: ca,
          serverAppId: "6dae42f8-4368-4678-94ff-3960e28e3630",
        },
      }),
    ]);
    const paths = issues(
      withKong([
        k8s({ kubeconfig: "./k", aks: { server: "https://aks-1.example:443" } }),
        { ...k8s({ aks: { server: "http://aks-1.example" } }), name: "b" },
        {
          ...k8s({ aks: { server: "https://aks-1.example", certificateAuthorityData: "not base64!" } }),
          name: "c",
        },
        { ...k8s({ kubeconfig: { keyVaultSecret: "a_b" } }), name: "d" },
      ]),
    ).map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "credentials[0].kong[0].kubernetes.aks",
        "credentials[0].kong[1].kubernetes.aks.server",
        "credentials[0].kong[2].kubernetes.aks.certificateAuthorityData",
        "credentials[0].kong[3].kubernetes.kubeconfig.keyVaultSecret",
      ]),
    );
  });

  it("refuses a target with no kind or two kinds, misplaced fields and bad values", () => {
    const paths = (kong: unknown[]) => issues(withKong(kong)).map((i) => `${i.path}: ${i.message}`);
    expect(paths([{ name: "none", pluginId: "6b0c7f3e-4a6f-4a8e-9d1b-2c3d4e5f6a7b" }])).toEqual([
      "credentials[0].kong[0].adminUrl: set one of adminUrl, konnect, kubernetes or dbless",
    ]);
    expect(
      paths([
        { name: "two", adminUrl: "https://a:8444", dbless: { nodes: ["https://b:8444"] }, pluginTags: ["t"] },
      ])[0],
    ).toMatch(/exactly one kind; found adminUrl and dbless/);
    expect(
      paths([
        { name: "k", kubernetes: { namespace: "kong", secretName: "s", secretKey: "k" }, pluginTags: ["t"] },
      ])[0],
    ).toMatch(/pluginTags does not apply to a kubernetes target/);
    expect(
      paths([
        {
          name: "dp",
          dbless: { nodes: ["https://b:8444"] },
          pluginTags: ["t"],
          dataPlanes: { confirm: "always" },
        },
      ])[0],
    ).toMatch(/dataPlanes applies only to an adminUrl target/);
    expect(
      paths([
        { name: "kn", konnect: { region: "xx", controlPlaneId: CP, token: { env: "T" } }, pluginTags: ["t"] },
      ])[0],
    ).toMatch(/konnect\.region: must be one of us, eu, au, me, in, sg/);
    expect(
      paths([{ name: "kn", konnect: { region: "eu", controlPlaneId: CP, token: { env: "T" } } }])[0],
    ).toMatch(/exactly one of pluginId or pluginTags/);
    expect(
      paths([
        { name: "a", adminUrl: "https://a:8444", pluginTags: ["t"], dataPlanes: { confirm: "sometimes" } },
      ])[0],
    ).toMatch(/dataPlanes\.confirm/);
  });
});

describe("vault-reference mode", () => {
  const withRef = (ref: unknown, kind: Record<string, unknown> = {}) => {
    const doc = valid();
    Object.assign(doc.credentials[0]!.kong[0]!, { vaultReference: ref }, kind);
    return doc;
  };

  it("keeps vaultReference on every target kind", () => {
    const ref = { prefix: "azure-kv", secretPrefix: "kong-jwk-" };
    expect(parseConfig(withRef(ref)).credentials[0]!.kong[0]).toMatchObject({ vaultReference: ref });
    const kic = withRef(ref);
    const t = kic.credentials[0]!.kong[0]! as Record<string, unknown>;
    for (const k of ["adminUrl", "pluginId", "adminToken"]) delete t[k];
    t.kubernetes = { namespace: "kong", secretName: "oidc-jwk", secretKey: "client_jwk" };
    expect(parseConfig(kic).credentials[0]!.kong[0]).toMatchObject({ vaultReference: ref });
  });

  it("refuses bad prefixes and secret names Key Vault would refuse, with their paths", () => {
    expect(issues(withRef({ prefix: "Azure_KV", secretPrefix: "kong_jwk" })).map((i) => i.path)).toEqual([
      "credentials[0].kong[0].vaultReference.prefix",
      "credentials[0].kong[0].vaultReference.secretPrefix",
    ]);
    expect(issues(withRef({ prefix: "azure" })).map((i) => i.path)).toEqual([
      "credentials[0].kong[0].vaultReference.secretPrefix",
    ]);
    // 100 + "orders-api" (10) + "-" + 27 = 138 > 127.
    const long = issues(withRef({ prefix: "azure", secretPrefix: "k".repeat(100) }));
    expect(long).toEqual([
      {
        path: "credentials[0].kong[0].vaultReference.secretPrefix",
        message: expect.stringContaining("138 characters") as string,
      },
    ]);
    expect(() => parseConfig(withRef({ prefix: "azure", secretPrefix: "k".repeat(89) }))).not.toThrow();
  });

  it("takes an https keyVaultUrl for a vault of their own, without its trailing '/'", () => {
    const ref = { prefix: "azure-kv", secretPrefix: "kong-jwk-" };
    expect(
      parseConfig(withRef({ ...ref, keyVaultUrl: "https://kong-refs.vault.azure.net/" })).credentials[0]!
        .kong[0],
    ).toMatchObject({ vaultReference: { ...ref, keyVaultUrl: "https://kong-refs.vault.azure.net" } });
    expect(
      issues(withRef({ ...ref, keyVaultUrl: "http://kong-refs.vault.azure.net" })).map((i) => i.path),
    ).toEqual(["credentials[0].kong[0].vaultReference.keyVaultUrl"]);
  });
});

describe("identity providers", () => {
  const kong = valid().credentials[0]?.kong;
  const okta = {
    name: "billing",
    certificateName: "kong-billing",
    okta: {
      orgUrl: "https://example.okta.com/",
      authorizationServer: "default",
      clientId: "0oa1b2c3d4e5f6g7h8i9",
      token: { env: "OKTA_API_TOKEN" },
      scopes: ["kong.gateway"],
    },
    kong,
  };
  const auth0 = {
    name: "partners",
    certificateName: "kong-partners",
    auth0: {
      domain: "example.eu.auth0.com",
      clientId: "Xy7AbCdEfGhIjKlMnOpQrStUvWxYz012",
      management: { clientId: "mgmt-m2m", clientSecret: { keyVaultSecret: "auth0-mgmt-secret" } },
    },
    kong,
  };
  const withCreds = (...credentials: unknown[]) => ({ ...valid(), credentials });

  it("parses the issue's contract: entra, okta and auth0 credentials side by side", () => {
    const cfg = parseConfig(withCreds(valid().credentials[0], okta, auth0));
    expect(cfg.credentials.map((c) => c.idp)).toEqual([
      {
        kind: "entra",
        tenantId: "11111111-2222-3333-4444-555555555555",
        clientId: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
      },
      {
        kind: "okta",
        orgUrl: "https://example.okta.com",
        authorizationServer: "default",
        clientId: "0oa1b2c3d4e5f6g7h8i9",
        token: { env: "OKTA_API_TOKEN" },
        scopes: ["kong.gateway"],
      },
      {
        kind: "auth0",
        domain: "example.eu.auth0.com",
        clientId: "Xy7AbCdEfGhIjKlMnOpQrStUvWxYz012",
        management: { clientId: "mgmt-m2m", clientSecret: { keyVaultSecret: "auth0-mgmt-secret" } },
      },
    ]);
  });

  it("defaults the algorithm per IdP: PS256 for Entra, RS256 for Okta (no PS256 there) and Auth0", () => {
    const cfg = parseConfig(withCreds(valid().credentials[0], okta, auth0));
    expect(cfg.credentials.map((c) => c.policy.algorithm)).toEqual(["PS256", "RS256", "RS256"]);
  });

  it("refuses an algorithm the IdP rejects, where it was set", () => {
    expect(issues(withCreds({ ...okta, policy: { algorithm: "PS256" } }))).toEqual([
      {
        path: "credentials[0].policy.algorithm",
        message: expect.stringContaining("okta does not accept PS256"),
      },
    ]);
    expect(issues({ ...withCreds(okta), policy: { algorithm: "PS256" } })).toEqual([
      { path: "policy.algorithm", message: expect.stringContaining("use RS256") },
    ]);
  });

  it("requires exactly one IdP per credential", () => {
    const { okta: _o, ...none } = okta;
    expect(issues(withCreds(none))).toEqual([
      { path: "credentials[0].entra", message: expect.stringContaining("one of entra, okta or auth0") },
    ]);
    expect(issues(withCreds({ ...okta, auth0: auth0.auth0 }))).toEqual([
      { path: "credentials[0].entra", message: expect.stringContaining("found okta and auth0") },
    ]);
  });

  it("refuses bad IdP fields and two credentials on one client", () => {
    const bad = issues(
      withCreds(
        { ...okta, okta: { ...okta.okta, orgUrl: "http://example.okta.com", token: "plain" } },
        { ...auth0, auth0: { ...auth0.auth0, domain: "https://example.auth0.com/" } },
      ),
    ).map((i) => i.path);
    expect(bad).toEqual(
      expect.arrayContaining([
        "credentials[0].okta.orgUrl",
        "credentials[0].okta.token",
        "credentials[1].auth0.domain",
      ]),
    );
    expect(
      issues(withCreds(okta, { ...okta, name: "billing-2", certificateName: "kong-billing-2" })),
    ).toEqual([
      { path: "credentials[1].okta.clientId", message: expect.stringContaining("already rotated") },
    ]);
  });

  it("refuses an Okta orgUrl with a path, a malformed Auth0 domain, and a management client that is the rotated app", () => {
    expect(
      issues(
        withCreds({ ...okta, okta: { ...okta.okta, orgUrl: "https://example.okta.com/oauth2/default" } }),
      ),
    ).toEqual([{ path: "credentials[0].okta.orgUrl", message: expect.stringContaining("without a path") }]);
    expect(
      issues(withCreds({ ...auth0, auth0: { ...auth0.auth0, domain: ".." } })).map((i) => i.path),
    ).toEqual(["credentials[0].auth0.domain"]);
    const self = {
      ...auth0.auth0,
      management: { ...auth0.auth0.management, clientId: auth0.auth0.clientId },
    };
    expect(issues(withCreds({ ...auth0, auth0: self }))).toEqual([
      {
        path: "credentials[0].auth0.management.clientId",
        message: expect.stringContaining("not the rotated application"),
      },
    ]);
  });

  it("accepts host:port as the Auth0 domain (a local stack or a proxy)", () => {
    const cfg = parseConfig(withCreds({ ...auth0, auth0: { ...auth0.auth0, domain: "127.0.0.1:8443" } }));
    expect(cfg.credentials[0]?.idp).toMatchObject({ kind: "auth0", domain: "127.0.0.1:8443" });
  });
});
