/**
 * Certificate policies and self-signed issuance for the Key Vault fake.
 *
 * The policy is validated and completed with Key Vault's documented defaults
 * (https://learn.microsoft.com/rest/api/keyvault/certificates/create-certificate/create-certificate,
 *  https://learn.microsoft.com/azure/key-vault/certificates/about-certificates), then a real key pair,
 * PKCS#10 request and X.509 certificate are generated with WebCrypto and @peculiar/x509.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { KeyObject, webcrypto } from "node:crypto";
import { notePrivateJwk } from "../common/capture.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** A policy as it travels on the wire (snake_case members of the REST API). */
export interface WirePolicy {
  key_props?: { exportable?: boolean; kty?: string; key_size?: number; reuse_key?: boolean; crv?: string };
  secret_props?: { contentType?: string };
  x509_props?: {
    subject?: string;
    ekus?: string[];
    sans?: {
      emails?: string[];
      dns_names?: string[];
      upns?: string[];
      uris?: string[];
      ipAddresses?: string[];
    };
    key_usage?: string[];
    validity_months?: number;
  };
  lifetime_actions?: Array<{
    trigger?: { lifetime_percentage?: number; days_before_expiry?: number };
    action?: { action_type?: string };
  }>;
  issuer?: { name?: string; cty?: string; cert_transparency?: boolean };
  attributes?: { enabled?: boolean };
}

export interface Policy {
  kty: "RSA" | "EC";
  keySize?: number;
  crv?: "P-256" | "P-384" | "P-521";
  exportable: boolean;
  reuseKey: boolean;
  contentType: string;
  subject: string;
  sans: NonNullable<NonNullable<WirePolicy["x509_props"]>["sans"]>;
  ekus: string[];
  keyUsage: string[];
  validityMonths: number;
  lifetimeActions: NonNullable<WirePolicy["lifetime_actions"]>;
  issuerName: string;
  enabled: boolean;
}

export class PolicyError extends Error {}

/** X.509 key usage flags accepted in `key_usage` (about-certificates, "Mapping X.509 usage to key operations"). */
const KEY_USAGE_FLAGS: Record<string, x509.KeyUsageFlags> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  nonRepudiation: x509.KeyUsageFlags.nonRepudiation,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  dataEncipherment: x509.KeyUsageFlags.dataEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
  encipherOnly: x509.KeyUsageFlags.encipherOnly,
  decipherOnly: x509.KeyUsageFlags.decipherOnly,
};

/** Key operations of the certificate's addressable key, per the same table in about-certificates. */
const KEY_OPS_BY_USAGE: Record<string, string[]> = {
  dataEncipherment: ["encrypt", "decrypt"],
  decipherOnly: ["decrypt"],
  digitalSignature: ["sign", "verify"],
  encipherOnly: ["encrypt"],
  keyCertSign: ["sign", "verify"],
  keyEncipherment: ["wrapKey", "unwrapKey"],
  nonRepudiation: ["sign", "verify"],
  cRLSign: ["sign", "verify"],
};

export function keyOperations(policy: Policy): string[] {
  return [...new Set(policy.keyUsage.flatMap((u) => KEY_OPS_BY_USAGE[u] ?? []))];
}

const RSA_SIZES = [2048, 3072, 4096];
const CURVES = ["P-256", "P-384", "P-521"] as const;

/**
 * Validate a create request's policy and fill the defaults Key Vault applies. When the certificate already
 * exists and the request carries no policy, the stored one is reused ("After a policy has been established,
 * it isn't required with successive create operations", about-certificates).
 */
export function resolvePolicy(wire: WirePolicy | undefined, existing: Policy | undefined): Policy {
  if (!wire) {
    if (existing) return existing;
    throw new PolicyError("Property policy is required for a new certificate.");
  }
  const kp = wire.key_props ?? {};
  const xp = wire.x509_props ?? {};
  const issuerName = wire.issuer?.name ?? "Unknown";
  if (issuerName.toLowerCase() !== "self")
    throw new PolicyError(
      `Issuer '${issuerName}' is not reproduced by the local Key Vault fake: only 'Self' is.`,
    );
  const kty = kp.kty ?? "RSA";
  if (kty !== "RSA" && kty !== "EC")
    throw new PolicyError(
      `Key type '${kty}' is not supported (the fake reproduces RSA and EC software keys).`,
    );
  const keySize = kty === "RSA" ? (kp.key_size ?? 2048) : undefined;
  if (keySize !== undefined && !RSA_SIZES.includes(keySize))
    throw new PolicyError(`Invalid key size ${keySize} for key type RSA.`);
  const crv = kty === "EC" ? (kp.crv ?? "P-256") : undefined;
  if (crv !== undefined && !(CURVES as readonly string[]).includes(crv))
    throw new PolicyError(`Invalid curve name '${crv}'.`);
  const contentType = wire.secret_props?.contentType ?? "application/x-pkcs12";
  if (contentType !== "application/x-pem-file")
    throw new PolicyError(
      `Content type '${contentType}' is not reproduced by the local Key Vault fake: use application/x-pem-file.`,
    );
  if (!xp.subject) throw new PolicyError("Subject is required for a self-signed certificate.");
  const keyUsage = xp.key_usage ?? ["digitalSignature", "keyEncipherment"];
  for (const u of keyUsage) if (!(u in KEY_USAGE_FLAGS)) throw new PolicyError(`Invalid key usage '${u}'.`);
  const validityMonths = xp.validity_months ?? 12;
  if (!Number.isInteger(validityMonths) || validityMonths < 1 || validityMonths > 1200)
    throw new PolicyError(`Invalid validity_months ${String(validityMonths)}.`);
  const lifetimeActions = wire.lifetime_actions ?? [];
  for (const a of lifetimeActions) {
    const t = a.action?.action_type;
    if (t !== "EmailContacts" && t !== "AutoRenew")
      throw new PolicyError(`Invalid lifetime action '${String(t)}'.`);
  }
  return {
    kty,
    ...(keySize === undefined ? {} : { keySize }),
    ...(crv === undefined ? {} : { crv: crv as Policy["crv"] }),
    exportable: kp.exportable ?? true,
    reuseKey: kp.reuse_key ?? false,
    contentType,
    subject: xp.subject,
    sans: xp.sans ?? {},
    ekus: xp.ekus ?? [],
    keyUsage,
    validityMonths,
    lifetimeActions,
    issuerName: "Self",
    enabled: wire.attributes?.enabled ?? true,
  };
}

export function policyToWire(
  policy: Policy,
  id: string,
  created: number,
  updated: number,
): Record<string, unknown> {
  return {
    id,
    key_props: {
      exportable: policy.exportable,
      kty: policy.kty,
      ...(policy.keySize === undefined ? {} : { key_size: policy.keySize }),
      ...(policy.crv === undefined ? {} : { crv: policy.crv }),
      reuse_key: policy.reuseKey,
    },
    secret_props: { contentType: policy.contentType },
    x509_props: {
      subject: policy.subject,
      ...(policy.ekus.length ? { ekus: policy.ekus } : {}),
      sans: policy.sans,
      key_usage: policy.keyUsage,
      validity_months: policy.validityMonths,
    },
    lifetime_actions: policy.lifetimeActions,
    issuer: { name: policy.issuerName },
    attributes: { enabled: policy.enabled, created, updated },
  };
}

export interface KeyPair {
  crypto: webcrypto.CryptoKeyPair;
  privateKey: KeyObject;
}

export interface Issued {
  keys: KeyPair;
  csrDer: Buffer;
  certDer: Buffer;
  notBefore: Date;
  notAfter: Date;
}

function algorithms(policy: Policy): {
  gen: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams;
  sign: webcrypto.Algorithm | webcrypto.EcdsaParams;
} {
  if (policy.kty === "RSA") {
    const gen = {
      name: "RSASSA-PKCS1-v1_5",
      hash: "SHA-256",
      publicExponent: new Uint8Array([1, 0, 1]),
      modulusLength: policy.keySize ?? 2048,
    };
    return { gen, sign: gen };
  }
  const crv = policy.crv ?? "P-256";
  const hash = crv === "P-256" ? "SHA-256" : crv === "P-384" ? "SHA-384" : "SHA-512";
  return { gen: { name: "ECDSA", namedCurve: crv }, sign: { name: "ECDSA", hash } as webcrypto.EcdsaParams };
}

function names(sans: Policy["sans"]): x509.JsonGeneralName[] {
  return [
    ...(sans.dns_names ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(sans.emails ?? []).map((value) => ({ type: "email" as const, value })),
    ...(sans.upns ?? []).map((value) => ({ type: "upn" as const, value })),
    ...(sans.uris ?? []).map((value) => ({ type: "url" as const, value })),
    ...(sans.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
}

/** UTC month arithmetic for `validity_months`. */
function addMonths(d: Date, months: number): Date {
  const r = new Date(d.getTime());
  r.setUTCMonth(r.getUTCMonth() + months);
  return r;
}

/**
 * Generate the key (or reuse the previous version's when `reuse_key` is set), the CSR that Key Vault shows
 * on the pending operation, and the self-signed certificate.
 */
export async function issueSelfSigned(
  policy: Policy,
  now: Date,
  previous: KeyPair | undefined,
): Promise<Issued> {
  const alg = algorithms(policy);
  const crypto =
    policy.reuseKey && previous
      ? previous.crypto
      : ((await webcrypto.subtle.generateKey(alg.gen, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair);
  let name: x509.Name;
  try {
    name = new x509.Name(policy.subject);
  } catch {
    throw new PolicyError(`Invalid subject '${policy.subject}'.`);
  }
  const usage = policy.keyUsage.reduce((flags, u) => flags | (KEY_USAGE_FLAGS[u] ?? 0), 0);
  const san = names(policy.sans);
  const extensions: x509.Extension[] = [
    new x509.KeyUsagesExtension(usage, true),
    ...(policy.ekus.length ? [new x509.ExtendedKeyUsageExtension(policy.ekus, false)] : []),
    ...(san.length ? [new x509.SubjectAlternativeNameExtension(san, false)] : []),
    new x509.BasicConstraintsExtension(false, undefined, false),
    await x509.SubjectKeyIdentifierExtension.create(crypto.publicKey),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name,
    keys: crypto,
    signingAlgorithm: alg.sign,
    extensions,
  });
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const notAfter = addMonths(notBefore, policy.validityMonths);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
      .toString("hex")
      .replace(/^[89a-f]/, "1"),
    name,
    notBefore,
    notAfter,
    signingAlgorithm: alg.sign,
    keys: crypto,
    extensions,
  });
  const privateKey = KeyObject.from(crypto.privateKey);
  if (privateKey.asymmetricKeyType === "rsa") notePrivateJwk(privateKey.export({ format: "jwk" }));
  return {
    keys: { crypto, privateKey },
    csrDer: Buffer.from(csr.rawData),
    certDer: Buffer.from(cert.rawData),
    notBefore,
    notAfter,
  };
}
