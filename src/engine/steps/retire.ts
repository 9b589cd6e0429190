/**
 * Steps that take keys out of service. A key leaves the IdP by withdraw (where the provider has a usable
 * state to leave) then remove, both with the ACTIVE generation's signer when its key is current (never
 * the key being removed). Removal comes before the `retired` tag: a crash in between leaves a `retiring`
 * generation whose key is already gone, and the next run only writes the tag.
 */
import { EngineBug, vaultSecretUnsupported } from "../errors.js";
import type { IdpKey } from "../../ports/engine.js";
import { currentGeneration, keyAtIdp, targetsReferencing } from "../model.js";
import type { PlannedAction } from "../plan.js";
import { phaseTags, TAG_RETIRE_AFTER, TAG_RETIRED_AT, type Generation } from "../tags.js";
import type { VaultReferenceConfig } from "../../config/load.js";
import { referenceSecretName } from "../../config/rules.js";
import { referenceSecrets } from "../vault-ref.js";
import { generation, signerFor, type StepContext, type StepOutcome } from "./context.js";

async function removeFromIdp(ctx: StepContext, g: Generation): Promise<string> {
  return removeKey(ctx, keyAtIdp(ctx.snapshot.idp.keys, g));
}

async function removeKey(ctx: StepContext, key: IdpKey | undefined): Promise<string> {
  const s = ctx.snapshot;
  if (!key) return `not registered at ${ctx.ports.idp.client}`;
  const current = currentGeneration(s, ctx.ports.clock.now());
  if (key.usable && ctx.ports.idp.rules.staged) await ctx.ports.idp.withdraw(key);
  await ctx.ports.idp.remove(key, current ? signerFor(ctx, current) : undefined);
  return `removed key ${key.id} from ${ctx.ports.idp.client}`;
}

export async function retireGeneration(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "retire" }>,
): Promise<StepOutcome> {
  const g = generation(ctx.snapshot, action.version);
  const removed = await removeFromIdp(ctx, g);
  const secrets = await disableReferenceSecrets(ctx, g);
  await ctx.tags.write(
    g,
    phaseTags("retired", { [TAG_RETIRED_AT]: ctx.ports.clock.now().toISOString() }),
    false,
  );
  return { detail: `${removed}; Key Vault version disabled${secrets}` };
}

/**
 * Vault-reference mode: disable the generation's secret(s) before the `retired` tag (a crash in between
 * re-runs this; disabling is idempotent). The planner retires only generations no target holds; a
 * snapshot that still shows one holding it keeps the secret, since Kong would resolve its references to "".
 */
async function disableReferenceSecrets(ctx: StepContext, g: Generation): Promise<string> {
  if (!g.x5t) return "";
  const x5t = g.x5t;
  // One secret per reference vault and name (targets may share both).
  const secrets = new Map<string, { ref: VaultReferenceConfig; name: string }>();
  for (const t of ctx.cred.kong)
    if (t.vaultReference) {
      const name = referenceSecretName(t.vaultReference, ctx.cred.name, x5t);
      secrets.set(`${t.vaultReference.keyVaultUrl ?? ""}|${name}`, { ref: t.vaultReference, name });
    }
  if (secrets.size === 0) return "";
  const held = targetsReferencing(ctx.snapshot, x5t).length > 0;
  if (held) return "; reference secret kept (a target still holds the key)";
  for (const { ref, name } of secrets.values()) {
    const store = referenceSecrets(ctx.ports.store, ref);
    if (!store) throw vaultSecretUnsupported("(retire)");
    await store.disable(name);
  }
  const names = [...new Set([...secrets.values()].map((s) => s.name))];
  return `; reference secret(s) ${names.join(", ")} disabled`;
}

export async function removeLeaked(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "remove-leaked" }>,
): Promise<StepOutcome> {
  return { detail: await removeFromIdp(ctx, generation(ctx.snapshot, action.version)) };
}

/**
 * The active generation's key, registered but not usable at the IdP (withdrawn there by someone), when the
 * client is full: Kong's logins with it fail already, so removing it frees the slot for its replacement
 * without causing an outage. Re-checked on the step's own snapshot.
 */
export async function removeUnusable(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "remove-unusable" }>,
): Promise<StepOutcome> {
  const g = generation(ctx.snapshot, action.version);
  const key = keyAtIdp(ctx.snapshot.idp.keys, g);
  if (key?.usable) throw new EngineBug(`planned removal of ${action.keyId}, which is usable at the IdP`);
  return { detail: await removeFromIdp(ctx, g) };
}

/**
 * A key-compromise rotation with revokeUnmanaged: a key at the IdP that matches no generation (the planner
 * checked that no Kong target references it and that it is not the only usable key). Audited.
 */
export async function removeUnmanaged(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "remove-unmanaged" }>,
): Promise<StepOutcome> {
  const key = ctx.snapshot.idp.keys.find((k) => k.id === action.keyId);
  if (key && ctx.snapshot.generations.some((g) => keyAtIdp([key], g)))
    throw new EngineBug(`planned removal of ${action.keyId} as unmanaged, but a generation owns it`);
  const detail = await removeKey(ctx, key);
  ctx.ports.logger.log("warn", "UnmanagedKeyRevoked", {
    credential: ctx.cred.name,
    request: action.requestId,
    keyId: action.keyId,
    ...(action.x5t ? { x5t: action.x5t } : {}),
  });
  return { detail };
}

export async function markRetiring(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "mark-retiring" }>,
): Promise<StepOutcome> {
  const g = generation(ctx.snapshot, action.version);
  await ctx.tags.write(g, phaseTags("retiring", { [TAG_RETIRE_AFTER]: action.retireAfter }));
  return { detail: `was ${g.phase}; retires after ${action.retireAfter}` };
}

export async function disableVersion(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "disable" }>,
): Promise<StepOutcome> {
  await ctx.ports.store.updateVersion(ctx.cred.certificateName, action.version, { enabled: false });
  return { detail: "Key Vault version disabled" };
}
