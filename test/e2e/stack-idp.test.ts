/**
 * The local stack with our client at the Okta or Auth0 fake (`startLocalStack({ idp })`): the generated
 * configuration and environment, the management access they grant, and Kong's seeded plugin, which logs in
 * at the IdP (discovery from its real issuer) once our client has a usable key and not before.
 */
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notePrivateJwk } from "../../stack/common/capture.js";
import { probeLogin, send } from "../../stack/kong/probe.js";
import { ROTATION_SCOPES } from "../../stack/auth0/index.js";
import {
  AUTH0,
  CREDENTIAL,
  OKTA,
  PARTNER_CLIENT_ID,
  idpFromArgs,
  startLocalStack,
  type LocalStack,
} from "../../stack/stack.js";
import { issueSelfSigned, type TestCertificate } from "../support/certs.js";

const cert = () =>
  issueSelfSigned({
    subject: "CN=stack idp test",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 30 * 86_400_000),
  });

/** Kong's seeded plugin config with `c` as our client's JWK (kid = x5t, as the rotator writes it). */
function withOurKey(stack: LocalStack, c: TestCertificate): Record<string, unknown> {
  const config = structuredClone(stack.kong.getPlugin(stack.pluginId)?.config ?? {});
  const jwk = c.privateKey.export({ format: "jwk" }) as Record<string, string>;
  notePrivateJwk(jwk);
  const jwks = config.client_jwk as unknown[];
  jwks[1] = { ...jwk, kty: "RSA", use: "sig", alg: "RS256", kid: c.x5t };
  return config;
}

/** The seeded plugin can't log in with a fresh key until `register` puts it at the IdP, then it can. */
async function expectLoginOnceRegistered(
  stack: LocalStack,
  register: (c: TestCertificate) => Promise<void>,
): Promise<void> {
  expect(await stack.probe()).toMatchObject({ ok: false });
  const c = await cert();
  const config = withOurKey(stack, c);
  expect(await probeLogin(config, stack.clientId, stack.ca.certPem)).toMatchObject({
    ok: false,
    status: 401,
  });
  await register(c);
  expect(await probeLogin(config, stack.clientId, stack.ca.certPem)).toMatchObject({ ok: true, kid: c.x5t });
}

const credentialOf = (stack: LocalStack) =>
  (stack.config.credentials as Record<string, unknown>[])[0] as Record<string, unknown>;

describe("--idp on the stack and demo command lines", () => {
  it("defaults to entra, takes okta or auth0, and refuses anything else", () => {
    expect(idpFromArgs([])).toBe("entra");
    expect(idpFromArgs(["--kong", "hybrid"])).toBe("entra");
    expect(idpFromArgs(["--kong", "hybrid", "--idp", "okta"])).toBe("okta");
    expect(idpFromArgs(["--idp", "auth0"])).toBe("auth0");
    expect(idpFromArgs(["--idp", "keycloak"])).toBeUndefined();
    expect(idpFromArgs(["--idp"])).toBeUndefined();
  });
});

describe("local stack, idp: okta", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({ idp: "okta", propagationDelayMs: 0, caDir: resolve(".local/ca") });
  });
  afterAll(async () => stack?.close());

  it("generates the okta credential, the API token env, and a plugin on the custom authorization server", () => {
    const okta = stack.okta!;
    expect(stack.idp).toBe("okta");
    expect(stack.clientId).toBe(OKTA.clientId);
    expect(stack.auth0).toBeUndefined();
    const credential = credentialOf(stack);
    expect(credential.name).toBe(CREDENTIAL);
    expect(credential.entra).toBeUndefined();
    expect(credential.okta).toEqual({
      orgUrl: okta.orgUrl,
      authorizationServer: "default",
      clientId: OKTA.clientId,
      token: { env: "OKTA_API_TOKEN" },
    });
    expect(stack.env.OKTA_API_TOKEN).toMatch(/^00/);
    expect(stack.env.NODE_EXTRA_CA_CERTS).toBe(stack.ca.certPath);
    expect(stack.kong.getPlugin(stack.pluginId)?.config).toMatchObject({
      issuer: `${okta.orgUrl}/oauth2/default`,
      client_id: [PARTNER_CLIENT_ID, OKTA.clientId],
      scopes: ["kong.gateway"],
    });
  });

  it("the API token may manage the app's keys; the app has none yet", async () => {
    const res = await send(
      `${stack.okta!.orgUrl}/api/v1/apps/${OKTA.clientId}/credentials/jwks`,
      stack.ca.certPem,
      5000,
      undefined,
      { authorization: `SSWS ${stack.env.OKTA_API_TOKEN}` },
    );
    expect(res).toEqual({ status: 200, body: [] });
  });

  it("Kong cannot log in before our client has a key, and can once an ACTIVE key is registered", () =>
    expectLoginOnceRegistered(stack, async (c) => {
      const { n, e } = c.privateKey.export({ format: "jwk" });
      stack.okta!.seedKey(stack.clientId, { kid: c.x5t, n: n ?? "", e: e ?? "" }, "ACTIVE");
    }));
});

describe("local stack, idp: auth0", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({ idp: "auth0", caDir: resolve(".local/ca") });
  });
  afterAll(async () => stack?.close());

  it("generates the auth0 credential (domain host:port), the management secret env, and the plugin", () => {
    const auth0 = stack.auth0!;
    expect(stack.idp).toBe("auth0");
    expect(stack.clientId).toBe(AUTH0.clientId);
    expect(stack.okta).toBeUndefined();
    expect(credentialOf(stack).auth0).toEqual({
      domain: new URL(auth0.baseUrl).host,
      clientId: AUTH0.clientId,
      management: { clientId: AUTH0.managementClientId, clientSecret: { env: "AUTH0_MGMT_SECRET" } },
    });
    expect(stack.env.AUTH0_MGMT_SECRET).toBeTruthy();
    expect(stack.kong.getPlugin(stack.pluginId)?.config).toMatchObject({
      issuer: auth0.tenantUrl,
      client_id: [PARTNER_CLIENT_ID, AUTH0.clientId],
    });
  });

  it("the management client gets a Management API token with the rotation scopes and reads the app", async () => {
    const auth0 = stack.auth0!;
    const token = await send(auth0.tokenEndpoint, stack.ca.certPem, 5000, {
      grant_type: "client_credentials",
      client_id: AUTH0.managementClientId,
      client_secret: stack.env.AUTH0_MGMT_SECRET ?? "",
      audience: auth0.managementAudience,
    });
    expect(token.status).toBe(200);
    const body = token.body as { access_token: string; scope: string };
    expect(body.scope.split(" ").sort()).toEqual([...ROTATION_SCOPES].sort());
    const app = await send(
      `${auth0.baseUrl}/api/v2/clients/${AUTH0.clientId}`,
      stack.ca.certPem,
      5000,
      undefined,
      {
        authorization: `Bearer ${body.access_token}`,
      },
    );
    expect(app).toMatchObject({ status: 200, body: { client_id: AUTH0.clientId } });
    expect(auth0.client(AUTH0.clientId).credentials).toEqual([]);
  });

  it("Kong cannot log in before a credential is attached, and can once one is", () =>
    expectLoginOnceRegistered(stack, async (c) => {
      await stack.auth0!.seedCredential(stack.clientId, { pem: c.certPem, alg: "RS256", kid: c.x5t }, true);
    }));
});
