/**
 * What the alert state stores share: the value shape, the key alphabet, and the conflict error.
 *
 * Contract of both stores (optimistic concurrency, so two processes reporting the same condition send
 * one notification): `put` and `delete` apply only if the entry is unchanged since this store instance
 * last read or wrote it (a key it never read counts as absent), else they throw ALERT_STATE_CONFLICT
 * and the caller re-reads. Deleting an entry that is absent (as far as this store knows) is a conflict
 * too: someone else resolved it, or this store must read it first.
 */
import { RotatorError } from "../../errors.js";
import type { AlertStateStore } from "../../ports/infrastructure.js";

export type AlertState = Parameters<AlertStateStore["put"]>[1];

export const ALERT_STATE_CONFLICT = "ALERT_STATE_CONFLICT";

/** Keys are '/'-separated segments of URL-safe characters, so they map 1:1 onto blob names. */
export const ALERT_KEY = /^[A-Za-z0-9._~/-]{1,1024}$/;

export function checkAlertKey(key: string): void {
  if (!ALERT_KEY.test(key) || key.startsWith("/") || key.includes("//"))
    throw new RotatorError(
      "ALERT_STATE_KEY_INVALID",
      "alert state key has characters outside [A-Za-z0-9._~-] or empty segments",
      "Build keys with the alerter's key encoding.",
    );
}

export function alertStateConflict(key: string): RotatorError {
  return new RotatorError(
    ALERT_STATE_CONFLICT,
    `alert state ${key} changed concurrently`,
    "Another run updated the same alert; re-read and decide again.",
    { retryable: true },
  );
}

export function isAlertStateConflict(e: unknown): boolean {
  return e instanceof RotatorError && e.code === ALERT_STATE_CONFLICT;
}

const optionalString = (v: unknown) => v === undefined || typeof v === "string";

export function isAlertState(v: unknown): v is AlertState {
  if (v === null || typeof v !== "object") return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o.firstAt === "string" &&
    typeof o.lastSentAt === "string" &&
    typeof o.count === "number" &&
    optionalString(o.phase) &&
    optionalString(o.code) &&
    optionalString(o.message) &&
    optionalString(o.hint) &&
    (o.undelivered === undefined || (Array.isArray(o.undelivered) && o.undelivered.every(isAlertEvent)))
  );
}

function isAlertEvent(v: unknown): boolean {
  if (v === null || typeof v !== "object") return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o.event === "string" &&
    typeof o.status === "string" &&
    typeof o.credential === "string" &&
    typeof o.message === "string" &&
    typeof o.time === "string"
  );
}
