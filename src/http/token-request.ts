/**
 * One client credentials token request authenticated with a `private_key_jwt` client assertion
 * (RFC 7523 §2.2, OpenID Connect Core §9), as every IdP adapter's proof makes it. The access token in a
 * successful answer is discarded unread: callers only learn that the IdP accepted the key. A refused one
 * is classified here, once for every provider (`tokenRefusal`).
 */
import { request, type Dispatcher } from "undici";
import type { TokenAttempt } from "../ports.js";

export const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

export type TokenPost =
  { ok: true } | { ok: false; status: number; text: string; headers: Dispatcher.ResponseData["headers"] };

export async function postClientAssertion(
  endpoint: string,
  params: Record<string, string>,
  assertion: string,
  signal: AbortSignal,
): Promise<TokenPost> {
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    ...params,
    client_assertion_type: CLIENT_ASSERTION_TYPE,
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
    return { ok: true };
  }
  return { ok: false, status: res.statusCode, text: await res.body.text(), headers: res.headers };
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
