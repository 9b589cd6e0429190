/**
 * One client credentials request with a certificate client assertion, to prove that the IdP accepts a key
 * (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#second-case-access-token-request-with-a-certificate).
 * The access token in a successful answer is discarded unread.
 *
 * Failures come back as TokenAttempt with the AADSTS code from `error_codes` (or the description), and
 * whether waiting can fix them decided by the shared rule on the OAuth `error` (src/http/token-request.ts
 * `tokenRefusal`): AADSTS700027 (`invalid_client`, key unknown here, e.g. not propagated yet) is polled
 * again; `invalid_scope` (AADSTS1002012, AADSTS70011) and `unauthorized_client` (AADSTS700016, the app is
 * not in the tenant) stop verification at once. 429, 5xx, resets and timeouts are retried with the shared
 * policy, then reported as retryable.
 */
import { systemClock, type Clock } from "../../clock.js";
import { clientAssertion, type JwsSigner } from "../../crypto/jws.js";
import type { SigningAlg } from "../../crypto/keymaterial.js";
import {
  defaultRetryPolicy,
  parseRetryAfter,
  transportReason,
  withRetry,
  type RetryEvent,
  type RetryPolicy,
} from "../../http/retry.js";
import { toRotatorError } from "../../errors.js";
import { postClientAssertion, tokenRefusal } from "../../http/token-request.js";
import { IDP_RULES } from "../../idp-rules.js";
import type { TokenAttempt } from "../../ports.js";
import type { TokenEndpoint } from "./types.js";

export interface TokenEndpointOptions {
  /** https://login.microsoftonline.com, or the national cloud's authority. */
  authorityHost: string;
  clock?: Clock;
  retry?: Partial<RetryPolicy>;
  /** Default https://graph.microsoft.com/.default; any resource the app may request works. */
  scope?: string;
  onRetry?: (event: RetryEvent) => void;
}

/** The signer failed: not the token endpoint's fault, and not retried here. */
class SigningFailure extends Error {
  override readonly name = "SigningFailure";
}

class TransientStatus extends Error {
  override readonly name = "TransientStatus";
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`HTTP ${status}`);
  }
}

/**
 * The AADSTS code and the human part of error_description (Entra appends trace ids and a timestamp), judged
 * by the shared rule for the algorithm and scope the request used.
 */
export function parseTokenError(
  status: number,
  text: string,
  request: { alg: SigningAlg; scope: string } = {
    alg: "PS256",
    scope: "https://graph.microsoft.com/.default",
  },
): TokenAttempt {
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
  const human = description.split(/\s+Trace ID:/)[0]?.trim();
  return tokenRefusal(
    status,
    {
      ...(typeof body.error === "string" ? { error: body.error } : {}),
      ...(human ? { description: human } : {}),
    },
    {
      alg: request.alg,
      algorithmAllowed: IDP_RULES.entra.algorithms.includes(request.alg),
      // Client credentials at Entra take a resource's `/.default`, the rotator's own (IdpRules.proofScopes).
      scopes: { sent: [request.scope], from: "the rotator's Entra proof scope", kong: false },
    },
    code,
  );
}

export function createTokenEndpoint(opts: TokenEndpointOptions): TokenEndpoint {
  const clock = opts.clock ?? systemClock;
  const policy: RetryPolicy = { ...defaultRetryPolicy, ...opts.retry };
  const authority = opts.authorityHost.replace(/\/+$/, "");
  const scope = opts.scope ?? "https://graph.microsoft.com/.default";

  const classify = (e: unknown) => {
    if (e instanceof SigningFailure) return { retry: false };
    if (e instanceof TransientStatus)
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
            const res = await postClientAssertion(
              endpoint,
              { client_id: clientId, scope },
              assertion,
              signal,
            );
            if (res.ok) return res;
            if (res.status === 429 || res.status >= 500) {
              const header = res.headers["retry-after"];
              throw new TransientStatus(
                res.status,
                parseRetryAfter(Array.isArray(header) ? header[0] : header, clock.now()),
              );
            }
            return parseTokenError(res.status, res.text, { alg, scope });
          },
          classify,
          { policy, clock, ...(opts.onRetry ? { onRetry: opts.onRetry } : {}) },
        );
      } catch (e) {
        if (e instanceof SigningFailure) throw toRotatorError(e.cause, "ASSERTION_SIGNING_FAILED");
        const why = transportReason(e);
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
