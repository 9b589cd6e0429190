/**
 * One writer per Kong plugin. Several credentials' clients often share one openid-connect plugin, and
 * the Admin API has no compare-and-swap: a PATCH replaces `client_jwk` wholesale, so two writers that
 * both read, then both write, lose one entry. Writes to one plugin are therefore serialised:
 * - across processes and instances by a blob lease per plugin (the same lease mechanism as the
 *   credential's one-writer lease, adapters/lease/blob.ts, in its own container), waited for with a
 *   short jittered back-off;
 * - within a process by a queue per plugin first, so local writers do not poll storage for each other.
 * The Kong adapter re-reads the plugin under the lock, writes, and reads back (adapters/kong/admin/target.ts).
 */
import { createHash, randomUUID } from "node:crypto";
import type { Clock } from "../../ports/engine.js";
import { RotatorError } from "../../errors.js";
import type { LeaseManager } from "../../ports/infrastructure.js";

export interface PluginLock {
  /** Run `fn` as the only writer of the plugin identified by `key` (Admin URL, workspace, plugin id). */
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

export const PLUGIN_LOCK_CONTAINER = "rotator-plugin-locks";
/** Give up waiting for a plugin after this long (a plugin write takes well under a second). */
const DEFAULT_WAIT_MS = 60_000;

/** In-process only: for the CLI without shared storage (`--no-other-writer`) and as the first stage below. */
export function createLocalPluginLock(): PluginLock {
  const tails = new Map<string, Promise<unknown>>();
  return {
    async run(key, fn) {
      const previous = tails.get(key) ?? Promise.resolve();
      const mine = previous.catch(() => undefined).then(fn);
      tails.set(key, mine);
      try {
        return await mine;
      } finally {
        if (tails.get(key) === mine) tails.delete(key);
      }
    },
  };
}

export function createLeasedPluginLock(opts: {
  leases: LeaseManager;
  clock: Clock;
  waitMs?: number;
}): PluginLock {
  const local = createLocalPluginLock();
  const waitMs = opts.waitMs ?? DEFAULT_WAIT_MS;
  const holder = `plugin-writer:${process.pid}:${randomUUID().slice(0, 8)}`;
  return {
    run(key, fn) {
      return local.run(key, async () => {
        const name = `kong-plugin-${createHash("sha256").update(key).digest("hex").slice(0, 40)}`;
        const deadline = opts.clock.now().getTime() + waitMs;
        for (let attempt = 0; ; attempt++) {
          const lease = await opts.leases.tryAcquire(name, holder);
          if (lease) {
            try {
              return await fn();
            } finally {
              await lease.release();
            }
          }
          if (opts.clock.now().getTime() > deadline)
            throw new RotatorError(
              "KONG_PLUGIN_BUSY",
              `another writer held the Kong plugin for more than ${waitMs} ms`,
              "Other rotations write the same plugin; the next run retries.",
              { retryable: true },
            );
          await opts.clock.sleep(Math.min(2_000, 100 * 2 ** Math.min(attempt, 4)) * (0.5 + Math.random()));
        }
      });
    },
  };
}
