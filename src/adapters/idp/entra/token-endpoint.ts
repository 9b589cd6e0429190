/**
 * One client credentials request with a certificate client assertion, to prove that the IdP accepts a key
 * (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#second-case-access-token-request-with-a-certificate),
 * made and classified by the shared proof (src/http/token-request.ts `proveAtTokenEndpoint`). What is
 * Entra's own: the v2.0 endpoint of the tenant, `client_id` and a resource's `/.default` scope in the form,
 * and its error bodies. A refusal is reported with the AADSTS code from `error_codes` (or the description)
 * and the human part of the description; the shared rule (`tokenRefusal`) decides whether waiting can fix
 * it: AADSTS700027 (`invalid_client`, key unknown here, e.g. not propagated yet) is polled again;
 * `invalid_scope` (AADSTS1002012, AADSTS70011) and `unauthorized_client` (AADSTS700016, the app is not in the
 * tenant) stop verification at once.
 */
import { systemClock } from "../../../clock.js";
import type { JwsSigner } from "../../../crypto/jws.js";
import type { SigningAlg } from "../../../crypto/keymaterial.js";
import { defaultRetryPolicy, type RetryEvent, type RetryPolicy } from "../../../http/retry.js";
import {
  proveAtTokenEndpoint,
  type RefusalContext,
  type TokenErrorReader,
} from "../../../http/token-request.js";
import { ENTRA_RULES } from "./rules.js";
import type { TokenEndpoint } from "./types.js";
import type { Clock, TokenAttempt } from "../../../ports/engine.js";

export interface TokenEndpointOptions {
  /** https://login.microsoftonline.com, or the national cloud's authority. */
  authorityHost: string;
  clock?: Clock;
  retry?: Partial<RetryPolicy>;
  /** Default https://graph.microsoft.com/.default; any resource the app may request works. */
  scope?: string;
  onRetry?: (event: RetryEvent) => void;
}

export const DEFAULT_PROOF_SCOPE = "https://graph.microsoft.com/.default";

/**
 * An Entra error body: the OAuth error, the AADSTS code (from `error_codes`, else the description) and the
 * human part of error_description (Entra appends trace ids and a timestamp).
 */
export const readEntraTokenError: TokenErrorReader = (text) => {
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
      body = parsed as Record<string, unknown>;
  } catch {
    // not JSON: reported by status
  }
  const description = typeof body.error_description === "string" ? body.error_description : "";
  const codes = Array.isArray(body.error_codes) ? body.error_codes : [];
  const first: unknown = codes[0];
  const code = typeof first === "number" ? `AADSTS${first}` : /AADSTS\d+/.exec(description)?.[0];
  const human = description.split(/\s+Trace ID:/)[0]?.trim();
  return {
    ...(typeof body.error === "string" ? { error: body.error } : {}),
    ...(human ? { description: human } : {}),
    ...(code ? { code } : {}),
  };
};

/** What the refusal rule knows of an Entra proof with this algorithm and scope. */
export function entraRefusal(alg: SigningAlg, scope: string): Omit<RefusalContext, "alg"> {
  return {
    algorithmAllowed: ENTRA_RULES.rules.algorithms.includes(alg),
    // Client credentials at Entra take a resource's `/.default`, the rotator's own (IdpRules.proofScopes).
    scopes: { sent: [scope], from: "the rotator's Entra proof scope", kong: false },
  };
}

export function createTokenEndpoint(opts: TokenEndpointOptions): TokenEndpoint {
  const clock = opts.clock ?? systemClock;
  const policy: RetryPolicy = { ...defaultRetryPolicy, ...opts.retry };
  const authority = opts.authorityHost.replace(/\/+$/, "");
  const scope = opts.scope ?? DEFAULT_PROOF_SCOPE;

  return {
    tryClientAssertion(tenantId, clientId, signer: JwsSigner, alg: SigningAlg): Promise<TokenAttempt> {
      return proveAtTokenEndpoint(
        {
          endpoint: `${authority}/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`,
          clientId,
          signer,
          alg,
          params: { client_id: clientId, scope },
          refusal: entraRefusal(alg, scope),
          readError: readEntraTokenError,
        },
        { policy, clock, ...(opts.onRetry ? { onRetry: opts.onRetry } : {}) },
      );
    },
  };
}
