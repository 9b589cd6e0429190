/**
 * The key-compromise response end to end on the local stack, through the CLI (issue 21 part 1,
 * docs/runbooks/key-compromise.md):
 * - a compromise while the previous generation is still in its overlap: the new key is active, every older
 *   key is gone from the IdP and disabled in Key Vault within the run that activated it, 0 failed gateway
 *   logins with the login prober, Kong's token cache purged, and the KeyCompromiseRotation notification
 *   arrives with the operator, the reason and the revoked thumbprints (and no secret);
 * - a rollback to the compromised generation is refused with ROLLBACK_COMPROMISED;
 * - keys the rotator did not make are listed as not managed, kept, and removed with --revoke-unmanaged;
 * - in vault-reference mode the earlier generations' secrets are disabled too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_CLIENT_ID, CREDENTIAL, type LocalStack } from "../../stack/stack.js";
import { runCli } from "../support/cli.js";
import { issueSelfSigned } from "../support/certs.js";
import { probeLoop, startE2eStack } from "../support/e2e.js";

const POLICY = {
  overlap: "PT1H",
  verifyInterval: "PT0.3S",
  verifyConsecutive: 3,
  verifyTimeout: "PT30S",
  forceCooldown: "PT1H",
};

interface Notice {
  event: string;
  status: string;
  credential: string;
  actor?: string;
  reason?: string;
  revoked?: string[];
  message: string;
}

function harness(vaultReference: boolean) {
  let stack: LocalStack;
  let configPath: string;
  const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);
  const ourKid = () =>
    String((stack.kong.getPlugin(stack.pluginId)!.config.client_jwk as Record<string, unknown>[])[1]!.kid);
  const atIdp = () => stack.entra.keyCredentials(APP_CLIENT_ID).map((k) => k.x5t);
  const versions = () => stack.keyVault.versions(`kong-${CREDENTIAL}`);
  const notices = () =>
    stack.webhook.received.map((w) => w.body as Notice).filter((n) => n.event === "KeyCompromiseRotation");
  return {
    start: async () => {
      ({ stack, configPath } = await startE2eStack({ vaultReference, policy: POLICY }));
      const boot = await cli("rotate", CREDENTIAL);
      expect(boot.code, boot.out + boot.err).toBe(0);
      // A second generation: the first is still in its one-hour overlap.
      const second = await cli("rotate", CREDENTIAL, "--force", "--override-cooldown");
      expect(second.code, second.out + second.err).toBe(0);
    },
    close: () => stack?.close(),
    cli,
    ourKid,
    atIdp,
    versions,
    notices,
    get stack() {
      return stack;
    },
  };
}

describe("rotate --compromised while the previous generation is in its overlap", () => {
  const h = harness(false);
  beforeAll(h.start, 120_000);
  afterAll(() => h.close());

  it("activates a new key and revokes every older key in one run, with 0 failed logins, and says so", async () => {
    const stack = h.stack;
    const leaked = h.ourKid();
    const before = h.versions().filter((v) => v.tags["rotator-phase"] !== undefined);
    expect(before.map((v) => v.tags["rotator-phase"]).sort()).toEqual(["active", "retiring"]);
    const oldKeys = before.map((v) => v.x5t!);
    expect(new Set(h.atIdp())).toEqual(new Set(oldKeys));
    // A token Kong cached with the compromised credential.
    expect((await stack.kong.probe(stack.pluginId, APP_CLIENT_ID, { cached: true })).ok).toBe(true);
    expect(stack.kong.node.tokenEntries().some((e) => oldKeys.includes(String(e.via?.kid)))).toBe(true);

    const probes = probeLoop(() => stack.kong.probe(stack.pluginId, APP_CLIENT_ID), 150);
    let out: string;
    try {
      // Within forceCooldown of the last rotation: a compromise is never held back by it.
      const r = await h.cli("rotate", CREDENTIAL, "--compromised", "--reason", "key pasted in a ticket");
      out = r.out + r.err;
      expect(r.code, out).toBe(0);
    } finally {
      expect(await probes.stop()).toEqual([]);
    }
    const fresh = h.ourKid();
    expect(fresh).not.toBe(leaked);
    expect(h.atIdp()).toEqual([fresh]);
    for (const v of h.versions().filter((x) => oldKeys.includes(x.x5t!))) {
      expect(v.tags["rotator-phase"]).toBe("retired");
      expect(v.enabled).toBe(false);
    }
    expect(h.versions().find((v) => v.x5t === leaked)?.tags["rotator-compromisedAt"]).toBeDefined();
    expect(out).toMatch(/key compromise [0-9a-f]{8} .*replaced by/);
    expect(out).toMatch(
      /tokens already issued: access tokens Entra already issued stay valid until they expire/,
    );
    expect(out).toMatch(/token cache: cleared/);
    // DELETE /cache on the node: no token obtained with an old key is left (the prober's logins since
    // cached new ones).
    expect(stack.kong.node.tokenEntries().filter((e) => oldKeys.includes(String(e.via?.kid)))).toEqual([]);
    expect(stack.kong.requests.some((q) => q.method === "DELETE" && q.path === "/cache")).toBe(true);

    const [notice, ...more] = h.notices();
    expect(more).toEqual([]);
    expect(notice).toMatchObject({
      status: "info",
      credential: CREDENTIAL,
      reason: "key pasted in a ticket",
      actor: expect.any(String) as string,
    });
    expect(new Set(notice!.revoked)).toEqual(new Set(oldKeys));
    expect(notice!.message).toMatch(/60-90 minutes/);

    const status = await h.cli("status", CREDENTIAL, "--json");
    const view = (JSON.parse(status.out) as { compromise?: { state: string; revoked: string[] } }[])[0]!;
    expect(view.compromise).toMatchObject({ state: "done" });
    expect(new Set(view.compromise?.revoked)).toEqual(new Set(oldKeys));
    const text = await h.cli("status", CREDENTIAL);
    expect(text.out).toMatch(/key compromise .* revoked/);
  }, 120_000);

  it("refuses a rollback to the compromised generation with a code and a hint", async () => {
    const kid = h.ourKid();
    const r = await h.cli("rotate", CREDENTIAL, "--rollback");
    expect(r.code).not.toBe(0);
    expect(r.out + r.err).toMatch(/ROLLBACK_COMPROMISED/);
    expect(r.out + r.err).toMatch(/reported compromised/);
    const plan = await h.cli("plan", CREDENTIAL, "--rollback");
    expect(plan.out).toMatch(/reported compromised/);
    expect(h.ourKid()).toBe(kid);
  }, 60_000);

  it("lists a key it did not create as not managed, keeps it, and removes it only with --revoke-unmanaged", async () => {
    const stack = h.stack;
    const foreign = await issueSelfSigned({
      subject: "CN=partner upload",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000 * 90),
    });
    stack.entra.seedKeyCredential(APP_CLIENT_ID, foreign.der);
    const status = await h.cli("status", CREDENTIAL);
    expect(status.out).toMatch(new RegExp(`not managed by the rotator: ${foreign.x5t}`));

    const kept = await h.cli("rotate", CREDENTIAL, "--compromised", "--reason", "second leak");
    expect(kept.code, kept.out + kept.err).toBe(0);
    expect(kept.out).toMatch(/not managed by the rotator: .* kept at the IdP/);
    expect(h.atIdp()).toContain(foreign.x5t);

    const removed = await h.cli("rotate", CREDENTIAL, "--compromised", "--revoke-unmanaged");
    expect(removed.code, removed.out + removed.err).toBe(0);
    expect(removed.out).toMatch(/remove-unmanaged/);
    expect(h.atIdp()).toEqual([h.ourKid()]);
  }, 120_000);
});

describe("rotate --compromised in vault-reference mode", () => {
  const h = harness(true);
  beforeAll(h.start, 120_000);
  afterAll(() => h.close());

  it("disables the earlier generations' reference secrets too, and keeps the new one's", async () => {
    const stack = h.stack;
    const secretOf = (x5t: string) => `kong-jwk-${CREDENTIAL}-${x5t.replace(/[^0-9a-zA-Z-]/g, "-")}`;
    const oldKeys = h
      .versions()
      .filter((v) => v.tags["rotator-phase"] !== undefined)
      .map((v) => v.x5t!);
    for (const k of oldKeys) expect(stack.keyVault.secret(secretOf(k))?.enabled).toBe(true);
    const probes = probeLoop(() => stack.kong.probe(stack.pluginId, APP_CLIENT_ID), 150);
    try {
      const r = await h.cli("rotate", CREDENTIAL, "--compromised", "--reason", "vault e2e");
      expect(r.code, r.out + r.err).toBe(0);
    } finally {
      expect(await probes.stop()).toEqual([]);
    }
    for (const k of oldKeys) expect(stack.keyVault.secret(secretOf(k))?.enabled).toBe(false);
    expect(stack.keyVault.secret(secretOf(h.ourKid()))?.enabled).toBe(true);
    expect(h.atIdp()).toEqual([h.ourKid()]);
    expect(h.notices()).toHaveLength(1);
  }, 120_000);
});
