/**
 * The Konnect fake's nodes and the Kubernetes fake's proxy pods resolve `{vault://…}` references themselves
 * (stack/kong/vault.ts): the vault entity comes from the control plane (Konnect) or a `KongVault` (KIC), the
 * client secret from the gateway's own environment; each gateway has its own cache; without a credential,
 * or with one Entra refuses, the reference resolves to "" and the login fails.
 */
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalJWKSet, jwtVerify, type JWK } from "jose";
import { ensureCa, issueServerTls, type ServerTls } from "../../stack/common/tls.js";
import { startHttpsServer, type RunningServer } from "../../stack/common/server.js";
import { startEntraFake, type EntraFake } from "../../stack/entra/index.js";
import { startKeyVaultFake, type KeyVaultFake } from "../../stack/keyvault/fake.js";
import { startKonnectFake } from "../../stack/konnect/fake.js";
import { startKubernetesFake, type KubernetesFake } from "../../stack/kubernetes/fake.js";
import { generateRsaJwk } from "../../stack/kong/seed.js";
import { azureVaultConfig, type AzureNodeCredentials } from "../../stack/kong/vault.js";

const TENANT = "0f1e2d3c-4b5a-4968-8776-655443322110";
const KONG_ID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const KONG_SECRET = "kong-identity-secret-for-unit-tests";
const MEMBERS = ["d", "p", "q", "dp", "dq", "qi"] as const;
const NS = "kong";

let tls: ServerTls;
let entra: EntraFake;
let keyVault: KeyVaultFake;
let idp: RunningServer;
let key: Record<string, string>;
let credentials: Required<AzureNodeCredentials>;

/** Our JWK with every private member a reference into `secret`. */
const referencing = (secret: string) => ({
  ...Object.fromEntries(Object.entries(key).filter(([m]) => !(MEMBERS as readonly string[]).includes(m))),
  ...Object.fromEntries(MEMBERS.map((m) => [m, `{vault://azure-kv/${secret}/${m}}`])),
});
const pluginConfig = (jwk: Record<string, unknown>) => ({
  client_id: ["c1"],
  client_auth: ["private_key_jwt"],
  client_jwk: [jwk],
  issuer: idp.url,
  token_endpoint: `${idp.url}/token`,
});
const vault = () => ({ vaultUri: keyVault.url, tenantId: TENANT, clientId: KONG_ID });

beforeAll(async () => {
  tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  entra = await startEntraFake({ tls, tenantId: TENANT, propagationDelayMs: 0 });
  keyVault = await startKeyVaultFake({
    tls,
    authority: `${entra.authorityHost}/${TENANT}`,
    verifyToken: (token, resource) => entra.verifyToken(token, resource),
  });
  entra.addServicePrincipal({ clientId: KONG_ID, clientSecret: KONG_SECRET, appRoles: [] });
  credentials = { clientSecret: KONG_SECRET, authorityHost: entra.authorityHost };
  key = generateRsaJwk({ alg: "RS256", kid: "kid-1" }) as Record<string, string>;
  keyVault.putSecret(
    "kong-jwk-1",
    JSON.stringify(Object.fromEntries(MEMBERS.map((m) => [m, key[m]]))),
    "application/json",
  );
  // A token endpoint that accepts assertions signed by our key only.
  const pub: JWK = { kty: "RSA", n: key.n, e: key.e, kid: key.kid, alg: "RS256" };
  idp = await startHttpsServer("idp", tls, async (req) => {
    const assertion = new URLSearchParams(req.body.toString("utf8")).get("client_assertion") ?? "";
    try {
      await jwtVerify(assertion, createLocalJWKSet({ keys: [pub] }));
      return { status: 200, body: { access_token: "t", token_type: "Bearer", expires_in: 60 } };
    } catch {
      return { status: 401, body: { error: "invalid_client" } };
    }
  });
}, 30_000);

afterAll(async () => {
  await idp?.close();
  await keyVault?.close();
  await entra?.close();
});

describe("Konnect nodes", () => {
  async function konnect(nodeCredentials?: AzureNodeCredentials) {
    const k = await startKonnectFake({
      tls,
      token: "spat_unit",
      nodes: [{ hostname: "n1" }, { hostname: "n2" }],
      ...(nodeCredentials ? { nodeCredentials } : {}),
    });
    k.addVault({ name: "azure", prefix: "azure-kv", config: azureVaultConfig(vault()) });
    return k;
  }

  it("each node resolves the references with its own credentials and cache, read once per reference", async () => {
    const k = await konnect(credentials);
    try {
      const { id } = k.addPlugin({ name: "openid-connect", config: pluginConfig(referencing("kong-jwk-1")) });
      expect(await k.probe(id, "c1")).toMatchObject({ ok: true, kid: "kid-1" });
      expect(k.vaultFetches()).toBe(2 * MEMBERS.length);
      expect((await k.probe(id, "c1")).ok).toBe(true);
      expect(k.vaultFetches()).toBe(2 * MEMBERS.length);
      // A reference to a secret that does not exist resolves to "".
      const missing = k.addPlugin({
        name: "openid-connect",
        config: pluginConfig(referencing("kong-jwk-2")),
      });
      const r = await k.probe(missing.id, "c1");
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(/^node n1: unable to encode JWT/);
    } finally {
      await k.close();
    }
  });

  it("nodes without AZURE_CLIENT_SECRET, or with one Entra refuses, cannot resolve: their logins fail", async () => {
    for (const creds of [undefined, { ...credentials, clientSecret: "not-the-secret" }]) {
      const k = await konnect(creds);
      try {
        const { id } = k.addPlugin({
          name: "openid-connect",
          config: pluginConfig(referencing("kong-jwk-1")),
        });
        const r = await k.probe(id, "c1");
        expect(r.ok).toBe(false);
        expect(r.error).toMatch(/unable to encode JWT/);
        // The probe stops at the first node that fails.
        expect(k.vaultFetches()).toBe(creds ? MEMBERS.length : 0);
      } finally {
        await k.close();
      }
    }
  });
});

describe("KIC proxy pods", () => {
  async function kic(proxyCredentials?: AzureNodeCredentials): Promise<KubernetesFake> {
    const k = await startKubernetesFake({
      tls,
      namespace: NS,
      proxySyncMs: 60_000,
      tokens: {},
      proxyPods: [{ name: "gw-0" }, { name: "gw-1" }],
      ...(proxyCredentials ? { proxyCredentials } : {}),
    });
    k.addSecret(NS, "jwk", { v: JSON.stringify([referencing("kong-jwk-1")]) });
    k.addKongPlugin({
      name: "p",
      namespace: NS,
      plugin: "openid-connect",
      config: { ...pluginConfig({}), client_jwk: undefined },
      configPatches: [{ path: "/client_jwk", valueFrom: { secretKeyRef: { name: "jwk", key: "v" } } }],
    });
    return k;
  }
  const kongVault = {
    name: "azure-kv",
    backend: "azure",
    prefix: "azure-kv",
    config: { vault_uri: "", tenant_id: TENANT, client_id: KONG_ID },
  };

  it("pods resolve through the KongVault KIC pushed with the config, each with its own cache", async () => {
    const k = await kic(credentials);
    try {
      k.syncNow();
      // No KongVault yet: the prefix names no vault, the reference resolves to "".
      expect((await k.pods[0]!.probe("p", "c1")).error).toMatch(/unable to encode JWT/);
      k.addKongVault({ ...kongVault, config: { ...kongVault.config, vault_uri: keyVault.url } });
      expect((await k.pods[0]!.probe("p", "c1")).ok).toBe(false);
      k.syncNow();
      for (const pod of k.pods) expect(await pod.probe("p", "c1")).toMatchObject({ ok: true, kid: "kid-1" });
      expect(k.vaultFetches()).toBe(2 * MEMBERS.length);
      expect((await k.pods[0]!.probe("p", "c1")).ok).toBe(true);
      expect(k.vaultFetches()).toBe(2 * MEMBERS.length);
      // KIC's admission webhook refuses a second KongVault with the same prefix.
      expect(() => k.addKongVault({ ...kongVault, name: "other" })).toThrow(
        /spec.prefix "azure-kv" is duplicate/,
      );
    } finally {
      await k.close();
    }
  });

  it("pods without the identity's secret cannot resolve: their logins fail", async () => {
    const k = await kic();
    try {
      k.addKongVault({ ...kongVault, config: { ...kongVault.config, vault_uri: keyVault.url } });
      k.syncNow();
      const r = await k.pods[0]!.probe("p", "c1");
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(/unable to encode JWT/);
      expect(k.vaultFetches()).toBe(0);
    } finally {
      await k.close();
    }
  });
});
