/**
 * The read-back after a Kong write, the same for every kind (Admin API, hybrid control plane, DB-less node,
 * Konnect, KIC Secret): the entry our client's slot holds when read again must be the key that was written.
 * Compared are the members that decide which key Kong signs with and how the IdP checks it: `kid` (the
 * assertion's header, matched at the IdP), `n` and `e` (the public key; the private members belong to it)
 * and `alg` (Kong signs with the JWK's own alg, kong/openid-connect/jws.lua). The private members are not
 * compared: in vault-reference mode they are references Kong resolves, and in either mode they go with `n`.
 *
 * A write is accepted but not what is read back when another writer (decK, a CI pipeline, a person, the
 * operator's own DB-less deploy) changed it concurrently, or a node keeps serving another configuration.
 * The adapters' receipts are trusted by the engine (src/engine/kong.ts): this check is the one place the rule
 * lives.
 */
import type { KongPrivateJwk } from "../../../crypto/keymaterial.js";
import { RotatorError } from "../../../errors.js";

export const READBACK_MEMBERS = ["kid", "n", "e", "alg"] as const;

/** The members of `jwk` that the entry read back does not hold (Kong returns an unset member as null). */
export function readBackMismatch(entry: unknown, jwk: KongPrivateJwk): string[] {
  const got = typeof entry === "object" && entry !== null && !Array.isArray(entry) ? entry : {};
  return READBACK_MEMBERS.filter((k) => ((got as Record<string, unknown>)[k] ?? null) !== jwk[k]);
}

/**
 * Throw KONG_READBACK_MISMATCH (retryable: the next run re-applies) when the entry read back at `where`
 * ("plugin p, client_jwk[1]", "secret s, index 1", "node n, plugin p, client_jwk[1]") is not `jwk`.
 */
export function checkReadBack(
  entry: unknown,
  jwk: KongPrivateJwk,
  at: { target: string; where: string; details?: Record<string, unknown> },
): void {
  const mismatched = readBackMismatch(entry, jwk);
  if (mismatched.length === 0) return;
  const kid = (entry as { kid?: unknown } | undefined)?.kid;
  throw new RotatorError(
    "KONG_READBACK_MISMATCH",
    `Kong target ${at.target}: ${at.where} reads back with kid ${typeof kid === "string" ? kid : "(none)"} instead of ${jwk.kid} (differs in ${mismatched.join(", ")})`,
    "Another writer (decK, a CI pipeline, a person, a deploy of the declarative config) may have changed it concurrently; the next run re-applies.",
    { retryable: true, details: { ...at.details, mismatched } },
  );
}

/**
 * The same rule for the other fields a migration writes (docs/migration.md): after the switch our
 * client_auth entry reads back as private_key_jwt; after the secret's removal our client_secret entry no
 * longer holds a secret. `ok` is the check on the plugin as read again.
 */
export function checkFieldReadBack(
  ok: boolean,
  field: "client_auth" | "client_secret",
  at: { target: string; where: string; details?: Record<string, unknown> },
): void {
  if (ok) return;
  throw new RotatorError(
    "KONG_READBACK_MISMATCH",
    `Kong target ${at.target}: ${at.where} reads back ${field === "client_auth" ? "without private_key_jwt" : "still holding the client secret"}`,
    "Another writer (decK, a CI pipeline, a person, a deploy of the declarative config) may have changed it concurrently; the next run re-applies.",
    { retryable: true, details: { ...at.details, field } },
  );
}
