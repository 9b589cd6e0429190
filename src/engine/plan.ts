/**
 * The planner: a pure function from a snapshot to the ordered list of next safe actions. It never does
 * I/O; `reconcile` executes the first action that is not blocked, observes again and plans again, so each
 * step is decided on fresh state and a crash at any point leaves a state the planner understands.
 */
import type { Policy } from "../config/load.js";
import {
  activesNewestFirst,
  effectiveActive,
  currentGeneration,
  inFlight,
  generationValid,
  keyAtIdp,
  targetHolds,
  targetsReferencing,
  unknownTargets,
  unmanagedKeys,
} from "./model.js";
import type { Snapshot, UnmanagedKey } from "./types.js";
import type { IdpKey } from "../ports/engine.js";
import type { Generation } from "./tags.js";
import { answers, pendingCompromise, pendingRequest, type HeldRequest } from "./requests.js";
import { evaluateTriggers, type Trigger, type TriggerReason } from "./triggers.js";

interface ActionBase {
  /** Why the planner chose this action (human readable, no secrets). */
  reason: string;
  /** When set, the action is not safe now and is reported as skipped with this reason. */
  blocked?: string;
}

/**
 * Actions on the generation that a preceding `create` will make carry no `version` (dry-run projection).
 */
export type PlannedAction =
  | (ActionBase & { kind: "create"; trigger: TriggerReason })
  | (ActionBase & {
      kind: "publish";
      version?: string;
      x5t?: string;
      /** The current key (x5t) whose signer goes with the registration; absent at bootstrap. */
      signedBy?: string;
    })
  | (ActionBase & { kind: "verify"; version?: string; x5t?: string })
  | (ActionBase & { kind: "activate"; version?: string; x5t?: string })
  | (ActionBase & { kind: "sync"; version: string; x5t: string; target: string })
  | (ActionBase & { kind: "mark-retiring"; version: string; x5t?: string; retireAfter: string })
  | (ActionBase & { kind: "retire"; version: string; x5t?: string; keyId?: string })
  | (ActionBase & { kind: "remove-leaked"; version: string; x5t?: string; keyId: string })
  | (ActionBase & {
      kind: "remove-unusable";
      /** The active generation whose key the IdP holds but does not accept. */
      version: string;
      x5t?: string;
      keyId: string;
    })
  | (ActionBase & { kind: "disable"; version: string; x5t?: string })
  /** A key-compromise rotation with revokeUnmanaged: a key at the IdP that the rotator did not create. */
  | (ActionBase & { kind: "remove-unmanaged"; keyId: string; x5t?: string; requestId: string })
  | (ActionBase & { kind: "rollback"; version?: string; x5t?: string; from?: string; requestId?: string })
  | (ActionBase & {
      kind: "complete-request";
      /** The generation whose tag holds the request. */
      version: string;
      requestId: string;
      /** The generation (thumbprint) that fulfils it. */
      result: string;
    });

export type ActionKind = PlannedAction["kind"];

export interface Plan {
  actions: PlannedAction[];
  /** Keys at the IdP that match no generation: reported, never removed. */
  unmanaged: UnmanagedKey[];
  /** Why a new generation is due now, or the next time one will be (the trigger chain's answer). */
  trigger?: Trigger;
}

export interface PlanOptions {
  /** Dry-run projection of `rotate --force` (a real one is a durable request in the snapshot). */
  force?: boolean;
  /** Dry-run projection of `rotate --rollback`. */
  rollback?: boolean;
}

export function plan(s: Snapshot, policy: Policy, now: Date, options: PlanOptions = {}): Plan {
  const active = effectiveActive(s.generations);
  const current = currentGeneration(s, now);
  // A key-compromise rotation: every generation made before it is revoked without waiting out the overlap.
  const compromise = pendingCompromise(s.generations);
  const revoked = (g: Generation) => compromise !== undefined && !answers(g, compromise);

  const markRetiring: PlannedAction[] = activesNewestFirst(s.generations)
    .slice(1)
    .map((g) => ({
      kind: "mark-retiring",
      version: g.version,
      x5t: g.x5t,
      // The value an uninterrupted activation would have written, so a resumed run converges to it.
      retireAfter: new Date((active?.activatedAt ?? now).getTime() + policy.overlap).toISOString(),
      reason: `a later generation (${active?.x5t ?? "?"}) is active; activation was interrupted before demoting this one`,
    }));

  let working: Generation | undefined;
  for (const g of inFlight(s.generations)) {
    const superseded = !g.x5t
      ? "its certificate was never issued"
      : working
        ? `superseded by the newer in-flight generation ${working.x5t ?? working.version}`
        : active && g.createdOn < active.createdOn
          ? "older than the active generation"
          : revoked(g)
            ? "made before the key-compromise request; the replacement must be made after it"
            : undefined;
    if (superseded)
      markRetiring.push({
        kind: "mark-retiring",
        version: g.version,
        x5t: g.x5t,
        retireAfter: now.toISOString(),
        reason: superseded,
      });
    else working = g;
  }

  const held = pendingRequest(s.generations);
  const rollback =
    held?.request.kind === "rollback"
      ? planRollback(s, now, held)
      : options.rollback
        ? planRollback(s, now, undefined)
        : undefined;
  const rollingBack = rollback !== undefined && !rollback.blocked;

  const decision = evaluateTriggers({ snapshot: s, policy, now, force: options.force });
  const chain = rollingBack
    ? []
    : working
      ? continueChain(s, working, current)
      : decision.due
        ? startChain(s, decision.due, current)
        : [];

  const sync: PlannedAction[] = [];
  // An activation applies the JWK to every target anyway; otherwise targets that left the active key
  // are put back on it. Only onto a key the IdP accepts: pushing an unusable key would cause an outage.
  // A rollback in progress moves the targets itself: re-applying the active key would undo it.
  if (active?.x5t && chain[0]?.kind !== "activate" && !rollingBack) {
    const activeKey = keyAtIdp(s.idp.keys, active);
    const atIdp = activeKey?.usable === true;
    for (const t of s.targets) {
      if (t.plugins === undefined || targetHolds(t, active.x5t)) continue;
      sync.push({
        kind: "sync",
        version: active.version,
        x5t: active.x5t,
        target: t.name,
        reason: `Kong target ${t.name} does not hold the active key ${active.x5t}`,
        ...(atIdp
          ? {}
          : {
              blocked: `the active key is not ${activeKey ? "usable" : "registered"} at ${s.idp.client}; pushing it would break logins`,
            }),
      });
    }
  }

  const removals: PlannedAction[] = [];
  for (const g of s.generations) {
    if (g.phase === "retired") {
      const k = keyAtIdp(s.idp.keys, g);
      if (k)
        removals.push({
          kind: "remove-leaked",
          version: g.version,
          x5t: g.x5t,
          keyId: k.id,
          reason: `${s.idp.client} still lists retired generation ${g.x5t ?? g.version}`,
          ...blockedIfReferenced(s, g),
        });
    }
  }
  for (const g of s.generations) {
    if (g.phase !== "retiring" || (g.retireAfter && g.retireAfter > now && !revoked(g))) continue;
    const k = keyAtIdp(s.idp.keys, g);
    removals.push({
      kind: "retire",
      version: g.version,
      x5t: g.x5t,
      ...(k ? { keyId: k.id } : {}),
      reason:
        g.retireAfter && g.retireAfter > now
          ? `key compromise: revoked without waiting out the overlap (request ${compromise?.request.id ?? "?"})`
          : g.retireAfter
            ? `overlap ended at ${g.retireAfter.toISOString()}`
            : "retiring without a retireAfter time",
      ...(active ? blockedIfReferenced(s, g) : { blocked: "no active generation takes over from it" }),
    });
  }
  for (const g of s.generations)
    if (g.phase === "retired" && g.enabled)
      removals.push({
        kind: "disable",
        version: g.version,
        x5t: g.x5t,
        reason: "retired but its Key Vault version is still enabled",
      });
  // Keys the rotator did not create go only when the operator asked (another consumer may use them).
  if (compromise?.request.revokeUnmanaged)
    for (const k of unmanagedKeys(s)) {
      const key = s.idp.keys.find((x) => x.id === k.keyId);
      removals.push({
        kind: "remove-unmanaged",
        keyId: k.keyId,
        ...(k.x5t ? { x5t: k.x5t } : {}),
        requestId: compromise.request.id,
        reason: `key compromise with revokeUnmanaged: ${k.x5t ?? k.keyId} is not managed by the rotator`,
        ...blockedIfHeld(s, k.x5t, key),
      });
    }

  const actions = [...markRetiring, ...(rollback ? [rollback] : []), ...sync, ...removals, ...chain];
  const completion = held && requestCompletion(s, held, actions);
  if (completion) actions.unshift(completion);
  const trigger = decision.due ?? decision.next;
  return { actions, unmanaged: unmanagedKeys(s), ...(trigger ? { trigger } : {}) };
}

/**
 * The generation a rollback returns to: the newest one that was active before and is now retiring, not
 * itself rolled back from. Usable only while its key is still registered at the IdP and valid.
 */
export function rollbackCandidate(
  s: Snapshot,
  now: Date,
): { to: Generation; from: Generation } | { blocked: string; compromised?: Generation } {
  const from = effectiveActive(s.generations);
  if (!from) return { blocked: "there is no active generation to roll back from" };
  const previous = s.generations
    .filter((g) => g.version !== from.version && g.activatedAt && !g.rolledBackAt)
    .sort((a, b) => (b.activatedAt?.getTime() ?? 0) - (a.activatedAt?.getTime() ?? 0))[0];
  if (!previous) return { blocked: "no earlier generation was ever active" };
  const name = previous.x5t ?? previous.version;
  if (previous.compromisedAt)
    return {
      blocked: `the previous generation ${name} was reported compromised at ${previous.compromisedAt.toISOString()}; a compromised key is never restored`,
      compromised: previous,
    };
  if (previous.phase !== "retiring")
    return {
      blocked: `the previous generation ${name} is ${previous.phase}; only a retiring one can be restored`,
    };
  if (!previous.enabled) return { blocked: `the previous generation ${name} is disabled in Key Vault` };
  if (!generationValid(previous, now)) return { blocked: `the previous generation ${name} has expired` };
  if (keyAtIdp(s.idp.keys, previous)?.usable !== true)
    return { blocked: `the previous generation ${name} is no longer registered and usable at the IdP` };
  return { to: previous, from };
}

function planRollback(s: Snapshot, now: Date, held: HeldRequest | undefined): PlannedAction | undefined {
  const requestId = held?.request.id;
  // A rollback request names the generation it was made for: once that one is active again, only the
  // targets that still lack it are synced (below) and the request completes.
  if (held?.request.to && effectiveActive(s.generations)?.version === held.request.to) return undefined;
  const c = rollbackCandidate(s, now);
  if ("blocked" in c)
    return {
      kind: "rollback",
      ...(requestId ? { requestId } : {}),
      reason: "rollback requested",
      blocked: `rollback refused: ${c.blocked}`,
    };
  if (held?.request.to && held.request.to !== c.to.version)
    return {
      kind: "rollback",
      ...(requestId ? { requestId } : {}),
      reason: "rollback requested",
      blocked: `rollback refused: it was requested back to ${held.request.to}, but the previous generation is now ${c.to.x5t ?? c.to.version}`,
    };
  return {
    kind: "rollback",
    version: c.to.version,
    x5t: c.to.x5t,
    from: c.from.x5t ?? c.from.version,
    ...(requestId ? { requestId } : {}),
    reason: `roll back from ${c.from.x5t ?? c.from.version} to the previous generation ${c.to.x5t ?? c.to.version}`,
  };
}

/** The pending request is fulfilled once what it asked for holds; otherwise nothing. */
function requestCompletion(
  s: Snapshot,
  held: HeldRequest,
  actions: readonly PlannedAction[],
): PlannedAction | undefined {
  const r = held.request;
  const active = effectiveActive(s.generations);
  if (!active?.x5t) return undefined;
  const everywhere = s.targets.every((t) => targetHolds(t, active.x5t ?? ""));
  let fulfilled: boolean;
  if (r.kind === "rollback") fulfilled = r.to !== undefined && active.version === r.to && everywhere;
  else if (r.compromised)
    // Done once nothing made before it is left: no earlier generation at the IdP or enabled in Key Vault,
    // and (when asked) no key the rotator did not create.
    fulfilled =
      answers(active, held) &&
      everywhere &&
      s.generations.every(
        (g) => answers(g, held) || (g.phase === "retired" && !g.enabled && !keyAtIdp(s.idp.keys, g)),
      ) &&
      (!r.revokeUnmanaged || unmanagedKeys(s).length === 0);
  else if (r.force) fulfilled = answers(active, held) && everywhere;
  // A plain "run now" request is done when the credential has nothing left to do.
  else fulfilled = actions.every((a) => a.blocked !== undefined) && everywhere;
  if (!fulfilled) return undefined;
  return {
    kind: "complete-request",
    version: held.holder.version,
    requestId: r.id,
    result: active.x5t,
    reason: `${active.x5t} is active on every Kong target`,
  };
}

/**
 * Never retire or remove a key that a Kong target references, or might reference (inspection failed); and
 * never take away the client's only usable key at the IdP (its replacement is made usable first).
 */
function blockedIfReferenced(s: Snapshot, g: Generation): { blocked?: string } {
  return blockedIfHeld(s, g.x5t, keyAtIdp(s.idp.keys, g));
}

function blockedIfHeld(s: Snapshot, x5t: string | undefined, key: IdpKey | undefined): { blocked?: string } {
  const referencing = x5t ? targetsReferencing(s, x5t) : [];
  if (referencing.length) return { blocked: `still referenced by Kong target(s) ${referencing.join(", ")}` };
  const unknown = unknownTargets(s);
  if (unknown.length)
    return { blocked: `state of Kong target(s) ${unknown.join(", ")} is unknown (inspection failed)` };
  if (key?.usable && !s.idp.keys.some((k) => k.usable && k !== key))
    return {
      blocked: `its key is the only usable one at ${s.idp.client}; it goes once another key is usable`,
    };
  return {};
}

/**
 * The provider's key limit (some hold only 2): a new key needs a free slot. When there is none, the chain
 * waits for the retiring generation that will free one, and says so; it never fails at the IdP's API.
 */
function keyLimit(s: Snapshot): string | PlannedAction | undefined {
  const { rules, keys, client } = s.idp;
  if (keys.length < rules.maxKeys) return undefined;
  const held = `${client} holds ${keys.length} key(s), the most it allows (${rules.maxKeys})`;
  // The active key withdrawn at the IdP (deactivated, detached): Kong's logins with it fail already, and
  // the slot it holds is what the replacement needs. Removing it cannot cause an outage; waiting could
  // deadlock (the retiring key may be the only usable one, which is never withdrawn).
  const active = effectiveActive(s.generations);
  const dead = active && keyAtIdp(keys, active);
  if (active && dead && !dead.usable)
    return {
      kind: "remove-unusable",
      version: active.version,
      x5t: active.x5t,
      keyId: dead.id,
      reason: `${held}, and the active key ${active.x5t ?? active.version} is registered but not usable there: its slot goes to the new key`,
    };
  const freeing = s.generations
    .filter((g) => g.phase === "retiring" && keyAtIdp(keys, g))
    .sort((a, b) => (a.retireAfter?.getTime() ?? 0) - (b.retireAfter?.getTime() ?? 0))[0];
  if (freeing)
    return (
      `${held}: the new key waits until retiring ${freeing.x5t ?? freeing.version} is removed` +
      (freeing.retireAfter ? ` (its overlap ends at ${freeing.retireAfter.toISOString()})` : "")
    );
  const unmanaged = unmanagedKeys(s);
  return unmanaged.length
    ? `${held}: remove unmanaged key(s) ${unmanaged.map((k) => k.x5t ?? k.keyId).join(", ")} at the IdP to make room`
    : `${held}: no retiring generation frees a slot`;
}

function continueChain(s: Snapshot, w: Generation, current: Generation | undefined): PlannedAction[] {
  const ref = { version: w.version, x5t: w.x5t };
  const key = keyAtIdp(s.idp.keys, w);
  const usable = key?.usable === true;
  const limit = key ? undefined : keyLimit(s);
  const out: PlannedAction[] = [];
  if (w.phase === "pending" || !usable)
    out.push({
      kind: "publish",
      ...ref,
      ...(current?.x5t ? { signedBy: current.x5t } : {}),
      reason:
        w.phase === "pending"
          ? "the new key is not registered at the IdP yet"
          : key
            ? "its key is registered but not usable at the IdP"
            : "its key is no longer registered at the IdP",
    });
  if (w.phase !== "verified" || !usable)
    out.push({
      kind: "verify",
      ...ref,
      reason: "the token endpoint has not yet accepted the new key consistently",
    });
  out.push({ kind: "activate", ...ref, reason: "the new key is verified at the IdP" });
  return withinLimit(out, limit);
}

function startChain(s: Snapshot, trigger: Trigger, current: Generation | undefined): PlannedAction[] {
  const chain: PlannedAction[] = [
    { kind: "create", trigger: trigger.reason, reason: trigger.message },
    {
      kind: "publish",
      ...(current?.x5t ? { signedBy: current.x5t } : {}),
      reason: "register the new key at the IdP",
    },
    { kind: "verify", reason: "prove the new key at the token endpoint" },
    { kind: "activate", reason: "push the new key to every Kong target" },
  ];
  return withinLimit(chain, keyLimit(s));
}

/** The chain as it may run within the key limit: after freeing a slot, or blocked with the reason. */
function withinLimit(chain: PlannedAction[], limit: string | PlannedAction | undefined): PlannedAction[] {
  if (limit === undefined) return chain;
  if (typeof limit !== "string") return [limit, ...blockChain(chain, "waits for the step before it")];
  return blockChain(chain, limit);
}

/** The chain's first action is blocked for `reason`; the rest wait for it. */
function blockChain(chain: PlannedAction[], reason: string): PlannedAction[] {
  return chain.map((a, i) => ({ ...a, blocked: i === 0 ? reason : "waits for the step before it" }));
}

/** The next time-driven event when nothing is due now (for status output). */
export function nextScheduled(
  s: Snapshot,
  policy: Policy,
  now: Date,
): { at: Date; what: string } | undefined {
  const events: { at: Date; what: string }[] = [];
  const { next } = evaluateTriggers({ snapshot: s, policy, now });
  if (next) events.push({ at: next.dueAt, what: next.reason === "Renewal" ? "renew" : next.reason });
  for (const g of s.generations)
    if (g.phase === "retiring" && g.retireAfter)
      events.push({ at: g.retireAfter, what: `retire ${g.x5t ?? g.version}` });
  return events.sort((a, b) => a.at.getTime() - b.at.getTime())[0];
}

export function describeAction(a: PlannedAction): string {
  const gen =
    "version" in a && a.version ? (("x5t" in a ? a.x5t : undefined) ?? a.version) : "the new generation";
  switch (a.kind) {
    case "create":
      return "create a new certificate version";
    case "publish":
      return `register ${gen} at the IdP` + (a.signedBy ? ` (signed by current key ${a.signedBy})` : "");
    case "verify":
      return `verify ${gen} at the token endpoint`;
    case "activate":
      return `activate ${gen} on every Kong target`;
    case "sync":
      return `re-apply active key ${a.x5t} to Kong target ${a.target}`;
    case "mark-retiring":
      return `mark ${gen} retiring (after ${a.retireAfter})`;
    case "retire":
      return `retire ${gen}`;
    case "remove-leaked":
      return `remove retired ${gen} from the IdP`;
    case "remove-unusable":
      return `remove the unusable key of active ${gen} from the IdP to make room`;
    case "disable":
      return `disable the Key Vault version of ${gen}`;
    case "remove-unmanaged":
      return `remove key ${a.x5t ?? a.keyId}, not managed by the rotator, from the IdP`;
    case "rollback":
      return a.version
        ? `roll every Kong target back to ${gen}` + (a.from ? ` (from ${a.from})` : "")
        : "roll back to the previous generation";
    case "complete-request":
      return `mark request ${a.requestId} done (${a.result})`;
  }
}
