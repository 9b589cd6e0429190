/**
 * The Entra fake's client secrets over raw HTTP (no product code): Graph's addPassword/removePassword with
 * their permissions and shapes, passwordCredentials on applications, secret logins at the token endpoint
 * (`client_secret_post` and `client_secret_basic`, side by side with certificates, refused once removed or
 * expired with Entra's codes), and the beta sign-in activity reports fed by those logins.
 */
import { createHash, randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import { selfSignedCertificate, type SelfSignedCertificate } from "../../stack/entra/certs.js";
import { startEntraFake, type EntraFake } from "../../stack/entra/index.js";

const TENANT = "5b0e2c1d-7a3f-4e9b-8c6d-2f1e0d9c8b7a";
const OWNER = { clientId: "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b", clientSecret: "owner-secret-7d1c" };
const ALL = { clientId: "2a3b4c5d-6e7f-4809-9a1b-2c3d4e5f6a7b", clientSecret: "all-secret-5e2a" };
const STRANGER = { clientId: "3b4c5d6e-7f80-4910-8b2c-3d4e5f6a7b8c", clientSecret: "stranger-secret-3f9b" };
const AUDITOR = { clientId: "4c5d6e7f-8091-4a21-9c3d-4e5f6a7b8c9d", clientSecret: "auditor-secret-8a4d" };
const GRAPH_SCOPE = "https://graph.microsoft.com/.default";

let fake: EntraFake;
let app: { objectId: string; appId: string };
/** The delay the token endpoint applies to a new credential; drawn when the credential is added. */
let propagationMs = 0;

async function token(clientId: string, secret: string, scope = GRAPH_SCOPE): Promise<string> {
  const res = await secretLogin({ clientId, secret, scope });
  if (res.status !== 200) throw new Error(`token for ${clientId}: ${res.status}`);
  return String(res.body.access_token);
}

async function secretLogin(input: {
  clientId: string;
  secret: string;
  basic?: boolean;
  scope?: string;
}): Promise<{ status: number; body: Record<string, unknown>; requestId: string | null }> {
  const form = new URLSearchParams({ grant_type: "client_credentials", scope: input.scope ?? GRAPH_SCOPE });
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (input.basic)
    headers.authorization = `Basic ${Buffer.from(`${input.clientId}:${input.secret}`).toString("base64")}`;
  else {
    form.set("client_id", input.clientId);
    form.set("client_secret", input.secret);
  }
  const res = await fetch(fake.tokenEndpoint, { method: "POST", headers, body: form.toString() });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
    requestId: res.headers.get("x-ms-request-id"),
  };
}

async function graph(method: string, path: string, bearer: string, body?: unknown) {
  const res = await fetch(`${fake.graphBaseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${bearer}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
}

const errorCode = (body: Record<string, unknown>) => (body.error as { code?: string } | undefined)?.code;
const aadsts = (body: Record<string, unknown>) => (body.error_codes as number[] | undefined)?.[0];

async function certificateLogin(cert: SelfSignedCertificate, clientId = app.appId) {
  const x5t = createHash("sha1").update(cert.der).digest("base64url");
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: "RS256", x5t })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(fake.tokenEndpoint)
    .setNotBefore(now)
    .setExpirationTime(now + 300)
    .sign(cert.privateKey);
  const res = await fetch(fake.tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: clientId,
      scope: GRAPH_SCOPE,
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: assertion,
    }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  const tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  fake = await startEntraFake({ tls, tenantId: TENANT, propagationDelayMs: () => propagationMs });
  fake.addServicePrincipal({ ...OWNER, appRoles: ["Application.ReadWrite.OwnedBy"] });
  fake.addServicePrincipal({ ...ALL, appRoles: ["Application.ReadWrite.All"] });
  fake.addServicePrincipal({ ...STRANGER, appRoles: ["Application.ReadWrite.OwnedBy"] });
  fake.addServicePrincipal({ ...AUDITOR, appRoles: ["AuditLog.Read.All"] });
  app = fake.createApplication({ displayName: "kong-gateway", owners: [OWNER.clientId] });
});
afterAll(async () => fake?.close());

describe("Graph addPassword / removePassword", () => {
  it("adds a password credential, returns its secretText once with the hint, dates and keyId", async () => {
    const bearer = await token(OWNER.clientId, OWNER.clientSecret);
    const before = Date.now();
    const added = await graph("POST", `/v1.0/applications/${app.objectId}/addPassword`, bearer, {
      passwordCredential: { displayName: "kong gateway" },
    });
    expect(added.status).toBe(200);
    const p = added.body;
    expect(p).toMatchObject({ displayName: "kong gateway", customKeyIdentifier: null });
    expect(p.keyId).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof p.secretText).toBe("string");
    const secret = String(p.secretText);
    expect(secret.length).toBeGreaterThanOrEqual(16);
    expect(secret.length).toBeLessThanOrEqual(64);
    expect(p.hint).toBe(secret.slice(0, 3));
    const start = Date.parse(String(p.startDateTime));
    const end = Date.parse(String(p.endDateTime));
    expect(start).toBeGreaterThanOrEqual(before - 1000);
    // "The default value is startDateTime + 2 years."
    expect(end - start).toBe(2 * 365 * 86_400_000);

    const read = await graph("GET", `/v1.0/applications/${app.objectId}`, bearer);
    const listed = (read.body.passwordCredentials as Record<string, unknown>[]).find(
      (x) => x.keyId === p.keyId,
    );
    expect(listed).toMatchObject({ hint: p.hint, secretText: null, displayName: "kong gateway" });
    expect(JSON.stringify(read.body)).not.toContain(secret);

    const removed = await graph("POST", `/v1.0/applications/${app.objectId}/removePassword`, bearer, {
      keyId: p.keyId,
    });
    expect(removed.status).toBe(204);
    expect(fake.passwordCredentials(app.appId).some((x) => x.keyId === p.keyId)).toBe(false);
  });

  it("addresses the application by appId as the key routes do, and takes dates", async () => {
    const bearer = await token(OWNER.clientId, OWNER.clientSecret);
    const end = new Date(Date.now() + 30 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z");
    const added = await graph("POST", `/v1.0/applications(appId='${app.appId}')/addPassword`, bearer, {
      passwordCredential: { endDateTime: end },
    });
    expect(added.status).toBe(200);
    expect(added.body.endDateTime).toBe(end);
    expect(added.body.displayName).toBeNull();
    const removed = await graph("POST", `/v1.0/applications(appId='${app.appId}')/removePassword`, bearer, {
      keyId: added.body.keyId,
    });
    expect(removed.status).toBe(204);
  });

  it("needs OwnedBy as an owner or ReadWrite.All; an app cannot add its own secret without them", async () => {
    const stranger = await token(STRANGER.clientId, STRANGER.clientSecret);
    const denied = await graph("POST", `/v1.0/applications/${app.objectId}/addPassword`, stranger, {});
    expect(denied.status).toBe(403);
    expect(errorCode(denied.body)).toBe("Authorization_RequestDenied");

    const all = await token(ALL.clientId, ALL.clientSecret);
    const byAll = await graph("POST", `/v1.0/applications/${app.objectId}/addPassword`, all, {});
    expect(byAll.status).toBe(200);

    // The app itself, signed in with its own secret, has no Graph role: addPassword on itself is refused
    // (addKey's "roll its own keys" exemption does not extend to passwords).
    const self = await token(app.appId, String(byAll.body.secretText));
    const own = await graph("POST", `/v1.0/applications/${app.objectId}/addPassword`, self, {});
    expect(own.status).toBe(403);
    const ownRemove = await graph("POST", `/v1.0/applications/${app.objectId}/removePassword`, self, {
      keyId: byAll.body.keyId,
    });
    expect(ownRemove.status).toBe(403);
    expect(
      (
        await graph("POST", `/v1.0/applications/${app.objectId}/removePassword`, all, {
          keyId: byAll.body.keyId,
        })
      ).status,
    ).toBe(204);
  });

  it("refuses bad input without a change", async () => {
    const bearer = await token(OWNER.clientId, OWNER.clientSecret);
    const count = fake.passwordCredentials(app.appId).length;
    const past = await graph("POST", `/v1.0/applications/${app.objectId}/addPassword`, bearer, {
      passwordCredential: { startDateTime: "2030-01-02T00:00:00Z", endDateTime: "2030-01-01T00:00:00Z" },
    });
    expect(past.status).toBe(400);
    const garbage = await graph("POST", `/v1.0/applications/${app.objectId}/addPassword`, bearer, {
      passwordCredential: { endDateTime: "next year" },
    });
    expect(garbage.status).toBe(400);
    const unknown = await graph("POST", `/v1.0/applications/${app.objectId}/removePassword`, bearer, {
      keyId: randomUUID(),
    });
    expect(unknown.status).toBe(400);
    expect(errorCode(unknown.body)).toBe("Request_BadRequest");
    const get = await graph("GET", `/v1.0/applications/${app.objectId}/addPassword`, bearer);
    expect(get.status).toBe(405);
    expect(fake.passwordCredentials(app.appId)).toHaveLength(count);
  });
});

describe("token endpoint with client secrets", () => {
  it("accepts a current secret in the body and in Basic, side by side with a certificate", async () => {
    const cert = await selfSignedCertificate();
    fake.seedKeyCredential(app.appId, cert.der);
    const { secretText } = fake.seedPassword(app.appId, { displayName: "kong" });
    const post = await secretLogin({ clientId: app.appId, secret: secretText });
    expect(post.status).toBe(200);
    expect(post.body).toMatchObject({ token_type: "Bearer", expires_in: 3599 });
    expect(post.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const basic = await secretLogin({ clientId: app.appId, secret: secretText, basic: true });
    expect(basic.status).toBe(200);
    expect((await certificateLogin(cert)).status).toBe(200);
  });

  it("refuses a wrong or removed secret with AADSTS7000215 and an expired one with AADSTS7000222", async () => {
    const bearer = await token(OWNER.clientId, OWNER.clientSecret);
    const added = await graph("POST", `/v1.0/applications/${app.objectId}/addPassword`, bearer, {});
    const secret = String(added.body.secretText);
    expect((await secretLogin({ clientId: app.appId, secret })).status).toBe(200);
    await graph("POST", `/v1.0/applications/${app.objectId}/removePassword`, bearer, {
      keyId: added.body.keyId,
    });
    const removed = await secretLogin({ clientId: app.appId, secret, basic: true });
    expect(removed.status).toBe(401);
    expect(removed.body.error).toBe("invalid_client");
    expect(aadsts(removed.body)).toBe(7000215);
    const wrong = await secretLogin({ clientId: app.appId, secret: `${secret}x` });
    expect(aadsts(wrong.body)).toBe(7000215);

    const expired = fake.seedPassword(app.appId, {
      start: new Date(Date.now() - 3 * 86_400_000),
      end: new Date(Date.now() - 86_400_000),
    });
    const late = await secretLogin({ clientId: app.appId, secret: expired.secretText });
    expect(late.status).toBe(401);
    expect(aadsts(late.body)).toBe(7000222);
    expect(String(late.body.error_description)).toContain("are expired");
  });

  it("accepts a new secret only after it has propagated", async () => {
    const bearer = await token(OWNER.clientId, OWNER.clientSecret);
    propagationMs = 60_000;
    try {
      const added = await graph("POST", `/v1.0/applications/${app.objectId}/addPassword`, bearer, {});
      const early = await secretLogin({ clientId: app.appId, secret: String(added.body.secretText) });
      expect(aadsts(early.body)).toBe(7000215);
      const view = fake.passwordCredentials(app.appId).find((p) => p.keyId === added.body.keyId);
      expect(view!.visibleAt.getTime()).toBeGreaterThan(Date.now() + 50_000);
    } finally {
      propagationMs = 0;
    }
  });
});

describe("sign-in activity reports (beta)", () => {
  it("exist in beta only and need AuditLog.Read.All or Directory.Read.All", async () => {
    const auditor = await token(AUDITOR.clientId, AUDITOR.clientSecret);
    const v1 = await graph("GET", "/v1.0/reports/servicePrincipalSignInActivities", auditor);
    expect(v1.status).toBe(400);
    expect(errorCode(v1.body)).toBe("BadRequest");
    const owner = await token(OWNER.clientId, OWNER.clientSecret);
    const denied = await graph("GET", "/beta/reports/appCredentialSignInActivities", owner);
    expect(denied.status).toBe(403);
    expect((await graph("GET", "/beta/reports/appCredentialSignInActivities", auditor)).status).toBe(200);
  });

  it("report the last sign-in per credential keyId and per application, with the login's request id", async () => {
    const cert = await selfSignedCertificate();
    const { keyId: certKeyId } = fake.seedKeyCredential(app.appId, cert.der);
    const { keyId, secretText } = fake.seedPassword(app.appId, { displayName: "kong" });
    const login = await secretLogin({ clientId: app.appId, secret: secretText, basic: true });
    expect(login.status).toBe(200);
    expect((await certificateLogin(cert)).status).toBe(200);

    const auditor = await token(AUDITOR.clientId, AUDITOR.clientSecret);
    const bySecret = await graph(
      "GET",
      `/beta/reports/appCredentialSignInActivities?$filter=keyId eq '${keyId}'`,
      auditor,
    );
    expect(bySecret.status).toBe(200);
    const rows = bySecret.body.value as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      keyId,
      keyType: "clientSecret",
      keyUsage: "sign",
      credentialOrigin: "application",
      appId: app.appId,
      appObjectId: app.objectId,
      resourceId: "00000003-0000-0000-c000-000000000000",
      signInActivity: { lastSignInRequestId: login.requestId },
    });
    expect(rows[0]!.id).toBe(Buffer.from(`${keyId}|application`).toString("base64"));
    const one = await graph(
      "GET",
      `/beta/reports/appCredentialSignInActivities/${encodeURIComponent(String(rows[0]!.id))}`,
      auditor,
    );
    expect(one.body).toMatchObject({ keyId, keyType: "clientSecret" });

    const byApp = await graph(
      "GET",
      `/beta/reports/appCredentialSignInActivities?$filter=appId eq '${app.appId}'`,
      auditor,
    );
    const certRow = (byApp.body.value as Record<string, unknown>[]).find((r) => r.keyId === certKeyId);
    expect(certRow).toMatchObject({ keyType: "certificate" });

    const sp = await graph(
      "GET",
      `/beta/reports/servicePrincipalSignInActivities?$filter=appId eq '${app.appId}'`,
      auditor,
    );
    const spRows = sp.body.value as Record<string, unknown>[];
    expect(spRows).toHaveLength(1);
    expect(spRows[0]).toMatchObject({
      id: Buffer.from(app.appId).toString("base64"),
      appId: app.appId,
      delegatedClientSignInActivity: { lastSignInDateTime: null },
    });
    const last = spRows[0]!.lastSignInActivity as Record<string, unknown>;
    expect(spRows[0]!.applicationAuthenticationClientSignInActivity).toEqual(last);
    expect(Date.parse(String(last.lastSignInDateTime))).toBeGreaterThan(Date.now() - 60_000);
    expect(fake.credentialSignIns(app.appId).map((c) => c.keyId)).toEqual(
      expect.arrayContaining([keyId, certKeyId]),
    );
  });

  it("refuses queries it does not support", async () => {
    const auditor = await token(AUDITOR.clientId, AUDITOR.clientSecret);
    const bad = await graph(
      "GET",
      `/beta/reports/servicePrincipalSignInActivities?$filter=keyId eq '${randomUUID()}'`,
      auditor,
    );
    expect(bad.status).toBe(400);
    const order = await graph("GET", "/beta/reports/appCredentialSignInActivities?$orderby=keyId", auditor);
    expect(order.status).toBe(400);
    const missing = await graph("GET", "/beta/reports/appCredentialSignInActivities/bm9uZQ%3D%3D", auditor);
    expect(missing.status).toBe(404);
  });
});
