/**
 * How Microsoft Graph failures are retried and reported.
 *
 * Retried by the shared rule (src/http/transient.ts; https://learn.microsoft.com/graph/throttling,
 * https://learn.microsoft.com/graph/best-practices-concept#handling-expected-errors): transient statuses after
 * their `Retry-After`, lost connections and timeouts with capped backoff. This file only translates the
 * Graph SDK's errors into the shared vocabulary. The SDK's own RetryHandler is switched off per request: it
 * sleeps with real timers in whole seconds and does not retry 500/502 or resets, so one policy
 * (src/http/retry.ts) covers Graph and the rest.
 *
 * Reported as RotatorError with Graph's error code and request id in `details`; never Graph's message or
 * body, which are not ours to echo.
 */
import { AuthenticationError, CredentialUnavailableError } from "@azure/identity";
import { GraphClientError, GraphError } from "@microsoft/microsoft-graph-client";
import type { Clock } from "../../../ports/engine.js";
import { RotatorError } from "../../../errors.js";
import { TimeoutError, parseRetryAfter, type RetryDecision } from "../../../http/retry.js";
import { HttpStatusError, isTransientStatus, NoAnswer, retryDecision } from "../../../http/transient.js";

export type GraphOperation =
  "getApplication" | "addKey" | "removeKey" | "patchKeyCredentials" | "removePassword" | "secretSignIns";

/**
 * Why the service identity could not get a Graph token. It travels inside a GraphClientError, the one
 * error type the Graph SDK rethrows unchanged (its ES5 class cannot be subclassed reliably).
 */
export class IdentityFailure {
  constructor(readonly reason: unknown) {}

  /** A throttled or failing authority, as opposed to a rejected or missing credential. */
  get transient(): boolean {
    if (this.reason instanceof CredentialUnavailableError) return false;
    const status = authorityStatus(this.reason);
    return status === undefined || isTransientStatus(status);
  }
}

/**
 * The authority's HTTP status behind an @azure/identity error: AuthenticationError carries `statusCode`;
 * MSAL's ServerError (e.g. AADSTS7000215, invalid secret) arrives as the `cause` of an
 * AuthenticationRequiredError and carries `status`.
 */
function authorityStatus(reason: unknown): number | undefined {
  if (reason instanceof AuthenticationError) return reason.statusCode;
  const cause = reason instanceof Error ? reason.cause : undefined;
  return cause && typeof cause === "object" && "status" in cause && typeof cause.status === "number"
    ? cause.status
    : undefined;
}

export function identityFailure(reason: unknown): GraphClientError {
  const e = new GraphClientError("the service identity could not get a Microsoft Graph token");
  e.customError = new IdentityFailure(reason);
  return e;
}

const identityOf = (e: unknown): IdentityFailure | undefined =>
  e instanceof GraphClientError && e.customError instanceof IdentityFailure ? e.customError : undefined;

const retryAfterOf = (e: GraphError, clock: Clock) =>
  parseRetryAfter(e.headers?.get("retry-after"), clock.now());

export function classifyGraphError(clock: Clock): (e: unknown) => RetryDecision {
  return (e) => {
    const identity = identityOf(e);
    if (identity) return { retry: identity.transient };
    if (!(e instanceof GraphError)) return retryDecision(e);
    // No HTTP status: the request never got an answer (reset, DNS, TLS); the SDK keeps no reason.
    if (e.statusCode <= 0) return retryDecision(new NoAnswer(e.message));
    return retryDecision(new HttpStatusError(e.statusCode, retryAfterOf(e, clock)));
  };
}

export const HINTS = {
  notFound:
    "Check the credential's entra.clientId and tenantId. With Application.ReadWrite.OwnedBy the service identity only sees applications it owns: make it an owner of the app.",
  proof:
    "The proof must be an RS256 JWT with an x5t header, signed by a currently valid certificate of the application, with iss = the application's object id and exp at most 10 minutes after nbf. If no registered key is valid any more, use the PATCH fallback.",
  forbidden:
    "Microsoft Graph refused the write: grant Application.ReadWrite.OwnedBy and make the service identity an owner of the app (or grant Application.ReadWrite.All), with admin consent.",
  unauthorized:
    "Microsoft Graph did not accept the service identity's token, or none could be obtained: check the identity's credentials and tenant, and that cloud.authorityHost and cloud.graphBaseUrl belong to the same cloud.",
  throttled:
    "Microsoft Graph is throttling application writes (3,000 per 150 s per app and tenant); the next run retries.",
  unavailable: "Microsoft Graph did not answer successfully; the next run retries.",
  badResponse:
    "Microsoft Graph answered with a body that is not the expected JSON; check that cloud.graphBaseUrl points at Microsoft Graph.",
  badRequest: "Microsoft Graph refused the request as invalid; details.graphCode says why.",
} as const;

/** The RotatorError for a Graph call that failed after retries. */
export function graphFailure(e: unknown, op: GraphOperation, application: string): RotatorError {
  if (e instanceof RotatorError) return e;
  const where = { operation: op, application };
  if (e instanceof TimeoutError)
    return new RotatorError("GRAPH_UNAVAILABLE", `Graph ${op} timed out`, HINTS.unavailable, {
      retryable: true,
      details: where,
      cause: e,
    });
  const identity = identityOf(e);
  if (identity)
    return identity.transient
      ? new RotatorError(
          "GRAPH_UNAVAILABLE",
          `no Graph token for ${op}: the authority did not answer`,
          HINTS.unavailable,
          { retryable: true, details: where, cause: identity.reason },
        )
      : new RotatorError(
          "GRAPH_UNAUTHORIZED",
          `no Graph token for ${op}: the service identity was refused`,
          HINTS.unauthorized,
          { details: where, cause: identity.reason },
        );
  if (!(e instanceof GraphError))
    return new RotatorError("GRAPH_UNAVAILABLE", `Graph ${op} failed`, HINTS.unavailable, {
      retryable: true,
      details: where,
      cause: e,
    });

  const status = e.statusCode;
  const details = {
    ...where,
    status,
    ...(e.code ? { graphCode: e.code } : {}),
    ...(e.requestId ? { requestId: e.requestId } : {}),
  };
  const opts = { status, details, cause: e };
  const what = `Graph ${op} answered ${status}${e.code ? ` ${e.code}` : ""}`;
  if (status >= 200 && status < 300)
    return new RotatorError(
      "GRAPH_BAD_RESPONSE",
      `Graph ${op} returned an unreadable body`,
      HINTS.badResponse,
      opts,
    );
  if (status <= 0)
    return new RotatorError("GRAPH_UNAVAILABLE", `Graph ${op} got no answer`, HINTS.unavailable, {
      ...opts,
      status: undefined,
      retryable: true,
    });
  if (
    status === 401 &&
    e.code === "Authentication_MissingOrMalformed" &&
    (op === "addKey" || op === "removeKey")
  )
    return new RotatorError(
      "ENTRA_PROOF_REJECTED",
      `${what}: the proof of possession was rejected`,
      HINTS.proof,
      opts,
    );
  if (status === 401) return new RotatorError("GRAPH_UNAUTHORIZED", what, HINTS.unauthorized, opts);
  if (status === 403) return new RotatorError("GRAPH_FORBIDDEN", what, HINTS.forbidden, opts);
  if (status === 404)
    return new RotatorError(
      "ENTRA_APP_NOT_FOUND",
      `${what}: application ${application} not found`,
      HINTS.notFound,
      opts,
    );
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(e.headers?.get("retry-after"));
    return new RotatorError("GRAPH_THROTTLED", what, HINTS.throttled, {
      ...opts,
      retryable: true,
      details: { ...details, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
    });
  }
  if (isTransientStatus(status))
    return new RotatorError("GRAPH_UNAVAILABLE", what, HINTS.unavailable, { ...opts, retryable: true });
  return new RotatorError("GRAPH_BAD_REQUEST", what, HINTS.badRequest, opts);
}
