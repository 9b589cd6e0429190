/**
 * Resumable waits (docs/engine.md, "Waits"). A step that would have to wait (a Key Vault creation still
 * pending, a verification streak in progress) polls for at most the run's wait budget, persists where it
 * is in the generation's tags, and returns a `wait`; `reconcile` then ends the run with outcome
 * `waiting` and `nextRunAt`, and the caller runs it again at that time.
 */

/** The store's code for "creation still in progress after the caller's wait budget" (ports/engine.ts, `CertificateStore.createVersion`). */
export const KV_CREATE_PENDING = "KV_CREATE_PENDING";

/**
 * A call that the process's own rate plan (src/limits.ts) cannot admit within the wait budget; its
 * `details.until` is the reserved slot. The step returns a wait until then instead of holding a worker.
 */
export const RATE_DEFERRED = "RATE_DEFERRED";

/**
 * When to look at a pending creation again: as often as the Key Vault adapter polls it (1 s; the SDK's
 * own poller waits 2 s, @azure/keyvault-certificates CreateCertificatePoller `intervalInMs`).
 */
export const CREATE_RECHECK_MS = 1_000;

/**
 * A few seconds of in-run polling: enough for a typical self-signed creation and a couple of
 * verification probes, far below any Functions timeout. Callers on a budget (the queue worker, HTTP)
 * pass this; the CLI and tests that want one blocking run pass nothing (Infinity).
 */
export const DEFAULT_WAIT_BUDGET_MS = 5_000;

/** A step that is not finished and must not be retried before `until` (see StepOutcome in ./steps/context.ts). */
export interface StepWait {
  until: Date;
  reason: string;
}
