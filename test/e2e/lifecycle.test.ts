/**
 * End to end on the local stack: the CLI (same entry point as the bin) drives the real adapters over
 * HTTPS against the fakes, Azurite holds the lease and alert state, and the Kong fake's gateway login
 * probe answers "can the gateway log in right now?" throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { BlobServiceClient } from "@azure/storage-blob";
import { APP_CLIENT_ID, CREDENTIAL, SERVICE_CLIENT_ID, type LocalStack } from "../../stack/stack.js";
import { probeLogin } from "../../stack/kong/probe.js";
import { main } from "../../src/cli/main.js";
import { runCli } from "../support/cli.js";
import { startE2eStack } from "../support/e2e.js";
import { createBlobLeaseManager } from "../../src/adapters/lease/blob.js";

let stack: LocalStack;
let configPath: string;

const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);

const probe = () => stack.kong.probe(stack.pluginId, APP_CLIENT_ID);
const ourJwk = () => {
  const cfg = stack.kong.getPlugin(stack.pluginId)!.config;
  return (cfg.client_jwk as Record<string, unknown>[])[1]!;
};
const mutations = () =>
  [...stack.keyVault.requests, ...stack.entra.graph.requests, ...stack.kong.requests].filter(
    (r) => r.method !== "GET",
  ).length;

beforeAll(async () => {
  ({ stack, configPath } = await startE2eStack());
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe("the full lifecycle through the CLI", () => {
  it("plan is a dry run: it lists the bootstrap steps and changes nothing", async () => {
    const before = mutations();
    const r = await cli("plan", "--json");
    expect(r.code).toBe(0);
    const [result] = JSON.parse(r.out) as { report: { outcome: string; plan: { kind: string }[] } }[];
    expect(result!.report.outcome).toBe("planned");
    expect(result!.report.plan.map((a) => a.kind)).toEqual(["create", "publish", "verify", "activate"]);
    expect(mutations()).toBe(before);
  });

  it("the gateway cannot log in before our certificate is registered", async () => {
    const p = await probe();
    expect(p.ok).toBe(false);
  });

  it("bootstraps: the gateway logs in once the key has propagated and Kong holds it", async () => {
    const r = await cli("rotate", CREDENTIAL);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/publish: registered at app /);
    expect(r.err).toMatch(/verify .* at the token endpoint/);
    const jwk = ourJwk();
    expect(jwk.kid).toBe(jwk.x5t);
    expect(jwk.alg).toBe("PS256");
    expect(await probe()).toMatchObject({ ok: true, kid: jwk.kid });
  });

  it("rotates on demand with no Graph write permission, keeps logins working, and retires the old key after the overlap", async () => {
    // After bootstrap the service identity keeps only a read permission: addKey and removeKey run as the
    // application itself, proven by its current key ("no permission needed to roll its own keys").
    stack.entra.setAppRoles(SERVICE_CLIENT_ID, ["Application.Read.All"]);
    const old = ourJwk();
    const oldConfig = structuredClone(stack.kong.getPlugin(stack.pluginId)!.config);
    const r = await cli("rotate", CREDENTIAL, "--force", "--reason", "e2e");
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/publish: registered with a proof signed by current key \S+/);
    const fresh = ourJwk();
    expect(fresh.kid).not.toBe(old.kid);
    expect(await probe()).toMatchObject({ ok: true, kid: fresh.kid });
    // During the overlap the old key still works at the IdP (a data plane that has not synced yet).
    expect((await probeLogin(oldConfig, APP_CLIENT_ID, stack.ca.certPem)).ok).toBe(true);

    await new Promise((res) => setTimeout(res, 3500));
    const retire = await cli("run");
    expect(retire.code, retire.out + retire.err).toBe(0);
    expect(retire.out).toMatch(/retire/);
    expect(stack.entra.keyCredentials(APP_CLIENT_ID).map((k) => k.x5t)).toEqual([fresh.x5t]);
    const retired = await probeLogin(oldConfig, APP_CLIENT_ID, stack.ca.certPem);
    expect(retired.ok).toBe(false);
    expect(retired.error).toMatch(/AADSTS700027/);
    expect(await probe()).toMatchObject({ ok: true });

    const status = await cli("status", "--json");
    const [view] = JSON.parse(status.out) as {
      generations: { phase: string; enabled: boolean }[];
      targets: { inSync: boolean }[];
    }[];
    expect(view!.generations.map((g) => [g.phase, g.enabled])).toEqual([
      ["active", true],
      ["retired", false],
    ]);
    expect(view!.targets[0]!.inSync).toBe(true);
  });

  it("never prints key material, tokens or the admin token", async () => {
    const outputs = [
      await cli("status"),
      await cli("status", "--json"),
      await cli("plan", "--json"),
      await cli("sync"),
    ];
    const jwk = ourJwk();
    for (const o of outputs) {
      const text = o.out + o.err;
      for (const member of ["d", "p", "q", "dp", "dq", "qi"]) expect(text).not.toContain(String(jwk[member]));
      expect(text).not.toContain(stack.env.KONG_ADMIN_TOKEN);
      expect(text).not.toContain(stack.env.AZURE_CLIENT_SECRET);
      expect(text).not.toMatch(/PRIVATE KEY|eyJ[A-Za-z0-9_-]{10,}\./);
    }
  });

  it("answers busy (exit 3) while another writer holds the credential's lease", async () => {
    const leases = createBlobLeaseManager({
      blob: BlobServiceClient.fromConnectionString(stack.env.AzureWebJobsStorage!),
    });
    const lease = await leases.tryAcquire(CREDENTIAL, "test-holder");
    expect(lease).toBeDefined();
    try {
      const r = await cli("rotate", CREDENTIAL, "--force");
      expect(r.code).toBe(3);
      expect(r.out).toMatch(/busy/);
    } finally {
      await lease!.release();
    }
  });

  it("refuses bad usage and unknown credentials with exit 2 and no external change", async () => {
    const before = mutations();
    expect((await cli("rotate")).code).toBe(2);
    expect((await cli("frobnicate")).code).toBe(2);
    const unknown = await cli("rotate", "no-such-credential");
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/UNKNOWN_CREDENTIAL/);
    const badPath = join(mkdtempSync(join(tmpdir(), "rotator-bad-")), "bad.yaml");
    writeFileSync(badPath, stringify({ ...stack.config, policy: { algorithm: "ES256" } }));
    const out: string[] = [];
    const code = await main(["run", "--config", badPath], {
      out: (s) => out.push(s),
      err: (s) => out.push(s),
      env: stack.env,
    });
    expect(code).toBe(2);
    expect(out.join("\n")).toMatch(/policy\.algorithm/);
    expect(mutations()).toBe(before);
  });

  it("refuses to rotate without storage for the lease unless told no other writer exists", async () => {
    const env = { ...stack.env, AzureWebJobsStorage: "" };
    const out: string[] = [];
    const code = await main(["rotate", CREDENTIAL, "--config", configPath], {
      out: (s) => out.push(s),
      err: (s) => out.push(s),
      env,
    });
    expect(code).toBe(2);
    expect(out.join("\n")).toMatch(/STORAGE_NOT_CONFIGURED[\s\S]*--no-other-writer/);
    const ok = await main(["run", "--no-other-writer", "--config", configPath], {
      out: () => {},
      err: () => {},
      env,
    });
    expect(ok).toBe(0);
  });
});
