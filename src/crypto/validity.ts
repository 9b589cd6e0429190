/**
 * "Is this key or certificate valid now?", once for every place that asks: the engine (is the active
 * generation's key valid at the IdP, so that it can sign a proof of possession), the Entra adapter (does the
 * app still hold a valid certificate for addKey), adopt and doctor (is a certificate or a registered key
 * expired or not yet valid).
 *
 * A window runs from `notBefore` (inclusive) to `notAfter` (exclusive): a key whose end has been reached
 * signs nothing the IdP accepts. A bound the source does not give (an IdP that keeps no dates) does not limit
 * the window; a bound it gives but that cannot be read does not count as met. Dates come as the sources give
 * them: `Date`s (Key Vault, X.509) or ISO 8601 strings (Graph's startDateTime/endDateTime, Auth0's
 * expires_at).
 */
export interface ValidityWindow {
  notBefore?: Date | string | null;
  notAfter?: Date | string | null;
}

export type Validity = "valid" | "not-yet-valid" | "expired";

const ms = (v: Date | string): number => (typeof v === "string" ? Date.parse(v) : v.getTime());

export function validityAt(w: ValidityWindow, now: Date): Validity {
  const t = now.getTime();
  const end = w.notAfter == null ? Number.POSITIVE_INFINITY : ms(w.notAfter);
  if (!(t < end)) return "expired";
  const start = w.notBefore == null ? Number.NEGATIVE_INFINITY : ms(w.notBefore);
  if (!(start <= t)) return "not-yet-valid";
  return "valid";
}
