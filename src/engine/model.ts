/** Derived facts about a snapshot that the planner, the steps and the status view all ask. Pure. */
import type { Policy } from "../config/load.js";
import type { SigningAlg } from "../crypto/keymaterial.js";
import { validityAt } from "../crypto/validity.js";
import { IN_FLIGHT, type Generation } from "./tags.js";
import type { Snapshot, TargetObservation, UnmanagedKey } from "./types.js";
import type { IdpKey, KongTokenRequest } from "../ports/engine.js";

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

/**
 * The IdP's key for a generation: the key id recorded when it was registered, or the thumbprint (every
 * key is registered with kid = x5t; providers that keep the certificate report its x5t too).
 */
export function keyAtIdp(
  keys: readonly IdpKey[],
  g: Pick<Generation, "x5t" | "idpKeyId">,
): IdpKey | undefined {
  return keys.find((k) => belongsTo(k, g));
}

/** Registered and usable for client authentication now. */
export function usableAtIdp(keys: readonly IdpKey[], g: Pick<Generation, "x5t" | "idpKeyId">): boolean {
  return keyAtIdp(keys, g)?.usable === true;
}

function belongsTo(k: IdpKey, g: Pick<Generation, "x5t" | "idpKeyId">): boolean {
  return (
    (g.idpKeyId !== undefined && k.id === g.idpKeyId) ||
    (g.x5t !== undefined && (k.x5t === g.x5t || k.kid === g.x5t))
  );
}

/**
 * The generation's certificate is within its dates at `now`; one whose expiry is not known yet (still being
 * issued) is not.
 */
export function generationValid(g: Pick<Generation, "notBefore" | "expiresOn">, now: Date): boolean {
  return (
    g.expiresOn !== undefined &&
    validityAt({ notBefore: g.notBefore, notAfter: g.expiresOn }, now) === "valid"
  );
}

/** Both the IdP's entry (its own dates, when it keeps them) and the generation's certificate are valid now. */
function withinDates(k: IdpKey, g: Generation, now: Date): boolean {
  return (
    validityAt({ notBefore: k.notBefore, notAfter: k.expiresAt }, now) === "valid" && generationValid(g, now)
  );
}

/**
 * For providers whose key writes need a proof of possession (rules.proofOfPossession): the generation
 * whose key is currently valid there, i.e. the active one when its key is registered, usable and within
 * its dates. Its signer goes with those writes; without one the provider takes its privileged path (or
 * refuses). Undefined for providers that need no proof.
 */
export function currentGeneration(s: Snapshot, now: Date): Generation | undefined {
  if (!s.idp.rules.proofOfPossession) return undefined;
  const active = effectiveActive(s.generations);
  if (!active?.x5t || !active.enabled) return undefined;
  const k = keyAtIdp(s.idp.keys, active);
  return k?.usable && withinDates(k, active, now) ? active : undefined;
}

/**
 * The JWS algorithm of a generation: the one it was issued and registered under (the first field of its
 * policy fingerprint, engine/requests.ts), else the current policy's. Some providers fix the algorithm per
 * registered key, so a key pushed again later (rollback, sync, a new target) must keep its own.
 */
export function generationAlgorithm(
  g: Pick<Generation, "policy">,
  policy: Pick<Policy, "algorithm">,
): SigningAlg {
  const issued = g.policy?.split(";")[0];
  return issued === "PS256" || issued === "RS256" ? issued : policy.algorithm;
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

/** Keys at the IdP that match no tracked generation: reported, never touched by the engine. */
export function unmanagedKeys(s: Snapshot): UnmanagedKey[] {
  return s.idp.keys
    .filter((k) => !s.generations.some((g) => belongsTo(k, g)))
    .map((k) => ({
      keyId: k.id,
      ...(k.x5t || k.kid ? { x5t: k.x5t ?? k.kid } : {}),
      ...(k.displayName ? { displayName: k.displayName } : {}),
    }));
}

/**
 * What Kong sends to the token endpoint for the credential's client, read with the plugins in this
 * snapshot: the `config.scopes` of the first plugin of the first Kong target that could be read, in
 * configuration order. Targets whose plugins send other scopes do not change the proof; `doctor` warns
 * about them (KONG_SCOPES_DIFFER). Empty when no target could be read.
 */
export function kongTokenRequest(s: Pick<Snapshot, "targets">): KongTokenRequest {
  for (const t of s.targets) {
    const p = t.plugins?.find((x) => x.scopes !== undefined);
    if (p?.scopes) return { scopes: p.scopes, source: `Kong target ${t.name}, plugin ${p.pluginId}` };
  }
  return {};
}
