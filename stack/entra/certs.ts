/**
 * Self-signed RSA certificates like the ones `openssl req -x509` or Key Vault's "Self" issuer produce, for
 * seeding the Entra fake with a hand-made setup and for tests.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createPrivateKey, webcrypto, type KeyObject } from "node:crypto";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const RSA = {
  name: "RSASSA-PKCS1-v1_5",
  hash: "SHA-256",
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};

export interface SelfSignedCertificate {
  der: Buffer;
  privateKey: KeyObject;
}

export async function selfSignedCertificate(
  opts: { subject?: string; notBefore?: Date; notAfter?: Date } = {},
): Promise<SelfSignedCertificate> {
  const keys = await webcrypto.subtle.generateKey(RSA, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString("hex"),
    name: opts.subject ?? "CN=kong-entra-key-rotator test",
    notBefore: opts.notBefore ?? new Date(now - 60_000),
    notAfter: opts.notAfter ?? new Date(now + 180 * 86_400_000),
    signingAlgorithm: RSA,
    keys,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return {
    der: Buffer.from(cert.rawData),
    privateKey: createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }),
  };
}
