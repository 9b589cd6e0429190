/**
 * Proving an Auth0 key: the shared proof (src/http/token-request.ts) at the tenant's `/oauth/token` with an
 * assertion shaped like Kong's (aud = token endpoint, exp = iat + 60, random jti), `client_id` and no
 * `audience`, as Kong sends none, so the tenant's default audience applies (IdpRules.proofScopes "own").
 * Assertions over 2048 bytes are refused before sending. A refusal's description is redacted: Auth0 may
 * echo what it was sent.
 */
import type { JwsSigner } from "../../../crypto/jws.js";
import type { SigningAlg } from "../../../crypto/keymaterial.js";
import type { RetryEvent, RetryPolicy } from "../../../http/retry.js";
import { parseOAuthError, proveAtTokenEndpoint, type TokenErrorReader } from "../../../http/token-request.js";
import { redactText } from "../../../log/redact.js";
import type { Clock, TokenAttempt } from "../../../ports/engine.js";
import { auth0Wait } from "./management.js";
import { AUTH0_RULES } from "./rules.js";

/** "The maximum size of the assertion is 2048 bytes"
 * (https://auth0.com/docs/get-started/authentication-and-authorization-flow/authenticate-with-private-key-jwt). */
export const MAX_ASSERTION_BYTES = 2048;
/** Kong's generate_private_key_jwt uses exp = iat + 60 (facts §7); Auth0 allows at most 5 minutes. */
const ASSERTION_LIFETIME_SEC = 60;

/** A refused assertion: the OAuth error, with its description redacted (Auth0 may echo what it was sent). */
const readAuth0TokenError: TokenErrorReader = (text) => {
  const err = parseOAuthError(text);
  return { ...err, ...(err.description ? { description: redactText(err.description) } : {}) };
};

/** One client credentials request with a client assertion signed by `signer`. Never returns the token. */
export function proveAuth0Key(
  to: { tokenEndpoint: string; clientId: string; audience?: string },
  signer: JwsSigner,
  alg: SigningAlg,
  retry: { policy: RetryPolicy; clock: Clock; onRetry?: (event: RetryEvent) => void },
): Promise<TokenAttempt> {
  return proveAtTokenEndpoint(
    {
      endpoint: to.tokenEndpoint,
      clientId: to.clientId,
      signer,
      alg,
      params: { client_id: to.clientId, ...(to.audience ? { audience: to.audience } : {}) },
      lifetimeSec: ASSERTION_LIFETIME_SEC,
      maxAssertion: { bytes: MAX_ASSERTION_BYTES, code: "AUTH0_ASSERTION_TOO_LARGE", provider: "Auth0" },
      // Auth0 proves with no scope and no audience, as Kong sends none (IdpRules.proofScopes "own").
      refusal: { algorithmAllowed: AUTH0_RULES.rules.algorithms.includes(alg) },
      readError: readAuth0TokenError,
      retryAfter: auth0Wait,
    },
    retry,
  );
}
