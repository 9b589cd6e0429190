/**
 * Fake Okta org for the local stack, over HTTPS with the local CA. It never imports src/.
 *
 * Every management API request is validated against the published description of the operations used here
 * (stack/specs/okta/, from okta/okta-management-openapi-spec; org.ts): no such operation is 404/405
 * E0000022, a body or parameter that does not match is 400 E0000001 with the reasons as errorCauses.
 *
 * Reproduces (sources in org.ts and token.ts):
 * - the management API for OAuth 2.0 client JSON Web Keys (okta/okta-management-openapi-spec,
 *   dist/current/management-oneOfInheritance.yaml): list (a plain array), add (ACTIVE by default,
 *   `status: INACTIVE` stages it), get, delete (inactive keys only), activate/deactivate (not the only
 *   active key of a `private_key_jwt` client); at most 50 keys, unique `kid`s, no add while a key lacks a
 *   kid, RSA >= 2048 bits; Okta's error body (errorCode, errorSummary, errorLink, errorId, errorCauses)
 *   with E0000001 (400), E0000011 (401), E0000006 (403), E0000007 (404), E0000047 (429);
 * - `Authorization: SSWS <token>` with the token's admin role deciding reads and writes;
 * - rate limiting: 429 E0000047 with `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining: 0` and
 *   `X-Rate-Limit-Reset` (UTC epoch seconds) and no Retry-After
 *   (https://developer.okta.com/docs/reference/rl-best-practices/);
 * - the app object (`GET`/`PUT /api/v1/apps/{appId}`: replacing it switches `token_endpoint_auth_method`, and
 *   switching to `private_key_jwt` deletes the client secrets) and its client secrets
 *   (`/api/v1/apps/{appId}/credentials/secrets`: list, create, get, delete, activate, deactivate), apps.ts;
 * - the token endpoints of the org and custom authorization servers (token.ts), with a real
 *   oidc-provider verifying `private_key_jwt` assertions against the app's ACTIVE keys, and client secret
 *   logins (`client_secret_basic` or `client_secret_post`, whichever the app's method is) against its ACTIVE
 *   secrets;
 * - an optional propagation delay before an added key is accepted at the token endpoint;
 * - OpenID Connect discovery of the org and custom authorization servers (discovery.ts), so that a Kong
 *   plugin whose `issuer` is the authorization server finds its token endpoint.
 *
 * Does not reproduce: EC and encryption keys, OAuth 2.0 (Bearer / DPoP) management access, app types other
 * than an OIDC service app, `client_secret_jwt` and `none` logins, other grants, user sign-in, authorization server policies and rules,
 * per-endpoint rate-limit buckets (inject them), and the exact wording of every error.
 */
import { noteSecret } from "../common/capture.js";
import { startHttpsServer, type Reply, type Request, type RunningServer } from "../common/server.js";
import type { ServerTls } from "../common/tls.js";
import {
  MAX_KEYS,
  Org,
  managementHandler,
  oktaError,
  type KeyStatus,
  type OktaApp,
  type PropagationDelay,
  type TokenRole,
} from "./org.js";
import { tokenHandler, unknownAuthorizationServer, type AuthorizationServer } from "./token.js";
import { appsHandler } from "./apps.js";
import { openidConfiguration } from "./discovery.js";
import type { Rejection } from "../common/openapi.js";

export { MAX_KEYS };
export type { KeyStatus, TokenRole };

export interface OktaFakeOptions {
  tls: ServerTls;
  /** Delay before the token endpoint accepts a newly added key; a function is drawn once per key. */
  propagationDelayMs?: PropagationDelay;
  /**
   * The org-wide management rate limit per minute (Okta's window is one minute); beyond it calls get 429.
   * Every management response reports it in X-Rate-Limit-* headers. Default 600, not enforced unless set.
   */
  rateLimitPerMinute?: number;
}

export interface OktaSecretView {
  id: string;
  status: KeyStatus;
  /** When the token endpoint starts accepting it. */
  visibleAt: Date;
}

export interface OktaKeyView {
  id: string;
  kid: string | null;
  status: KeyStatus;
  alg?: string;
  /** When the token endpoint starts accepting the key. */
  visibleAt: Date;
}

export interface OktaFake {
  /** Like https://example.okta.com. */
  orgUrl: string;
  server: RunningServer;
  /** Management requests the published API description refused, for conformance tests. */
  readonly rejected: Rejection[];
  /** `<orgUrl>/oauth2/<id>/v1/token`, or `<orgUrl>/oauth2/v1/token` without an id. */
  tokenEndpoint(authorizationServer?: string): string;
  /** `<orgUrl>/oauth2/<id>` (a custom authorization server), or `<orgUrl>` without an id; discovery lives
   * at `<issuer>/.well-known/openid-configuration`. */
  issuer(authorizationServer?: string): string;
  /** A custom authorization server (`id` like "default"); without `id`, configures the org server. */
  addAuthorizationServer(id: string | undefined, server: AuthorizationServer): void;
  /** An API token acting with an admin role. */
  addApiToken(token: string, role: TokenRole): void;
  createApp(input?: {
    clientId?: string;
    label?: string;
    tokenEndpointAuthMethod?: OktaApp["tokenEndpointAuthMethod"];
  }): { clientId: string };
  /**
   * Add a client secret directly, as a hand-made setup would have (the given one or a generated one); it is
   * accepted at once. The result holds the secret.
   */
  seedSecret(
    clientId: string,
    input?: { secret?: string; status?: KeyStatus },
  ): { id: string; secret: string };
  secrets(clientId: string): OktaSecretView[];
  /** The app's `token_endpoint_auth_method`. */
  authMethod(clientId: string): OktaApp["tokenEndpointAuthMethod"];
  /** Add a key directly, as a hand-made setup would have; it is accepted at once. */
  seedKey(
    clientId: string,
    jwk: { kid: string | null; n: string; e: string },
    status?: KeyStatus,
  ): { id: string };
  /** The next `times` management calls get Okta's 429 with a reset `resetInSec` seconds ahead. */
  rateLimit(times: number, resetInSec: number, limit?: number): void;
  keys(clientId: string): OktaKeyView[];
  close(): Promise<void>;
}

const WELL_KNOWN = "/.well-known/openid-configuration";
const tooMany = () => oktaError(429, "E0000047", "API call exceeded rate limit due to too many requests.");

export async function startOktaFake(opts: OktaFakeOptions): Promise<OktaFake> {
  const org = new Org(opts.propagationDelayMs);
  let orgUrl = "";
  const servers = new Map<string | undefined, AuthorizationServer>([
    [undefined, { scopes: [], defaultScopes: [] }],
  ]);
  const rejected: Rejection[] = [];
  const management = managementHandler(
    org,
    () => orgUrl,
    rejected,
    appsHandler(org, () => orgUrl),
  );
  const token = tokenHandler(org, () => orgUrl, servers);
  // "Okta provides three headers in each response" (https://developer.okta.com/docs/reference/rl-best-practices/).
  const limit = opts.rateLimitPerMinute ?? 600;
  let window = { minute: 0, used: 0 };
  const limited = (req: Request): Reply => {
    const minute = Math.floor(Date.now() / 60_000);
    if (window.minute !== minute) window = { minute, used: 0 };
    window.used++;
    const headers = {
      "x-rate-limit-limit": String(limit),
      "x-rate-limit-remaining": String(Math.max(0, limit - window.used)),
      "x-rate-limit-reset": String((minute + 1) * 60),
    };
    if (opts.rateLimitPerMinute !== undefined && window.used > limit) return { ...tooMany(), headers };
    const reply = management(req);
    return { ...reply, headers: { ...headers, ...reply.headers } };
  };
  const server = await startHttpsServer("okta", opts.tls, async (req, res) => {
    if (req.path.startsWith("/api/v1/")) return limited(req);
    if (req.method === "GET") {
      if (req.path === WELL_KNOWN) return openidConfiguration(orgUrl, undefined);
      const m = /^\/oauth2\/([^/]+)\/\.well-known\/openid-configuration$/.exec(req.path);
      if (m?.[1])
        return servers.has(m[1]) ? openidConfiguration(orgUrl, m[1]) : unknownAuthorizationServer(m[1]);
    }
    if (req.method === "POST") {
      if (req.path === "/oauth2/v1/token") return token(req, res, undefined);
      const m = /^\/oauth2\/([^/]+)\/v1\/token$/.exec(req.path);
      if (m) return token(req, res, m[1]);
    }
    return oktaError(404, "E0000022", "The endpoint does not support the provided HTTP method");
  });
  orgUrl = server.url;
  const appOf = (clientId: string) => {
    const app = org.apps.get(clientId);
    if (!app) throw new Error(`no app with client id ${clientId}`);
    return app;
  };
  return {
    orgUrl,
    server,
    tokenEndpoint: (id) =>
      id === undefined ? `${orgUrl}/oauth2/v1/token` : `${orgUrl}/oauth2/${id}/v1/token`,
    issuer: (id) => (id === undefined ? orgUrl : `${orgUrl}/oauth2/${id}`),
    addAuthorizationServer(id, s) {
      servers.set(id, s);
    },
    addApiToken(t, role) {
      noteSecret("admin-token", t);
      org.tokens.set(t, role);
    },
    createApp(input = {}) {
      return { clientId: org.createApp(input).id };
    },
    seedSecret(clientId, input = {}) {
      const secret = org.buildSecret(input.secret, input.status ?? "ACTIVE", true);
      appOf(clientId).secrets.push(secret);
      return { id: secret.id, secret: secret.secret };
    },
    secrets(clientId) {
      return appOf(clientId).secrets.map((s) => ({
        id: s.id,
        status: s.status,
        visibleAt: new Date(s.visibleAt),
      }));
    },
    authMethod(clientId) {
      return appOf(clientId).tokenEndpointAuthMethod;
    },
    seedKey(clientId, jwk, status = "ACTIVE") {
      const app = appOf(clientId);
      const key = org.buildKey(jwk, status, true);
      app.keys.push(key);
      return { id: key.id };
    },
    rateLimit(times, resetInSec, limit = 600) {
      const reset = Math.ceil(Date.now() / 1000) + resetInSec;
      server.faults.add({
        path: "/api/v1/",
        times,
        fault: {
          kind: "status",
          status: 429,
          body: tooMany().body,
          headers: {
            "x-rate-limit-limit": String(limit),
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": String(reset),
          },
        },
      });
    },
    keys(clientId) {
      return appOf(clientId).keys.map((k) => ({
        id: k.id,
        kid: k.kid,
        status: k.status,
        ...(k.alg ? { alg: k.alg } : {}),
        visibleAt: new Date(k.visibleAt),
      }));
    },
    rejected,
    close: () => server.close(),
  };
}
