/**
 * publish: register the generation's key at the identity provider and make it usable there.
 * - Already registered (a previous run crashed after the IdP answered): registration returns it; a key
 *   registered but not yet usable (staged, or a crash before the activation) is activated.
 * - With a current key of the client (the active generation, usable and within its dates), its signer
 *   goes with the registration, for providers whose writes need a proof of possession.
 * The key id the IdP gave is recorded in the generation's tags.
 */
import { publicKeyOf } from "../../crypto/keymaterial.js";
import { runAborted } from "../errors.js";
import { currentGeneration, generationAlgorithm, keyAtIdp } from "../model.js";
import type { PlannedAction } from "../plan.js";
import { phaseTags, TAG_IDP_KEY_ID, TAG_LEGACY_KEY_ID, TAG_PUBLISHED_AT } from "../tags.js";
import { generation, signerFor, type StepContext, type StepOutcome } from "./context.js";

export async function publishGeneration(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "publish" }>,
): Promise<StepOutcome> {
  const s = ctx.snapshot;
  const g = generation(s, action.version);
  const { store, idp, clock } = ctx.ports;
  let key = keyAtIdp(s.idp.keys, g);
  const notes: string[] = [];
  if (!key) {
    if (ctx.signal?.aborted) throw runAborted();
    const certDer = await store.getCertificateDer(ctx.cred.certificateName, g.version);
    const pub = publicKeyOf(certDer);
    const current = currentGeneration(s, clock.now());
    key = await idp.register(
      {
        certDer,
        certPem: pub.certPem,
        jwk: pub.jwk,
        kid: pub.x5t,
        x5t: pub.x5t,
        alg: generationAlgorithm(g, ctx.cred.policy),
        notAfter: pub.notAfter,
        displayName: `kong-key-rotator ${ctx.cred.name} ${g.version}`,
      },
      current ? signerFor(ctx, current) : undefined,
    );
    notes.push(current ? `registered with a proof signed by current key ${current.x5t}` : "registered");
  } else notes.push("already registered");
  if (!key.usable) {
    if (ctx.signal?.aborted) throw runAborted();
    await idp.activate(key);
    notes.push("made usable");
  }
  await ctx.tags.write(
    g,
    phaseTags("published", {
      [TAG_IDP_KEY_ID]: key.id,
      [TAG_LEGACY_KEY_ID]: undefined,
      [TAG_PUBLISHED_AT]: clock.now().toISOString(),
    }),
  );
  return { detail: `${notes.join("; ")} at ${idp.client}; key id ${key.id}` };
}
