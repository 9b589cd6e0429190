/** Every transition and trigger of a rotation, through reconcile() against the in-memory world. */
import { describe, expect, it, vi } from "vitest";
import { RotatorError } from "../../src/errors.js";
import { observe } from "../../src/engine/observe.js";
import { reconcile, type ProgressEvent } from "../../src/engine/reconcile.js";
import { activateGeneration } from "../../src/engine/steps/activate.js";
import { TagBook } from "../../src/engine/tag-book.js";
import {
  TAG_ACTIVATED_AT,
  TAG_IDP_KEY_ID,
  TAG_FAILURES,
  TAG_LAST_ERROR,
  TAG_PHASE,
  TAG_RETIRE_AFTER,
} from "../../src/engine/tags.js";
import { issueSelfSigned } from "../support/certs.js";
import { simulatedCrash } from "../support/memory/calls.js";
import { createWorld } from "../support/memory/world.js";
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

const kinds = (r: { steps: { action: string; status: string }[] }) =>
  r.steps.map((s) => `${s.action}:${s.status}`);

describe("bootstrap", () => {
  it("creates, publishes through the PATCH fallback, verifies and activates the first generation", async () => {
    const w = createWorld();
    w.watchInvariants();
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    expect(kinds(r)).toEqual(["create:done", "publish:done", "verify:done", "activate:done"]);
    expect(w.calls.count("directory.patchKeyCredentials")).toBe(1);
    expect(w.calls.count("directory.addKey")).toBe(0);
    const v = activeVersion(w);
    const x5t = v.cert?.x5t ?? "";
    expect(w.directory.find(x5t)?.keyId).toBe(v.tags[TAG_IDP_KEY_ID]);
    for (const t of w.kong) expect(t.kids()).toEqual(t.plugins.map(() => x5t));
    expect(r.status?.active).toBe(x5t);
    expect(w.violations).toEqual([]);
  });

  it("fails clearly when Graph forbids the PATCH, and continues once the certificate is at the app", async () => {
    const w = createWorld();
    w.directory.patchForbidden = true;
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("failed");
    expect(r.error?.code).toBe("ENTRA_PATCH_FORBIDDEN");
    expect(r.error?.hint).toContain("Application.ReadWrite.OwnedBy");
    const pending = only(versionsByPhase(w, "pending"));
    expect(pending.tags[TAG_FAILURES]).toBe("1");
    expect(pending.tags[TAG_LAST_ERROR]).toBe("ENTRA_PATCH_FORBIDDEN");
    expect(w.kong.flatMap((t) => t.kids())).toEqual([]);

    // The hint's alternative: an administrator uploads the pending certificate by hand.
    w.directory.seed(pending.cert?.der ?? Buffer.alloc(0));
    w.clock.advance(60_000);
    const next = await reconcile(w.cred, w.ports);
    expect(next.outcome).toBe("ok");
    expect(next.steps[0]).toMatchObject({
      action: "publish",
      status: "done",
      detail: expect.stringContaining("already registered"),
    });
    expect(w.phases()).toEqual(["active"]);
    expect(activeVersion(w).tags[TAG_LAST_ERROR]).toBeUndefined();
  });

  it("re-bootstraps through PATCH when every key has expired", async () => {
    const w = await bootstrapped({ policy: { validityMonths: 2 } });
    const old = activeVersion(w);
    w.clock.set(new Date((old.cert?.notAfter.getTime() ?? 0) + 86_400_000));
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    expect(w.calls.count("directory.patchKeyCredentials")).toBe(1);
    expect(w.calls.count("directory.addKey")).toBe(0);
    expect(w.phases()).toEqual(["retiring", "active"]);
  });

  it("continues a creation that was still pending when the previous run died", async () => {
    const w = createWorld();
    w.calls.crashAt("store.createVersion", "after");
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("failed");
    expect(w.store.versions(w.cred.certificateName).map((v) => v.cert)).toEqual([undefined]);
    w.calls.revive();
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    expect(w.calls.count("store.awaitPendingCreate")).toBe(1);
    expect(w.phases()).toEqual(["active"]);
  });
});

describe("renewal", () => {
  it("is a noop while the active key is healthy: no mutating call", async () => {
    const w = await bootstrapped();
    toRenewal(w);
    w.clock.advance(-120_000);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("noop");
    expect(r.steps).toEqual([]);
    expect(w.calls.mutations()).toEqual([]);
  });

  it("renews through addKey, signed by the active key, once within renewBefore", async () => {
    const w = await bootstrapped();
    w.watchInvariants();
    const old = activeVersion(w);
    toRenewal(w);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    expect(kinds(r)).toEqual(["create:done", "publish:done", "verify:done", "activate:done"]);
    expect(w.calls.count("directory.patchKeyCredentials")).toBe(0);
    expect(w.directory.proofs).toEqual([{ op: "addKey", signerX5t: old.cert?.x5t }]);
    expect(w.phases()).toEqual(["retiring", "active"]);
    const activatedAt = Date.parse(activeVersion(w).tags[TAG_ACTIVATED_AT] ?? "");
    expect(Date.parse(old.tags[TAG_RETIRE_AFTER] ?? "")).toBe(activatedAt + w.cred.policy.overlap);
    expect(w.violations).toEqual([]);
  });

  it("rotates on force, once per run", async () => {
    const w = await bootstrapped();
    const r = await reconcile(w.cred, w.ports, { force: true, reason: "key compromise drill" });
    expect(r.outcome).toBe("ok");
    expect(r.reason).toBe("key compromise drill");
    expect(w.calls.count("store.createVersion")).toBe(1);
    expect(w.phases()).toEqual(["retiring", "active"]);
  });

  it("tags the new generation active before demoting the old one; a crash between is resolved on the next run", async () => {
    const w = await bootstrapped();
    const old = activeVersion(w);
    toRenewal(w);
    const original = w.store.updateVersion.bind(w.store);
    const writes: string[] = [];
    const spy = vi.spyOn(w.store, "updateVersion").mockImplementation(async (name, version, update) => {
      writes.push(`${version === old.version ? "old" : "new"}:${update.tags?.[TAG_PHASE]}`);
      if (version === old.version) throw simulatedCrash();
      return original(name, version, update);
    });
    const r = await reconcile(w.cred, w.ports);
    spy.mockRestore();
    expect(r.outcome).toBe("failed");
    expect(writes.slice(0, 4)).toEqual(["new:published", "new:verified", "new:active", "old:retiring"]);
    expect(w.phases()).toEqual(["active", "active"]);

    const next = await reconcile(w.cred, w.ports);
    expect(next.outcome).toBe("ok");
    expect(kinds(next)).toEqual(["mark-retiring:done"]);
    expect(w.phases()).toEqual(["retiring", "active"]);
    const retireAfter = Date.parse(w.store.versions(w.cred.certificateName)[0]?.tags[TAG_RETIRE_AFTER] ?? "");
    expect(retireAfter).toBe(
      Date.parse(activeVersion(w).tags[TAG_ACTIVATED_AT] ?? "") + w.cred.policy.overlap,
    );
  });
});

describe("verify", () => {
  it("requires N consecutive acceptances: early answers from replicas that already have the key reset nothing but prove nothing", async () => {
    // Before propagation every 2nd attempt is accepted by one replica: never 3 in a row.
    const w = createWorld({ propagationMs: 60_000, earlyAcceptEvery: 2 });
    w.watchInvariants();
    const progress: string[] = [];
    const r = await reconcile(w.cred, w.ports, {
      onProgress: (e) => e.action === "verify" && e.event === "progress" && progress.push(e.detail ?? ""),
    });
    expect(r.outcome).toBe("ok");
    expect(progress.some((p) => /accepted \(1\/3/.test(p))).toBe(true);
    expect(
      progress.some((p, i) => i > 0 && /rejected \(0\/3/.test(p) && /accepted/.test(progress[i - 1] ?? "")),
    ).toBe(true);
    const v = activeVersion(w);
    const added = w.directory.find(v.cert?.x5t ?? "")?.addedAt.getTime() ?? 0;
    expect(Date.parse(v.tags["rotator-verifiedAt"] ?? "")).toBeGreaterThanOrEqual(added + 60_000);
    expect(w.violations).toEqual([]);
  });

  it("times out as stuck: the generation stays published, failures are counted, later runs retry and finish", async () => {
    const w = createWorld({ propagationMs: 5 * 60_000 });
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("stuck");
    expect(r.error?.code).toBe("VERIFY_TIMEOUT");
    expect(r.error?.hint).toMatch(/propagat/);
    expect(r.error?.hint).toContain(w.cred.idp.clientId);
    expect(r.error?.message).toContain("AADSTS700027");
    let v = only(versionsByPhase(w, "published"));
    expect(v.tags[TAG_FAILURES]).toBe("1");
    expect(v.tags[TAG_LAST_ERROR]).toBe("VERIFY_TIMEOUT");
    expect(r.status?.generations[0]).toMatchObject({
      phase: "published",
      failures: 1,
      lastError: "VERIFY_TIMEOUT",
      atIdp: true,
    });
    expect(w.calls.count((e) => e.op.endsWith(".apply"))).toBe(0);

    expect((await reconcile(w.cred, w.ports)).outcome).toBe("stuck");
    v = only(versionsByPhase(w, "published"));
    expect(v.tags[TAG_FAILURES]).toBe("2");

    w.clock.advance(5 * 60_000);
    const done = await reconcile(w.cred, w.ports);
    expect(done.outcome).toBe("ok");
    expect(kinds(done)).toEqual(["verify:done", "activate:done"]);
    expect(w.store.versions(w.cred.certificateName)).toHaveLength(1);
    expect(activeVersion(w).tags[TAG_FAILURES]).toBe("2");
    expect(activeVersion(w).tags[TAG_LAST_ERROR]).toBeUndefined();
  });
});

describe("activation guards", () => {
  it("never activates an unverified key: the step refuses without touching Kong", async () => {
    const w = createWorld({ propagationMs: 60 * 60_000 });
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("stuck");
    const snapshot = await observe(w.cred, w.ports);
    const published = only(snapshot.generations);
    expect(published.phase).toBe("published");
    const ctx = {
      cred: w.cred,
      ports: w.ports,
      snapshot,
      tags: new TagBook(w.store, w.cred.certificateName),
      waitBudgetMs: Number.POSITIVE_INFINITY,
      progress: () => {},
    };
    await expect(
      activateGeneration(ctx, { kind: "activate", version: published.version, reason: "test" }),
    ).rejects.toMatchObject({
      code: "ACTIVATE_NOT_VERIFIED",
    });
    expect(w.calls.count((e) => e.op.endsWith(".apply"))).toBe(0);
    expect(w.kong.flatMap((t) => t.kids())).toEqual([]);
  });

  it("never activates a key that expires before the current one", async () => {
    const w = await bootstrapped({ policy: { validityMonths: 12 } });
    const old = activeVersion(w);
    w.cred.policy = { ...w.cred.policy, validityMonths: 6 };
    const r = await reconcile(w.cred, w.ports, { force: true });
    expect(r.outcome).toBe("failed");
    expect(r.error?.code).toBe("ACTIVATE_SHORTER_LIFETIME");
    expect(w.phases()).toEqual(["active", "verified"]);
    expect(w.calls.count((e) => e.op.endsWith(".apply"))).toBe(0);
    for (const t of w.kong) expect(new Set(t.kids())).toEqual(new Set([old.cert?.x5t]));
  });
});

describe("Kong targets", () => {
  it("a failing target fails the run without an outage; the re-run converges", async () => {
    const w = await bootstrapped();
    w.watchInvariants();
    toRenewal(w);
    w.calls.failNext("kong[internal].apply", 1, {
      error: () =>
        new RotatorError("KONG_UNAVAILABLE", "Admin API answered 503", "Check the control plane.", {
          status: 503,
          retryable: true,
        }),
    });
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("failed");
    expect(r.failedTarget).toBe("internal");
    expect(r.error?.code).toBe("KONG_UNAVAILABLE");
    const fresh = only(versionsByPhase(w, "verified"));
    expect(fresh.tags[TAG_FAILURES]).toBe("1");
    expect(w.kong[0]?.kids()).toEqual([fresh.cert?.x5t]);
    expect(r.status?.targets.map((t) => t.inSync)).toEqual([false, true]);

    const next = await reconcile(w.cred, w.ports);
    expect(next.outcome).toBe("ok");
    expect(kinds(next)).toEqual(["activate:done"]);
    for (const t of w.kong) expect(new Set(t.kids())).toEqual(new Set([fresh.cert?.x5t]));
    expect(w.violations).toEqual([]);
  });

  it("fails when a target accepts the change but does not hold the key on read-back", async () => {
    const w = await bootstrapped();
    toRenewal(w);
    const edge = w.kong[0];
    if (!edge) throw new Error("no target");
    edge.dropWrites = true;
    const r = await reconcile(w.cred, w.ports);
    expect(r).toMatchObject({
      outcome: "failed",
      failedTarget: "edge",
      error: { code: "KONG_READBACK_MISMATCH" },
    });
    expect(only(versionsByPhase(w, "verified"))).toBeDefined();
  });

  it("fails instead of looping when another writer keeps reverting a target", async () => {
    const w = await renewed();
    const oldJwk = w.store.privateJwk(w.cred.certificateName, only(versionsByPhase(w, "retiring")).version);
    const edge = w.kong[0];
    edge?.hold(oldJwk);
    w.calls.afterMutation = (op) => op === "kong[edge].apply" && edge?.hold(oldJwk);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("failed");
    // The revert lands before the confirmation looks: the step fails instead of reporting success.
    expect(r.error?.code).toBe("KONG_READBACK_MISMATCH");
    expect(kinds(r)).toEqual(["sync:failed"]);
    expect(w.calls.count("kong[edge].apply")).toBe(1);
  });

  it("puts a drifted target back on the active key during a normal run", async () => {
    const w = await renewed();
    w.watchInvariants();
    const old = only(versionsByPhase(w, "retiring"));
    w.kong[1]?.hold(w.store.privateJwk(w.cred.certificateName, old.version));
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    expect(r.steps).toEqual([
      expect.objectContaining({ action: "sync", target: "internal", status: "done" }),
    ]);
    expect(new Set(w.kong[1]?.kids())).toEqual(new Set([activeVersion(w).cert?.x5t]));
    expect(w.violations).toEqual([]);
  });
});

describe("retirement", () => {
  it("retires only after retireAfter: removeKey signed by the active key, then the version is disabled", async () => {
    const w = await renewed();
    w.watchInvariants();
    const old = only(versionsByPhase(w, "retiring"));
    toRetirement(w);
    w.clock.advance(-120_000);
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("noop");
    expect(w.directory.find(old.cert?.x5t ?? "")).toBeDefined();

    w.clock.advance(120_000);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    expect(kinds(r)).toEqual(["retire:done"]);
    expect(w.directory.find(old.cert?.x5t ?? "")).toBeUndefined();
    expect(w.directory.proofs.at(-1)).toMatchObject({
      op: "removeKey",
      signerX5t: activeVersion(w).cert?.x5t,
    });
    expect(w.phases()).toEqual(["retired", "active"]);
    expect(w.store.versions(w.cred.certificateName)[0]?.enabled).toBe(false);
    expect(w.violations).toEqual([]);
  });

  it("never retires a key a target still holds: the target is moved first, then the key removed", async () => {
    const w = await renewed();
    w.watchInvariants();
    const old = only(versionsByPhase(w, "retiring"));
    w.kong[0]?.hold(w.store.privateJwk(w.cred.certificateName, old.version));
    toRetirement(w);
    const r = await reconcile(w.cred, w.ports);
    expect(kinds(r)).toEqual(["sync:done", "retire:done"]);
    // The watcher checked at every call: the key was never removed while a target held it.
    expect(w.violations).toEqual([]);
  });

  it("the active key vanished from the app: rotates (KeyMissingAtIdp) and retires the old key only after no target holds it", async () => {
    const w = await renewed();
    const old = only(versionsByPhase(w, "retiring"));
    const active = activeVersion(w);
    toRetirement(w);
    w.kong[0]?.hold(w.store.privateJwk(w.cred.certificateName, old.version));
    w.directory.keys = w.directory.keys.filter((k) => k.x5t !== active.cert?.x5t);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    // First plan: the sync onto the unregistered active key and the retirement are both refused.
    expect(r.plan).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          kind: "sync",
          blocked: expect.stringContaining("not registered at app"),
        }),
        expect.objectContaining({
          kind: "retire",
          version: old.version,
          blocked: expect.stringContaining("referenced by Kong target(s) edge"),
        }),
        expect.objectContaining({ kind: "create", trigger: "KeyMissingAtIdp" }),
      ]),
    );
    const done = r.steps.filter((s) => s.status === "done").map((s) => `${s.action}:${s.version ?? ""}`);
    const activated = done.findIndex((s) => s.startsWith("activate:"));
    expect(activated).toBeGreaterThan(-1);
    expect(done.indexOf(`retire:${old.version}`)).toBeGreaterThan(activated);
    expect(w.directory.find(old.cert?.x5t ?? "")).toBeUndefined();
  });

  it("skips retirement while a target's state is unknown (inspection failed)", async () => {
    const w = await renewed();
    const old = only(versionsByPhase(w, "retiring"));
    toRetirement(w);
    w.calls.failNext("kong[edge].inspect", 1);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("noop");
    expect(r.steps).toEqual([
      expect.objectContaining({
        action: "retire",
        status: "skipped",
        detail: expect.stringContaining("edge is unknown"),
      }),
    ]);
    expect(r.status?.targets[0]?.error?.code).toBe("SIMULATED_CRASH");
    expect(w.directory.find(old.cert?.x5t ?? "")).toBeDefined();
    expect(w.phases()).toEqual(["retiring", "active"]);
  });

  it("removes a retired generation's key that reappeared at the app, and leaves unmanaged keys alone", async () => {
    const w = await renewed();
    toRetirement(w);
    await settle(w);
    const retired = only(versionsByPhase(w, "retired"));
    w.directory.seed(retired.cert?.der ?? Buffer.alloc(0), "re-uploaded");
    const foreign = await issueSelfSigned({
      subject: "CN=someone else",
      notBefore: w.clock.now(),
      notAfter: new Date(w.clock.now().getTime() + 86_400_000 * 90),
    });
    w.directory.seed(foreign.der, "portal upload");
    w.calls.reset();
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("ok");
    expect(kinds(r)).toEqual(["remove-leaked:done"]);
    expect(r.unmanaged).toEqual([
      expect.objectContaining({ x5t: foreign.x5t, displayName: "portal upload" }),
    ]);
    expect(w.directory.find(retired.cert?.x5t ?? "")).toBeUndefined();
    expect(w.directory.find(foreign.x5t)).toBeDefined();
    expect(w.directory.proofs.at(-1)).toMatchObject({
      op: "removeKey",
      signerX5t: activeVersion(w).cert?.x5t,
    });
  });
});

describe("run control", () => {
  it("a dry run plans without any mutating call", async () => {
    const fresh = createWorld();
    const boot = await reconcile(fresh.cred, fresh.ports, { dryRun: true });
    expect(boot.outcome).toBe("planned");
    expect(boot.plan.map((a) => a.kind)).toEqual(["create", "publish", "verify", "activate"]);
    expect(fresh.calls.mutations()).toEqual([]);
    expect(fresh.store.versions(fresh.cred.certificateName)).toEqual([]);

    const w = await renewed();
    toRetirement(w);
    const retire = await reconcile(w.cred, w.ports, { dryRun: true, force: true });
    expect(retire.plan.map((a) => a.kind)).toEqual(["retire", "create", "publish", "verify", "activate"]);
    expect(retire.steps).toEqual([]);
    expect(w.calls.mutations()).toEqual([]);
    expect(w.phases()).toEqual(["retiring", "active"]);
  });

  it("stops before the next step when the lease is lost, and the next run resumes", async () => {
    const w = createWorld();
    const lease = new AbortController();
    const r = await reconcile(w.cred, w.ports, {
      signal: lease.signal,
      onProgress: (e) => e.event === "done" && e.action === "create" && lease.abort(),
    });
    expect(r.outcome).toBe("failed");
    expect(r.error?.code).toBe("RUN_ABORTED");
    expect(kinds(r)).toEqual(["create:done"]);
    expect(w.calls.count("directory.patchKeyCredentials")).toBe(0);
    expect(only(versionsByPhase(w, "pending")).tags[TAG_FAILURES]).toBeUndefined();

    const during = new AbortController();
    const v = await reconcile(w.cred, w.ports, {
      signal: during.signal,
      onProgress: (e) => e.event === "progress" && e.action === "verify" && during.abort(),
    });
    expect(v.error?.code).toBe("RUN_ABORTED");
    expect(w.phases()).toEqual(["published"]);
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("ok");
  });

  it("never lets private key material into logs, reports or progress events", async () => {
    const w = createWorld();
    const events: ProgressEvent[] = [];
    const reports = [await reconcile(w.cred, w.ports, { onProgress: (e) => events.push(e) })];
    toRenewal(w);
    w.calls.failNext("kong[edge].apply", 1, { error: () => new Error("connection reset") });
    reports.push(await reconcile(w.cred, w.ports, { onProgress: (e) => events.push(e) }));
    reports.push(await reconcile(w.cred, w.ports, { onProgress: (e) => events.push(e) }));
    expect(reports.map((r) => r.outcome)).toEqual(["ok", "failed", "ok"]);
    const text = [...w.logLines, JSON.stringify(reports), JSON.stringify(events)].join("\n");
    for (const v of w.store.versions(w.cred.certificateName)) {
      const jwk = w.store.privateJwk(w.cred.certificateName, v.version);
      for (const member of ["d", "p", "q", "dp", "dq", "qi"]) expect(text).not.toContain(jwk[member]);
    }
    expect(text).not.toContain("PRIVATE KEY");
    expect(w.logLines.some((l) => l.includes('"RotationStep"'))).toBe(true);
  });
});
