/**
 * `migrate <name>` end to end on the local stack started from a client secret (`secretAuth`): the CLI drives
 * the real adapters against the fakes while the Kong fake's login probe runs the whole time, as the
 * gateway's logins would.
 * - Entra: client secret and certificate side by side, so 0 failed logins; the secret leaves Kong, then the
 *   IdP only with --retire-secret, and only while no Kong target holds it.
 * - Okta and Auth0: the cutover is refused without --accept-cutover, then measured (the report's window and
 *   the failed logins the prober saw are printed).
 * - --dry-run changes nothing; a migration stopped by a target that was down is continued by `run` (the
 *   timer's path) without a second key.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREDENTIAL, type LocalStack } from "../../stack/stack.js";
import { runCli } from "../support/cli.js";
import { probeLoop, startE2eStack } from "../support/e2e.js";

interface MigrationJson {
  kind: string;
  report: {
    outcome: string;
    steps: { step: string; status: string; detail: string }[];
    record?: { stage: string; hint?: string };
    windowMs?: number;
    cutover: { cutover: string; expectedWindowMs: number; maxWindowMs: number };
    secrets?: { id: string; hint?: string; usable: boolean }[];
    error?: { code: string };
  };
}

const ours = (stack: LocalStack) => {
  const config = stack.kong.getPlugin(stack.pluginId)!.config;
  return {
    auth: (config.client_auth as string[])[1],
    jwk: (config.client_jwk as Record<string, unknown>[] | null)?.[1],
    secrets: (config.client_secret as string[] | null) ?? [],
    partner: {
      auth: (config.client_auth as string[])[0],
      jwk: (config.client_jwk as Record<string, unknown>[] | null)?.[0],
    },
  };
};

const writes = (stack: LocalStack) =>
  [...stack.keyVault.requests, ...stack.entra.graph.requests, ...stack.kong.requests].filter(
    (r) => r.method !== "GET",
  ).length;

describe("migrate on Entra, from client_secret_post", () => {
  let stack: LocalStack;
  let configPath: string;
  const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);
  beforeAll(async () => {
    ({ stack, configPath } = await startE2eStack({ idp: "entra", secretAuth: "client_secret_post" }));
  }, 60_000);
  afterAll(async () => stack?.close());

  it("--dry-run prints every step with Entra's warning and changes nothing", async () => {
    const before = writes(stack);
    const r = await cli("migrate", CREDENTIAL, "--dry-run", "--json");
    expect(r.code, r.err).toBe(0);
    const m = JSON.parse(r.out) as MigrationJson;
    expect(m.report.outcome).toBe("planned");
    expect(m.report.cutover.cutover).toBe("none");
    expect(m.report.steps.map((s) => s.step)).toEqual([
      "preflight",
      "preflight",
      "create",
      "publish",
      "verify",
      "switch",
      "remove-secret",
      "retire-secret",
    ]);
    expect(m.report.steps[1]!.detail).toContain("side by side");
    expect(writes(stack)).toBe(before);
    expect(ours(stack)).toMatchObject({ auth: "client_secret_post" });
    expect(r.out).not.toContain(stack.seededSecret!.secret);
  });

  it("migrates with 0 failed logins: one write per plugin, the secret then gone from Kong, still at the IdP", async () => {
    const partnerBefore = ours(stack).partner;
    const prober = probeLoop(() => stack.probe(), 100);
    const r = await cli("migrate", CREDENTIAL);
    const failed = await prober.stop();
    expect(r.code, r.out + r.err).toBe(0);
    expect(failed).toEqual([]);
    const after = ours(stack);
    expect(after.auth).toBe("private_key_jwt");
    expect(after.jwk?.kid).toBe(after.jwk?.x5t);
    expect(after.secrets).not.toContain(stack.seededSecret!.secret);
    expect(after.partner).toEqual(partnerBefore);
    // client_auth and client_jwk changed in the same PATCH.
    const patches = stack.kong.requests.filter((q) => q.method === "PATCH");
    expect(patches.length).toBe(2);
    expect(await stack.probe()).toMatchObject({ ok: true });
    expect(r.out).toMatch(/remove-secret/);
    expect(r.out).toMatch(/--retire-secret/);
    expect(stack.idpSecrets()).toEqual([
      { id: stack.seededSecret!.idpId, hint: stack.seededSecret!.hint, state: "valid" },
    ]);
    expect(r.out + r.err).not.toContain(stack.seededSecret!.secret);
  });

  it("status shows the migration and the secret's metadata (id, hint, last sign-in) before it is retired", async () => {
    const r = await cli("status", CREDENTIAL, "--json");
    const [view] = JSON.parse(r.out) as {
      migration?: { stage: string };
      secrets?: { id: string; hint?: string; lastSignIn?: string }[];
    }[];
    expect(view!.migration?.stage).toBe("secret-removed");
    expect(view!.secrets).toEqual([
      expect.objectContaining({ id: stack.seededSecret!.idpId, hint: stack.seededSecret!.hint }),
    ]);
    expect(view!.secrets![0]!.lastSignIn).toBeDefined();
    const text = await cli("status", CREDENTIAL);
    expect(text.out).toMatch(/migration from client_secret_post .*secret-removed/);
    expect(text.out).toMatch(new RegExp(`secret at the IdP: ${stack.seededSecret!.idpId}, hint`));
  });

  it("doctor and the status page show the migration's state", async () => {
    const d = await cli("doctor", CREDENTIAL, "--json");
    const checks = (JSON.parse(d.out) as { checks: { code: string; message: string }[] }).checks;
    expect(checks.find((c) => c.code === "MIGRATION_STATE")?.message).toMatch(/secret-removed/);
    const html = join(mkdtempSync(join(tmpdir(), "migrate-page-")), "status.html");
    expect((await cli("status", CREDENTIAL, "--html", html)).code).toBe(0);
    const page = readFileSync(html, "utf8");
    expect(page).toContain('data-migration="secret-removed"');
    expect(page).toContain(stack.seededSecret!.idpId!);
    expect(page).not.toContain(stack.seededSecret!.secret);
  });

  it("refuses to retire the secret while a Kong target still holds it", async () => {
    const plugin = stack.kong.getPlugin(stack.pluginId)!;
    const kept = (plugin.config.client_secret as string[]).slice();
    // Someone (decK, a person) puts the secret back into Kong's config.
    await fetch(`${stack.kong.url}/plugins/${stack.pluginId}`, {
      method: "PATCH",
      headers: { "content-type": "application/json", "kong-admin-token": stack.env.KONG_ADMIN_TOKEN ?? "" },
      body: JSON.stringify({ config: { client_secret: [kept[0], stack.seededSecret!.secret] } }),
    });
    const r = await cli("migrate", CREDENTIAL, "--retire-secret", "--json");
    expect(r.code).toBe(1);
    expect((JSON.parse(r.out) as MigrationJson).report.error?.code).toBe("MIGRATE_SECRET_IN_USE");
    expect(stack.idpSecrets()).toHaveLength(1);
    await fetch(`${stack.kong.url}/plugins/${stack.pluginId}`, {
      method: "PATCH",
      headers: { "content-type": "application/json", "kong-admin-token": stack.env.KONG_ADMIN_TOKEN ?? "" },
      body: JSON.stringify({ config: { client_secret: kept } }),
    });
  });

  it("--retire-secret removes the password credential Kong used (by hint), then there is nothing to do", async () => {
    const prober = probeLoop(() => stack.probe(), 100);
    const r = await cli("migrate", CREDENTIAL, "--retire-secret");
    const failed = await prober.stop();
    expect(r.code, r.out + r.err).toBe(0);
    expect(failed).toEqual([]);
    expect(r.out).toMatch(
      new RegExp(`removed secret ${stack.seededSecret!.idpId}, hint ${stack.seededSecret!.hint}`),
    );
    expect(stack.idpSecrets()).toEqual([]);
    const again = await cli("migrate", CREDENTIAL, "--json");
    expect(again.code).toBe(0);
    const m = JSON.parse(again.out) as MigrationJson;
    expect(m.report.outcome).toBe("noop");
    expect(m.report.record?.stage).toBe("retired");
  });
});

describe("migrate resumes where it stopped", () => {
  let stack: LocalStack;
  let configPath: string;
  const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);
  beforeAll(async () => {
    ({ stack, configPath } = await startE2eStack({ idp: "entra", secretAuth: "client_secret_basic" }));
  }, 60_000);
  afterAll(async () => stack?.close());

  it("a Kong target down at the switch leaves the secret in use; `run` (the timer's path) continues with the same key", async () => {
    stack.kong.faults.add({
      method: "PATCH",
      times: Infinity,
      fault: { kind: "status", status: 503, retryAfter: "0" },
    });
    const first = await cli("migrate", CREDENTIAL, "--json");
    expect(first.code).toBe(1);
    const failed = JSON.parse(first.out) as MigrationJson;
    expect(failed.report.record?.stage).toBe("key");
    expect(ours(stack).auth).toBe("client_secret_basic");
    expect(await stack.probe()).toMatchObject({ ok: true, secretHint: stack.seededSecret!.hint });
    stack.kong.faults.clear();

    const prober = probeLoop(() => stack.probe(), 100);
    const run = await runCli(["run"], configPath, stack.env);
    expect(run.code, run.out + run.err).toBe(0);
    const status = JSON.parse((await cli("status", CREDENTIAL, "--json")).out) as {
      migration?: { stage: string };
      generations: unknown[];
    }[];
    expect(status[0]!.migration?.stage).toBe("secret-removed");
    expect(status[0]!.generations).toHaveLength(1);
    const done = await cli("migrate", CREDENTIAL, "--retire-secret");
    expect(done.code, done.out + done.err).toBe(0);
    expect(await prober.stop()).toEqual([]);
    expect(stack.idpSecrets()).toEqual([]);
  });
});

for (const idp of ["okta", "auth0"] as const)
  describe(`migrate on ${idp}: a cutover`, () => {
    let stack: LocalStack;
    let configPath: string;
    const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);
    beforeAll(async () => {
      ({ stack, configPath } = await startE2eStack({ idp, secretAuth: "client_secret_post" }));
    }, 60_000);
    afterAll(async () => stack?.close());

    it("is refused without --accept-cutover, stating the expected window, and nothing changes", async () => {
      const before = writes(stack);
      const r = await cli("migrate", CREDENTIAL, "--json");
      expect(r.code).toBe(1);
      const m = JSON.parse(r.out) as MigrationJson;
      expect(m.report.error?.code).toBe("MIGRATE_CUTOVER_NOT_ACCEPTED");
      expect(m.report.cutover.cutover).toBe(idp === "okta" ? "switch" : "attach");
      expect(m.report.cutover.expectedWindowMs).toBeGreaterThan(0);
      expect(writes(stack)).toBe(before);
      expect(await stack.probe()).toMatchObject({ ok: true });
    });

    it("with --accept-cutover: the window is measured and reported, and --retire-secret only confirms", async () => {
      const prober = probeLoop(() => stack.probe(), 100);
      const r = await cli("migrate", CREDENTIAL, "--accept-cutover", "--json");
      const failed = await prober.stop();
      expect(r.code, r.out + r.err).toBe(0);
      const m = JSON.parse(r.out) as MigrationJson;
      expect(m.report.record?.stage).toBe("secret-removed");
      expect(m.report.windowMs).toBeGreaterThan(0);
      console.log(
        `${idp} cutover: window ${m.report.windowMs} ms measured by the rotator (expected about ${m.report.cutover.expectedWindowMs} ms plus propagation, at most ${m.report.cutover.maxWindowMs} ms); ` +
          `the 100 ms login prober saw ${failed.length} failed login(s)`,
      );
      expect(ours(stack).auth).toBe("private_key_jwt");
      expect(ours(stack).secrets).not.toContain(stack.seededSecret!.secret);
      expect(await stack.probe()).toMatchObject({ ok: true });
      expect(stack.idpSecrets().every((s) => s.state !== "active" && s.state !== "enabled")).toBe(true);
      const retire = await cli("migrate", CREDENTIAL, "--retire-secret");
      expect(retire.code, retire.out + retire.err).toBe(0);
      expect(retire.out).toMatch(
        idp === "okta" ? /already deleted the client secrets/ : /already ended client secret authentication/,
      );
    });
  });
