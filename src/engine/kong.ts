/**
 * Push one generation's private JWK to Kong targets and confirm that their gateways hold it. The JWK is
 * read from Key Vault's backing secret (the only place private key material flows) and goes straight to
 * the targets; it is never logged, returned or stored.
 *
 * Apply and confirm are separate: apply writes the control plane (and reads it back); confirm asks
 * whether the gateways behind it (data planes, DB-less nodes, proxy pods) hold the key. Before a write,
 * the target's baseline and the write time are persisted in a tag (./confirm-tag.ts), so a later run
 * resumes the same confirmation instead of starting over. Within a run, confirm is polled until every
 * target confirms or one stays behind past its `maxLagMs`: the step then fails naming the gateways, the
 * generation stays `verified` (the old key stays registered at the IdP) and a later run resumes.
 */
import type { CredentialConfig } from "../config/load.js";
import { pemToKongJwk, type KongPrivateJwk } from "../crypto/keymaterial.js";
import { isRotatorError } from "../errors.js";
import type { CertificateStore, KongConfirmBase, KongTarget } from "../ports.js";
import { confirmRecordChanges, confirmRecords, TAG_KONG_CONFIRM } from "./confirm-tag.js";
import {
  atTarget,
  certMismatch,
  kongConfirmFailed,
  kongNotConfirmed,
  readbackMismatch,
  runAborted,
  vaultSecretMismatch,
  vaultSecretUnsupported,
} from "./errors.js";
import type { StepContext } from "./steps/context.js";
import { generationAlgorithm } from "./model.js";
import type { EnginePorts } from "./types.js";
import { checkVaultEntity } from "./vault-entity.js";

/** What pushing needs from a step: the credential, the tag book, the clock, the store, the lease signal, progress. */
export type PushContext = Pick<StepContext, "cred" | "tags" | "signal" | "progress"> & {
  ports: Pick<EnginePorts, "clock" | "store">;
};
import type { Generation, TagChanges } from "./tags.js";
import {
  holdsPrivateMembers,
  privateMembersJson,
  referencedJwk,
  referenceSecretName,
  referenceSecrets,
  SECRET_CONTENT_TYPE,
} from "./vault-ref.js";

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

/** Apply to one target, persisting where its confirmation starts before the write. */
async function applyTo(
  ctx: PushContext,
  g: Generation,
  target: KongTarget,
  jwk: KongPrivateJwk,
): Promise<{ since: KongConfirmBase; plugins: number }> {
  const recorded = confirmRecords(ctx.tags.current(g))[target.name];
  try {
    let since: KongConfirmBase;
    if (recorded)
      since = {
        appliedAt: recorded.appliedAt,
        ...(recorded.baseline ? { baseline: recorded.baseline } : {}),
      };
    else {
      const baseline = await target.baseline();
      since = { appliedAt: ctx.ports.clock.now(), ...(baseline ? { baseline } : {}) };
      // Persisted only when there is something to resume (a traditional node confirms by read-back at once).
      if (target.maxLagMs > 0 && baseline !== undefined)
        await ctx.tags.write(
          g,
          confirmRecordChanges(ctx.tags.current(g), target.name, { ...since, lagging: [] }),
        );
    }
    const receipt = await target.apply(await jwkFor(ctx, target, jwk));
    if (!receipt.plugins.every((v) => v.kid === jwk.kid))
      throw readbackMismatch(
        target.name,
        jwk.kid,
        receipt.plugins.map((v) => v.kid),
      );
    // The target already held the key and no write of ours is on record: the baseline was taken after
    // someone else's write and may already be the new state, so it proves nothing.
    if (!recorded && !receipt.wrote) since = { appliedAt: since.appliedAt };
    return { since, plugins: receipt.plugins.length };
  } catch (e) {
    throw atTarget(e, target.name);
  }
}

/**
 * Apply the key to every target, then wait (within the run) until every one confirms. Returns a summary per
 * target. Throws KONG_NOT_CONFIRMED (naming the gateways) when a target stays behind past its maxLag.
 */
export async function pushAndConfirm(
  ctx: PushContext,
  g: Generation,
  targets: readonly KongTarget[],
  jwk: KongPrivateJwk,
): Promise<string[]> {
  const pending: { target: KongTarget; since: KongConfirmBase; plugins: number }[] = [];
  // Vault-reference targets: every one's vault entity must resolve the references before any is written.
  for (const target of targets) {
    const ref = ctx.cred.kong.find((t) => t.name === target.name)?.vaultReference;
    if (ref) await checkVaultEntity(ctx.ports.store, target, ref);
  }
  for (const target of targets) {
    // A lost lease means another writer may be working: stop before the next write.
    if (ctx.signal?.aborted) throw runAborted();
    pending.push({ target, ...(await applyTo(ctx, g, target, jwk)) });
  }
  const done: string[] = [];
  for (;;) {
    for (const p of [...pending]) {
      const c = await confirmOnce(p.target, jwk.kid, p.since);
      if (c.state === "confirmed") {
        pending.splice(pending.indexOf(p), 1);
        done.push(`${p.target.name}: ${p.plugins} plugin(s) on ${jwk.kid}; ${c.detail}`);
        ctx.progress(`Kong target ${p.target.name}: confirmed (${c.detail})`);
        continue;
      }
      if (c.state === "failed") throw kongConfirmFailed(p.target.name, c.code, c.detail, c.lagging);
      const waited = ctx.ports.clock.now().getTime() - p.since.appliedAt.getTime();
      if (waited >= p.target.maxLagMs) {
        await ctx.tags
          .write(
            g,
            confirmRecordChanges(ctx.tags.current(g), p.target.name, { ...p.since, lagging: c.lagging }),
          )
          .catch(() => undefined);
        throw kongNotConfirmed(p.target.name, jwk.kid, c.lagging, c.detail, p.target.maxLagMs);
      }
      ctx.progress(
        `Kong target ${p.target.name}: waiting for ${c.lagging.join(", ") || "the gateways"} (${c.detail})`,
      );
    }
    if (pending.length === 0) return done;
    if (ctx.signal?.aborted) throw runAborted();
    const remaining = Math.min(
      ...pending.map(
        (p) => p.since.appliedAt.getTime() + p.target.maxLagMs - ctx.ports.clock.now().getTime(),
      ),
    );
    await ctx.ports.clock.sleep(Math.max(1, Math.min(CONFIRM_POLL_MS, remaining)), ctx.signal);
  }
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
