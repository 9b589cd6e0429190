/**
 * The Auth0 fake answers as Auth0 documents, over raw HTTP (no product code): Management API scopes and
 * error bodies, the 2-credential limit, detach before delete, the mutual exclusion of
 * client_authentication_methods and token_endpoint_auth_method, the default kid, and the token endpoint's
 * private_key_jwt rules (attached only, size, jti, lifetime, aud, kid, alg, audience).
 */
import { X509Certificate, randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { SignJWT, calculateJwkThumbprint, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import { ROTATION_SCOPES, startAuth0Fake, type Auth0Fake } from "../../stack/auth0/index.js";
import { selfSignedCertificate, type SelfSignedCertificate } from "../../stack/entra/certs.js";

const API = "https://orders.example.com/";
const MGMT = { clientId: "mgmtFakeTest0123456789abcdefghij", clientSecret: "fake-test-mgmt-secret-91c2" };

let fake: Auth0Fake;
let token: string;

async function call(method: string, path: string, body?: unknown, bearer = token) {
  const res = await fetch(`${fake.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
}

async function tokenRequest(params: Record<string, string>, json = false) {
  const res = await fetch(fake.tokenEndpoint, {
    method: "POST",
    headers: { "content-type": json ? "application/json" : "application/x-www-form-urlencoded" },
    body: json ? JSON.stringify(params) : new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

const pemOf = (c: SelfSignedCertificate) => new X509Certificate(c.der).toString();

async function assertion(
  cert: SelfSignedCertificate,
  clientId: string,
  opts: {
    aud?: string;
    kid?: string;
    alg?: string;
    jti?: string | null;
    lifetime?: number;
    pad?: number;
  } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({
    ...(opts.jti === null ? {} : { jti: opts.jti ?? randomUUID() }),
    ...(opts.pad ? { pad: "x".repeat(opts.pad) } : {}),
  })
    .setProtectedHeader({ alg: opts.alg ?? "RS256", ...(opts.kid ? { kid: opts.kid } : {}) })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(opts.aud ?? fake.tokenEndpoint)
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.lifetime ?? 60));
  return jwt.sign(cert.privateKey);
}

const pkjwt = (clientAssertion: string) => ({
  grant_type: "client_credentials",
  client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
  client_assertion: clientAssertion,
});

/** A client with one attached credential (default kid) and a grant for API. */
async function attachedClient(): Promise<{ clientId: string; cert: SelfSignedCertificate; kid: string }> {
  const { clientId } = fake.createClient({ name: "kong" });
  fake.setGrant(clientId, ["read:orders"], API);
  const cert = await selfSignedCertificate();
  const created = await call("POST", `/api/v2/clients/${clientId}/credentials`, {
    credential_type: "public_key",
    name: "k1",
    pem: pemOf(cert),
    alg: "RS256",
  });
  expect(created.status).toBe(201);
  const patched = await call("PATCH", `/api/v2/clients/${clientId}`, {
    token_endpoint_auth_method: null,
    client_authentication_methods: { private_key_jwt: { credentials: [{ id: created.body.id }] } },
  });
  expect(patched.status).toBe(200);
  return { clientId, cert, kid: String(created.body.kid) };
}

beforeAll(async () => {
  fake = await startAuth0Fake({
    tls: await issueServerTls(await ensureCa(resolve(".local/ca"))),
    defaultAudience: API,
  });
  fake.addManagementClient({ ...MGMT, scopes: [...ROTATION_SCOPES] });
  const t = await tokenRequest(
    {
      grant_type: "client_credentials",
      ...{ client_id: MGMT.clientId, client_secret: MGMT.clientSecret },
      audience: fake.managementAudience,
    },
    true,
  );
  expect(t).toMatchObject({ status: 200, body: { token_type: "Bearer", expires_in: 86400 } });
  token = t.body.access_token ?? "";
});

afterAll(async () => {
  await fake?.close();
});

describe("Auth0 fake: Management API", () => {
  it("enforces the bearer token and scopes with Auth0's error bodies", async () => {
    const { clientId } = fake.createClient({ name: "app" });
    expect(await call("GET", `/api/v2/clients/${clientId}`, undefined, "nope")).toEqual({
      status: 401,
      body: { statusCode: 401, error: "Unauthorized", message: "Invalid token" },
    });
    const limited = { clientId: "limitedFake0123456789abcdefghijk", clientSecret: "limited-fake-secret-77" };
    fake.addManagementClient({ ...limited, scopes: ["read:clients"] });
    const t = await tokenRequest({
      grant_type: "client_credentials",
      ...{ client_id: limited.clientId, client_secret: limited.clientSecret },
      audience: fake.managementAudience,
    });
    const denied = await call(
      "GET",
      `/api/v2/clients/${clientId}/credentials`,
      undefined,
      t.body.access_token,
    );
    expect(denied).toEqual({
      status: 403,
      body: {
        statusCode: 403,
        error: "Forbidden",
        message: "Insufficient scope, expected any of: read:client_credentials",
        errorCode: "insufficient_scope",
      },
    });
    const wrongSecret = await tokenRequest({
      grant_type: "client_credentials",
      client_id: limited.clientId,
      client_secret: "wrong-one",
      audience: fake.managementAudience,
    });
    expect(wrongSecret).toEqual({
      status: 401,
      body: { error: "access_denied", error_description: "Unauthorized" },
    });
  });

  it("defaults kid to the RFC 7638 thumbprint, holds at most 2 credentials, deletes only detached ones", async () => {
    const { clientId } = fake.createClient({ name: "app" });
    const [a, b, c] = [
      await selfSignedCertificate(),
      await selfSignedCertificate(),
      await selfSignedCertificate(),
    ];
    const first = await call("POST", `/api/v2/clients/${clientId}/credentials`, {
      credential_type: "public_key",
      pem: pemOf(a),
      alg: "RS256",
      parse_expiry_from_cert: true,
    });
    const jwk = new X509Certificate(a.der).publicKey.export({ format: "jwk" }) as JWK;
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      kid: await calculateJwkThumbprint(jwk, "sha256"),
      credential_type: "public_key",
    });
    expect(first.body.expires_at).toBe(new Date(new X509Certificate(a.der).validTo).toISOString());
    const second = await call("POST", `/api/v2/clients/${clientId}/credentials`, {
      credential_type: "public_key",
      pem: pemOf(b),
      alg: "PS256",
      kid: "my-own-kid-123",
    });
    expect(second.body).toMatchObject({ kid: "my-own-kid-123", alg: "PS256" });
    const third = await call("POST", `/api/v2/clients/${clientId}/credentials`, {
      credential_type: "public_key",
      pem: pemOf(c),
    });
    expect(third).toMatchObject({ status: 400, body: { statusCode: 400, error: "Bad Request" } });
    expect(third.body.errorCode).not.toBe("invalid_body");
    const fresh = fake.createClient({ name: "other" }).clientId;
    expect(
      await call("POST", `/api/v2/clients/${fresh}/credentials`, {
        credential_type: "public_key",
        pem: "nope",
      }),
    ).toMatchObject({ status: 400, body: { errorCode: "invalid_body" } });

    // Mutually exclusive: attaching while token_endpoint_auth_method is set is refused...
    const attach = {
      client_authentication_methods: { private_key_jwt: { credentials: [{ id: first.body.id }] } },
    };
    expect(await call("PATCH", `/api/v2/clients/${clientId}`, attach)).toMatchObject({
      status: 400,
      body: { errorCode: "invalid_body" },
    });
    // ...and accepted with token_endpoint_auth_method: null in the same PATCH.
    const ok = await call("PATCH", `/api/v2/clients/${clientId}`, {
      ...attach,
      token_endpoint_auth_method: null,
    });
    expect(ok.body).toMatchObject({
      token_endpoint_auth_method: null,
      client_authentication_methods: attach.client_authentication_methods,
    });

    expect(
      (await call("DELETE", `/api/v2/clients/${clientId}/credentials/${String(first.body.id)}`)).status,
    ).toBe(400);
    expect(
      (await call("DELETE", `/api/v2/clients/${clientId}/credentials/${String(second.body.id)}`)).status,
    ).toBe(204);
    expect((await call("GET", `/api/v2/clients/${clientId}/credentials`)).body).toHaveLength(1);
  });

  it("refuses credentials on a plan without Private Key JWT, and rate limits with Auth0's headers", async () => {
    const { clientId } = fake.createClient({ name: "app" });
    fake.setPrivateKeyJwt(false);
    try {
      const r = await call("POST", `/api/v2/clients/${clientId}/credentials`, {
        credential_type: "public_key",
        pem: pemOf(await selfSignedCertificate()),
      });
      expect(r).toMatchObject({ status: 403, body: { statusCode: 403, error: "Forbidden" } });
    } finally {
      fake.setPrivateKeyJwt(true);
    }
    fake.rateLimit({ path: `/api/v2/clients/${clientId}`, times: 1, resetInSec: 5 });
    const res = await fetch(`${fake.baseUrl}/api/v2/clients/${clientId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);
    expect(res.headers.get("x-ratelimit-remaining")).toBe("0");
    await res.body?.cancel();
  });
});

describe("Auth0 fake: token endpoint with private_key_jwt", () => {
  it("accepts aud = token endpoint or tenant URL with trailing slash, kid optional, JSON or form", async () => {
    const { clientId, cert, kid } = await attachedClient();
    expect((await tokenRequest(pkjwt(await assertion(cert, clientId)))).status).toBe(200);
    const json = await tokenRequest(
      pkjwt(await assertion(cert, clientId, { aud: fake.tenantUrl, kid })),
      true,
    );
    expect(json).toMatchObject({ status: 200, body: { token_type: "Bearer" } });
    expect((await tokenRequest(pkjwt(await assertion(cert, clientId, { aud: fake.baseUrl })))).status).toBe(
      401,
    );
  });

  it("refuses unattached keys, a wrong kid or alg, a missing jti, a lifetime over 5 minutes and assertions over 2048 bytes", async () => {
    const { clientId, cert } = await attachedClient();
    const other = await selfSignedCertificate();
    const refused = async (a: string) => (await tokenRequest(pkjwt(a))).status;
    expect(await refused(await assertion(other, clientId))).toBe(401);
    expect(await refused(await assertion(cert, clientId, { kid: "someone-elses-kid" }))).toBe(401);
    expect(await refused(await assertion(cert, clientId, { alg: "PS256" }))).toBe(401);
    expect(await refused(await assertion(cert, clientId, { jti: null }))).toBe(401);
    expect(await refused(await assertion(cert, clientId, { lifetime: 301 }))).toBe(401);
    expect(await refused(await assertion(cert, clientId, { lifetime: 300 }))).toBe(200);
    const big = await assertion(cert, clientId, { pad: 1700 });
    expect(Buffer.byteLength(big)).toBeGreaterThan(2048);
    expect(await tokenRequest(pkjwt(big))).toMatchObject({ status: 400, body: { error: "invalid_request" } });
    // A replayed assertion (same jti) is refused.
    const once = await assertion(cert, clientId);
    expect(await refused(once)).toBe(200);
    expect(await refused(once)).toBe(401);
  });

  it("uses the default audience when none is sent, and answers access_denied without one", async () => {
    const { clientId, cert } = await attachedClient();
    fake.setDefaultAudience(undefined);
    try {
      expect(await tokenRequest(pkjwt(await assertion(cert, clientId)))).toEqual({
        status: 403,
        body: {
          error: "access_denied",
          error_description:
            "No audience parameter was provided, and no default audience has been configured",
        },
      });
      const ungranted = await tokenRequest({
        ...pkjwt(await assertion(cert, clientId)),
        audience: "https://other.example.com/",
      });
      expect(ungranted).toMatchObject({ status: 403, body: { error: "access_denied" } });
    } finally {
      fake.setDefaultAudience(API);
    }
  });
});
