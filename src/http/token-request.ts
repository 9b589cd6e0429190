/**
 * One client credentials token request authenticated with a `private_key_jwt` client assertion
 * (RFC 7523 §2.2, OpenID Connect Core §9), as every IdP adapter's proof makes it. The access token in a
 * successful answer is discarded unread: callers only learn that the IdP accepted the key.
 */
import { request, type Dispatcher } from "undici";

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
