/**
 * IdentityProvider (src/idp.ts) for Auth0, over the Management API v2 and the Authentication API's token
 * endpoint with undici (no SDK).
 *
 * - Credentials: `POST /api/v2/clients/{id}/credentials` {credential_type: "public_key", name, pem, alg,
 *   kid, parse_expiry_from_cert}, `GET …/credentials`, `DELETE …/credentials/{credential_id}`
 *   (https://auth0.com/docs/api/management/v2/clients/post-credentials). `kid` "should match" the JWT
 *   header's kid; without one Auth0 assigns the RFC 7638 thumbprint.
 * - Attach/detach: `PATCH /api/v2/clients/{id}` with `client_authentication_methods.private_key_jwt.credentials`
 *   sent whole; the first attach sets `token_endpoint_auth_method: null` in the same PATCH, as the example
 *   in https://auth0.com/docs/get-started/applications/configure-private-key-jwt does (the two are mutually
 *   exclusive).
 * - "The current application storage limit is two credentials at one time"; a credential is disabled
 *   (detached) before it is deleted (https://auth0.com/docs/get-started/applications/rotate-credentials).
 * - The management token comes from client credentials with audience `https://<domain>/api/v2/` and is
 *   cached for the process (every run, sync tick and doctor call shares it) until a minute (or a tenth of its
 *   lifetime) before it expires.
 * - Transient answers (a 429 honouring Retry-After, else X-RateLimit-Reset), resets and timeouts are
 *   retried with the shared policy and rule (src/http/retry.ts, src/http/transient.ts).
 * - verify(): the shared proof (src/http/token-request.ts) with an assertion shaped like Kong's
 *   (aud = token endpoint, exp = iat + 60, random jti), `client_id` and no `audience`, as Kong sends none,
 *   so the tenant's default audience applies. Assertions over 2048 bytes are refused before sending.
 */
import { createHash } from "node:crypto";
import { request, type Dispatcher } from "undici";
import { systemClock } from "../../../clock.js";
import type { JwsSigner } from "../../../crypto/jws.js";
import type { SigningAlg } from "../../../crypto/keymaterial.js";
import { RotatorError } from "../../../errors.js";
import {
  defaultRetryPolicy,
  parseRetryAfter,
  transportReason,
  withRetry,
  type RetryEvent,
  type RetryPolicy,
} from "../../../http/retry.js";
import { headerValue, HttpStatusError, isTransientStatus, retryDecision } from "../../../http/transient.js";
import { redactText, registerSecret } from "../../../log/redact.js";
import { parseOAuthError, proveAtTokenEndpoint, type TokenErrorReader } from "../../../http/token-request.js";
import { secretStillUsable } from "../../../idp-rules.js";
import { AUTH0_RULES } from "./rules.js";
import { HINTS, managementFailure, parseManagementError, type Auth0Operation } from "./errors.js";
import type {
  Clock,
  IdentityProvider,
  IdpKey,
  IdpRules,
  IdpSecret,
  PublicKeyMaterial,
  TokenAttempt,
} from "../../../ports/engine.js";
import type { IdpFinding } from "../../../ports/diagnosis.js";

export interface Auth0IdpConfig {
  /** The tenant's canonical domain, like example.eu.auth0.com (the Management API audience is derived from it). */
  domain?: string;
  /** Overrides `https://<domain>` (tests, the local stack). */
  baseUrl?: string;
  /** The application whose credentials are rotated (the client Kong authenticates as). */
  clientId: string;
  /** A Machine-to-Machine application authorized for the Management API; the secret already resolved. */
  management: { clientId: string; clientSecret: string };
  /** Sent as `audience` by verify(); unset, like Kong, so the tenant's default audience applies. */
  audience?: string;
}

export interface Auth0IdpOptions {
  clock?: Clock;
  retry?: Partial<RetryPolicy>;
  onRetry?: (event: RetryEvent) => void;
  /**
   * Where Management API tokens are kept between adapters (default: one map for the process), so that a
   * run, a sync tick or a doctor call reuses the token an earlier one fetched, as Auth0 asks of M2M
   * clients (https://auth0.com/docs/secure/tokens/access-tokens/management-api-access-tokens).
   */
  tokenCache?: Map<string, CachedToken>;
}

export interface CachedToken {
  token: string;
  refreshAt: number;
}

/** Per process: keyed by tenant and management client. Tokens are registered for redaction at every use. */
const PROCESS_TOKENS = new Map<string, CachedToken>();

/** "The maximum size of the assertion is 2048 bytes"
 * (https://auth0.com/docs/get-started/authentication-and-authorization-flow/authenticate-with-private-key-jwt). */
export const MAX_ASSERTION_BYTES = 2048;
/** Kong's generate_private_key_jwt uses exp = iat + 60 (facts §7); Auth0 allows at most 5 minutes. */
const ASSERTION_LIFETIME_SEC = 60;
/** "Valid format is [0-9a-zA-Z-_]{10,64}" (PostClientCredentialRequestContent.kid). */
const KID_FORMAT = /^[0-9a-zA-Z_-]{10,64}$/;

interface HttpAnswer {
  status: number;
  text: string;
}

interface CredentialJson {
  id: string;
  kid?: string;
  name?: string;
  alg?: string;
  expires_at?: string;
}
interface ClientJson {
  token_endpoint_auth_method?: string | null;
  client_authentication_methods?: Record<string, unknown> | null;
  jwt_configuration?: { alg?: string } | null;
}

/** Only these fields are read: never the client secret or signing keys a broader grant would return. */
const CLIENT_FIELDS =
  "?fields=client_id,token_endpoint_auth_method,client_authentication_methods,jwt_configuration&include_fields=true";

/**
 * "To configure `client_authentication_methods`, the property `jwt_configuration.alg` must be set to RS256"
 * (https://auth0.com/docs/api/management/v2/clients/patch-clients-by-id).
 */
function jwtAlgProblem(client: ClientJson, clientId: string): RotatorError | undefined {
  const alg = client.jwt_configuration?.alg;
  if (alg === undefined || alg === "RS256") return undefined;
  return new RotatorError(
    "AUTH0_JWT_ALG",
    `Auth0 client ${clientId} signs its ID tokens with ${alg}; Private Key JWT can only be configured with RS256`,
    HINTS.jwtAlg,
    { details: { alg } },
  );
}

/** RFC 7638 JWK thumbprint of an RSA key: Auth0's default kid. */
export function rsaThumbprint(jwk: { n: string; e: string }): string {
  return createHash("sha256")
    .update(JSON.stringify({ e: jwk.e, kty: "RSA", n: jwk.n }))
    .digest("base64url");
}

const attachedIds = (client: ClientJson): string[] | null => {
  const pk = client.client_authentication_methods?.private_key_jwt as { credentials?: unknown } | undefined;
  if (!pk || !Array.isArray(pk.credentials)) return null;
  return pk.credentials
    .map((c: unknown) => (c && typeof c === "object" ? (c as { id?: unknown }).id : undefined))
    .filter((id): id is string => typeof id === "string");
};

export class Auth0IdentityProvider implements IdentityProvider {
  readonly kind = "auth0";
  readonly rules: IdpRules = AUTH0_RULES.rules;
  readonly client: string;
  private readonly base: string;
  private readonly clock: Clock;
  private readonly policy: RetryPolicy;
  private readonly tokens: Map<string, CachedToken>;
  private readonly tokenKey: string;
  private get cached(): CachedToken | undefined {
    return this.tokens.get(this.tokenKey);
  }
  /** The token request in flight, so that concurrent calls share one. */
  private fetching: Promise<string> | undefined;

  constructor(
    private readonly config: Auth0IdpConfig,
    private readonly options: Auth0IdpOptions = {},
  ) {
    const base = config.baseUrl ?? (config.domain ? `https://${config.domain}` : undefined);
    if (!base)
      throw new RotatorError(
        "AUTH0_CONFIG_INVALID",
        "The Auth0 credential needs a domain",
        "Set auth0.domain, like example.eu.auth0.com.",
      );
    this.base = base.replace(/\/+$/, "");
    this.clock = options.clock ?? systemClock;
    this.policy = { ...defaultRetryPolicy, ...options.retry };
    this.client = `${AUTH0_RULES.clientNoun} ${config.clientId}`;
    this.tokens = options.tokenCache ?? PROCESS_TOKENS;
    this.tokenKey = `${this.base}|${config.management.clientId}`;
  }

  get tokenEndpoint(): string {
    return `${this.base}/oauth/token`;
  }

  async listKeys(): Promise<IdpKey[]> {
    const [client, credentials] = await Promise.all([this.readClient(), this.listCredentials()]);
    const attached = attachedIds(client) ?? [];
    return credentials.map((c) => this.toKey(c, attached));
  }

  async register(material: PublicKeyMaterial): Promise<IdpKey> {
    if (!this.rules.algorithms.includes(material.alg))
      throw new RotatorError("AUTH0_ALG_UNSUPPORTED", `Auth0 does not take ${material.alg} here`, HINTS.alg);
    const kid = KID_FORMAT.test(material.kid) ? material.kid : undefined;
    const { found: existing, credentials: current } = await this.findRegistered(material, kid);
    if (existing) return existing;
    if (current.length >= this.rules.maxKeys)
      throw new RotatorError(
        "AUTH0_CREDENTIAL_LIMIT",
        `Client ${this.config.clientId} already holds ${current.length} credentials (at most ${this.rules.maxKeys})`,
        HINTS.limit,
        { details: { credentialIds: current.map((c) => c.id) } },
      );
    const body = {
      credential_type: "public_key",
      name: material.displayName.slice(0, 128),
      pem: material.certPem,
      alg: material.alg,
      parse_expiry_from_cert: true,
      ...(kid ? { kid } : {}),
    };
    try {
      const created = (await this.management(
        "create-credential",
        "POST",
        `/credentials`,
        body,
        `a credential for client ${this.config.clientId}`,
      )) as CredentialJson;
      return this.toKey(created, []);
    } catch (e) {
      // A POST whose answer was lost may have taken effect: a retry then meets the kid (409), or the
      // retries ran out. Return the credential if it is registered.
      if (e instanceof RotatorError && (e.status === 409 || e.retryable)) {
        const again = await this.findRegistered(material, kid).catch(() => undefined);
        if (again?.found) return again.found;
      }
      throw e;
    }
  }

  async activate(key: IdpKey): Promise<void> {
    const client = await this.readClient();
    const attached = attachedIds(client);
    if (attached?.includes(key.id)) return;
    const problem = jwtAlgProblem(client, this.config.clientId);
    if (problem) throw problem;
    await this.patchAttached(client, [...(attached ?? []), key.id]);
  }

  readonly secretMigration = AUTH0_RULES.secretMigration;

  /** The client's one secret, usable while token_endpoint_auth_method is a secret method (never its value). */
  async listSecrets(): Promise<IdpSecret[]> {
    const method = (await this.readClient()).token_endpoint_auth_method;
    return [
      {
        id: "client_secret",
        usable: method === "client_secret_post" || method === "client_secret_basic",
      },
    ];
  }

  async switchToKeys(): Promise<void> {
    // Attaching the first credential (publish) already switched the client.
  }

  async retireSecret(secret: IdpSecret): Promise<void> {
    if ((await this.listSecrets()).some((s) => s.id === secret.id && s.usable))
      throw secretStillUsable(this.client, secret.id);
  }

  async diagnose(): Promise<IdpFinding[]> {
    const client = await this.readClient();
    const problem = jwtAlgProblem(client, this.config.clientId);
    const out: IdpFinding[] = [
      problem
        ? { status: "fail", code: problem.code, message: problem.message, hint: problem.hint }
        : {
            status: "pass",
            code: "AUTH0_JWT_ALG_OK",
            message: `Auth0 client ${this.config.clientId}: jwt_configuration.alg allows Private Key JWT`,
          },
    ];
    if (client.token_endpoint_auth_method)
      out.push({
        status: "warn",
        code: "AUTH0_SECRET_AUTH",
        message: `Auth0 client ${this.config.clientId} authenticates with ${client.token_endpoint_auth_method}; the first key the rotator attaches switches it to Private Key JWT`,
        hint: "client_authentication_methods and token_endpoint_auth_method are mutually exclusive: once a credential is attached the client secret no longer authenticates. Move every user of the secret to private_key_jwt first.",
      });
    return out;
  }

  /** Registration needs no proof of possession at Auth0 (IdpRules.proofOfPossession): nothing to foresee. */
  async preflightRegister(): Promise<RotatorError | undefined> {
    return undefined;
  }

  verifyHint(x5t: string): string {
    return `check that key ${x5t} is registered and active for ${this.client}`;
  }

  async withdraw(key: IdpKey): Promise<void> {
    const client = await this.readClient();
    const attached = attachedIds(client);
    if (!attached?.includes(key.id)) return;
    const rest = attached.filter((id) => id !== key.id);
    if (rest.length === 0)
      throw new RotatorError(
        "AUTH0_LAST_CREDENTIAL",
        `Credential ${key.id} is the only one attached to client ${this.config.clientId}`,
        HINTS.lastCredential,
      );
    await this.patchAttached(client, rest);
  }

  async remove(key: IdpKey): Promise<void> {
    const client = await this.readClient();
    if (attachedIds(client)?.includes(key.id))
      throw new RotatorError(
        "AUTH0_CREDENTIAL_ATTACHED",
        `Credential ${key.id} is attached to client ${this.config.clientId}; it can't be deleted`,
        HINTS.attached,
      );
    try {
      await this.management(
        "delete-credential",
        "DELETE",
        `/credentials/${encodeURIComponent(key.id)}`,
        undefined,
        `credential ${key.id}`,
      );
    } catch (e) {
      if (e instanceof RotatorError && e.code === "AUTH0_NOT_FOUND") return; // already gone
      throw e;
    }
  }

  verify(signer: JwsSigner, alg: SigningAlg): Promise<TokenAttempt> {
    return proveAtTokenEndpoint(
      {
        endpoint: this.tokenEndpoint,
        clientId: this.config.clientId,
        signer,
        alg,
        params: {
          client_id: this.config.clientId,
          ...(this.config.audience ? { audience: this.config.audience } : {}),
        },
        lifetimeSec: ASSERTION_LIFETIME_SEC,
        maxAssertion: { bytes: MAX_ASSERTION_BYTES, code: "AUTH0_ASSERTION_TOO_LARGE", provider: "Auth0" },
        // Auth0 proves with no scope and no audience, as Kong sends none (IdpRules.proofScopes "own").
        refusal: { algorithmAllowed: this.rules.algorithms.includes(alg) },
        readError: readAuth0TokenError,
        retryAfter: auth0Wait,
      },
      {
        policy: this.policy,
        clock: this.clock,
        ...(this.options.onRetry ? { onRetry: this.options.onRetry } : {}),
      },
    );
  }

  // -------------------------------------------------------------------------------------------

  private toKey(c: CredentialJson, attached: string[]): IdpKey {
    return {
      id: c.id,
      ...(c.kid ? { kid: c.kid } : {}),
      usable: attached.includes(c.id),
      ...(c.name ? { displayName: c.name } : {}),
      ...(c.expires_at ? { expiresAt: c.expires_at } : {}),
    };
  }

  /** The credential already registered for this key: same kid, or Auth0's default kid for its public key. */
  private async findRegistered(
    material: PublicKeyMaterial,
    kid: string | undefined,
  ): Promise<{ found: IdpKey | undefined; credentials: CredentialJson[] }> {
    const thumbprint = rsaThumbprint(material.jwk);
    const [client, credentials] = await Promise.all([this.readClient(), this.listCredentials()]);
    const found = credentials.find((c) => (kid !== undefined && c.kid === kid) || c.kid === thumbprint);
    return { found: found ? this.toKey(found, attachedIds(client) ?? []) : undefined, credentials };
  }

  private async readClient(): Promise<ClientJson> {
    return (await this.management(
      "read-client",
      "GET",
      CLIENT_FIELDS,
      undefined,
      `client ${this.config.clientId}`,
    )) as ClientJson;
  }

  private async listCredentials(): Promise<CredentialJson[]> {
    const v = await this.management(
      "list-credentials",
      "GET",
      "/credentials",
      undefined,
      `credentials of client ${this.config.clientId}`,
    );
    return Array.isArray(v) ? (v as CredentialJson[]) : [];
  }

  /** PATCH the whole attached list; the first attach also clears token_endpoint_auth_method. */
  private async patchAttached(client: ClientJson, ids: string[]): Promise<void> {
    const body = {
      client_authentication_methods: {
        ...(client.client_authentication_methods ?? {}),
        private_key_jwt: { credentials: ids.map((id) => ({ id })) },
      },
      ...(client.token_endpoint_auth_method !== null ? { token_endpoint_auth_method: null } : {}),
    };
    await this.management("update-client", "PATCH", "", body, `client ${this.config.clientId}`);
  }

  /** One Management API call under /api/v2/clients/{clientId}; a fresh token once if the cached one is refused. */
  private async management(
    op: Exclude<Auth0Operation, "get-token">,
    method: "GET" | "POST" | "PATCH" | "DELETE",
    suffix: string,
    body: unknown,
    subject: string,
  ): Promise<unknown> {
    const url = `${this.base}/api/v2/clients/${encodeURIComponent(this.config.clientId)}${suffix}`;
    const call = async (token: string) =>
      this.retrying((signal) =>
        this.send(
          method,
          url,
          {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          body === undefined ? undefined : JSON.stringify(body),
          signal,
        ),
      );
    const hadCached = this.cached !== undefined;
    let answer = await call(await this.managementToken()).catch((e: unknown) => {
      throw this.unavailable(e, op, subject);
    });
    if (answer.status === 401 && hadCached) {
      this.tokens.delete(this.tokenKey);
      answer = await call(await this.managementToken()).catch((e: unknown) => {
        throw this.unavailable(e, op, subject);
      });
    }
    if (answer.status === 401) this.tokens.delete(this.tokenKey);
    if (answer.status >= 200 && answer.status < 300)
      return answer.text ? parseJson(answer.text, op) : undefined;
    throw managementFailure(op, answer.status, parseManagementError(answer.text), subject);
  }

  /**
   * The cached or a new management token. The secret and the token are registered with the redactor on
   * every use, as registrations last only for the current run's secret scope (src/log/redact.ts) while
   * this adapter and its cached token may serve several runs.
   */
  private async managementToken(): Promise<string> {
    registerSecret(this.config.management.clientSecret);
    if (this.cached && this.clock.now().getTime() < this.cached.refreshAt) {
      registerSecret(this.cached.token);
      return this.cached.token;
    }
    this.fetching ??= this.fetchManagementToken().finally(() => (this.fetching = undefined));
    const token = await this.fetching;
    registerSecret(token);
    return token;
  }

  private async fetchManagementToken(): Promise<string> {
    const now = this.clock.now().getTime();
    const audience = `${this.base}/api/v2/`;
    const answer = await this.retrying((signal) =>
      this.send(
        "POST",
        this.tokenEndpoint,
        { "content-type": "application/json" },
        JSON.stringify({
          grant_type: "client_credentials",
          client_id: this.config.management.clientId,
          client_secret: this.config.management.clientSecret,
          audience,
        }),
        signal,
      ),
    ).catch((e: unknown) => {
      throw this.unavailable(e, "get-token", "the management token");
    });
    if (answer.status !== 200) {
      const err = parseOAuthError(answer.text);
      const details = { operation: "get-token", ...(err.error ? { error: err.error } : {}) };
      if (answer.status === 403)
        throw new RotatorError(
          "AUTH0_FORBIDDEN",
          `Management client ${this.config.management.clientId} is not authorized for the Auth0 Management API`,
          HINTS.notAuthorizedForApi,
          { status: 403, details },
        );
      throw new RotatorError(
        "AUTH0_UNAUTHORIZED",
        `Auth0 refused the management client ${this.config.management.clientId} (HTTP ${answer.status})`,
        HINTS.unauthorized,
        { status: answer.status, details },
      );
    }
    const parsed = parseJson(answer.text, "get-token") as {
      access_token?: unknown;
      expires_in?: unknown;
    } | null;
    if (typeof parsed?.access_token !== "string")
      throw new RotatorError(
        "AUTH0_UNAUTHORIZED",
        "Auth0 answered without an access token",
        HINTS.unauthorized,
      );
    const lifetimeMs = (typeof parsed.expires_in === "number" ? parsed.expires_in : 86400) * 1000;
    this.tokens.set(this.tokenKey, {
      token: parsed.access_token,
      refreshAt: now + lifetimeMs - Math.min(60_000, lifetimeMs / 10),
    });
    return parsed.access_token;
  }

  private unavailable(e: unknown, op: Auth0Operation, subject: string): RotatorError {
    if (e instanceof RotatorError) return e;
    const throttled = e instanceof HttpStatusError && e.status === 429;
    return new RotatorError(
      throttled ? "AUTH0_THROTTLED" : "AUTH0_UNAVAILABLE",
      `Auth0 did not answer ${op} (${subject}) successfully: ${transportReason(e)}`,
      throttled ? HINTS.throttled : HINTS.unavailable,
      {
        retryable: true,
        ...(e instanceof HttpStatusError ? { status: e.status } : {}),
        details: { operation: op },
      },
    );
  }

  private retrying<T>(op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return withRetry(
      (_attempt, signal) => op(signal),
      (e) => retryDecision(e),
      {
        policy: this.policy,
        clock: this.clock,
        ...(this.options.onRetry ? { onRetry: this.options.onRetry } : {}),
      },
    );
  }

  /** One HTTP exchange; a transient answer throws HttpStatusError with the server's requested wait. */
  private async send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal,
  ): Promise<HttpAnswer> {
    const res = await request(url, {
      method: method as "GET",
      headers: { accept: "application/json", ...headers },
      ...(body === undefined ? {} : { body }),
      signal,
    });
    const text = await res.body.text();
    if (isTransientStatus(res.statusCode))
      throw new HttpStatusError(res.statusCode, auth0Wait(res.statusCode, res.headers, this.clock.now()));
    return { status: res.statusCode, text };
  }
}

/** A 2xx body that is not JSON: Auth0 (or something in front of it) answered garbage; worth a later retry. */
function parseJson(text: string, op: Auth0Operation): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RotatorError(
      "AUTH0_UNAVAILABLE",
      `Auth0 answered ${op} with a body that is not JSON`,
      HINTS.unavailable,
      { retryable: true, details: { operation: op } },
    );
  }
}

/**
 * The wait a transient answer asks for: Retry-After, else for a 429 the `X-RateLimit-Reset` (epoch seconds)
 * Auth0 documents for its APIs (Rate Limit Policy).
 */
function auth0Wait(
  status: number,
  headers: Dispatcher.ResponseData["headers"],
  now: Date,
): number | undefined {
  const retryAfter = parseRetryAfter(headerValue(headers, "retry-after"), now);
  if (retryAfter !== undefined || status !== 429) return retryAfter;
  const reset = Number(headerValue(headers, "x-ratelimit-reset"));
  return Number.isFinite(reset) && reset > 0 ? Math.max(0, reset * 1000 - now.getTime()) : undefined;
}

/** A refused assertion: the OAuth error, with its description redacted (Auth0 may echo what it was sent). */
const readAuth0TokenError: TokenErrorReader = (text) => {
  const err = parseOAuthError(text);
  return { ...err, ...(err.description ? { description: redactText(err.description) } : {}) };
};
