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

/** Key Vault object names: 1-127 of [0-9a-zA-Z-]. */
export const MAX_SECRET_NAME = 127;
/** A SHA-1 thumbprint in base64url without padding. */
export const X5T_LENGTH = 27;
export const SECRET_CONTENT_TYPE = "application/json";

/** `<secretPrefix><credential>-<x5t with every character outside [0-9a-zA-Z-] replaced by '-'>`. */
export function referenceSecretName(ref: VaultReferenceConfig, credential: string, x5t: string): string {
  return `${ref.secretPrefix}${credential}-${x5t.replace(/[^0-9a-zA-Z-]/g, "-")}`;
}

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
