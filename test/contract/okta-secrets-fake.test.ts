/**
 * The Okta fake's client secrets and app object over raw HTTP (no product code): the secrets API as the
 * management spec defines it (list, create, get, activate, deactivate, delete, with its error examples), the
 * token endpoint honouring the app's `token_endpoint_auth_method`, and the replace that switches the app to
 * `private_key_jwt` and thereby deletes its client secrets (Okta's client-secret rotation guide).
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from "node:crypto";
import { resolve } from "node:path";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import { startOktaFake, type OktaFake } from "../../stack/okta/index.js";

const ADMIN = `00okta-secrets-admin-${randomUUID()}`;
const READER = `00okta-secrets-reader-${randomUUID()}`;
const AS = "default";
const SCOPE = "kong.gateway";

let fake: OktaFake;

async function api(method: string, path: string, body?: unknown, token = ADMIN) {
  const res = await fetch(`${fake.orgUrl}${path}`, {
    method,
    headers: {
      authorization: `SSWS ${token}`,
      accept: "application/json",
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
}

const causes = (body: Record<string, unknown>) =>
  (body.errorCauses as { errorSummary: string }[]).map((c) => c.errorSummary);

async function secretLogin(clientId: string, secret: string, method: "basic" | "post") {
  const form = new URLSearchParams({ grant_type: "client_credentials", scope: SCOPE });
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (method === "basic")
    headers.authorization = `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}`;
  else {
    form.set("client_id", clientId);
    form.set("client_secret", secret);
  }
  const res = await fetch(fake.tokenEndpoint(AS), { method: "POST", headers, body: form.toString() });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function keyLogin(clientId: string, key: KeyObject, kid: string) {
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: "RS256", kid })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(fake.tokenEndpoint(AS))
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(key);
  const res = await fetch(fake.tokenEndpoint(AS), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      scope: SCOPE,
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: assertion,
    }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function rsaKey(kid: string): { privateKey: KeyObject; jwk: Record<string, unknown> } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pub = publicKey.export({ format: "jwk" });
  return { privateKey, jwk: { kty: "RSA", use: "sig", alg: "RS256", kid, n: pub.n, e: pub.e } };
}

beforeAll(async () => {
  const tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  fake = await startOktaFake({ tls });
  fake.addAuthorizationServer(AS, { scopes: [SCOPE], defaultScopes: [] });
  fake.addApiToken(ADMIN, "APP_ADMIN");
  fake.addApiToken(READER, "READ_ONLY_ADMIN");
});
afterAll(async () => fake?.close());

describe("client secret logins", () => {
  it("take the app's method only and an active secret only", async () => {
    const { clientId } = fake.createApp({ tokenEndpointAuthMethod: "client_secret_basic" });
    const { secret } = fake.seedSecret(clientId);
    const ok = await secretLogin(clientId, secret, "basic");
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ token_type: "Bearer", scope: SCOPE });
    const post = await secretLogin(clientId, secret, "post");
    expect(post.status).toBe(401);
    expect(post.body.error).toBe("invalid_client");
    const wrong = await secretLogin(clientId, `${secret}x`, "basic");
    expect(wrong.status).toBe(401);
    expect(wrong.body.error_description).toBe(
      "The client secret supplied for a confidential client is invalid.",
    );

    const { clientId: postClient } = fake.createApp({ tokenEndpointAuthMethod: "client_secret_post" });
    const { secret: postSecret } = fake.seedSecret(postClient);
    expect((await secretLogin(postClient, postSecret, "post")).status).toBe(200);
    expect((await secretLogin(postClient, postSecret, "basic")).status).toBe(401);
    const inactive = fake.seedSecret(postClient, { status: "INACTIVE" });
    expect((await secretLogin(postClient, inactive.secret, "post")).status).toBe(401);
  });

  it("refuse every secret of a private_key_jwt app", async () => {
    const { clientId } = fake.createApp({ tokenEndpointAuthMethod: "private_key_jwt" });
    expect((await secretLogin(clientId, "a-secret-nobody-has-0123", "post")).status).toBe(401);
  });
});

describe("client secrets API", () => {
  it("lists, creates, deactivates, activates and deletes secrets with the spec's rules", async () => {
    const { clientId } = fake.createApp({ tokenEndpointAuthMethod: "client_secret_post" });
    const seeded = fake.seedSecret(clientId);
    const base = `/api/v1/apps/${clientId}/credentials/secrets`;

    const list = await api("GET", base, undefined, READER);
    expect(list.status).toBe(200);
    const rows = list.body as unknown as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: seeded.id, status: "ACTIVE", client_secret: seeded.secret });
    expect(rows[0]!.id).toMatch(/^ocs[A-Za-z0-9]{17}$/);
    expect(rows[0]!.secret_hash).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Object.keys(rows[0]!._links as object)).toEqual(["deactivate"]);

    expect((await api("POST", base, {}, READER)).status).toBe(403);
    const created = await api("POST", base, {});
    expect(created.status).toBe(201);
    expect(String(created.body.client_secret)).toHaveLength(64);
    expect(created.body.status).toBe("ACTIVE");
    expect((await secretLogin(clientId, String(created.body.client_secret), "post")).status).toBe(200);

    const third = await api("POST", base, { client_secret: "a-third-secret-value-1234" });
    expect(third.status).toBe(400);
    expect(third.body.errorCode).toBe("E0000001");
    expect(causes(third.body)).toEqual(["You've reached the maximum number of client secrets per client."]);

    const deleteActive = await api("DELETE", `${base}/${seeded.id}`);
    expect(causes(deleteActive.body)).toEqual([
      "You can't delete an active client secret. Deactivate the secret before deleting it.",
    ]);
    const off = await api("POST", `${base}/${seeded.id}/lifecycle/deactivate`);
    expect(off.status).toBe(200);
    expect(off.body.status).toBe("INACTIVE");
    expect(Object.keys(off.body._links as object).sort()).toEqual(["activate", "delete"]);
    expect((await secretLogin(clientId, seeded.secret, "post")).status).toBe(401);
    const only = await api("POST", `${base}/${String(created.body.id)}/lifecycle/deactivate`);
    expect(only.status).toBe(400);
    expect(causes(only.body)).toEqual(["You can't deactivate the only active client secret."]);
    expect((await api("POST", `${base}/${seeded.id}/lifecycle/activate`)).body.status).toBe("ACTIVE");
    expect((await secretLogin(clientId, seeded.secret, "post")).status).toBe(200);
    await api("POST", `${base}/${seeded.id}/lifecycle/deactivate`);
    expect((await api("DELETE", `${base}/${seeded.id}`)).status).toBe(204);
    expect((await api("GET", `${base}/${seeded.id}`)).status).toBe(404);
    expect(fake.secrets(clientId).map((s) => s.id)).toEqual([created.body.id]);
  });

  it("validates a secret brought by the caller", async () => {
    const { clientId } = fake.createApp({ tokenEndpointAuthMethod: "client_secret_basic" });
    const base = `/api/v1/apps/${clientId}/credentials/secrets`;
    const short = await api("POST", base, { client_secret: "too-short" });
    expect(causes(short.body)).toEqual([
      "client_secret: 'client_secret' must be at least '14' characters long.",
    ]);
    const long = await api("POST", base, { client_secret: "x".repeat(101) });
    expect(causes(long.body)).toEqual([
      "client_secret: 'client_secret' can't be more than '100' characters long.",
    ]);
    const nonAscii = await api("POST", base, { client_secret: "secret-with-é-inside" });
    expect(nonAscii.status).toBe(400);
    const mine = "my-own-client-secret-0001";
    const ok = await api("POST", base, { client_secret: mine, status: "INACTIVE" });
    expect(ok.body).toMatchObject({ client_secret: mine, status: "INACTIVE" });
    expect(fake.secrets(clientId)).toHaveLength(1);
  });
});

describe("replacing the app", () => {
  it("switches to private_key_jwt, deleting the client secrets, and back", async () => {
    const { clientId } = fake.createApp({ tokenEndpointAuthMethod: "client_secret_post", label: "kong" });
    const { secret } = fake.seedSecret(clientId);
    const read = await api("GET", `/api/v1/apps/${clientId}`);
    expect(read.status).toBe(200);
    const oauth = (read.body.credentials as Record<string, Record<string, unknown>>).oauthClient!;
    expect(oauth).toMatchObject({ client_id: clientId, token_endpoint_auth_method: "client_secret_post" });
    expect(oauth.client_secret).toBeUndefined();
    expect(read.body).toMatchObject({ name: "oidc_client", signOnMode: "OPENID_CONNECT", label: "kong" });

    // No key yet: private_key_jwt is refused and nothing changes.
    const noKey = structuredClone(read.body);
    (noKey.credentials as Record<string, Record<string, unknown>>).oauthClient!.token_endpoint_auth_method =
      "private_key_jwt";
    const refused = await api("PUT", `/api/v1/apps/${clientId}`, noKey);
    expect(refused.status).toBe(400);
    expect(fake.authMethod(clientId)).toBe("client_secret_post");

    // A key staged through the JWKS API while the app still uses its secret.
    const key = rsaKey("kong-key-1");
    expect((await api("POST", `/api/v1/apps/${clientId}/credentials/jwks`, key.jwk)).status).toBe(201);
    expect((await keyLogin(clientId, key.privateKey, "kong-key-1")).status).toBe(401);
    expect((await secretLogin(clientId, secret, "post")).status).toBe(200);

    const current = await api("GET", `/api/v1/apps/${clientId}`);
    const settings = (current.body.settings as Record<string, Record<string, unknown>>).oauthClient!;
    expect((settings.jwks as { keys: unknown[] }).keys).toHaveLength(1);
    const withoutJwks = structuredClone(current.body);
    delete (withoutJwks.settings as Record<string, Record<string, unknown>>).oauthClient!.jwks;
    (
      withoutJwks.credentials as Record<string, Record<string, unknown>>
    ).oauthClient!.token_endpoint_auth_method = "private_key_jwt";
    expect((await api("PUT", `/api/v1/apps/${clientId}`, withoutJwks)).status).toBe(400);

    const switched = structuredClone(current.body);
    (
      switched.credentials as Record<string, Record<string, unknown>>
    ).oauthClient!.token_endpoint_auth_method = "private_key_jwt";
    expect((await api("PUT", `/api/v1/apps/${clientId}`, switched, READER)).status).toBe(403);
    const put = await api("PUT", `/api/v1/apps/${clientId}`, switched);
    expect(put.status).toBe(200);
    expect(
      (put.body.credentials as Record<string, Record<string, unknown>>).oauthClient!.client_secret,
    ).toBeUndefined();
    expect(fake.authMethod(clientId)).toBe("private_key_jwt");
    expect((await api("GET", `/api/v1/apps/${clientId}/credentials/secrets`)).body).toEqual([]);
    expect((await secretLogin(clientId, secret, "post")).status).toBe(401);
    expect((await keyLogin(clientId, key.privateKey, "kong-key-1")).status).toBe(200);
    const again = await api("POST", `/api/v1/apps/${clientId}/credentials/secrets`, {});
    expect(causes(again.body)).toEqual([
      "'client_secret' can't be used when 'token_endpoint_auth_method' is 'private_key_jwt'.",
    ]);

    // Back to a secret: Okta generates one and shows it in the replace response only.
    const back = structuredClone(switched);
    (back.credentials as Record<string, Record<string, unknown>>).oauthClient!.token_endpoint_auth_method =
      "client_secret_basic";
    const restored = await api("PUT", `/api/v1/apps/${clientId}`, back);
    const shown = (restored.body.credentials as Record<string, Record<string, unknown>>).oauthClient!
      .client_secret;
    expect(typeof shown).toBe("string");
    expect((await secretLogin(clientId, String(shown), "basic")).status).toBe(200);
    expect((await keyLogin(clientId, key.privateKey, "kong-key-1")).status).toBe(401);
  });

  it("refuses an incomplete body without a change", async () => {
    const { clientId } = fake.createApp({ tokenEndpointAuthMethod: "client_secret_post", label: "kong" });
    const read = await api("GET", `/api/v1/apps/${clientId}`);
    const { label: _label, ...noLabel } = read.body;
    const res = await api("PUT", `/api/v1/apps/${clientId}`, noLabel);
    expect(res.status).toBe(400);
    expect(res.body.errorCode).toBe("E0000001");
    expect(causes(res.body).join(" ")).toContain("label");
    const bad = structuredClone(read.body);
    (bad.credentials as Record<string, Record<string, unknown>>).oauthClient!.token_endpoint_auth_method =
      "mtls";
    expect((await api("PUT", `/api/v1/apps/${clientId}`, bad)).status).toBe(400);
    expect(fake.authMethod(clientId)).toBe("client_secret_post");
  });
});
