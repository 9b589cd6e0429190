/**
 * Operator requests, written before the run that carries them out (write-ahead): a forced rotation or a
 * rollback survives a failed run, a crash, or an outage of the IdP or Kong. Recording a rotation needs
 * only Key Vault (the state store), so a request made while the IdP or Kong is down is kept. A rollback is
 * checked against the IdP first (the previous key must still be registered), so it needs the IdP too.
 * Callers hold the credential's lease.
 */
import type { CredentialConfig } from "../config/load.js";
import { isRotatorError, RotatorError } from "../errors.js";
import { rollbackCompromised, rollbackRefused } from "./errors.js";
import { effectiveActive, inFlight } from "./model.js";
import { observe } from "./observe.js";
import { rollbackCandidate } from "./plan.js";
import {
  answers,
  newRequest,
  noPendingRequest,
  pendingRequest,
  requestConflict,
  requestTag,
  type ManualRequest,
  type RequestKind,
} from "./requests.js";
import { TagBook } from "./tag-book.js";
import { parseGeneration, phaseTags, TAG_COMPROMISED_AT, TAG_RETIRE_AFTER, type Generation } from "./tags.js";
import type { EnginePorts } from "../ports/engine.js";

export interface SubmitInput {
  kind: RequestKind;
  /** The new request's id, when the caller noted it somewhere first (its origin, app/request-origin.ts). */
  id?: string;
  force?: boolean;
  actor?: string;
  reason?: string;
  /** Skip the forced-rotation cooldown (audited by the caller). */
  overrideCooldown?: boolean;
  /**
   * rotate: the active key is compromised. Implies force, is never held back by the cooldown (the bypass
   * is audited here), supersedes a pending request of another kind, and tags the active generation.
   */
  compromised?: boolean;
  /** compromised: also remove the keys at the IdP that the rotator did not create. */
  revokeUnmanaged?: boolean;
}

/**
 * Codes with which `submitRequest` refuses a request because of the credential's state (another request
 * pending, the forced-rotation cooldown, no generation to roll back to). Nothing was written: the caller's
 * request is at fault, not a dependency, so callers answer it (409/429) and nothing alerts. Any other
 * error of `submitRequest` means a dependency failed while recording it.
 */
const REQUEST_REFUSALS: ReadonlySet<string> = new Set([
  "REQUEST_CONFLICT",
  "ROTATE_COOLDOWN",
  "ROLLBACK_REFUSED",
  "ROLLBACK_COMPROMISED",
]);

export function isRequestRefusal(e: unknown): boolean {
  return isRotatorError(e) && REQUEST_REFUSALS.has(e.code);
}

export type SubmitResult =
  | { outcome: "recorded"; request: ManualRequest }
  /** The same kind of request was already pending: nothing new was written. */
  | { outcome: "already-pending"; request: ManualRequest }
  /** No generation exists yet: the bootstrap is due by itself and needs no record. */
  | { outcome: "bootstrap"; request: ManualRequest };

async function generations(cred: CredentialConfig, ports: Pick<EnginePorts, "store">): Promise<Generation[]> {
  const versions = await ports.store.listVersions(cred.certificateName);
  return versions.map(parseGeneration).filter((g): g is Generation => g !== undefined);
}

export async function submitRequest(
  cred: CredentialConfig,
  ports: EnginePorts,
  input: SubmitInput,
): Promise<SubmitResult> {
  const now = ports.clock.now();
  let gens = await generations(cred, ports);
  const compromised = input.kind === "rotate" && input.compromised === true;
  const book = new TagBook(ports.store, cred.certificateName);
  const held = pendingRequest(gens);
  const pending = held?.request;
  if (pending && compromised && !pending.compromised) {
    // A compromise does not wait behind a forced rotation or a rollback: it supersedes it.
    await book.write(
      held.holder,
      requestTag({ ...pending, state: "cancelled", endedAt: now, result: "superseded by a compromise" }),
    );
    gens = await generations(cred, ports);
  } else if (pending) {
    if (pending.kind !== input.kind || (input.kind === "rotate" && input.force === true && !pending.force))
      throw requestConflict(pending, input.kind);
    return { outcome: "already-pending", request: pending };
  }

  let to: string | undefined;
  if (input.kind === "rollback") {
    const s = await observe(cred, ports);
    const c = rollbackCandidate(s, now);
    if ("blocked" in c)
      throw c.compromised
        ? rollbackCompromised(c.compromised.x5t ?? c.compromised.version, c.compromised.compromisedAt)
        : rollbackRefused(`rollback refused: ${c.blocked}`, undefined);
    to = c.to.version;
    gens = s.generations;
  } else if ((input.force || compromised) && !input.overrideCooldown) {
    const newest = gens.reduce<Generation | undefined>(
      (a, g) => (!a || g.createdOn > a.createdOn ? g : a),
      undefined,
    );
    const until = newest && newest.createdOn.getTime() + cred.policy.forceCooldown;
    if (until !== undefined && until > now.getTime()) {
      if (!compromised) throw cooldown(cred, newest?.x5t, new Date(until));
      // Audited: a compromise is never held back by the cooldown.
      ports.logger.log("warn", "ForceCooldownBypassed", {
        credential: cred.name,
        actor: input.actor,
        reason: "key compromise",
        cooldownUntil: new Date(until).toISOString(),
      });
    }
  }

  const request = newRequest(input.kind, now, { ...input, ...(to ? { to } : {}) });
  // The request lives on the generation that was active when it was made (else the newest one).
  const active = effectiveActive(gens);
  const holder = active ?? [...gens].sort((a, b) => b.createdOn.getTime() - a.createdOn.getTime())[0];
  if (!holder) return { outcome: "bootstrap", request };
  // The compromised generation is marked in the same write as the request: from then on no rollback
  // can return to it (plan.ts rollbackCandidate) and nothing activates it again.
  const mark =
    compromised && active?.version === holder.version && !holder.compromisedAt
      ? { [TAG_COMPROMISED_AT]: now.toISOString() }
      : {};
  await book.write(holder, { ...requestTag(request), ...mark });
  ports.logger.log("info", "ManualRequestRecorded", {
    credential: cred.name,
    request: request.id,
    kind: request.kind,
    force: request.force,
    ...(compromised ? { compromised: true, revokeUnmanaged: request.revokeUnmanaged === true } : {}),
    actor: request.actor,
    holder: holder.x5t ?? holder.version,
  });
  return { outcome: "recorded", request };
}

/**
 * Withdraw the pending request. A generation created for a withdrawn rotation and not yet active is
 * abandoned (retiring now: the engine removes it from the IdP by the normal rules), so the next run
 * does not finish a rotation nobody wants any more.
 */
export async function cancelRequest(
  cred: CredentialConfig,
  ports: EnginePorts,
  actor: string | undefined,
): Promise<{ request: ManualRequest; abandoned: string[] }> {
  const now = ports.clock.now();
  const gens = await generations(cred, ports);
  const held = pendingRequest(gens);
  if (!held) throw noPendingRequest(cred.name);
  const book = new TagBook(ports.store, cred.certificateName);
  const request: ManualRequest = {
    ...held.request,
    state: "cancelled",
    endedAt: now,
    ...(actor ? { result: actor } : {}),
  };
  await book.write(held.holder, requestTag(request));
  const abandoned =
    request.kind === "rotate" && request.force ? inFlight(gens).filter((g) => answers(g, held)) : [];
  for (const g of abandoned)
    await book.write(g, phaseTags("retiring", { [TAG_RETIRE_AFTER]: now.toISOString() }));
  ports.logger.log("info", "ManualRequestCancelled", {
    credential: cred.name,
    request: request.id,
    kind: request.kind,
    actor,
    abandoned: abandoned.map((g) => g.x5t ?? g.version),
  });
  return { request, abandoned: abandoned.map((g) => g.x5t ?? g.version) };
}

/** The pending request from Key Vault alone, for status while the IdP or Kong cannot be observed. */
export async function pendingRequestOf(
  cred: CredentialConfig,
  ports: Pick<EnginePorts, "store">,
): Promise<ManualRequest | undefined> {
  return pendingRequest(await generations(cred, ports))?.request;
}

/**
 * A plain `rotate` (run now, nothing forced) that did not finish is recorded after the fact, so later
 * runs report it until the credential has nothing left to do. Best effort: the run's own error stands.
 */
export async function recordUnfinished(
  cred: CredentialConfig,
  ports: EnginePorts,
  input: { id?: string; actor?: string; reason?: string; error: string },
): Promise<ManualRequest | undefined> {
  const now = ports.clock.now();
  const gens = await generations(cred, ports);
  if (pendingRequest(gens)) return undefined;
  const holder = effectiveActive(gens);
  if (!holder) return undefined;
  const request: ManualRequest = {
    ...newRequest("rotate", now, input),
    attempts: 1,
    lastAttemptAt: now,
    lastError: input.error,
  };
  await new TagBook(ports.store, cred.certificateName).write(holder, requestTag(request));
  return request;
}

function cooldown(cred: CredentialConfig, x5t: string | undefined, until: Date): RotatorError {
  return new RotatorError(
    "ROTATE_COOLDOWN",
    `${cred.name} got a new generation${x5t ? ` (${x5t})` : ""} less than policy.forceCooldown ago; a forced rotation is allowed again at ${until.toISOString()}`,
    "Forced rotations in quick succession churn keys at the IdP and on every gateway. If this one is needed now " +
      '(for example a key compromise), repeat it with --override-cooldown (HTTP: "overrideCooldown": true); the override is audited.',
    { details: { retryAt: until.toISOString() } },
  );
}
