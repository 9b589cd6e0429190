/**
 * The one rule for a refused proof (src/http/token-request.ts `tokenRefusal`), shared by every IdP adapter:
 * which refusals stop verification at once and which are polled again.
 */
import { describe, expect, it } from "vitest";
import { parseOAuthError, tokenRefusal, type RefusalContext } from "../../src/http/token-request.js";

const ctx: RefusalContext = {
  alg: "RS256",
  algorithmAllowed: true,
  scopes: { sent: ["kong.gateway"], from: "config.scopes of Kong target t, plugin p", kong: true },
  scopeOverride: "okta.scopes",
};

describe("tokenRefusal", () => {
  it("polls again what a key still propagating looks like, and anything not known to be final", () => {
    for (const [status, error] of [
      [401, "invalid_client"],
      [400, "invalid_request"],
      [400, "invalid_grant"],
      [401, undefined],
    ] as const)
      expect(
        tokenRefusal(status, { ...(error ? { error } : {}), description: "key not found" }, ctx),
      ).toEqual({
        ok: false,
        code: error ?? `HTTP_${status}`,
        description: "key not found",
        retryable: true,
      });
  });

  it("stops at once on a refused scope, naming what was sent, where from, and the override", () => {
    const r = tokenRefusal(
      400,
      { error: "invalid_scope", description: "One or more scopes are not configured" },
      ctx,
    );
    expect(r).toMatchObject({ code: "invalid_scope", retryable: false });
    expect(r.hint).toMatch(/kong\.gateway \(config\.scopes of Kong target t, plugin p\)/);
    expect(r.hint).toMatch(/okta\.scopes/);
    // Scopes of the adapter's own (not Kong's): the hint does not blame Kong's plugin.
    const own = tokenRefusal(
      400,
      { error: "invalid_scope" },
      { alg: "PS256", algorithmAllowed: true, scopes: { sent: ["x/.default"], from: "own", kong: false } },
    );
    expect(own).toMatchObject({ retryable: false, description: "the token endpoint answered 400" });
    expect(own.hint).not.toMatch(/config\.scopes/);
  });

  it("stops at once on a grant the client may not use", () => {
    expect(tokenRefusal(400, { error: "unauthorized_client" }, ctx)).toMatchObject({ retryable: false });
    expect(tokenRefusal(400, { error: "unsupported_grant_type" }, ctx)).toMatchObject({ retryable: false });
  });

  it("stops at once on invalid_client for an algorithm the client does not allow", () => {
    expect(
      tokenRefusal(401, { error: "invalid_client" }, { ...ctx, alg: "PS256", algorithmAllowed: false }),
    ).toMatchObject({ retryable: false, hint: expect.stringMatching(/PS256/) });
    expect(
      tokenRefusal(
        401,
        { error: "invalid_client", description: "The client_assertion token has an unsupported algorithm." },
        ctx,
      ),
    ).toMatchObject({ retryable: false });
  });

  it("keeps the provider's own code and at most 400 characters of its description", () => {
    const r = tokenRefusal(
      401,
      { error: "invalid_client", description: "x".repeat(1000) },
      ctx,
      "AADSTS700027",
    );
    expect(r).toMatchObject({ code: "AADSTS700027", retryable: true });
    expect(r.description).toHaveLength(400);
  });

  it("reads an OAuth error body, and nothing from a body that is not one", () => {
    expect(parseOAuthError('{"error":"invalid_scope","error_description":"no"}')).toEqual({
      error: "invalid_scope",
      description: "no",
    });
    expect(parseOAuthError("<html>")).toEqual({});
    expect(parseOAuthError("[1]")).toEqual({});
  });
});
