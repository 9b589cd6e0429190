/**
 * Local fake of the Azure Key Vault data plane (certificates, their addressable keys and secrets, plain
 * secrets), faithful to what @azure/keyvault-certificates 4.10, -secrets 4.12 and -keys 4.10 send and parse.
 *
 * Reproduced, with sources:
 * - Challenge authentication: a request without a valid bearer token gets 401 with
 *   `WWW-Authenticate: Bearer authorization="<authority>", resource="https://vault.azure.net"`; tokens are
 *   checked for that resource (https://learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses;
 *   the SDK side is @azure/keyvault-common keyVaultAuthenticationPolicy, which first sends the request with
 *   no body and no token).
 * - `api-version` is mandatory, "there is no default" (same page); 400 BadParameter otherwise.
 * - Every request is validated against the published REST API description (stack/specs/keyvault/, the
 *   2025-07-01 certificates, secrets and keys documents the SDKs are generated from; stack/common/openapi.ts):
 *   a path with no operation is 404 NotFound, a method the path does not have 405, bad parameters or a body
 *   that does not match its schema 400 BadParameter with the reasons in the message.
 * - Error bodies `{"error":{"code","message","innererror"?}}` (same page) with the codes the service uses:
 *   CertificateNotFound, SecretNotFound, KeyNotFound, PendingCertificateNotFound, BadParameter, Forbidden
 *   (innererror ForbiddenByRbac for a missing role, SecretDisabled/KeyDisabled for a disabled version).
 * - Certificate creation is asynchronous: POST /certificates/{name}/create answers 202 with the pending
 *   operation (csr, status inProgress, request_id) and a Location header; GET .../pending reports
 *   inProgress, then completed with `target` once `createDelayMs` has passed; a create while one is
 *   inProgress fails with 409; an unknown or overwritten operation is 404 PendingCertificateNotFound
 *   (https://learn.microsoft.com/azure/key-vault/certificates/create-certificate-scenarios).
 * - The policy is stored once per certificate and reused by later creates without a policy; tags and
 *   attributes given at create go on the new version (about-certificates, "Certificate policy";
 *   https://learn.microsoft.com/rest/api/keyvault/certificates/create-certificate/create-certificate).
 * - Real key pairs and self-signed X.509 certificates from the policy (subject, SANs, EKUs, key_usage,
 *   validity_months, RSA 2048/3072/4096 or EC P-256/384/521, reuse_key). Bundles carry `x5t` (base64url
 *   SHA-1 of the DER), `cer` (base64 DER), `kid`, `sid`, and attributes as Unix seconds
 *   (https://learn.microsoft.com/rest/api/keyvault/certificates/get-certificate/get-certificate).
 *   While pending, a version has no `cer`/`x5t` and is disabled.
 * - Versions are listed with paging (`value`, `nextLink`, `maxresults` up to 25) in no particular order.
 * - GET /certificates lists the vault's certificates with the same paging, one item per certificate with
 *   the id without version, `x5t`, `attributes` (incl. `exp`) and `tags` of its current version; a
 *   certificate whose newest version is still being issued is shown with that version only with
 *   `includePending=true` ("Specifies whether to include certificates which are not completely
 *   provisioned", https://learn.microsoft.com/rest/api/keyvault/certificates/get-certificates/get-certificates).
 * - PATCH /certificates/{name}/{version} replaces that version's tags and sets `enabled`; certificate
 *   attributes are mirrored to the addressable key and secret ("Certificate attributes and tags",
 *   about-certificates).
 * - The addressable secret holds the PEM (PKCS#8 key, then the certificate) with content type
 *   application/x-pem-file; for a non-exportable policy "the private key isn't a part of the value when
 *   it's retrieved as a secret" (about-certificates, "Exportable or non-exportable key";
 *   https://learn.microsoft.com/azure/key-vault/certificates/how-to-export-certificate).
 * - The addressable key returns the public JWK with key_ops mapped from key_usage (about-certificates,
 *   "Mapping X.509 usage to key operations"); POST .../sign takes the base64url digest and returns a real
 *   RS256/384/512 or PS256/384/512 signature (https://learn.microsoft.com/rest/api/keyvault/keys/sign/sign).
 * - Import (POST /certificates/{name}/import, body `{value, pwd, policy, attributes, tags}` as
 *   @azure/keyvault-certificates' `certificateImportParametersSerializer` sends it): a PEM `value` (the key and
 *   the certificate, leaf first) is accepted only when the policy's `secret_props.contentType` is
 *   application/x-pem-file, the service's default content type being application/x-pkcs12
 *   (https://learn.microsoft.com/rest/api/keyvault/certificates/import-certificate/import-certificate;
 *   "content_type is only required when creating/importing PEM certificates", Azure/azure-sdk-for-python#19030).
 *   The key must match the certificate; `key_props.exportable` defaults to true (the service's default policy,
 *   Azure/azure-sdk-for-python#12104). The new version is completed at once, has no pending operation
 *   (GET .../pending is 404 while it is the latest), and its policy (kty, size, exportable, content type,
 *   subject) becomes the certificate's; an import while a create is inProgress is 409.
 * - Plain secrets: PUT creates a version, GET returns the latest or a given version, PATCH of a version
 *   updates its attributes (enabled), contentType and tags; GET of a disabled version is 403 SecretDisabled.
 * - Object names are case-insensitive and limited to 1-127 letters, digits and dashes
 *   (https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#object-identifiers).
 * - Faults (429 + Retry-After, 5xx, resets, hangs, garbage) come from the shared FaultInjector.
 *
 * - With `rateLimits`, the service limits per vault: 20 RSA-2048 key creates (certificate creates and
 *   imports) and 4,000 other transactions per 10 s; past them 429 `Throttled` with Retry-After
 *   (https://learn.microsoft.com/azure/key-vault/general/service-limits,
 *   https://learn.microsoft.com/azure/key-vault/general/overview-throttling).
 *
 * Not reproduced: issuers other than Self and manual merge; PKCS#12 content type (creates asking for it
 * get 400 rather than a PFX); HSM key types; EC signing; cancel/delete of pending operations; deletion,
 * soft delete, backup and restore; policy update; import of PKCS#12 (PFX) values and of certificate
 * chains beyond the leaf (kept out of the secret); exact message texts of 401 and
 * of some 403s; nbf/exp enforcement on key and secret operations; the CAE claims challenge; throttling
 * limits by themselves (inject 429s instead).
 */
import {
  X509Certificate,
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  webcrypto,
} from "node:crypto";
import type { ServerTls } from "../common/tls.js";
import { SlidingWindow } from "../common/ratelimit.js";
import { bearer } from "../common/auth.js";
import {
  parseJsonBody,
  startHttpsServer,
  type LoggedRequest,
  type Reply,
  type Request,
  type RunningServer,
} from "../common/server.js";
import {
  issueSelfSigned,
  keyOperations,
  policyToWire,
  PolicyError,
  resolvePolicy,
  type Issued,
  type Policy,
  type WirePolicy,
} from "./issue.js";
import { digestLength, RSA_SIGNING_ALGS, signRsaDigest } from "./sign.js";
import type { Rejection } from "../common/openapi.js";
import { suite } from "../specs/index.js";

const VAULT_RESOURCE = "https://vault.azure.net";

export interface KeyVaultFakeOptions {
  tls: ServerTls;
  /** Sent in the challenge, e.g. https://127.0.0.1:PORT/<tenantId>. */
  authority: string;
  verifyToken: (token: string, resource: string) => Promise<boolean>;
  /** How long a creation stays inProgress. Default 1000 ms (the real service takes seconds). */
  createDelayMs?: number;
  /** Enforce the documented per-vault transaction limits (429 + Retry-After). */
  rateLimits?: boolean;
  /** Page size of version listings when the client does not ask for less. Real Key Vault: 25. */
  pageSize?: number;
  /** Time source for attributes and validity. */
  now?: () => Date;
}

export interface FakeVersionView {
  version: string;
  status: "inProgress" | "completed";
  enabled: boolean;
  tags: Record<string, string>;
  x5t?: string;
  created: number;
  exportable: boolean;
  kty: string;
}

export interface SeedOptions {
  tags?: Record<string, string>;
  enabled?: boolean;
  /** Leave the creation inProgress for this long (a run that crashed mid-create). Default: completed. */
  pendingForMs?: number;
}

export interface KeyVaultFake extends RunningServer {
  /** Names of all certificates, as first created. */
  certificateNames(): string[];
  /** Versions of a certificate in creation order (empty when it does not exist). */
  versions(name: string): FakeVersionView[];
  /** The stored policy in wire form, or undefined. */
  policy(name: string): Record<string, unknown> | undefined;
  /** Create a certificate version directly (no HTTP), e.g. a non-exportable or EC one. Returns the version. */
  seedCertificate(name: string, policy: WirePolicy | undefined, options?: SeedOptions): Promise<string>;
  /** Store a plain secret directly. Returns the version. */
  putSecret(name: string, value: string, contentType?: string): string;
  /** Names of the plain secrets, as first written (test inspection, no HTTP). */
  secretNames(): string[];
  /** The latest version of a plain secret: value, content type, enabled (test inspection, no HTTP). */
  secret(name: string): { value: string; contentType?: string; enabled: boolean } | undefined;
  /** Refuse every data action starting with `prefix` (e.g. "Microsoft.KeyVault/vaults/secrets/") with 403 ForbiddenByRbac. */
  deny(prefix: string): void;
  /** Lift all denials. */
  allowAll(): void;
  /** Requests that changed state (create, PATCH, PUT) and succeeded. */
  mutations(): LoggedRequest[];
  /** Requests the published API description refused, for conformance tests. */
  readonly rejected: Rejection[];
}

interface CertVersion {
  version: string;
  created: number;
  updated: number;
  enabled: boolean;
  tags: Record<string, string>;
  requestId: string;
  completeAt: number;
  issued: Issued;
  policy: Policy;
  /** Imported versions have no certificate operation. */
  imported?: boolean;
}

interface Certificate {
  name: string;
  policy: Policy;
  policyCreated: number;
  policyUpdated: number;
  versions: CertVersion[];
}

interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  tags: Record<string, string>;
  enabled: boolean;
  created: number;
  updated: number;
}

const NAME = /^[0-9a-zA-Z-]{1,127}$/;
const API_VERSIONS = new Set(["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"]);
const MAX_PAGE = 25;

const ACTION = {
  certRead: "Microsoft.KeyVault/vaults/certificates/read",
  certCreate: "Microsoft.KeyVault/vaults/certificates/create/action",
  certImport: "Microsoft.KeyVault/vaults/certificates/import/action",
  certUpdate: "Microsoft.KeyVault/vaults/certificates/update/action",
  secretGet: "Microsoft.KeyVault/vaults/secrets/getSecret/action",
  secretSet: "Microsoft.KeyVault/vaults/secrets/setSecret/action",
  secretUpdate: "Microsoft.KeyVault/vaults/secrets/update/action",
  keyRead: "Microsoft.KeyVault/vaults/keys/read",
  keySign: "Microsoft.KeyVault/vaults/keys/sign/action",
} as const;

const NOT_FOUND_HELP =
  "If you recently deleted this object you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182";

function error(
  status: number,
  code: string,
  message: string,
  inner?: string,
  headers?: Record<string, string>,
): Reply {
  return {
    status,
    body: { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } },
    ...(headers ? { headers } : {}),
  };
}

const badParameter = (message: string): Reply => error(400, "BadParameter", message);

class HttpError extends Error {
  constructor(readonly reply: Reply) {
    super(typeof reply.body === "object" ? JSON.stringify(reply.body) : String(reply.status));
  }
}

const unix = (d: Date): number => Math.floor(d.getTime() / 1000);
const b64 = (b: Buffer): string => b.toString("base64");
const pem = (label: string, der: Buffer): string =>
  `-----BEGIN ${label}-----\n${b64(der)
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n$/, "")}\n-----END ${label}-----\n`;

function asStringRecord(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v))
    throw new HttpError(badParameter(`${what} must be an object.`));
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "string") throw new HttpError(badParameter(`Tag '${k}' must have a string value.`));
    out[k] = x;
  }
  return out;
}

function asObject(v: unknown): Record<string, unknown> {
  if (v === undefined) return {};
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new HttpError(badParameter("The request body must be a JSON object."));
  return v as Record<string, unknown>;
}

export async function startKeyVaultFake(opts: KeyVaultFakeOptions): Promise<KeyVaultFake> {
  const now = opts.now ?? (() => new Date());
  const createDelayMs = opts.createDelayMs ?? 1000;
  const pageSize = Math.min(opts.pageSize ?? MAX_PAGE, MAX_PAGE);
  const certs = new Map<string, Certificate>();
  const secrets = new Map<string, { name: string; versions: SecretVersion[] }>();
  const denied = new Set<string>();

  const completed = (v: CertVersion): boolean => now().getTime() >= v.completeAt;
  const latest = <T>(list: T[]): T | undefined => list[list.length - 1];
  const x5t = (v: CertVersion): string => createHash("sha1").update(v.issued.certDer).digest("base64url");

  function certAttributes(v: CertVersion): Record<string, unknown> {
    const done = completed(v);
    return {
      enabled: done ? v.enabled : false,
      ...(done ? { nbf: unix(v.issued.notBefore), exp: unix(v.issued.notAfter) } : {}),
      created: v.created,
      updated: v.updated,
      recoveryLevel: "Recoverable+Purgeable",
      recoverableDays: 90,
    };
  }

  function certBundle(base: string, c: Certificate, v: CertVersion): Record<string, unknown> {
    const done = completed(v);
    const pending = latest(c.versions);
    return {
      id: `${base}/certificates/${c.name}/${v.version}`,
      kid: `${base}/keys/${c.name}/${v.version}`,
      sid: `${base}/secrets/${c.name}/${v.version}`,
      ...(done ? { x5t: x5t(v), cer: b64(v.issued.certDer) } : {}),
      attributes: certAttributes(v),
      ...(Object.keys(v.tags).length ? { tags: v.tags } : {}),
      policy: policyToWire(
        c.policy,
        `${base}/certificates/${c.name}/policy`,
        c.policyCreated,
        c.policyUpdated,
      ),
      ...(pending && !completed(pending)
        ? { pending: { id: `${base}/certificates/${c.name}/pending` } }
        : {}),
    };
  }

  function operation(base: string, c: Certificate, v: CertVersion): Record<string, unknown> {
    const done = completed(v);
    return {
      id: `${base}/certificates/${c.name}/pending`,
      issuer: { name: c.policy.issuerName },
      csr: b64(v.issued.csrDer),
      cancellation_requested: false,
      status: done ? "completed" : "inProgress",
      ...(done
        ? { target: `${base}/certificates/${c.name}` }
        : {
            status_details:
              "Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later.",
          }),
      request_id: v.requestId,
    };
  }

  function findCert(name: string): Certificate {
    const c = certs.get(name.toLowerCase());
    if (!c)
      throw new HttpError(
        error(
          404,
          "CertificateNotFound",
          `A certificate with (name/id) ${name} was not found in this key vault. ${NOT_FOUND_HELP}`,
        ),
      );
    return c;
  }

  /**
   * A version by id, or the latest when `version` is empty. The key and secret of a version exist once its
   * creation has completed, so their latest is the latest completed version.
   */
  function findVersion(c: Certificate, version: string, kind: "certificate" | "key" | "secret"): CertVersion {
    const candidates = kind === "certificate" ? c.versions : c.versions.filter(completed);
    const v = version ? candidates.find((x) => x.version === version) : latest(candidates);
    if (!v) {
      const code =
        kind === "certificate" ? "CertificateNotFound" : kind === "key" ? "KeyNotFound" : "SecretNotFound";
      const label = version ? `${c.name}/${version}` : c.name;
      throw new HttpError(
        error(
          404,
          code,
          `A ${kind} with (name/id) ${label} was not found in this key vault. ${NOT_FOUND_HELP}`,
        ),
      );
    }
    return v;
  }

  /**
   * A create or import while the certificate's latest operation is inProgress is refused (409); returns
   * the latest (completed) version, whose key a reuse_key policy keeps.
   */
  function refuseWhilePending(existing: Certificate | undefined): CertVersion | undefined {
    const last = existing && latest(existing.versions);
    if (last && !completed(last))
      throw new HttpError(
        error(
          409,
          "Forbidden",
          "A new key vault certificate can not be created or imported while a pending key vault certificate's status is inProgress.",
        ),
      );
    return last;
  }

  async function createVersion(
    name: string,
    wirePolicy: WirePolicy | undefined,
    tags: Record<string, string>,
    enabled: boolean,
    delayMs: number,
  ): Promise<{ c: Certificate; v: CertVersion }> {
    const key = name.toLowerCase();
    const existing = certs.get(key);
    const previous = refuseWhilePending(existing);
    let policy: Policy;
    let issued: Issued;
    try {
      policy = resolvePolicy(wirePolicy, existing?.policy);
      issued = await issueSelfSigned(policy, now(), previous?.issued.keys);
    } catch (e) {
      if (e instanceof PolicyError) throw new HttpError(badParameter(e.message));
      throw e;
    }
    const t = unix(now());
    const c: Certificate = existing ?? { name, policy, policyCreated: t, policyUpdated: t, versions: [] };
    if (existing && wirePolicy) {
      c.policy = policy;
      c.policyUpdated = t;
    }
    const v: CertVersion = {
      version: randomBytes(16).toString("hex"),
      created: t,
      updated: t,
      enabled,
      tags,
      requestId: randomBytes(16).toString("hex"),
      completeAt: now().getTime() + delayMs,
      issued,
      policy,
    };
    c.versions.push(v);
    certs.set(key, c);
    return { c, v };
  }

  const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

  /** POST /certificates/{name}/import with a PEM value; see the header for what is reproduced. */
  async function importVersion(
    name: string,
    body: Record<string, unknown>,
  ): Promise<{ c: Certificate; v: CertVersion }> {
    if (typeof body.value !== "string" || body.value === "")
      throw new HttpError(badParameter("Property value is required."));
    const wire = asObject(body.policy) as WirePolicy;
    const contentType = wire.secret_props?.contentType ?? "application/x-pkcs12";
    if (contentType !== "application/x-pem-file")
      throw new HttpError(
        badParameter(
          `Importing content type '${contentType}' is not reproduced by the local Key Vault fake: import PEM with contentType application/x-pem-file.`,
        ),
      );
    const blocks = [...body.value.matchAll(PEM_BLOCK)];
    const keyBlock = blocks.find((m) => (m[1] ?? "").endsWith("PRIVATE KEY"))?.[0];
    const certBlock = blocks.find((m) => m[1] === "CERTIFICATE")?.[0];
    if (!keyBlock || !certBlock)
      throw new HttpError(
        badParameter(
          "The specified PEM X.509 certificate content is in an unexpected format. Please check if certificate is in valid PEM format.",
        ),
      );
    let cert: X509Certificate;
    let privateKey: ReturnType<typeof createPrivateKey>;
    try {
      cert = new X509Certificate(certBlock);
      privateKey = createPrivateKey(keyBlock);
    } catch {
      throw new HttpError(badParameter("The specified PEM X.509 certificate content can not be read."));
    }
    const pub = createPublicKey(privateKey).export({ format: "der", type: "spki" });
    if (!pub.equals(cert.publicKey.export({ format: "der", type: "spki" })))
      throw new HttpError(badParameter("The private key does not match the public key of the certificate."));
    const kty =
      privateKey.asymmetricKeyType === "rsa"
        ? "RSA"
        : privateKey.asymmetricKeyType === "ec"
          ? "EC"
          : undefined;
    if (!kty)
      throw new HttpError(
        badParameter(`Key type ${privateKey.asymmetricKeyType ?? "unknown"} is not supported.`),
      );
    const key = name.toLowerCase();
    const existing = certs.get(key);
    refuseWhilePending(existing);
    const notBefore = new Date(cert.validFrom);
    const notAfter = new Date(cert.validTo);
    const jwk = privateKey.export({ format: "jwk" });
    const sign = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const crypto =
      kty === "RSA"
        ? {
            privateKey: await webcrypto.subtle.importKey(
              "pkcs8",
              privateKey.export({ format: "der", type: "pkcs8" }),
              sign,
              true,
              ["sign"],
            ),
            publicKey: await webcrypto.subtle.importKey("spki", pub, sign, true, ["verify"]),
          }
        : undefined;
    if (!crypto)
      throw new HttpError(badParameter("Importing EC keys is not reproduced by the local Key Vault fake."));
    const policy: Policy = {
      kty,
      keySize: Buffer.from(String(jwk.n), "base64url").length * 8,
      exportable: wire.key_props?.exportable ?? true,
      reuseKey: wire.key_props?.reuse_key ?? false,
      contentType,
      subject: cert.subject.split("\n").reverse().join(", "),
      sans: {},
      ekus: [],
      keyUsage: wire.x509_props?.key_usage ?? ["digitalSignature"],
      validityMonths: Math.max(1, Math.round((notAfter.getTime() - notBefore.getTime()) / (30 * 86_400_000))),
      lifetimeActions: wire.lifetime_actions ?? [],
      issuerName: "Unknown",
      enabled: true,
    };
    const t = unix(now());
    const c: Certificate = existing ?? { name, policy, policyCreated: t, policyUpdated: t, versions: [] };
    c.policy = policy;
    c.policyUpdated = t;
    const attrs = asObject(body.attributes);
    const v: CertVersion = {
      version: randomBytes(16).toString("hex"),
      created: t,
      updated: t,
      enabled: attrs.enabled !== false,
      tags: asStringRecord(body.tags, "tags"),
      requestId: randomBytes(16).toString("hex"),
      completeAt: now().getTime(),
      issued: {
        keys: { crypto, privateKey },
        csrDer: Buffer.alloc(0),
        certDer: cert.raw,
        notBefore,
        notAfter,
      },
      policy,
      imported: true,
    };
    c.versions.push(v);
    certs.set(key, c);
    return { c, v };
  }

  function secretBundle(base: string, name: string, v: SecretVersion): Record<string, unknown> {
    return {
      value: v.value,
      ...(v.contentType ? { contentType: v.contentType } : {}),
      id: `${base}/secrets/${name}/${v.version}`,
      attributes: {
        enabled: v.enabled,
        created: v.created,
        updated: v.updated,
        recoveryLevel: "Recoverable+Purgeable",
        recoverableDays: 90,
      },
      ...(Object.keys(v.tags).length ? { tags: v.tags } : {}),
    };
  }

  function storeSecret(
    name: string,
    value: string,
    contentType: string | undefined,
    tags: Record<string, string>,
    enabled: boolean,
  ): { name: string; v: SecretVersion } {
    if (certs.has(name.toLowerCase()))
      throw new HttpError(
        error(
          403,
          "Forbidden",
          `Operation set is not allowed on a managed secret: ${name} belongs to a certificate.`,
        ),
      );
    const key = name.toLowerCase();
    const entry = secrets.get(key) ?? { name, versions: [] };
    const t = unix(now());
    const v: SecretVersion = {
      version: randomBytes(16).toString("hex"),
      value,
      ...(contentType ? { contentType } : {}),
      tags,
      enabled,
      created: t,
      updated: t,
    };
    entry.versions.push(v);
    secrets.set(key, entry);
    return { name: entry.name, v };
  }

  // --- throttling -------------------------------------------------------------------------------------

  const createWindow = new SlidingWindow(20, 10_000);
  const otherWindow = new SlidingWindow(4_000, 10_000);
  function throttle(req: Request): Reply | undefined {
    if (!opts.rateLimits) return undefined;
    const isCreate = req.method === "POST" && /^\/certificates\/[^/]+\/(create|import)$/.test(req.path);
    const retryAfter = (isCreate ? createWindow : otherWindow).take();
    if (retryAfter === undefined) return undefined;
    return error(
      429,
      "Throttled",
      "Request was not processed because too many requests were received.",
      undefined,
      { "retry-after": String(retryAfter) },
    );
  }

  // --- route handlers -------------------------------------------------------------------------------

  /**
   * One page of a listing (`maxresults` up to 25, `$skiptoken`, `nextLink`); items are listed as
   * `item(x)`, and `link(skiptoken, max)` builds the next page's URL.
   */
  function paged<T>(
    req: Request,
    items: T[],
    item: (x: T) => Record<string, unknown>,
    link: (skiptoken: string, max: number) => string,
  ): Reply {
    const max = Number(req.url.searchParams.get("maxresults") ?? pageSize);
    if (!Number.isInteger(max) || max < 1 || max > MAX_PAGE)
      return badParameter(`maxresults must be between 1 and ${MAX_PAGE}.`);
    const skip = Number(
      Buffer.from(req.url.searchParams.get("$skiptoken") ?? "", "base64url").toString() || "0",
    );
    const page = items.slice(skip, skip + Math.min(max, pageSize));
    const next =
      skip + page.length < items.length
        ? Buffer.from(String(skip + page.length)).toString("base64url")
        : undefined;
    return { status: 200, body: { value: page.map(item), nextLink: next ? link(next, max) : null } };
  }

  /** A version as list items show it: no `cer`, no policy. */
  function versionItem(id: string, v: CertVersion): Record<string, unknown> {
    return {
      id,
      ...(completed(v) ? { x5t: x5t(v) } : {}),
      attributes: certAttributes(v),
      ...(Object.keys(v.tags).length ? { tags: v.tags } : {}),
    };
  }

  function listCertificates(req: Request, base: string, apiVersion: string): Reply {
    try {
      requireAction(ACTION.certRead);
    } catch (e) {
      if (e instanceof HttpError) return e.reply;
      throw e;
    }
    const includePending = req.url.searchParams.get("includePending") === "true";
    const items = [...certs.values()]
      .map((c) => ({ c, v: includePending ? latest(c.versions) : c.versions.findLast(completed) }))
      .filter((x): x is { c: Certificate; v: CertVersion } => x.v !== undefined)
      .sort((a, b) => a.c.name.localeCompare(b.c.name));
    return paged(
      req,
      items,
      ({ c, v }) => versionItem(`${base}/certificates/${c.name}`, v),
      (token, max) =>
        `${base}/certificates?api-version=${apiVersion}&$skiptoken=${token}&maxresults=${max}${includePending ? "&includePending=true" : ""}`,
    );
  }

  async function handleCertificates(
    req: Request,
    base: string,
    seg: string[],
    apiVersion: string,
  ): Promise<Reply> {
    const [name = "", sub, extra] = seg;
    if (seg.length === 2 && sub === "create" && req.method === "POST") {
      requireAction(ACTION.certCreate);
      const body = asObject(parseBody(req));
      const attrs = asObject(body.attributes);
      const { c, v } = await createVersion(
        name,
        body.policy === undefined ? undefined : (asObject(body.policy) as WirePolicy),
        asStringRecord(body.tags, "tags"),
        attrs.enabled === undefined ? true : attrs.enabled === true,
        createDelayMs,
      );
      const op = operation(base, c, v);
      return {
        status: 202,
        body: {
          ...op,
          status: "inProgress",
          status_details:
            "Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later.",
        },
        headers: {
          location: `${base}/certificates/${c.name}/pending?api-version=${apiVersion}&request_id=${v.requestId}`,
        },
      };
    }
    if (seg.length === 2 && sub === "import" && req.method === "POST") {
      requireAction(ACTION.certImport);
      const { c, v } = await importVersion(name, asObject(parseBody(req)));
      return { status: 200, body: certBundle(base, c, v) };
    }
    if (seg.length === 2 && sub === "pending" && req.method === "GET") {
      requireAction(ACTION.certRead);
      const c = certs.get(name.toLowerCase());
      const v = c && latest(c.versions);
      const wanted = req.url.searchParams.get("request_id");
      if (!c || !v || v.imported || (wanted && wanted !== v.requestId))
        return error(404, "PendingCertificateNotFound", `Pending certificate not found: ${name}`);
      return { status: 200, body: operation(base, c, v) };
    }
    if (seg.length === 2 && sub === "policy" && req.method === "GET") {
      requireAction(ACTION.certRead);
      const c = findCert(name);
      return {
        status: 200,
        body: policyToWire(
          c.policy,
          `${base}/certificates/${c.name}/policy`,
          c.policyCreated,
          c.policyUpdated,
        ),
      };
    }
    if (seg.length === 2 && sub === "versions" && req.method === "GET") {
      requireAction(ACTION.certRead);
      const c = findCert(name);
      const sorted = [...c.versions].sort((x, y) => x.version.localeCompare(y.version));
      return paged(
        req,
        sorted,
        (v) => versionItem(`${base}/certificates/${c.name}/${v.version}`, v),
        (token, max) =>
          `${base}/certificates/${c.name}/versions?api-version=${apiVersion}&$skiptoken=${token}&maxresults=${max}`,
      );
    }
    if ((seg.length === 1 || seg.length === 2) && extra === undefined) {
      const version = sub ?? "";
      if (req.method === "GET") {
        requireAction(ACTION.certRead);
        const c = findCert(name);
        return { status: 200, body: certBundle(base, c, findVersion(c, version, "certificate")) };
      }
      if (req.method === "PATCH") {
        requireAction(ACTION.certUpdate);
        const c = findCert(name);
        const v = findVersion(c, version, "certificate");
        const body = asObject(parseBody(req));
        const attrs = asObject(body.attributes);
        if (body.tags !== undefined && body.tags !== null) v.tags = asStringRecord(body.tags, "tags");
        if (attrs.enabled !== undefined) {
          if (typeof attrs.enabled !== "boolean")
            return badParameter("attributes.enabled must be a boolean.");
          v.enabled = attrs.enabled;
        }
        v.updated = unix(now());
        return { status: 200, body: certBundle(base, c, v) };
      }
    }
    return error(
      405,
      "BadParameter",
      `Method ${req.method} is not supported on this path by the local Key Vault fake.`,
    );
  }

  async function handleSecrets(req: Request, base: string, seg: string[]): Promise<Reply> {
    const [name = "", version = "", extra] = seg;
    if (extra !== undefined || seg.length > 2)
      return error(405, "BadParameter", `Unsupported path for the local Key Vault fake.`);
    if (req.method === "PUT" && seg.length === 1) {
      requireAction(ACTION.secretSet);
      const body = asObject(parseBody(req));
      if (typeof body.value !== "string")
        return badParameter("Property value is required and must be a string.");
      const contentType = typeof body.contentType === "string" ? body.contentType : undefined;
      const attrs = asObject(body.attributes);
      const { name: stored, v } = storeSecret(
        name,
        body.value,
        contentType,
        asStringRecord(body.tags, "tags"),
        attrs.enabled !== false,
      );
      return { status: 200, body: secretBundle(base, stored, v) };
    }
    if (req.method === "PATCH" && seg.length === 2) {
      // Update Secret (https://learn.microsoft.com/rest/api/keyvault/secrets/update-secret): attributes,
      // contentType and tags of one version; the response is the bundle without its value.
      requireAction(ACTION.secretUpdate);
      const s = secrets.get(name.toLowerCase());
      const v = s?.versions.find((x) => x.version === version);
      if (!s || !v)
        return error(
          404,
          "SecretNotFound",
          `A secret with (name/id) ${name}/${version} was not found in this key vault. ${NOT_FOUND_HELP}`,
        );
      const body = asObject(parseBody(req));
      const attrs = asObject(body.attributes);
      if (typeof attrs.enabled === "boolean") v.enabled = attrs.enabled;
      if (typeof body.contentType === "string") v.contentType = body.contentType;
      if (body.tags !== undefined) v.tags = asStringRecord(body.tags, "tags");
      v.updated = unix(now());
      const { value: _value, ...rest } = secretBundle(base, s.name, v);
      return { status: 200, body: rest };
    }
    if (req.method !== "GET")
      return error(
        405,
        "BadParameter",
        `Method ${req.method} is not supported on this path by the local Key Vault fake.`,
      );
    requireAction(ACTION.secretGet);
    const c = certs.get(name.toLowerCase());
    if (c) {
      const v = findVersion(c, version, "secret");
      if (!v.enabled)
        return error(
          403,
          "Forbidden",
          "Operation get is not allowed on a disabled secret.",
          "SecretDisabled",
        );
      const cert = pem("CERTIFICATE", v.issued.certDer);
      const keyPem = v.policy.exportable
        ? pem("PRIVATE KEY", v.issued.keys.privateKey.export({ format: "der", type: "pkcs8" }))
        : "";
      return {
        status: 200,
        body: {
          value: keyPem + cert,
          contentType: v.policy.contentType,
          id: `${base}/secrets/${c.name}/${v.version}`,
          managed: true,
          attributes: certAttributes(v),
          kid: `${base}/keys/${c.name}/${v.version}`,
        },
      };
    }
    const s = secrets.get(name.toLowerCase());
    const v = s && (version ? s.versions.find((x) => x.version === version) : latest(s.versions));
    if (!s || !v)
      return error(
        404,
        "SecretNotFound",
        `A secret with (name/id) ${version ? `${name}/${version}` : name} was not found in this key vault. ${NOT_FOUND_HELP}`,
      );
    if (!v.enabled)
      return error(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled");
    return { status: 200, body: secretBundle(base, s.name, v) };
  }

  async function handleKeys(req: Request, base: string, seg: string[]): Promise<Reply> {
    const [name = "", version = "", op] = seg;
    const c = certs.get(name.toLowerCase());
    const notFound = () =>
      error(
        404,
        "KeyNotFound",
        `A key with (name/id) ${version ? `${name}/${version}` : name} was not found in this key vault. ${NOT_FOUND_HELP}`,
      );
    if (seg.length <= 2 && req.method === "GET") {
      requireAction(ACTION.keyRead);
      if (!c) return notFound();
      const v = findVersion(c, version, "key");
      if (!v.enabled)
        return error(403, "Forbidden", "Operation get is not allowed on a disabled key.", "KeyDisabled");
      const jwk = v.issued.keys.privateKey.export({ format: "jwk" });
      const kid = `${base}/keys/${c.name}/${v.version}`;
      const pub = v.policy.kty === "RSA" ? { n: jwk.n, e: jwk.e } : { crv: jwk.crv, x: jwk.x, y: jwk.y };
      return {
        status: 200,
        body: {
          key: { kid, kty: v.policy.kty, key_ops: keyOperations(v.policy), ...pub },
          attributes: certAttributes(v),
          managed: true,
        },
      };
    }
    if (seg.length === 3 && op === "sign" && req.method === "POST") {
      requireAction(ACTION.keySign);
      if (!c) return notFound();
      const v = findVersion(c, version, "key");
      if (!v.enabled)
        return error(403, "Forbidden", "Operation sign is not allowed on a disabled key.", "KeyDisabled");
      if (!keyOperations(v.policy).includes("sign"))
        return error(
          403,
          "Forbidden",
          "Operation sign is not allowed on this key: its key_ops do not include sign.",
        );
      const body = asObject(parseBody(req));
      const alg = typeof body.alg === "string" ? body.alg : "";
      if (typeof body.value !== "string") return badParameter("Property value is required.");
      if (v.policy.kty !== "RSA")
        return badParameter(
          `Signing with a ${v.policy.kty} key is not reproduced by the local Key Vault fake.`,
        );
      if (!RSA_SIGNING_ALGS[alg]) return badParameter(`Invalid algorithm '${alg}' for an RSA key.`);
      const digest = Buffer.from(body.value, "base64url");
      if (digest.length !== digestLength(alg))
        return badParameter(`Invalid digest length ${digest.length} for algorithm ${alg}.`);
      const signature = signRsaDigest(v.issued.keys.privateKey, alg, digest);
      return {
        status: 200,
        body: { kid: `${base}/keys/${c.name}/${v.version}`, value: signature.toString("base64url") },
      };
    }
    return error(
      405,
      "BadParameter",
      `Method ${req.method} is not supported on this path by the local Key Vault fake.`,
    );
  }

  function parseBody(req: Request): unknown {
    try {
      return parseJsonBody(req);
    } catch {
      throw new HttpError(badParameter("The request body is not valid JSON."));
    }
  }

  function requireAction(action: string): void {
    for (const prefix of denied)
      if (action.startsWith(prefix))
        throw new HttpError(
          error(
            403,
            "Forbidden",
            `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nAction: '${action}'\r\nAssignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC'\r\n`,
            "ForbiddenByRbac",
          ),
        );
  }

  async function handle(req: Request): Promise<Reply> {
    const base = `https://${req.headers.host ?? "127.0.0.1"}`;
    const challenge = {
      "www-authenticate": `Bearer authorization="${opts.authority}", resource="${VAULT_RESOURCE}"`,
    };
    const token = bearer(req.headers.authorization);
    if (!token)
      return error(
        401,
        "Unauthorized",
        "AKV10000: Request is missing a Bearer or PoP token.",
        undefined,
        challenge,
      );
    if (!(await opts.verifyToken(token, VAULT_RESOURCE)))
      return error(
        401,
        "Unauthorized",
        "The access token is not valid for this vault.",
        undefined,
        challenge,
      );
    const throttled = throttle(req);
    if (throttled) return throttled;
    const apiVersion = req.url.searchParams.get("api-version");
    if (!apiVersion) return badParameter("The api-version query parameter is required.");
    if (!API_VERSIONS.has(apiVersion))
      return badParameter(`The specified version (${apiVersion}) is not recognized.`);
    const v = spec.check(req, rejected);
    if (!v.ok)
      return v.reason === "unknown-path"
        ? error(404, "NotFound", `The path ${req.path} is not an operation of the Key Vault REST API.`)
        : error(v.status, "BadParameter", v.errors.join("; "));
    const [collection = "", ...seg] = req.path.replace(/^\/+/, "").split("/").map(decodeURIComponent);
    if (collection === "certificates" && seg.length === 0 && req.method === "GET")
      return listCertificates(req, base, apiVersion);
    const name = seg[0] ?? "";
    if (!NAME.test(name))
      return badParameter(`The name '${name}' is invalid: use 1-127 letters, digits and dashes.`);
    try {
      if (collection === "certificates") return await handleCertificates(req, base, seg, apiVersion);
      if (collection === "secrets") return await handleSecrets(req, base, seg);
      if (collection === "keys") return await handleKeys(req, base, seg);
      return error(404, "NotFound", `The path /${collection} is not reproduced by the local Key Vault fake.`);
    } catch (e) {
      if (e instanceof HttpError) return e.reply;
      throw e;
    }
  }

  const spec = suite("keyvault");
  const rejected: Rejection[] = [];
  const server = await startHttpsServer("keyvault", opts.tls, handle);

  return {
    ...server,
    rejected,
    certificateNames: () => [...certs.values()].map((c) => c.name),
    versions: (name) =>
      (certs.get(name.toLowerCase())?.versions ?? []).map((v) => ({
        version: v.version,
        status: completed(v) ? "completed" : "inProgress",
        enabled: completed(v) ? v.enabled : false,
        tags: { ...v.tags },
        ...(completed(v) ? { x5t: x5t(v) } : {}),
        created: v.created,
        exportable: v.policy.exportable,
        kty: v.policy.kty,
      })),
    policy: (name) => {
      const c = certs.get(name.toLowerCase());
      return (
        c &&
        policyToWire(
          c.policy,
          `${server.url}/certificates/${c.name}/policy`,
          c.policyCreated,
          c.policyUpdated,
        )
      );
    },
    seedCertificate: async (name, policy, options = {}) => {
      try {
        const { v } = await createVersion(
          name,
          policy,
          { ...(options.tags ?? {}) },
          options.enabled ?? true,
          options.pendingForMs ?? 0,
        );
        return v.version;
      } catch (e) {
        if (e instanceof HttpError) throw new Error(`seedCertificate refused: ${e.message}`);
        throw e;
      }
    },
    putSecret: (name, value, contentType) => storeSecret(name, value, contentType, {}, true).v.version,
    secretNames: () => [...secrets.values()].map((x) => x.name),
    secret: (name) => {
      const v = latest(secrets.get(name.toLowerCase())?.versions ?? []);
      return (
        v && { value: v.value, enabled: v.enabled, ...(v.contentType ? { contentType: v.contentType } : {}) }
      );
    },
    deny: (prefix) => void denied.add(prefix),
    allowAll: () => denied.clear(),
    mutations: () =>
      server.requests.filter(
        (r) =>
          r.status >= 200 &&
          r.status < 300 &&
          (r.method === "PUT" ||
            r.method === "PATCH" ||
            (r.method === "POST" && /\/(create|import)(\?|$)/.test(r.path))),
      ),
  };
}
