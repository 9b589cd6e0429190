/**
 * Proving a key at an IdP's token endpoint, once for every provider (`proveAtTokenEndpoint`): one client
 * credentials request authenticated with a `private_key_jwt` client assertion (RFC 7523 §2.2, OpenID Connect
 * Core §9), and the classification of the answer:
 * - accepted: 200. The answer (an access token) is discarded unread: callers only learn that the IdP
 *   accepted the key;
 * - transient: a status ./transient.ts calls transient, or no answer at all; retried with the shared policy,
 *   then reported as TOKEN_ENDPOINT_UNAVAILABLE (retryable);
 * - refused: any other answer, judged by `tokenRefusal` (final, or polled again while the key propagates).
 * A provider supplies only what is its own: the endpoint, its form parameters (client_id, scope, audience),
 * how it reads its error bodies (Entra's AADSTS codes), the wait its throttling headers ask for, and the
 * context of the refusal rule (its algorithms, the scopes it sent).
 */
import { request, type Dispatcher } from "undici";
import { clientAssertion, type JwsSigner } from "../crypto/jws.js";
import type { SigningAlg } from "../crypto/keymaterial.js";
import { toRotatorError } from "../errors.js";
import { parseRetryAfter, transportReason, withRetry, type RetryEvent, type RetryPolicy } from "./retry.js";
import { headerValue, HttpStatusError, isTransientStatus, retryDecision } from "./transient.js";
import type { Clock, TokenAttempt } from "../ports/engine.js";

export const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

export type ResponseHeaders = Dispatcher.ResponseData["headers"];

/** One answer of the token endpoint, as the classification sees it. */
export interface TokenAnswer {
  status: number;
  text: string;
}

/** A provider's reading of its error body: the OAuth fields, and its own code when it has one. */
export type TokenErrorReader = (text: string) => OAuthErrorBody & { code?: string };

/** What one proof sends, and how the provider's answers are read. */
export interface TokenProof {
  /** The token endpoint; also the assertion's `aud`. */
  endpoint: string;
  /** The assertion's `iss` and `sub`. */
  clientId: string;
  signer: JwsSigner;
  alg: SigningAlg;
  /** Form parameters besides grant_type and the assertion: client_id, scope, audience, ... */
  params: Record<string, string>;
  /** The assertion's lifetime in seconds (default 300; Kong signs its own with 60). */
  lifetimeSec?: number;
  /** The largest assertion the provider takes; a larger one is refused (final) before sending. */
  maxAssertion?: { bytes: number; code: string; provider: string };
  /** What tokenRefusal needs beyond the algorithm: whether it is allowed, which scopes were sent. */
  refusal: Omit<RefusalContext, "alg">;
  /** The provider's error bodies (default: RFC 6749 §5.2). */
  readError?: TokenErrorReader;
  /** The wait a transient answer asks for, from the provider's headers (default: Retry-After). */
  retryAfter?: (status: number, headers: ResponseHeaders, now: Date) => number | undefined;
}

export interface ProofOptions {
  clock: Clock;
  policy: RetryPolicy;
  onRetry?: (event: RetryEvent) => void;
}

/** The signer failed: not the token endpoint's fault, and never retried. */
class SigningFailure extends Error {
  override readonly name = "SigningFailure";
}

/**
 * Classify an answer other than 200: transient (to be retried), or a refusal judged by tokenRefusal with the
 * provider's code and description.
 */
export function judgeTokenAnswer(
  answer: TokenAnswer,
  ctx: RefusalContext,
  readError: TokenErrorReader = parseOAuthError,
): Extract<TokenAttempt, { ok: false }> | "transient" {
  if (isTransientStatus(answer.status)) return "transient";
  const { code, ...body } = readError(answer.text);
  return tokenRefusal(answer.status, body, ctx, code ?? body.error ?? `HTTP_${answer.status}`);
}

/**
 * One proof: a fresh assertion (new jti and exp) per attempt, transient answers and lost connections
 * retried with the shared policy. Throws only when the signer fails (ASSERTION_SIGNING_FAILED).
 */
export async function proveAtTokenEndpoint(proof: TokenProof, options: ProofOptions): Promise<TokenAttempt> {
  const { clock } = options;
  const ctx: RefusalContext = { ...proof.refusal, alg: proof.alg };
  const waitOf =
    proof.retryAfter ??
    ((_status: number, headers: ResponseHeaders, now: Date) =>
      parseRetryAfter(headerValue(headers, "retry-after"), now));
  try {
    return await withRetry(
      async (_attempt, signal) => {
        const assertion = await clientAssertion(
          proof.signer,
          proof.alg,
          proof.clientId,
          proof.endpoint,
          clock.now(),
          proof.lifetimeSec,
        ).catch((cause: unknown) => {
          throw new SigningFailure("signing the client assertion failed", { cause });
        });
        const size = Buffer.byteLength(assertion);
        if (proof.maxAssertion && size > proof.maxAssertion.bytes)
          return {
            ok: false,
            code: proof.maxAssertion.code,
            description: `the client assertion is ${size} bytes; ${proof.maxAssertion.provider} takes at most ${proof.maxAssertion.bytes}`,
            retryable: false,
          };
        const res = await request(proof.endpoint, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
          body: new URLSearchParams({
            grant_type: "client_credentials",
            ...proof.params,
            client_assertion_type: CLIENT_ASSERTION_TYPE,
            client_assertion: assertion,
          }).toString(),
          signal,
        });
        if (res.statusCode === 200) {
          await res.body.dump();
          return { ok: true };
        }
        const text = await res.body.text();
        const judged = judgeTokenAnswer({ status: res.statusCode, text }, ctx, proof.readError);
        if (judged !== "transient") return judged;
        throw new HttpStatusError(res.statusCode, waitOf(res.statusCode, res.headers, clock.now()));
      },
      (e) => retryDecision(e),
      { policy: options.policy, clock, ...(options.onRetry ? { onRetry: options.onRetry } : {}) },
    );
  } catch (e) {
    if (e instanceof SigningFailure) throw toRotatorError(e.cause, "ASSERTION_SIGNING_FAILED");
    return {
      ok: false,
      code: "TOKEN_ENDPOINT_UNAVAILABLE",
      description: `the token endpoint did not answer successfully (${transportReason(e)})`,
      retryable: true,
    };
  }
}

/** An OAuth error response (RFC 6749 §5.2): `error` and `error_description`, when the body has them. */
export interface OAuthErrorBody {
  error?: string;
  description?: string;
}

export function parseOAuthError(text: string): OAuthErrorBody {
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const b = v as Record<string, unknown>;
      return {
        ...(typeof b.error === "string" ? { error: b.error } : {}),
        ...(typeof b.error_description === "string" && b.error_description
          ? { description: b.error_description }
          : {}),
      };
    }
  } catch {
    // not JSON: reported by status
  }
  return {};
}

/** What the adapter knows about the request it made, for the classification and its hints. */
export interface RefusalContext {
  /** The algorithm the assertion was signed with is one the provider accepts for this client. */
  algorithmAllowed: boolean;
  alg: string;
  /**
   * The scopes the request sent, where they came from ("config.scopes of Kong target t, plugin p",
   * "okta.scopes"), and whether they are the ones Kong sends (IdpRules.proofScopes "kong").
   */
  scopes?: { sent: string[]; from: string; kong: boolean };
  /** The configuration key that overrides the scopes the proof sends, when the provider has one. */
  scopeOverride?: string;
}

const MAX_DESCRIPTION = 400;

/**
 * The one rule for a refused proof, shared by every IdP adapter: which refusals are final. A key that is
 * still propagating is refused with `invalid_client` (its provider does not know it yet), so that, and any
 * answer not listed here, is retryable: verification polls until verifyTimeout. These are final, because
 * they do not depend on the key having propagated, and waiting would only delay the alert:
 * - `invalid_scope`: the authorization server refuses the scopes sent, or their absence (RFC 6749 §5.2;
 *   an Okta custom authorization server without default scopes refuses a request without `scope`);
 * - `unauthorized_client`: the client may not use this grant (or, at Entra, does not exist in the tenant);
 * - `unsupported_grant_type`: the server does not do client credentials;
 * - `invalid_client` for an algorithm the client does not allow (the provider's rules, or a description
 *   that names the algorithm).
 * `code` is what TokenAttempt reports (the provider's own code when it has one, such as AADSTS700027).
 */
export function tokenRefusal(
  status: number,
  body: OAuthErrorBody,
  ctx: RefusalContext,
  code = body.error ?? `HTTP_${status}`,
): Extract<TokenAttempt, { ok: false }> {
  const description = (body.description ?? `the token endpoint answered ${status}`).slice(0, MAX_DESCRIPTION);
  const final = (hint: string) => ({ ok: false as const, code, description, retryable: false, hint });
  switch (body.error) {
    case "invalid_scope": {
      const sent = `${ctx.scopes?.sent.length ? ctx.scopes.sent.join(" ") : "(none)"}${ctx.scopes ? ` (${ctx.scopes.from})` : ""}`;
      if (!ctx.scopes?.kong)
        return final(
          `The authorization server refused the scope the proof sent: ${sent}. Check the configuration it comes from.`,
        );
      return final(
        `The authorization server refused the scopes the proof sent: ${sent}. ` +
          "Kong sends its plugin's config.scopes on client credentials, so its own token requests fail the same way: " +
          "use scopes the authorization server knows and its access policy grants this client with the client credentials grant" +
          (ctx.scopeOverride
            ? `, or set ${ctx.scopeOverride} when the plugin's scopes serve another grant (openid, profile, ... are not granted with client credentials).`
            : "."),
      );
    }
    case "unauthorized_client":
      return final(
        "The IdP does not let this client use the client credentials grant with private_key_jwt (or does not know the client): check the client id, its allowed grant types and its token endpoint authentication method.",
      );
    case "unsupported_grant_type":
      return final("The token endpoint does not support the client credentials grant for this client.");
    case "invalid_client":
      if (!ctx.algorithmAllowed || /\balg(orithms?)?\b/i.test(description))
        return final(
          `The client does not accept assertions signed with ${ctx.alg}: set the client's token endpoint signing algorithm at the IdP, or policy.algorithm, so that they match (Kong signs with its JWK's alg).`,
        );
      break;
  }
  return { ok: false, code, description, retryable: true };
}
