/**
 * Manual requests (an operator's `rotate --force`, `rotate`, or `rotate --rollback`) are durable: they
 * live in the same state store as the lifecycle, as one `rotator-request` tag on the generation that was
 * active when they were made, so every later run (timer, HTTP, CLI) carries them out until they are done
 * or withdrawn. The tag is compact JSON and fits Key Vault's 256-character tag values: the actor and the
 * reason are shortened in the tag (the audit log line keeps them whole).
 */
import { createHash, randomUUID } from "node:crypto";
import type { Policy } from "../config/load.js";
import { RotatorError } from "../errors.js";
import { jsonTag, TAG_REQUEST, type Generation } from "./tags.js";

export type RequestKind = "rotate" | "rollback";
export type RequestState = "pending" | "done" | "cancelled";

export interface ManualRequest {
  id: string;
  kind: RequestKind;
  requestedAt: Date;
  /** rotate: a new generation even if none is due; rollback: always false. */
  force: boolean;
  /**
   * rotate: the active key is compromised (implies force). Every earlier generation is revoked as soon as
   * the new one is active everywhere, without waiting out the overlap (plan.ts).
   */
  compromised?: boolean;
  /** compromised: also remove the keys at the IdP that the rotator did not create. */
  revokeUnmanaged?: boolean;
  actor?: string;
  reason?: string;
  /** rollback: the version to go back to. */
  to?: string;
  /** Runs that worked on it and failed, the last of them, and its error code. */
  attempts: number;
  lastAttemptAt?: Date;
  lastError?: string;
  state: RequestState;
  /** done: the generation (thumbprint) that fulfils it; cancelled: who withdrew it. */
  result?: string;
  endedAt?: Date;
}

/** A request together with the generation whose tag holds it. */
export interface HeldRequest {
  request: ManualRequest;
  holder: Generation;
}

const MAX_TAG_VALUE = 256;

interface Wire {
  id: string;
  k: RequestKind;
  at: string;
  f?: 1;
  c?: 1;
  u?: 1;
  by?: string;
  why?: string;
  to?: string;
  n?: number;
  last?: string;
  err?: string;
  s?: "done" | "cancelled";
  res?: string;
  end?: string;
}

export function encodeRequest(r: ManualRequest): string {
  const wire: Wire = {
    id: r.id,
    k: r.kind,
    at: r.requestedAt.toISOString(),
    ...(r.force ? { f: 1 as const } : {}),
    ...(r.compromised ? { c: 1 as const } : {}),
    ...(r.revokeUnmanaged ? { u: 1 as const } : {}),
    ...(r.to ? { to: r.to } : {}),
    ...(r.attempts ? { n: r.attempts } : {}),
    ...(r.lastAttemptAt ? { last: r.lastAttemptAt.toISOString() } : {}),
    ...(r.lastError ? { err: r.lastError.slice(0, 40) } : {}),
    ...(r.state !== "pending" ? { s: r.state } : {}),
    ...(r.result ? { res: r.result.slice(0, 48) } : {}),
    ...(r.endedAt ? { end: r.endedAt.toISOString() } : {}),
  };
  // The free texts get what room is left, the actor first (it identifies who asked).
  let room = MAX_TAG_VALUE - JSON.stringify(wire).length;
  const fit = (key: "by" | "why", value: string | undefined): void => {
    if (!value) return;
    const overhead = `,"${key}":""`.length;
    let v = value.slice(0, Math.max(0, room - overhead));
    while (v && JSON.stringify(v).length - 2 + overhead > room) v = v.slice(0, -1);
    if (!v) return;
    wire[key] = v;
    room -= JSON.stringify(v).length - 2 + overhead;
  };
  fit("by", r.actor);
  fit("why", r.reason);
  return JSON.stringify(wire);
}

/** Undefined for a missing or unreadable tag (a user edit): such a request is ignored, never guessed. */
export function decodeRequest(raw: string | undefined): ManualRequest | undefined {
  const w = jsonTag(raw) as Partial<Wire> | undefined;
  if (!w) return undefined;
  const at = w.at ? new Date(w.at) : undefined;
  if (typeof w.id !== "string" || (w.k !== "rotate" && w.k !== "rollback") || !at || isNaN(at.getTime()))
    return undefined;
  const d = (v: unknown) => (typeof v === "string" && !isNaN(Date.parse(v)) ? new Date(v) : undefined);
  const lastAttemptAt = d(w.last);
  const endedAt = d(w.end);
  return {
    id: w.id,
    kind: w.k,
    requestedAt: at,
    force: w.f === 1,
    ...(w.k === "rotate" && w.c === 1 ? { compromised: true } : {}),
    ...(w.k === "rotate" && w.c === 1 && w.u === 1 ? { revokeUnmanaged: true } : {}),
    ...(typeof w.by === "string" ? { actor: w.by } : {}),
    ...(typeof w.why === "string" ? { reason: w.why } : {}),
    ...(typeof w.to === "string" ? { to: w.to } : {}),
    attempts: typeof w.n === "number" && Number.isInteger(w.n) && w.n > 0 ? w.n : 0,
    ...(lastAttemptAt ? { lastAttemptAt } : {}),
    ...(typeof w.err === "string" ? { lastError: w.err } : {}),
    state: w.s === "done" || w.s === "cancelled" ? w.s : "pending",
    ...(typeof w.res === "string" ? { result: w.res } : {}),
    ...(endedAt ? { endedAt } : {}),
  };
}

/** A fresh request id (8 hex digits: short enough for the tag, unique per credential in practice). */
export function newRequestId(): string {
  return randomUUID().slice(0, 8);
}

export function newRequest(
  kind: RequestKind,
  now: Date,
  fields: {
    id?: string;
    force?: boolean;
    compromised?: boolean;
    revokeUnmanaged?: boolean;
    actor?: string;
    reason?: string;
    to?: string;
  },
): ManualRequest {
  const compromised = kind === "rotate" && fields.compromised === true;
  return {
    id: fields.id ?? newRequestId(),
    kind,
    requestedAt: now,
    force: kind === "rotate" && (fields.force === true || compromised),
    ...(compromised ? { compromised: true } : {}),
    ...(compromised && fields.revokeUnmanaged ? { revokeUnmanaged: true } : {}),
    ...(fields.actor ? { actor: fields.actor } : {}),
    ...(fields.reason ? { reason: fields.reason } : {}),
    ...(fields.to ? { to: fields.to } : {}),
    attempts: 0,
    state: "pending",
  };
}

/**
 * Does the generation answer the held request, i.e. was it made after the request? Never the generation
 * that holds the request (it existed when the request was made). Key Vault reports `created` in whole
 * seconds (Unix time), so the request's time is compared at that resolution.
 */
export function answers(g: Pick<Generation, "createdOn" | "version">, held: HeldRequest): boolean {
  return (
    g.version !== held.holder.version &&
    g.createdOn.getTime() >= Math.floor(held.request.requestedAt.getTime() / 1000) * 1000
  );
}

/** Every readable request, newest first. */
export function requests(generations: readonly Generation[]): HeldRequest[] {
  return generations
    .flatMap((holder) => {
      const request = decodeRequest(holder.tags[TAG_REQUEST]);
      return request ? [{ request, holder }] : [];
    })
    .sort((a, b) => b.request.requestedAt.getTime() - a.request.requestedAt.getTime());
}

/** The request to carry out: the newest pending one (an older pending one is superseded by it). */
export function pendingRequest(generations: readonly Generation[]): HeldRequest | undefined {
  return requests(generations).find((h) => h.request.state === "pending");
}

/** The pending request when it is a key-compromise rotation. */
export function pendingCompromise(generations: readonly Generation[]): HeldRequest | undefined {
  const held = pendingRequest(generations);
  return held?.request.compromised ? held : undefined;
}

/** The newest key-compromise rotation, pending or done (not withdrawn). */
export function latestCompromise(generations: readonly Generation[]): HeldRequest | undefined {
  return requests(generations).find((h) => h.request.compromised && h.request.state !== "cancelled");
}

export function requestTag(r: ManualRequest): Record<string, string> {
  return { [TAG_REQUEST]: encodeRequest(r) };
}

/**
 * What a generation was issued under: algorithm, key size, validity, and a digest of the subject (the
 * subject can be long; the digest keeps the tag short and still tells that it changed).
 */
export function policyFingerprint(policy: Policy, credentialName: string): string {
  const subject = policy.subject ?? `CN=${credentialName}`;
  const digest = createHash("sha256").update(subject).digest("hex").slice(0, 12);
  return `${policy.algorithm};${policy.keySize};${policy.validityMonths}m;${digest}`;
}

/** Which policy fields differ between two fingerprints, for a message ("algorithm, key size"). */
export function policyDifferences(issued: string, current: string): string[] {
  const names = ["algorithm", "key size", "validity", "subject"];
  const a = issued.split(";");
  const b = current.split(";");
  return names.filter((_, i) => a[i] !== b[i]);
}

export function requestConflict(pending: ManualRequest, kind: RequestKind): RotatorError {
  return new RotatorError(
    "REQUEST_CONFLICT",
    `a ${pending.kind} request (${pending.id}, made ${pending.requestedAt.toISOString()}) is still pending; a ${kind} request cannot be added`,
    `Wait for it to complete, or withdraw it first with 'rotate <name> --cancel' (POST .../rotate {"cancel": true}).`,
    { details: { pending: pending.id } },
  );
}

export function noPendingRequest(credential: string): RotatorError {
  return new RotatorError(
    "NO_PENDING_REQUEST",
    `${credential} has no pending manual request to cancel`,
    "'status' shows pending requests; nothing was changed.",
  );
}
