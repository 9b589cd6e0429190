/**
 * Push one generation's private JWK to Kong targets and confirm that their gateways hold it. The JWK is
 * read from Key Vault's backing secret (the only place private key material flows) and goes straight to
 * the targets; it is never logged, returned or stored.
 *
 * Apply and confirm are separate: apply writes the control plane (and reads it back); confirm asks
 * whether the gateways behind it (data planes, DB-less nodes, proxy pods) hold the key. Before a write,
 * the target's baseline and the write time are persisted in a tag (./confirm-tag.ts), so a later run
 * resumes the same confirmation instead of starting over. Each target's gateways have a window of its
 * `maxLagMs`: within a run, confirm is polled for at most the run's wait budget; a target still behind
 * inside its window makes the step `wait` (the run ends `waiting`, exit 0, and resumes later); one still
 * behind when its window ends fails the step naming the gateways, the generation stays `verified` (the
 * old key stays registered at the IdP), and the next attempt opens a new window (docs/engine.md,
 * "Confirmation windows").
 */
import type { CredentialConfig } from "../config/load.js";
import { referenceSecretName } from "../config/rules.js";
import { pemToKongJwk, type KongPrivateJwk } from "../crypto/keymaterial.js";
import { isRotatorError } from "../errors.js";
import type { CertificateStore, KongConfirmBase, KongTarget, EnginePorts } from "../ports/engine.js";
import { confirmRecordChanges, confirmRecords, TAG_KONG_CONFIRM, type ConfirmRecord } from "./confirm-tag.js";
import {
  atTarget,
  certMismatch,
  kongConfirmFailed,
  kongNotConfirmed,
  runAborted,
  vaultSecretMismatch,
  vaultSecretUnsupported,
} from "./errors.js";
import { generationAlgorithm, targetHolds } from "./model.js";
import type { Generation, TagChanges } from "./tags.js";
import type { Snapshot } from "./types.js";
import type { TagBook } from "./tag-book.js";
import { checkVaultEntity } from "./vault-entity.js";
import {
  holdsPrivateMembers,
  privateMembersJson,
  referencedJwk,
  referenceSecrets,
  SECRET_CONTENT_TYPE,
} from "./vault-ref.js";
import type { StepWait } from "./wait.js";

/**
 * What pushing needs from a step: the credential, the tag book, the clock, the store, the lease signal,
 * progress, what the targets held when the step was planned, and how long it may poll (default: until
 * every window ends).
 */
export interface PushContext {
  cred: CredentialConfig;
  tags: TagBook;
  signal?: AbortSignal;
  progress(detail: string): void;
  ports: Pick<EnginePorts, "clock" | "store">;
  snapshot: Pick<Snapshot, "targets">;
  waitBudgetMs?: number;
  /** Migration from a client secret: each write also switches our client_auth to private_key_jwt. */
  switchAuth?: boolean;
}

/** How often a pending confirmation is looked at again within a run. */
export const CONFIRM_POLL_MS = 2_000;

export async function loadJwk(
  store: CertificateStore,
  cred: CredentialConfig,
  g: Generation,
): Promise<KongPrivateJwk> {
  const { jwk } = pemToKongJwk(
    await store.readPem(cred.certificateName, g.version),
    generationAlgorithm(g, cred.policy),
  );
  if (jwk.kid !== g.x5t) throw certMismatch(g.version, g.x5t, jwk.kid);
  return jwk;
}

/**
 * What the target receives. Inline: the JWK. Vault-reference mode (./vault-ref.ts): the generation's
 * secret is written (unless it already holds the members) and read back BEFORE the plugin changes, because
 * Kong resolves a reference it cannot fetch to "" and logins would fail; the target then gets the public
 * members and references, never a private member.
 */
async function jwkFor(ctx: PushContext, target: KongTarget, jwk: KongPrivateJwk): Promise<KongPrivateJwk> {
  const ref = ctx.cred.kong.find((t) => t.name === target.name)?.vaultReference;
  if (!ref) return jwk;
  const secrets = referenceSecrets(ctx.ports.store, ref);
  if (!secrets) throw vaultSecretUnsupported(target.name);
  const name = referenceSecretName(ref, ctx.cred.name, jwk.kid);
  const holds = (r: { value: string; contentType?: string } | undefined) =>
    r !== undefined && r.contentType === SECRET_CONTENT_TYPE && holdsPrivateMembers(r.value, jwk);
  // Absent, or disabled when the generation was retired and is now rolled back to: write a new version.
  const current = await secrets.get(name).catch((e: unknown) => {
    if (isRotatorError(e) && (e.code === "KV_NOT_FOUND" || e.code === "KV_VERSION_DISABLED"))
      return undefined;
    throw e;
  });
  if (!holds(current)) {
    await secrets.set(name, privateMembersJson(jwk), SECRET_CONTENT_TYPE);
    if (!holds(await secrets.get(name))) throw vaultSecretMismatch(target.name, name);
    ctx.progress(`Kong target ${target.name}: wrote and read back Key Vault secret ${name}`);
  }
  return referencedJwk(jwk, ref, name);
}

/** A target written (or found holding the key) whose gateways are being confirmed. */
interface Confirming {
  target: KongTarget;
  /** What confirm() is asked against: the baseline, and the start of the current window. */
  since: KongConfirmBase;
  /** The record persisted for the target (absent when the target confirms by read-back alone). */
  record?: ConfirmRecord;
  plugins: number;
}

/**
 * Apply to one target, persisting where its confirmation starts before the write.
 *
 * The window a target's gateways have to take the key is `maxLagMs` from the start of its confirmation:
 * - the first attempt: the write (after the baseline is taken and persisted);
 * - a later run while that window is open: the same window, resumed;
 * - a later run after the window ended unconfirmed (the step failed with KONG_NOT_CONFIRMED): a new window
 *   from now, so that a data plane that comes back gets its time to sync instead of failing the run at once.
 *   The baseline stays: it is what the gateways held before our write.
 * When the target no longer holds the key (the control plane lost it: a restore, another writer), it is
 * written again, with a new baseline taken just before.
 */
async function applyTo(
  ctx: PushContext,
  g: Generation,
  target: KongTarget,
  jwk: KongPrivateJwk,
): Promise<Confirming> {
  const recorded = confirmRecords(ctx.tags.current(g))[target.name];
  const observed = ctx.snapshot.targets.find((t) => t.name === target.name);
  const resume = recorded !== undefined && observed !== undefined && targetHolds(observed, jwk.kid);
  const now = ctx.ports.clock.now();
  const persist = (record: ConfirmRecord | undefined) =>
    ctx.tags.write(g, confirmRecordChanges(ctx.tags.current(g), target.name, record));
  try {
    let since: KongConfirmBase;
    let record: ConfirmRecord | undefined;
    if (resume) {
      record = recorded.failed ? { ...recorded, windowFrom: now, failed: false } : recorded;
      if (recorded.failed) {
        await persist(record);
        ctx.progress(
          `Kong target ${target.name}: the last confirmation window ended unconfirmed; a new one of ${Math.round(target.maxLagMs / 1000)} s starts now`,
        );
      }
      since = {
        appliedAt: record.windowFrom ?? record.appliedAt,
        ...(record.baseline ? { baseline: record.baseline } : {}),
      };
    } else {
      const baseline = await target.baseline();
      since = { appliedAt: now, ...(baseline ? { baseline } : {}) };
      // Persisted only when there is something to resume (a traditional node confirms by read-back at once).
      if (target.maxLagMs > 0 && baseline !== undefined) {
        record = { ...since, lagging: [] };
        await persist(record);
      } else if (recorded) await persist(undefined);
      if (recorded) ctx.progress(`Kong target ${target.name}: no longer holds ${jwk.kid}; writing it again`);
    }
    // The port reads back and compares after a write (one rule for every kind), so its receipt is trusted.
    const receipt = await target.apply(
      await jwkFor(ctx, target, jwk),
      ctx.switchAuth ? { switchAuth: true } : undefined,
    );
    // The target already held the key and no write of ours is on record: the baseline was taken after
    // someone else's write and may already be the new state, so it proves nothing.
    if (!resume && !receipt.wrote && since.baseline !== undefined) {
      since = { appliedAt: since.appliedAt };
      if (record) await persist((record = { ...since, lagging: [] }));
    }
    return { target, since, ...(record ? { record } : {}), plugins: receipt.plugins.length };
  } catch (e) {
    throw atTarget(e, target.name);
  }
}

/**
 * The target's record; one without (no baseline to keep) is made when its window must outlive the run, so
 * that a later run resumes the window instead of opening a new one.
 */
function recordOf(p: Confirming): ConfirmRecord {
  return p.record ?? { ...p.since, lagging: [] };
}

/** Confirmed targets; with `wait`, some are still within their window when the run's budget ran out. */
export interface PushOutcome {
  confirmed: string[];
  wait?: StepWait;
}

/**
 * Apply the key to every target, then poll until every one confirms. A target still behind when the run's
 * wait budget runs out, but within its window, makes the outcome a `wait` (the run ends `waiting` and
 * resumes the same window later). Throws KONG_NOT_CONFIRMED (naming the gateways) when a target's window
 * ends unconfirmed; its record says so, and the next attempt opens a new window.
 */
export async function pushAndConfirm(
  ctx: PushContext,
  g: Generation,
  targets: readonly KongTarget[],
  jwk: KongPrivateJwk,
): Promise<PushOutcome> {
  const { clock } = ctx.ports;
  const pending: Confirming[] = [];
  // Vault-reference targets: every one's vault entity must resolve the references before any is written.
  for (const target of targets) {
    const ref = ctx.cred.kong.find((t) => t.name === target.name)?.vaultReference;
    if (ref) await checkVaultEntity(ctx.ports.store, target, ref);
  }
  for (const target of targets) {
    // A lost lease means another writer may be working: stop before the next write.
    if (ctx.signal?.aborted) throw runAborted();
    pending.push(await applyTo(ctx, g, target, jwk));
  }
  const budgetEnd = clock.now().getTime() + (ctx.waitBudgetMs ?? Number.POSITIVE_INFINITY);
  const windowEnd = (p: Confirming) => p.since.appliedAt.getTime() + p.target.maxLagMs;
  const lagging = new Map<Confirming, { names: string[]; detail: string }>();
  const confirmed: string[] = [];
  for (;;) {
    for (const p of [...pending]) {
      const c = await confirmOnce(p.target, jwk.kid, p.since);
      if (c.state === "confirmed") {
        pending.splice(pending.indexOf(p), 1);
        confirmed.push(`${p.target.name}: ${p.plugins} plugin(s) on ${jwk.kid}; ${c.detail}`);
        ctx.progress(`Kong target ${p.target.name}: confirmed (${c.detail})`);
        continue;
      }
      if (c.state === "failed") throw kongConfirmFailed(p.target.name, c.code, c.detail, c.lagging);
      if (clock.now().getTime() >= windowEnd(p)) {
        await ctx.tags
          .write(
            g,
            confirmRecordChanges(ctx.tags.current(g), p.target.name, {
              ...recordOf(p),
              lagging: c.lagging,
              failed: true,
            }),
          )
          .catch(() => undefined);
        throw kongNotConfirmed(p.target.name, jwk.kid, c.lagging, c.detail, p.target.maxLagMs);
      }
      lagging.set(p, { names: c.lagging, detail: c.detail });
      ctx.progress(
        `Kong target ${p.target.name}: waiting for ${c.lagging.join(", ") || "the gateways"} (${c.detail})`,
      );
    }
    if (pending.length === 0) return { confirmed };
    if (ctx.signal?.aborted) throw runAborted();
    const now = clock.now().getTime();
    const next = now + Math.max(1, Math.min(CONFIRM_POLL_MS, ...pending.map((p) => windowEnd(p) - now)));
    if (next > budgetEnd) return { confirmed, wait: await handBack(ctx, g, pending, lagging, next) };
    await clock.sleep(next - now, ctx.signal);
  }
}

/**
 * The run's budget ran out inside the targets' windows: note who lags (status, best effort) and say when
 * to look again.
 */
async function handBack(
  ctx: PushContext,
  g: Generation,
  pending: Confirming[],
  lagging: Map<Confirming, { names: string[]; detail: string }>,
  next: number,
): Promise<StepWait> {
  let changes: TagChanges = {};
  let tags = ctx.tags.current(g);
  for (const p of pending) {
    const seen = lagging.get(p)?.names ?? [];
    if (p.record && p.record.lagging.join(",") === seen.join(",")) continue;
    changes = confirmRecordChanges(tags, p.target.name, { ...recordOf(p), lagging: seen });
    tags = { ...tags, [TAG_KONG_CONFIRM]: changes[TAG_KONG_CONFIRM] ?? "" };
  }
  if (Object.keys(changes).length) await ctx.tags.write(g, changes).catch(() => undefined);
  const reason = pending
    .map((p) => {
      const l = lagging.get(p);
      const end = new Date(p.since.appliedAt.getTime() + p.target.maxLagMs).toISOString();
      return `Kong target ${p.target.name}: waiting for ${l?.names.join(", ") || "the gateways"} (${l?.detail ?? "not confirmed yet"}) until ${end}`;
    })
    .join("; ");
  return { until: new Date(next), reason };
}

async function confirmOnce(target: KongTarget, kid: string, since: KongConfirmBase) {
  try {
    return await target.confirm({ kid }, since);
  } catch (e) {
    throw atTarget(e, target.name);
  }
}

/** Tag changes that drop the targets' confirmation records once they confirmed (others' records stay). */
export function clearConfirmRecords(
  tags: Readonly<Record<string, string>>,
  targets: readonly KongTarget[],
): TagChanges {
  let base: Record<string, string> = {};
  let changes: TagChanges = { [TAG_KONG_CONFIRM]: undefined };
  for (const [name, record] of Object.entries(confirmRecords(tags))) {
    if (targets.some((t) => t.name === name)) continue;
    changes = confirmRecordChanges(base, name, record);
    base = { [TAG_KONG_CONFIRM]: changes[TAG_KONG_CONFIRM] ?? "" };
  }
  return changes;
}

/** Drop the targets' confirmation records from the generation, writing only when there is one. */
export async function forgetConfirmations(
  ctx: Pick<PushContext, "tags">,
  g: Generation,
  targets: readonly KongTarget[],
): Promise<void> {
  const current = ctx.tags.current(g);
  const changes = clearConfirmRecords(current, targets);
  if (current[TAG_KONG_CONFIRM] !== changes[TAG_KONG_CONFIRM]) await ctx.tags.write(g, changes);
}
