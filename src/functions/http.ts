/**
 * HTTP helpers shared by the HTTP functions: bounded JSON bodies, safe error responses (who may call:
 * auth.ts).
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

/** The 404 for a credential name the configuration does not hold; undefined when it holds it. */
export function unknownCredential(
  credentials: readonly { name: string }[],
  name: string,
): HttpResponseInit | undefined {
  if (credentials.some((c) => c.name === name)) return undefined;
  return problem(
    404,
    "UNKNOWN_CREDENTIAL",
    `no credential named "${name.slice(0, 64)}"`,
    "GET /api/credentials lists the configured names.",
  );
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
  if (
    e.code === "REQUEST_CONFLICT" ||
    e.code === "NO_PENDING_REQUEST" ||
    e.code === "ROLLBACK_REFUSED" ||
    e.code === "ROLLBACK_COMPROMISED"
  )
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
