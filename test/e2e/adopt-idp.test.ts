/**
 * `adopt` with Okta and Auth0: a key made by hand (openssl key and certificate, the public key registered
 * at the IdP with kid = x5t and usable, the private JWK pasted into the plugin) is checked, imported as the
 * active generation, and rotated away from; the hand-made key is removed at the IdP after the overlap,
 * while the gateway keeps logging in.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdoptReport } from "../../src/app/adopt.js";
import { CREDENTIAL, type IdpKind, type LocalStack } from "../../stack/stack.js";
import { runCli } from "../support/cli.js";
import { probeLoop, startE2eStack } from "../support/e2e.js";
import { handMadeKey, type HandMade } from "../support/hand-made.js";

interface Manual extends HandMade {
  pemPath: string;
}

function handMade(dir: string): Manual {
  const key = handMadeKey(dir, "hand-made", { alg: "RS256" });
  const pemPath = join(dir, "adopt.pem");
  writeFileSync(pemPath, key.keyPem + key.certPem);
  return { ...key, pemPath };
}

describe.each<IdpKind>(["okta", "auth0"])("%s: adopt a hand-made key", (idp) => {
  let stack: LocalStack;
  let configPath: string;
  let manual: Manual;
  const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);

  beforeAll(async () => {
    ({ stack, configPath } = await startE2eStack({ idp, propagationDelayMs: 300 }));
    manual = handMade(mkdtempSync(join(tmpdir(), `rotator-adopt-${idp}-`)));
    // At the IdP: the public key registered with kid = x5t and usable, as the guide's dashboard steps do.
    if (stack.okta)
      stack.okta.seedKey(stack.clientId, { kid: manual.x5t, n: manual.n, e: manual.e }, "ACTIVE");
    if (stack.auth0)
      await stack.auth0.seedCredential(
        stack.clientId,
        { pem: manual.certPem, alg: "RS256", kid: manual.x5t },
        true,
      );
    // In Kong: the private JWK in our client's slot (index 1; the partner keeps index 0).
    const config = stack.kong.getPlugin(stack.pluginId)!.config;
    const partner = (config.client_jwk as Record<string, unknown>[])[0]!;
    const res = await request(`${stack.kong.url}/plugins/${stack.pluginId}`, {
      method: "PATCH",
      headers: { "content-type": "application/json", "kong-admin-token": stack.env.KONG_ADMIN_TOKEN! },
      body: JSON.stringify({ config: { client_jwk: [partner, manual.jwk] } }),
    });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`seeding the plugin failed: ${res.statusCode}`);
    await new Promise((r) => setTimeout(r, 500));
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it("checks, imports, rotates away and removes the hand-made key with 0 failed logins", async () => {
    expect(await stack.probe()).toMatchObject({ ok: true, kid: manual.x5t });
    const dry = await cli("adopt", CREDENTIAL, "--json", "--cert", manual.pemPath);
    const report = JSON.parse(dry.out) as AdoptReport;
    expect(dry.code, JSON.stringify(report.checks)).toBe(0);
    expect(report.checks.map((c) => c.code)).toContain("ADOPT_AT_IDP");

    const probes = probeLoop(() => stack.probe());
    try {
      const apply = await cli("adopt", CREDENTIAL, "--cert", manual.pemPath, "--yes");
      expect(apply.code, apply.out + apply.err).toBe(0);
      const rotate = await cli("rotate", CREDENTIAL, "--force", "--reason", "leave the hand-made key");
      expect(rotate.code, rotate.out + rotate.err).toBe(0);
      const kid = Object.values(stack.gatewayKids())[0];
      expect(kid).not.toBe(manual.x5t);
      await new Promise((r) => setTimeout(r, 3_200));
      const run = await cli("run", CREDENTIAL);
      expect(run.code, run.out + run.err).toBe(0);
      expect(stack.idpKeys().map((k) => k.kid)).toEqual([kid]);
    } finally {
      expect(await probes.stop()).toEqual([]);
    }
  }, 120_000);
});
