/**
 * The one rule for "is this failure worth another attempt?", shared by every adapter that talks HTTP. The
 * adapters keep only what is truly their vendor's: reading the wait a server asks for from its own headers
 * (Okta's `X-Rate-Limit-Reset`, Auth0's `X-RateLimit-Reset`) into `retryAfterMs`, saying whether a request
 * is idempotent, and turning a final failure into their own error codes. Which statuses are transient, which
 * transport failures are, and what a non-idempotent request may repeat is decided here, once.
 *
 * Transient statuses (`isTransientStatus`):
 * - 408 Request Timeout: the server did not receive a complete request and closes the connection; the client
 *   "MAY repeat that request" (RFC 9110 §15.5.9).
 * - 429 Too Many Requests: rate limited, "MAY include a Retry-After header" (RFC 6585 §4).
 * - 5xx server errors (RFC 9110 §15.6), except 501 Not Implemented (§15.6.2: the server does not support the
 *   functionality, so no later attempt can succeed) and 505 HTTP Version Not Supported (§15.6.6: the same
 *   request meets the same refusal). This is also the Azure SDKs' own rule (@typespec/ts-http-runtime and
 *   @azure/core-rest-pipeline `isExponentialRetryResponse`: 408, or >= 500 except 501 and 505).
 *
 * Retry-After (RFC 9110 §10.2.3) is honoured on whichever transient answer carries it. What each vendor
 * documents for its throttling, and how the adapters read it:
 * - Key Vault: 429 when a vault's limits are exceeded; honour Retry-After, else back off 1, 2, 4, 8, 16 s
 *   (https://learn.microsoft.com/azure/key-vault/general/overview-throttling).
 * - Microsoft Graph: 429 with Retry-After (https://learn.microsoft.com/graph/throttling); 503 and 504 "may
 *   repeat the request after a delay, the length of which may be specified in a Retry-After header"
 *   (https://learn.microsoft.com/graph/errors). The Entra token endpoint answers the same way.
 * - Okta: 429, with `X-Rate-Limit-Reset` (UTC epoch seconds) on every response
 *   (https://developer.okta.com/docs/reference/rl-best-practices/); read by adapters/idp/okta for a 429 only.
 * - Auth0: 429, with `X-RateLimit-Reset` (UNIX timestamp) (Rate Limit Policy,
 *   https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy); read by
 *   adapters/idp/auth0 for a 429 when Retry-After is absent.
 * - Kong: the Admin API does not throttle by itself, but Konnect answers 429 with Retry-After
 *   (Kong/kubernetes-ingress-controller#4015) and Kong's own rate-limiting plugins, in front of an Admin API,
 *   do too (Kong/kong#5329).
 * - Kubernetes: API Priority and Fairness rejects with 429 and `Retry-After` (kube-apiserver
 *   `filters/maxinflight.go`; https://kubernetes.io/docs/concepts/cluster-administration/flow-control/).
 *
 * A request that is not idempotent (Key Vault's certificate create makes a new version each time it is
 * processed) is re-sent only when it cannot have been processed: after 408, 429 or 503, which say so, or a
 * transport failure before the connection was made. Any other failure after sending is left to its caller,
 * which checks what landed.
 */
import { request, type Dispatcher } from "undici";
import { RotatorError } from "../errors.js";
import { TimeoutError, type RetryDecision } from "./retry.js";

/** 408, 429 and 5xx except 501 and 505 (see above). */
export function isTransientStatus(status: number): boolean {
  if (status === 408 || status === 429) return true;
  return status >= 500 && status <= 599 && status !== 501 && status !== 505;
}

/** Transient answers that say the request was not processed, so even a non-idempotent one may be re-sent. */
const NOT_PROCESSED = new Set([408, 429, 503]);

/**
 * An HTTP answer that is not a success, as one attempt's failure: its status, the wait the server asked
 * for (Retry-After, or the vendor's reset header as the adapter read it), and the adapter's own copy of the
 * answer for classifying a final failure (a parsed body, a pipeline response). Whether it is worth another
 * attempt is `isTransientStatus(status)`. The answer may hold anything the server sent: never use this
 * error as a cause or in a message.
 */
export class HttpStatusError<T = undefined> extends Error {
  override readonly name = "HttpStatusError";
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
    readonly answer?: T,
  ) {
    super(`HTTP ${status}`);
  }

  get transient(): boolean {
    return isTransientStatus(this.status);
  }
}

/**
 * An attempt that got no HTTP answer, from a client that does not say why (the Graph SDK reports a failed
 * fetch as status -1). Treated like a connection lost after sending.
 */
export class NoAnswer extends Error {
  override readonly name = "NoAnswer";
}

/** Transport failures before the connection was made: the request cannot have reached the server. */
const UNSENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** Transport failures after the request may have been sent (a reset, a closed socket, a stalled answer). */
const MAYBE_SENT_CODES = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/**
 * Where a transport failure happened, from the first known `code` in the error's cause chain (Node's fetch
 * and the SDKs wrap the socket error as a cause); undefined when no code says it is a transport failure.
 */
function transportFailure(e: unknown): "unsent" | "maybe-sent" | undefined {
  for (
    let cur: unknown = e, depth = 0;
    cur && typeof cur === "object" && depth < 4;
    cur = (cur as { cause?: unknown }).cause, depth++
  ) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code !== "string") continue;
    if (UNSENT_CODES.has(code)) return "unsent";
    if (MAYBE_SENT_CODES.has(code)) return "maybe-sent";
  }
  return undefined;
}

/** What retrying must know about the request. */
export interface RequestTraits {
  /** May the request be sent twice with the effect of once? Default true. */
  idempotent?: boolean;
}

/**
 * Retry or not, and after how long the server asked, for one failed attempt:
 * - HttpStatusError: a transient status (non-idempotent requests only when it was not processed), with its
 *   `retryAfterMs`;
 * - the attempt's timeout (TimeoutError), NoAnswer, or a transport error code: when the request cannot have
 *   reached the server, or it is idempotent;
 * - anything else (a RotatorError, a signing failure, a body we cannot read, a TLS certificate the platform
 *   does not trust): not retried, as another attempt meets the same failure.
 */
export function retryDecision(e: unknown, request: RequestTraits = {}): RetryDecision {
  const idempotent = request.idempotent ?? true;
  if (e instanceof HttpStatusError) {
    if (!e.transient || !(idempotent || NOT_PROCESSED.has(e.status))) return { retry: false };
    return e.retryAfterMs === undefined ? { retry: true } : { retry: true, retryAfterMs: e.retryAfterMs };
  }
  if (e instanceof TimeoutError || e instanceof NoAnswer) return { retry: idempotent };
  if (e instanceof RotatorError) return { retry: false };
  const where = transportFailure(e);
  if (where === "unsent") return { retry: true };
  return { retry: idempotent && where === "maybe-sent" };
}

/** A response header's value as undici gives it (the first, when the header is repeated). */
export function headerValue(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** What `exchangeText` needs of one request (undici `request` options). */
export interface TextRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
}

/**
 * One undici exchange whose body is read as text: a transient status throws HttpStatusError carrying the
 * wait the vendor's `waitOf` reads from the answer, and the body as its answer (for classifying a final
 * failure), so that `retryDecision` decides another attempt; any other status is returned.
 */
export async function exchangeText(
  url: string,
  req: TextRequest,
  waitOf: (status: number, headers: Dispatcher.ResponseData["headers"]) => number | undefined,
): Promise<{ status: number; text: string }> {
  const res = await request(url, {
    method: req.method,
    headers: req.headers,
    ...(req.body === undefined ? {} : { body: req.body }),
    signal: req.signal,
  });
  const text = await res.body.text();
  if (isTransientStatus(res.statusCode))
    throw new HttpStatusError(res.statusCode, waitOf(res.statusCode, res.headers), text);
  return { status: res.statusCode, text };
}
