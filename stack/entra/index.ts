/**
 * Fake Microsoft Entra ID for the local stack: a login server (authority, like
 * https://login.microsoftonline.com) and a Microsoft Graph server (like https://graph.microsoft.com) over one
 * in-memory directory of applications, key credentials and service principals. It never imports src/.
 *
 * Reproduces:
 * - OIDC metadata under `/{tenant}/v2.0/.well-known/openid-configuration`, keys under
 *   `/{tenant}/discovery/v2.0/keys`, instance discovery under `/common/discovery/instance`
 *   (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc). @azure/identity reaches it with
 *   `disableInstanceDiscovery: true` (BRIEF, "Identity against a local authority").
 * - The v2.0 token endpoint's client credentials grant
 *   (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow): scope
 *   `<resource>/.default` only; a client secret for the service's identity; `private_key_jwt` assertions
 *   (https://learn.microsoft.com/entra/identity-platform/certificate-credentials) verified by a real
 *   oidc-provider: certificate found by `x5t`/`x5t#S256`, PS256/RS256 only, `aud` = token endpoint,
 *   `iss` = `sub` = client id, `exp`/`nbf` with a 5-minute skew, jti replay. RS256 access tokens with
 *   `aud`, `tid`, `appid` and Graph application `roles`.
 * - Key propagation: a key added through Graph is accepted at the token endpoint only after
 *   `propagationDelayMs` (BRIEF, "Propagation": seconds to minutes, no SLA); removed or expired keys fail at once.
 * - Client secrets of applications (passwordCredentials): Graph's addPassword/removePassword and
 *   `passwordCredentials` on applications (./graph.ts); the token endpoint accepts a current secret in the
 *   body (`client_secret_post`) or `Authorization: Basic` (`client_secret_basic`) side by side with
 *   certificates, and refuses a removed or wrong one (AADSTS7000215) or an expired one (AADSTS7000222)
 *   (./login.ts). A new secret propagates like a new key.
 * - The beta sign-in activity reports fed by the fake's own token endpoint (./reports.ts):
 *   servicePrincipalSignInActivities (per application) and appCredentialSignInActivities (per credential
 *   keyId; the one to ask whether a given client secret is still used).
 * - Entra error bodies and codes: AADSTS700027 (key not found / expired / bad signature), 700024 (time
 *   window), 50027, 700016, 7000215, 7000222, 7000218, 900144, 1002012, 500011, 90002; `invalid_client`
 *   with 401.
 * - Graph v1.0 applications: GET by object id, by `(appId='…')` and with `$filter=appId eq '…'`; `$select`;
 *   `key` null except on `$select` of a single object (https://learn.microsoft.com/graph/api/resources/keycredential);
 *   `customKeyIdentifier` defaulting to the base64 SHA-1 thumbprint; PATCH replacing the whole keyCredentials
 *   collection (https://learn.microsoft.com/graph/api/application-update); addKey/removeKey with a verified
 *   proof of possession (https://learn.microsoft.com/graph/application-rollkey-prooftoken): RS256, `x5t`,
 *   `aud` 00000002-0000-0000-c000-000000000000, `iss` = object id, `exp` - `nbf` <= 10 min, signed by a
 *   currently valid key of the app.
 * - Graph authorization by application roles (https://learn.microsoft.com/graph/permissions-reference):
 *   reads need Application.Read.All-like roles or Application.ReadWrite.OwnedBy as an owner; PATCH needs
 *   Application.ReadWrite.All or OwnedBy as an owner; addKey/removeKey need nothing when the app rolls its
 *   own keys, else the same as PATCH (https://learn.microsoft.com/graph/api/application-addkey#permissions).
 * - Graph error bodies (https://learn.microsoft.com/graph/errors); 429 + Retry-After, 5xx, resets, hangs
 *   and garbage bodies through each server's FaultInjector (`login.faults`, `graph.faults`).
 *
 * Does not reproduce: other grants (authorization code, OBO, device code), users and delegated permissions,
 * service principal passwordCredentials, app secret lifetime policies, federated identity credentials, managed identity endpoints, the v1.0 token endpoint,
 * tenants other than the one configured, domain-name tenants, `$batch`, paging, OData beyond
 * `appId eq '…'`, Graph's own throttling (inject 429s), Graph-side replication lag, per-replica
 * propagation (one delay per key, not per replica), and the exact wording of every error.
 */
import { LocalTokenIssuer } from "../common/auth.js";
import type { RunningServer } from "../common/server.js";
import type { ServerTls } from "../common/tls.js";
import { Directory, type PropagationDelay } from "./directory.js";
import { startGraphServer, type GraphServer } from "./graph.js";
import { GRAPH_RESOURCE, startLoginServer } from "./login.js";

export const KEY_VAULT_RESOURCE = "https://vault.azure.net";
/**
 * The AKS server application: clusters with AKS-managed Entra integration accept tokens issued for it
 * (`--server-id` of kubelogin, https://learn.microsoft.com/azure/aks/kubelogin-authentication), in every
 * tenant.
 */
export const AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630";

export interface EntraFakeOptions {
  tls: ServerTls;
  tenantId: string;
  /** Delay before the token endpoint accepts a newly added key; a function is drawn once per key. */
  propagationDelayMs?: PropagationDelay;
  /** Enforce Graph's documented application write limits (stack/entra/graph.ts). */
  rateLimits?: boolean;
  /** How long a sign-in takes to appear in the reports API (stack/entra/reports.ts). Default 0. */
  signInReportDelayMs?: number;
}

export interface PasswordCredentialView {
  keyId: string;
  hint: string;
  displayName: string | null;
  start: Date;
  end: Date;
  /** When the token endpoint starts accepting the secret. */
  visibleAt: Date;
}

/** The last sign-in the token endpoint recorded for one credential of an application. */
export interface CredentialSignInView {
  keyId: string;
  keyType: "clientSecret" | "certificate";
  at: Date;
  requestId: string;
}

export interface KeyCredentialView {
  keyId: string;
  x5t: string;
  customKeyIdentifier: string | null;
  displayName: string | null;
  start: Date;
  end: Date;
  /** When the token endpoint starts accepting the key. */
  visibleAt: Date;
}

export interface EntraFake {
  /** Like https://login.microsoftonline.com. */
  authorityHost: string;
  /** Like https://graph.microsoft.com (without the version segment). */
  graphBaseUrl: string;
  tenantId: string;
  tokenEndpoint: string;
  issuer: string;
  login: RunningServer;
  graph: GraphServer;
  /** For other fakes (Key Vault): is `token` an access token of this tenant for `resource`? */
  verifyToken(token: string, resource: string): Promise<boolean>;
  createApplication(input: { displayName: string; appId?: string; owners?: string[] }): {
    objectId: string;
    appId: string;
  };
  /** Add a key credential directly, as a hand-made setup would have; it is accepted at once. */
  seedKeyCredential(
    appId: string,
    certDer: Uint8Array,
    dates?: { start?: Date; end?: Date },
  ): { keyId: string };
  /**
   * Add a client secret directly, as a hand-made setup (the portal's "New client secret") would have; it is
   * accepted at once. Without `secret`, one is generated as addPassword does. The result holds the secret.
   */
  seedPassword(
    appId: string,
    input?: { displayName?: string; start?: Date; end?: Date; secret?: string },
  ): { keyId: string; hint: string; secretText: string };
  /** The application's passwordCredentials as the directory holds them (never the secret). */
  passwordCredentials(appId: string): PasswordCredentialView[];
  /** The last recorded sign-in per credential of the application (what appCredentialSignInActivities shows). */
  credentialSignIns(appId: string): CredentialSignInView[];
  /** The service's own identity: a client secret and Graph application roles. */
  addServicePrincipal(input: { clientId: string; clientSecret: string; appRoles: string[] }): {
    objectId: string;
  };
  /** Make a service principal (client id or object id) an owner of an application (appId or object id). */
  addOwner(application: string, principal: string): void;
  /** Replace a service principal's Graph application roles (tokens issued afterwards carry them). */
  setAppRoles(clientId: string, appRoles: string[]): void;
  /**
   * Every key and secret still propagating is accepted from now on (a test ends propagation on an event
   * rather than after wall time).
   */
  propagateNow(): void;
  /** The application's key credentials as the directory holds them. */
  keyCredentials(appId: string): KeyCredentialView[];
  close(): Promise<void>;
}

export async function startEntraFake(opts: EntraFakeOptions): Promise<EntraFake> {
  const directory = new Directory(opts.tenantId, opts.propagationDelayMs);
  let authorityHost = "";
  const tokens = await LocalTokenIssuer.create((tenant) => `${authorityHost}/${tenant}/v2.0`);
  const resources = new Set([GRAPH_RESOURCE, KEY_VAULT_RESOURCE, AKS_SERVER_APP]);
  // The local Graph stands in for https://graph.microsoft.com at its own URL; clients that derive the
  // scope from the base URL (as sovereign clouds require) ask for that URL, so both are Graph audiences.
  const graphResources = new Set([GRAPH_RESOURCE]);
  const login = await startLoginServer({ tls: opts.tls, directory, tokens, resources, graphResources });
  authorityHost = login.server.url;
  const graph = await startGraphServer({
    tls: opts.tls,
    directory,
    tokens,
    audiences: () => [...graphResources],
    ...(opts.rateLimits ? { rateLimits: true } : {}),
    ...(opts.signInReportDelayMs ? { reportDelayMs: opts.signInReportDelayMs } : {}),
  });
  resources.add(graph.url);
  graphResources.add(graph.url);

  const appOf = (appId: string) => {
    const app = directory.appByAppId(appId);
    if (!app) throw new Error(`no application with appId ${appId}`);
    return app;
  };

  return {
    authorityHost,
    graphBaseUrl: graph.url,
    tenantId: opts.tenantId,
    tokenEndpoint: login.tokenEndpoint,
    issuer: login.issuer,
    login: login.server,
    graph,
    async verifyToken(token, resource) {
      const claims = await tokens.verify(token, resource);
      return claims !== undefined && claims.tid === opts.tenantId;
    },
    createApplication(input) {
      const app = directory.createApplication(input);
      return { objectId: app.objectId, appId: app.appId };
    },
    seedKeyCredential(appId, certDer, dates = {}) {
      const app = appOf(appId);
      const key = directory.buildKey({ der: Buffer.from(certDer), ...dates }, true);
      app.keys.push(key);
      return { keyId: key.keyId };
    },
    seedPassword(appId, input = {}) {
      const password = directory.buildPassword(input, true);
      appOf(appId).passwords.push(password);
      return { keyId: password.keyId, hint: password.hint, secretText: password.secret };
    },
    passwordCredentials(appId) {
      return appOf(appId).passwords.map((p) => ({
        keyId: p.keyId,
        hint: p.hint,
        displayName: p.displayName,
        start: p.start,
        end: p.end,
        visibleAt: new Date(p.visibleAt),
      }));
    },
    credentialSignIns(appId) {
      return [...directory.credentialSignIns.values()]
        .filter((c) => c.appId.toLowerCase() === appOf(appId).appId.toLowerCase())
        .map((c) => ({ keyId: c.keyId, keyType: c.keyType, at: c.at, requestId: c.requestId }));
    },
    addServicePrincipal(input) {
      return { objectId: directory.addServicePrincipal(input).objectId };
    },
    addOwner(application, principal) {
      directory.addOwner(application, principal);
    },
    setAppRoles(clientId, appRoles) {
      directory.setAppRoles(clientId, appRoles);
    },
    propagateNow: () => directory.propagateNow(),
    keyCredentials(appId) {
      return appOf(appId).keys.map((k) => ({
        keyId: k.keyId,
        x5t: k.x5t,
        customKeyIdentifier: k.customKeyIdentifier,
        displayName: k.displayName,
        start: k.start,
        end: k.end,
        visibleAt: new Date(k.visibleAt),
      }));
    },
    async close() {
      await Promise.all([login.server.close(), graph.close()]);
    },
  };
}
