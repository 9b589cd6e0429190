/**
 * When does a credential next have rotation work? Written by `reconcile` at the end of every clean run
 * (the `rotator-nextDue` tag on the active generation) and read by the fleet timer from one Key Vault
 * certificate listing, which reports the tags and expiry of each certificate's latest version. So a tick
 * where nothing is due costs one list call per 25 certificates and no IdP or Kong call.
 *
 * The answer errs towards "work": anything the listing cannot vouch for (no certificate, a version in
 * flight, no recorded due time, a latest version that is not the active one) is work, and the run that
 * follows finds out (at worst a noop run, which then records the due time).
 */
import type { Policy } from "../config/load.js";
import type { CertificateSummary } from "../ports/engine.js";
import { effectiveActive } from "./model.js";
import { nextScheduled } from "./plan.js";
import { decodeRequest, policyFingerprint } from "./requests.js";
import {
  TAG_NEXT_DUE,
  TAG_PHASE,
  TAG_POLICY,
  TAG_REQUEST,
  type Generation,
  type TagChanges,
} from "./tags.js";
import type { Snapshot } from "./types.js";

/** The tag change that records the next due time on the active generation; undefined when unchanged. */
export function nextDueChange(
  s: Snapshot,
  now: Date,
): { generation: Generation; changes: TagChanges } | undefined {
  const active = effectiveActive(s.generations);
  const next = nextScheduled(s, s.policy, now);
  if (!active || !next) return undefined;
  const value = next.at.toISOString();
  if (active.tags[TAG_NEXT_DUE] === value) return undefined;
  return { generation: active, changes: { [TAG_NEXT_DUE]: value } };
}

/** Why the credential has work now, from its certificate's listing entry; undefined: nothing is due. */
export function workDue(
  summary: CertificateSummary | undefined,
  policy: Policy,
  credentialName: string,
  now: Date,
): string | undefined {
  if (!summary) return "no certificate yet (bootstrap)";
  const phase = summary.tags[TAG_PHASE];
  if (phase === undefined) return "the latest version is not managed yet";
  if (phase !== "active") return `the latest version is ${phase}`;
  if (!summary.x5t || !summary.expiresOn) return "the latest version is still being issued";
  // A manual request is recorded on the active generation (engine/requests.ts).
  if (decodeRequest(summary.tags[TAG_REQUEST])?.state === "pending") return "a manual request is pending";
  // The PolicyChanged trigger (engine/triggers.ts), from the same tag it compares.
  const issued = summary.tags[TAG_POLICY];
  if (issued !== undefined && issued !== policyFingerprint(policy, credentialName))
    return "the certificate policy changed";
  if (summary.expiresOn.getTime() - policy.renewBefore <= now.getTime()) return "renewal is due";
  const due = new Date(summary.tags[TAG_NEXT_DUE] ?? "");
  if (Number.isNaN(due.getTime())) return "no next due time recorded";
  if (due <= now) return `work was due at ${due.toISOString()}`;
  return undefined;
}
