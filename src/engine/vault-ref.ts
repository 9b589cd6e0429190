/**
 * Vault-reference mode (README "Vault-reference mode"): the private JWK members live in a Key Vault secret
 * and Kong's plugin config holds `{vault://<prefix>/<secret>/<member>}` references to them.
 *
 * Facts from Kong's vault code (/work/shared/facts/kong-modes-vaults-idps.md §5, kong/pdk/vault.lua):
 * - only d, p, q, dp, dq, qi of client_jwk are referenceable; kid, n, e, alg, x5t stay literal, so every
 *   generation is one plugin write;
 * - `<member>` is looked up in a flat JSON object of strings, so one JSON secret holds all six;
 * - with ttl 0 (the Azure default) a changed value under the same reference is never re-read, and a new
 *   reference string is fetched when the config loads: each generation gets its own secret name;
 * - a failed fetch resolves to "", so the secret must exist and be readable before the plugin changes.
 */
import type { VaultReferenceConfig } from "../config/load.js";
import { PRIVATE_JWK_MEMBERS as PRIVATE_MEMBERS, type KongPrivateJwk } from "../crypto/keymaterial.js";
import type { CertificateStore, PlainSecrets } from "../ports/engine.js";

export const SECRET_CONTENT_TYPE = "application/json";

/** The secret's value: a flat JSON object of the private members. SECRET. */
export function privateMembersJson(jwk: KongPrivateJwk): string {
  const o: Record<string, string> = {};
  for (const m of PRIVATE_MEMBERS) o[m] = jwk[m];
  return JSON.stringify(o);
}

/** Does a read-back value hold exactly these private members (and nothing else)? */
export function holdsPrivateMembers(value: string, jwk: KongPrivateJwk): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return false;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return false;
  const o = parsed as Record<string, unknown>;
  return Object.keys(o).length === PRIVATE_MEMBERS.length && PRIVATE_MEMBERS.every((m) => o[m] === jwk[m]);
}

const bigint = (b64u: string): bigint => BigInt(`0x${Buffer.from(b64u, "base64url").toString("hex") || "0"}`);

/**
 * What is wrong with a reference secret's value, without revealing it: not a flat JSON object, private
 * members missing or not strings (Kong's `extract_key_from_json_string` needs strings), or, given the
 * public modulus `n` Kong advertises, primes whose product is not n (another key). undefined: fine.
 */
export function privateMembersProblem(value: string, n?: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return "it is not JSON";
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    return "it is not a flat JSON object";
  const o = parsed as Record<string, unknown>;
  const bad = PRIVATE_MEMBERS.filter((m) => typeof o[m] !== "string" || o[m] === "");
  if (bad.length) return `member(s) ${bad.join(", ")} missing or not strings`;
  if (n !== undefined && bigint(o.p as string) * bigint(o.q as string) !== bigint(n))
    return "its p·q is not the modulus n of the key in the plugin (another key)";
  return undefined;
}

/** `{vault://<prefix>/<secret>/<member>}` → `<prefix>/<secret>`; undefined for anything else. */
export function referencedSecret(reference: string): { prefix: string; secret: string } | undefined {
  const m = /^\{vault:\/\/([^/{}]+)\/([^/{}]+)\/[^/{}]+\}$/.exec(reference);
  return m ? { prefix: m[1]!, secret: m[2]! } : undefined;
}

/** The JWK Kong receives: public members literal, private members as vault references. */
export function referencedJwk(
  jwk: KongPrivateJwk,
  ref: VaultReferenceConfig,
  secret: string,
): KongPrivateJwk {
  const out = { ...jwk };
  for (const m of PRIVATE_MEMBERS) out[m] = `{vault://${ref.prefix}/${secret}/${m}}`;
  return out;
}

/**
 * Where a target's reference secrets live: `keyVaultUrl`'s vault (one holding only these secrets, so that
 * Kong's identity reads nothing else), else the certificate store's own vault. undefined: the store cannot.
 */
export function referenceSecrets(
  store: Pick<CertificateStore, "secrets" | "secretsAt">,
  ref: VaultReferenceConfig,
): PlainSecrets | undefined {
  return ref.keyVaultUrl === undefined ? store.secrets : store.secretsAt?.(ref.keyVaultUrl);
}
