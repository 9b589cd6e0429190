/**
 * Self-signed RSA certificates for tests, made the way Key Vault's "Self" issuer makes them: a fresh
 * certificate per version, PEM bundle = PKCS#8 key + certificate. RSA key generation is the slow part,
 * so keys come from a small per-size pool (each certificate still differs: serial, dates, thumbprint).
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createHash, generateKeyPairSync, webcrypto, type KeyObject } from "node:crypto";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const SIGN = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;
const POOL_SIZE = 16;

interface PooledKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const pools = new Map<number, PooledKey[]>();
let drawn = 0;

function drawKey(modulusLength: number): PooledKey {
  const pool = pools.get(modulusLength) ?? [];
  pools.set(modulusLength, pool);
  const i = drawn++ % POOL_SIZE;
  pool[i] ??= generateKeyPairSync("rsa", { modulusLength });
  return pool[i];
}

export interface TestCertificate {
  der: Buffer;
  certPem: string;
  /** PKCS#8 key followed by the certificate, as Key Vault's secret holds it. */
  pemBundle: string;
  privateKey: KeyObject;
  /** base64url SHA-1 / SHA-256 of the DER, computed here independently of product code. */
  x5t: string;
  x5tS256: string;
  notBefore: Date;
  notAfter: Date;
}

const pem = (label: string, der: Buffer): string =>
  `-----BEGIN ${label}-----\n${der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trim()}\n-----END ${label}-----\n`;

export async function issueSelfSigned(options: {
  subject: string;
  notBefore: Date;
  notAfter: Date;
  keySize?: number;
}): Promise<TestCertificate> {
  const key = drawKey(options.keySize ?? 2048);
  const pkcs8 = key.privateKey.export({ format: "der", type: "pkcs8" });
  const keys = {
    privateKey: await webcrypto.subtle.importKey("pkcs8", pkcs8, SIGN, false, ["sign"]),
    publicKey: await webcrypto.subtle.importKey(
      "spki",
      key.publicKey.export({ format: "der", type: "spki" }),
      SIGN,
      true,
      ["verify"],
    ),
  };
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString("hex"),
    name: options.subject,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    signingAlgorithm: SIGN,
    keys,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
  const der = Buffer.from(cert.rawData);
  const certPem = pem("CERTIFICATE", der);
  return {
    der,
    certPem,
    pemBundle: pem("PRIVATE KEY", pkcs8) + certPem,
    privateKey: key.privateKey,
    x5t: createHash("sha1").update(der).digest("base64url"),
    x5tS256: createHash("sha256").update(der).digest("base64url"),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}
