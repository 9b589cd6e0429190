/** Driving a KongTarget's write and confirmation the way the engine does (src/engine/kong.ts), for adapter tests. */
import type { KongPrivateJwk } from "../../src/crypto/keymaterial.js";
import type { KongConfirmBase, KongConfirmation, KongTarget } from "../../src/ports/engine.js";

/** Window start, baseline, write; a baseline taken when nothing was written is dropped (the key was already there). */
export async function applied(t: KongTarget, jwk: KongPrivateJwk) {
  const appliedAt = new Date();
  const baseline = await t.baseline();
  const r = await t.apply(jwk);
  const since: KongConfirmBase = { appliedAt, ...(baseline !== undefined && r.wrote ? { baseline } : {}) };
  return { ...r, since };
}

/** Poll confirm() every 50 ms until `done` or `ms` elapse, returning every observation. */
export async function pollConfirm(
  t: KongTarget,
  jwk: { kid: string },
  since: KongConfirmBase,
  done: (c: KongConfirmation) => boolean,
  ms = 8000,
): Promise<KongConfirmation[]> {
  const seen: KongConfirmation[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const c = await t.confirm({ kid: jwk.kid }, since);
    seen.push(c);
    if (done(c)) return seen;
    await new Promise((r) => setTimeout(r, 50));
  }
  return seen;
}
