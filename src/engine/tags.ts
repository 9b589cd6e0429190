/**
 * The engine's only state: tags on each Key Vault certificate version ("key generation").
 *
 * Key Vault allows at most 15 tags per object, names up to 512 and values up to 256 characters
 * (https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#object-types,
 * "Tags"), and `updateCertificateProperties` replaces the whole tag map, so every write sends the full
 * map: the version's existing tags (including ones users set) merged with the engine's changes.
 */
import type { CertificateVersion } from "../ports/engine.js";
import { RotatorError } from "../errors.js";

export const TAG_PREFIX = "rotator-";
export const TAG_PHASE = "rotator-phase";
/** The IdP's id of the generation's key, recorded when it was registered. */
export const TAG_IDP_KEY_ID = "rotator-idpKeyId";
/** Where releases before the identity-provider port recorded it; read as a fallback, removed on the next write. */
export const TAG_LEGACY_KEY_ID = "rotator-entraKeyId";
export const TAG_PUBLISHED_AT = "rotator-publishedAt";
export const TAG_VERIFIED_AT = "rotator-verifiedAt";
export const TAG_ACTIVATED_AT = "rotator-activatedAt";
export const TAG_RETIRE_AFTER = "rotator-retireAfter";
export const TAG_RETIRED_AT = "rotator-retiredAt";
export const TAG_FAILURES = "rotator-failures";
/** An error CODE only, never a message (messages may grow and Key Vault caps values at 256 chars). */
export const TAG_LAST_ERROR = "rotator-lastError";
export const TAG_LAST_FAILURE_AT = "rotator-lastFailureAt";
/** The policy a generation was issued under (see policyFingerprint): the PolicyChanged trigger compares it. */
export const TAG_POLICY = "rotator-policy";
/** A manual request (rotate or rollback) and its progress, on the generation that was active when asked. */
export const TAG_REQUEST = "rotator-request";
/** Set on a generation that a rollback took out of service: it never becomes active again by itself. */
export const TAG_ROLLED_BACK_AT = "rotator-rolledBackAt";
/**
 * Set on the generation whose key was reported compromised (`rotate --compromised`), with the time of the
 * request: it is revoked at once and can never be rolled back to or activated again.
 */
export const TAG_COMPROMISED_AT = "rotator-compromisedAt";
/**
 * Verification in progress across runs (`formatVerifyProgress`): the streak so far, the attempts, the
 * first and latest probe times. One tag, cleared when the phase changes or verification times out.
 */
export const TAG_VERIFY = "rotator-verify";
/**
 * On the active generation: the next time a rotation run has anything to do (renewal, retirement), as
 * of the last run that finished cleanly. The fleet timer reads it from one certificate listing
 * (engine/schedule.ts), so idle ticks touch nothing else.
 */
export const TAG_NEXT_DUE = "rotator-nextDue";

/** A migration from a client secret and its progress (engine/migration.ts), on the generation it created. */
export const TAG_MIGRATION = "rotator-migration";

/** Written by engine/confirm-tag.ts while a Kong push is being confirmed. */
export const TAG_KONG_CONFIRM = "rotator-kongConfirm";

export const MAX_TAGS = 15;
const MAX_TAG_VALUE = 256;

export const PHASES = ["pending", "published", "verified", "active", "retiring", "retired"] as const;
export type Phase = (typeof PHASES)[number];
export const IN_FLIGHT: readonly Phase[] = ["pending", "published", "verified"];

/** One tracked certificate version with its tags parsed. */
export interface Generation extends Omit<CertificateVersion, "tags"> {
  phase: Phase;
  idpKeyId?: string;
  publishedAt?: Date;
  verifiedAt?: Date;
  activatedAt?: Date;
  retireAfter?: Date;
  retiredAt?: Date;
  failures: number;
  lastError?: string;
  lastFailureAt?: Date;
  /** The policy fingerprint it was issued under; absent for adopted or older generations. */
  policy?: string;
  /** When a rollback took it out of service. */
  rolledBackAt?: Date;
  /** When its key was reported compromised. */
  compromisedAt?: Date;
  /** The raw tag map, kept so that writes can merge into it. */
  tags: Readonly<Record<string, string>>;
}

function date(v: string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function isPhase(v: string | undefined): v is Phase {
  return (PHASES as readonly string[]).includes(v ?? "");
}

/** Parse a version's tags; undefined when the version is not managed by the engine (no valid phase tag). */
export function parseGeneration(v: CertificateVersion): Generation | undefined {
  const t = v.tags;
  const phase = t[TAG_PHASE];
  if (!isPhase(phase)) return undefined;
  const failures = Number(t[TAG_FAILURES] ?? "0");
  return {
    version: v.version,
    enabled: v.enabled,
    createdOn: v.createdOn,
    x5t: v.x5t,
    x5tS256: v.x5tS256,
    notBefore: v.notBefore,
    expiresOn: v.expiresOn,
    phase,
    idpKeyId: t[TAG_IDP_KEY_ID] ?? t[TAG_LEGACY_KEY_ID],
    publishedAt: date(t[TAG_PUBLISHED_AT]),
    verifiedAt: date(t[TAG_VERIFIED_AT]),
    activatedAt: date(t[TAG_ACTIVATED_AT]),
    retireAfter: date(t[TAG_RETIRE_AFTER]),
    retiredAt: date(t[TAG_RETIRED_AT]),
    failures: Number.isInteger(failures) && failures >= 0 ? failures : 0,
    lastError: t[TAG_LAST_ERROR],
    lastFailureAt: date(t[TAG_LAST_FAILURE_AT]),
    policy: t[TAG_POLICY],
    rolledBackAt: date(t[TAG_ROLLED_BACK_AT]),
    compromisedAt: date(t[TAG_COMPROMISED_AT]),
    tags: t,
  };
}

/** Saved state of a verification that continues in a later run (a `StreakState` from propagation.ts). */
export interface VerifyProgress {
  streak: number;
  attempts: number;
  firstAt: Date;
  lastAt?: Date;
  lastFailure?: string;
}

/** `s=2;n=7;f=<ISO>;l=<ISO>;e=<code>`: under 120 characters, well within Key Vault's 256. */
export function formatVerifyProgress(p: VerifyProgress): string {
  return [
    `s=${p.streak}`,
    `n=${p.attempts}`,
    `f=${p.firstAt.toISOString()}`,
    ...(p.lastAt ? [`l=${p.lastAt.toISOString()}`] : []),
    ...(p.lastFailure ? [`e=${p.lastFailure.replace(/[^A-Za-z0-9_.-]/g, "").slice(0, 64)}`] : []),
  ].join(";");
}

/** Undefined when absent or unreadable (verification then starts over, which only costs time). */
export function parseVerifyProgress(v: string | undefined): VerifyProgress | undefined {
  if (!v) return undefined;
  const f = Object.fromEntries(v.split(";").map((kv) => [kv.slice(0, 1), kv.slice(2)]));
  const streak = Number(f["s"]);
  const attempts = Number(f["n"]);
  const firstAt = date(f["f"]);
  const lastAt = date(f["l"]);
  if (!Number.isInteger(streak) || !Number.isInteger(attempts) || streak < 0 || attempts < streak || !firstAt)
    return undefined;
  return {
    streak,
    attempts,
    firstAt,
    ...(lastAt ? { lastAt } : {}),
    ...(f["e"] ? { lastFailure: f["e"] } : {}),
  };
}

/**
 * A tag the engine wrote as a JSON object. Undefined when absent or unreadable (a user edit): the caller
 * then ignores the tag, never guesses.
 */
export function jsonTag(v: string | undefined): Record<string, unknown> | undefined {
  if (!v) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    return undefined;
  }
  return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}

/** Changes to rotator tags; `undefined` removes the tag. */
export type TagChanges = Partial<Record<string, string | undefined>>;

/** Merge changes into a full tag map and check Key Vault's limits before anything is sent. */
export function mergeTags(
  current: Readonly<Record<string, string>>,
  changes: TagChanges,
): Record<string, string> {
  const out: Record<string, string> = { ...current };
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  const count = Object.keys(out).length;
  if (count > MAX_TAGS)
    throw new RotatorError(
      "TAG_LIMIT_EXCEEDED",
      `the certificate version would carry ${count} tags; Key Vault allows ${MAX_TAGS}`,
      `The engine uses up to 14 tags named ${TAG_PREFIX}*; remove other tags from the certificate versions.`,
      { details: { count } },
    );
  for (const [k, v] of Object.entries(out))
    if (v.length > MAX_TAG_VALUE)
      throw new RotatorError(
        "TAG_VALUE_TOO_LONG",
        `tag ${k} is longer than ${MAX_TAG_VALUE} characters`,
        "Shorten the tag value.",
      );
  return out;
}

/** Tag changes that record one failure of a step on a generation. */
export function failureTags(tags: Readonly<Record<string, string>>, code: string, now: Date): TagChanges {
  const previous = Number(tags[TAG_FAILURES] ?? "0");
  return {
    [TAG_FAILURES]: String((Number.isInteger(previous) && previous >= 0 ? previous : 0) + 1),
    [TAG_LAST_ERROR]: code,
    [TAG_LAST_FAILURE_AT]: now.toISOString(),
  };
}

/** Tag changes for a phase transition; the last error is cleared (the failure count is history and stays). */
export function phaseTags(phase: Phase, extra: TagChanges = {}): TagChanges {
  return {
    [TAG_PHASE]: phase,
    [TAG_LAST_ERROR]: undefined,
    [TAG_LAST_FAILURE_AT]: undefined,
    [TAG_VERIFY]: undefined,
    // Transient tags end with the phase they serve, so a generation's tag count stays within Key
    // Vault's 15 over its whole life: the Kong confirmation record (written while a push is being
    // confirmed) and the fleet's next-due time (meaningful only on the active generation).
    [TAG_KONG_CONFIRM]: undefined,
    ...(phase === "active" ? {} : { [TAG_NEXT_DUE]: undefined }),
    ...extra,
  };
}
