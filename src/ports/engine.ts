/**
 * The engine's ports: what the rotation engine calls (src/engine), and nothing else. Each real service
 * (Key Vault, the identity provider, Kong) is an adapter behind one of these small interfaces; tests use
 * in-memory versions. Nothing here carries private key material except `CertificateStore.readPem`, whose
 * result goes straight to Kong and is never logged.
 *
 * The other audiences have their own files: ./diagnosis.ts (what `doctor` reads) and ./infrastructure.ts
 * (what the runtime around the engine uses: lease, queue, history, alert state). There is no index:
 * imports name the file they need. Files here import only types, and only from src/crypto and
 * src/errors.ts (eslint.config.js).
 */
import type { JwsSigner } from "../crypto/jws.js";
import type { KongPrivateJwk, SigningAlg } from "../crypto/keymaterial.js";
import type { RotatorError } from "../errors.js";
import type { IdpDiagnosisContext, IdpFinding, KongDiagnosis, KongVaultDiagnosis } from "./diagnosis.js";

// ---------------------------------------------------------------------------------------------
// Time and logs
// ---------------------------------------------------------------------------------------------

/** Time source, injected everywhere so that the engine and retry loops run under a fake clock in tests. */
export interface Clock {
  now(): Date;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Structured logger port. `event` is a stable name (e.g. `KeyRotationFailed`); fields are dimensions. */
export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

// ---------------------------------------------------------------------------------------------
// Key Vault
// ---------------------------------------------------------------------------------------------

export interface CertificatePolicyInput {
  subject: string;
  validityMonths: number;
  keySize: 2048 | 3072 | 4096;
}

/** One certificate version ("key generation") as Key Vault reports it. */
export interface CertificateVersion {
  version: string;
  enabled: boolean;
  createdOn: Date;
  /** Absent while the creation operation is still pending. */
  x5t?: string;
  x5tS256?: string;
  notBefore?: Date;
  expiresOn?: Date;
  tags: Record<string, string>;
}

export interface CertificatePolicyView {
  exportable: boolean;
  keyType: string;
  keySize?: number;
  contentType?: string;
}

/**
 * An existing certificate with its private key, to import as a new version. PEM: the private key and the
 * certificate chain (leaf first) as one text. Key Vault stores the version's secret in the policy's content
 * type, and the engine reads PEM, so imports always send PEM.
 */
export interface ImportMaterial {
  pem: string;
}

/** What a version's backing secret holds, without its value. */
export interface SecretInfo {
  contentType?: string;
  hasPrivateKey: boolean;
}

export interface CertificateStore {
  /**
   * Start creating a new version with the given tags and wait for it to complete. With `maxWaitMs`, a
   * creation still in progress after that long throws KV_CREATE_PENDING (it completes in Key Vault and
   * `awaitPendingCreate` picks it up later).
   */
  createVersion(
    name: string,
    policy: CertificatePolicyInput,
    tags: Record<string, string>,
    wait?: { maxWaitMs?: number },
  ): Promise<CertificateVersion>;
  /**
   * If a creation is in progress for `name`, wait for it; resolves undefined when none is pending. With
   * `maxWaitMs`, throws KV_CREATE_PENDING when it is still in progress after that long.
   */
  awaitPendingCreate(name: string, wait?: { maxWaitMs?: number }): Promise<CertificateVersion | undefined>;
  /** All versions with tags, newest first. Empty when the certificate does not exist. */
  listVersions(name: string): Promise<CertificateVersion[]>;
  /** The certificate's current policy, or undefined when the certificate does not exist. */
  getPolicy(name: string): Promise<CertificatePolicyView | undefined>;
  /** DER of the version's certificate (public). */
  getCertificateDer(name: string, version: string): Promise<Uint8Array>;
  /**
   * Import an existing certificate and key as a new version (exportable RSA, PEM content type) with the
   * given tags. Not idempotent: every call makes a version.
   */
  importVersion(
    name: string,
    material: ImportMaterial,
    tags: Record<string, string>,
  ): Promise<CertificateVersion>;
  /** Read the version's backing secret and report its content type and whether it holds a private key; the value is dropped. */
  secretInfo(name: string, version: string): Promise<SecretInfo>;
  /** PEM (PKCS#8 key + certificate) of the version, from the certificate's backing secret. SECRET. */
  readPem(name: string, version: string): Promise<string>;
  /** Replace the version's tags and/or set enabled. */
  updateVersion(
    name: string,
    version: string,
    update: { tags?: Record<string, string>; enabled?: boolean },
  ): Promise<void>;
  /** A signer that signs with the version's key inside Key Vault (no export). */
  signer(name: string, version: string, thumbprints: { x5t: string; x5tS256?: string }): JwsSigner;
  /**
   * Every certificate of the vault with the tags and expiry of its latest version, in pages of up to 25
   * (one Key Vault call per page). The fleet scheduler decides from this alone which credentials have
   * work. Optional: without it every credential counts as having work.
   */
  listCertificates?(): Promise<CertificateListing>;
  /**
   * Vault-reference mode (src/engine/vault-ref.ts): plain secrets that Kong reads through its vault entity.
   * Optional: a store without them cannot serve a target with `vaultReference`.
   */
  secrets?: PlainSecrets;
  /**
   * Plain secrets in another Key Vault (`vaultReference.keyVaultUrl`, a vault that holds only the reference
   * secrets), with the same identity. Optional like `secrets`.
   */
  secretsAt?(vaultUrl: string): PlainSecrets;
}

/** Plain Key Vault secrets (not certificates' backing secrets). Values are SECRET. */
export interface PlainSecrets {
  /** The Key Vault that holds these secrets, as Kong's vault entity must name it in `vault_uri`. */
  readonly vaultUrl: string;
  /** Write a new version of the secret with this content type. */
  set(name: string, value: string, contentType: string): Promise<void>;
  /** The secret's latest version. Throws KV_NOT_FOUND / KV_VERSION_DISABLED / KV_FORBIDDEN. */
  get(name: string): Promise<{ value: string; contentType?: string }>;
  /** Disable the secret's latest version; resolves when it is absent or already disabled. */
  disable(name: string): Promise<"disabled" | "absent">;
}

export interface CertificateSummary {
  name: string;
  enabled: boolean;
  /** Absent while the latest version is still being issued. */
  x5t?: string;
  expiresOn?: Date;
  tags: Record<string, string>;
}

export interface CertificateListing {
  certificates: CertificateSummary[];
  /** Key Vault calls made (pages). */
  calls: number;
}

// ---------------------------------------------------------------------------------------------
// Identity provider
// ---------------------------------------------------------------------------------------------

/** One key registered for the client at the identity provider (public facts only). */
export interface IdpKey {
  /** The provider's own id of the key (what remove/withdraw address). */
  id: string;
  /** The key id assertions are matched on, when the provider keeps one. */
  kid?: string;
  /** base64url SHA-1 thumbprint of the certificate, when the provider keeps the certificate. */
  x5t?: string;
  /** Usable for client authentication now (registered keys may be staged or withdrawn). */
  usable: boolean;
  displayName?: string;
  /** ISO 8601, when the provider keeps them. */
  notBefore?: string;
  expiresAt?: string;
}

/** What the provider allows, so that the planner stays within it instead of failing at the API. */
export interface IdpRules {
  /** The most keys the client may hold at once. */
  maxKeys: number;
  /** JWS algorithms the token endpoint accepts for client assertions. */
  algorithms: readonly SigningAlg[];
  /**
   * How the provider matches an assertion to a key: by the certificate thumbprint (`x5t`), by the kid
   * registered with the key (`registered`: the JWK's kid must be one the provider holds), or by the
   * registered kid when present (`optional`). The engine registers every key with kid = x5t, so Kong's
   * JWK (kid = x5t) matches under all three.
   */
  kid: "x5t" | "registered" | "optional";
  /** A registered key is made usable by a separate call (activate). */
  staged: boolean;
  /** Key writes carry a proof of possession signed by a current key of the client (else a privileged path). */
  proofOfPossession: boolean;
  /** What the `published` phase means at this provider, in its own words (status page, CLI). */
  published: string;
  /**
   * The scopes of the proof's token request: the Kong plugin's `config.scopes`, as Kong's own client
   * credentials request sends them (`kong`: the provider's answer depends on them), or a scope of the
   * adapter's own (`own`: the provider proves the key the same way whatever Kong asks for).
   */
  proofScopes: "kong" | "own";
  /**
   * What happens to access tokens the provider already issued with a key that is then removed (the
   * key-compromise result, notification and status say it): they stay valid until they expire.
   */
  issuedTokens: string;
}

/** The public half of a key generation, as the provider needs it to register the key. */
export interface PublicKeyMaterial {
  /** DER of the self-signed certificate. */
  certDer: Uint8Array;
  /** PEM of the certificate. */
  certPem: string;
  /** Public RSA JWK members. */
  jwk: { kty: "RSA"; n: string; e: string };
  /** The kid Kong will send: the certificate's x5t. */
  kid: string;
  x5t: string;
  alg: SigningAlg;
  notAfter: Date;
  displayName: string;
}

/**
 * One proof at the token endpoint. A refusal is `retryable` when a later attempt may pass (a key still
 * propagating, a transient failure, an answer not known to be final): verification polls on. Not
 * retryable: a refusal that waiting does not fix (src/http/token-request.ts `tokenRefusal`: invalid_scope,
 * unauthorized_client, invalid_client for an algorithm the client does not allow); verification stops at
 * once with the provider's description and `hint`.
 */
export type TokenAttempt =
  { ok: true } | { ok: false; code: string; description: string; retryable: boolean; hint?: string };

/**
 * What the Kong plugin entry that a credential updates sends to the token endpoint, read with the plugin
 * (the engine's observation of its Kong targets): the proof makes the same request where the provider's
 * answer depends on it (IdpRules.proofScopes).
 */
export interface KongTokenRequest {
  /** `config.scopes` as Kong sends them; absent when no Kong target could be read. */
  scopes?: string[];
  /** Where they were read, for messages: "Kong target <name>, plugin <id>". */
  source?: string;
}

/** One client secret of the client at the provider: metadata only, never its value. */
export interface IdpSecret {
  /** The provider's id of the secret (Entra keyId, Okta secret id, Auth0 `client_secret`). */
  id: string;
  /** Its first characters, where the provider shows them (Graph `hint`: three). */
  hint?: string;
  displayName?: string;
  /** ISO 8601, where the provider keeps it. */
  expiresAt?: string;
  /** Last sign-in with this secret (ISO 8601), where the provider reports it. */
  lastSignIn?: string;
  /** Does it still authenticate? */
  usable: boolean;
}

/**
 * How client-secret authentication ends at this provider when the client moves to private_key_jwt
 * (docs/migration.md):
 * - `none`: secrets and certificates work side by side (Entra): no cutover, 0 failed logins; the secret is
 *   retired separately (retireSecret) once no Kong target holds it.
 * - `switch`: the client has one token_endpoint_auth_method; switching it to private_key_jwt deletes its
 *   secrets (Okta), so the switch, and Kong's switch right after, is the cutover and the retirement.
 * - `attach`: attaching the first credential ends secret authentication (Auth0, the two are exclusive);
 *   registration is the cutover.
 */
export interface SecretMigrationRules {
  cutover: "none" | "switch" | "attach";
  /** What an operator must know before the change, in the provider's terms (dry-run, CLI). */
  warning: string;
}

/**
 * Where a client's public keys are registered and where a client assertion is proven. The engine uses
 * it without knowing which provider is behind it; each adapter keeps its provider's details (how a key
 * is written, what proof a write needs) to itself.
 */
export interface IdentityProvider {
  /** The provider's kind, for messages and telemetry (a configuration key, not behaviour). */
  readonly kind: string;
  /** The client at the provider, for messages: "app <client id>", "client <id>". */
  readonly client: string;
  readonly rules: IdpRules;
  /** Every key registered for the client, usable or not. */
  listKeys(): Promise<IdpKey[]>;
  /**
   * Register the key; idempotent: a key already registered (same kid or thumbprint) is returned as is.
   * `current` signs with the client's currently valid key, for providers whose writes need a proof of
   * possession; without it such a provider falls back to its privileged path or refuses.
   */
  register(material: PublicKeyMaterial, current?: JwsSigner): Promise<IdpKey>;
  /** Make a registered key usable (no-op where registration already does). */
  activate(key: IdpKey): Promise<void>;
  /** Stop a key being usable without deleting it (no-op where not applicable). */
  withdraw(key: IdpKey): Promise<void>;
  /** Delete the key, after withdraw where the provider requires it. Resolves when it is already gone. */
  remove(key: IdpKey, current?: JwsSigner): Promise<void>;
  /**
   * One token request with a client assertion signed by `signer`, shaped like the one Kong makes (`kong`:
   * what the plugin sends). Never returns the token.
   */
  verify(signer: JwsSigner, alg: SigningAlg, kong?: KongTokenRequest): Promise<TokenAttempt>;
  /**
   * Before a new generation is created without a current key to sign with (bootstrap, every key
   * expired): the error registering it would meet, when the provider can tell without writing; undefined
   * when it cannot, or when registration needs no proof of possession (IdpRules.proofOfPossession false).
   */
  preflightRegister(current: boolean): Promise<RotatorError | undefined>;
  /** A hint for a key the token endpoint keeps rejecting: where to look at this provider. */
  verifyHint(x5t: string): string;
  /**
   * Read-only checks of the client's settings that rotation depends on at this provider (doctor), with
   * what doctor knows of the credential's keys. Every provider answers; an empty list: nothing to check.
   */
  diagnose(context: IdpDiagnosisContext): Promise<IdpFinding[]>;
  /** Migration from a client secret: how secret authentication ends here. */
  readonly secretMigration: SecretMigrationRules;
  /** The client's secrets (metadata only), usable or not. */
  listSecrets(): Promise<IdpSecret[]>;
  /**
   * `switch` providers: switch the client's authentication to private_key_jwt (which ends its secrets);
   * idempotent. Others: nothing to do (their registration or nothing ends the secret).
   */
  switchToKeys(): Promise<void>;
  /**
   * Retire one secret. `none` providers remove it (resolves when it is already gone); at the others the
   * cutover already ended it, and this resolves once the provider no longer lets it authenticate (else
   * throws MIGRATE_SECRET_STILL_USABLE).
   */
  retireSecret(secret: IdpSecret): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Kong
// ---------------------------------------------------------------------------------------------

/** What one Kong target currently holds for our client (public fields only). */
export interface KongPluginView {
  pluginId: string;
  workspace?: string;
  /** Index of our client_id in config.client_id. */
  clientIndex: number;
  kid?: string;
  x5t?: string;
  alg?: string;
  /** First characters of the modulus, to compare keys without showing them. */
  modulusPrefix?: string;
  /** config.scopes as Kong sends them to the token endpoint (["openid"] when unset). */
  scopes?: string[];
}

/**
 * Our client's authentication in one plugin, as a migration from a client secret sees it
 * (docs/migration.md). `secret`: our own client_secret[i] still holds a secret; `secretHint`: its first
 * three characters (Microsoft Graph's `hint`), absent for a vault reference. Never the secret itself.
 */
export interface KongClientAuthView extends KongPluginView {
  /** Effective client_auth for our client (ours, else the first entry). */
  auth?: string;
  secret: boolean;
  secretHint?: string;
}

/** What apply() did: the plugins as read back (or as read, when nothing had to change). */
export interface KongApplyReceipt {
  plugins: KongPluginView[];
  /** Did apply write anything? False when every plugin already held the key. */
  wrote: boolean;
}

/**
 * Where a target's confirmation starts: what the gateways held before the write (opaque, short, public:
 * config hashes, never config) and when the current confirmation window began. Persisted by the engine so
 * that a later run resumes the same confirmation.
 */
export interface KongConfirmBase {
  /** From baseline(), taken before the write; absent when the target needs none or it is unknown. */
  baseline?: string;
  /**
   * When the write happened; after a window that ended unconfirmed, when the new attempt's window began
   * (what the gateways reported before it, such as an apply-failure event, no longer counts).
   */
  appliedAt: Date;
}

/** A gateway (data plane, DB-less node, proxy pod) that does not hold the key yet, by name. */
export type KongConfirmation =
  | { state: "confirmed"; detail: string }
  | { state: "pending"; detail: string; lagging: string[] }
  | { state: "failed"; code: string; detail: string; lagging: string[] };

export interface KongApplyOptions {
  /**
   * Migration from a client secret: the same write also sets our client_auth entry to private_key_jwt
   * (our client may still use a client secret method).
   */
  switchAuth?: boolean;
}

/**
 * What a target did about the tokens its gateways cached with the previous credential, after a
 * key-compromise activation (docs/kong-token-cache.md has the facts per kind):
 * - `cleared`: this call made the gateways drop them (e.g. `DELETE /cache` on a traditional node);
 * - `by-activation`: the activation's write already did (a declarative reload purges a node's cache);
 * - `not-possible`: nothing this kind offers the rotator clears them.
 * `detail` says what was done and what is left (never a secret).
 */
export interface KongTokenCacheClearing {
  state: "cleared" | "by-activation" | "not-possible";
  detail: string;
}

export interface KongTarget {
  readonly name: string;
  /**
   * How long the gateways may take to hold a written key before confirmation fails (ms). 0: the write is
   * confirmed by its read-back (a traditional node serves what its database holds).
   */
  readonly maxLagMs: number;
  /** Read-only: node info and every resolved plugin's public facts, without rejecting bad plugins. */
  diagnose(): Promise<KongDiagnosis>;
  /** Resolve the plugin(s) and report our client's current JWK. Throws typed errors for bad plugins. */
  inspect(): Promise<KongPluginView[]>;
  /**
   * Vault-reference mode: Kong's vault entity with this prefix, read where the gateways will look for it
   * (one for a shared database, control plane or KIC; one per DB-less node). Never throws: a failed read is
   * a diagnosis in state `error`.
   */
  vaults(prefix: string): Promise<KongVaultDiagnosis[]>;
  /**
   * What the gateways hold before a write (e.g. the live data planes' config hashes), at most 120
   * characters, for confirm(); undefined when confirmation needs no baseline.
   */
  baseline(): Promise<string | undefined>;
  /**
   * Replace only our client's client_jwk entry in every resolved plugin, then read back and compare with the
   * one rule for every kind (src/adapters/kong/common/readback.ts): an entry read back with another kid, n, e or
   * alg throws KONG_READBACK_MISMATCH, so a receipt's plugins hold the key. The engine trusts it.
   */
  apply(jwk: KongPrivateJwk, options?: KongApplyOptions): Promise<KongApplyReceipt>;
  /**
   * Migration from a client secret: how this kind makes the switch. `one-write`: apply() with
   * `switchAuth` sets client_auth[i] and client_jwk[i] in one write per plugin, and dropSecret() removes
   * the secret. `unsupported`: the kind cannot write them as one change (the reason is in the hint of the
   * error apply() and dropSecret() throw, KONG_MIGRATION_UNSUPPORTED).
   */
  readonly authMigration: "one-write" | "unsupported";
  /** Our client's authentication in every resolved plugin; does not reject a client secret method. */
  clientAuth(): Promise<KongClientAuthView[]>;
  /**
   * Take our secret out of client_secret (a form the plugin schema accepts: dropped when last, else a
   * marker), once our client uses private_key_jwt, and read it back. Resolves `wrote: false` when no
   * plugin holds it any more.
   */
  dropSecret(): Promise<KongApplyReceipt>;
  /** Do the gateways behind this target hold the key now? One look, no waiting. */
  confirm(expect: { kid: string }, since: KongConfirmBase): Promise<KongConfirmation>;
  /**
   * After a key-compromise activation: make the gateways drop the tokens they cached with the previous
   * credential where this kind allows it; a kind that cannot declares it (`not-possible`, with why).
   * Idempotent. Throws typed errors when a call it needs fails.
   */
  clearTokenCache(): Promise<KongTokenCacheClearing>;
}

// ---------------------------------------------------------------------------------------------
// The engine's ports together
// ---------------------------------------------------------------------------------------------

export interface EnginePorts {
  store: CertificateStore;
  idp: IdentityProvider;
  kong: KongTarget[];
  clock: Clock;
  logger: Logger;
}
