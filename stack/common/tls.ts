/**
 * A local certificate authority for the stack: every fake serves HTTPS with a leaf issued by this CA,
 * and clients trust it through NODE_EXTRA_CA_CERTS (read by Node at process start). The CA is kept in
 * `.local/ca/` so that a running stack, the demo and test workers all agree on it.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto, createPrivateKey } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const RSA = {
  name: "RSASSA-PKCS1-v1_5",
  hash: "SHA-256",
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};

export interface LocalCa {
  certPem: string;
  keyPem: string;
  certPath: string;
}

export interface ServerTls {
  cert: string;
  key: string;
  ca: string;
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" })
    .export({ format: "pem", type: "pkcs8" })
    .toString();
}

export async function ensureCa(dir: string): Promise<LocalCa> {
  const certPath = join(dir, "ca.pem");
  const keyPath = join(dir, "ca.key");
  if (existsSync(certPath) && existsSync(keyPath)) {
    const certPem = readFileSync(certPath, "utf8");
    const cert = new x509.X509Certificate(certPem);
    if (cert.notAfter.getTime() > Date.now() + 86_400_000)
      return { certPem, keyPem: readFileSync(keyPath, "utf8"), certPath };
  }
  mkdirSync(dir, { recursive: true });
  const keys = await webcrypto.subtle.generateKey(RSA, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString("hex"),
    name: "CN=kong-entra-key-rotator local stack CA",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * 86_400_000),
    signingAlgorithm: RSA,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = cert.toString("pem") + "\n";
  const keyPem = await exportKeyPem(keys.privateKey);
  writeFileSync(keyPath, keyPem, { mode: 0o600 });
  writeFileSync(certPath, certPem);
  return { certPem, keyPem, certPath };
}

/** A server certificate for 127.0.0.1 / localhost, issued by the local CA. */
export async function issueServerTls(
  ca: LocalCa,
  hostnames: string[] = ["localhost"],
  ips: string[] = ["127.0.0.1"],
): Promise<ServerTls> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey(
    "pkcs8",
    createPrivateKey(ca.keyPem).export({ format: "der", type: "pkcs8" }),
    RSA,
    false,
    ["sign"],
  );
  const keys = await webcrypto.subtle.generateKey(RSA, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString("hex"),
    subject: `CN=${hostnames[0] ?? ips[0]}`,
    issuer: caCert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 30 * 86_400_000),
    signingAlgorithm: RSA,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...hostnames.map((value) => ({ type: "dns" as const, value })),
        ...ips.map((value) => ({ type: "ip" as const, value })),
      ]),
    ],
  });
  return { cert: cert.toString("pem") + "\n", key: await exportKeyPem(keys.privateKey), ca: ca.certPem };
}
