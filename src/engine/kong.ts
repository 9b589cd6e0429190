/**
 * Push one generation's private JWK to a Kong target. The JWK is read from Key Vault's backing secret
 * (the only place private key material flows) and goes straight to the Admin API; it is never logged,
 * returned or stored.
 */
import type { CredentialConfig } from "../config/load.js";
import { pemToKongJwk, type KongPrivateJwk } from "../crypto/keymaterial.js";
import type { CertificateStore, KongTarget } from "../ports.js";
import { atTarget, certMismatch, readbackMismatch } from "./errors.js";
import type { Generation } from "./tags.js";

export async function loadJwk(
  store: CertificateStore,
  cred: CredentialConfig,
  g: Generation,
): Promise<KongPrivateJwk> {
  const { jwk } = pemToKongJwk(await store.readPem(cred.certificateName, g.version), cred.policy.algorithm);
  if (jwk.kid !== g.x5t) throw certMismatch(g.version, g.x5t, jwk.kid);
  return jwk;
}

/** Apply and check the adapter's read-back: every plugin must now report the new kid. */
export async function applyTo(target: KongTarget, jwk: KongPrivateJwk): Promise<number> {
  let views;
  try {
    views = await target.apply(jwk);
  } catch (e) {
    throw atTarget(e, target.name);
  }
  if (!views.every((v) => v.kid === jwk.kid))
    throw readbackMismatch(
      target.name,
      jwk.kid,
      views.map((v) => v.kid),
    );
  return views.length;
}
