/**
 * Test helpers shared by the Kong adapter suites: a Kong-shaped private RSA JWK (as the engine pushes it)
 * and "this promise must fail with a RotatorError".
 */
import { randomBytes } from "node:crypto";
import type { KongPrivateJwk } from "../../src/crypto/keymaterial.js";
import { isRotatorError, type RotatorError } from "../../src/errors.js";
import { generateRsaJwk, type SeedJwk } from "../../stack/kong/seed.js";

/** A fresh PS256 key; `kid` doubles as x5t (random when not given), as the engine's JWKs do. */
export function kongJwk(kid?: string): KongPrivateJwk {
  const id = kid ?? randomBytes(20).toString("base64url");
  const s = generateRsaJwk({ kid: id, alg: "PS256" });
  const m = (k: string) => s[k] ?? "";
  return {
    kty: "RSA",
    use: "sig",
    alg: "PS256",
    kid: id,
    n: m("n"),
    e: m("e"),
    d: m("d"),
    p: m("p"),
    q: m("q"),
    dp: m("dp"),
    dq: m("dq"),
    qi: m("qi"),
    x5t: id,
    "x5t#S256": kid === undefined ? randomBytes(32).toString("base64url") : `${kid}-s256`,
  };
}

export async function failure(p: Promise<unknown>): Promise<RotatorError> {
  try {
    await p;
  } catch (e) {
    if (isRotatorError(e)) return e;
    throw e;
  }
  throw new Error("expected a RotatorError");
}

/** The keys of the Kong suites: two other clients' keys, our old key, and two new keys of ours. */
export function suiteKeys(): {
  otherA: SeedJwk;
  otherC: SeedJwk;
  oldOurs: SeedJwk;
  next: KongPrivateJwk;
  newer: KongPrivateJwk;
} {
  return {
    otherA: generateRsaJwk({ kid: "kid-a" }),
    otherC: generateRsaJwk({ kid: "kid-c" }),
    oldOurs: generateRsaJwk({ kid: "kid-old" }),
    next: kongJwk(),
    newer: kongJwk(),
  };
}

/** An openid-connect config whose client_id lists a partner (with its own key) and our client (no key yet). */
export function partnerAndUs(issuer: string, clientId: string, partner: SeedJwk): Record<string, unknown> {
  return {
    issuer,
    client_id: ["partner", clientId],
    client_auth: ["private_key_jwt", "private_key_jwt"],
    client_jwk: [partner],
  };
}
