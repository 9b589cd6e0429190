/**
 * Read an existing certificate and private key from a file, as a manual setup left them:
 * - PEM: a private key (PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` with a
 *   password) and one or more certificates, in any order;
 * - PFX / PKCS#12 (RFC 7292) as `openssl pkcs12 -export` writes it, DER or BER.
 *
 * PKCS#12 goes through maintained libraries, not a hand-written DER reader:
 * - the structure (PFX, AuthenticatedSafe, SafeContents, SafeBag, CertBag) is parsed with the
 *   `@peculiar/asn1-pfx` schemas, which keep each bag's exact bytes (the certificate DER is hashed into
 *   x5t, so it must not be re-encoded);
 * - the password-integrity MAC (RFC 7292 section 5 and appendix B: HMAC keyed by the PKCS#12 KDF) is
 *   verified with PKI.js (`pkijs`, same maintainers) before anything is decrypted; a file without a MAC
 *   is refused, since stripping the MAC would otherwise skip the check;
 * - EncryptedData and the PBES2 parameters (RFC 8018: PBKDF2 + AES-CBC, the OpenSSL 3 default) are read
 *   with PKI.js and decrypted with node:crypto; shrouded key bags are decrypted by Node's PKCS#8 support,
 *   which also covers the legacy PKCS#12 PBEs (3DES) for keys.
 * Every iteration count (MAC, PBKDF2, legacy PBE) is checked against MAX_PFX_ITERATIONS before any key
 * derivation runs, and the sum over the whole file against MAX_PFX_TOTAL_ITERATIONS (a crafted file could
 * otherwise hold many encrypted parts, each just under the per-derivation cap), so it cannot make the CLI
 * spin. Certificates encrypted with a legacy PBE
 * (RC2/3DES, `openssl pkcs12 -legacy` and OpenSSL 1.x defaults) are refused with a hint to convert.
 */
import { createDecipheriv, createPrivateKey, pbkdf2Sync, webcrypto, type KeyObject } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AuthenticatedSafe,
  CertBag,
  PFX,
  SafeContents,
  id_certBag,
  id_keyBag,
  id_pkcs8ShroudedKeyBag,
  id_x509Certificate,
  type MacData,
} from "@peculiar/asn1-pfx";
import * as asn1js from "asn1js";
import {
  AlgorithmIdentifier,
  CryptoEngine,
  EncryptedData,
  PBES2Params,
  PBKDF2Params,
  type CryptoEngineParameters,
} from "pkijs";
import { RotatorError } from "../errors.js";

export interface CertificateInput {
  privateKey: KeyObject;
  /** Every certificate in the file, in file order (DER). */
  certificates: Buffer[];
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

const invalid = (message: string, hint: string, cause?: unknown): RotatorError =>
  new RotatorError("CERT_INPUT_INVALID", message, hint, cause === undefined ? {} : { cause });

/** The key-derivation caps of a PFX (defaults MAX_PFX_ITERATIONS and MAX_PFX_TOTAL_ITERATIONS). */
export interface PfxLimits {
  maxIterations?: number;
  maxTotalIterations?: number;
}

export async function readCertificateInput(
  bytes: Buffer,
  password?: string,
  limits: PfxLimits = {},
): Promise<CertificateInput> {
  const text = bytes.toString("latin1");
  return text.includes("-----BEGIN ") ? fromPem(text, password) : fromPfx(bytes, password, limits);
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
// PKCS#12
// ---------------------------------------------------------------------------------------------

/**
 * The most iterations any key derivation in a PFX may ask for. OpenSSL 3 writes 2048 (PKCS12_DEFAULT_ITER),
 * Windows 2000, and password-hashing guidance tops out near 600,000 for PBKDF2-SHA256; a count above this
 * bound is refused before anything is derived.
 */
export const MAX_PFX_ITERATIONS = 1_000_000;

/**
 * The most iterations all the key derivations of one PFX may ask for together. A file as OpenSSL or Windows
 * exports it runs three (the MAC, the certificates' encryption, the key's): about 6,000 iterations with
 * their defaults, 1.8 million with three at 600,000. Twice the per-derivation cap admits those and stops a
 * file made of many encrypted parts.
 */
export const MAX_PFX_TOTAL_ITERATIONS = 2 * MAX_PFX_ITERATIONS;

const OID = {
  data: "1.2.840.113549.1.7.1",
  encryptedData: "1.2.840.113549.1.7.6",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
} as const;

/** HMAC digests of the PKCS#12 MAC, as PKI.js names them (RFC 7292 appendix B.2 allows any hash). */
const MAC_HASH: Record<string, string> = {
  "1.3.14.3.2.26": "SHA-1",
  "2.16.840.1.101.3.4.2.1": "SHA-256",
  "2.16.840.1.101.3.4.2.2": "SHA-384",
  "2.16.840.1.101.3.4.2.3": "SHA-512",
};

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

const notPfx = (cause?: unknown) =>
  invalid(
    "the file is neither PEM nor a PFX",
    "Pass a PEM file (key and certificate) or a PFX/PKCS#12 file.",
    cause,
  );

/** Parse with a library schema; any decoding failure is "not a PFX". */
function decode<T>(run: () => T): T {
  try {
    return run();
  } catch (e) {
    throw notPfx(e);
  }
}

/**
 * The value of an OCTET STRING, primitive or constructed (BER allows chunks, and some tools write them;
 * asn1js concatenates them, the schema's OctetString would not).
 */
function octets(raw: ArrayBuffer): ArrayBuffer {
  const { result, offset } = asn1js.fromBER(raw);
  if (offset === -1 || !(result instanceof asn1js.OctetString)) throw notPfx();
  return result.getValue();
}

/**
 * The key-derivation work one PFX may cost: each derivation is checked against the per-derivation cap and
 * against what is left of the file's total, before it runs.
 */
class WorkBudget {
  private spent = 0;
  private readonly max: number;
  private readonly total: number;

  constructor(limits: PfxLimits) {
    this.max = limits.maxIterations ?? MAX_PFX_ITERATIONS;
    this.total = limits.maxTotalIterations ?? MAX_PFX_TOTAL_ITERATIONS;
  }

  spend(count: number, what: string): void {
    if (!Number.isSafeInteger(count) || count < 1 || count > this.max)
      throw new RotatorError(
        "PFX_ITERATIONS_EXCESSIVE",
        `the PFX's ${what} asks for ${Number.isSafeInteger(count) ? count : "an unrepresentable number of"} iterations; at most ${this.max} are accepted`,
        "Re-export it with OpenSSL defaults (openssl pkcs12 -export uses 2048), or convert it to PEM.",
        { details: { what, max: this.max } },
      );
    if (this.spent + count > this.total)
      throw new RotatorError(
        "PFX_WORK_EXCESSIVE",
        `the PFX's key derivations ask for more than ${this.total} iterations in total (${this.spent} already, ${count} more for its ${what})`,
        "A PFX as OpenSSL or Windows exports it needs three derivations; re-export it (openssl pkcs12 -export), or convert it to PEM.",
        { details: { what, spent: this.spent, max: this.total } },
      );
    this.spent += count;
  }
}

// PKI.js types its engine with the DOM `Crypto`; Node's webcrypto implements it (https://nodejs.org/api/webcrypto.html).
const engine = new CryptoEngine({
  name: "node",
  crypto: webcrypto as unknown as CryptoEngineParameters["crypto"],
});

/**
 * Verify the password-integrity MAC over the AuthenticatedSafe's bytes (RFC 7292 section 5.1). Without a
 * password the empty one is tried, as OpenSSL does; returns the password that verified.
 */
async function verifyMac(
  mac: MacData | undefined,
  content: ArrayBuffer,
  budget: WorkBudget,
  password?: string,
): Promise<string> {
  // The schema fills an absent (OPTIONAL) macData with an empty default.
  if (!mac || mac.mac.digestAlgorithm.algorithm === "")
    throw invalid(
      "the PFX has no integrity MAC, so it cannot be checked",
      "Export it again without -nomac (openssl pkcs12 -export), or convert it to PEM.",
    );
  const hashAlgorithm = MAC_HASH[mac.mac.digestAlgorithm.algorithm];
  if (!hashAlgorithm)
    throw invalid(
      `the PFX's MAC uses an unsupported algorithm (${mac.mac.digestAlgorithm.algorithm})`,
      "Re-export it with OpenSSL defaults (HMAC-SHA256), or convert it to PEM.",
    );
  budget.spend(mac.iterations, "MAC key derivation");
  const verifies = (p: string) =>
    engine.verifyDataStampedWithPassword({
      password: new TextEncoder().encode(p).buffer,
      hashAlgorithm,
      salt: mac.macSalt.buffer,
      iterationCount: mac.iterations,
      contentToVerify: content,
      signatureToVerify: mac.mac.digest.buffer,
    });
  if (password === undefined) {
    if (await verifies("")) return "";
    throw invalid("the PFX is password-protected", "Pass its password with --password.");
  }
  if (!(await verifies(password)))
    throw new RotatorError(
      "PFX_MAC_INVALID",
      "the PFX's integrity check (MAC) failed: the password is wrong, or the file was changed",
      "Check --password. If it is right, the file is damaged or was tampered with: export it again.",
    );
  return password;
}

/** Decrypt PBES2 (PBKDF2 + AES-CBC) content, RFC 8018 sections 6.2 and A.2. */
function pbes2Decrypt(
  algorithm: AlgorithmIdentifier,
  data: ArrayBuffer,
  password: string,
  budget: WorkBudget,
): Buffer {
  if (algorithm.algorithmId !== OID.pbes2)
    throw invalid(
      "the PFX's certificates are encrypted with a legacy algorithm (RC2 or 3DES)",
      "Re-export it with OpenSSL 3 defaults (openssl pkcs12 -export, AES-256), or convert it to PEM (openssl pkcs12 -nodes).",
    );
  const params = decode(() => new PBES2Params({ schema: algorithm.algorithmParams }));
  if (params.keyDerivationFunc.algorithmId !== OID.pbkdf2)
    throw invalid(
      "the PFX uses an unsupported key derivation",
      "Re-export it with OpenSSL 3 defaults, or convert it to PEM.",
    );
  const kdf = decode(() => new PBKDF2Params({ schema: params.keyDerivationFunc.algorithmParams }));
  budget.spend(kdf.iterationCount, "PBKDF2 key derivation");
  const hash = kdf.prf ? PRF[kdf.prf.algorithmId] : "sha1";
  const aes = AES_CBC[params.encryptionScheme.algorithmId];
  const iv: unknown = params.encryptionScheme.algorithmParams;
  if (!hash || !aes || !(iv instanceof asn1js.OctetString) || !(kdf.salt instanceof asn1js.OctetString))
    throw invalid(
      "the PFX uses an unsupported cipher",
      "Re-export it with OpenSSL 3 defaults (AES-CBC), or convert it to PEM.",
    );
  const key = pbkdf2Sync(
    Buffer.from(password, "utf8"),
    Buffer.from(kdf.salt.getValue()),
    kdf.iterationCount,
    aes.keyLength,
    hash,
  );
  try {
    const d = createDecipheriv(aes.cipher, key, Buffer.from(iv.getValue()));
    return Buffer.concat([d.update(Buffer.from(data)), d.final()]);
  } catch (e) {
    throw invalid("the PFX cannot be decrypted with the given password", "Check --password.", e);
  }
}

/**
 * Iterations of a shrouded key bag's encryption, before Node derives anything. PBES2 keeps them in its
 * PBKDF2 parameters; PBES1 (RFC 8018 A.3) and the PKCS#12 PBEs (RFC 7292 appendix C) in a
 * SEQUENCE { salt OCTET STRING, iterations INTEGER }.
 */
function shroudedKeyIterations(der: ArrayBuffer): number {
  const info = decode(() => asn1js.fromBER(der).result);
  const [algorithm] = info instanceof asn1js.Sequence ? info.valueBlock.value : [];
  const alg = decode(() => new AlgorithmIdentifier({ schema: algorithm }));
  if (alg.algorithmId === OID.pbes2) {
    const params = decode(() => new PBES2Params({ schema: alg.algorithmParams }));
    return decode(() => new PBKDF2Params({ schema: params.keyDerivationFunc.algorithmParams }))
      .iterationCount;
  }
  const params: unknown = alg.algorithmParams;
  const count = params instanceof asn1js.Sequence ? params.valueBlock.value[1] : undefined;
  if (!(count instanceof asn1js.Integer)) throw notPfx();
  return count.valueBlock.valueDec;
}

async function fromPfx(
  bytes: Buffer,
  password: string | undefined,
  limits: PfxLimits,
): Promise<CertificateInput> {
  const pfx = decode(() => AsnConvert.parse(bytes, PFX));
  if (pfx.authSafe.contentType !== OID.data)
    throw invalid(
      "the PFX is not password-integrity protected data",
      "Only password-based PFX files are supported; convert it to PEM.",
    );
  const authSafeBytes = octets(pfx.authSafe.content);
  const budget = new WorkBudget(limits);
  const pass = await verifyMac(pfx.macData as MacData | undefined, authSafeBytes, budget, password);
  const certificates: Buffer[] = [];
  let privateKey: KeyObject | undefined;
  for (const info of decode(() => AsnConvert.parse(authSafeBytes, AuthenticatedSafe))) {
    let safeContents: ArrayBuffer | Buffer;
    if (info.contentType === OID.data) safeContents = octets(info.content);
    else if (info.contentType === OID.encryptedData) {
      const eci = decode(() => EncryptedData.fromBER(info.content).encryptedContentInfo);
      const data = decode(() => eci.getEncryptedContent());
      safeContents = pbes2Decrypt(eci.contentEncryptionAlgorithm, data, pass, budget);
    } else throw invalid("the PFX holds content of an unsupported type", "Convert it to PEM.");
    for (const bag of decode(() => AsnConvert.parse(safeContents, SafeContents))) {
      if (bag.bagId === id_certBag) {
        const cert = decode(() => AsnConvert.parse(bag.bagValue, CertBag));
        if (cert.certId === id_x509Certificate) certificates.push(Buffer.from(octets(cert.certValue)));
      } else if ((bag.bagId === id_keyBag || bag.bagId === id_pkcs8ShroudedKeyBag) && !privateKey) {
        const shrouded = bag.bagId === id_pkcs8ShroudedKeyBag;
        if (shrouded) budget.spend(shroudedKeyIterations(bag.bagValue), "key encryption");
        privateKey = decryptKey(
          {
            key: Buffer.from(bag.bagValue),
            format: "der",
            type: "pkcs8",
            ...(shrouded ? { passphrase: pass } : {}),
          },
          shrouded,
          pass,
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
