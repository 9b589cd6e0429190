/**
 * In-memory CertificateStore with Key Vault's semantics as the engine relies on them:
 * - certificate creation is an operation that continues server-side; a version without an x509
 *   thumbprint is visible until it completes (here: when awaitPendingCreate is called, and no sooner
 *   than `createLatencyMs` after the create on the fake clock; a caller's `maxWaitMs` shorter than what
 *   is left answers KV_CREATE_PENDING, as the Key Vault adapter does);
 * - `updateCertificateProperties` replaces the tag map when tags are given and leaves it otherwise;
 *   at most 15 tags, names ≤ 512 and values ≤ 256 characters
 *   (https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates);
 * - a disabled version's secret cannot be read and its key cannot sign (403 Forbidden);
 * - versions are listed newest first; validityInMonths counts calendar months.
 * Not reproduced: throttling, soft-delete, certificate policy updates.
 */
import { X509Certificate, createHash, createPrivateKey, randomBytes } from "node:crypto";
import { localSigner, type JwsSigner } from "../../../src/crypto/jws.js";
import type { SigningAlg } from "../../../src/crypto/keymaterial.js";
import { RotatorError } from "../../../src/errors.js";
import type {
  CertificateListing,
  CertificatePolicyInput,
  CertificatePolicyView,
  CertificateSummary,
  CertificateStore,
  CertificateVersion,
  ImportMaterial,
  PlainSecrets,
  SecretInfo,
} from "../../../src/ports/engine.js";
import { issueSelfSigned, type TestCertificate } from "../certs.js";
import type { FakeClock } from "../fake-clock.js";
import type { Calls } from "./calls.js";

interface StoredVersion {
  version: string;
  seq: number;
  enabled: boolean;
  createdOn: Date;
  tags: Record<string, string>;
  policy: CertificatePolicyInput;
  cert?: TestCertificate;
}

const forbidden = (what: string): RotatorError =>
  new RotatorError(
    "KV_FORBIDDEN",
    `Operation ${what} is not allowed on a disabled version`,
    "Enable the version.",
    { status: 403 },
  );
const notFound = (what: string): RotatorError =>
  new RotatorError("KV_NOT_FOUND", `${what} not found`, "Check the name and version.", { status: 404 });

function checkTags(tags: Record<string, string>): void {
  const entries = Object.entries(tags);
  if (entries.length > 15 || entries.some(([k, v]) => k.length > 512 || v.length > 256))
    throw new RotatorError("KV_BAD_PARAMETER", "tags exceed Key Vault's limits", "At most 15 tags.", {
      status: 400,
    });
}

function addMonths(d: Date, months: number): Date {
  const out = new Date(d);
  out.setUTCMonth(out.getUTCMonth() + months);
  return out;
}

interface PlainSecret {
  value: string;
  contentType: string;
  enabled: boolean;
}

/** The vault of the in-memory store's own secrets (`store.secrets`). */
export const MEMORY_VAULT_URL = "https://memory.vault.azure.net";

export class MemoryCertificateStore implements CertificateStore {
  private readonly certs = new Map<string, StoredVersion[]>();
  private seq = 0;
  /** How long Key Vault takes to issue a certificate (fake clock). */
  createLatencyMs = 0;
  /** Plain secrets (vault-reference mode): latest version only; GET of a disabled one is refused. */
  readonly plain = new Map<string, PlainSecret>();
  readonly secrets: PlainSecrets = this.plainSecrets(this.plain, "store.secrets", MEMORY_VAULT_URL);
  /** Other vaults' plain secrets (`vaultReference.keyVaultUrl`), by URL. */
  readonly plainAt = new Map<string, Map<string, PlainSecret>>();
  private readonly secretsByUrl = new Map<string, PlainSecrets>();

  secretsAt(vaultUrl: string): PlainSecrets {
    let s = this.secretsByUrl.get(vaultUrl);
    if (!s) {
      const map = new Map<string, PlainSecret>();
      this.plainAt.set(vaultUrl, map);
      this.secretsByUrl.set(vaultUrl, (s = this.plainSecrets(map, `store.secretsAt[${vaultUrl}]`, vaultUrl)));
    }
    return s;
  }

  private plainSecrets(map: Map<string, PlainSecret>, op: string, vaultUrl: string): PlainSecrets {
    return {
      vaultUrl,
      set: (name, value, contentType) =>
        this.calls.run(`${op}.set`, true, () => {
          map.set(name, { value, contentType, enabled: true });
        }),
      get: (name) =>
        this.calls.run(`${op}.get`, false, () => {
          const s = map.get(name);
          if (!s) throw notFound(`secret ${name}`);
          if (!s.enabled)
            throw new RotatorError("KV_VERSION_DISABLED", "the version is disabled", "Enable it.", {
              status: 403,
            });
          return { value: s.value, contentType: s.contentType };
        }),
      disable: (name) =>
        this.calls.run(`${op}.disable`, true, () => {
          const s = map.get(name);
          if (!s) return "absent" as const;
          s.enabled = false;
          return "disabled" as const;
        }),
    };
  }

  constructor(
    private readonly calls: Calls,
    private readonly clock: FakeClock,
  ) {}

  async createVersion(
    name: string,
    policy: CertificatePolicyInput,
    tags: Record<string, string>,
    wait: { maxWaitMs?: number } = {},
  ): Promise<CertificateVersion> {
    const v = await this.calls.run("store.createVersion", true, () => {
      checkTags(tags);
      const created: StoredVersion = {
        version: randomBytes(16).toString("hex"),
        seq: ++this.seq,
        enabled: true,
        createdOn: this.clock.now(),
        tags: { ...tags },
        policy,
      };
      this.certs.set(name, [...(this.certs.get(name) ?? []), created]);
      return created;
    });
    await this.untilIssued(v, wait.maxWaitMs);
    return view(v);
  }

  awaitPendingCreate(
    name: string,
    wait: { maxWaitMs?: number } = {},
  ): Promise<CertificateVersion | undefined> {
    return this.calls.run("store.awaitPendingCreate", false, async () => {
      const pending = (this.certs.get(name) ?? []).find((v) => !v.cert);
      if (!pending) return undefined;
      await this.untilIssued(pending, wait.maxWaitMs);
      return view(pending);
    });
  }

  private async untilIssued(v: StoredVersion, maxWaitMs = Number.POSITIVE_INFINITY): Promise<void> {
    const left = v.createdOn.getTime() + this.createLatencyMs - this.clock.now().getTime();
    if (left > maxWaitMs) {
      await this.clock.sleep(maxWaitMs);
      throw new RotatorError("KV_CREATE_PENDING", "creation still in progress", "Continue later.", {
        retryable: true,
      });
    }
    if (left > 0) await this.clock.sleep(left);
    await this.complete(v);
  }

  listVersions(name: string): Promise<CertificateVersion[]> {
    return this.calls.run("store.listVersions", false, () =>
      [...(this.certs.get(name) ?? [])].sort((a, b) => b.seq - a.seq).map(view),
    );
  }

  /** Key Vault's certificate listing: each certificate with the tags and expiry of its newest version. */
  listCertificates(): Promise<CertificateListing> {
    return this.calls.run("store.listCertificates", false, () => {
      const certificates: CertificateSummary[] = [...this.certs].flatMap(([name, versions]) => {
        const latest = [...versions].sort((a, b) => b.seq - a.seq)[0];
        if (!latest) return [];
        return [
          {
            name,
            enabled: latest.enabled,
            tags: { ...latest.tags },
            ...(latest.cert ? { x5t: latest.cert.x5t, expiresOn: latest.cert.notAfter } : {}),
          },
        ];
      });
      // One call per page of 25, as the Key Vault adapter counts them.
      return { certificates, calls: Math.max(1, Math.ceil(certificates.length / 25)) };
    });
  }

  getPolicy(name: string): Promise<CertificatePolicyView | undefined> {
    return this.calls.run("store.getPolicy", false, () => {
      const latest = this.certs.get(name)?.at(-1);
      return (
        latest && {
          exportable: true,
          keyType: "RSA",
          keySize: latest.policy.keySize,
          contentType: "application/x-pem-file",
        }
      );
    });
  }

  /** Import: the PEM's first private key and first certificate become a completed version. */
  importVersion(
    name: string,
    material: ImportMaterial,
    tags: Record<string, string>,
  ): Promise<CertificateVersion> {
    return this.calls.run("store.importVersion", true, () => {
      checkTags(tags);
      const keyPem = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/.exec(
        material.pem,
      )?.[0];
      const certPem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(material.pem)?.[0];
      if (!keyPem || !certPem)
        throw new RotatorError(
          "KV_BAD_REQUEST",
          "the import holds no key or no certificate",
          "Send key and certificate.",
          { status: 400 },
        );
      const x = new X509Certificate(certPem);
      const privateKey = createPrivateKey(keyPem);
      const pkcs8 = privateKey.export({ format: "pem", type: "pkcs8" });
      const cert: TestCertificate = {
        der: x.raw,
        certPem: `${certPem}\n`,
        pemBundle: `${pkcs8}${certPem}\n`,
        privateKey,
        x5t: createHash("sha1").update(x.raw).digest("base64url"),
        x5tS256: createHash("sha256").update(x.raw).digest("base64url"),
        notBefore: new Date(x.validFrom),
        notAfter: new Date(x.validTo),
      };
      const imported: StoredVersion = {
        version: randomBytes(16).toString("hex"),
        seq: ++this.seq,
        enabled: true,
        createdOn: this.clock.now(),
        tags: { ...tags },
        policy: { subject: x.subject, validityMonths: 12, keySize: 2048 },
        cert,
      };
      this.certs.set(name, [...(this.certs.get(name) ?? []), imported]);
      return view(imported);
    });
  }

  secretInfo(name: string, version: string): Promise<SecretInfo> {
    return this.calls.run("store.secretInfo", false, () => {
      if (!this.find(name, version).enabled) throw forbidden("get");
      this.issued(name, version);
      return { contentType: "application/x-pem-file", hasPrivateKey: true };
    });
  }

  getCertificateDer(name: string, version: string): Promise<Uint8Array> {
    return this.calls.run("store.getCertificateDer", false, () => this.issued(name, version).der);
  }

  readPem(name: string, version: string): Promise<string> {
    return this.calls.run("store.readPem", false, () => {
      const v = this.find(name, version);
      if (!v.enabled) throw forbidden("get");
      return this.issued(name, version).pemBundle;
    });
  }

  updateVersion(
    name: string,
    version: string,
    update: { tags?: Record<string, string>; enabled?: boolean },
  ): Promise<void> {
    return this.calls.run("store.updateVersion", true, () => {
      const v = this.find(name, version);
      if (update.tags) {
        checkTags(update.tags);
        v.tags = { ...update.tags };
      }
      if (update.enabled !== undefined) v.enabled = update.enabled;
    });
  }

  signer(name: string, version: string, thumbprints: { x5t: string; x5tS256?: string }): JwsSigner {
    return {
      ...thumbprints,
      sign: (input: Uint8Array, alg: SigningAlg) =>
        this.calls.run("store.sign", false, () => {
          const v = this.find(name, version);
          if (!v.enabled) throw forbidden("sign");
          return localSigner(this.issued(name, version).privateKey, thumbprints.x5t).sign(input, alg);
        }),
    };
  }

  // ---- test helpers (not logged) ----

  versions(name: string): StoredVersion[] {
    return [...(this.certs.get(name) ?? [])].sort((a, b) => a.seq - b.seq);
  }

  setTags(name: string, version: string, tags: Record<string, string>): void {
    this.find(name, version).tags = { ...tags };
  }

  /** The version's private key as a JWK (public members + d...), to simulate a target holding it. */
  privateJwk(name: string, version: string): Record<string, string> {
    const cert = this.issued(name, version);
    const jwk = createPrivateKey(cert.pemBundle).export({ format: "jwk" }) as Record<string, string>;
    return { ...jwk, kid: cert.x5t, x5t: cert.x5t, alg: "PS256", use: "sig" };
  }

  private async complete(v: StoredVersion): Promise<void> {
    if (v.cert) return;
    const notBefore = this.clock.now();
    v.cert = await issueSelfSigned({
      subject: v.policy.subject,
      notBefore,
      notAfter: addMonths(notBefore, v.policy.validityMonths),
      keySize: v.policy.keySize,
    });
  }

  private find(name: string, version: string): StoredVersion {
    const v = this.certs.get(name)?.find((x) => x.version === version);
    if (!v) throw notFound(`certificate ${name}/${version}`);
    return v;
  }

  private issued(name: string, version: string): TestCertificate {
    const cert = this.find(name, version).cert;
    if (!cert) throw notFound(`issued certificate ${name}/${version}`);
    return cert;
  }
}

function view(v: StoredVersion): CertificateVersion {
  return {
    version: v.version,
    enabled: v.enabled,
    createdOn: v.createdOn,
    tags: { ...v.tags },
    ...(v.cert
      ? { x5t: v.cert.x5t, x5tS256: v.cert.x5tS256, notBefore: v.cert.notBefore, expiresOn: v.cert.notAfter }
      : {}),
  };
}
