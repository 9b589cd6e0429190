/**
 * Rate-aware ports: the Key Vault store and the Graph directory wrapped with sliding-window limiters
 * from src/limits.ts, shared by every credential of the process. A call waits for room in the window
 * instead of drawing a 429; Retry-After handling (http/retry.ts) remains the backstop when other
 * processes share the same limit.
 */
import type { Clock } from "../clock.js";
import type { Limits, RateLimit } from "../limits.js";
import type { CertificateStore, EntraDirectory } from "../ports.js";

export interface Limiter {
  readonly limit: RateLimit;
  /** Resolves when one more call fits in the window (and counts it). */
  take(): Promise<void>;
}

/** Sliding window: at most `requests` grants in any `perMs`; waiters are served in order. */
export function slidingWindow(limit: RateLimit, clock: Clock): Limiter {
  const grants: number[] = [];
  let tail: Promise<void> = Promise.resolve();
  return {
    limit,
    take() {
      const mine = tail.then(async () => {
        for (;;) {
          const now = clock.now().getTime();
          while (grants.length && grants[0]! <= now - limit.perMs) grants.shift();
          if (grants.length < limit.requests) {
            grants.push(now);
            return;
          }
          await clock.sleep(grants[0]! + limit.perMs - now + 1);
        }
      });
      tail = mine.catch(() => undefined);
      return mine;
    },
  };
}

export interface FleetLimiters {
  keyVaultCreates: Limiter;
  keyVaultOther: Limiter;
  graphWritesPerApp: Limiter;
  graphWritesPerTenant: Limiter;
}

export function createLimiters(limits: Limits, clock: Clock): FleetLimiters {
  return {
    keyVaultCreates: slidingWindow(limits.keyVaultCreates, clock),
    keyVaultOther: slidingWindow(limits.keyVaultOther, clock),
    graphWritesPerApp: slidingWindow(limits.graphWritesPerApp, clock),
    graphWritesPerTenant: slidingWindow(limits.graphWritesPerTenant, clock),
  };
}

/** Every store call takes a Key Vault slot; creates (and imports) take an RSA-create slot too. */
export function limitedStore(store: CertificateStore, l: FleetLimiters): CertificateStore {
  const other = async <T>(call: () => Promise<T>): Promise<T> => {
    await l.keyVaultOther.take();
    return call();
  };
  const create = async <T>(call: () => Promise<T>): Promise<T> => {
    await l.keyVaultCreates.take();
    return call();
  };
  return {
    createVersion: (...a) => create(() => store.createVersion(...a)),
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
  };
}

/** Graph writes (addKey, removeKey, PATCH keyCredentials) take a per-app and a per-tenant slot. */
export function limitedDirectory(directory: EntraDirectory, l: FleetLimiters): EntraDirectory {
  const write = async <T>(call: () => Promise<T>): Promise<T> => {
    await l.graphWritesPerTenant.take();
    await l.graphWritesPerApp.take();
    return call();
  };
  return {
    getApplication: (...a) => directory.getApplication(...a),
    addKey: (...a) => write(() => directory.addKey(...a)),
    removeKey: (...a) => write(() => directory.removeKey(...a)),
    patchKeyCredentials: (...a) => write(() => directory.patchKeyCredentials(...a)),
    ...(directory.canPatchKeyCredentials
      ? { canPatchKeyCredentials: (app) => directory.canPatchKeyCredentials!(app) }
      : {}),
  };
}
