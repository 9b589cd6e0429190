/**
 * HTTP helpers shared by the HTTP functions: bounded JSON bodies, safe error responses, caller identity.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { isConfigurationError, isRotatorError, toRotatorError, type RotatorError } from "../errors.js";
import { redact, redactText } from "../log/redact.js";

export const MAX_BODY_BYTES = 16 * 1024;

export function json(status: number, body: unknown): HttpResponseInit {
  return { status, jsonBody: redact(body), headers: { "cache-control": "no-store" } };
}

/**
 * A self-contained HTML page (the status page): no script runs and nothing loads from elsewhere, which the
 * Content-Security-Policy enforces in the browser (inline styles and SVG only).
 */
export function html(status: number, body: string): HttpResponseInit {
  return {
    status,
    body,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy":
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    },
  };
}

/**
 * Does the Accept header rank text/html above application/json? (RFC 9110 section 12.5.1: q-values,
 * default 1; a browser sends text/html first, API clients send JSON or nothing.)
 */
export function prefersHtml(accept: string | null): boolean {
  if (!accept) return false;
  const ranges = accept.split(",").map((part) => {
    const [range = "", ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return { range: range.trim(), q: q ? Number(q.slice(2)) : 1 };
  });
  // The most specific matching range decides: type/subtype, then type/*, then */*.
  const quality = (type: string) => {
    for (const candidate of [type, `${type.split("/")[0]}/*`, "*/*"]) {
      const match = ranges.find((r) => r.range === candidate);
      if (match) return Number.isFinite(match.q) ? match.q : 0;
    }
    return 0;
  };
  return quality("text/html") > quality("application/json");
}

export function problem(status: number, code: string, message: string, hint: string): HttpResponseInit {
  return json(status, { error: { code, message, hint } });
}

/**
 * Map a thrown error to a response that never echoes internals or secrets, and log it for the operator
 * (the response's hint points there, by invocation id).
 *
 * The HTTP status comes from the error's code, never from `RotatorError.status`: that field is the status
 * of a failed upstream call (Key Vault, Graph, Storage, Kong), so passing it through would, for example,
 * turn a Storage 404 into "credential not found". The body carries code, message and hint only; upstream
 * statuses and details stay in the log.
 */
export function errorResponse(e: unknown, context: InvocationContext): HttpResponseInit {
  const err = toRotatorError(e);
  context.error(
    redactText(
      JSON.stringify({
        event: "HttpFunctionFailed",
        function: context.functionName,
        invocationId: context.invocationId,
        error: redact(err.toJSON()),
        ...(isRotatorError(e) ? {} : { stack: err.stack }),
      }),
    ),
  );
  if (!isRotatorError(e))
    return problem(
      500,
      "INTERNAL",
      "internal error",
      `See the function logs for invocation ${context.invocationId}.`,
    );
  return problem(statusFor(e), e.code, e.message, e.hint);
}

/** Server-side configuration problems: the caller cannot fix them by changing the request. */

function statusFor(e: RotatorError): number {
  if (e.code === "UNKNOWN_CREDENTIAL") return 404;
  // The request cannot be carried out in the credential's current state (see engine/manual.ts).
  if (e.code === "REQUEST_CONFLICT" || e.code === "NO_PENDING_REQUEST" || e.code === "ROLLBACK_REFUSED")
    return 409;
  if (e.code === "ROTATE_COOLDOWN") return 429;
  if (isConfigurationError(e.code)) return 500;
  // A dependency (Key Vault, Entra, Storage, Kong) failed: 503 when trying again later may help.
  return e.retryable ? 503 : 502;
}

export type BodyResult = { ok: true; value: unknown } | { ok: false; response: HttpResponseInit };

const TOO_LARGE: BodyResult = {
  ok: false,
  response: problem(
    413,
    "BODY_TOO_LARGE",
    `body exceeds ${MAX_BODY_BYTES} bytes`,
    "Send only {force, dryRun, reason}.",
  ),
};

/** Read a JSON body of at most MAX_BODY_BYTES; an empty body is `{}`. */
export async function readJsonBody(req: HttpRequest): Promise<BodyResult> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) return TOO_LARGE;
  const text = await req.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) return TOO_LARGE;
  if (text.trim() === "") return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return {
      ok: false,
      response: problem(
        400,
        "BODY_NOT_JSON",
        "the body is not valid JSON",
        'Send a JSON object such as {"force": true, "reason": "..."}.',
      ),
    };
  }
}

/** The actor written to the audit line when App Service authentication did not identify the caller. */
export const FUNCTION_KEY_CALLER = "function-key caller";

export const OPERATOR_ROLE = "Rotation.Operator";
export const READER_ROLE = "Rotation.Reader";

export interface Caller {
  /** Who, for the audit line: the principal's name or id, or FUNCTION_KEY_CALLER. */
  actor: string;
  /** True only when App Service authentication is on and set a principal that decodes. */
  authenticated: boolean;
  /** App roles of the authenticated principal (empty otherwise). */
  roles: string[];
  /** App Service authentication is enabled on this app (the platform's WEBSITE_AUTH_ENABLED). */
  authEnabled: boolean;
}

/**
 * App Service authentication sets WEBSITE_AUTH_ENABLED=True in the app's environment when it is on
 * (https://learn.microsoft.com/azure/app-service/reference-app-settings#authentication--authorization).
 */
export function appServiceAuthEnabled(env: NodeJS.ProcessEnv): boolean {
  return env.WEBSITE_AUTH_ENABLED?.toLowerCase() === "true";
}

interface ClientPrincipal {
  auth_typ?: unknown;
  name_typ?: unknown;
  role_typ?: unknown;
  claims?: unknown;
}

/**
 * The caller. `x-ms-client-principal` (base64 JSON: auth_typ, name_typ, role_typ, claims[{typ, val}]) is
 * trusted only when App Service authentication is enabled: then the platform strips any such header sent
 * by a client and sets its own ("External requests aren't allowed to set these headers, so they're present
 * only if set by App Service", https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities).
 * Without it anyone holding the function key could write the header, so it is ignored and the actor is
 * FUNCTION_KEY_CALLER. A header that does not decode to a principal with claims is ignored too.
 */
export function callerOf(req: HttpRequest, env: NodeJS.ProcessEnv = process.env): Caller {
  const authEnabled = appServiceAuthEnabled(env);
  const anonymous: Caller = { actor: FUNCTION_KEY_CALLER, authenticated: false, roles: [], authEnabled };
  const encoded = req.headers.get("x-ms-client-principal");
  if (!authEnabled || !encoded) return anonymous;
  let p: ClientPrincipal;
  try {
    p = JSON.parse(Buffer.from(encoded, "base64").toString("utf8")) as ClientPrincipal;
  } catch {
    return anonymous;
  }
  if (p === null || typeof p !== "object" || !Array.isArray(p.claims)) return anonymous;
  const claims = p.claims.filter(
    (c): c is { typ: string; val: string } =>
      c !== null && typeof c === "object" && typeof c.typ === "string" && typeof c.val === "string",
  );
  const of = (...types: unknown[]) => claims.filter((c) => types.includes(c.typ)).map((c) => c.val);
  // Entra access tokens carry app roles as `roles` claims; role_typ names the type the platform used.
  const roles = [...new Set(of("roles", p.role_typ))];
  const name =
    of(
      p.name_typ,
      "name",
      "preferred_username",
      "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    )[0] ??
    of("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid", "appid", "azp")[0] ??
    req.headers.get("x-ms-client-principal-name") ??
    undefined;
  if (!name) return anonymous;
  return { actor: name.slice(0, 200), authenticated: true, roles, authEnabled };
}

export type Access = "read" | "rotate";

/**
 * Authorization on top of the function key (every route is authLevel "function", so the host has checked
 * the key before the handler runs). With App Service authentication on:
 * - rotate needs an authenticated principal holding the Rotation.Operator app role (401 without a
 *   principal, 403 without the role): a shared key alone cannot start a rotation;
 * - reads need nothing more than the key, but a principal that is present must hold Rotation.Reader or
 *   Rotation.Operator.
 * Without App Service authentication the key is the only gate, as before.
 */
export function authorize(caller: Caller, access: Access): HttpResponseInit | undefined {
  if (!caller.authEnabled) return undefined;
  if (access === "rotate") {
    if (!caller.authenticated)
      return problem(
        401,
        "AUTHENTICATION_REQUIRED",
        "a manual rotation needs a signed-in caller",
        `Call with an Entra access token for the rotator's API, issued to a principal that holds the ${OPERATOR_ROLE} app role (docs/permissions.md).`,
      );
    if (!caller.roles.includes(OPERATOR_ROLE))
      return problem(
        403,
        "ROLE_REQUIRED",
        `${caller.actor} does not hold the ${OPERATOR_ROLE} app role`,
        `Ask an administrator to assign the ${OPERATOR_ROLE} app role of the rotator's API to you (docs/permissions.md).`,
      );
    return undefined;
  }
  if (caller.authenticated && !caller.roles.some((r) => r === READER_ROLE || r === OPERATOR_ROLE))
    return problem(
      403,
      "ROLE_REQUIRED",
      `${caller.actor} holds neither the ${READER_ROLE} nor the ${OPERATOR_ROLE} app role`,
      `Ask an administrator to assign the ${READER_ROLE} app role of the rotator's API to you (docs/permissions.md).`,
    );
  return undefined;
}
