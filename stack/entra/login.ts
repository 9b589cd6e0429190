/**
 * The login server (authority, like https://login.microsoftonline.com) for one tenant:
 * - `/{tenant}/v2.0/.well-known/openid-configuration`, `/{tenant}/discovery/v2.0/keys` and
 *   `/common/discovery/instance` (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc);
 * - `POST /{tenant}/oauth2/v2.0/token`, client credentials grant
 *   (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow), for
 *   a) the service's own identity with a client secret (what @azure/identity's ClientSecretCredential
 *      sends through MSAL), answered here with an RS256 access token for `<resource>/.default`;
 *   b) Entra applications with a client secret, one of their passwordCredentials, sent in the body
 *      (`client_secret_post`) or in `Authorization: Basic` (`client_secret_basic`, RFC 6749 §2.3.1; both
 *      are in the metadata's `token_endpoint_auth_methods_supported`), side by side with certificates: a
 *      removed or wrong secret is AADSTS7000215, an expired one AADSTS7000222 ("The provided client secret
 *      keys for app '…' are expired", as Entra answers it in the field);
 *   c) Entra applications authenticating with a `private_key_jwt` client assertion, verified by
 *      oidc-provider (./assertions.ts) and answered in Entra's shape.
 *   Every successful sign-in of an application is recorded, with the credential it used, for the reports API
 *   (./reports.ts), under the request id that the success response carries in `x-ms-request-id`.
 * Does not reproduce: other grants, the v1.0 endpoint, domain-name tenants, token caching, region
 * discovery, or the exact text of every AADSTS message (codes and statuses are the contract).
 */
import { providerRequest } from "../common/oidc.js";
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { ProviderContext, ProviderError } from "oidc-provider";
import { basicCredentials, secretEquals, type LocalTokenIssuer } from "../common/auth.js";
import { startHttpsServer, type Reply, type Request, type RunningServer } from "../common/server.js";
import type { ServerTls } from "../common/tls.js";
import {
  createAssertionVerifier,
  matchesHeader,
  type AssertionHeader,
  type AssertionRequest,
  type AssertionVerifier,
} from "./assertions.js";
import type { Directory } from "./directory.js";
import { entraError } from "./errors.js";

export const GRAPH_RESOURCE = "https://graph.microsoft.com";
const ACCESS_TOKEN_LIFETIME_SEC = 3599;
const OIDC_SCOPES = new Set(["openid", "profile", "email", "offline_access"]);

export interface LoginServerOptions {
  tls: ServerTls;
  directory: Directory;
  tokens: LocalTokenIssuer;
  /** Resource URIs the tenant knows (normalised without a trailing slash). */
  resources: Set<string>;
  /** Resources whose tokens carry the principal's application roles (Graph). */
  graphResources: Set<string>;
}

export interface LoginServer {
  server: RunningServer;
  tokenEndpoint: string;
  issuer: string;
}

export const decodeSegment = (segment: string | undefined): Record<string, unknown> | undefined => {
  try {
    const v: unknown = JSON.parse(Buffer.from(segment ?? "", "base64url").toString("utf8"));
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

const str = (v: unknown): string | undefined => (typeof v === "string" && v.length > 0 ? v : undefined);
const normalise = (uri: string) => uri.replace(/\/+$/, "");
const hexThumbprint = (b64url: string) => Buffer.from(b64url, "base64url").toString("hex").toUpperCase();
const isoTime = (epochSec: unknown) =>
  typeof epochSec === "number" ? new Date(epochSec * 1000).toISOString() : "unknown";

export async function startLoginServer(opts: LoginServerOptions): Promise<LoginServer> {
  const { directory, tokens } = opts;
  const tenant = directory.tenantId;
  let host = "";
  // Created once the server listens: the issuer and token endpoint URLs contain its port.
  let verifier: AssertionVerifier | undefined = undefined;

  const error = (status: 400 | 401, code: string, aadsts: number, description: string) =>
    entraError(host, status, code, aadsts, description);

  const tokenResponse = async (
    claims: { sub: string; appid: string; roles: string[] },
    resource: string,
    credential?: { keyId: string; keyType: "clientSecret" | "certificate" },
  ): Promise<Reply> => {
    const requestId = randomUUID();
    directory.recordSignIn(claims.appid, credential, resource, requestId);
    const { token } = await tokens.issue(
      {
        aud: resource,
        sub: claims.sub,
        // Entra's app-only tokens name the principal by object id in both sub and oid; resources that
        // authorize by principal read oid (AKS maps it to the Kubernetes user, Azure/kubelogin README).
        oid: claims.sub,
        appid: claims.appid,
        tid: tenant,
        ...(opts.graphResources.has(resource) ? { roles: claims.roles } : {}),
      },
      ACCESS_TOKEN_LIFETIME_SEC,
    );
    return {
      status: 200,
      headers: { "cache-control": "no-store, no-cache", pragma: "no-cache", "x-ms-request-id": requestId },
      body: {
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_LIFETIME_SEC,
        ext_expires_in: ACCESS_TOKEN_LIFETIME_SEC,
        access_token: token,
      },
    };
  };

  /** Turn oidc-provider's verdict on an assertion into Entra's response. */
  const reply = async (request: AssertionRequest, ctx: ProviderContext): Promise<void> => {
    // An application that is also a registered service principal (the service's own identity signing in
    // with a certificate) gets that principal's application roles.
    const sp = directory.principalByClientId(request.app.appId);
    const key = directory.acceptedKeys(request.app).find((k) => matchesHeader(k, request.header));
    const out =
      ctx.status === 200
        ? await tokenResponse(
            {
              sub: sp?.objectId ?? request.app.objectId,
              appid: request.app.appId,
              roles: sp?.appRoles ?? [],
            },
            request.resource,
            key ? { keyId: key.keyId, keyType: "certificate" } : undefined,
          )
        : assertionFailure(request, request.error);
    ctx.status = out.status;
    ctx.body = out.body;
  };

  const assertionFailure = (request: AssertionRequest, err: ProviderError | undefined): Reply => {
    const detail = err?.error_detail ?? err?.error_description ?? "the client assertion was rejected";
    if (err?.error !== "invalid_client")
      return error(400, err?.error ?? "invalid_request", 90014, `The request is not valid: ${detail}.`);
    if (/jwt expired|jwt not active yet/.test(detail))
      return error(
        401,
        "invalid_client",
        700024,
        `Client assertion is not within its valid time range. Current time: ${new Date().toISOString()}, assertion valid from ${isoTime(request.claims.nbf ?? request.claims.iat)}, expiry time of assertion ${isoTime(request.claims.exp)}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .`,
      );
    if (/no applicable key|signature verification failed/i.test(detail)) return invalidSignature(request);
    return error(401, "invalid_client", 50027, `Invalid JWT token. ${detail}.`);
  };

  /** AADSTS700027, with the reason Entra gives (https://github.com/AzureAD/passport-azure-ad/issues/453). */
  const invalidSignature = (request: AssertionRequest): Reply => {
    const { app, header } = request;
    const key = app.keys.find((k) => matchesHeader(k, header));
    const reason =
      !key || key.visibleAt > Date.now()
        ? "The key was not found."
        : !directory.isCurrent(key)
          ? "The key used is expired."
          : "The provided signature value did not match the expected signature value.";
    const thumb = hexThumbprint(header.x5t ?? header.x5tS256 ?? "");
    return error(
      401,
      "invalid_client",
      700027,
      `Client assertion contains an invalid signature. [Reason - ${reason}, Thumbprint of key used by client: '${thumb}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.appId}'.]`,
    );
  };

  /** The single `<resource>/.default` scope of a client credentials request. */
  const resourceOf = (scope: string): string | undefined => {
    const scopes = scope.split(" ").filter((s) => s && !OIDC_SCOPES.has(s));
    const only = scopes.length === 1 ? scopes[0] : undefined;
    return only?.endsWith("/.default") ? normalise(only.slice(0, -"/.default".length)) : undefined;
  };

  const token = async (req: Request, res: ServerResponse): Promise<Reply | undefined> => {
    const form = new URLSearchParams(req.body.toString("utf8"));
    const basic = basicCredentials(req.headers.authorization);
    if (basic === null)
      return error(
        401,
        "invalid_client",
        7000218,
        "The Authorization header is not valid Basic client credentials.",
      );
    if (basic) {
      if (form.get("client_id") && form.get("client_id") !== basic.clientId)
        return error(
          400,
          "invalid_request",
          900144,
          "The client_id in the body does not match the Authorization header.",
        );
      form.set("client_id", basic.clientId);
    }
    // With a client assertion, client_id may be omitted: it is the assertion's `sub` (RFC 7521 §4.2;
    // Kong's plugin sends no client_id with private_key_jwt).
    const assertionSub = form.get("client_assertion")
      ? str(decodeSegment(form.get("client_assertion")?.split(".")[1])?.sub)
      : undefined;
    const required = assertionSub ? ["grant_type", "scope"] : ["grant_type", "client_id", "scope"];
    const missing = required.find((p) => !form.get(p));
    if (missing)
      return error(
        400,
        "invalid_request",
        900144,
        `The request body must contain the following parameter: '${missing}'.`,
      );
    const grantType = form.get("grant_type") ?? "";
    if (grantType !== "client_credentials")
      return error(
        400,
        "unsupported_grant_type",
        70003,
        `The app requested an unsupported grant type '${grantType}'.`,
      );
    const clientId = form.get("client_id") ?? assertionSub ?? "";
    const scope = form.get("scope") ?? "";
    const resource = resourceOf(scope);
    if (!resource)
      return error(
        400,
        "invalid_scope",
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    if (!opts.resources.has(resource))
      return error(
        400,
        "invalid_resource",
        500011,
        `The resource principal named ${resource} was not found in the tenant named ${tenant}.`,
      );
    const notFound = () =>
      error(
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenant}'.`,
      );

    const secret = basic?.clientSecret ?? form.get("client_secret");
    const assertion = form.get("client_assertion");
    if (secret) {
      const sp = directory.principalByClientId(clientId);
      const app = directory.appByAppId(clientId);
      if (!sp && !app) return notFound();
      const principal = {
        sub: sp?.objectId ?? app?.servicePrincipalObjectId ?? clientId,
        appid: app?.appId ?? clientId,
        roles: sp?.appRoles ?? [],
      };
      if (sp && secretEquals(sp.clientSecret, secret)) return tokenResponse(principal, resource);
      const check = app ? directory.checkPassword(app, secret) : ({ outcome: "invalid" } as const);
      if (check.outcome === "accepted")
        return tokenResponse(principal, resource, { keyId: check.password.keyId, keyType: "clientSecret" });
      if (check.outcome === "expired")
        return error(
          401,
          "invalid_client",
          7000222,
          `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
        );
      return error(
        401,
        "invalid_client",
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
      );
    }
    if (!assertion)
      return error(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
    const app = directory.appByAppId(clientId);
    if (!app) return notFound();
    const [h, p] = assertion.split(".");
    const header = decodeSegment(h);
    const claims = decodeSegment(p);
    if (!header || !claims)
      return error(401, "invalid_client", 50027, "Invalid JWT token. Token format not valid.");
    const thumbprints: AssertionHeader = {
      alg: str(header.alg),
      kid: str(header.kid),
      x5t: str(header.x5t),
      x5tS256: str(header["x5t#S256"]),
    };
    // Entra finds the certificate by thumbprint (https://github.com/AzureAD/microsoft-authentication-library-for-dotnet/issues/124).
    if (!thumbprints.x5t && !thumbprints.x5tS256 && !thumbprints.kid)
      return error(
        401,
        "invalid_client",
        50027,
        "Invalid JWT token. No certificate thumbprint specified in token header.",
      );
    if (!verifier) throw new Error("login server not started");
    await verifier.handle({ app, header: thumbprints, claims, resource }, providerRequest(req), res);
    return undefined;
  };

  const server = await startHttpsServer("entra-login", opts.tls, async (req, res) => {
    const segments = req.path.split("/").filter(Boolean);
    const [first, ...rest] = segments;
    const route = rest.join("/");
    if (req.method === "GET" && first === "common" && route === "discovery/instance")
      return instanceDiscovery(host, tenant);
    // One tenant per fake; /common and /organizations serve metadata only (client credentials need a tenant).
    const known =
      first === tenant || (req.method === "GET" && (first === "common" || first === "organizations"));
    if (first === undefined || !known)
      return error(
        400,
        "invalid_tenant",
        90002,
        `Tenant '${first ?? ""}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
      );
    if (req.method === "GET" && route === "v2.0/.well-known/openid-configuration")
      return { status: 200, body: openidConfiguration(host, first) };
    if (req.method === "GET" && route === "discovery/v2.0/keys")
      return { status: 200, body: { keys: [tokens.publicJwk] } };
    if (req.method === "POST" && route === "oauth2/v2.0/token") return token(req, res);
    return {
      status: 404,
      body: { error: "not_found", error_description: `no route ${req.method} ${req.path}` },
    };
  });
  host = server.url;
  const tokenEndpoint = `${host}/${tenant}/oauth2/v2.0/token`;
  const issuer = `${host}/${tenant}/v2.0`;
  verifier = createAssertionVerifier({
    issuer,
    tokenPath: `/${tenant}/oauth2/v2.0/token`,
    tokenEndpoint,
    directory,
    reply,
  });
  return { server, tokenEndpoint, issuer };
}

export { providerRequest };

function openidConfiguration(host: string, tenant: string): Record<string, unknown> {
  const base = `${host}/${tenant}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    issuer: `${base}/v2.0`,
    request_uri_parameter_supported: false,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    tenant_region_scope: null,
    cloud_instance_name: "microsoftonline.com",
    msgraph_host: "graph.microsoft.com",
  };
}

function instanceDiscovery(host: string, tenant: string): Reply {
  const authority = new URL(host).host;
  return {
    status: 200,
    body: {
      tenant_discovery_endpoint: `${host}/${tenant}/v2.0/.well-known/openid-configuration`,
      "api-version": "1.1",
      metadata: [{ preferred_network: authority, preferred_cache: authority, aliases: [authority] }],
    },
  };
}
