/**
 * Runs the identity-provider contract (./idp-contract.ts) for every registered IdP against its local fake
 * over HTTPS: Entra ID (stack/entra: Graph and the v2.0 token endpoint), Okta (stack/okta) and Auth0
 * (stack/auth0). Each harness only sets the fake up and builds the adapter through the registry entry
 * from a configuration as the runtime would; the cases are the same for all.
 */
import { ClientSecretCredential } from "@azure/identity";
import { randomBytes, randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { expect } from "vitest";
import type {
  Auth0IdpConfig,
  EntraIdpConfig,
  OktaIdpConfig,
  Policy,
  SecretRef,
} from "../../src/config/load.js";
import { parseConfig } from "../../src/config/load.js";
import { systemClock } from "../../src/clock.js";
import { IDP_KINDS, type IdpBuildDeps } from "../../src/adapters/idp/registry.js";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import { startAuth0Fake, ROTATION_SCOPES, type Auth0Fake } from "../../stack/auth0/index.js";
import { startEntraFake, type EntraFake } from "../../stack/entra/index.js";
import { startOktaFake, type OktaFake } from "../../stack/okta/index.js";
import { buildThroughRegistry, contractKey, idpContract, type IdpHarness } from "./idp-contract.js";

const tls = async () => issueServerTls(await ensureCa(resolve(".local/ca")));

/** The credential's effective policy, from a minimal valid configuration (the defaults). */
const policy: Policy = parseConfig({
  keyVault: { url: "https://kv.example.net" },
  credentials: [
    {
      name: "c",
      certificateName: "c",
      entra: {
        tenantId: "7f3e1b2a-0c4d-4e5f-8a9b-1c2d3e4f5a6b",
        clientId: "5a0e7c1d-9b8f-4a3e-a2d1-0f9e8d7c6b5a",
      },
      kong: [
        { name: "k", adminUrl: "https://kong.example.net", pluginId: "0b6a4a34-6f4e-4c39-9d0a-3f1c6a1d2e5f" },
      ],
    },
  ],
}).credentials[0]!.policy;

/** Build dependencies as src/app/idp.ts hands them, with secrets from `secrets` by reference name. */
function deps(
  over: { cloud?: IdpBuildDeps["cloud"]; credential?: IdpBuildDeps["credential"] },
  secrets: Record<string, string> = {},
): IdpBuildDeps {
  return {
    cloud: over.cloud ?? { authorityHost: "https://login.invalid", graphBaseUrl: "https://graph.invalid" },
    credential: over.credential ?? { getToken: async () => null },
    clock: systemClock,
    policy,
    writeSlot: async () => undefined,
    secret: async (_field: string, ref: SecretRef) => {
      const name = "env" in ref ? ref.env : ref.keyVaultSecret;
      const value = secrets[name];
      if (value === undefined) throw new Error(`no secret ${name}`);
      return value;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Entra ID
// ---------------------------------------------------------------------------------------------

function entraHarness(): IdpHarness {
  const tenantId = "7f3e1b2a-0c4d-4e5f-8a9b-1c2d3e4f5a6b";
  const service = { clientId: randomUUID(), clientSecret: "contract-service-secret" };
  const reader = { clientId: randomUUID(), clientSecret: "contract-reader-secret" };
  let fake: EntraFake;
  const identity = (who: { clientId: string; clientSecret: string }) =>
    new ClientSecretCredential(tenantId, who.clientId, who.clientSecret, {
      authorityHost: fake.authorityHost,
      disableInstanceDiscovery: true,
    });
  const cloud = () => ({ authorityHost: fake.authorityHost, graphBaseUrl: fake.graphBaseUrl });
  return {
    kind: "entra",
    async start() {
      fake = await startEntraFake({ tls: await tls(), tenantId, propagationDelayMs: 0 });
      fake.addServicePrincipal({ ...service, appRoles: ["Application.ReadWrite.OwnedBy"] });
      fake.addServicePrincipal({ ...reader, appRoles: ["Application.Read.All"] });
    },
    close: async () => fake?.close(),
    issuer: () => fake.issuer,
    async client() {
      const app = fake.createApplication({ displayName: "kong-gateway", owners: [service.clientId] });
      const current = await contractKey("PS256");
      fake.seedKeyCredential(app.appId, current.cert.der);
      const config: EntraIdpConfig = { kind: "entra", tenantId, clientId: app.appId };
      const held = () =>
        fake.keyCredentials(app.appId).map((k) => ({
          kid: k.customKeyIdentifier
            ? Buffer.from(k.customKeyIdentifier, "base64").toString("base64url")
            : undefined,
          usable: true,
        }));
      return {
        config,
        current,
        idp: await buildThroughRegistry(config, deps({ cloud: cloud(), credential: identity(service) })),
        held,
        fill: async () => expect.fail("Entra documents no key limit"),
        readOnly: () => buildThroughRegistry(config, deps({ cloud: cloud(), credential: identity(reader) })),
      };
    },
    unknownClient: () =>
      buildThroughRegistry(
        { kind: "entra", tenantId, clientId: randomUUID() },
        deps({ cloud: cloud(), credential: identity(service) }),
      ),
    codes: {
      unknownKey: { code: "AADSTS700027", retryable: true },
      denied: "ENTRA_PATCH_FORBIDDEN",
      unknownClient: "ENTRA_APP_NOT_FOUND",
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Okta
// ---------------------------------------------------------------------------------------------

function oktaHarness(): IdpHarness {
  const admin = "00Okta-contract-admin-" + randomUUID();
  const readOnly = "00Okta-contract-readonly-" + randomUUID();
  const scopes = ["kong.gateway"];
  let fake: OktaFake;
  const config = (clientId: string): OktaIdpConfig => ({
    kind: "okta",
    orgUrl: fake.orgUrl,
    authorizationServer: "default",
    clientId,
    token: { env: "OKTA_TOKEN" },
    scopes,
  });
  return {
    kind: "okta",
    async start() {
      fake = await startOktaFake({ tls: await tls(), propagationDelayMs: () => 0 });
      fake.addAuthorizationServer("default", { scopes, defaultScopes: [] });
      fake.addApiToken(admin, "APP_ADMIN");
      fake.addApiToken(readOnly, "READ_ONLY_ADMIN");
    },
    close: async () => fake?.close(),
    issuer: () => fake.issuer("default"),
    async client() {
      const { clientId } = fake.createApp();
      const current = await contractKey("RS256");
      fake.seedKey(clientId, {
        kid: current.material.kid,
        n: current.material.jwk.n,
        e: current.material.jwk.e,
      });
      const held = () =>
        fake.keys(clientId).map((k) => ({ kid: k.kid ?? undefined, usable: k.status === "ACTIVE" }));
      return {
        config: config(clientId),
        current,
        idp: await buildThroughRegistry(config(clientId), deps({}, { OKTA_TOKEN: admin })),
        held,
        async fill(count) {
          while (held().length < count) {
            const n = randomBytes(256);
            n[0]! |= 0x80;
            fake.seedKey(clientId, { kid: randomUUID(), n: n.toString("base64url"), e: "AQAB" }, "INACTIVE");
          }
        },
        readOnly: () => buildThroughRegistry(config(clientId), deps({}, { OKTA_TOKEN: readOnly })),
      };
    },
    unknownClient: () =>
      buildThroughRegistry(config("0oaUnknownClient0001"), deps({}, { OKTA_TOKEN: admin })),
    codes: {
      unknownKey: { code: "invalid_client", retryable: true },
      denied: "OKTA_FORBIDDEN",
      unknownClient: "OKTA_APP_NOT_FOUND",
      limit: "OKTA_KEY_LIMIT",
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Auth0
// ---------------------------------------------------------------------------------------------

function auth0Harness(): IdpHarness {
  const api = "https://orders.example.com/";
  const management = {
    clientId: "mgmtContract0123456789abcdefghij",
    clientSecret: "auth0-contract-" + randomUUID(),
  };
  const reader = {
    clientId: "mgmtReader0123456789abcdefghijkl",
    clientSecret: "auth0-reader-" + randomUUID(),
  };
  let fake: Auth0Fake;
  const config = (clientId: string, who = management): Auth0IdpConfig => ({
    kind: "auth0",
    domain: new URL(fake.baseUrl).host,
    clientId,
    management: { clientId: who.clientId, clientSecret: { env: "AUTH0_SECRET" } },
  });
  const secrets = (who = management) => ({ AUTH0_SECRET: who.clientSecret });
  return {
    kind: "auth0",
    async start() {
      fake = await startAuth0Fake({ tls: await tls(), defaultAudience: api });
      fake.addManagementClient({ ...management, scopes: [...ROTATION_SCOPES] });
      fake.addManagementClient({ ...reader, scopes: ["read:clients", "read:client_credentials"] });
    },
    close: async () => fake?.close(),
    issuer: () => fake.tenantUrl,
    async client() {
      const { clientId } = fake.createClient({ name: "kong-gateway" });
      fake.setGrant(clientId, ["read:orders"], api);
      const current = await contractKey("RS256");
      await fake.seedCredential(clientId, { pem: current.material.certPem, kid: current.material.kid }, true);
      const held = () => {
        const view = fake.client(clientId);
        return view.credentials.map((k) => ({ kid: k.kid, usable: (view.attached ?? []).includes(k.id) }));
      };
      return {
        config: config(clientId),
        current,
        idp: await buildThroughRegistry(config(clientId), deps({}, secrets())),
        held,
        async fill(count) {
          while (held().length < count) {
            const extra = await contractKey("RS256");
            await fake.seedCredential(
              clientId,
              { pem: extra.material.certPem, kid: extra.material.kid },
              false,
            );
          }
        },
        readOnly: () => buildThroughRegistry(config(clientId, reader), deps({}, secrets(reader))),
      };
    },
    unknownClient: () => buildThroughRegistry(config("unknownClient0123456789abcdefgh"), deps({}, secrets())),
    codes: {
      unknownKey: { code: "invalid_client", retryable: true },
      denied: "AUTH0_FORBIDDEN",
      unknownClient: "AUTH0_NOT_FOUND",
      limit: "AUTH0_CREDENTIAL_LIMIT",
    },
  };
}

const HARNESSES: Record<(typeof IDP_KINDS)[number], () => IdpHarness> = {
  entra: entraHarness,
  okta: oktaHarness,
  auth0: auth0Harness,
};

// Every registered kind runs the contract: a kind without a harness fails to compile here.
for (const kind of IDP_KINDS) idpContract(HARNESSES[kind]());
