/**
 * End to end with every identity provider (Entra ID, Okta, Auth0) behind the identity-provider port, through
 * the CLI on the local stack (the adapters' own contract is test/contract/idp-contract.ts):
 * the Kong fake's gateway login probe logs in at the IdP fake (discovery from the plugin's issuer, an
 * assertion shaped like Kong's, verified by oidc-provider with the provider's rules).
 * - each provider rotates twice with 0 failed logins, and the old keys are removed from the IdP;
 * - Auth0 holds at most 2 credentials: a forced rotation while the retiring one is still registered waits
 *   for it (plan says so, nothing fails at the Management API), and goes through once the overlap ends;
 * - doctor and status speak about the provider's client and keys.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREDENTIAL, SERVICE_CLIENT_ID, type IdpKind, type LocalStack } from "../../stack/stack.js";
import { runCli } from "../support/cli.js";
import { probeLoop, startE2eStack } from "../support/e2e.js";

const OVERLAP_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each<IdpKind>(["entra", "okta", "auth0"])(
  "%s: rotation through the identity-provider port",
  (idp) => {
    let stack: LocalStack;
    let configPath: string;
    const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);

    beforeAll(async () => {
      ({ stack, configPath } = await startE2eStack({ idp, propagationDelayMs: 800 }));
    }, 60_000);

    afterAll(async () => {
      await stack?.close();
    });

    it("bootstraps, then rotates twice with 0 failed gateway logins and removes the old keys", async () => {
      const boot = await cli("rotate", CREDENTIAL);
      expect(boot.code, boot.out + boot.err).toBe(0);
      expect((await stack.probe()).ok).toBe(true);
      const first = stack.idpKeys().map((k) => k.kid);
      expect(first).toHaveLength(1);

      const probes = probeLoop(() => stack.probe());
      const kids: string[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          const r = await cli("rotate", CREDENTIAL, "--force", "--reason", `e2e ${idp} ${i}`);
          expect(r.code, r.out + r.err).toBe(0);
          const kid = Object.values(stack.gatewayKids())[0];
          expect(kid).toBeDefined();
          kids.push(kid!);
          // The previous key stays usable for the overlap; after it the next run removes it.
          await sleep(OVERLAP_MS + 200);
          const run = await cli("run", CREDENTIAL);
          expect(run.code, run.out + run.err).toBe(0);
          expect(stack.idpKeys().map((k) => k.kid)).toEqual([kid]);
        }
      } finally {
        expect(await probes.stop()).toEqual([]);
      }
      expect(new Set([...first, ...kids]).size).toBe(3);
      // The JWK Kong signs with carries the registered kid and an algorithm the provider accepts.
      const jwk = (
        stack.kong.getPlugin(stack.pluginId)?.config.client_jwk as { kid?: string; alg?: string }[]
      )[1];
      expect(jwk).toMatchObject({ kid: kids[1], alg: idp === "entra" ? "PS256" : "RS256" });
      const status = await cli("status", CREDENTIAL, "--json");
      expect(status.code, status.err).toBe(0);
      const view = JSON.parse(status.out) as { idp: { client: string; keys: number }; active: string }[];
      expect(view[0]).toMatchObject({ active: kids[1], idp: { keys: 1 } });
      expect(view[0]?.idp.client).toContain(stack.clientId);
    }, 120_000);

    it("a failure at the IdP alerts with the provider's code and hint, and resolves once it works again", async () => {
      interface Alert {
        event: string;
        status: string;
        code?: string;
        hint?: string;
      }
      const alerts = () => stack.webhook.received.map((w) => w.body as Alert);
      const since = alerts().length;
      // Something breaks at the IdP: the service identity loses its Graph application role; Okta's API token
      // loses its admin role; the Auth0 tenant loses Private Key JWT (its plan). (Revoking the Auth0 management grant would not show at once: the Management API token
      // the process already holds stays valid until it expires, as at Auth0.)
      const revoke = (on: boolean) => {
        if (idp === "entra")
          stack.entra.setAppRoles(SERVICE_CLIENT_ID, on ? [] : ["Application.ReadWrite.OwnedBy"]);
        if (stack.okta) stack.okta.addApiToken(stack.env.OKTA_API_TOKEN!, on ? "NONE" : "APP_ADMIN");
        if (stack.auth0) stack.auth0.setPrivateKeyJwt(!on);
      };
      revoke(true);
      try {
        const r = await cli("rotate", CREDENTIAL, "--force", "--reason", "while access is revoked");
        expect(r.code, r.out + r.err).toBe(1);
      } finally {
        revoke(false);
      }
      const firing = alerts()
        .slice(since)
        .filter((a) => a.event === "KeyRotationFailed" && a.status === "firing");
      expect(firing).toHaveLength(1);
      expect(firing[0]?.code).toMatch({ entra: /^(ENTRA|GRAPH)_/, okta: /^OKTA_/, auth0: /^AUTH0_/ }[idp]);
      expect(firing[0]?.hint).toBeTruthy();
      const run = await cli("run", CREDENTIAL);
      expect(run.code, run.out + run.err).toBe(0);
      expect(
        alerts()
          .slice(since)
          .some(
            (a) => a.event === "KeyRotationFailed" && a.status === "resolved" && a.code === firing[0]?.code,
          ),
      ).toBe(true);
      expect((await stack.probe()).ok).toBe(true);
    }, 120_000);

    it("doctor checks the client at the provider and the plugin's issuer", async () => {
      const r = await cli("doctor", CREDENTIAL, "--json");
      const checks = (JSON.parse(r.out) as { checks: { code: string; status: string }[] }).checks;
      const status = (code: string) => checks.find((c) => c.code === code)?.status;
      expect(status("IDP_CLIENT_OK")).toBe("pass");
      expect(status("IDP_ACTIVE_KEY_OK")).toBe("pass");
      expect(status("KONG_ISSUER_OK")).toBe("pass");
      if (idp === "okta") expect(status("KONG_SCOPES_OK")).toBe("pass");
      expect(checks.filter((c) => c.status === "fail")).toEqual([]);
    }, 60_000);
  },
);

describe("auth0: at most 2 credentials", () => {
  let stack: LocalStack;
  let configPath: string;
  const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);

  beforeAll(async () => {
    ({ stack, configPath } = await startE2eStack({
      idp: "auth0",
      propagationDelayMs: 500,
      policy: {
        overlap: "PT8S",
        verifyInterval: "PT0.3S",
        verifyConsecutive: 3,
        verifyTimeout: "PT30S",
        forceCooldown: "PT0S",
      },
    }));
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it("a rotation while two credentials exist waits for the retiring one, says so, and never fails at the API", async () => {
    expect((await cli("rotate", CREDENTIAL)).code).toBe(0);
    const forced = await cli("rotate", CREDENTIAL, "--force", "--reason", "first");
    expect(forced.code, forced.out + forced.err).toBe(0);
    const [active, retiring] = [Object.values(stack.gatewayKids())[0], stack.idpKeys()];
    expect(retiring).toHaveLength(2);

    const probes = probeLoop(() => stack.probe());
    try {
      const plan = await cli("plan", CREDENTIAL, "--force");
      expect(plan.code, plan.out + plan.err).toBe(0);
      expect(plan.out).toMatch(
        /holds 2 key\(s\), the most it allows \(2\): the new key waits until retiring \S+ is removed/,
      );

      // Asked for now, the request is kept; nothing is created and Auth0 is not asked for a third credential.
      const early = await cli("rotate", CREDENTIAL, "--force", "--reason", "second");
      expect(early.code, early.out + early.err).toBe(0);
      expect(early.out).toMatch(/request \S+ recorded/);
      expect(early.out).toMatch(/noop[\s\S]*create: .*the new key waits until retiring/);
      expect(early.out + early.err).not.toMatch(/AUTH0_CREDENTIAL_LIMIT|✗/);
      expect(stack.idpKeys()).toHaveLength(2);
      expect(Object.values(stack.gatewayKids())[0]).toBe(active);

      // After the overlap one run retires the old credential, then makes, proves and activates the new one.
      await sleep(8_500);
      const run = await cli("run", CREDENTIAL);
      expect(run.code, run.out + run.err).toBe(0);
      expect(run.out).toMatch(/retire: removed key/);
      expect(run.out).toMatch(/activate: /);
      const now = Object.values(stack.gatewayKids())[0];
      expect(now).not.toBe(active);
      expect(
        stack
          .idpKeys()
          .map((k) => k.kid)
          .sort(),
      ).toEqual([active, now].sort());
    } finally {
      expect(await probes.stop()).toEqual([]);
    }
  }, 120_000);

  it("the active credential detached at Auth0: one run frees its slot and rotates, and the retiring key is kept until then", async () => {
    const active = Object.values(stack.gatewayKids())[0]!;
    const cred = stack.auth0!.client(stack.clientId).credentials.find((c) => c.kid === active)!;
    stack.auth0!.detach(stack.clientId, cred.id);
    expect((await stack.probe()).ok).toBe(false);
    const run = await cli("run", CREDENTIAL);
    expect(run.code, run.out + run.err).toBe(0);
    expect(run.out).toMatch(/remove-unusable: removed key/);
    const now = Object.values(stack.gatewayKids())[0];
    expect(now).not.toBe(active);
    expect((await stack.probe()).ok).toBe(true);
    expect(stack.idpKeys().map((k) => k.kid)).not.toContain(active);
  }, 120_000);
});
