/**
 * In-process AlertStateStore for tests and for a CLI run without storage. It keeps the same optimistic
 * concurrency contract as the blob store (see state-blob.ts), so the alerter behaves identically on both:
 * `put` and `delete` succeed only if the entry is still the version this store last read or wrote
 * (absent when never read), and otherwise throw ALERT_STATE_CONFLICT.
 */
import type { AlertStateStore } from "../../ports/infrastructure.js";
import { alertStateConflict, checkAlertKey, type AlertState } from "./state.js";

export function createMemoryAlertStateStore(): AlertStateStore {
  let nextVersion = 1;
  const entries = new Map<string, { value: AlertState; version: number }>();
  /** The version last seen per key; 0 = seen absent. */
  const seen = new Map<string, number>();

  const check = (key: string) => {
    const current = entries.get(key)?.version ?? 0;
    if ((seen.get(key) ?? 0) !== current) {
      seen.delete(key);
      throw alertStateConflict(key);
    }
  };

  return {
    async get(key) {
      checkAlertKey(key);
      const entry = entries.get(key);
      seen.set(key, entry?.version ?? 0);
      return entry ? structuredClone(entry.value) : undefined;
    },
    async put(key, value) {
      checkAlertKey(key);
      check(key);
      const version = nextVersion++;
      entries.set(key, { value: structuredClone(value), version });
      seen.set(key, version);
    },
    async delete(key) {
      checkAlertKey(key);
      if (!entries.has(key)) {
        seen.delete(key);
        throw alertStateConflict(key);
      }
      check(key);
      entries.delete(key);
      seen.set(key, 0);
    },
    async list(prefix) {
      return [...entries.keys()].filter((k) => k.startsWith(prefix)).sort();
    },
  };
}
