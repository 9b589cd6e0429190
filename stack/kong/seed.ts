/**
 * Seed material for the Kong fake: RSA private JWKs shaped like the ones people paste into
 * `config.client_jwk` (kty, use, alg, kid, n, e and the private CRT members), made with node:crypto only.
 */
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { notePrivateJwk } from "../common/capture.js";

export type SeedJwk = Record<string, string>;

export function generateRsaJwk(opts: { alg?: "RS256" | "PS256"; kid?: string; bits?: number } = {}): SeedJwk {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: opts.bits ?? 2048 });
  const jwk = privateKey.export({ format: "jwk" });
  const out: SeedJwk = { kty: "RSA", use: "sig", alg: opts.alg ?? "PS256", kid: opts.kid ?? randomUUID() };
  for (const k of ["n", "e", "d", "p", "q", "dp", "dq", "qi"] as const) {
    const v = jwk[k];
    if (typeof v !== "string") throw new Error(`generated RSA key lacks ${k}`);
    out[k] = v;
  }
  notePrivateJwk(out);
  return out;
}
