/**
 * Readings of a status view shared by the CLI's text and the status page, so that both say the same:
 * a Kong target's state (never "in sync" while an open alert names it).
 */
import type { OpenAlert } from "../adapters/alerts/dedup.js";
import type { TargetStatus } from "../engine/status.js";
import type { CredentialView } from "./service.js";

export type TargetState = "error" | "alert" | "out-of-sync" | "in-sync";

export interface TargetReading {
  state: TargetState;
  /** Short label: "in sync", "OUT OF SYNC", "error CODE", "ALERT CODE". */
  label: string;
  /** Open alerts that name this target. */
  alerts: OpenAlert[];
}

/**
 * A target that could not be read is in error; one off the active key is out of sync; one on the active key
 * with an open alert naming it is not called in sync: the alert says something about it is still failing
 * (a write that was refused, a gateway that did not confirm).
 */
export function targetReading(view: CredentialView, target: TargetStatus): TargetReading {
  const alerts = (view.alerts ?? []).filter((a) => a.target === target.name);
  if (target.error) return { state: "error", label: `error ${target.error.code}`, alerts };
  if (!target.inSync) return { state: "out-of-sync", label: "OUT OF SYNC", alerts };
  const first = alerts[0];
  if (first) return { state: "alert", label: `ALERT ${first.code}`, alerts };
  return { state: "in-sync", label: "in sync", alerts };
}
