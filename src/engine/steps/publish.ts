/**
 * publish: register the generation's certificate on the Entra app.
 * - Already listed (a previous run crashed after Graph answered): only record it.
 * - A valid key of ours is listed: addKey with a proof signed by it; "an application does not need any
 *   specific permission to roll its own keys" (https://learn.microsoft.com/graph/api/application-addkey).
 * - Otherwise (bootstrap, every key expired): PATCH keyCredentials, which needs
 *   Application.ReadWrite.OwnedBy or .All (https://learn.microsoft.com/graph/api/application-update).
 */
import { mapPatchError, publishNotListed, runAborted } from "../errors.js";
import { keyAtApp, proofGeneration } from "../model.js";
import type { PlannedAction } from "../plan.js";
import { phaseTags, TAG_ENTRA_KEY_ID, TAG_PUBLISHED_AT } from "../tags.js";
import { generation, signerFor, type StepContext, type StepOutcome } from "./context.js";

export async function publishGeneration(
  ctx: StepContext,
  action: Extract<PlannedAction, { kind: "publish" }>,
): Promise<StepOutcome> {
  const s = ctx.snapshot;
  const g = generation(s, action.version);
  const { store, directory, clock } = ctx.ports;
  let keyId = keyAtApp(s.app, g)?.keyId;
  let detail = "already listed at the app; recorded";
  if (keyId === undefined) {
    const der = await store.getCertificateDer(ctx.cred.certificateName, g.version);
    const displayName = `kong-entra-key-rotator ${ctx.cred.name} ${g.version}`;
    const proof = action.method === "addKey" ? proofGeneration(s, clock.now()) : undefined;
    if (proof) {
      keyId = (await directory.addKey(s.app, der, signerFor(ctx, proof), displayName)).keyId;
      detail = `added with addKey (proof signed by ${proof.x5t})`;
    } else {
      if (ctx.signal?.aborted) throw runAborted();
      let app;
      try {
        app = await directory.patchKeyCredentials(s.app, { add: { certDer: der, displayName } });
      } catch (e) {
        throw mapPatchError(e);
      }
      keyId = app.keyCredentials.find((k) => k.x5t === g.x5t)?.keyId;
      if (keyId === undefined) throw publishNotListed(g.x5t ?? g.version);
      detail = "added with PATCH keyCredentials (no valid key of ours at the app)";
    }
  }
  await ctx.tags.write(
    g,
    phaseTags("published", { [TAG_ENTRA_KEY_ID]: keyId, [TAG_PUBLISHED_AT]: clock.now().toISOString() }),
  );
  return { detail: `${detail}; keyId ${keyId}` };
}
