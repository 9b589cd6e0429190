/** Derived facts about a snapshot that the planner, the steps and the status view all ask. Pure. */
import type { EntraApplication, KeyCredential } from "../ports.js";
import { IN_FLIGHT, type Generation } from "./tags.js";
import type { Snapshot, TargetObservation, UnmanagedKey } from "./types.js";

/**
 * The active generation. Activation tags the new generation active before demoting the old one, so a
 * crash in between leaves two: the newest `activatedAt` wins (then the newest version).
 */
export function effectiveActive(generations: readonly Generation[]): Generation | undefined {
  return activesNewestFirst(generations)[0];
}

export function activesNewestFirst(generations: readonly Generation[]): Generation[] {
  return generations
    .filter((g) => g.phase === "active")
    .sort(
      (a, b) =>
        (b.activatedAt?.getTime() ?? 0) - (a.activatedAt?.getTime() ?? 0) ||
        b.createdOn.getTime() - a.createdOn.getTime(),
    );
}

export function inFlight(generations: readonly Generation[]): Generation[] {
  return generations
    .filter((g) => IN_FLIGHT.includes(g.phase))
    .sort((a, b) => b.createdOn.getTime() - a.createdOn.getTime());
}

/** The app's keyCredential for a generation, matched by thumbprint (or by the keyId we recorded). */
export function keyAtApp(
  app: EntraApplication,
  g: Pick<Generation, "x5t" | "entraKeyId">,
): KeyCredential | undefined {
  return app.keyCredentials.find((k) => belongsTo(k, g));
}

function belongsTo(k: KeyCredential, g: Pick<Generation, "x5t" | "entraKeyId">): boolean {
  return (g.x5t !== undefined && k.x5t === g.x5t) || (g.entraKeyId !== undefined && k.keyId === g.entraKeyId);
}

function withinDates(k: KeyCredential, g: Generation, now: Date): boolean {
  const t = now.getTime();
  const start = k.startDateTime ? Date.parse(k.startDateTime) : Number.NEGATIVE_INFINITY;
  const end = k.endDateTime ? Date.parse(k.endDateTime) : Number.POSITIVE_INFINITY;
  return start <= t && t < end && (g.notBefore?.getTime() ?? 0) <= t && t < (g.expiresOn?.getTime() ?? 0);
}

/**
 * The generation whose key can sign Graph addKey/removeKey proofs: Graph requires a proof signed by a
 * *currently valid* certificate of the app (https://learn.microsoft.com/graph/application-rollkeys-prooftoken).
 * That is the active generation when its key is registered at the app and within its dates; otherwise
 * writes must use the PATCH fallback.
 */
export function proofGeneration(s: Snapshot, now: Date): Generation | undefined {
  const active = effectiveActive(s.generations);
  if (!active?.x5t || !active.enabled) return undefined;
  const k = keyAtApp(s.app, active);
  return k && withinDates(k, active, now) ? active : undefined;
}

/** Kong targets that hold the thumbprint (as kid or x5t) in any plugin. */
export function targetsReferencing(s: Snapshot, x5t: string): string[] {
  return s.targets.filter((t) => t.plugins?.some((p) => p.kid === x5t || p.x5t === x5t)).map((t) => t.name);
}

/** Targets whose state is unknown because their inspection failed. */
export function unknownTargets(s: Snapshot): string[] {
  return s.targets.filter((t) => t.error !== undefined).map((t) => t.name);
}

/** Is every plugin of the target on this kid? */
export function targetHolds(t: TargetObservation, kid: string): boolean {
  return t.plugins !== undefined && t.plugins.every((p) => p.kid === kid);
}

/** Keys at the app that match no tracked generation: reported, never touched by the engine. */
export function unmanagedKeys(s: Snapshot): UnmanagedKey[] {
  return s.app.keyCredentials
    .filter((k) => !s.generations.some((g) => belongsTo(k, g)))
    .map((k) => ({ keyId: k.keyId, x5t: k.x5t, displayName: k.displayName }));
}
