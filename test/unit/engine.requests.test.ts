/**
 * The trigger chain, durable manual requests (forced rotation, rollback, cancel, cooldown) on the
 * in-memory world with a fake clock.
 */
import { describe, expect, it } from "vitest";
import { reconcile } from "../../src/engine/reconcile.js";
import { observe } from "../../src/engine/observe.js";
import { plan } from "../../src/engine/plan.js";
import { cancelRequest, submitRequest } from "../../src/engine/manual.js";
import { decodeRequest, encodeRequest, newRequest, pendingRequest } from "../../src/engine/requests.js";
import { evaluateTriggers, TRIGGER_POLICIES } from "../../src/engine/triggers.js";
import { credentialStatus } from "../../src/engine/status.js";
import { TAG_REQUEST } from "../../src/engine/tags.js";
import { isRotatorError } from "../../src/errors.js";
import { createWorld, type World } from "../support/memory/world.js";
import {
  activeVersion,
  bootstrapped,
  only,
  renewed,
  settle,
  toRenewal,
  toRetirement,
  versionsByPhase,
} from "../support/scenarios.js";

const MIN = 60_000;
const DAY = 86_400_000;

async function triggerOf(w: World, force = false) {
  const s = await observe(w.cred, w.ports);
  return evaluateTriggers({ snapshot: s, policy: w.cred.policy, now: w.clock.now(), force });
}

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isRotatorError(e)) return e.code;
    throw e;
  }
  throw new Error("expected a rejection");
}

const downKong = (w: World) => {
  w.calls.failNext("kong[edge].inspect", 1000);
  w.calls.failNext("kong[edge].apply", 1000);
};
const upKong = (w: World) => {
  w.calls.heal("kong[edge].inspect");
  w.calls.heal("kong[edge].apply");
};

describe("trigger chain", () => {
  it("is evaluated in this order", () => {
    expect(TRIGGER_POLICIES.map((p) => p.name)).toEqual([
      "NoActiveGeneration",
      "ManualRequest",
      "Forced",
      "KeyMissingAtIdp",
      "PolicyChanged",
      "Renewal",
    ]);
  });

  it("NoActiveGeneration: bootstrap is due at once", async () => {
    const w = createWorld();
    const { due } = await triggerOf(w);
    expect(due).toMatchObject({ reason: "NoActiveGeneration" });
    const r = await reconcile(w.cred, w.ports);
    expect(r.plan[0]).toMatchObject({ kind: "create", trigger: "NoActiveGeneration" });
  });

  it("Renewal: not due before renewBefore, with its due time; due after", async () => {
    const w = await bootstrapped();
    const expires = activeVersion(w).cert?.notAfter as Date;
    const { due, next } = await triggerOf(w);
    expect(due).toBeUndefined();
    expect(next).toMatchObject({ reason: "Renewal" });
    expect(next?.dueAt.getTime()).toBe(expires.getTime() - w.cred.policy.renewBefore);
    toRenewal(w);
    expect((await triggerOf(w)).due).toMatchObject({ reason: "Renewal" });
  });

  it("Forced (a dry-run projection) is due at once", async () => {
    const w = await bootstrapped();
    expect((await triggerOf(w, true)).due).toMatchObject({ reason: "Forced" });
  });

  it("KeyMissingAtIdp: a key removed at the IdP by someone else is replaced through verification", async () => {
    const w = await bootstrapped();
    const old = activeVersion(w);
    w.directory.keys = w.directory.keys.filter((k) => k.x5t !== old.cert?.x5t);
    expect((await triggerOf(w)).due).toMatchObject({ reason: "KeyMissingAtIdp" });
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    expect(r.steps.filter((s) => s.status === "done").map((s) => s.action)).toEqual(
      expect.arrayContaining(["create", "publish", "verify", "activate"]),
    );
    expect(activeVersion(w).version).not.toBe(old.version);
    expect(w.kong.every((t) => t.kids().every((k) => k === activeVersion(w).cert?.x5t))).toBe(true);
  });

  it("PolicyChanged: a different key size or algorithm starts a generation; the same policy does not", async () => {
    const w = await bootstrapped();
    expect((await triggerOf(w)).due).toBeUndefined();
    w.cred.policy = { ...w.cred.policy, keySize: 3072 };
    const t = (await triggerOf(w)).due;
    expect(t).toMatchObject({ reason: "PolicyChanged" });
    expect(t?.message).toContain("key size");
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    expect((await triggerOf(w)).due).toBeUndefined();
    w.cred.policy = { ...w.cred.policy, algorithm: "RS256", validityMonths: 7 };
    expect((await triggerOf(w)).due?.message).toMatch(/algorithm, validity/);
  });

  it("an adopted generation (no policy fingerprint) never counts as changed", async () => {
    const w = await bootstrapped();
    const a = activeVersion(w);
    const { ["rotator-policy"]: _dropped, ...rest } = a.tags;
    w.store.setTags(w.cred.certificateName, a.version, rest);
    w.cred.policy = { ...w.cred.policy, keySize: 4096 };
    expect((await triggerOf(w)).due).toBeUndefined();
  });
});

describe("durable manual requests", () => {
  it("a forced rotation during a Kong outage is kept, retried, and completed once Kong is back", async () => {
    const w = await bootstrapped();
    w.clock.advance(60 * MIN);
    const old = activeVersion(w);
    downKong(w);
    const sub = await submitRequest(w.cred, w.ports, {
      kind: "rotate",
      force: true,
      actor: "alice",
      reason: "leak",
    });
    expect(sub.outcome).toBe("recorded");

    const r1 = await reconcile(w.cred, w.ports);
    expect(r1.outcome).toBe("failed");
    expect(r1.failedTarget).toBe("edge");
    expect(r1.status?.request).toMatchObject({ kind: "rotate", force: true, actor: "alice", attempts: 1 });
    expect(r1.status?.request?.lastError).toBeDefined();

    // The next plain run (timer, `run`) still carries the request, and still fails while Kong is down.
    w.clock.advance(MIN);
    const r2 = await reconcile(w.cred, w.ports);
    expect(r2.outcome).toBe("failed");
    expect(r2.plan[0]).toMatchObject({ kind: "create", trigger: "ManualRequest" });
    expect(r2.status?.request?.attempts).toBe(2);
    expect(versionsByPhase(w, "pending")).toHaveLength(0);

    upKong(w);
    const r3 = await reconcile(w.cred, w.ports);
    expect(r3.outcome).toBe("ok");
    const fresh = activeVersion(w);
    expect(fresh.version).not.toBe(old.version);
    expect(r3.status?.request).toBeUndefined();
    const done = decodeRequest(
      w.store.versions(w.cred.certificateName).find((v) => v.version === old.version)?.tags[TAG_REQUEST],
    );
    expect(done).toMatchObject({ state: "done", result: fresh.cert?.x5t, attempts: 3 });
    // Done means done: the next run does not rotate again.
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("noop");
  });

  it("a request repeated while one is pending creates no second generation", async () => {
    const w = await bootstrapped();
    w.clock.advance(60 * MIN);
    downKong(w);
    const a = await submitRequest(w.cred, w.ports, { kind: "rotate", force: true });
    await reconcile(w.cred, w.ports);
    const b = await submitRequest(w.cred, w.ports, { kind: "rotate", force: true });
    expect(b).toMatchObject({ outcome: "already-pending", request: { id: a.request.id } });
    upKong(w);
    await settle(w);
    expect(w.store.versions(w.cred.certificateName)).toHaveLength(2);
    expect(
      await rejection(
        submitRequest(w.cred, w.ports, { kind: "rollback" }).then(() =>
          submitRequest(w.cred, w.ports, { kind: "rotate", force: true, overrideCooldown: true }),
        ),
      ),
    ).toBe("REQUEST_CONFLICT");
  });

  it("cancel withdraws a pending request (audited) and the next run does not rotate", async () => {
    const w = await bootstrapped();
    w.clock.advance(60 * MIN);
    downKong(w);
    await submitRequest(w.cred, w.ports, { kind: "rotate", force: true, actor: "alice" });
    await reconcile(w.cred, w.ports);
    const c = await cancelRequest(w.cred, w.ports, "bob");
    expect(c.request).toMatchObject({ state: "cancelled", result: "bob" });
    expect(w.logLines.some((l) => l.includes("ManualRequestCancelled") && l.includes("bob"))).toBe(true);
    upKong(w);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("noop");
    expect(w.store.versions(w.cred.certificateName)).toHaveLength(1);
    expect(await rejection(cancelRequest(w.cred, w.ports, "bob"))).toBe("NO_PENDING_REQUEST");
  });

  it("cancel abandons a generation created for the request that is not active yet", async () => {
    const w = await bootstrapped();
    w.tokens.options.propagationMs = 10 * DAY;
    w.clock.advance(60 * MIN);
    await submitRequest(w.cred, w.ports, { kind: "rotate", force: true });
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("stuck");
    const c = await cancelRequest(w.cred, w.ports, "bob");
    expect(c.abandoned).toHaveLength(1);
    const after = await settle(w);
    expect(after.at(-1)?.outcome).toBe("noop");
    expect(w.phases()).toEqual(["active", "retired"]);
  });

  it("a forced rotation within policy.forceCooldown is refused unless overridden", async () => {
    const w = await bootstrapped();
    w.clock.advance(2 * MIN);
    expect(await rejection(submitRequest(w.cred, w.ports, { kind: "rotate", force: true }))).toBe(
      "ROTATE_COOLDOWN",
    );
    expect(w.calls.mutations()).toEqual([]);
    const ok = await submitRequest(w.cred, w.ports, { kind: "rotate", force: true, overrideCooldown: true });
    expect(ok.outcome).toBe("recorded");
  });

  it("the tag fits Key Vault's 256 characters whatever the actor and reason", () => {
    const r = newRequest("rollback", new Date("2026-11-30T12:00:00Z"), {
      actor: "a".repeat(300),
      reason: 'é"\\'.repeat(200),
      to: "f".repeat(32),
    });
    const raw = encodeRequest({
      ...r,
      attempts: 12,
      lastError: "KONG_UNREACHABLE",
      lastAttemptAt: new Date(),
    });
    expect(raw.length).toBeLessThanOrEqual(256);
    expect(decodeRequest(raw)).toMatchObject({
      id: r.id,
      kind: "rollback",
      to: "f".repeat(32),
      attempts: 12,
    });
    expect(decodeRequest("{not json")).toBeUndefined();
    // JSON that is not an object (a user edit) is ignored too, not a crash.
    for (const edited of ["null", "5", "[]", '"x"']) expect(decodeRequest(edited)).toBeUndefined();
  });
});

describe("rollback", () => {
  it("puts every target back on the previous generation; the rolled-back one never returns by itself", async () => {
    const w = await renewed();
    const previous = only(versionsByPhase(w, "retiring"));
    const bad = activeVersion(w);
    const sub = await submitRequest(w.cred, w.ports, { kind: "rollback", actor: "alice" });
    expect(sub.request.to).toBe(previous.version);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    expect(activeVersion(w).version).toBe(previous.version);
    expect(w.kong.every((t) => t.kids().every((k) => k === previous.cert?.x5t))).toBe(true);
    const rolled = w.store.versions(w.cred.certificateName).find((v) => v.version === bad.version);
    expect(rolled?.tags["rotator-phase"]).toBe("retiring");
    expect(rolled?.tags["rotator-rolledBackAt"]).toBeDefined();
    expect(pendingRequest((await observe(w.cred, w.ports)).generations)).toBeUndefined();
    // The restored key is inside renewBefore already: renewal waits until half of it remains.
    const s = await observe(w.cred, w.ports);
    const next = evaluateTriggers({ snapshot: s, policy: w.cred.policy, now: w.clock.now() }).next;
    expect(next).toMatchObject({ reason: "Renewal" });
    expect(next?.dueAt.getTime()).toBe(
      (previous.cert?.notAfter as Date).getTime() - w.cred.policy.renewBefore / 2,
    );
    // After the overlap the rolled-back key is retired by the normal rules; the restored one stays.
    toRetirement(w);
    await settle(w);
    expect(activeVersion(w).version).toBe(previous.version);
    expect(w.directory.find(bad.cert?.x5t ?? "")).toBeUndefined();
    expect(w.phases().filter((p) => p === "active")).toHaveLength(1);
  });

  it("restores the previous key with the algorithm it was registered under, after an algorithm change", async () => {
    const w = await renewed();
    const ps256 = activeVersion(w);
    w.cred.policy = { ...w.cred.policy, algorithm: "RS256" };
    await settle(w);
    const rs256 = activeVersion(w);
    expect(rs256.version).not.toBe(ps256.version);
    const algs = async () =>
      new Set((await Promise.all(w.kong.map((t) => t.inspect()))).flat().map((p) => p.alg));
    expect(await algs()).toEqual(new Set(["RS256"]));
    await submitRequest(w.cred, w.ports, { kind: "rollback" });
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("ok");
    expect(activeVersion(w).version).toBe(ps256.version);
    expect(await algs()).toEqual(new Set(["PS256"]));
  });

  it("is refused, with the reason, once the previous generation is retired", async () => {
    const w = await renewed();
    toRetirement(w);
    await settle(w);
    const s = await observe(w.cred, w.ports);
    const p = plan(s, w.cred.policy, w.clock.now(), { rollback: true });
    expect(p.actions).toEqual([
      expect.objectContaining({
        kind: "rollback",
        blocked: expect.stringMatching(/previous generation .* is retired/),
      }),
    ]);
    expect(await rejection(submitRequest(w.cred, w.ports, { kind: "rollback" }))).toBe("ROLLBACK_REFUSED");
    expect(credentialStatus(s, w.clock.now()).request).toBeUndefined();
  });

  it("a pending rollback that became impossible fails the run (ROLLBACK_REFUSED) instead of idling", async () => {
    const w = await renewed();
    const previous = only(versionsByPhase(w, "retiring"));
    downKong(w);
    await submitRequest(w.cred, w.ports, { kind: "rollback" });
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("failed");
    upKong(w);
    w.directory.keys = w.directory.keys.filter((k) => k.x5t !== previous.cert?.x5t);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("failed");
    expect(r.error?.code).toBe("ROLLBACK_REFUSED");
    expect(r.status?.request?.lastError).toBe("ROLLBACK_REFUSED");
  });
});
