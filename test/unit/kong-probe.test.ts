/**
 * The gateway login probe against a tiny local IdP (discovery + token endpoint) that verifies the client
 * assertion with jose against the public keys registered for each client, the way an IdP does.
 */
import { resolve } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { decodeProtectedHeader, importJWK, jwtVerify, type JWK } from "jose";
import { ensureCa, issueServerTls, type ServerTls } from "../../stack/common/tls.js";
import { startHttpsServer, type RunningServer } from "../../stack/common/server.js";
import { startKongFake, type KongFake } from "../../stack/kong/fake.js";
import { generateRsaJwk, type SeedJwk } from "../../stack/kong/seed.js";

const TENANT = "tenant-1";
let tls: ServerTls;
let idp: RunningServer;
let kong: KongFake;
/** client id -> public JWKs registered at the IdP */
const registered = new Map<string, JWK[]>();
const seen: {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  form: Record<string, string>;
}[] = [];
let jwkA: SeedJwk;
let jwkB: SeedJwk;
let jwkNoAlg: SeedJwk;

const publicOf = (j: SeedJwk): JWK => ({ kty: j.kty, n: j.n, e: j.e, ...(j.kid ? { kid: j.kid } : {}) });
const issuer = () => `${idp.url}/${TENANT}/v2.0`;
const tokenEndpoint = () => `${idp.url}/${TENANT}/oauth2/v2.0/token`;

beforeAll(async () => {
  tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  jwkA = generateRsaJwk({ kid: "kid-a", alg: "PS256" });
  jwkB = generateRsaJwk({ kid: "kid-b", alg: "PS256" });
  const { alg: _alg, ...rest } = generateRsaJwk({ kid: "kid-noalg" });
  jwkNoAlg = rest;
  idp = await startHttpsServer("tiny-idp", tls, async (req) => {
    if (req.method === "GET" && req.path === `/${TENANT}/v2.0/.well-known/openid-configuration`)
      return { status: 200, body: { issuer: issuer(), token_endpoint: tokenEndpoint() } };
    if (req.method !== "POST" || req.path !== `/${TENANT}/oauth2/v2.0/token`)
      return { status: 404, body: { error: "not_found" } };
    const form = Object.fromEntries(new URLSearchParams(req.body.toString("utf8")));
    const assertion = form.client_assertion ?? "";
    const header = decodeProtectedHeader(assertion) as Record<string, unknown>;
    const unverified = JSON.parse(
      Buffer.from(assertion.split(".")[1] ?? "", "base64url").toString("utf8"),
    ) as Record<string, unknown>;
    const client = String(unverified.iss);
    const key = (registered.get(client) ?? []).find((k) => k.kid === header.kid);
    if (!key)
      return {
        status: 401,
        body: {
          error: "invalid_client",
          error_description: "AADSTS700027: Client assertion contains an invalid signature.\r\nTrace ID: x",
        },
      };
    const { payload } = await jwtVerify(assertion, await importJWK(key, String(header.alg)), {
      audience: tokenEndpoint(),
      issuer: client,
      subject: client,
    });
    seen.push({ header, claims: payload as Record<string, unknown>, form });
    return {
      status: 200,
      body: { token_type: "Bearer", expires_in: 3599, access_token: "eyJhbGciOi.not-a-real.token" },
    };
  });
});

beforeEach(async () => {
  await kong?.close();
  kong = await startKongFake({ tls });
  registered.clear();
  seen.length = 0;
});

afterAll(async () => {
  await kong?.close();
  await idp?.close();
});

const config = (over: Record<string, unknown> = {}) => ({
  issuer: issuer(),
  client_id: ["client-a", "client-b"],
  client_auth: ["private_key_jwt"],
  client_jwk: [jwkA, jwkB],
  scopes: ["api://kong/.default"],
  ...over,
});

describe("gateway login probe", () => {
  it("signs like Kong: the client's own JWK, its alg and kid, 60 s lifetime, no client_id in the body", async () => {
    registered.set("client-b", [publicOf(jwkB)]);
    const { id } = kong.addPlugin({ name: "openid-connect", config: config() });
    const result = await kong.probe(id, "client-b");
    expect(result).toEqual({ ok: true, status: 200, kid: "kid-b" });
    const [s] = seen;
    expect(s?.header).toEqual({ typ: "JWT", alg: "PS256", kid: "kid-b" });
    expect(s?.claims).toMatchObject({ iss: "client-b", sub: "client-b", aud: tokenEndpoint() });
    expect(Number(s?.claims.exp) - Number(s?.claims.iat)).toBe(60);
    expect(String(s?.claims.jti)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s?.form).toMatchObject({
      grant_type: "client_credentials",
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      scope: "api://kong/.default",
    });
    expect(s?.form.client_id).toBeUndefined();
    expect(JSON.stringify(result)).not.toContain("eyJ");
  });

  it("falls back to client_jwk[0] when the array is shorter than the client's index", async () => {
    registered.set("client-b", [publicOf(jwkA)]);
    const { id } = kong.addPlugin({ name: "openid-connect", config: config({ client_jwk: [jwkA] }) });
    expect(await kong.probe(id, "client-b")).toEqual({ ok: true, status: 200, kid: "kid-a" });
  });

  it("uses client 0 by default, RS256 when the JWK has no alg, and an issuer that already is the discovery URL", async () => {
    registered.set("client-a", [publicOf(jwkNoAlg)]);
    const { id } = kong.addPlugin({
      name: "openid-connect",
      config: config({ client_jwk: [jwkNoAlg], issuer: `${issuer()}/.well-known/openid-configuration` }),
    });
    expect((await kong.probe(id)).ok).toBe(true);
    expect(seen[0]?.header.alg).toBe("RS256");
  });

  it("fails when the IdP does not know the key, with the IdP's error and no token", async () => {
    registered.set("client-a", [publicOf(jwkB)]);
    const { id } = kong.addPlugin({ name: "openid-connect", config: config() });
    expect(await kong.probe(id, "client-a")).toEqual({
      ok: false,
      status: 401,
      kid: "kid-a",
      error: "invalid_client: AADSTS700027: Client assertion contains an invalid signature.",
    });
  });

  it("reports configs the gateway cannot log in with", async () => {
    const secretAuth = kong.addPlugin({
      name: "openid-connect",
      config: config({ client_auth: ["client_secret_post"] }),
    });
    expect(await kong.probe(secretAuth.id)).toMatchObject({
      ok: false,
      status: 0,
      error: "no client_secret for this client",
    });
    const secretJwt = kong.addPlugin({
      name: "openid-connect",
      config: config({ client_auth: ["client_secret_jwt"], client_secret: ["a-shared-secret-value"] }),
    });
    expect(await kong.probe(secretJwt.id)).toMatchObject({
      ok: false,
      error: "client_auth client_secret_jwt is not reproduced by the login probe",
    });
    const noJwk = kong.addPlugin({ name: "openid-connect", config: config({ client_jwk: null }) });
    expect(await kong.probe(noJwk.id)).toMatchObject({ ok: false, error: "no client_jwk for this client" });
    const plain = kong.addPlugin({ name: "openid-connect", config: config() });
    expect(await kong.probe(plain.id, "client-z")).toMatchObject({
      ok: false,
      error: "client is not in config.client_id",
    });
    const badIssuer = kong.addPlugin({
      name: "openid-connect",
      config: config({ issuer: `${idp.url}/elsewhere` }),
    });
    expect(await kong.probe(badIssuer.id)).toMatchObject({
      ok: false,
      status: 404,
      error: "discovery returned no token_endpoint",
    });
    expect(await kong.probe("00000000-0000-4000-8000-000000000000")).toMatchObject({
      ok: false,
      error: "plugin not found",
    });
  });
});
