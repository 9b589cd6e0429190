/**
 * The embedded local stack: every service the rotator talks to, on 127.0.0.1 only, over HTTPS with the
 * local CA (Azurite over plain HTTP, as the emulator's default). Seeded with one Entra app, the service's
 * own identity (an owner of the app with Application.ReadWrite.OwnedBy, for the bootstrap PATCH), and one
 * Kong openid-connect plugin whose client list holds a partner client and ours (private_key_jwt, no JWK
 * yet). With `idp: "okta"` or `"auth0"` our client lives at the Okta or Auth0 fake instead (see
 * docs/local-stack.md); the Entra fake still runs, since Key Vault authenticates through it. With
 * `secretAuth` our client starts from a client secret instead (the setup a client secret → private_key_jwt
 * migration starts from). Used by `npm run stack`, `npm run demo` and the end-to-end tests.
 */
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { stringify } from "yaml";
import { ensureCa, issueServerTls, type LocalCa, type ServerTls } from "./common/tls.js";
import { AKS_SERVER_APP, startEntraFake, type EntraFake } from "./entra/index.js";
import type { PropagationDelay } from "./entra/directory.js";
import { startKeyVaultFake, type KeyVaultFake } from "./keyvault/fake.js";
import { startKongFake, type KongFake, type ProbeResult } from "./kong/fake.js";
import type { DataPlaneSpec } from "./kong/dataplanes.js";
import type { GatewayNode } from "./kong/node-cache.js";
import { noteSecret } from "./common/capture.js";
import { startKonnectFake, type KonnectFake } from "./konnect/fake.js";
import { startKubernetesFake, type KubernetesFake, type RbacRule } from "./kubernetes/fake.js";
import { generateRsaJwk } from "./kong/seed.js";
import { azureVaultConfig, type AzureNodeCredentials } from "./kong/vault.js";
import { startAzurite, type RunningAzurite } from "./azurite.js";
import { startOktaFake, type OktaFake } from "./okta/index.js";
import { ROTATION_SCOPES, startAuth0Fake, type Auth0Fake } from "./auth0/index.js";
import { startWebhookReceiver, type RunningWebhookReceiver } from "./webhook-receiver.js";

export const TENANT_ID = "3f1c0b4e-6a2d-4c8e-9b7a-1d2e3f4a5b6c";
export const APP_CLIENT_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
export const SERVICE_CLIENT_ID = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a";
export const PARTNER_CLIENT_ID = "partner-portal";
export const CREDENTIAL = "orders-api";
/** A Kong Gateway release with the multi-client JWK signing fix (doctor warns on older ones). */
export const KONG_VERSION = "3.10.0.16";

/** The identity provider holding our client's keys. */
export type IdpKind = "entra" | "okta" | "auth0";
export const IDP_KINDS: readonly IdpKind[] = ["entra", "okta", "auth0"];
/** What our client is called at each IdP. */
export const IDP_LABEL: Record<IdpKind, string> = {
  entra: "the Entra app",
  okta: "the Okta app",
  auth0: "the Auth0 application",
};

/** `--idp <entra|okta|auth0>` from a command line (default entra); undefined when the value is not one. */
export function idpFromArgs(argv: string[]): IdpKind | undefined {
  const i = argv.indexOf("--idp");
  if (i < 0) return "entra";
  const value = argv[i + 1];
  return IDP_KINDS.find((k) => k === value);
}
/**
 * Okta mode: the OIDC app Kong authenticates as (an Okta app id, `0oa` + 17 base62 characters), the custom
 * authorization server, and the scope Kong asks for. A client credentials request to a custom authorization
 * server must name a scope unless the server has default scopes
 * (https://developer.okta.com/docs/guides/customize-authz-server/main/#create-scopes); this one has none, so
 * the scope lives only on the plugin (`config.scopes`), and the rotator proves keys with it. The credential
 * is in the documented shape, `okta: {orgUrl, authorizationServer, clientId, token}`, without `okta.scopes`.
 */
export const OKTA = {
  clientId: "0oa7kongrotat0rL0c4l",
  authorizationServer: "default",
  scope: "kong.gateway",
  tokenEnv: "OKTA_API_TOKEN",
} as const;
/**
 * Auth0 mode: the application Kong authenticates as (32 characters, like Auth0's client ids), the
 * Machine-to-Machine application the rotator manages it with, and the API that is the tenant's default
 * audience (Kong sends no `audience`; without a default one Auth0 refuses client credentials).
 */
export const AUTH0 = {
  clientId: "kGw7RotatorLocalStackClient0Auth",
  managementClientId: "mGm7RotatorLocalStackMgmtClient0",
  audience: "https://orders.example/api",
  scope: "read:orders",
  secretEnv: "AUTH0_MGMT_SECRET",
} as const;

export interface LocalStackOptions {
  /** Where the CA lives (default .local/ca). */
  caDir?: string;
  /** The IdP that holds our client (default entra). */
  idp?: IdpKind;
  /** Entra (and, in okta mode, Okta) propagation delay for new keys (ms, or drawn per key). Default 3 s. */
  propagationDelayMs?: PropagationDelay;
  /** Key Vault certificate creation time (ms). Default 500. */
  createDelayMs?: number;
  /** Policy overrides written into the generated config. */
  policy?: Record<string, unknown>;
  /**
   * The Kong deployment: a traditional node (default), a hybrid control plane with data planes, two
   * DB-less nodes, or a Konnect control plane with nodes.
   */
  kongMode?: KongMode;
  /** Hybrid data planes / Konnect nodes (default: dp-1 and dp-2 in sync at once, plus a stale row). */
  dataPlanes?: DataPlaneSpec[];
  /** maxLag written into the target's config (hybrid, DB-less, Konnect). Default PT30S. */
  maxLag?: string;
  /** Latency added to every Kong plugin write (ms). */
  kongWriteLatencyMs?: number;
  /** The Key Vault and Graph fakes enforce their documented rate limits (429 + Retry-After). */
  rateLimits?: boolean;
  /**
   * Key Vault fakes besides the stack's own (same latency and rate limits, each limited on its own), for
   * credentials that name their own vault (`credentials[].keyVault.url`): `npm run bench -- --vaults 2`.
   */
  extraKeyVaults?: number;
  /**
   * Vault-reference mode: Kong gets an Azure Key Vault vault (prefix `azure-kv`) reading the Key Vault fake
   * with Kong's own identity, and the target gets `vaultReference`. Traditional, hybrid and DB-less: a vault
   * entity on each Admin API node; Konnect: a vault entity on the control plane, the nodes holding the
   * identity's secret; KIC: a `KongVault`, the proxy pods holding it.
   */
  vaultReference?: boolean;
  /**
   * With `vaultReference`: the reference secrets go to a second Key Vault fake (`vaultReference.keyVaultUrl`),
   * the one Kong's vault entity reads, so that Kong's identity needs no role on the certificates' vault.
   */
  referenceVault?: boolean;
  /**
   * Kubernetes mode: the proxy pods' Status API listens on loopback and the pods advertise it (a rotator
   * inside the cluster network), and the target reads it by pod IP (`statusAccess: direct`). Default: pod IPs
   * where nothing listens, read through the API server's pod proxy.
   */
  reachablePods?: boolean;
  /**
   * Kubernetes mode: how the rotator authenticates to the API server. `kubeconfig-file` (default): a
   * kubeconfig file with a static token; `kubeconfig-secret`: the same kubeconfig held in Key Vault
   * (`kubeconfig: { keyVaultSecret }`); `aks-entra`: no kubeconfig, the service identity's Entra token for
   * the AKS server application, checked by the API server fake against the Entra fake's keys.
   */
  kubernetesAuth?: "kubeconfig-file" | "kubeconfig-secret" | "aks-entra";
  /**
   * Our client starts from a client secret, as most Kong + IdP setups do (the Dev Portal guide for Azure AD:
   * `config.client_secret`, `client_auth` = `client_secret_post`): Kong's entry for our client has
   * `client_auth[1]` = this method and the secret in `client_secret[1]` (the partner's entry keeps
   * `private_key_jwt` and gets a placeholder secret, since Kong refuses empty strings), and the IdP client
   * has the matching secret: an Entra password credential (the service identity also gets
   * AuditLog.Read.All, for Graph's sign-in activity reports), an Okta app on this method with one ACTIVE
   * secret, an Auth0 application on this method. No certificate or key is registered yet.
   */
  secretAuth?: SecretAuth;
}

/** The client secret methods Kong's plugin can start from (`client_auth`). */
export type SecretAuth = "client_secret_post" | "client_secret_basic";
export const SECRET_AUTHS: readonly SecretAuth[] = ["client_secret_post", "client_secret_basic"];

/**
 * `--client-secret [client_secret_post|client_secret_basic]` from a command line: undefined without the
 * flag, the method (default client_secret_post), or null when the value is not one.
 */
export function secretAuthFromArgs(argv: string[]): SecretAuth | undefined | null {
  const i = argv.indexOf("--client-secret");
  if (i < 0) return undefined;
  const value = argv[i + 1];
  if (value === undefined || value.startsWith("--")) return "client_secret_post";
  return SECRET_AUTHS.find((m) => m === value) ?? null;
}

/** What `secretAuth` seeded: the secret Kong holds for our client and how the IdP lists it. */
export interface SeededSecret {
  auth: SecretAuth;
  /** The secret itself (a local value; the fakes note it for the hygiene checks). */
  secret: string;
  /** Its first three characters, Graph's `hint`. */
  hint: string;
  /** Its id at the IdP: the Entra passwordCredential's keyId, the Okta secret's id (none at Auth0). */
  idpId?: string;
}

/** Kubernetes mode with `kubeconfig-secret`: the Key Vault secret holding the kubeconfig. */
export const KUBECONFIG_SECRET = "aks-kubeconfig";

/** Vault-reference mode: Kong's own identity (client credentials, as Kong's AZURE_CLIENT_SECRET). */
export const KONG_IDENTITY_CLIENT_ID = "7e6d5c4b-3a29-4817-9f6e-5d4c3b2a1908";
export const VAULT_REFERENCE = { prefix: "azure-kv", secretPrefix: "kong-jwk-" };

export type KongMode = "traditional" | "hybrid" | "dbless" | "konnect" | "kubernetes";

/** Kubernetes mode: the namespace, Secret and KongPlugin the stack seeds (KIC configPatches). */
export const KIC = {
  namespace: "kong",
  secret: "orders-oidc-jwk",
  key: "client_jwk",
  /** With `secretAuth`: the key holding the plugin's `client_secret` array in the same Secret. */
  secretKey: "client_secret",
  plugin: "orders-oidc",
};

const DEFAULT_DATA_PLANES: DataPlaneSpec[] = [
  { hostname: "dp-1" },
  { hostname: "dp-2", lagMs: 300 },
  { hostname: "dp-retired", disconnected: true },
];

export interface LocalStack {
  ca: LocalCa;
  tls: ServerTls;
  /** The IdP that holds our client's keys. */
  idp: IdpKind;
  /** Our client id at that IdP (in Kong's client_id list after the partner's). */
  clientId: string;
  /** Always running: Key Vault authenticates through it; it holds our client in entra mode. */
  entra: EntraFake;
  /** Okta mode: the org with our OIDC app, the `default` authorization server and the API token. */
  okta?: OktaFake;
  /** Auth0 mode: the tenant with our application and the Management API client. */
  auth0?: Auth0Fake;
  keyVault: KeyVaultFake;
  /** `referenceVault`: the Key Vault holding only the reference secrets. */
  referenceKeyVault?: KeyVaultFake;
  /** The extra certificate vaults (`extraKeyVaults`), in order. */
  extraKeyVaults: KeyVaultFake[];
  /** The Admin API node (traditional or hybrid control plane; the first node when DB-less). */
  kong: KongFake;
  kongMode: KongMode;
  /** DB-less mode: every node. */
  dblessNodes: KongFake[];
  /** Konnect mode: the control plane. */
  konnect?: KonnectFake;
  /** Kubernetes mode: the API server with KIC and its proxy pods simulated. */
  kubernetes?: KubernetesFake;
  /**
   * The gateway login probe for our client, against what the gateways hold (every DP/node must pass).
   * `cached`: served from each gateway's token cache when it holds a live token (a request the gateway would
   * answer without the IdP); by default every probe logs in (./kong/probe.ts).
   */
  probe(opts?: { cached?: boolean }): Promise<ProbeResult>;
  /** The caches of every gateway that serves traffic (node, data plane, proxy pod) by name. */
  gatewayNodes(): Record<string, GatewayNode>;
  /** With `secretAuth`: the secret Kong starts with. */
  seededSecret?: SeededSecret;
  /**
   * Our client's client secrets at the IdP: Entra passwordCredentials (`keyId`, `hint`; state `valid` or
   * `expired`), Okta secrets (`active`/`inactive`), Auth0's one secret (`enabled` while the client's
   * token_endpoint_auth_method is a secret method, else `disabled`).
   */
  idpSecrets(): { id: string; hint?: string; state: string }[];
  /** The kid our client has on every gateway (data plane, node) by name. */
  gatewayKids(): Record<string, string | undefined>;
  /**
   * The keys registered for our client at the IdP, with their state there: Entra `registered`, Okta
   * `active`/`inactive`, Auth0 `attached`/`detached`.
   */
  idpKeys(): { kid: string; state: string }[];
  azurite: RunningAzurite;
  webhook: RunningWebhookReceiver;
  app: { appId: string; objectId: string };
  pluginId: string;
  /** Environment the rotator needs: identity, storage, Kong token, CA trust. Contains local secrets. */
  env: Record<string, string>;
  /** A ready-made configuration document for the stack. */
  config: Record<string, unknown>;
  configYaml(): string;
  close(): Promise<void>;
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const ca = await ensureCa(resolve(opts.caDir ?? ".local/ca"));
  const tls = await issueServerTls(ca);
  const closers: (() => Promise<void>)[] = [];
  const idp = opts.idp ?? "entra";
  try {
    const entra = await startEntraFake({
      tls,
      tenantId: TENANT_ID,
      propagationDelayMs: opts.propagationDelayMs ?? 3000,
      ...(opts.rateLimits ? { rateLimits: true } : {}),
    });
    closers.push(() => entra.close());
    const keyVault = await startKeyVaultFake({
      tls,
      authority: `${entra.authorityHost}/${TENANT_ID}`,
      verifyToken: (token, resource) => entra.verifyToken(token, resource),
      createDelayMs: opts.createDelayMs ?? 500,
      ...(opts.rateLimits ? { rateLimits: true } : {}),
    });
    closers.push(() => keyVault.close());
    const referenceKeyVault =
      opts.vaultReference && opts.referenceVault
        ? await startKeyVaultFake({
            tls,
            authority: `${entra.authorityHost}/${TENANT_ID}`,
            verifyToken: (token, resource) => entra.verifyToken(token, resource),
          })
        : undefined;
    if (referenceKeyVault) closers.push(() => referenceKeyVault.close());
    const extraKeyVaults: KeyVaultFake[] = [];
    for (let i = 0; i < (opts.extraKeyVaults ?? 0); i++) {
      const vault = await startKeyVaultFake({
        tls,
        authority: `${entra.authorityHost}/${TENANT_ID}`,
        verifyToken: (token, resource) => entra.verifyToken(token, resource),
        createDelayMs: opts.createDelayMs ?? 500,
        ...(opts.rateLimits ? { rateLimits: true } : {}),
      });
      closers.push(() => vault.close());
      extraKeyVaults.push(vault);
    }
    const adminToken = `kong-rbac-${randomBytes(12).toString("hex")}`;
    const mode = opts.kongMode ?? "traditional";
    const dataPlanes = opts.dataPlanes ?? DEFAULT_DATA_PLANES;
    const kong = await startKongFake({
      tls,
      adminToken,
      version: KONG_VERSION,
      ...(mode === "hybrid" ? { dataPlanes } : {}),
      ...(mode === "dbless" ? { dbless: true } : {}),
      ...(opts.kongWriteLatencyMs ? { writeLatencyMs: opts.kongWriteLatencyMs } : {}),
    });
    closers.push(() => kong.close());
    const dblessNodes = [kong];
    if (mode === "dbless") {
      const second = await startKongFake({ tls, adminToken, version: KONG_VERSION, dbless: true });
      closers.push(() => second.close());
      dblessNodes.push(second);
    }
    // Vault-reference mode: Kong's own identity, whose secret the gateways hold (their AZURE_CLIENT_SECRET).
    const kongCredentials: Required<AzureNodeCredentials> | undefined = opts.vaultReference
      ? { clientSecret: randomBytes(24).toString("base64url"), authorityHost: entra.authorityHost }
      : undefined;
    const konnectToken = `spat_${randomBytes(16).toString("hex")}`;
    const konnect =
      mode === "konnect"
        ? await startKonnectFake({
            tls,
            token: konnectToken,
            nodes: dataPlanes,
            ...(kongCredentials ? { nodeCredentials: kongCredentials } : {}),
          })
        : undefined;
    if (konnect) closers.push(() => konnect.close());
    const k8sToken = `k8s-${randomBytes(16).toString("hex")}`;
    const kubernetesAuth = opts.kubernetesAuth ?? "kubeconfig-file";
    // The RBAC rules of the rotator's identity in the cluster: bound to a service account's token, or with
    // AKS-managed Entra integration to the service principal's object id (filled in once it exists).
    const entraUsers = new Map<string, RbacRule[]>();
    const rotatorRules: RbacRule[] = [
      {
        verbs: ["get", "patch"],
        resources: ["secrets"],
        resourceNames: [KIC.secret],
        namespaces: [KIC.namespace],
      },
      {
        verbs: ["list"],
        resources: ["pods", "events", "kongplugins"],
        namespaces: [KIC.namespace],
      },
      // Each proxy's Status API through the API server (statusAccess: apiserver).
      { verbs: ["get"], resources: ["pods/proxy"], namespaces: [KIC.namespace] },
      // doctor reads the cluster-scoped KongVaults: a ClusterRole bound with a ClusterRoleBinding
      // (no namespace), as docs/kong-kubernetes.md asks.
      { verbs: ["list"], resources: ["kongvaults"] },
    ];
    const kubernetes =
      mode === "kubernetes"
        ? await startKubernetesFake({
            tls,
            namespace: KIC.namespace,
            proxySyncMs: 300,
            ...(kubernetesAuth === "aks-entra"
              ? {
                  entra: {
                    serverAppId: AKS_SERVER_APP,
                    verify: (token: string, audience: string) => entra.verifyToken(token, audience),
                    users: entraUsers,
                  },
                }
              : {}),
            tokens: {
              [k8sToken]: {
                user: "system:serviceaccount:kong:key-rotator",
                rules: rotatorRules,
              },
            },
            ...(kongCredentials ? { proxyCredentials: kongCredentials } : {}),
            ...(opts.reachablePods ? { reachablePods: true } : {}),
            proxyPods: dataPlanes.map((d) => ({
              name: d.hostname,
              ...(d.lagMs ? { lagMs: d.lagMs } : {}),
              ...(d.neverSync ? { stuck: true } : {}),
              ...(d.disconnected ? { ready: false } : {}),
            })),
          })
        : undefined;
    if (kubernetes) closers.push(() => kubernetes.close());
    const azurite = await startAzurite();
    closers.push(() => azurite.close());
    const webhook = await startWebhookReceiver(tls);
    closers.push(() => webhook.close());

    const app = entra.createApplication({ displayName: "kong-gateway-orders-api", appId: APP_CLIENT_ID });
    const serviceSecret = randomBytes(24).toString("base64url");
    const servicePrincipal = entra.addServicePrincipal({
      clientId: SERVICE_CLIENT_ID,
      clientSecret: serviceSecret,
      appRoles: ["Application.ReadWrite.OwnedBy"],
    });
    entra.addOwner(app.appId, SERVICE_CLIENT_ID);
    entraUsers.set(servicePrincipal.objectId, rotatorRules);
    if (kongCredentials) {
      entra.addServicePrincipal({
        clientId: KONG_IDENTITY_CLIENT_ID,
        clientSecret: kongCredentials.clientSecret,
        appRoles: [],
      });
      const vault = {
        vaultUri: (referenceKeyVault ?? keyVault).url,
        tenantId: TENANT_ID,
        clientId: KONG_IDENTITY_CLIENT_ID,
      };
      const prefix = VAULT_REFERENCE.prefix;
      if (konnect) konnect.addVault({ name: "azure", prefix, config: azureVaultConfig(vault) });
      else if (kubernetes)
        kubernetes.addKongVault({
          name: prefix,
          backend: "azure",
          prefix,
          config: { vault_uri: vault.vaultUri, tenant_id: vault.tenantId, client_id: vault.clientId },
        });
      else for (const node of dblessNodes) node.addVault({ prefix, ...vault, ...kongCredentials });
    }

    const idpSide = await startIdp(idp, tls, opts);
    if (idpSide.close) closers.push(idpSide.close);
    const clientId = idpSide.clientId;

    const partner = generateRsaJwk({ alg: "RS256", kid: "partner-key-1" });
    const seededSecret = opts.secretAuth ? seedClientSecret(opts.secretAuth, idpSide, entra) : undefined;
    if (seededSecret && idp === "entra")
      entra.setAppRoles(SERVICE_CLIENT_ID, ["Application.ReadWrite.OwnedBy", "AuditLog.Read.All"]);
    // The partner's entry still uses private_key_jwt; Kong refuses "" in client_secret, so it holds a
    // placeholder of its own (noted like any secret).
    const partnerSecret = `partner-${randomBytes(12).toString("base64url")}`;
    if (seededSecret) noteSecret("client-secret", partnerSecret);
    const secretConfig = seededSecret ? { client_secret: [partnerSecret, seededSecret.secret] } : {};
    const seed = {
      name: "openid-connect",
      tags: [`rotator:${CREDENTIAL}`],
      config: {
        issuer: idpSide.issuer ?? entra.issuer,
        client_id: [PARTNER_CLIENT_ID, clientId],
        client_auth: ["private_key_jwt", seededSecret?.auth ?? "private_key_jwt"],
        client_jwk: [partner],
        ...secretConfig,
        scopes: idpSide.scopes ?? ["https://graph.microsoft.com/.default"],
      },
    };
    let pluginId: string;
    let kubeconfig = "";
    if (kubernetes) {
      pluginId = KIC.plugin;
      kubernetes.addKongPlugin({
        name: KIC.plugin,
        namespace: KIC.namespace,
        plugin: "openid-connect",
        config: { ...seed.config, client_jwk: undefined, client_secret: undefined },
        configPatches: [
          { path: "/client_jwk", valueFrom: { secretKeyRef: { name: KIC.secret, key: KIC.key } } },
          // The secret, like the JWK, comes from the Secret rather than the KongPlugin's plain config.
          ...(seededSecret
            ? [
                {
                  path: "/client_secret",
                  valueFrom: { secretKeyRef: { name: KIC.secret, key: KIC.secretKey } },
                },
              ]
            : []),
        ],
      });
      kubernetes.addSecret(KIC.namespace, KIC.secret, {
        [KIC.key]: JSON.stringify([partner]),
        ...(seededSecret ? { [KIC.secretKey]: JSON.stringify(secretConfig.client_secret) } : {}),
      });
      kubernetes.syncNow();
      kubeconfig = resolve(opts.caDir ?? ".local/ca", `kubeconfig-${randomBytes(4).toString("hex")}.yaml`);
      const kubeconfigText = stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          {
            name: "local",
            cluster: {
              server: kubernetes.url,
              "certificate-authority-data": Buffer.from(tls.ca).toString("base64"),
            },
          },
        ],
        users: [{ name: "rotator", user: { token: k8sToken } }],
        contexts: [
          { name: "local", context: { cluster: "local", user: "rotator", namespace: KIC.namespace } },
        ],
        "current-context": "local",
      });
      writeFileSync(kubeconfig, kubeconfigText);
      closers.push(async () => rmSync(kubeconfig, { force: true }));
      if (kubernetesAuth === "kubeconfig-secret") keyVault.putSecret(KUBECONFIG_SECRET, kubeconfigText);
    } else pluginId = konnect ? konnect.addPlugin(seed).id : kong.addPlugin(seed).id;
    // DB-less nodes each carry the same declarative config (same plugin id).
    for (const node of dblessNodes.slice(1)) node.addPlugin({ ...seed, id: pluginId });
    const maxLag = opts.maxLag ?? "PT30S";
    const tags = [`rotator:${CREDENTIAL}`];
    const target: Record<string, unknown> =
      mode === "kubernetes"
        ? {
            name: "aks",
            kubernetes: {
              namespace: KIC.namespace,
              secretName: KIC.secret,
              secretKey: KIC.key,
              ...(kubernetesAuth === "aks-entra"
                ? {
                    aks: {
                      server: kubernetes?.url,
                      certificateAuthorityData: Buffer.from(tls.ca).toString("base64"),
                    },
                  }
                : {
                    kubeconfig:
                      kubernetesAuth === "kubeconfig-secret"
                        ? { keyVaultSecret: KUBECONFIG_SECRET }
                        : kubeconfig,
                  }),
              maxLag,
              ...(opts.reachablePods ? { statusAccess: "direct" } : {}),
            },
          }
        : mode === "konnect"
          ? {
              name: "konnect-eu",
              konnect: {
                region: "eu",
                controlPlaneId: konnect?.controlPlaneId,
                token: { env: "KONNECT_TOKEN" },
                baseUrl: konnect?.url,
                maxLag,
              },
              pluginTags: tags,
            }
          : mode === "dbless"
            ? {
                name: "edge",
                dbless: { nodes: dblessNodes.map((n) => n.url), maxLag },
                pluginTags: tags,
                adminToken: { env: "KONG_ADMIN_TOKEN" },
              }
            : {
                name: "local",
                adminUrl: kong.url,
                pluginTags: tags,
                adminToken: { env: "KONG_ADMIN_TOKEN" },
                ...(mode === "hybrid" ? { dataPlanes: { confirm: "auto", maxLag } } : {}),
              };
    if (opts.vaultReference)
      target.vaultReference = {
        ...VAULT_REFERENCE,
        ...(referenceKeyVault ? { keyVaultUrl: referenceKeyVault.url } : {}),
      };

    const config: Record<string, unknown> = {
      keyVault: { url: keyVault.url },
      cloud: { authorityHost: entra.authorityHost, graphBaseUrl: entra.graphBaseUrl },
      policy: {
        verifyInterval: "PT1S",
        verifyConsecutive: 3,
        verifyTimeout: "PT2M",
        // Compressed clock: forced rotations follow each other within seconds here.
        forceCooldown: "PT0S",
        ...(opts.policy ?? {}),
      },
      credentials: [
        {
          name: CREDENTIAL,
          certificateName: `kong-${CREDENTIAL}`,
          ...(idpSide.credential ?? { entra: { tenantId: TENANT_ID, clientId: APP_CLIENT_ID } }),
          kong: [target],
        },
      ],
      alerts: { webhooks: [{ url: `${webhook.url}/alerts`, format: "generic" }], remindEvery: "PT1H" },
    };
    const env = {
      AZURE_TENANT_ID: TENANT_ID,
      AZURE_CLIENT_ID: SERVICE_CLIENT_ID,
      AZURE_CLIENT_SECRET: serviceSecret,
      AzureWebJobsStorage: azurite.connectionString,
      KONG_ADMIN_TOKEN: adminToken,
      ...(konnect ? { KONNECT_TOKEN: konnectToken } : {}),
      ...idpSide.env,
      NODE_EXTRA_CA_CERTS: ca.certPath,
    };
    const probe = async (probeOpts: { cached?: boolean } = {}): Promise<ProbeResult> => {
      if (konnect) return konnect.probe(pluginId, clientId, probeOpts);
      if (kubernetes) {
        let last: ProbeResult = { ok: false, status: 0, error: "no ready proxy pod" };
        for (const [i, pod] of kubernetes.pods.entries()) {
          if (dataPlanes[i]?.disconnected) continue;
          last = await pod.probe(KIC.plugin, clientId, probeOpts);
          if (!last.ok) return { ...last, error: `pod ${pod.name}: ${last.error ?? "failed"}` };
        }
        return last;
      }
      let last: ProbeResult = { ok: false, status: 0, error: "no node" };
      for (const node of dblessNodes) {
        last = await node.probe(pluginId, clientId, probeOpts);
        if (!last.ok) return last;
      }
      return last;
    };
    const gatewayNodes = (): Record<string, GatewayNode> => {
      if (konnect) return konnect.gatewayNodes();
      if (kubernetes) return Object.fromEntries(kubernetes.pods.map((p) => [p.name, p.node]));
      return Object.assign({}, ...dblessNodes.map((n) => n.gatewayNodes())) as Record<string, GatewayNode>;
    };
    const idpSecrets = (): { id: string; hint?: string; state: string }[] => {
      if (idpSide.okta)
        return idpSide.okta.secrets(clientId).map((x) => ({ id: x.id, state: x.status.toLowerCase() }));
      if (idpSide.auth0) {
        const method = idpSide.auth0.client(clientId).tokenEndpointAuthMethod;
        const enabled = method === "client_secret_post" || method === "client_secret_basic";
        return [{ id: "client_secret", state: enabled ? "enabled" : "disabled" }];
      }
      return entra.passwordCredentials(clientId).map((p) => ({
        id: p.keyId,
        hint: p.hint,
        state: p.end.getTime() > Date.now() ? "valid" : "expired",
      }));
    };
    const kidOf = (config: Record<string, unknown> | undefined): string | undefined => {
      const jwks = Array.isArray(config?.client_jwk) ? (config.client_jwk as { kid?: string }[]) : [];
      return (jwks[1] ?? jwks[0])?.kid;
    };
    const gatewayKids = (): Record<string, string | undefined> => {
      if (konnect) return konnect.nodeKids(pluginId, clientId);
      if (kubernetes)
        return Object.fromEntries(kubernetes.pods.map((p) => [p.name, kidOf(p.pluginConfig(KIC.plugin))]));
      if (mode === "hybrid") return kong.dataPlaneKids(pluginId, clientId);
      return Object.fromEntries(
        dblessNodes.map((n) => [new URL(n.url).host, kidOf(n.getPlugin(pluginId)?.config)]),
      );
    };
    const idpKeys = (): { kid: string; state: string }[] => {
      if (idpSide.okta)
        return idpSide.okta
          .keys(clientId)
          .map((k) => ({ kid: k.kid ?? "(no kid)", state: k.status.toLowerCase() }));
      if (idpSide.auth0) {
        const c = idpSide.auth0.client(clientId);
        return c.credentials.map((k) => ({
          kid: k.kid,
          state: c.attached?.includes(k.id) ? "attached" : "detached",
        }));
      }
      return entra.keyCredentials(clientId).map((k) => ({ kid: k.x5t, state: "registered" }));
    };
    return {
      ca,
      tls,
      idp,
      idpKeys,
      clientId,
      entra,
      ...(idpSide.okta ? { okta: idpSide.okta } : {}),
      ...(idpSide.auth0 ? { auth0: idpSide.auth0 } : {}),
      keyVault,
      ...(referenceKeyVault ? { referenceKeyVault } : {}),
      extraKeyVaults,
      kong,
      kongMode: mode,
      dblessNodes: mode === "dbless" ? dblessNodes : [],
      ...(konnect ? { konnect } : {}),
      ...(kubernetes ? { kubernetes } : {}),
      probe,
      gatewayNodes,
      idpSecrets,
      ...(seededSecret ? { seededSecret } : {}),
      gatewayKids,
      azurite,
      webhook,
      app,
      pluginId,
      env,
      config,
      configYaml: () => stringify(config),
      async close() {
        for (const c of closers.reverse()) await c().catch(() => undefined);
      },
    };
  } catch (e) {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    throw e;
  }
}

/** What the IdP side of the stack adds: our client, the plugin's issuer and scopes, config and env. */
interface IdpSide {
  clientId: string;
  /** The Kong plugin's `issuer` (default: the Entra fake's). */
  issuer?: string;
  /** The Kong plugin's `config.scopes` (default: Graph's `.default`). */
  scopes?: string[];
  /** The credential's IdP key (default: `entra`). */
  credential?: Record<string, unknown>;
  env: Record<string, string>;
  okta?: OktaFake;
  auth0?: Auth0Fake;
  /** Auth0: the application's generated client secret. */
  clientSecret?: string;
  close?: () => Promise<void>;
}

/** `secretAuth`: the client secret our client has at its IdP, which Kong's entry will hold. */
function seedClientSecret(auth: SecretAuth, idpSide: IdpSide, entra: EntraFake): SeededSecret {
  if (idpSide.okta) {
    const { id, secret } = idpSide.okta.seedSecret(idpSide.clientId);
    return { auth, secret, hint: secret.slice(0, 3), idpId: id };
  }
  if (idpSide.auth0) {
    const secret = idpSide.clientSecret;
    if (!secret) throw new Error("auth0 fake: the application has no client secret");
    return { auth, secret, hint: secret.slice(0, 3) };
  }
  const { keyId, hint, secretText } = entra.seedPassword(idpSide.clientId, { displayName: "kong-gateway" });
  return { auth, secret: secretText, hint, idpId: keyId };
}

/** Start and seed the Okta or Auth0 fake for `idp` (nothing for entra: the Entra fake always runs). */
async function startIdp(idp: IdpKind, tls: ServerTls, opts: LocalStackOptions): Promise<IdpSide> {
  if (idp === "okta") {
    const okta = await startOktaFake({ tls, propagationDelayMs: opts.propagationDelayMs ?? 3000 });
    okta.addAuthorizationServer(OKTA.authorizationServer, { scopes: [OKTA.scope], defaultScopes: [] });
    // An OIDC service app authenticating with private_key_jwt, no keys yet (the rotator bootstraps them);
    // with `secretAuth`, on that client secret method instead (seedClientSecret adds the secret).
    okta.createApp({
      clientId: OKTA.clientId,
      label: `kong-gateway-${CREDENTIAL}`,
      tokenEndpointAuthMethod: opts.secretAuth ?? "private_key_jwt",
    });
    // An API token acts with its admin's role; an App Admin can manage apps and their keys
    // (https://developer.okta.com/docs/guides/create-an-api-token/main/). The fake notes it as a secret.
    const token = `00${randomBytes(20).toString("base64url")}`;
    okta.addApiToken(token, "APP_ADMIN");
    return {
      clientId: OKTA.clientId,
      issuer: okta.issuer(OKTA.authorizationServer),
      scopes: [OKTA.scope],
      credential: {
        okta: {
          orgUrl: okta.orgUrl,
          authorizationServer: OKTA.authorizationServer,
          clientId: OKTA.clientId,
          token: { env: OKTA.tokenEnv },
        },
      },
      env: { [OKTA.tokenEnv]: token },
      okta,
      close: () => okta.close(),
    };
  }
  if (idp === "auth0") {
    const auth0 = await startAuth0Fake({ tls, defaultAudience: AUTH0.audience });
    // A new application still on client secrets; the rotator's first attach switches it to
    // private_key_jwt (token_endpoint_auth_method: null in the same PATCH).
    const { clientSecret } = auth0.createClient({
      name: `kong-gateway-${CREDENTIAL}`,
      clientId: AUTH0.clientId,
      tokenEndpointAuthMethod: opts.secretAuth ?? "client_secret_post",
    });
    auth0.setGrant(AUTH0.clientId, [AUTH0.scope], AUTH0.audience);
    // The Management API client with exactly the scopes credential rotation needs (the fake notes the secret).
    const secret = randomBytes(32).toString("base64url");
    auth0.addManagementClient({
      clientId: AUTH0.managementClientId,
      clientSecret: secret,
      scopes: [...ROTATION_SCOPES],
    });
    return {
      clientId: AUTH0.clientId,
      issuer: auth0.tenantUrl,
      scopes: [AUTH0.scope],
      credential: {
        auth0: {
          // host:port: the local tenant has no DNS name (the lead's config accepts it for the stack).
          domain: new URL(auth0.baseUrl).host,
          clientId: AUTH0.clientId,
          management: { clientId: AUTH0.managementClientId, clientSecret: { env: AUTH0.secretEnv } },
        },
      },
      env: { [AUTH0.secretEnv]: secret },
      auth0,
      ...(clientSecret ? { clientSecret } : {}),
      close: () => auth0.close(),
    };
  }
  return { clientId: APP_CLIENT_ID, env: {} };
}
