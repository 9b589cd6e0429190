/**
 * When does a credential next have rotation work? Written by `reconcile` at the end of every clean run
 * (the `rotator-nextDue` tag on the active generation) and read by the fleet timer from one Key Vault
 * certificate listing, which reports the tags and expiry of each certificate's latest version. So a tick
 * where nothing is due costs one list call per 25 certificates and no IdP or Kong call.
 *
 * One "due" rule: the recorded time is the trigger chain's answer (triggers.ts through plan.ts
 * nextScheduled), written on the version the listing reports (the newest, which after a rollback is not
 * the active one), stamped with the configuration it was computed under. The timer never re-decides
 * renewal or a policy change itself. Anything the listing cannot vouch for (no certificate, a version in
 * flight, no recorded due time, a configuration changed since) is work, and the run that follows finds
 * out (at worst one noop run, which then records the due time).
 */
import { createHash } from "node:crypto";
import type { Policy } from "../config/load.js";
import type { CertificateSummary } from "../ports/engine.js";
import { effectiveActive } from "./model.js";
import { nextScheduled } from "./plan.js";
import { migrationUnfinished } from "./migration.js";
import { decodeRequest, pendingRequest, policyFingerprint } from "./requests.js";
import { IN_FLIGHT, TAG_NEXT_DUE, TAG_PHASE, TAG_REQUEST, type Generation, type TagChanges } from "./tags.js";
import type { Snapshot } from "./types.js";

/**
 * The configuration the trigger chain read when it computed a due time: the certificate policy (the
 * PolicyChanged trigger) and renewBefore (the Renewal trigger). Recorded beside the due time, so that the
 * timer knows when the recorded time no longer answers for today's configuration. 8 hex digits.
 */
export function scheduleStamp(policy: Policy, credentialName: string): string {
  return createHash("sha256")
    .update(`${policyFingerprint(policy, credentialName)}|${policy.renewBefore}`)
    .digest("hex")
    .slice(0, 8);
}

/** `<ISO due time> <stamp>`; a value without a stamp (older releases) reads as unstamped. */
function formatNextDue(at: Date, stamp: string): string {
  return `${at.toISOString()} ${stamp}`;
}

function parseNextDue(v: string | undefined): { at: Date; stamp?: string } | undefined {
  const [iso, stamp] = (v ?? "").split(" ");
  const at = new Date(iso ?? "");
  return Number.isNaN(at.getTime()) ? undefined : { at, ...(stamp ? { stamp } : {}) };
}

/**
 * The version the certificate listing reports for a credential: the newest one. After a rollback that
 * is the generation rolled back from (or an abandoned one), not the active one.
 */
function latest(generations: readonly Generation[]): Generation | undefined {
  return [...generations].sort((a, b) => b.createdOn.getTime() - a.createdOn.getTime())[0];
}

/**
 * The tag change that records when a run next has work, on the version the fleet timer sees (the newest);
 * undefined when unchanged. The time is the trigger chain's own answer (plan.ts nextScheduled, from
 * triggers.ts), so the timer cannot disagree with the run: after a rollback it carries the halved
 * renewal window and the policy-change exception like every run does.
 */
export function nextDueChange(
  s: Snapshot,
  now: Date,
): { generation: Generation; changes: TagChanges } | undefined {
  const shown = latest(s.generations);
  // A version in flight is work for the timer whatever its tags say; a pending request is recorded
  // on the active generation and is work by itself.
  if (!shown || IN_FLIGHT.includes(shown.phase) || !effectiveActive(s.generations)) return undefined;
  // A pending request or an unfinished migration is work the next run continues (never declines).
  const next =
    pendingRequest(s.generations) || migrationUnfinished(s.generations)
      ? { at: now }
      : nextScheduled(s, s.policy, now);
  if (!next) return undefined;
  const value = formatNextDue(next.at, scheduleStamp(s.policy, s.credential));
  if (shown.tags[TAG_NEXT_DUE] === value) return undefined;
  return { generation: shown, changes: { [TAG_NEXT_DUE]: value } };
}

/**
 * Why the credential has work now, from its certificate's listing entry; undefined: nothing is due.
 * Nothing here re-decides renewal or a policy change: the recorded due time is the run's own decision,
 * valid while the configuration it was computed under (its stamp) is today's.
 */
export function workDue(
  summary: CertificateSummary | undefined,
  policy: Policy,
  credentialName: string,
  now: Date,
): string | undefined {
  if (!summary) return "no certificate yet (bootstrap)";
  const phase = summary.tags[TAG_PHASE];
  if (phase === undefined) return "the latest version is not managed yet";
  if ((IN_FLIGHT as readonly string[]).includes(phase)) return `the latest version is ${phase}`;
  if (!summary.x5t || !summary.expiresOn) return "the latest version is still being issued";
  // A manual request is recorded on the active generation (engine/requests.ts).
  if (decodeRequest(summary.tags[TAG_REQUEST])?.state === "pending") return "a manual request is pending";
  const due = parseNextDue(summary.tags[TAG_NEXT_DUE]);
  if (!due) return "no next due time recorded";
  if (due.stamp !== scheduleStamp(policy, credentialName))
    return "the configuration changed since the last run";
  if (due.at <= now) return `work was due at ${due.at.toISOString()}`;
  return undefined;
}
