/**
 * The one-writer lease: one blob per credential in a container of the service's storage account, held
 * with a Blob Storage lease (https://learn.microsoft.com/rest/api/storageservices/lease-blob).
 *
 * Real behaviours this relies on:
 * - A lease lasts 15-60 s (or infinite, which we never use: a dead holder would keep it forever). While
 *   it is held, Acquire by anyone else answers 409 `LeaseAlreadyPresent`; that means "busy", not failure.
 * - An expired lease can be acquired by anyone, so a holder that dies stops renewing and the next writer
 *   takes over within `leaseSeconds`.
 * - Renew extends the lease by its duration from the time the service processes it; it fails with 409
 *   (`LeaseIdMismatchWithLeaseOperation`, `LeaseIsBrokenAndCannotBeRenewed`, ...) once someone else holds
 *   or broke the lease.
 * - Acquire on a missing blob or container answers 404 `BlobNotFound` / `ContainerNotFound`; creating the
 *   blob with `If-None-Match: *` makes creation idempotent and race-safe (409 `BlobAlreadyExists` for the
 *   losers, https://learn.microsoft.com/rest/api/storageservices/specifying-conditional-headers-for-blob-service-operations).
 * - Writes to a leased blob (metadata here) must carry the lease id, so the holder diagnostics
 *   (`holder`, `acquiredat`) can only be written by the current holder.
 *
 * Renewal runs in the background every `renewEveryMs`. If the lease cannot be confirmed before it would
 * expire (renewal refused, or storage unreachable for too long), `Lease.signal` aborts with LEASE_LOST:
 * from then on another writer may hold it, and the engine must stop at its next step.
 */
import type { BlobLeaseClient, BlobServiceClient, BlockBlobClient } from "@azure/storage-blob";
import { RotatorError } from "../../errors.js";
import { isTransientStatus } from "../../http/transient.js";
import { silentLogger } from "../../log/logger.js";
import { storageError, storageErrorCode } from "../storage.js";
import type { Logger } from "../../ports/engine.js";
import type { Lease, LeaseManager } from "../../ports/infrastructure.js";

export interface BlobLeaseManagerOptions {
  blob: BlobServiceClient;
  /** Container holding one lock blob per credential. */
  container?: string;
  /** Lease duration; Azure accepts 15-60 s. */
  leaseSeconds?: number;
  /** Background renewal period; must be well under the lease duration. Default: a third of it. */
  renewEveryMs?: number;
  logger?: Logger;
}

export const DEFAULT_LEASE_CONTAINER = "rotator-locks";
const DEFAULT_LEASE_SECONDS = 15;
/** Abort this long before the lease could expire, so work stops before another writer can take over. */
const SAFETY_MARGIN_MS = 1_000;
/** Blob names are credential names; config restricts them further (lower-case letters, digits, '-'). */
const LOCK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function createBlobLeaseManager(opts: BlobLeaseManagerOptions): LeaseManager {
  const leaseSeconds = opts.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 15 || leaseSeconds > 60)
    throw new RotatorError(
      "LEASE_CONFIG_INVALID",
      `lease duration ${leaseSeconds} s is outside 15-60 s`,
      "Azure Blob leases last 15 to 60 seconds; use a value in that range.",
    );
  const leaseMs = leaseSeconds * 1000;
  const renewEveryMs = opts.renewEveryMs ?? Math.floor(leaseMs / 3);
  if (!(renewEveryMs > 0 && renewEveryMs < leaseMs - SAFETY_MARGIN_MS))
    throw new RotatorError(
      "LEASE_CONFIG_INVALID",
      `renewal period ${renewEveryMs} ms does not fit in a ${leaseSeconds} s lease`,
      "Renew well within the lease duration (the default is a third of it).",
    );
  const logger = opts.logger ?? silentLogger;
  const container = opts.blob.getContainerClient(opts.container ?? DEFAULT_LEASE_CONTAINER);

  async function ensureContainer(): Promise<void> {
    try {
      await container.createIfNotExists();
    } catch (e) {
      throw storageError(e, "LEASE", `create lease container ${container.containerName}`);
    }
  }

  async function ensureBlob(blob: BlockBlobClient, credential: string): Promise<void> {
    try {
      await blob.upload("", 0, { conditions: { ifNoneMatch: "*" } });
    } catch (e) {
      const { statusCode } = storageErrorCode(e);
      // Someone else created it first (409 BlobAlreadyExists), or it exists and is leased (412).
      if (statusCode === 409 || statusCode === 412) return;
      throw storageError(e, "LEASE", `create lock blob for ${credential}`);
    }
  }

  async function logBusy(blob: BlockBlobClient, credential: string, holder: string): Promise<void> {
    try {
      const props = await blob.getProperties();
      const meta = props.metadata ?? {};
      logger.log("info", "LeaseBusy", {
        credential,
        requestedBy: holder,
        heldBy: decodeHolder(meta.holder),
        heldSince: meta.acquiredat,
      });
    } catch {
      logger.log("info", "LeaseBusy", { credential, requestedBy: holder });
    }
  }

  return {
    async tryAcquire(credential, holder) {
      if (!LOCK_NAME.test(credential))
        throw new RotatorError(
          "LEASE_NAME_INVALID",
          "credential name is not usable as a lock blob name",
          "Credential names are letters, digits, '.', '_' and '-' (config enforces lower-case and '-').",
        );
      const blob = container.getBlockBlobClient(credential);
      const leaseClient = blob.getBlobLeaseClient();
      let confirmedAt = 0;
      for (let attempt = 1; ; attempt++) {
        confirmedAt = performance.now();
        try {
          await leaseClient.acquireLease(leaseSeconds);
          break;
        } catch (e) {
          const { statusCode, code } = storageErrorCode(e);
          if (statusCode === 409 && code === "LeaseAlreadyPresent") {
            await logBusy(blob, credential, holder);
            return undefined;
          }
          if (statusCode === 404 && attempt < 3) {
            if (code === "ContainerNotFound") await ensureContainer();
            await ensureBlob(blob, credential);
            continue;
          }
          throw storageError(e, "LEASE", `acquire lease for ${credential}`);
        }
      }
      const acquiredAt = new Date().toISOString();
      try {
        await blob.setMetadata(
          { holder: encodeURIComponent(holder), acquiredat: acquiredAt },
          { conditions: { leaseId: leaseClient.leaseId } },
        );
      } catch (e) {
        // Diagnostics only: the lease itself is held; renewal decides whether it stays held.
        logger.log("warn", "LeaseMetadataWriteFailed", {
          credential,
          error: storageError(e, "LEASE", "write lease holder"),
        });
      }
      logger.log("info", "LeaseAcquired", { credential, holder, leaseSeconds });
      return holdLease({ leaseClient, credential, leaseMs, renewEveryMs, confirmedAt, logger });
    },
  };
}

function decodeHolder(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

interface HoldOptions {
  leaseClient: BlobLeaseClient;
  credential: string;
  leaseMs: number;
  renewEveryMs: number;
  /** performance.now() when the acquire request was sent: the lease runs at least leaseMs from then. */
  confirmedAt: number;
  logger: Logger;
}

function holdLease(o: HoldOptions): Lease {
  const controller = new AbortController();
  let done = false;
  let renewTimer: NodeJS.Timeout | undefined;
  let expiryTimer: NodeJS.Timeout | undefined;

  const stopTimers = () => {
    clearTimeout(renewTimer);
    clearTimeout(expiryTimer);
  };

  const lose = (message: string, cause?: unknown) => {
    if (done) return;
    done = true;
    stopTimers();
    const error = new RotatorError(
      "LEASE_LOST",
      `lease for ${o.credential} lost: ${message}`,
      "Another writer may now hold the credential's lease; this run stops at its next step and a later run converges.",
      cause === undefined ? {} : { cause },
    );
    o.logger.log("warn", "LeaseLost", { credential: o.credential, error });
    controller.abort(error);
  };

  /** The lease is only known to be ours until confirmedAt + leaseMs; abort before then unless renewed. */
  const armExpiry = (confirmedAt: number) => {
    clearTimeout(expiryTimer);
    const remaining = confirmedAt + o.leaseMs - SAFETY_MARGIN_MS - performance.now();
    expiryTimer = setTimeout(
      () => lose("not renewed before expiry (storage unreachable?)"),
      Math.max(0, remaining),
    );
    expiryTimer.unref();
  };

  const scheduleRenew = (delayMs: number) => {
    renewTimer = setTimeout(() => void renew(), delayMs);
    renewTimer.unref();
  };

  const renew = async () => {
    if (done) return;
    const sentAt = performance.now();
    try {
      await o.leaseClient.renewLease({ abortSignal: AbortSignal.timeout(o.renewEveryMs) });
      if (done) return;
      armExpiry(sentAt);
      scheduleRenew(o.renewEveryMs);
    } catch (e) {
      if (done) return;
      const { statusCode } = storageErrorCode(e);
      // A 4xx answer is definite (someone else holds, broke or deleted it); anything else is transient
      // and retried until the expiry timer says the lease can no longer be ours.
      if (
        statusCode !== undefined &&
        statusCode >= 400 &&
        statusCode < 500 &&
        !isTransientStatus(statusCode)
      ) {
        lose("renewal refused", storageError(e, "LEASE", `renew lease for ${o.credential}`));
        return;
      }
      o.logger.log("warn", "LeaseRenewFailed", {
        credential: o.credential,
        error: storageError(e, "LEASE", "renew lease"),
      });
      scheduleRenew(Math.min(1_000, o.renewEveryMs));
    }
  };

  armExpiry(o.confirmedAt);
  scheduleRenew(o.renewEveryMs);

  return {
    id: o.leaseClient.leaseId,
    signal: controller.signal,
    async release() {
      if (done) return;
      done = true;
      stopTimers();
      try {
        await o.leaseClient.releaseLease();
        o.logger.log("info", "LeaseReleased", { credential: o.credential });
      } catch (e) {
        // Never throws: release runs in finally blocks, and an unreleased lease expires on its own.
        o.logger.log("warn", "LeaseReleaseFailed", {
          credential: o.credential,
          error: storageError(e, "LEASE", "release lease"),
        });
      }
    },
  };
}
