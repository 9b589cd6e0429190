/**
 * One client credentials request with a certificate client assertion, to prove that the IdP accepts a key
 * (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#second-case-access-token-request-with-a-certificate).
 * The access token in a successful answer is discarded unread.
 *
 * Failures come back as TokenAttempt with the AADSTS code from `error_codes` (or the description):
 * AADSTS700027 (key unknown here, e.g. not propagated yet) is worth polling again; other AADSTS errors are
 * not. 429, 5xx, resets and timeouts are retried with the shared policy, then reported as retryable.
 */
import { request } from "undici";
import { systemClock, type Clock } from "../../clock.js";
import { clientAssertion, type JwsSigner } from "../../crypto/jws.js";
import type { SigningAlg } from "../../crypto/keymaterial.js";
import {
  RetryableStatus,
  TimeoutError,
  defaultRetryPolicy,
  parseRetryAfter,
  withRetry,
  type RetryEvent,
  type RetryPolicy,
} from "../../http/retry.js";
import { toRotatorError } from "../../errors.js";
import type { TokenAttempt, TokenEndpoint } from "../../ports.js";

export interface TokenEndpointOptions {
  /** https://login.microsoftonline.com, or the national cloud's authority. */
  authorityHost: string;
  clock?: Clock;
  retry?: Partial<RetryPolicy>;
  /** Default https://graph.microsoft.com/.default; any resource the app may request works. */
  scope?: string;
  onRetry?: (event: RetryEvent) => void;
}

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** Codes that a key still propagating produces (BRIEF, "Propagation"). */
const PROPAGATION_CODES = new Set(["AADSTS700027"]);
const MAX_DESCRIPTION = 400;

/** The signer failed: not the token endpoint's fault, and not retried here. */
class SigningFailure extends Error {
  override readonly name = "SigningFailure";
}

/** The AADSTS code and the human part of error_description (Entra appends trace ids and a timestamp). */
export function parseTokenError(status: number, text: string): TokenAttempt {
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
      body = parsed as Record<string, unknown>;
  } catch {
    // not JSON: reported by status below
  }
  const description = typeof body.error_description === "string" ? body.error_description : "";
  const codes = Array.isArray(body.error_codes) ? body.error_codes : [];
  const first: unknown = codes[0];
  const code =
    typeof first === "number"
      ? `AADSTS${first}`
      : (/AADSTS\d+/.exec(description)?.[0] ??
        (typeof body.error === "string" ? body.error : `HTTP_${status}`));
  const human = description.split(/\s+Trace ID:/)[0]?.trim() || `the token endpoint answered ${status}`;
  return {
    ok: false,
    code,
    description: human.slice(0, MAX_DESCRIPTION),
    retryable: PROPAGATION_CODES.has(code),
  };
}

export function createTokenEndpoint(opts: TokenEndpointOptions): TokenEndpoint {
  const clock = opts.clock ?? systemClock;
  const policy: RetryPolicy = { ...defaultRetryPolicy, ...opts.retry };
  const authority = opts.authorityHost.replace(/\/+$/, "");
  const scope = opts.scope ?? "https://graph.microsoft.com/.default";

  const classify = (e: unknown) => {
    if (e instanceof SigningFailure) return { retry: false };
    if (e instanceof RetryableStatus)
      return e.retryAfterMs === undefined ? { retry: true } : { retry: true, retryAfterMs: e.retryAfterMs };
    // Everything else thrown here is a transport failure: reset, refused, TLS, timeout.
    return { retry: true };
  };

  return {
    async tryClientAssertion(tenantId, clientId, signer: JwsSigner, alg: SigningAlg): Promise<TokenAttempt> {
      const endpoint = `${authority}/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`;
      try {
        return await withRetry(
          async (_attempt, signal) => {
            // A fresh assertion (new jti, fresh exp) per attempt.
            const assertion = await clientAssertion(signer, alg, clientId, endpoint, clock.now()).catch(
              (cause: unknown) => {
                throw new SigningFailure("signing the client assertion failed", { cause });
              },
            );
            const form = new URLSearchParams({
              grant_type: "client_credentials",
              client_id: clientId,
              scope,
              client_assertion_type: ASSERTION_TYPE,
              client_assertion: assertion,
            });
            const res = await request(endpoint, {
              method: "POST",
              headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
              body: form.toString(),
              signal,
            });
            if (res.statusCode === 200) {
              await res.body.dump();
              return { ok: true } as const;
            }
            const text = await res.body.text();
            if (res.statusCode === 429 || res.statusCode >= 500) {
              const header = res.headers["retry-after"];
              throw new RetryableStatus(
                res.statusCode,
                parseRetryAfter(Array.isArray(header) ? header[0] : header, clock.now()),
              );
            }
            return parseTokenError(res.statusCode, text);
          },
          classify,
          { policy, clock, ...(opts.onRetry ? { onRetry: opts.onRetry } : {}) },
        );
      } catch (e) {
        if (e instanceof SigningFailure) throw toRotatorError(e.cause, "ASSERTION_SIGNING_FAILED");
        const why =
          e instanceof RetryableStatus
            ? `HTTP ${e.status}`
            : e instanceof TimeoutError
              ? "timed out"
              : e instanceof Error && "code" in e
                ? String(e.code)
                : "no answer";
        return {
          ok: false,
          code: "TOKEN_ENDPOINT_UNAVAILABLE",
          description: `the token endpoint did not answer successfully (${why})`,
          retryable: true,
        };
      }
    },
  };
}
