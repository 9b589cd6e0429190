/**
 * The documented rate limits the service plans for, in one place. The fleet stays under them by
 * design (limiters in app/limited.ts, one writer per Kong plugin in adapters/lease/plugin-lock.ts);
 * 429 + Retry-After (http/retry.ts) stays the backstop. Each can be overridden in the configuration
 * (`limits:`), e.g. to give each of several Function instances its share: the limiters count per process.
 */
export interface RateLimit {
  /** At most this many calls ... */
  requests: number;
  /** ... in any window of this length. */
  perMs: number;
  /** Where the value comes from. */
  source: string;
}

export interface Limits {
  /** Key Vault: RSA software key creations (certificate creates count here) per vault. */
  keyVaultCreates: RateLimit;
  /** Key Vault: all other transactions per vault (reads, tag updates, signing, list). */
  keyVaultOther: RateLimit;
  /** Microsoft Graph: writes on applications by one app in one tenant (our PATCH/addKey/removeKey). */
  graphWritesPerApp: RateLimit;
  /** Microsoft Graph: writes on applications per tenant, every app together. */
  graphWritesPerTenant: RateLimit;
  /** Kong Admin API: writers per plugin at a time (no compare-and-swap; PATCH replaces arrays). */
  kongWritersPerPlugin: 1;
}

const KV =
  "https://learn.microsoft.com/azure/key-vault/general/service-limits#secrets-managed-storage-account-keys-and-vault-transactions";
const GRAPH = "https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits";

export const DOCUMENTED_LIMITS: Limits = {
  keyVaultCreates: {
    requests: 20,
    perMs: 10_000,
    source: `${KV} (RSA 2,048-bit software key, CREATE: 20 per 10 s per vault)`,
  },
  keyVaultOther: {
    requests: 4_000,
    perMs: 10_000,
    source: `${KV} (all other transactions: 4,000 per 10 s per vault)`,
  },
  graphWritesPerApp: {
    requests: 3_000,
    perMs: 150_000,
    source: `${GRAPH} (application writes: 3,000 per 150 s per app per tenant)`,
  },
  graphWritesPerTenant: {
    requests: 18_000,
    perMs: 300_000,
    source: `${GRAPH} (application writes: 18,000 per 5 min per tenant)`,
  },
  kongWritersPerPlugin: 1,
};

/** The limits an identity provider's key writes count against (its registry entry declares which). */
export type ProviderWriteLimit = "graphWritesPerApp" | "graphWritesPerTenant";

export type LimitOverrides = Partial<Record<Exclude<keyof Limits, "kongWritersPerPlugin">, number>>;

/** The documented limits with `requests` overridden where the configuration says so. */
export function effectiveLimits(overrides: LimitOverrides = {}): Limits {
  const out: Limits = { ...DOCUMENTED_LIMITS };
  for (const [k, v] of Object.entries(overrides) as [keyof LimitOverrides, number | undefined][])
    if (v !== undefined)
      out[k] = { ...out[k], requests: v, source: `configuration (documented: ${out[k].requests})` };
  return out;
}
