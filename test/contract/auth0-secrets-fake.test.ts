/**
 * The Auth0 fake's client secrets over raw HTTP (no product code): the token endpoint takes a secret by the
 * client's `token_endpoint_auth_method` only (`client_secret_post` or `client_secret_basic`), and none once
 * `client_authentication_methods.private_key_jwt` is configured (the two are exclusive; the documented PATCH
 * sends `token_endpoint_auth_method: null` with it); restoring a secret method brings the kept secret back;
 * `client_secret` is visible with read:client_keys only; rotate-secret.
 */
import { X509Certificate } from "node:crypto";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import {
  READ_CLIENT_KEYS,
  ROTATION_SCOPES,
  UPDATE_CLIENT_KEYS,
  startAuth0Fake,
  type Auth0Fake,
} from "../../stack/auth0/index.js";
import { selfSignedCertificate } from "../../stack/entra/certs.js";

const API = "https://orders.example.com/";
const MGMT = { clientId: "mgmtSecretsTest0123456789abcdefg", clientSecret: "secrets-test-mgmt-secret-5b1e" };
const KEYLESS = { clientId: "mgmtNoKeysTest0123456789abcdefgh", clientSecret: "secrets-test-keyless-3c7d" };

let fake: Auth0Fake;
let token: string;
let keyless: string;

async function call(method: string, path: string, body?: unknown, bearer = token) {
  const res = await fetch(`${fake.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
}

async function secretLogin(
  clientId: string,
  secret: string,
  how: "post" | "json" | "basic",
  audience = API,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const params: Record<string, string> = { grant_type: "client_credentials", audience };
  const headers: Record<string, string> = {};
  if (how === "basic")
    headers.authorization = `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}`;
  else Object.assign(params, { client_id: clientId, client_secret: secret });
  headers["content-type"] = how === "json" ? "application/json" : "application/x-www-form-urlencoded";
  const res = await fetch(fake.tokenEndpoint, {
    method: "POST",
    headers,
    body: how === "json" ? JSON.stringify(params) : new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function managementToken(c: { clientId: string; clientSecret: string }): Promise<string> {
  const res = await secretLogin(c.clientId, c.clientSecret, "json", fake.managementAudience);
  expect(res.status).toBe(200);
  return String(res.body.access_token);
}

/** A client on `method` with a grant for API; its secret. */
function secretClient(method: "client_secret_post" | "client_secret_basic"): {
  clientId: string;
  secret: string;
} {
  const { clientId, clientSecret } = fake.createClient({ name: "kong", tokenEndpointAuthMethod: method });
  fake.setGrant(clientId, ["read:orders"], API);
  return { clientId, secret: clientSecret ?? "" };
}

async function credentialFor(clientId: string): Promise<string> {
  const cert = await selfSignedCertificate();
  const created = await call("POST", `/api/v2/clients/${clientId}/credentials`, {
    credential_type: "public_key",
    name: "kong-1",
    pem: new X509Certificate(cert.der).toString(),
    alg: "RS256",
  });
  expect(created.status).toBe(201);
  return String(created.body.id);
}

beforeAll(async () => {
  fake = await startAuth0Fake({
    tls: await issueServerTls(await ensureCa(resolve(".local/ca"))),
    defaultAudience: API,
  });
  fake.addManagementClient({ ...MGMT, scopes: [...ROTATION_SCOPES, READ_CLIENT_KEYS, UPDATE_CLIENT_KEYS] });
  fake.addManagementClient({ ...KEYLESS, scopes: [...ROTATION_SCOPES] });
  token = await managementToken(MGMT);
  keyless = await managementToken(KEYLESS);
});
afterAll(async () => fake?.close());

describe("token endpoint with a client secret", () => {
  it("takes the secret the way the client's token_endpoint_auth_method says", async () => {
    const post = secretClient("client_secret_post");
    expect(post.secret).toHaveLength(64);
    expect((await secretLogin(post.clientId, post.secret, "post")).status).toBe(200);
    expect((await secretLogin(post.clientId, post.secret, "json")).status).toBe(200);
    const asBasic = await secretLogin(post.clientId, post.secret, "basic");
    expect(asBasic).toEqual({
      status: 401,
      body: { error: "access_denied", error_description: "Unauthorized" },
    });
    expect((await secretLogin(post.clientId, `${post.secret}x`, "post")).status).toBe(401);

    const basic = secretClient("client_secret_basic");
    expect((await secretLogin(basic.clientId, basic.secret, "basic")).status).toBe(200);
    expect((await secretLogin(basic.clientId, basic.secret, "post")).status).toBe(401);
  });

  it("ends secret logins when Private Key JWT is attached, and restores them with a secret method", async () => {
    const { clientId, secret } = secretClient("client_secret_post");
    const credentialId = await credentialFor(clientId);
    const before = await call("GET", `/api/v2/clients/${clientId}`);
    expect(before.body.client_secret).toBe(secret);

    // Attaching while token_endpoint_auth_method is set is refused: they are mutually exclusive.
    const both = await call("PATCH", `/api/v2/clients/${clientId}`, {
      client_authentication_methods: { private_key_jwt: { credentials: [{ id: credentialId }] } },
    });
    expect(both.status).toBe(400);
    expect((await secretLogin(clientId, secret, "post")).status).toBe(200);

    const attached = await call("PATCH", `/api/v2/clients/${clientId}`, {
      token_endpoint_auth_method: null,
      client_authentication_methods: { private_key_jwt: { credentials: [{ id: credentialId }] } },
    });
    expect(attached.status).toBe(200);
    expect(attached.body.token_endpoint_auth_method).toBeNull();
    expect(attached.body.client_secret).toBeUndefined();
    expect((await secretLogin(clientId, secret, "post")).status).toBe(401);
    expect((await secretLogin(clientId, secret, "basic")).status).toBe(401);
    expect((await call("GET", `/api/v2/clients/${clientId}`)).body.client_secret).toBeUndefined();

    const restored = await call("PATCH", `/api/v2/clients/${clientId}`, {
      token_endpoint_auth_method: "client_secret_post",
      client_authentication_methods: null,
    });
    expect(restored.status).toBe(200);
    expect(restored.body.client_secret).toBe(secret);
    expect((await secretLogin(clientId, secret, "post")).status).toBe(200);
  });
});

describe("client secret in the Management API", () => {
  it("shows client_secret with read:client_keys only", async () => {
    const { clientId } = secretClient("client_secret_post");
    const read = await call("GET", `/api/v2/clients/${clientId}`, undefined, keyless);
    expect(read.status).toBe(200);
    expect(read.body.client_secret).toBeUndefined();
    expect(read.body.token_endpoint_auth_method).toBe("client_secret_post");
  });

  it("rotates the secret with update:client_keys, not for a Private Key JWT client", async () => {
    const { clientId, secret } = secretClient("client_secret_basic");
    const denied = await call("POST", `/api/v2/clients/${clientId}/rotate-secret`, undefined, keyless);
    expect(denied.status).toBe(403);
    const rotated = await call("POST", `/api/v2/clients/${clientId}/rotate-secret`);
    expect(rotated.status).toBe(200);
    const fresh = String(rotated.body.client_secret);
    expect(fresh).not.toBe(secret);
    expect((await secretLogin(clientId, secret, "basic")).status).toBe(401);
    expect((await secretLogin(clientId, fresh, "basic")).status).toBe(200);

    const credentialId = await credentialFor(clientId);
    await call("PATCH", `/api/v2/clients/${clientId}`, {
      token_endpoint_auth_method: null,
      client_authentication_methods: { private_key_jwt: { credentials: [{ id: credentialId }] } },
    });
    const refused = await call("POST", `/api/v2/clients/${clientId}/rotate-secret`);
    expect(refused.status).toBe(400);
  });
});
