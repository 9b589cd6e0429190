/**
 * The Auth0 Management API session of one rotated application: a machine-to-machine client's token and the
 * calls under `/api/v2/clients/{id}` that the key lifecycle (./idp.ts) makes.
 *
 * - The management token comes from client credentials with audience `https://<domain>/api/v2/` and is
 *   cached for the process (every run, sync tick and doctor call shares it) until a minute (or a tenth of its
 *   lifetime) before it expires; a cached token that is refused (401) is replaced once.
 * - Transient answers (a 429 honouring Retry-After, else X-RateLimit-Reset), resets and timeouts are
 *   retried with the shared policy and rule (src/http/retry.ts, src/http/transient.ts).
 * - Only the client's key-related fields are read, never its secret or signing keys.
 */
import type { Dispatcher } from "undici";
import { systemClock } from "../../../clock.js";
import { RotatorError } from "../../../errors.js";
import {
  defaultRetryPolicy,
  parseRetryAfter,
  transportReason,
  withRetry,
  type RetryEvent,
  type RetryPolicy,
} from "../../../http/retry.js";
import {
  exchangeText,
  headerValue,
  HttpStatusError,
  retryDecision,
  type TextRequest,
} from "../../../http/transient.js";
import { parseOAuthError } from "../../../http/token-request.js";
import { registerSecret } from "../../../log/redact.js";
import type { Clock } from "../../../ports/engine.js";
import { HINTS, managementFailure, parseManagementError, type Auth0Operation } from "./errors.js";

export interface CachedToken {
  token: string;
  refreshAt: number;
}

/** Per process: keyed by tenant and management client. Tokens are registered for redaction at every use. */
const PROCESS_TOKENS = new Map<string, CachedToken>();

interface HttpAnswer {
  status: number;
  text: string;
}

export interface CredentialJson {
  id: string;
  kid?: string;
  name?: string;
  alg?: string;
  expires_at?: string;
}
export interface ClientJson {
  token_endpoint_auth_method?: string | null;
  client_authentication_methods?: Record<string, unknown> | null;
  jwt_configuration?: { alg?: string } | null;
}

/** Only these fields are read: never the client secret or signing keys a broader grant would return. */
const CLIENT_FIELDS =
  "?fields=client_id,token_endpoint_auth_method,client_authentication_methods,jwt_configuration&include_fields=true";

export interface Auth0SessionConfig {
  /** https://<domain>, without a trailing slash. */
  base: string;
  /** The rotated application's client id. */
  clientId: string;
  /** A Machine-to-Machine application authorized for the Management API; the secret already resolved. */
  management: { clientId: string; clientSecret: string };
}

export interface Auth0SessionOptions {
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

export class Auth0ManagementSession {
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
    private readonly config: Auth0SessionConfig,
    private readonly options: Auth0SessionOptions = {},
  ) {
    this.base = config.base;
    this.clock = options.clock ?? systemClock;
    this.policy = { ...defaultRetryPolicy, ...options.retry };
    this.tokens = options.tokenCache ?? PROCESS_TOKENS;
    this.tokenKey = `${this.base}|${config.management.clientId}`;
  }

  get tokenEndpoint(): string {
    return `${this.base}/oauth/token`;
  }

  /** The shared retry policy as configured, for this session's calls and the proof. */
  get retry(): { policy: RetryPolicy; clock: Clock; onRetry?: (event: RetryEvent) => void } {
    return {
      policy: this.policy,
      clock: this.clock,
      ...(this.options.onRetry ? { onRetry: this.options.onRetry } : {}),
    };
  }

  async readClient(): Promise<ClientJson> {
    return (await this.call(
      "read-client",
      "GET",
      CLIENT_FIELDS,
      undefined,
      `client ${this.config.clientId}`,
    )) as ClientJson;
  }

  async listCredentials(): Promise<CredentialJson[]> {
    const v = await this.call(
      "list-credentials",
      "GET",
      "/credentials",
      undefined,
      `credentials of client ${this.config.clientId}`,
    );
    return Array.isArray(v) ? (v as CredentialJson[]) : [];
  }

  /** PATCH the whole attached list; the first attach also clears token_endpoint_auth_method. */

  /** One Management API call under /api/v2/clients/{clientId}; a fresh token once if the cached one is refused. */
  async call(
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
      this.retry,
    );
  }

  /** One HTTP exchange; a transient answer throws HttpStatusError with the server's requested wait. */
  private send(
    method: TextRequest["method"],
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal,
  ): Promise<HttpAnswer> {
    return exchangeText(
      url,
      {
        method,
        headers: { accept: "application/json", ...headers },
        ...(body === undefined ? {} : { body }),
        signal,
      },
      (status, answerHeaders) => auth0Wait(status, answerHeaders, this.clock.now()),
    );
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
export function auth0Wait(
  status: number,
  headers: Dispatcher.ResponseData["headers"],
  now: Date,
): number | undefined {
  const retryAfter = parseRetryAfter(headerValue(headers, "retry-after"), now);
  if (retryAfter !== undefined || status !== 429) return retryAfter;
  const reset = Number(headerValue(headers, "x-ratelimit-reset"));
  return Number.isFinite(reset) && reset > 0 ? Math.max(0, reset * 1000 - now.getTime()) : undefined;
}
