/** Status view and drift checks between rotations. */
import { describe, expect, it } from "vitest";
import { observe } from "../../src/engine/observe.js";
import { credentialStatus } from "../../src/engine/status.js";
import { checkSync } from "../../src/engine/sync.js";
import {
  activeVersion,
  bootstrapped,
  only,
  renewed,
  toRenewal,
  toRetirement,
  versionsByPhase,
} from "../support/scenarios.js";
import { reconcile } from "../../src/engine/reconcile.js";
import { RotatorError } from "../../src/errors.js";

const DAY = 86_400_000;

describe("credentialStatus", () => {
  it("shows generations, targets and the next scheduled event, with no secret", async () => {
    const w = await renewed();
    const s = await observe(w.cred, w.ports);
    const status = credentialStatus(s, w.clock.now());
    const active = activeVersion(w);
    const old = only(versionsByPhase(w, "retiring"));
    expect(status.active).toBe(active.cert?.x5t);
    expect(status.generations.map((g) => [g.phase, g.atIdp])).toEqual([
      ["active", true],
      ["retiring", true],
    ]);
    expect(status.generations[1]?.retireAfter).toBe(old.tags["rotator-retireAfter"]);
    expect(status.targets.map((t) => [t.name, t.inSync, t.plugins.length])).toEqual([
      ["edge", true, 1],
      ["internal", true, 2],
    ]);
    expect(status.nextAction).toBe(`retire ${old.cert?.x5t} at ${old.tags["rotator-retireAfter"]}`);
    const text = JSON.stringify(status);
    const jwk = w.store.privateJwk(w.cred.certificateName, active.version);
    expect(text).not.toContain(jwk["d"]);
    expect(text).not.toContain(jwk["n"]);
  });

  it("names the next runnable action, or the blocked one with its reason", async () => {
    const w = await bootstrapped();
    w.clock.advance(200 * DAY);
    expect(credentialStatus(await observe(w.cred, w.ports), w.clock.now()).nextAction).toBe(
      "create a new certificate version",
    );
    w.directory.keys = [];
    w.kong[0]?.hold({ kid: "someone-else" });
    w.clock.advance(-200 * DAY);
    const s = credentialStatus(await observe(w.cred, w.ports), w.clock.now());
    expect(s.nextAction).toBe("create a new certificate version");
    expect(s.trigger).toMatchObject({ reason: "KeyMissingAtIdp" });
  });

  it("names the blocked action with its reason when nothing can run", async () => {
    const w = await renewed();
    toRetirement(w);
    w.calls.failNext("kong[edge].inspect", 1);
    expect(credentialStatus(await observe(w.cred, w.ports), w.clock.now()).nextAction).toMatch(
      /^retire .* \(blocked: state of Kong target\(s\) edge is unknown/,
    );
  });
});

describe("checkSync", () => {
  it("finds nothing on a healthy credential", async () => {
    const w = await bootstrapped();
    const r = await checkSync(w.cred, w.ports, { reapply: true, expiryWarningMs: 14 * DAY });
    expect(r.findings).toEqual([]);
    expect(w.calls.mutations()).toEqual([]);
  });

  it("reports a target off the active key, and re-applies only when asked", async () => {
    const w = await renewed();
    const old = only(versionsByPhase(w, "retiring"));
    const edge = w.kong[0];
    edge?.hold(w.store.privateJwk(w.cred.certificateName, old.version));
    const report = await checkSync(w.cred, w.ports, { reapply: false, expiryWarningMs: 14 * DAY });
    expect(report.findings).toEqual([
      expect.objectContaining({ code: "KONG_DRIFT", target: "edge", reapplied: false }),
    ]);
    expect(edge?.kids()).toEqual([old.cert?.x5t]);

    const fixed = await checkSync(w.cred, w.ports, { reapply: true, expiryWarningMs: 14 * DAY });
    expect(fixed.findings).toEqual([
      expect.objectContaining({ code: "KONG_DRIFT", target: "edge", reapplied: true }),
    ]);
    expect(edge?.kids()).toEqual([activeVersion(w).cert?.x5t]);
  });

  it("reports the active key missing at the IdP (and does not push it), an unreachable target and an expiring key", async () => {
    const w = await bootstrapped();
    const active = activeVersion(w);
    w.directory.keys = [];
    w.kong[0]?.hold({ kid: "someone-else" });
    w.calls.failNext("kong[internal].inspect", 1);
    w.clock.set(new Date((active.cert?.notAfter.getTime() ?? 0) - 3 * DAY));
    const r = await checkSync(w.cred, w.ports, { reapply: true, expiryWarningMs: 14 * DAY });
    expect(r.findings.map((f) => [f.code, f.target, f.reapplied])).toEqual([
      ["ACTIVE_KEY_NOT_AT_IDP", undefined, undefined],
      ["KEY_EXPIRING", undefined, undefined],
      ["KONG_DRIFT", "edge", false],
      ["KONG_UNREACHABLE", "internal", undefined],
    ]);
    expect(w.calls.count((e) => e.op.endsWith(".apply"))).toBe(0);
  });

  it("reports a failed re-apply with the target's error", async () => {
    const w = await renewed();
    const old = only(versionsByPhase(w, "retiring"));
    const edge = w.kong[0];
    edge?.hold(w.store.privateJwk(w.cred.certificateName, old.version));
    if (edge) edge.dropWrites = true;
    const r = await checkSync(w.cred, w.ports, { reapply: true, expiryWarningMs: DAY });
    expect(r.findings).toEqual([
      expect.objectContaining({
        code: "KONG_DRIFT",
        reapplied: false,
        error: expect.objectContaining({ code: "KONG_READBACK_MISMATCH" }),
      }),
    ]);
  });
});

describe("checkSync during a half-finished activation", () => {
  it("leaves a target that already holds the verified next key alone (the next run finishes the activation)", async () => {
    const w = await bootstrapped();
    toRenewal(w);
    w.calls.failNext("kong[internal].apply", 1, {
      error: () =>
        new RotatorError("KONG_UNAVAILABLE", "Admin API answered 503", "Check the control plane.", {
          status: 503,
          retryable: true,
        }),
    });
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("failed");
    const next = only(versionsByPhase(w, "verified"));
    expect(w.kong[0]?.kids()).toEqual([next.cert?.x5t]);

    const r = await checkSync(w.cred, w.ports, { reapply: true, expiryWarningMs: DAY });
    expect(r.findings).toEqual([]);
    expect(w.kong[0]?.kids()).toEqual([next.cert?.x5t]);
    expect(w.calls.count((e) => e.op.endsWith(".apply"))).toBe(2);
  });
});
