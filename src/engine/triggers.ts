/**
 * Why a new generation is (or will be) due: a named chain of small policies, evaluated in order, in the
 * manner of cert-manager's `trigger/policies`. Each returns a reason code, a message and the time it is
 * due (now or earlier: due; later: the next scheduled trigger). The first policy that is due wins; its
 * reason code goes to `plan`, `status` and the alerts of a run that fails while carrying it out.
 *
 * The chain decides only whether to START a generation. A generation already in flight is continued by
 * the planner whatever the trigger; a pending request is fulfilled once a generation created after it
 * is active (see plan.ts).
 */
import type { Policy } from "../config/load.js";
import { formatDuration } from "../duration.js";
import { effectiveActive, keyAtIdp } from "./model.js";
import { answers, pendingRequest, policyDifferences, policyFingerprint } from "./requests.js";
import type { Snapshot } from "./types.js";
import type { Generation } from "./tags.js";

export type TriggerReason =
  "NoActiveGeneration" | "ManualRequest" | "Forced" | "KeyMissingAtIdp" | "PolicyChanged" | "Renewal";

export interface Trigger {
  reason: TriggerReason;
  message: string;
  dueAt: Date;
}

export interface TriggerInput {
  snapshot: Snapshot;
  policy: Policy;
  now: Date;
  /** A dry-run projection of `rotate --force` (a real forced request is a ManualRequest). */
  force?: boolean;
}

export interface TriggerPolicy {
  name: TriggerReason;
  evaluate(input: TriggerInput): Trigger | undefined;
}

const due = (reason: TriggerReason, message: string, now: Date): Trigger => ({ reason, message, dueAt: now });

export const noActiveGeneration: TriggerPolicy = {
  name: "NoActiveGeneration",
  evaluate: ({ snapshot, now }) =>
    effectiveActive(snapshot.generations)
      ? undefined
      : due("NoActiveGeneration", "no active generation (bootstrap)", now),
};

/** A pending rotate request asks for a generation created after it; rollbacks are not creations. */
export const manualRequest: TriggerPolicy = {
  name: "ManualRequest",
  evaluate: ({ snapshot, now }) => {
    const held = pendingRequest(snapshot.generations);
    const r = held?.request;
    if (!held || r?.kind !== "rotate" || !r.force) return undefined;
    const answered = snapshot.generations.some((g) => answers(g, held));
    if (answered) return undefined;
    const who = r.actor ? ` by ${r.actor}` : "";
    return due(
      "ManualRequest",
      `forced rotation requested${who} at ${r.requestedAt.toISOString()}` +
        (r.reason ? ` (${r.reason})` : ""),
      now,
    );
  },
};

export const forced: TriggerPolicy = {
  name: "Forced",
  evaluate: ({ force, now }) => (force ? due("Forced", "forced rotation", now) : undefined),
};

/** Someone removed (or deactivated) the active key at the IdP: alerting alone would leave Kong on a dead key. */
export const keyMissingAtIdp: TriggerPolicy = {
  name: "KeyMissingAtIdp",
  evaluate: ({ snapshot, now }) => {
    const active = effectiveActive(snapshot.generations);
    const key = active && keyAtIdp(snapshot.idp.keys, active);
    if (!active || key?.usable) return undefined;
    return due(
      "KeyMissingAtIdp",
      `the active key ${active.x5t ?? active.version} is no longer ${key ? "usable" : "registered"} at ${snapshot.idp.client}`,
      now,
    );
  },
};

/** The configured policy differs from the one the active generation was issued under. */
export const policyChanged: TriggerPolicy = {
  name: "PolicyChanged",
  evaluate: ({ snapshot, policy, now }) => {
    const active = effectiveActive(snapshot.generations);
    // Adopted and older generations carry no fingerprint: unknown is not "changed".
    if (!active?.policy) return undefined;
    const current = policyFingerprint(policy, snapshot.credential);
    if (active.policy === current) return undefined;
    // An operator rolled back away from a generation issued under this very policy: rotating to it again
    // by itself would undo the rollback. Only a further policy change triggers again.
    if (snapshot.generations.some((g) => g.rolledBackAt && g.policy === current)) return undefined;
    return due(
      "PolicyChanged",
      `the policy changed since ${active.x5t ?? active.version} was issued (${policyDifferences(active.policy, current).join(", ")})`,
      now,
    );
  },
};

/**
 * Renewal once the active key expires within renewBefore. After a rollback the restored key is usually
 * already inside that window (it was renewed once), so renewing at once would undo the rollback on the
 * next tick: the restored key then renews when half of renewBefore remains (a forced rotation ends the
 * pause earlier). The KeyExpiring alert keeps warning meanwhile.
 */
export const renewal: TriggerPolicy = {
  name: "Renewal",
  evaluate: ({ snapshot, policy, now }) => {
    const active = effectiveActive(snapshot.generations);
    if (!active?.expiresOn) return undefined;
    const restored = restoredByRollback(snapshot, active);
    const window = restored ? policy.renewBefore / 2 : policy.renewBefore;
    const dueAt = new Date(active.expiresOn.getTime() - window);
    const halved = restored ? " (halved after the rollback that restored it)" : "";
    // Until it is due the message says when renewal will happen, not that it is happening.
    return {
      reason: "Renewal",
      message:
        dueAt.getTime() <= now.getTime()
          ? `the active key expires at ${active.expiresOn.toISOString()}, within renewBefore${halved}`
          : `the active key expires on ${day(active.expiresOn)}; renews on ${day(dueAt)}, ${ahead(window)} before${halved}`,
      dueAt,
    };
  },
};

const day = (d: Date) => d.toISOString().slice(0, 10);
const DAY_MS = 86_400_000;
const ahead = (ms: number) => (ms % DAY_MS === 0 ? `${ms / DAY_MS} days` : formatDuration(ms));

/** The active generation was put back by a rollback (its activation and the rollback share one instant). */
function restoredByRollback(snapshot: Snapshot, active: Generation): boolean {
  const at = active.activatedAt?.getTime();
  return at !== undefined && snapshot.generations.some((g) => g.rolledBackAt?.getTime() === at);
}

/** The chain, in order. */
export const TRIGGER_POLICIES: readonly TriggerPolicy[] = [
  noActiveGeneration,
  manualRequest,
  forced,
  keyMissingAtIdp,
  policyChanged,
  renewal,
];

export interface TriggerDecision {
  /** The first policy that is due now. */
  due?: Trigger;
  /** When nothing is due: the earliest future trigger. */
  next?: Trigger;
}

export function evaluateTriggers(
  input: TriggerInput,
  policies: readonly TriggerPolicy[] = TRIGGER_POLICIES,
): TriggerDecision {
  const results = policies.flatMap((p) => p.evaluate(input) ?? []);
  const dueNow = results.find((t) => t.dueAt.getTime() <= input.now.getTime());
  if (dueNow) return { due: dueNow };
  const next = results.sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime())[0];
  return next ? { next } : {};
}
