/**
 * The status view of one credential, for the CLI, the HTTP status endpoint and run reports. Built only
 * from public facts (versions, thumbprints, dates, plugin ids, kids): never any secret.
 */
import { describeAction, nextScheduled, plan, type PlannedAction } from "./plan.js";
import { effectiveActive, keyAtIdp, targetHolds, unmanagedKeys } from "./model.js";
import type { SafeError, Snapshot, UnmanagedKey } from "./types.js";
import type { Phase } from "./tags.js";
import { pendingRequest, type ManualRequest } from "./requests.js";
import type { TriggerReason } from "./triggers.js";
import { confirmRecords } from "./confirm-tag.js";
import { migrationOf, type MigrationRecord } from "./migration.js";
import { compromiseView, type CompromiseResult } from "./compromise.js";

export interface GenerationStatus {
  version: string;
  phase: Phase;
  enabled: boolean;
  x5t?: string;
  /** When Key Vault created the version (the `pending` phase starts here). */
  createdOn?: string;
  notBefore?: string;
  expiresOn?: string;
  publishedAt?: string;
  verifiedAt?: string;
  activatedAt?: string;
  retireAfter?: string;
  retiredAt?: string;
  /** When a rollback took the Kong targets off this generation (it then retires by the normal rules). */
  rolledBackAt?: string;
  /** When its key was reported compromised (never restored or activated again). */
  compromisedAt?: string;
  failures: number;
  lastError?: string;
  /** Is the generation's key registered and usable at the identity provider? */
  atIdp: boolean;
  /** Kong targets written with this key whose gateways had not all confirmed at the last look. */
  /**
   * Kong targets whose gateways have not confirmed this generation yet: when it was written, when the
   * current confirmation window began (when later than the write), whether that window ended unconfirmed
   * (the next run opens a new one), and who lagged at the last look.
   */
  confirming?: {
    target: string;
    appliedAt: string;
    windowFrom?: string;
    failed?: boolean;
    lagging: string[];
  }[];
}

export interface TargetStatus {
  name: string;
  plugins: { pluginId: string; workspace?: string; kid?: string }[];
  /** Every plugin holds the active key. */
  inSync: boolean;
  error?: SafeError;
}

export interface CredentialStatus {
  credential: string;
  generations: GenerationStatus[];
  targets: TargetStatus[];
  /** x5t of the active generation. */
  active?: string;
  /** Keys at the IdP that match no generation (never touched). */
  unmanagedKeys: UnmanagedKey[];
  /**
   * The client at the identity provider, how many keys it holds (unknown when unreadable), the most it may
   * hold, and what `published` means there (the provider's rules).
   */
  idp: { client: string; keys?: number; maxKeys?: number; published?: string };
  nextAction?: string;
  /** Why a new generation is due now, or the next trigger that will make one due. */
  trigger?: { reason: TriggerReason; message: string; dueAt: string };
  /** A manual request (rotate, rollback) that later runs are still carrying out. */
  request?: RequestStatus;
  /** A migration from a client secret (engine/migration.ts): its stage and times. */
  migration?: MigrationRecord & { version: string };
  /** The newest key-compromise response (pending or done): revoked keys, the tokens caveat. */
  compromise?: CompromiseResult;
}

export interface RequestStatus {
  id: string;
  kind: ManualRequest["kind"];
  requestedAt: string;
  ageSeconds: number;
  actor?: string;
  reason?: string;
  force: boolean;
  /** A key-compromise rotation. */
  compromised?: boolean;
  attempts: number;
  lastAttemptAt?: string;
  lastError?: string;
}

export function requestStatus(r: ManualRequest, now: Date): RequestStatus {
  return {
    id: r.id,
    kind: r.kind,
    requestedAt: r.requestedAt.toISOString(),
    ageSeconds: Math.max(0, Math.round((now.getTime() - r.requestedAt.getTime()) / 1000)),
    ...(r.actor ? { actor: r.actor } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
    force: r.force,
    ...(r.compromised ? { compromised: true } : {}),
    attempts: r.attempts,
    ...(r.lastAttemptAt ? { lastAttemptAt: r.lastAttemptAt.toISOString() } : {}),
    ...(r.lastError ? { lastError: r.lastError } : {}),
  };
}

const iso = (d: Date | undefined): string | undefined => d?.toISOString();

function confirming(tags: Readonly<Record<string, string>>): Pick<GenerationStatus, "confirming"> {
  const records = Object.entries(confirmRecords(tags));
  if (records.length === 0) return {};
  return {
    confirming: records.map(([target, r]) => ({
      target,
      appliedAt: r.appliedAt.toISOString(),
      ...(r.windowFrom ? { windowFrom: r.windowFrom.toISOString() } : {}),
      ...(r.failed ? { failed: true } : {}),
      lagging: r.lagging,
    })),
  };
}

export function credentialStatus(s: Snapshot, now: Date): CredentialStatus {
  const active = effectiveActive(s.generations);
  const planned = plan(s, s.policy, now);
  const trigger = planned.trigger;
  const request = pendingRequest(s.generations)?.request;
  const migration = migrationOf(s.generations);
  const compromise = compromiseView(s);
  return {
    ...(migration ? { migration: { ...migration.record, version: migration.holder.version } } : {}),
    credential: s.credential,
    generations: s.generations.map((g) => ({
      version: g.version,
      phase: g.phase,
      enabled: g.enabled,
      x5t: g.x5t,
      createdOn: iso(g.createdOn),
      notBefore: iso(g.notBefore),
      expiresOn: iso(g.expiresOn),
      publishedAt: iso(g.publishedAt),
      verifiedAt: iso(g.verifiedAt),
      activatedAt: iso(g.activatedAt),
      retireAfter: iso(g.retireAfter),
      retiredAt: iso(g.retiredAt),
      ...(g.rolledBackAt ? { rolledBackAt: iso(g.rolledBackAt) } : {}),
      ...(g.compromisedAt ? { compromisedAt: iso(g.compromisedAt) } : {}),
      failures: g.failures,
      lastError: g.lastError,
      atIdp: keyAtIdp(s.idp.keys, g)?.usable === true,
      ...confirming(g.tags),
    })),
    targets: s.targets.map((t) => ({
      name: t.name,
      plugins: (t.plugins ?? []).map((p) => ({
        pluginId: p.pluginId,
        ...(p.workspace ? { workspace: p.workspace } : {}),
        kid: p.kid,
      })),
      inSync: active?.x5t !== undefined && targetHolds(t, active.x5t),
      ...(t.error ? { error: t.error } : {}),
    })),
    active: active?.x5t,
    unmanagedKeys: unmanagedKeys(s),
    idp: {
      client: s.idp.client,
      keys: s.idp.keys.length,
      ...(Number.isFinite(s.idp.rules.maxKeys) ? { maxKeys: s.idp.rules.maxKeys } : {}),
      published: s.idp.rules.published,
    },
    nextAction: nextAction(s, planned.actions, now),
    ...(trigger
      ? { trigger: { reason: trigger.reason, message: trigger.message, dueAt: trigger.dueAt.toISOString() } }
      : {}),
    ...(request ? { request: requestStatus(request, now) } : {}),
    ...(compromise ? { compromise } : {}),
  };
}

function nextAction(s: Snapshot, actions: readonly PlannedAction[], now: Date): string | undefined {
  const runnable = actions.find((a) => !a.blocked);
  if (runnable) return describeAction(runnable);
  const blocked = actions[0];
  if (blocked) return `${describeAction(blocked)} (blocked: ${blocked.blocked})`;
  const next = nextScheduled(s, s.policy, now);
  return next && `${next.what} at ${next.at.toISOString()}`;
}
