/**
 * CertificateStore on Azure Key Vault, through the Azure SDK clients (CertificateClient, SecretClient,
 * KeyClient/CryptographyClient).
 *
 * Key Vault behaviour this relies on:
 * - A certificate version is created asynchronously: create answers with a pending operation that is
 *   polled until completed, and a create while one is inProgress is refused with 409
 *   (https://learn.microsoft.com/azure/key-vault/certificates/create-certificate-scenarios).
 * - Creating a version also creates a key and a secret of the same name and version; the secret holds the
 *   PEM (PKCS#8 key + certificate) only when the policy is exportable
 *   (https://learn.microsoft.com/azure/key-vault/certificates/about-certificates).
 * - Tags and `enabled` are per version (updateCertificateProperties).
 */
import {
  CertificateClient,
  type CertificatePolicy,
  type ImportCertificateOptions,
  type CertificateProperties,
  type KeyVaultCertificateWithPolicy,
} from "@azure/keyvault-certificates";
import { SecretClient } from "@azure/keyvault-secrets";
import { KeyClient, type CryptographyClient } from "@azure/keyvault-keys";
import type { TokenCredential } from "@azure/identity";
import { createHash } from "node:crypto";
import { systemClock } from "../../clock.js";
import type {
  Clock,
  CertificateListing,
  CertificateSummary,
  CertificatePolicyInput,
  CertificatePolicyView,
  CertificateStore,
  CertificateVersion,
  ImportMaterial,
  PlainSecrets,
  SecretInfo,
} from "../../ports/engine.js";
import { RotatorError } from "../../errors.js";
import { backoffDelay, defaultRetryPolicy, type RetryPolicy } from "../../http/retry.js";
import type { JwsSigner } from "../../crypto/jws.js";
import { thumbprints } from "../../crypto/keymaterial.js";
import { registerSecret } from "../../log/redact.js";
import { kvCall, type KeyVaultCall } from "./errors.js";
import { keyVaultClientOptions } from "./pipeline.js";

export interface KeyVaultStoreOptions {
  vaultUrl: string;
  credential: TokenCredential;
  retry?: Partial<RetryPolicy>;
  clock?: Clock;
  /**
   * Wait between polls of a pending creation. Default 1 s: half the SDK poller's 2 s, so a run notices a
   * completed creation sooner; at most 20 creations are pending per 10 s (the RSA create limit), so
   * polling costs at most 200 of the vault's 4,000 other operations per 10 s.
   */
  pollIntervalMs?: number;
  /** Stop waiting for a creation after this long; it stays pending in Key Vault and a later run resumes it. */
  createTimeoutMs?: number;
}

const PEM_CONTENT_TYPE = "application/x-pem-file";

/**
 * Key Vault e-mails the vault's certificate contacts when a version is this close to expiry: a backstop
 * for a service that stopped rotating (it renews `renewBefore`, 30 days by default, ahead). AutoRenew is
 * not used: the service owns rotation (BRIEF, "Creating the certificate").
 */
const EMAIL_DAYS_BEFORE_EXPIRY = 7;

/** The policy of every version the service creates (BRIEF, "Creating the certificate"). */
function rotationPolicy(input: CertificatePolicyInput): CertificatePolicy {
  return {
    issuerName: "Self",
    subject: input.subject,
    validityInMonths: input.validityMonths,
    keyType: "RSA",
    keySize: input.keySize,
    exportable: true,
    reuseKey: false,
    contentType: PEM_CONTENT_TYPE,
    keyUsage: ["digitalSignature"],
    lifetimeActions: [{ action: "EmailContacts", daysBeforeExpiry: EMAIL_DAYS_BEFORE_EXPIRY }],
  };
}

/**
 * Options for importing a PEM certificate with an exportable RSA key stored as PEM.
 *
 * Key Vault needs the content type in the import policy for PEM ("content_type is only required when
 * creating/importing PEM certificates", Azure/azure-sdk-for-python#19030; without a policy the service
 * applies its default, application/x-pkcs12). The SDK uses `policy.contentType` only to decide how to
 * encode the bytes (utils.js `parseCertificateBytes`: PEM text is sent as is), and its request serializer
 * reads the policy from `certificatePolicy` in the generated model's shape
 * (models.js `certificateImportParametersSerializer`), which CertificateClient.importCertificate does not
 * fill from `policy` (@azure/keyvault-certificates 4.10.3, index.js), so both are given: the options are
 * spread into the request parameters.
 */
function importOptions(tags: Record<string, string>): ImportCertificateOptions {
  const certificatePolicy = {
    keyProperties: { exportable: true, keyType: "RSA", reuseKey: false },
    secretProperties: { contentType: PEM_CONTENT_TYPE },
  };
  const options: ImportCertificateOptions & { certificatePolicy: typeof certificatePolicy } = {
    policy: { contentType: PEM_CONTENT_TYPE, exportable: true, keyType: "RSA", reuseKey: false },
    certificatePolicy,
    tags,
    enabled: true,
  };
  return options;
}

function badResponse(call: KeyVaultCall, what: string): RotatorError {
  return new RotatorError(
    "KV_BAD_RESPONSE",
    `Key Vault ${call.action} '${call.name}': ${what}`,
    "The response did not have the shape Key Vault documents; the next run retries.",
    {
      retryable: true,
      details: {
        operation: call.action,
        name: call.name,
        ...(call.version ? { version: call.version } : {}),
      },
    },
  );
}

/** Map the SDK's properties (and the DER when known) to the port's view of a version. */
function toVersion(
  p: CertificateProperties,
  cer: Uint8Array | undefined,
  call: KeyVaultCall,
): CertificateVersion {
  if (!p.version || !p.createdOn)
    throw badResponse(call, "a certificate version without id or creation time");
  const v: CertificateVersion = {
    version: p.version,
    enabled: p.enabled !== false,
    createdOn: p.createdOn,
    tags: { ...(p.tags ?? {}) },
  };
  if (p.x509Thumbprint) v.x5t = Buffer.from(p.x509Thumbprint).toString("base64url");
  if (cer && cer.length > 0) {
    const t = thumbprints(cer);
    if (v.x5t !== undefined && v.x5t !== t.x5t)
      throw badResponse(call, "the x5t does not match the certificate");
    v.x5t = t.x5t;
    v.x5tS256 = t.x5tS256;
  }
  if (p.notBefore) v.notBefore = p.notBefore;
  if (p.expiresOn) v.expiresOn = p.expiresOn;
  return v;
}

const hasTags = (have: Record<string, string>, want: Record<string, string>): boolean =>
  Object.entries(want).every(([k, v]) => have[k] === v);

/** Failures after which a create may or may not have landed in Key Vault. */
const AMBIGUOUS = new Set(["KV_UNAVAILABLE", "KV_THROTTLED", "KV_BAD_RESPONSE", "KV_CONFLICT"]);
/**
 * Of those, the ones the pipeline could not retry because create is not idempotent (timeouts, resets, 5xx
 * after sending), or a conflict with an operation that has since completed. Throttling was already retried.
 */
const RESEND = new Set(["KV_UNAVAILABLE", "KV_BAD_RESPONSE", "KV_CONFLICT"]);

/** A creation still in progress after the caller's wait budget (not a failure: it continues later). */
function createPending(call: KeyVaultCall): RotatorError {
  return new RotatorError(
    "KV_CREATE_PENDING",
    `Key Vault ${call.action} '${call.name}' is still in progress`,
    "Key Vault completes the operation on its own; the next run continues with the new version.",
    { retryable: true, details: { operation: call.action, name: call.name } },
  );
}

interface PollerLike {
  isDone(): boolean;
  poll(): Promise<void>;
  getResult(): KeyVaultCertificateWithPolicy | undefined;
}

export function createKeyVaultStore(opts: KeyVaultStoreOptions): CertificateStore {
  const clock = opts.clock ?? systemClock;
  const policy: RetryPolicy = { ...defaultRetryPolicy, ...opts.retry };
  const pollIntervalMs = opts.pollIntervalMs ?? 1000;
  const createTimeoutMs = opts.createTimeoutMs ?? 10 * 60_000;
  const options = keyVaultClientOptions(opts.vaultUrl, policy, clock);
  const certificates = new CertificateClient(opts.vaultUrl, opts.credential, options);
  const secrets = new SecretClient(opts.vaultUrl, opts.credential, options);
  const keys = new KeyClient(opts.vaultUrl, opts.credential, options);
  /** Vault-reference mode: plain secrets in other vaults (`vaultReference.keyVaultUrl`), by URL. */
  const plain = plainSecrets(secrets, opts.vaultUrl);
  const elsewhere = new Map<string, PlainSecrets>();

  /**
   * Poll a creation until it completes; the result is the certificate's latest version, the new one.
   * Past `maxWaitMs` it throws KV_CREATE_PENDING: the operation goes on in Key Vault, and the caller
   * continues it in a later run (awaitPendingCreate) instead of holding its worker.
   */
  async function untilCreated(
    poller: PollerLike,
    call: KeyVaultCall,
    maxWaitMs = Number.POSITIVE_INFINITY,
  ): Promise<CertificateVersion> {
    const started = clock.now().getTime();
    while (!poller.isDone()) {
      if (clock.now().getTime() - started + pollIntervalMs > maxWaitMs) throw createPending(call);
      if (clock.now().getTime() - started > createTimeoutMs)
        throw new RotatorError(
          "KV_CREATE_TIMEOUT",
          `Key Vault ${call.action} '${call.name}' is still pending after ${createTimeoutMs} ms`,
          "The creation stays pending in Key Vault; the next run resumes it.",
          {
            retryable: true,
            details: { operation: call.action, name: call.name },
          },
        );
      await clock.sleep(pollIntervalMs);
      try {
        await poller.poll();
      } catch (e) {
        // A failed or cancelled operation ends the poller with a plain Error that carries the service's
        // message (@azure/keyvault-certificates, CreateCertificatePollOperation.update).
        if (poller.isDone() && !(e instanceof Error && e.name === "RestError"))
          throw new RotatorError(
            "KV_CREATE_FAILED",
            `Key Vault could not create a version of '${call.name}'`,
            "The certificate operation failed or was cancelled; see the certificate's pending operation in Key Vault.",
            {
              retryable: true,
              details: { operation: call.action, name: call.name },
            },
          );
        throw e;
      }
    }
    const result = poller.getResult();
    if (!result?.cer?.length) throw badResponse(call, "the completed certificate has no DER");
    return toVersion(result.properties, result.cer, call);
  }

  async function listVersions(name: string): Promise<CertificateVersion[]> {
    const call: KeyVaultCall = { area: "certificates", action: "list versions of", name };
    try {
      const props = await kvCall(call, async () => {
        const out: CertificateProperties[] = [];
        for await (const p of certificates.listPropertiesOfCertificateVersions(name)) out.push(p);
        return out;
      });
      // Key Vault lists versions in no documented order; creation time orders them (to the second).
      return props
        .map((p) => toVersion(p, undefined, call))
        .sort((a, b) => b.createdOn.getTime() - a.createdOn.getTime() || a.version.localeCompare(b.version));
    } catch (e) {
      if (e instanceof RotatorError && e.code === "KV_NOT_FOUND") return [];
      throw e;
    }
  }

  async function awaitPendingCreate(
    name: string,
    wait: { maxWaitMs?: number } = {},
  ): Promise<CertificateVersion | undefined> {
    const call: KeyVaultCall = { area: "certificates", action: "resume creation of", name };
    let poller: Awaited<ReturnType<CertificateClient["getCertificateOperation"]>>;
    try {
      poller = await kvCall(call, () => certificates.getCertificateOperation(name));
    } catch (e) {
      // No certificate, or no operation (PendingCertificateNotFound): nothing is pending.
      if (e instanceof RotatorError && e.code === "KV_NOT_FOUND") return undefined;
      throw e;
    }
    if (poller.getOperationState().certificateOperation?.status !== "inProgress") return undefined;
    return kvCall(call, () => untilCreated(poller, call, wait.maxWaitMs));
  }

  async function getVersion(
    name: string,
    version: string,
  ): Promise<CertificateVersion & { der: Uint8Array }> {
    const call: KeyVaultCall = { area: "certificates", action: "get certificate", name, version };
    const cert = await kvCall(call, () => certificates.getCertificateVersion(name, version));
    if (!cert.cer?.length)
      throw new RotatorError(
        "KV_NOT_READY",
        `Key Vault certificate '${name}/${version}' has no certificate yet`,
        "The version is still being created; wait for its creation to complete.",
        {
          retryable: true,
          details: { name, version },
        },
      );
    return { ...toVersion(cert.properties, cert.cer, call), der: cert.cer };
  }

  /**
   * After a create failed in a way that leaves its outcome unknown (timeout or 5xx after sending, or 409
   * because our own earlier attempt is pending), find the version it made: one not listed before the
   * create, carrying the requested tags.
   */
  async function findCreated(
    name: string,
    before: Set<string>,
    tags: Record<string, string>,
    wait: { maxWaitMs?: number },
  ): Promise<CertificateVersion | undefined> {
    const resumed = await awaitPendingCreate(name, wait);
    if (resumed && !before.has(resumed.version) && hasTags(resumed.tags, tags)) return resumed;
    const landed = (await listVersions(name)).find(
      (v) => !before.has(v.version) && v.x5t !== undefined && hasTags(v.tags, tags),
    );
    if (!landed) return undefined;
    const { der: _der, ...full } = await getVersion(name, landed.version);
    return full;
  }

  async function createVersion(
    name: string,
    input: CertificatePolicyInput,
    tags: Record<string, string>,
    wait: { maxWaitMs?: number } = {},
  ): Promise<CertificateVersion> {
    const call: KeyVaultCall = { area: "certificates", action: "create a version of", name };
    const before = new Set((await listVersions(name)).map((v) => v.version));
    for (let attempt = 1; ; attempt++) {
      try {
        const poller = await kvCall(call, () =>
          certificates.beginCreateCertificate(name, rotationPolicy(input), { tags }),
        );
        return await kvCall(call, () => untilCreated(poller, call, wait.maxWaitMs));
      } catch (e) {
        if (!(e instanceof RotatorError) || !AMBIGUOUS.has(e.code)) throw e;
        const landed = await findCreated(name, before, tags, wait);
        if (landed) return landed;
        if (!RESEND.has(e.code) || attempt >= policy.maxAttempts) throw e;
        await clock.sleep(backoffDelay(attempt, policy));
      }
    }
  }

  async function getPolicy(name: string): Promise<CertificatePolicyView | undefined> {
    const call: KeyVaultCall = { area: "certificates", action: "get the policy of", name };
    try {
      const p = await kvCall(call, () => certificates.getCertificatePolicy(name));
      if (!p.keyType) throw badResponse(call, "a policy without key type");
      return {
        exportable: p.exportable === true,
        keyType: p.keyType,
        ...(p.keySize === undefined ? {} : { keySize: p.keySize }),
        ...(p.contentType === undefined ? {} : { contentType: p.contentType }),
      };
    } catch (e) {
      if (e instanceof RotatorError && e.code === "KV_NOT_FOUND") return undefined;
      throw e;
    }
  }

  async function importVersion(
    name: string,
    material: ImportMaterial,
    tags: Record<string, string>,
  ): Promise<CertificateVersion> {
    const call: KeyVaultCall = { area: "certificates", action: "import a version of", name };
    const result = await kvCall(call, () =>
      certificates.importCertificate(name, Buffer.from(material.pem, "utf8"), importOptions(tags)),
    );
    if (!result.cer?.length) throw badResponse(call, "the imported certificate has no DER");
    return toVersion(result.properties, result.cer, call);
  }

  async function secretInfo(name: string, version: string): Promise<SecretInfo> {
    const call: KeyVaultCall = { area: "secrets", action: "read the key of certificate", name, version };
    const secret = await kvCall(call, () => secrets.getSecret(name, { version }));
    const value = typeof secret.value === "string" ? secret.value : "";
    return {
      ...(secret.properties.contentType ? { contentType: secret.properties.contentType } : {}),
      hasPrivateKey: /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value),
    };
  }

  async function readPem(name: string, version: string): Promise<string> {
    const call: KeyVaultCall = { area: "secrets", action: "read the key of certificate", name, version };
    const secret = await kvCall(call, () => secrets.getSecret(name, { version }));
    if (secret.properties.contentType !== PEM_CONTENT_TYPE)
      throw new RotatorError(
        "KV_UNSUPPORTED_CONTENT_TYPE",
        `certificate '${name}/${version}' is not stored as PEM`,
        "Create versions with contentType application/x-pem-file in the certificate policy.",
        {
          details: { name, version, contentType: secret.properties.contentType ?? null },
        },
      );
    const value = secret.value;
    if (typeof value !== "string" || !value.includes("-----BEGIN CERTIFICATE-----"))
      throw badResponse(call, "the certificate's secret holds no PEM certificate");
    // For a non-exportable policy "the private key isn't a part of the value when it's retrieved as a
    // secret" (https://learn.microsoft.com/azure/key-vault/certificates/about-certificates).
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value))
      throw new RotatorError(
        "KV_NOT_EXPORTABLE",
        `certificate '${name}/${version}' has no exportable private key`,
        "The certificate policy must have exportable: true; the next rotation creates a version with the service's policy.",
        {
          details: { name, version },
        },
      );
    registerSecret(value);
    return value;
  }

  function signer(name: string, version: string, thumbs: { x5t: string; x5tS256?: string }): JwsSigner {
    let cryptoClient: CryptographyClient | undefined;
    return {
      x5t: thumbs.x5t,
      ...(thumbs.x5tS256 ? { x5tS256: thumbs.x5tS256 } : {}),
      async sign(input, alg) {
        cryptoClient ??= keys.getCryptographyClient(name, { keyVersion: version });
        const client = cryptoClient;
        // Key Vault signs a digest computed by the caller (https://learn.microsoft.com/rest/api/keyvault/keys/sign/sign).
        const digest = createHash("sha256").update(input).digest();
        const result = await kvCall(
          { area: "keys", action: `sign (${alg}) with the key of`, name, version },
          () => client.sign(alg, digest),
        );
        return result.result;
      },
    };
  }

  async function listCertificates(): Promise<CertificateListing> {
    const call: KeyVaultCall = { area: "certificates", action: "list the certificates of", name: "vault" };
    let calls = 0;
    const certificates_: CertificateSummary[] = [];
    await kvCall(call, async () => {
      // Pages of 25, Key Vault's maximum `maxresults` (https://learn.microsoft.com/rest/api/keyvault/certificates/get-certificates/get-certificates);
      // includePending: a certificate whose latest version is still being issued is listed too.
      const pages = certificates
        .listPropertiesOfCertificates({ includePending: true })
        .byPage({ maxPageSize: 25 });
      for await (const page of pages) {
        calls++;
        for (const p of page) {
          if (!p.name) continue;
          certificates_.push({
            name: p.name,
            enabled: p.enabled !== false,
            tags: { ...(p.tags ?? {}) },
            ...(p.x509Thumbprint ? { x5t: Buffer.from(p.x509Thumbprint).toString("base64url") } : {}),
            ...(p.expiresOn ? { expiresOn: p.expiresOn } : {}),
          });
        }
      }
    });
    return { certificates: certificates_, calls };
  }

  return {
    listCertificates,
    createVersion,
    awaitPendingCreate,
    listVersions,
    getPolicy,
    importVersion,
    secretInfo,
    async getCertificateDer(name, version) {
      return (await getVersion(name, version)).der;
    },
    readPem,
    async updateVersion(name, version, update) {
      if (update.tags === undefined && update.enabled === undefined) return;
      const call: KeyVaultCall = { area: "certificates", action: "update", name, version };
      await kvCall(call, () =>
        certificates.updateCertificateProperties(name, version, {
          ...(update.tags === undefined ? {} : { tags: update.tags }),
          ...(update.enabled === undefined ? {} : { enabled: update.enabled }),
        }),
      );
    },
    signer,
    secrets: plain,
    secretsAt(vaultUrl) {
      const key = vaultUrl.replace(/\/+$/, "").toLowerCase();
      if (key === opts.vaultUrl.replace(/\/+$/, "").toLowerCase()) return plain;
      let other = elsewhere.get(key);
      if (!other)
        elsewhere.set(
          key,
          (other = plainSecrets(
            new SecretClient(vaultUrl, opts.credential, keyVaultClientOptions(vaultUrl, policy, clock)),
            vaultUrl,
          )),
        );
      return other;
    },
  };
}

/** Plain secrets for vault-reference mode (PUT / GET / PATCH https://learn.microsoft.com/rest/api/keyvault/secrets). */
function plainSecrets(client: SecretClient, vaultUrl: string): PlainSecrets {
  return {
    vaultUrl,
    async set(name, value, contentType) {
      registerSecret(value);
      await kvCall({ area: "secrets", action: "write secret", name }, () =>
        client.setSecret(name, value, { contentType }),
      );
    },
    async get(name) {
      const call: KeyVaultCall = { area: "secrets", action: "read secret", name };
      const secret = await kvCall(call, () => client.getSecret(name));
      if (typeof secret.value !== "string") throw badResponse(call, "the secret has no value");
      registerSecret(secret.value);
      return {
        value: secret.value,
        ...(secret.properties.contentType ? { contentType: secret.properties.contentType } : {}),
      };
    },
    async disable(name) {
      const call: KeyVaultCall = { area: "secrets", action: "disable secret", name };
      let version: string | undefined;
      try {
        version = (await kvCall(call, () => client.getSecret(name))).properties.version;
      } catch (e) {
        // Getting a disabled version is refused (SecretDisabled): it is already what we want.
        if (e instanceof RotatorError && e.code === "KV_NOT_FOUND") return "absent";
        if (e instanceof RotatorError && e.code === "KV_VERSION_DISABLED") return "disabled";
        throw e;
      }
      if (!version) throw badResponse(call, "the secret has no version");
      const v = version;
      await kvCall(call, () => client.updateSecretProperties(name, v, { enabled: false }));
      return "disabled";
    },
  };
}

export interface KeyVaultSecretReaderOptions {
  vaultUrl: string;
  credential: TokenCredential;
  retry?: Partial<RetryPolicy>;
  clock?: Clock;
}

/** Reads plain Key Vault secrets, e.g. Kong admin tokens referenced as `{ keyVaultSecret: name }`. */
export function createKeyVaultSecretReader(opts: KeyVaultSecretReaderOptions): {
  read(name: string): Promise<string>;
} {
  const policy: RetryPolicy = { ...defaultRetryPolicy, ...opts.retry };
  const client = new SecretClient(
    opts.vaultUrl,
    opts.credential,
    keyVaultClientOptions(opts.vaultUrl, policy, opts.clock ?? systemClock),
  );
  return {
    async read(name) {
      const call: KeyVaultCall = { area: "secrets", action: "read secret", name };
      const secret = await kvCall(call, () => client.getSecret(name));
      if (typeof secret.value !== "string" || secret.value.length === 0)
        throw badResponse(call, "the secret has no value");
      registerSecret(secret.value);
      return secret.value;
    },
  };
}
