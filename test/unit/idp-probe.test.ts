/**
 * Kong's gateway login (the Kong fake's probe, stack/kong/probe.ts) against the Okta and Auth0 fakes, with
 * a plugin whose `issuer` is the IdP's real issuer: discovery finds the token endpoint, and the assertion
 * Kong builds (kid and alg from the JWK, aud = token endpoint, jti, exp = iat + 60, scope from
 * config.scopes, no audience) is accepted when the key is registered and usable, refused when it is not.
 * Keys are seeded through the fakes' own seeding APIs; nothing here uses product code.
 */
import { createPublicKey } from "node:crypto";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notePrivateJwk } from "../../stack/common/capture.js";
import { send } from "../../stack/kong/probe.js";
import { ensureCa, issueServerTls, type ServerTls } from "../../stack/common/tls.js";
import { startKongFake, type KongFake } from "../../stack/kong/fake.js";
import { startOktaFake, type OktaFake } from "../../stack/okta/index.js";
import { startAuth0Fake, type Auth0Fake } from "../../stack/auth0/index.js";
import { issueSelfSigned, type TestCertificate } from "../support/certs.js";

const PARTNER = "partner-portal";
const SCOPE = "kong.gateway";
let tls: ServerTls;
let kong: KongFake;
let okta: OktaFake;
let auth0: Auth0Fake;

const cert = () =>
  issueSelfSigned({
    subject: "CN=idp probe test",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 30 * 86_400_000),
  });

/** The private JWK Kong holds for a certificate: kid = x5t, as the rotator writes it. */
function kongJwk(c: TestCertificate, alg: "RS256" | "PS256"): Record<string, string> {
  const jwk = c.privateKey.export({ format: "jwk" }) as Record<string, string>;
  notePrivateJwk(jwk);
  return { ...jwk, kty: "RSA", use: "sig", alg, kid: c.x5t };
}
const publicJwk = (c: TestCertificate) => {
  const { n, e } = createPublicKey(c.privateKey).export({ format: "jwk" });
  return { kid: c.x5t, n: n ?? "", e: e ?? "" };
};

/** A plugin listing the partner client and `clientId` with `jwk`, authenticating by private_key_jwt. */
function plugin(
  issuer: string,
  clientId: string,
  jwk: Record<string, string>,
  scopes?: string[],
): { id: string } {
  const partner = { ...jwk, kid: "partner-key" };
  return kong.addPlugin({
    name: "openid-connect",
    config: {
      issuer,
      client_id: [PARTNER, clientId],
      client_auth: ["private_key_jwt", "private_key_jwt"],
      client_jwk: [partner, jwk],
      ...(scopes ? { scopes } : {}),
    },
  });
}

beforeAll(async () => {
  tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  kong = await startKongFake({ tls, version: "3.10.0.16" });
  okta = await startOktaFake({ tls });
  okta.addAuthorizationServer("default", { scopes: [SCOPE], defaultScopes: [] });
  auth0 = await startAuth0Fake({ tls, defaultAudience: "https://orders.example/api" });
});
afterAll(async () => {
  await Promise.all([kong?.close(), okta?.close(), auth0?.close()]);
});

describe("Okta fake: discovery and Kong's login", () => {
  it("publishes OpenID Connect metadata for the custom and the org authorization server", async () => {
    const custom = await send(`${okta.issuer("default")}/.well-known/openid-configuration`, tls.ca, 5000);
    expect(custom.status).toBe(200);
    expect(custom.body).toMatchObject({
      issuer: `${okta.orgUrl}/oauth2/default`,
      token_endpoint: okta.tokenEndpoint("default"),
      token_endpoint_auth_methods_supported: expect.arrayContaining(["private_key_jwt"]) as unknown,
    });
    const org = await send(`${okta.orgUrl}/.well-known/openid-configuration`, tls.ca, 5000);
    expect(org.body).toMatchObject({ issuer: okta.orgUrl, token_endpoint: okta.tokenEndpoint() });
    const unknown = await send(`${okta.orgUrl}/oauth2/nope/.well-known/openid-configuration`, tls.ca, 5000);
    expect(unknown).toMatchObject({ status: 404, body: { errorCode: "E0000007" } });
  });

  it("accepts Kong's assertion signed with an ACTIVE key, refuses an INACTIVE one", async () => {
    const { clientId } = okta.createApp({ label: "kong gateway" });
    const active = await cert();
    const staged = await cert();
    okta.seedKey(clientId, publicJwk(active), "ACTIVE");
    okta.seedKey(clientId, publicJwk(staged), "INACTIVE");
    const ok = plugin(okta.issuer("default"), clientId, kongJwk(active, "RS256"), [SCOPE]);
    expect(await kong.probe(ok.id, clientId)).toMatchObject({ ok: true, status: 200, kid: active.x5t });
    const inactive = plugin(okta.issuer("default"), clientId, kongJwk(staged, "RS256"), [SCOPE]);
    expect(await kong.probe(inactive.id, clientId)).toMatchObject({
      ok: false,
      status: 401,
      kid: staged.x5t,
      error: expect.stringMatching(/^invalid_client/) as unknown,
    });
  });

  it("refuses PS256 (Okta signs client assertions with RS*/ES* only) and Kong's default scope", async () => {
    const { clientId } = okta.createApp();
    const c = await cert();
    okta.seedKey(clientId, publicJwk(c), "ACTIVE");
    const ps = plugin(okta.issuer("default"), clientId, kongJwk(c, "PS256"), [SCOPE]);
    expect(await kong.probe(ps.id, clientId)).toMatchObject({ ok: false, status: 401 });
    // Without config.scopes Kong asks for "openid", which the custom server's client credentials refuse.
    const noScopes = plugin(okta.issuer("default"), clientId, kongJwk(c, "RS256"));
    expect(await kong.probe(noScopes.id, clientId)).toMatchObject({
      ok: false,
      status: 400,
      error: expect.stringMatching(/^invalid_scope/) as unknown,
    });
  });
});

describe("Auth0 fake: discovery and Kong's login", () => {
  it("publishes OpenID Connect metadata at https://<domain>/.well-known/openid-configuration", async () => {
    const doc = await send(`${auth0.tenantUrl}.well-known/openid-configuration`, tls.ca, 5000);
    expect(doc.status).toBe(200);
    expect(doc.body).toMatchObject({
      issuer: auth0.tenantUrl,
      token_endpoint: auth0.tokenEndpoint,
      token_endpoint_auth_methods_supported: expect.arrayContaining(["private_key_jwt"]) as unknown,
      token_endpoint_auth_signing_alg_values_supported: ["RS256", "RS384", "PS256"],
    });
  });

  it("accepts Kong's assertion signed with an attached credential (RS256 or PS256), refuses a detached one", async () => {
    const { clientId } = auth0.createClient({ name: "kong gateway" });
    auth0.setGrant(clientId, [], "https://orders.example/api");
    const attached = await cert();
    const detached = await cert();
    await auth0.seedCredential(clientId, { pem: attached.certPem, alg: "PS256", kid: attached.x5t }, true);
    await auth0.seedCredential(clientId, { pem: detached.certPem, alg: "RS256", kid: detached.x5t }, false);
    const ok = plugin(auth0.tenantUrl, clientId, kongJwk(attached, "PS256"));
    expect(await kong.probe(ok.id, clientId)).toMatchObject({ ok: true, status: 200, kid: attached.x5t });
    const refused = plugin(auth0.tenantUrl, clientId, kongJwk(detached, "RS256"));
    expect(await kong.probe(refused.id, clientId)).toMatchObject({
      ok: false,
      status: 401,
      kid: detached.x5t,
    });
  });

  it("refuses a client with no attached credential and one without a grant for the default audience", async () => {
    const bare = auth0.createClient({ name: "no credentials" }).clientId;
    const c = await cert();
    await auth0.seedCredential(bare, { pem: c.certPem, kid: c.x5t }, false);
    const p = plugin(auth0.tenantUrl, bare, kongJwk(c, "RS256"));
    expect(await kong.probe(p.id, bare)).toMatchObject({ ok: false, status: 401 });
    const ungranted = auth0.createClient({ name: "no grant" }).clientId;
    const d = await cert();
    await auth0.seedCredential(ungranted, { pem: d.certPem, kid: d.x5t }, true);
    const q = plugin(auth0.tenantUrl, ungranted, kongJwk(d, "RS256"));
    expect(await kong.probe(q.id, ungranted)).toMatchObject({
      ok: false,
      status: 403,
      error: expect.stringMatching(/^access_denied/) as unknown,
    });
  });
});
