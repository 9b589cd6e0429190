/**
 * Key Vault's `sign` operation takes a digest the client already computed (the REST body's `value` is the
 * base64url digest; https://learn.microsoft.com/rest/api/keyvault/keys/sign/sign) and returns the raw
 * signature. node:crypto's sign() always hashes its input, so the RSA signature encodings are built here
 * over the given digest and applied with the raw private-key operation:
 * - RSASSA-PKCS1-v1_5 (RS*): DigestInfo(hash OID, digest) with block type 1 padding (RFC 8017 §9.2);
 * - RSASSA-PSS (PS*): EMSA-PSS-ENCODE with MGF1 over the same hash and a salt as long as the hash, the
 *   parameters RFC 7518 §3.5 fixes for PS256/384/512 (RFC 8017 §9.1.1).
 */
import { constants, createHash, privateEncrypt, randomBytes, type KeyObject } from "node:crypto";

type Hash = "sha256" | "sha384" | "sha512";

/** DER prefixes of DigestInfo for each hash (RFC 8017 §9.2, note 1). */
const DIGEST_INFO: Record<Hash, Buffer> = {
  sha256: Buffer.from("3031300d060960864801650304020105000420", "hex"),
  sha384: Buffer.from("3041300d060960864801650304020205000430", "hex"),
  sha512: Buffer.from("3051300d060960864801650304020305000440", "hex"),
};

const HASH_LENGTH: Record<Hash, number> = { sha256: 32, sha384: 48, sha512: 64 };

export const RSA_SIGNING_ALGS: Record<string, { hash: Hash; pss: boolean }> = {
  RS256: { hash: "sha256", pss: false },
  RS384: { hash: "sha384", pss: false },
  RS512: { hash: "sha512", pss: false },
  PS256: { hash: "sha256", pss: true },
  PS384: { hash: "sha384", pss: true },
  PS512: { hash: "sha512", pss: true },
};

export function digestLength(alg: string): number | undefined {
  const a = RSA_SIGNING_ALGS[alg];
  return a ? HASH_LENGTH[a.hash] : undefined;
}

export function signRsaDigest(key: KeyObject, alg: string, digest: Buffer): Buffer {
  const a = RSA_SIGNING_ALGS[alg];
  if (!a) throw new Error(`unsupported RSA signing algorithm ${alg}`);
  if (!a.pss)
    return privateEncrypt(
      { key, padding: constants.RSA_PKCS1_PADDING },
      Buffer.concat([DIGEST_INFO[a.hash], digest]),
    );
  const modBits = key.asymmetricKeyDetails?.modulusLength;
  if (!modBits) throw new Error("RSA key without modulus length");
  const em = emsaPssEncode(digest, modBits - 1, a.hash);
  const k = Math.ceil(modBits / 8);
  return privateEncrypt(
    { key, padding: constants.RSA_NO_PADDING },
    Buffer.concat([Buffer.alloc(k - em.length), em]),
  );
}

function emsaPssEncode(mHash: Buffer, emBits: number, hash: Hash): Buffer {
  const hLen = HASH_LENGTH[hash];
  const sLen = hLen;
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytes(sLen);
  const h = createHash(hash)
    .update(Buffer.concat([Buffer.alloc(8), mHash, salt]))
    .digest();
  const db = Buffer.concat([Buffer.alloc(emLen - sLen - hLen - 2), Buffer.from([0x01]), salt]);
  const mask = mgf1(h, emLen - hLen - 1, hash);
  for (let i = 0; i < db.length; i++) db[i] = (db[i] as number) ^ (mask[i] as number);
  db[0] = (db[0] as number) & (0xff >> (8 * emLen - emBits));
  return Buffer.concat([db, h, Buffer.from([0xbc])]);
}

function mgf1(seed: Buffer, length: number, hash: Hash): Buffer {
  const blocks: Buffer[] = [];
  for (let counter = 0; blocks.length * HASH_LENGTH[hash] < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    blocks.push(
      createHash(hash)
        .update(Buffer.concat([seed, c]))
        .digest(),
    );
  }
  return Buffer.concat(blocks).subarray(0, length);
}
