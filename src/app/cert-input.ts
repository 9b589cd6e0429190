/**
 * Read an existing certificate and private key from a file, as a manual setup left them:
 * - PEM: a private key (PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` with a
 *   password) and one or more certificates, in any order;
 * - PFX / PKCS#12 (RFC 7292) as `openssl pkcs12 -export` writes it: certificate bags in plain or
 *   password-encrypted (PBES2: PBKDF2 + AES-CBC, RFC 8018, the OpenSSL 3 default) content, and a key bag
 *   or shrouded key bag (decrypted by Node's PKCS#8 support, which also covers the legacy PKCS#12 PBEs).
 * Legacy-encrypted certificate content (RC2/3DES, OpenSSL 1.x defaults) and BER indefinite lengths are
 * refused with a hint to convert. The MAC is not checked: the key and the certificate are checked against
 * each other, the certificate against Entra and Kong, which is what matters here.
 */
import { createDecipheriv, createPrivateKey, pbkdf2Sync, type KeyObject } from "node:crypto";
import { RotatorError } from "../errors.js";

export interface CertificateInput {
  privateKey: KeyObject;
  /** Every certificate in the file, in file order (DER). */
  certificates: Buffer[];
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

const invalid = (message: string, hint: string, cause?: unknown): RotatorError =>
  new RotatorError("CERT_INPUT_INVALID", message, hint, cause === undefined ? {} : { cause });

export function readCertificateInput(bytes: Buffer, password?: string): CertificateInput {
  const text = bytes.toString("latin1");
  return text.includes("-----BEGIN ") ? fromPem(text, password) : fromPfx(bytes, password);
}

function decryptKey(
  key: Parameters<typeof createPrivateKey>[0],
  encrypted: boolean,
  password: string | undefined,
): KeyObject {
  if (encrypted && password === undefined)
    throw invalid("the private key is encrypted", "Pass its password with --password.");
  try {
    return createPrivateKey(key);
  } catch (e) {
    throw encrypted
      ? invalid("the private key cannot be decrypted with the given password", "Check --password.", e)
      : invalid(
          "the private key cannot be parsed",
          "Expected an unencrypted PKCS#8 or PKCS#1 RSA key, or a PFX.",
          e,
        );
  }
}

function fromPem(text: string, password: string | undefined): CertificateInput {
  let keyPem: string | undefined;
  let encrypted = false;
  const certificates: Buffer[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    const label = m[1] ?? "";
    if (label === "CERTIFICATE") {
      const body = m[0].replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
      certificates.push(Buffer.from(body, "base64"));
    } else if (label.endsWith("PRIVATE KEY") && keyPem === undefined) {
      keyPem = m[0];
      encrypted = label === "ENCRYPTED PRIVATE KEY" || /Proc-Type: 4,ENCRYPTED/.test(m[0]);
    }
  }
  if (!keyPem)
    throw invalid(
      "the PEM file holds no private key",
      "Concatenate the key and the certificate into one file (cat key.pem cert.pem), or use a PFX.",
    );
  if (certificates.length === 0)
    throw invalid(
      "the PEM file holds no certificate",
      "Concatenate the key and the certificate into one file (cat key.pem cert.pem).",
    );
  const privateKey = decryptKey(
    { key: keyPem, ...(encrypted && password !== undefined ? { passphrase: password } : {}) },
    encrypted,
    password,
  );
  return { privateKey, certificates };
}

// ---------------------------------------------------------------------------------------------
// A minimal DER reader, enough for PKCS#12
// ---------------------------------------------------------------------------------------------

interface Tlv {
  tag: number;
  value: Buffer;
  /** The whole element, header included. */
  raw: Buffer;
}

function readTlv(buf: Buffer, offset: number): Tlv {
  const tag = buf[offset];
  let lenByte = buf[offset + 1];
  if (tag === undefined || lenByte === undefined) throw notDer();
  let pos = offset + 2;
  let len = lenByte;
  if (lenByte & 0x80) {
    const n = lenByte & 0x7f;
    if (n === 0 || n > 4)
      throw invalid(
        "the PFX uses BER indefinite lengths",
        "Re-export it with OpenSSL (openssl pkcs12 -export), or convert it to PEM.",
      );
    len = 0;
    for (let i = 0; i < n; i++) {
      lenByte = buf[pos++];
      if (lenByte === undefined) throw notDer();
      len = len * 256 + lenByte;
    }
  }
  if (pos + len > buf.length) throw notDer();
  return { tag, value: buf.subarray(pos, pos + len), raw: buf.subarray(offset, pos + len) };
}

const notDer = () =>
  invalid(
    "the file is neither PEM nor a DER PFX",
    "Pass a PEM file (key and certificate) or a PFX/PKCS#12 file.",
  );

function children(t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = 0; pos < t.value.length;) {
    const c = readTlv(t.value, pos);
    out.push(c);
    pos += c.raw.length;
  }
  return out;
}

function oid(t: Tlv | undefined): string {
  if (!t || t.tag !== 0x06) throw notDer();
  const b = t.value;
  const first = b[0] ?? 0;
  const parts = [Math.floor(first / 40), first % 40];
  let acc = 0;
  for (const byte of b.subarray(1)) {
    acc = acc * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(acc);
      acc = 0;
    }
  }
  return parts.join(".");
}

function int(t: Tlv | undefined): number {
  if (!t || t.tag !== 0x02) throw notDer();
  return t.value.reduce((acc, b) => acc * 256 + b, 0);
}

const at = (list: Tlv[], i: number): Tlv => {
  const t = list[i];
  if (!t) throw notDer();
  return t;
};

/** The content of an explicit [0] wrapper, or of an implicit [0] OCTET STRING (primitive or constructed). */
function octets(t: Tlv): Buffer {
  if (t.tag === 0x04 || t.tag === 0x80) return t.value;
  if (t.tag === 0x24 || t.tag === 0xa0) return Buffer.concat(children(t).map(octets));
  throw notDer();
}

const OID = {
  data: "1.2.840.113549.1.7.1",
  encryptedData: "1.2.840.113549.1.7.6",
  keyBag: "1.2.840.113549.1.12.10.1.1",
  shroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
} as const;

const PRF: Record<string, string> = {
  "1.2.840.113549.2.7": "sha1",
  "1.2.840.113549.2.9": "sha256",
  "1.2.840.113549.2.10": "sha384",
  "1.2.840.113549.2.11": "sha512",
};

const AES_CBC: Record<string, { cipher: string; keyLength: number }> = {
  "2.16.840.1.101.3.4.1.2": { cipher: "aes-128-cbc", keyLength: 16 },
  "2.16.840.1.101.3.4.1.22": { cipher: "aes-192-cbc", keyLength: 24 },
  "2.16.840.1.101.3.4.1.42": { cipher: "aes-256-cbc", keyLength: 32 },
};

/** Decrypt PBES2 (PBKDF2 + AES-CBC) content, RFC 8018 sections 6.2 and A.2. */
function pbes2Decrypt(algorithm: Tlv, data: Buffer, password: string | undefined): Buffer {
  const [algOid, params] = children(algorithm);
  if (oid(algOid) !== OID.pbes2)
    throw invalid(
      "the PFX's certificates are encrypted with a legacy algorithm (RC2 or 3DES)",
      "Re-export it with OpenSSL 3 defaults (openssl pkcs12 -export, AES-256), or convert it to PEM (openssl pkcs12 -nodes).",
    );
  if (password === undefined)
    throw invalid("the PFX is password-protected", "Pass its password with --password.");
  const [kdf, scheme] = children(params ?? notDerTlv());
  const [kdfOid, kdfParams] = children(kdf ?? notDerTlv());
  if (oid(kdfOid) !== OID.pbkdf2)
    throw invalid(
      "the PFX uses an unsupported key derivation",
      "Re-export it with OpenSSL 3 defaults, or convert it to PEM.",
    );
  const p = children(kdfParams ?? notDerTlv());
  const salt = at(p, 0).value;
  const iterations = int(at(p, 1));
  const prfAlg = p.find((x) => x.tag === 0x30);
  const hash = prfAlg ? PRF[oid(children(prfAlg)[0])] : "sha1";
  const [encOid, iv] = children(scheme ?? notDerTlv());
  const aes = AES_CBC[oid(encOid)];
  if (!hash || !aes || !iv)
    throw invalid(
      "the PFX uses an unsupported cipher",
      "Re-export it with OpenSSL 3 defaults (AES-CBC), or convert it to PEM.",
    );
  const key = pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, aes.keyLength, hash);
  try {
    const d = createDecipheriv(aes.cipher, key, iv.value);
    return Buffer.concat([d.update(data), d.final()]);
  } catch (e) {
    throw invalid("the PFX cannot be decrypted with the given password", "Check --password.", e);
  }
}

function notDerTlv(): Tlv {
  throw notDer();
}

function fromPfx(bytes: Buffer, password: string | undefined): CertificateInput {
  const pfx = children(readTlv(bytes, 0));
  const authSafe = children(at(pfx, 1));
  if (oid(authSafe[0]) !== OID.data)
    throw invalid(
      "the PFX is not password-integrity protected data",
      "Only password-based PFX files are supported; convert it to PEM.",
    );
  const contents = children(readTlv(octets(at(children(at(authSafe, 1)), 0)), 0));
  const certificates: Buffer[] = [];
  let privateKey: KeyObject | undefined;
  for (const info of contents) {
    const [type, wrapped] = children(info);
    let safeContents: Buffer;
    if (oid(type) === OID.data) safeContents = octets(at(children(wrapped ?? notDerTlv()), 0));
    else if (oid(type) === OID.encryptedData) {
      const encryptedData = children(at(children(wrapped ?? notDerTlv()), 0));
      const eci = children(at(encryptedData, 1));
      safeContents = pbes2Decrypt(at(eci, 1), octets(at(eci, 2)), password);
    } else throw invalid("the PFX holds content of an unsupported type", "Convert it to PEM.");
    for (const bag of children(readTlv(safeContents, 0))) {
      const [bagId, bagValue] = children(bag);
      const value = at(children(bagValue ?? notDerTlv()), 0);
      const id = oid(bagId);
      if (id === OID.certBag) {
        const [certType, certValue] = children(value);
        if (oid(certType) === OID.x509Certificate)
          certificates.push(Buffer.from(octets(at(children(certValue ?? notDerTlv()), 0))));
      } else if ((id === OID.keyBag || id === OID.shroudedKeyBag) && !privateKey) {
        const shrouded = id === OID.shroudedKeyBag;
        privateKey = decryptKey(
          {
            key: Buffer.from(value.raw),
            format: "der",
            type: "pkcs8",
            ...(shrouded && password !== undefined ? { passphrase: password } : {}),
          },
          shrouded,
          password,
        );
      }
    }
  }
  if (!privateKey)
    throw invalid(
      "the PFX holds no private key",
      "Export it with its private key (openssl pkcs12 -export -inkey key.pem -in cert.pem).",
    );
  if (certificates.length === 0)
    throw invalid(
      "the PFX holds no certificate",
      "Export it with the certificate (openssl pkcs12 -export -inkey key.pem -in cert.pem).",
    );
  return { privateKey, certificates };
}
