/**
 * A small Kong Admin API client over undici: JSON in and out, the RBAC token in `Kong-Admin-Token`, retries
 * through the shared policy, and failures mapped to typed errors that never carry response bodies (a
 * plugin config holds private keys) or the admin token.
 *
 * Retried by the shared rule (src/http/transient.ts): transient statuses (honouring Retry-After), lost
 * connections and timeouts. Not retried: other 4xx.
 * Error shapes (kong/db/errors.lua, kong/api/endpoints.lua): 400 `{code: 2, name: "schema violation",
 * message, fields}`; 404 `{"message":"Not found"}`; DB-less writes 405 `{code: 12, name: "operation
 * unsupported", message: "cannot update 'plugins' entities when not using a database"}`
 * (https://developer.konghq.com/gateway/db-less-mode/); RBAC 401 `{"message":"Invalid RBAC credentials"}`.
 * Replaying a write is safe: PATCH always sends the complete client_jwk array, PUT (Konnect) the whole
 * plugin and POST /config (DB-less) the whole declarative config, so each is idempotent.
 */
import { request, type Dispatcher } from "undici";
import type { Clock } from "../../../ports/engine.js";
import { RotatorError } from "../../../errors.js";
import {
  TimeoutError,
  defaultRetryPolicy,
  parseRetryAfter,
  withRetry,
  type RetryPolicy,
} from "../../../http/retry.js";
import { headerValue, HttpStatusError, isTransientStatus, retryDecision } from "../../../http/transient.js";
import { REDACTED, scrubEchoedText } from "../../../log/redact.js";

export interface KongClientOptions {
  /** Target name, for messages. */
  target: string;
  adminUrl: string;
  adminToken?: string;
  /** Konnect: a bearer token (system-account `spat_` or personal `kpat_`) instead of Kong-Admin-Token. */
  bearerToken?: string;
  clock?: Clock;
  retry?: Partial<RetryPolicy>;
  dispatcher?: Dispatcher;
}

class BadJson extends Error {
  override readonly name = "BadJson";
}

function errorCode(e: unknown): string | undefined {
  for (
    let cur: unknown = e, depth = 0;
    cur && typeof cur === "object" && depth < 4;
    cur = (cur as { cause?: unknown }).cause, depth++
  ) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A schema violation's `fields` with every message scrubbed: Kong's messages can echo a submitted value
 * (e.g. "invalid value: ..."), and the submitted value may be a private JWK member.
 */
export function scrubFields(v: unknown, depth = 0): unknown {
  if (depth > 8) return REDACTED;
  if (typeof v === "string") return scrubEchoedText(v);
  if (Array.isArray(v)) return v.map((x) => scrubFields(x, depth + 1));
  if (isRecord(v))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scrubFields(x, depth + 1)]));
  return v === null || typeof v === "number" || typeof v === "boolean" ? v : REDACTED;
}

export class KongClient {
  private readonly base: URL;
  private readonly policy: RetryPolicy;

  constructor(private readonly opts: KongClientOptions) {
    this.base = new URL(opts.adminUrl.endsWith("/") ? opts.adminUrl : `${opts.adminUrl}/`);
    this.policy = { ...defaultRetryPolicy, ...(opts.retry ?? {}) };
  }

  get(path: string): Promise<unknown> {
    return this.call("GET", path);
  }

  patch(path: string, body: unknown): Promise<unknown> {
    return this.call("PATCH", path, body);
  }

  put(path: string, body: unknown): Promise<unknown> {
    return this.call("PUT", path, body);
  }

  post(path: string, body: unknown): Promise<unknown> {
    return this.call("POST", path, body);
  }

  delete(path: string): Promise<unknown> {
    return this.call("DELETE", path);
  }

  private async call(
    method: "GET" | "PATCH" | "PUT" | "POST" | "DELETE",
    path: string,
    body?: unknown,
  ): Promise<unknown> {
    const url = new URL(path.replace(/^\//, ""), this.base);
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.opts.adminToken) headers["kong-admin-token"] = this.opts.adminToken;
    if (this.opts.bearerToken) headers.authorization = `Bearer ${this.opts.bearerToken}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) headers["content-type"] = "application/json";
    const what = `${method} ${url.pathname}`;
    try {
      return await withRetry(
        async (_attempt, signal) => {
          const res = await request(url, {
            method,
            headers,
            ...(payload === undefined ? {} : { body: payload }),
            signal,
            ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
          });
          const text = await res.body.text();
          let parsed: unknown;
          try {
            parsed = text === "" ? undefined : JSON.parse(text);
          } catch {
            parsed = undefined;
            if (res.statusCode < 400) throw new BadJson(`${what} returned a body that is not JSON`);
          }
          // The parsed body is for classifying the failure only; it never becomes an error's cause.
          if (res.statusCode >= 400)
            throw new HttpStatusError(
              res.statusCode,
              parseRetryAfter(headerValue(res.headers, "retry-after"), this.opts.clock?.now()),
              parsed,
            );
          return parsed;
        },
        (e) => retryDecision(e),
        { policy: this.policy, ...(this.opts.clock ? { clock: this.opts.clock } : {}) },
      );
    } catch (e) {
      throw this.toError(e, what);
    }
  }

  private toError(e: unknown, what: string): RotatorError {
    const t = this.opts.target;
    if (e instanceof RotatorError) return e;
    if (e instanceof BadJson)
      return new RotatorError(
        "KONG_BAD_RESPONSE",
        `Kong target ${t}: ${e.message}`,
        "Check that adminUrl points at the Kong Admin API (not the proxy port or a login page).",
      );
    if (e instanceof HttpStatusError) return this.statusError(e, what);
    if (e instanceof TimeoutError)
      return new RotatorError(
        "KONG_UNAVAILABLE",
        `Kong target ${t}: ${what} timed out`,
        "The Admin API did not answer in time; check Kong's health and network path.",
        { retryable: true },
      );
    const code = errorCode(e) ?? (e instanceof Error ? e.name : "error");
    return new RotatorError(
      "KONG_UNAVAILABLE",
      `Kong target ${t}: ${what} failed (${code})`,
      "Check that adminUrl is reachable from the service and that its TLS certificate is trusted.",
      {
        retryable: true,
        cause: e,
      },
    );
  }

  private statusError(e: HttpStatusError<unknown>, what: string): RotatorError {
    const t = this.opts.target;
    const status = e.status;
    const body = isRecord(e.answer) ? e.answer : {};
    const msg = `Kong target ${t}: ${what} returned ${status}`;
    if (status === 401 || status === 403)
      return new RotatorError(
        "KONG_UNAUTHORIZED",
        msg,
        this.opts.bearerToken
          ? status === 401
            ? "Konnect rejected the token: set konnect.token to a valid system-account token (spat_...); a revoked token may keep working up to 15 minutes."
            : "The Konnect system account lacks permission: give it the Control Plane Admin role (or a role that can edit plugins and read nodes) on this control plane."
          : status === 401
            ? "Kong rejected the admin credentials: set adminToken to a valid RBAC user token (sent as Kong-Admin-Token)."
            : "The RBAC user lacks permission: grant read and update on /plugins (in the target's workspace).",
        { status },
      );
    if (status === 404)
      return new RotatorError(
        "KONG_NOT_FOUND",
        msg,
        "Check pluginId and workspace: /plugins/{id} only sees the default workspace.",
        { status },
      );
    if (
      status === 405 &&
      (body.code === 12 ||
        (typeof body.message === "string" && body.message.includes("when not using a database")))
    )
      return new RotatorError(
        "KONG_DBLESS",
        `${msg}: Kong runs DB-less`,
        "DB-less Kong: the Admin API is read-only. Configure this target as `dbless: { nodes: [...] }` (POST /config per node) instead of adminUrl.",
        { status },
      );
    if (status === 405)
      return new RotatorError(
        "KONG_METHOD_NOT_ALLOWED",
        msg,
        "This endpoint does not accept the request; check that adminUrl is a Kong Gateway Admin API.",
        { status },
      );
    if (status === 400 && body.name === "schema violation")
      return new RotatorError(
        "KONG_SCHEMA_VIOLATION",
        `${msg}: schema violation`,
        "Kong rejected the plugin config; see details.fields for the offending fields.",
        {
          status,
          details: { fields: scrubFields(body.fields) },
        },
      );
    if (status === 429)
      return new RotatorError(
        "KONG_THROTTLED",
        msg,
        "Kong (or a proxy in front of it) is rate limiting the Admin API; the next run will retry.",
        { status, retryable: true },
      );
    if (isTransientStatus(status))
      return new RotatorError(
        "KONG_UNAVAILABLE",
        msg,
        "Kong's Admin API is failing; check Kong's error log and its database.",
        { status, retryable: true },
      );
    const details: Record<string, unknown> = {};
    if (typeof body.name === "string") details.kongError = scrubEchoedText(body.name);
    if (typeof body.message === "string") details.kongMessage = scrubEchoedText(body.message);
    return new RotatorError("KONG_REQUEST_FAILED", msg, "Kong refused the request; see details.", {
      status,
      ...(Object.keys(details).length ? { details } : {}),
    });
  }
}
