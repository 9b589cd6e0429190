/**
 * The migration from a client secret (src/engine/migration.ts) on the in-memory world: its end state, the
 * dry run, the refusals, resumption after a crash before or after any external call (the process died
 * between two steps), and the timer's reconcile continuing a started migration.
 */
import { describe, expect, it } from "vitest";
import { migrate, migrationOf, type MigrationRecord } from "../../src/engine/migration.js";
import { reconcile } from "../../src/engine/reconcile.js";
import { parseGeneration, type Generation } from "../../src/engine/tags.js";
import type { FaultTiming } from "../support/memory/calls.js";
import { createWorld, type World } from "../support/memory/world.js";

const SECRET = "S3c-the-gateway-secret";

function secretWorld(): World {
  const w = createWorld({ propagationMs: 10_000 });
  for (const t of w.kong) t.startFromSecret(SECRET);
  w.directory.passwords = [
    { keyId: "pw-kong", hint: "S3c" },
    { keyId: "pw-other", hint: "zz9" },
  ];
  w.directory.signIns = { "pw-kong": "2026-01-01T00:00:00Z" };
  return w;
}

async function generations(w: World): Promise<Generation[]> {
  return (await w.store.listVersions(w.cred.certificateName))
    .map(parseGeneration)
    .filter((g): g is Generation => g !== undefined);
}

async function record(w: World): Promise<MigrationRecord | undefined> {
  return migrationOf(await generations(w))?.record;
}

/** Run migrate until it no longer fails or waits (a later operator run, or the timer). */
async function finish(w: World, options: Parameters<typeof migrate>[2] = {}) {
  let last = await migrate(w.cred, w.ports, options);
  for (let i = 0; i < 10 && (last.outcome === "failed" || last.outcome === "waiting"); i++) {
    await w.clock.sleep(10_000);
    last = await migrate(w.cred, w.ports, options);
  }
  return last;
}

/** What a finished migration leaves, independent of timing. */
async function endState(w: World) {
  const gens = await generations(w);
  return {
    versions: (await w.store.listVersions(w.cred.certificateName)).length,
    phases: gens.map((g) => g.phase),
    stage: (await record(w))?.stage,
    kong: await Promise.all(
      w.kong.map(async (t) =>
        (await t.clientAuth()).map((v) => ({
          auth: v.auth,
          secret: v.secret,
          onKey: v.kid === gens[0]?.x5t,
        })),
      ),
    ),
    passwords: w.directory.passwords.map((p) => p.keyId),
    appKeys: w.directory.keys.length,
  };
}

const expected = {
  versions: 1,
  phases: ["active"],
  stage: "retired",
  kong: [
    [{ auth: "private_key_jwt", secret: false, onKey: true }],
    [
      { auth: "private_key_jwt", secret: false, onKey: true },
      { auth: "private_key_jwt", secret: false, onKey: true },
    ],
  ],
  passwords: ["pw-other"],
  appKeys: 1,
};

describe("migration from a client secret (in-memory world)", () => {
  it("--dry-run plans every step and makes no mutating call", async () => {
    const w = secretWorld();
    const r = await migrate(w.cred, w.ports, { dryRun: true, retireSecret: true });
    expect(r.outcome).toBe("planned");
    expect(r.steps.filter((s) => s.status === "planned").map((s) => s.step)).toEqual([
      "preflight",
      "create",
      "publish",
      "verify",
      "switch",
      "remove-secret",
      "retire-secret",
    ]);
    expect(w.calls.mutations()).toEqual([]);
  });

  it("runs to the end: one generation active everywhere, no secret in Kong, only Kong's secret retired", async () => {
    const w = secretWorld();
    const first = await migrate(w.cred, w.ports);
    expect(first.outcome).toBe("ok");
    expect((await record(w))?.stage).toBe("secret-removed");
    expect(first.secrets?.find((s) => s.id === "pw-kong")).toMatchObject({
      hint: "S3c",
      lastSignIn: "2026-01-01T00:00:00Z",
    });
    expect(w.directory.passwords).toHaveLength(2);
    const retired = await migrate(w.cred, w.ports, { retireSecret: true });
    expect(retired.outcome).toBe("ok");
    expect(await endState(w)).toEqual(expected);
    const again = await migrate(w.cred, w.ports, { retireSecret: true });
    expect(again.outcome).toBe("noop");
    expect(w.logLines.join("\n")).not.toContain(SECRET);
  });

  it("refuses retirement while a target holds the secret again, and retires nothing", async () => {
    const w = secretWorld();
    await finish(w);
    w.kong[1]!.plugins[0]!.secret = SECRET;
    const r = await migrate(w.cred, w.ports, { retireSecret: true });
    expect(r.outcome).toBe("failed");
    expect(r.error?.code).toBe("MIGRATE_SECRET_IN_USE");
    expect(w.directory.passwords).toHaveLength(2);
  });

  it("--all-secrets retires every client secret of the app", async () => {
    const w = secretWorld();
    await finish(w, { retireSecret: true, allSecrets: true });
    expect(w.directory.passwords).toEqual([]);
  });

  it("refuses a target that does not use a client secret, before any change", async () => {
    const w = secretWorld();
    w.kong[0]!.plugins[0]!.auth = "client_secret_jwt";
    const r = await migrate(w.cred, w.ports);
    expect(r.error?.code).toBe("MIGRATE_NOT_SECRET_AUTH");
    expect(w.calls.mutations()).toEqual([]);
  });

  it("the timer's reconcile continues a started migration instead of planning a rotation", async () => {
    const w = secretWorld();
    w.calls.crashAt("kong[edge].apply", "before");
    const crashed = await migrate(w.cred, w.ports);
    expect(crashed.outcome).toBe("failed");
    w.calls.revive();
    expect((await record(w))?.stage).toBe("key");
    const run = await reconcile(w.cred, w.ports);
    expect(run.outcome).toBe("ok");
    expect((await record(w))?.stage).toBe("secret-removed");
    expect(run.status?.migration?.stage).toBe("secret-removed");
    // Retirement at the IdP is never the timer's.
    expect(w.directory.passwords).toHaveLength(2);
  });

  it("converges after a crash before or after any external call", async () => {
    const base = secretWorld();
    await migrate(base.cred, base.ports);
    await migrate(base.cred, base.ports, { retireSecret: true });
    const ops = base.calls.log.map((e) => e.op);
    let crashes = 0;
    for (const timing of ["before", "after"] as FaultTiming[])
      for (let k = 1; k <= ops.length; k++) {
        const where = `crash ${timing} call ${k} (${ops[k - 1]})`;
        const w = secretWorld();
        w.calls.crashAt(k, timing);
        const first = await migrate(w.cred, w.ports);
        const second =
          first.outcome === "failed" ? first : await migrate(w.cred, w.ports, { retireSecret: true });
        if (first.outcome === "failed" || second.outcome === "failed") crashes++;
        w.calls.revive();
        await finish(w);
        await finish(w, { retireSecret: true });
        expect(await endState(w), where).toEqual(expected);
      }
    expect(crashes).toBeGreaterThan(ops.length);
  });
});
