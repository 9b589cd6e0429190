/**
 * What `doctor` reads from the engine's ports (./engine.ts: `IdentityProvider.diagnose`,
 * `KongTarget.diagnose` and `KongTarget.vaults`): public facts only, never key material. The engine itself
 * reads only `KongVaultDiagnosis`, to check Kong's vault entity before it writes references.
 */

// ---------------------------------------------------------------------------------------------
// Identity provider
// ---------------------------------------------------------------------------------------------

/** A provider-specific preflight finding for `doctor` (public facts only). */
export interface IdpFinding {
  status: "pass" | "info" | "warn" | "fail";
  code: string;
  message: string;
  hint?: string;
}

/** What doctor knows of the credential's keys when it asks the provider for its findings. */
export interface IdpDiagnosisContext {
  /**
   * The current generation's key (active, registered and valid at the provider), which can sign a proof
   * of possession for the next write: its x5t; null when there is none; undefined when Key Vault could not
   * be read (unknown).
   */
  currentKey: string | null | undefined;
}

// ---------------------------------------------------------------------------------------------
// Kong
// ---------------------------------------------------------------------------------------------

/** Kong node facts that decide whether and how the Admin API can be written (GET /). */
export interface KongNodeInfo {
  version?: string;
  /** configuration.database: "off" means DB-less (read-only Admin API). */
  database?: string;
  /** configuration.role: traditional, control_plane or data_plane. */
  role?: string;
}

/** Public facts about one resolved plugin, for preflight checks. Never private JWK members. */
export interface KongPluginDiagnosis {
  pluginId: string;
  name: string;
  workspace?: string;
  /** Index of our client_id in config.client_id; -1 when absent. */
  clientIndex: number;
  /** How many clients config.client_id lists. */
  clients?: number;
  /** Effective client_auth / client_alg for our client (parallel arrays falling back to entry 0). */
  clientAuth?: string;
  clientAlg?: string;
  /** Our effective client_jwk entry, public members only (n is the public modulus). */
  jwk?: { kid?: string; x5t?: string; x5tS256?: string; alg?: string; kty?: string; n?: string; e?: string };
  /** Our client has no client_jwk entry of its own: `jwk` is client_jwk[0], another client's key. */
  jwkIsFallback?: boolean;
  /**
   * How our effective entry holds the private members d, p, q, dp, dq, qi: all as `{vault://...}`
   * references, inline (any member a literal value), or none of them set. Never the values.
   */
  jwkPrivate?: "reference" | "inline" | "none";
  /** When jwkPrivate is "reference": the distinct `<vault prefix>/<secret name>` the references name. */
  jwkReferences?: string[];
  issuer?: string;
  issuersAllowed?: string[];
  /** config.scopes as Kong requests them (["openid"] when unset). */
  scopes?: string[];
  /** config.session_storage ("cookie" by default). */
  sessionStorage?: string;
}

/** One permission a target needs, and whether the platform grants it to the rotator's identity. */
export interface KongAccessCheck {
  /** What is asked, e.g. `get pods/proxy in namespace kong`. */
  permission: string;
  /** False for what only sharpens a step (e.g. reading events): the target works without it. */
  required: boolean;
  allowed: boolean;
  /** The rule that grants it, for the hint. */
  grant: string;
}

/** One gateway behind a target (data plane, DB-less node, proxy pod, Konnect node), public facts only. */
export interface KongGatewayDiagnosis {
  name: string;
  /** Seen recently (data planes and Konnect nodes); false for stale rows of disconnected gateways. */
  live: boolean;
  configHash?: string;
  /** Does it run the config the control plane expects (when the target can tell)? */
  inSync?: boolean;
  version?: string;
  syncStatus?: string;
  /** Why it could not be read. */
  error?: string;
}

/**
 * Vault-reference mode: Kong's vault entity for the target's configured prefix, as one gateway's Admin API
 * (or Konnect) returns it. Public configuration only (Kong keeps the client secret in an env var).
 * - `found`: the entity; `config.*` members as stored (null/absent when the node's env config supplies them);
 *   `notApplied` when a controller owns it and has not applied it to Kong (KIC's KongVault `Programmed`
 *   condition `False`: refused, `Unknown`: pending; `detail` is its reason and message);
 * - `missing`: no entity with that prefix;
 * - `env`: the prefix is the backend name `azure`, whose config is the node's KONG_VAULT_AZURE_* env, which
 *   no API shows;
 * - `error`: the read failed (`error` is a code and message, never a body; `hint` what would fix it, e.g. the
 *   RBAC rule to grant, when the adapter knows).
 */
export type KongVaultDiagnosis = { prefix: string; where?: string } & (
  | {
      state: "found";
      backend: string;
      vaultUri?: string;
      tenantId?: string;
      clientId?: string;
      ttl?: number;
      notApplied?: { state: "refused" | "pending"; detail: string };
    }
  | { state: "missing" }
  | { state: "env" }
  | { state: "error"; error: string; hint?: string }
);

export interface KongDiagnosis {
  /** How the target is written and confirmed. */
  kind: "admin" | "hybrid" | "dbless" | "konnect" | "kubernetes";
  node: KongNodeInfo;
  plugins: KongPluginDiagnosis[];
  /** The gateways that serve the plugin, when the target has a separate data plane. */
  gateways?: KongGatewayDiagnosis[];
  /** Can the rotator's credential write the plugin? undefined when it cannot tell without writing. */
  canWrite?: boolean;
  /**
   * Each permission the target's calls need, as the platform answers "may I?" without doing it (Kubernetes:
   * SelfSubjectAccessReview). Absent when the target cannot ask.
   */
  access?: KongAccessCheck[];
  /** Vault-reference targets: the vault entity per gateway that holds its own (one for a shared database). */
  vaults?: KongVaultDiagnosis[];
}
