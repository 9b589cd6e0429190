/**
 * HTTP helpers shared by the HTTP functions: bounded JSON bodies, safe error responses, caller identity.
 */
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { isRotatorError, toRotatorError } from "../errors.js";
import { redact } from "../log/redact.js";

export const MAX_BODY_BYTES = 16 * 1024;

export function json(status: number, body: unknown): HttpResponseInit {
  return { status, jsonBody: redact(body), headers: { "cache-control": "no-store" } };
}

export function problem(status: number, code: string, message: string, hint: string): HttpResponseInit {
  return json(status, { error: { code, message, hint } });
}

/** Map a thrown error to a response that never echoes internals or secrets. */
export function errorResponse(e: unknown): HttpResponseInit {
  if (isRotatorError(e)) return json(e.status === 404 ? 404 : e.code.startsWith("CONFIG") ? 500 : 502, { error: e.toJSON() });
  const err = toRotatorError(e);
  return problem(500, "INTERNAL", "internal error", `See the function logs for ${err.code}.`);
}

export type BodyResult = { ok: true; value: unknown } | { ok: false; response: HttpResponseInit };

/** Read a JSON body of at most MAX_BODY_BYTES; an empty body is `{}`. */
export async function readJsonBody(req: HttpRequest): Promise<BodyResult> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) return { ok: false, response: problem(413, "BODY_TOO_LARGE", `body exceeds ${MAX_BODY_BYTES} bytes`, "Send only {force, dryRun, reason}.") };
  const text = await req.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) return { ok: false, response: problem(413, "BODY_TOO_LARGE", `body exceeds ${MAX_BODY_BYTES} bytes`, "Send only {force, dryRun, reason}.") };
  if (text.trim() === "") return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, response: problem(400, "BODY_NOT_JSON", "the body is not valid JSON", 'Send a JSON object such as {"force": true, "reason": "..."}.') };
  }
}

/**
 * The caller, from App Service authentication's `x-ms-client-principal` (base64 JSON) when present
 * (https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities), else
 * `x-ms-client-principal-name`, else "function-key".
 */
export function callerOf(req: HttpRequest): string {
  const encoded = req.headers.get("x-ms-client-principal");
  if (encoded) {
    try {
      const p = JSON.parse(Buffer.from(encoded, "base64").toString("utf8")) as { userDetails?: unknown; userId?: unknown; claims?: { typ: string; val: string }[] };
      const name = typeof p.userDetails === "string" ? p.userDetails : p.claims?.find((c) => c.typ === "name" || c.typ.endsWith("/upn"))?.val;
      if (name) return name.slice(0, 200);
      if (typeof p.userId === "string") return p.userId.slice(0, 200);
    } catch {
      return "unparseable-principal";
    }
  }
  return req.headers.get("x-ms-client-principal-name")?.slice(0, 200) ?? "function-key";
}
