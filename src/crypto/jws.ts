import { createSign, randomUUID, constants, type KeyObject } from "node:crypto";
import type { SigningAlg } from "./keymaterial.js";

/**
 * Something that can produce an RSA signature for a JWS: a local private key, or Key Vault's sign
 * operation (the key never leaves the vault). Headers carry `x5t` (and `kid` = `x5t`), which is how
 * Entra identifies the certificate.
 */
export interface JwsSigner {
  x5t: string;
  x5tS256?: string;
  sign(signingInput: Uint8Array, alg: SigningAlg): Promise<Uint8Array>;
}

const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

export async function signJwt(
  signer: JwsSigner,
  alg: SigningAlg,
  payload: Record<string, unknown>,
): Promise<string> {
  const header: Record<string, unknown> = { alg, typ: "JWT", kid: signer.x5t, x5t: signer.x5t };
  if (signer.x5tS256) header["x5t#S256"] = signer.x5tS256;
  const input = `${enc(header)}.${enc(payload)}`;
  const sig = await signer.sign(Buffer.from(input), alg);
  return `${input}.${Buffer.from(sig).toString("base64url")}`;
}

export function localSigner(key: KeyObject, x5t: string, x5tS256?: string): JwsSigner {
  return {
    x5t,
    ...(x5tS256 ? { x5tS256 } : {}),
    async sign(input, alg) {
      const s = createSign("sha256");
      s.update(input);
      return alg === "PS256"
        ? s.sign({ key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
        : s.sign(key);
    },
  };
}

/**
 * Client assertion for the token endpoint (Microsoft identity platform certificate credentials,
 * https://learn.microsoft.com/entra/identity-platform/certificate-credentials): aud = token endpoint,
 * iss = sub = client id, unique jti, short exp.
 */
export async function clientAssertion(
  signer: JwsSigner,
  alg: SigningAlg,
  clientId: string,
  tokenEndpoint: string,
  now: Date,
  lifetimeSec = 300,
): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return signJwt(signer, alg, {
    aud: tokenEndpoint,
    iss: clientId,
    sub: clientId,
    jti: randomUUID(),
    iat,
    nbf: iat,
    exp: iat + lifetimeSec,
  });
}

/**
 * Proof of possession for Graph addKey/removeKey
 * (https://learn.microsoft.com/graph/application-rollkeys-prooftoken): RS256 with x5t,
 * aud 00000002-0000-0000-c000-000000000000, iss = the application's object id, nbf, exp ≤ nbf + 10 min.
 */
export async function graphProof(signer: JwsSigner, applicationObjectId: string, now: Date): Promise<string> {
  const nbf = Math.floor(now.getTime() / 1000);
  return signJwt(signer, "RS256", {
    aud: "00000002-0000-0000-c000-000000000000",
    iss: applicationObjectId,
    nbf,
    exp: nbf + 600,
    jti: randomUUID(),
  });
}
