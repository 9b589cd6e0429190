/**
 * Error bodies in the shapes the real services send.
 *
 * Microsoft identity platform token endpoint
 * (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#error-response):
 * `{"error","error_description":"AADSTSxxxx: ... Trace ID: ... Correlation ID: ... Timestamp: ...",
 *   "error_codes":[xxxx],"timestamp","trace_id","correlation_id","error_uri"}`.
 * `invalid_client` comes with HTTP 401 (e.g. https://github.com/AzureAD/azure-activedirectory-library-for-python/issues/79),
 * other errors with 400.
 *
 * Microsoft Graph (https://learn.microsoft.com/graph/errors):
 * `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
 */
import { randomUUID } from "node:crypto";
import type { Reply, Request } from "../common/server.js";

/** Graph's DateTimeOffset rendering: ISO 8601 UTC without fractional seconds. */
export const graphDate = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

export function entraError(
  authorityHost: string,
  status: 400 | 401,
  error: string,
  code: number,
  description: string,
): Reply {
  const now = new Date();
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = now
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d{3}Z$/, "Z");
  return {
    status,
    headers: { "cache-control": "no-store, no-cache", pragma: "no-cache" },
    body: {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${authorityHost}/error?code=${code}`,
    },
  };
}

export function graphError(req: Request, status: number, code: string, message: string): Reply {
  const header = req.headers["client-request-id"];
  const clientRequestId = (Array.isArray(header) ? header[0] : header) ?? randomUUID();
  const requestId = randomUUID();
  return {
    status,
    headers: { "request-id": requestId, "client-request-id": clientRequestId },
    body: {
      error: {
        code,
        message,
        innerError: {
          date: graphDate(new Date()),
          "request-id": requestId,
          "client-request-id": clientRequestId,
        },
      },
    },
  };
}
