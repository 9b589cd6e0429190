/**
 * The key-compromise response in the engine (issue 21 part 1), on the in-memory world: the request implies
 * force and ignores the cooldown, revokes every earlier generation (a retiring one included) in the same
 * run once the new key is active everywhere, never removes a key a target still holds, clears the token
 * caches, and the compromised generation can never come back.
 */
import { describe, expect, it } from "vitest";
import { reconcile } from "../../src/engine/reconcile.js";
import { observe } from "../../src/engine/observe.js";
import { plan } from "../../src/engine/plan.js";
import { submitRequest } from "../../src/engine/manual.js";
import { credentialStatus } from "../../src/engine/status.js";
import { renderStatusPage } from "../../src/app/status-page.js";
import { isRotatorError } from "../../src/errors.js";
import { issueSelfSigned } from "../support/certs.js";
import { activeVersion, only, renewed, versionsByPhase } from "../support/scenarios.js";

async function rejection(p: Promise<unknown>): Promise<{ code: string; hint: string }> {
  try {
    await p;
  } catch (e) {
    if (isRotatorError(e)) return { code: e.code, hint: e.hint };
    throw e;
  }
  throw new Error("expected a rejection");
}

describe("rotate --compromised", () => {
  it("revokes the active and the still-retiring generation in the run that activates the new key", async () => {
    const w = await renewed();
    const retiring = only(versionsByPhase(w, "retiring"));
    const leaked = activeVersion(w);
    // Within forceCooldown of the last rotation: a plain forced rotation is refused, a compromise is not.
    expect((await rejection(submitRequest(w.cred, w.ports, { kind: "rotate", force: true }))).code).toBe(
      "ROTATE_COOLDOWN",
    );
    const sub = await submitRequest(w.cred, w.ports, {
      kind: "rotate",
      compromised: true,
      actor: "alice",
      reason: "key in a public repo",
    });
    expect(sub.request).toMatchObject({ force: true, compromised: true });
    expect(w.logLines.some((l) => l.includes(`"ForceCooldownBypassed"`))).toBe(true);

    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    const fresh = activeVersion(w);
    expect(fresh.version).not.toBe(leaked.version);
    for (const old of [leaked, retiring]) {
      const v = w.store.versions(w.cred.certificateName).find((x) => x.version === old.version);
      expect(v?.tags["rotator-phase"]).toBe("retired");
      expect(v?.enabled).toBe(false);
      expect(w.directory.find(old.cert?.x5t ?? "")).toBeUndefined();
    }
    expect(w.kong.every((t) => t.kids().every((k) => k === fresh.cert?.x5t))).toBe(true);
    // The new key reached every target before any old key left the IdP.
    const steps = r.steps.map((s) => s.action);
    expect(steps.indexOf("activate")).toBeLessThan(steps.lastIndexOf("retire"));
    expect(r.compromise).toMatchObject({
      state: "done",
      actor: "alice",
      reason: "key in a public repo",
      compromised: leaked.cert?.x5t,
      replacement: fresh.cert?.x5t,
      remaining: [],
    });
    expect(new Set(r.compromise?.revoked)).toEqual(new Set([leaked.cert?.x5t, retiring.cert?.x5t]));
    expect(r.compromise?.tokens.join(" ")).toMatch(/60-90 minutes/);
    expect(r.compromise?.tokenCaches).toEqual(
      w.kong.map((t) => ({ target: t.name, state: "cleared", detail: "token cache purged" })),
    );
    expect(w.kong.every((t) => t.cacheClears === 1)).toBe(true);
    // status shows it, and the compromised generation is marked.
    const st = credentialStatus(await observe(w.cred, w.ports), w.clock.now());
    expect(st.compromise).toMatchObject({ state: "done", request: sub.request.id });
    expect(st.generations.find((g) => g.version === leaked.version)?.compromisedAt).toBeDefined();
    // … and so does the status page (its text; the page itself is checked in Chromium elsewhere).
    const page = renderStatusPage([{ ...st, alerts: [] }], w.clock.now());
    expect(page).toContain(`key compromise ${sub.request.id}`);
    expect(page).toMatch(/tokens already issued: access tokens Entra already issued stay valid/);
    // Nothing left to do.
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("noop");
  });

  it("never removes an old key while a target still holds it: the revocation waits for the activation", async () => {
    const w = await renewed();
    const leaked = activeVersion(w);
    await submitRequest(w.cred, w.ports, { kind: "rotate", compromised: true });
    w.calls.failNext("kong[edge].apply", 1000);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("failed");
    expect(w.directory.find(leaked.cert?.x5t ?? "")).toBeDefined();
    w.calls.heal("kong[edge].apply");
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("ok");
    expect(w.directory.find(leaked.cert?.x5t ?? "")).toBeUndefined();
  });

  it("refuses a rollback to the compromised generation, with a code and a hint; plan --rollback says why", async () => {
    const w = await renewed();
    const leaked = activeVersion(w);
    await submitRequest(w.cred, w.ports, { kind: "rotate", compromised: true });
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("ok");
    const refused = await rejection(submitRequest(w.cred, w.ports, { kind: "rollback" }));
    expect(refused.code).toBe("ROLLBACK_COMPROMISED");
    expect(refused.hint).toMatch(/rotate forward/);
    const p = plan(await observe(w.cred, w.ports), w.cred.policy, w.clock.now(), { rollback: true });
    expect(p.actions.find((a) => a.kind === "rollback")?.blocked).toMatch(
      new RegExp(`${leaked.cert?.x5t ?? "?"} was reported compromised`),
    );
  });

  it("keeps keys it did not create unless revokeUnmanaged, and removes them with it", async () => {
    const w = await renewed();
    const foreign = await issueSelfSigned({
      subject: "CN=someone else",
      notBefore: w.clock.now(),
      notAfter: new Date(w.clock.now().getTime() + 86_400_000 * 90),
    });
    w.directory.seed(foreign.der, "portal upload");
    await submitRequest(w.cred, w.ports, { kind: "rotate", compromised: true });
    const kept = await reconcile(w.cred, w.ports);
    expect(kept.compromise?.unmanaged).toEqual([expect.objectContaining({ x5t: foreign.x5t })]);
    expect(w.directory.find(foreign.x5t)).toBeDefined();

    w.clock.advance(60_000);
    await submitRequest(w.cred, w.ports, { kind: "rotate", compromised: true, revokeUnmanaged: true });
    const removed = await reconcile(w.cred, w.ports);
    expect(removed.outcome).toBe("ok");
    expect(removed.steps.map((s) => s.action)).toContain("remove-unmanaged");
    expect(w.directory.find(foreign.x5t)).toBeUndefined();
    expect(removed.compromise?.unmanaged).toEqual([]);
  });
});
