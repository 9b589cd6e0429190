/**
 * No lease at all: for the CLI's explicit `--no-other-writer` flag, where the operator states that
 * nothing else (no Function App, no other CLI) rotates these credentials. Every tryAcquire succeeds and
 * the signal never aborts. Never the default: without storage, the runtime refuses to build unless this
 * was asked for.
 */
import type { Lease, LeaseManager } from "../../ports/infrastructure.js";

export function createNoLeaseManager(): LeaseManager {
  return {
    async tryAcquire(credential, holder): Promise<Lease> {
      return {
        id: `no-other-writer:${credential}:${holder}`,
        signal: new AbortController().signal,
        release: async () => {},
      };
    },
  };
}
