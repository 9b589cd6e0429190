/**
 * The proof is the request Kong makes, and a refusal that waiting does not fix ends verification at once
 * (fake clock): the IdP port gets the config.scopes of the first Kong target that could be read, and a
 * final refusal (TokenAttempt.retryable false) fails the run with VERIFY_REFUSED after one attempt, with
 * the provider's description and hint, instead of polling until verifyTimeout.
 */
import { describe, expect, it } from "vitest";
import { reconcile } from "../../src/engine/reconcile.js";
import { kongTokenRequest } from "../../src/engine/model.js";
import { TAG_LAST_ERROR, TAG_VERIFY } from "../../src/engine/tags.js";
import type { IdentityProvider, KongTokenRequest, TokenAttempt } from "../../src/ports/engine.js";
import { createWorld, type World } from "../support/memory/world.js";
import { only, versionsByPhase } from "../support/scenarios.js";

/** The world's IdP, with verify() observed and, optionally, answered by `answer` instead. */
function observeVerify(w: World, answer?: () => TokenAttempt): KongTokenRequest[] {
  const seen: KongTokenRequest[] = [];
  const idp = w.ports.idp;
  const wrapped: IdentityProvider = Object.create(idp) as IdentityProvider;
  wrapped.verify = async (signer, alg, kong) => {
    seen.push(kong ?? {});
    return answer ? answer() : idp.verify(signer, alg, kong);
  };
  w.ports.idp = wrapped;
  return seen;
}

describe("verification sends what Kong sends", () => {
  it("passes the first target's config.scopes, read with its plugins", async () => {
    const w = createWorld({ propagationMs: 0 });
    w.kong[0]!.scopes = ["kong.gateway"];
    w.kong[1]!.scopes = ["other"];
    const seen = observeVerify(w);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome, JSON.stringify(r.error)).toBe("ok");
    expect(seen.length).toBeGreaterThanOrEqual(w.cred.policy.verifyConsecutive);
    for (const k of seen)
      expect(k).toEqual({
        scopes: ["kong.gateway"],
        source: `Kong target edge, plugin ${w.kong[0]!.plugins[0]!.pluginId}`,
      });
  });

  it("takes the next readable target when the first cannot be read, and nothing when none can", () => {
    const views = (name: string, scopes: string[]) => ({
      name,
      plugins: [{ pluginId: `${name}-p`, clientIndex: 0, scopes }],
    });
    const down = { name: "edge", error: { code: "KONG_UNREACHABLE", message: "down", hint: "" } };
    expect(kongTokenRequest({ targets: [down, views("internal", ["a", "b"])] })).toEqual({
      scopes: ["a", "b"],
      source: "Kong target internal, plugin internal-p",
    });
    expect(kongTokenRequest({ targets: [down] })).toEqual({});
  });
});

describe("a refusal that waiting does not fix", () => {
  const refused: TokenAttempt = {
    ok: false,
    code: "invalid_scope",
    description: "One or more scopes are not configured for the authorization server resource.",
    retryable: false,
    hint: "Use scopes the authorization server grants this client.",
  };

  it("stops verification after one attempt with the provider's message and hint", async () => {
    const w = createWorld({ propagationMs: 0 });
    let attempts = 0;
    observeVerify(w, () => (attempts++, refused));
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("failed");
    expect(attempts).toBe(1);
    expect(r.error).toMatchObject({ code: "VERIFY_REFUSED", details: { error: "invalid_scope" } });
    expect(r.error?.message).toContain("One or more scopes are not configured");
    expect(r.error?.hint).toContain("Use scopes the authorization server grants this client.");
    expect(r.steps.at(-1)).toMatchObject({ action: "verify", status: "failed" });
    // No polling towards verifyTimeout: the run did not wait a single interval.
    expect(r.steps.at(-1)?.durationMs).toBeLessThan(w.cred.policy.verifyInterval);
    // The key stays registered and unused; the saved streak is cleared; nothing went to Kong.
    const v = only(versionsByPhase(w, "published"));
    expect(v.tags[TAG_VERIFY]).toBeUndefined();
    expect(v.tags[TAG_LAST_ERROR]).toBe("VERIFY_REFUSED");
    expect(w.calls.count((e) => e.op.endsWith(".apply"))).toBe(0);
  });

  it("retryable refusals (a key still propagating) keep polling until the streak or the timeout", async () => {
    const w = createWorld({ propagationMs: 0 });
    let attempts = 0;
    observeVerify(w, () =>
      ++attempts <= 4
        ? { ok: false, code: "invalid_client", description: "key not found", retryable: true }
        : { ok: true },
    );
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome, JSON.stringify(r.error)).toBe("ok");
    expect(attempts).toBe(4 + w.cred.policy.verifyConsecutive);
  });
});
