import { X509Certificate, createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { RotatorError } from "../errors.js";
import { registerSecret } from "../log/redact.js";

export type SigningAlg = "PS256" | "RS256";

/**
 * The JWK Kong's openid-connect plugin needs in `config.client_jwk[i]`. Kong signs with the JWK's own
 * `alg` (RS256 if absent, so it is always set) and puts `kid` in the assertion header; Entra identifies the
 * certificate by thumbprint, so `kid` = `x5t` (BRIEF, "How the plugin signs").
 */
/** The private members of an RSA JWK (RFC 7518 §6.3.2); the ones Kong marks referenceable in client_jwk. */
export const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi"] as const;

export interface KongPrivateJwk {
  kty: "RSA";
  use: "sig";
  alg: SigningAlg;
  kid: string;
  n: string;
  e: string;
  d: string;
  p: string;
  q: string;
  dp: string;
  dq: string;
  qi: string;
  x5t: string;
  "x5t#S256": string;
}

export interface CertificateInfo {
  /** base64url (no padding) SHA-1 of the DER: the JWS `x5t` and Entra's thumbprint. */
  x5t: string;
  /** base64url (no padding) SHA-256 of the DER: `x5t#S256`. */
  x5tS256: string;
  /** Upper-case hex SHA-1, as the portal and `openssl x509 -fingerprint` show it. */
  sha1Hex: string;
  notBefore: Date;
  notAfter: Date;
  subject: string;
  der: Buffer;
  publicKey: KeyObject;
}

const b64url = (buf: Buffer): string => buf.toString("base64url");

export function thumbprints(der: Uint8Array): { x5t: string; x5tS256: string; sha1Hex: string } {
  const sha1 = createHash("sha1").update(der).digest();
  return {
    x5t: b64url(sha1),
    x5tS256: b64url(createHash("sha256").update(der).digest()),
    sha1Hex: sha1.toString("hex").toUpperCase(),
  };
}

export function describeCertificate(der: Uint8Array): CertificateInfo {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (e) {
    throw new RotatorError(
      "CERT_INVALID",
      "the certificate is not valid DER X.509",
      "Check that the certificate version in Key Vault completed and is X.509.",
      { cause: e },
    );
  }
  return {
    ...thumbprints(der),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    subject: cert.subject,
    der: Buffer.from(der),
    publicKey: cert.publicKey,
  };
}

/** The public facts an identity provider registers: the certificate (DER and PEM) and its RSA members. */
export function publicKeyOf(der: Uint8Array): {
  x5t: string;
  notAfter: Date;
  certPem: string;
  jwk: { kty: "RSA"; n: string; e: string };
} {
  const info = describeCertificate(der);
  const pub = info.publicKey.export({ format: "jwk" });
  if (pub.kty !== "RSA" || !pub.n || !pub.e)
    throw new RotatorError(
      "CERT_NOT_RSA",
      `certificate ${info.x5t} does not hold an RSA public key`,
      "The rotator issues RSA certificates; check the Key Vault certificate policy.",
    );
  const body = info.der.toString("base64").replace(/.{1,64}/g, "$&\n");
  return {
    x5t: info.x5t,
    notAfter: info.notAfter,
    certPem: `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`,
    jwk: { kty: "RSA", n: pub.n, e: pub.e },
  };
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/**
 * Split the PEM that Key Vault returns for an exportable certificate's secret (content type
 * application/x-pem-file): a PKCS#8 private key followed by the certificate chain, leaf first.
 */
export function splitPemBundle(pem: string): { privateKey: KeyObject; leafDer: Buffer; chainDer: Buffer[] } {
  let keyPem: string | undefined;
  const certs: Buffer[] = [];
  for (const m of pem.matchAll(PEM_BLOCK)) {
    const label = m[1] ?? "";
    if (label.endsWith("PRIVATE KEY")) keyPem ??= m[0];
    else if (label === "CERTIFICATE") certs.push(Buffer.from((m[2] ?? "").replace(/\s+/g, ""), "base64"));
  }
  if (!keyPem)
    throw new RotatorError(
      "CERT_NO_PRIVATE_KEY",
      "the Key Vault secret holds no private key",
      "The certificate policy must be exportable (exportable: true) with contentType application/x-pem-file.",
    );
  const leafDer = certs[0];
  if (!leafDer)
    throw new RotatorError(
      "CERT_NO_CERTIFICATE",
      "the Key Vault secret holds no certificate",
      "Expected a PEM bundle with the key and the certificate.",
    );
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch (e) {
    throw new RotatorError(
      "CERT_BAD_PRIVATE_KEY",
      "the private key in the Key Vault secret cannot be parsed",
      "Expected an unencrypted PKCS#8 key.",
      { cause: e },
    );
  }
  return { privateKey, leafDer, chainDer: certs.slice(1) };
}

/** Build Kong's private JWK from a PEM bundle; checks that the key is RSA and matches the certificate. */
export function pemToKongJwk(
  pem: string,
  alg: SigningAlg,
): { jwk: KongPrivateJwk; certificate: CertificateInfo } {
  const { privateKey, leafDer } = splitPemBundle(pem);
  return { jwk: keyToKongJwk(privateKey, leafDer, alg), certificate: describeCertificate(leafDer) };
}

export function keyToKongJwk(privateKey: KeyObject, certDer: Uint8Array, alg: SigningAlg): KongPrivateJwk {
  if (privateKey.asymmetricKeyType !== "rsa")
    throw new RotatorError(
      "CERT_NOT_RSA",
      `the certificate key is ${privateKey.asymmetricKeyType ?? "unknown"}, not RSA`,
      "Entra client assertions must be PS256 or RS256: use keyType RSA in the certificate policy.",
    );
  const cert = describeCertificate(certDer);
  const pub = createPublicKey(privateKey).export({ format: "jwk" });
  const certPub = cert.publicKey.export({ format: "jwk" });
  if (pub.n !== certPub.n || pub.e !== certPub.e)
    throw new RotatorError(
      "CERT_KEY_MISMATCH",
      "the private key does not belong to the certificate",
      "The PEM bundle pairs a key with another certificate; re-export it.",
    );
  const j = privateKey.export({ format: "jwk" });
  const need = ["n", "e", ...PRIVATE_JWK_MEMBERS] as const;
  for (const k of need)
    if (typeof j[k] !== "string")
      throw new RotatorError(
        "CERT_BAD_PRIVATE_KEY",
        `RSA key lacks the ${k} member`,
        "Expected a full RSA private key with CRT parameters.",
      );
  // The private members are secrets of the run that built the JWK: every sink redacts them by value, even
  // where they appear outside a JWK (a message quoting one, an object without `kty`). src/log/redact.ts
  // drops them when the invocation's secret scope ends.
  for (const k of PRIVATE_JWK_MEMBERS) registerSecret(j[k] as string);
  return {
    kty: "RSA",
    use: "sig",
    alg,
    kid: cert.x5t,
    n: j.n as string,
    e: j.e as string,
    d: j.d as string,
    p: j.p as string,
    q: j.q as string,
    dp: j.dp as string,
    dq: j.dq as string,
    qi: j.qi as string,
    x5t: cert.x5t,
    "x5t#S256": cert.x5tS256,
  };
}

/** The public half of a Kong JWK, safe to show in status output. */
export function publicView(jwk: { kid?: string; x5t?: string; n?: string; alg?: string }): {
  kid?: string;
  x5t?: string;
  alg?: string;
  modulusPrefix?: string;
} {
  return { kid: jwk.kid, x5t: jwk.x5t, alg: jwk.alg, modulusPrefix: jwk.n?.slice(0, 12) };
}
