/**
 * The rules on configuration values that adapters also depend on. Each rule lives here once: the config
 * schema enforces it at load (so a bad value is reported with its path and exit 2, before anything
 * external is touched), and an adapter that must defend itself calls the same function, so the runtime
 * never refuses a value that validation accepted.
 */

/** Loopback hosts to which plain http is allowed (tests, local tunnels); nothing leaves the machine. */
const LOOPBACK_HTTP = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/i;

/**
 * Which endpoints may use plain http on loopback:
 * - `loopback-http`: Kong Admin API and alert webhooks, called with undici, which sends over http as
 *   asked. https is still required for any other host: the Kong RBAC token and webhook URLs are
 *   credentials.
 * - `https`: Key Vault, Graph and the Entra authority. Their Azure SDK clients attach bearer tokens only
 *   over TLS: core-rest-pipeline's bearerTokenAuthenticationPolicy throws "Bearer token authentication
 *   is not permitted for non-TLS protected (non-https) URLs", and the Graph SDK adds tokens only to
 *   https hosts. So http there could never work, even on loopback.
 */
export type UrlRule = "loopback-http" | "https";

/** Why `value` is not acceptable under `rule`, or undefined when it is. */
export function urlProblem(value: string, rule: UrlRule): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be an absolute URL";
  }
  if (url.protocol === "https:") return undefined;
  if (rule === "loopback-http" && url.protocol === "http:" && LOOPBACK_HTTP.test(value)) return undefined;
  return rule === "loopback-http"
    ? "must be an https URL (plain http is accepted only for 127.0.0.1 / localhost / [::1])"
    : "must be an https URL (the Azure SDKs send tokens over TLS only)";
}

/** Kong filters on at most 5 tags (spec/02-integration/03-db/07-tags_spec.lua "cannot query more than 5 tags"). */
export const MAX_KONG_TAGS = 5;
/** A tag: printable ASCII except space, ',' and '/', or UTF-8 (kong/db/schema/typedefs.lua). */
const KONG_TAG = /^[\x21-\x2B\x2D\x2E\x30-\x7E\x80-\u{10FFFF}]+$/u;

/** Why `tags` cannot select plugins through Kong's tag filter, or undefined when they can. */
export function kongTagsProblem(tags: readonly string[]): string | undefined {
  if (tags.length === 0 || tags.length > MAX_KONG_TAGS)
    return `must be 1-${MAX_KONG_TAGS} tags (Kong filters on at most ${MAX_KONG_TAGS})`;
  const bad = tags.filter((t) => !KONG_TAG.test(t));
  if (bad.length)
    return "tags may not contain spaces, ',' or '/' (Kong's tag filter uses ',' for AND and '/' for OR)";
  return undefined;
}

/** Key Vault object names: 1-127 of [0-9a-zA-Z-]. */
const MAX_SECRET_NAME = 127;
/** A SHA-1 thumbprint in base64url without padding. */
const X5T_LENGTH = 27;

/**
 * Vault-reference mode: the Key Vault secret that holds one generation's private members,
 * `<secretPrefix><credential>-<x5t with every character outside [0-9a-zA-Z-] replaced by '-'>`.
 */
export function referenceSecretName(ref: { secretPrefix: string }, credential: string, x5t: string): string {
  return `${ref.secretPrefix}${credential}-${x5t.replace(/[^0-9a-zA-Z-]/g, "-")}`;
}

/** Why the credential's reference secrets could get names Key Vault refuses, or undefined when they cannot. */
export function referenceSecretNameProblem(
  ref: { secretPrefix: string },
  credential: string,
): string | undefined {
  const longest = referenceSecretName(ref, credential, "x".repeat(X5T_LENGTH)).length;
  return longest > MAX_SECRET_NAME
    ? `secret names would be ${longest} characters (secretPrefix + credential name + '-' + ${X5T_LENGTH}-character x5t); Key Vault allows ${MAX_SECRET_NAME}`
    : undefined;
}

/**
 * The vault a Key Vault URL names, for comparing two URLs (a trailing slash or the host's case make no
 * other vault): its origin. Each vault has rate limits of its own (src/limits.ts).
 */
export function vaultKey(url: string): string {
  // A value that is no URL is reported by the schema; it is compared as it is meanwhile.
  return URL.canParse(url) ? new URL(url).origin : url;
}
