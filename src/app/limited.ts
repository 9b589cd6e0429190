/**
 * Rate-aware ports: the Key Vault store and identity-provider key writes wrapped with sliding-window limiters
 * from src/limits.ts, shared by every credential of the process (Key Vault's: by every credential of the
 * same vault). A call waits for room in the window
 * instead of drawing a 429; Retry-After handling (http/retry.ts) remains the backstop when other
 * processes share the same limit.
 */
import type { Clock, CertificateStore, PlainSecrets } from "../ports/engine.js";
import { RotatorError } from "../errors.js";
import { RATE_DEFERRED } from "../engine/wait.js";
import type { Limits, ProviderWriteLimit, RateLimit } from "../limits.js";

export interface Limiter {
  readonly limit: RateLimit;
  /** Resolves when one more call fits in the window (and counts it). */
  take(): Promise<void>;
  /**
   * Like `take` when room comes within `maxWaitMs`; otherwise reserves the first free slot and answers
   * its time without waiting, so the caller can come back then (a queue message with that delay) instead
   * of holding its worker. A later `acquire` at or after a reserved time claims that slot.
   */
  acquire(maxWaitMs: number): Promise<{ granted: true } | { granted: false; at: Date }>;
}

/**
 * Grants are spaced by the window plus this margin: the service counts requests when they arrive, which
 * can be a little later than when they were granted here.
 */
const ARRIVAL_MARGIN_MS = 500;

/** Sliding window: at most `requests` grants in any `perMs`; waiters are served in order. */
export function slidingWindow(limit: RateLimit, clock: Clock): Limiter {
  const window = limit.perMs + ARRIVAL_MARGIN_MS;
  /** Grant times, ascending; future ones are reservations (or grants whose holder sleeps until then). */
  const grants: number[] = [];
  /** Reserved times nobody has come back for yet, ascending. */
  const reserved: number[] = [];
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const mine = tail.then(f);
    tail = mine.catch(() => undefined);
    return mine;
  };
  /** The first time ≥ now at which one more grant fits. */
  const nextSlot = (now: number): number => {
    while (grants.length && grants[0]! <= now - window) grants.shift();
    while (reserved.length && reserved[0]! <= now - window) reserved.shift();
    if (grants.length < limit.requests) return now;
    return Math.max(now, grants[grants.length - limit.requests]! + window);
  };
  const acquire = (maxWaitMs: number) =>
    serial(async (): Promise<{ granted: true } | { granted: false; at: Date }> => {
      const now = clock.now().getTime();
      // A reserved slot due within this caller's budget: it takes it (whoever comes back first; deferred
      // work is delivered a little early, see app/fleet.ts EARLY_DELIVERY_MS).
      if (reserved.length && reserved[0]! <= now + maxWaitMs) {
        const at = reserved.shift()!;
        if (at > now) await clock.sleep(at - now);
        return { granted: true };
      }
      const at = nextSlot(now);
      grants.push(at);
      if (at - now <= maxWaitMs) {
        if (at > now) await clock.sleep(at - now);
        return { granted: true };
      }
      reserved.push(at);
      return { granted: false, at: new Date(at) };
    });
  return {
    limit,
    acquire,
    async take() {
      await acquire(Number.POSITIVE_INFINITY);
    },
  };
}

/** One Key Vault's limiters: the documented limits are per vault, so each vault has its own. */
export interface VaultLimiters {
  keyVaultCreates: Limiter;
  keyVaultOther: Limiter;
}

export interface FleetLimiters extends VaultLimiters {
  graphWritesPerApp: Limiter;
  graphWritesPerTenant: Limiter;
}

export function vaultLimiters(limits: Limits, clock: Clock): VaultLimiters {
  return {
    keyVaultCreates: slidingWindow(limits.keyVaultCreates, clock),
    keyVaultOther: slidingWindow(limits.keyVaultOther, clock),
  };
}

/** The default vault's limiters and the tenant's Graph limiters. */
export function createLimiters(limits: Limits, clock: Clock): FleetLimiters {
  return {
    ...vaultLimiters(limits, clock),
    graphWritesPerApp: slidingWindow(limits.graphWritesPerApp, clock),
    graphWritesPerTenant: slidingWindow(limits.graphWritesPerTenant, clock),
  };
}

function rateDeferred(limit: RateLimit, at: Date): RotatorError {
  return new RotatorError(
    RATE_DEFERRED,
    `the Key Vault create rate (${limit.requests} per ${limit.perMs / 1000} s) has its next free slot at ${at.toISOString()}`,
    "Not a failure: the work continues at that time.",
    { retryable: true, details: { until: at.toISOString() } },
  );
}

/** Every store call takes a Key Vault slot; creates (and imports) take an RSA-create slot too. */
export function limitedStore(store: CertificateStore, l: VaultLimiters): CertificateStore {
  const other = async <T>(call: () => Promise<T>): Promise<T> => {
    await l.keyVaultOther.take();
    return call();
  };
  const create = async <T>(call: () => Promise<T>): Promise<T> => {
    await l.keyVaultCreates.take();
    return call();
  };
  return {
    // A run with a wait budget is not held for the create rate: it comes back at its reserved slot.
    async createVersion(name, policy, tags, wait = {}) {
      const slot = await l.keyVaultCreates.acquire(wait.maxWaitMs ?? Number.POSITIVE_INFINITY);
      if (!slot.granted) throw rateDeferred(l.keyVaultCreates.limit, slot.at);
      return store.createVersion(name, policy, tags, wait);
    },
    importVersion: (...a) => create(() => store.importVersion(...a)),
    awaitPendingCreate: (...a) => other(() => store.awaitPendingCreate(...a)),
    listVersions: (...a) => other(() => store.listVersions(...a)),
    getPolicy: (...a) => other(() => store.getPolicy(...a)),
    getCertificateDer: (...a) => other(() => store.getCertificateDer(...a)),
    secretInfo: (...a) => other(() => store.secretInfo(...a)),
    readPem: (...a) => other(() => store.readPem(...a)),
    updateVersion: (...a) => other(() => store.updateVersion(...a)),
    signer(name, version, thumbprints) {
      const s = store.signer(name, version, thumbprints);
      return { ...s, sign: (input, alg) => other(() => s.sign(input, alg)) };
    },
    ...(store.listCertificates ? { listCertificates: () => other(() => store.listCertificates!()) } : {}),
    ...(store.secrets ? { secrets: limitedSecrets(store.secrets, other) } : {}),
    // Another vault has limits of its own; sharing this vault's limiter only makes it slower.
    ...(store.secretsAt ? { secretsAt: (url: string) => limitedSecrets(store.secretsAt!(url), other) } : {}),
  };
}

function limitedSecrets(s: PlainSecrets, other: <T>(call: () => Promise<T>) => Promise<T>): PlainSecrets {
  return {
    vaultUrl: s.vaultUrl,
    set: (...a) => other(() => s.set(...a)),
    get: (...a) => other(() => s.get(...a)),
    disable: (...a) => other(() => s.disable(...a)),
  };
}

/**
 * One key write at an identity provider waits for a slot of each fleet limiter its registry entry names
 * (IdpKindRules.writeLimits; none: its writes are not rate-planned, 429 + Retry-After is the backstop).
 */
export function writeSlot(l: FleetLimiters, limits: readonly ProviderWriteLimit[]): () => Promise<void> {
  return async () => {
    for (const name of limits) await l[name].take();
  };
}
