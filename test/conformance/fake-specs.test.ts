/**
 * Every fake refuses what its vendor's published API description refuses (stack/specs/,
 * stack/common/openapi.ts), in that vendor's error shape, and records the refusal:
 * - a body of the wrong type (the schema wants an object or array and gets something else);
 * - a body without a required member (or, where the description requires only the body, no body);
 * - an operation the API does not have (an unknown path, and a method the path does not take).
 * Each block first sends a valid request, so a fake that refuses everything cannot pass.
 * The Konnect fake has the same checks in konnect-spec.test.ts.
 */
import { resolve } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Rejection } from "../../stack/common/openapi.js";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import type { ServerTls } from "../../stack/common/tls.js";
import { startAuth0Fake, type Auth0Fake } from "../../stack/auth0/index.js";
import { startEntraFake, type EntraFake } from "../../stack/entra/index.js";
import { startKeyVaultFake, type KeyVaultFake } from "../../stack/keyvault/fake.js";
import { generateRsaJwk } from "../../stack/kong/seed.js";
import { startKongFake, type KongFake } from "../../stack/kong/fake.js";
import { startKubernetesFake, type KubernetesFake } from "../../stack/kubernetes/fake.js";
import { startOktaFake, type OktaFake } from "../../stack/okta/index.js";

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Answer> {
  const res = await request(url, {
    method: method as "GET",
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** The refusals a request added to the fake's list. */
async function refusedBy(list: Rejection[], act: () => Promise<Answer>): Promise<[Answer, Rejection[]]> {
  const before = list.length;
  const answer = await act();
  return [answer, list.slice(before)];
}

let tls: ServerTls;
beforeAll(async () => {
  tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
});

describe("Key Vault fake vs the Key Vault REST API description", () => {
  let kv: KeyVaultFake;
  const auth = { authorization: "Bearer any" };
  const at = (path: string) => `${kv.url}${path}${path.includes("?") ? "&" : "?"}api-version=2025-07-01`;
  beforeAll(async () => {
    kv = await startKeyVaultFake({ tls, authority: "https://127.0.0.1/t", verifyToken: async () => true });
    kv.putSecret("plain", "v1");
  });
  afterAll(() => kv?.close());

  it("serves a valid request and refuses malformed ones with 400 BadParameter, 404, 405", async () => {
    expect((await send(at("/secrets/plain/"), "GET", auth)).status).toBe(200);
    const [wrongType, r1] = await refusedBy(kv.rejected, () =>
      send(at("/secrets/plain"), "PUT", auth, { value: "x", tags: ["not", "a", "map"] }),
    );
    expect(wrongType).toMatchObject({ status: 400, body: { error: { code: "BadParameter" } } });
    expect(r1[0]).toMatchObject({
      reason: "invalid",
      errors: [expect.stringMatching(/\/tags must be object/)],
    });
    const [missing, r2] = await refusedBy(kv.rejected, () =>
      send(at("/secrets/plain"), "PUT", auth, { contentType: "text/plain" }),
    );
    expect(missing).toMatchObject({ status: 400, body: { error: { code: "BadParameter" } } });
    expect(r2[0]?.errors[0]).toMatch(/required property 'value'/);
    const [unknown, r3] = await refusedBy(kv.rejected, () => send(at("/deletedcertificates/c"), "GET", auth));
    expect(unknown.status).toBe(404);
    expect(r3[0]?.reason).toBe("unknown-path");
    const [method] = await refusedBy(kv.rejected, () => send(at("/secrets/plain/"), "DELETE", auth));
    expect(method).toMatchObject({ status: 405, body: { error: { code: "BadParameter" } } });
    expect(kv.secret("plain")?.value).toBe("v1");
  });
});

describe("Graph fake vs Graph's v1.0 description of applications", () => {
  let entra: EntraFake;
  let token = "";
  let app: { objectId: string; appId: string };
  const SERVICE = { clientId: "5a0e7c1d-9b8f-4a3e-a2d1-0f9e8d7c6b5a", clientSecret: "spec-service-secret" };
  beforeAll(async () => {
    entra = await startEntraFake({ tls, tenantId: "7f3e1b2a-0c4d-4e5f-8a9b-1c2d3e4f5a6b" });
    entra.addServicePrincipal({ ...SERVICE, appRoles: ["Application.ReadWrite.All"] });
    app = entra.createApplication({ displayName: "spec-app" });
    const res = await request(entra.tokenEndpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: SERVICE.clientId,
        client_secret: SERVICE.clientSecret,
        scope: `${entra.graphBaseUrl}/.default`,
      }).toString(),
    });
    token = ((await res.body.json()) as { access_token: string }).access_token;
  });
  afterAll(() => entra?.close());

  it("serves a valid request and refuses malformed ones in Graph's error shape", async () => {
    const auth = { authorization: `Bearer ${token}` };
    const appUrl = `${entra.graphBaseUrl}/v1.0/applications/${app.objectId}`;
    expect((await send(`${appUrl}?$select=id,keyCredentials`, "GET", auth)).status).toBe(200);
    const [wrongType, r1] = await refusedBy(entra.graph.rejected, () =>
      send(appUrl, "PATCH", auth, { keyCredentials: { key: "not-a-collection" } }),
    );
    expect(wrongType).toMatchObject({ status: 400, body: { error: { code: "BadRequest" } } });
    expect(r1[0]?.errors[0]).toMatch(/\/keyCredentials must be array/);
    const [missing] = await refusedBy(entra.graph.rejected, () => send(`${appUrl}/removeKey`, "POST", auth));
    expect(missing).toMatchObject({
      status: 400,
      body: { error: { message: expect.stringMatching(/required/) } },
    });
    const [unknown, r3] = await refusedBy(entra.graph.rejected, () =>
      send(`${appUrl}/rotateEverything`, "POST", auth, {}),
    );
    expect(unknown).toMatchObject({
      status: 400,
      body: { error: { message: "Resource not found for the segment 'rotateEverything'." } },
    });
    expect(r3[0]?.reason).toBe("unknown-path");
    const [method] = await refusedBy(entra.graph.rejected, () => send(appUrl, "PUT", auth, {}));
    expect(method).toMatchObject({ status: 405, body: { error: { code: "Request_BadRequest" } } });
    expect(entra.keyCredentials(app.appId)).toEqual([]);
  });
});

describe("Kong fake vs the Admin API spec (traditional, DB-less and hybrid nodes are one fake)", () => {
  let kong: KongFake;
  let id = "";
  const CLIENT = "11111111-2222-4333-8444-555555555555";
  beforeAll(async () => {
    kong = await startKongFake({ tls });
    id = kong.addPlugin({
      name: "openid-connect",
      config: {
        issuer: "https://login.microsoftonline.com/t/v2.0",
        client_id: [CLIENT],
        client_auth: ["private_key_jwt"],
        client_jwk: [generateRsaJwk({ kid: "k1" })],
      },
    }).id;
  });
  afterAll(() => kong?.close());

  it("serves a valid request and refuses malformed ones with Kong's bodies", async () => {
    expect((await send(`${kong.url}/plugins/${id}`, "GET", {})).status).toBe(200);
    const [wrongType, r1] = await refusedBy(kong.rejected, () =>
      send(`${kong.url}/plugins/${id}`, "PATCH", {}, { enabled: "yes" }),
    );
    expect(wrongType).toMatchObject({
      status: 400,
      body: { name: "schema violation", fields: { enabled: "expected a boolean" } },
    });
    expect(r1).toHaveLength(1);
    const [missing] = await refusedBy(kong.rejected, () =>
      send(`${kong.url}/plugins/${id}`, "PUT", {}, { config: {} }),
    );
    expect(missing).toMatchObject({
      status: 400,
      body: { name: "schema violation", fields: { name: "required field missing" } },
    });
    const [unknown, r3] = await refusedBy(kong.rejected, () =>
      send(`${kong.url}/plugins/${id}/rotate`, "POST", {}),
    );
    expect(unknown).toEqual({ status: 404, body: { message: "Not found" } });
    expect(r3[0]?.reason).toBe("unknown-path");
    const [method] = await refusedBy(kong.rejected, () => send(`${kong.url}/config`, "DELETE", {}));
    expect(method).toEqual({ status: 405, body: { message: "Method not allowed" } });
    expect(kong.getPlugin(id)?.enabled).toBe(true);
  });
});

describe("Okta fake vs the management API description", () => {
  let okta: OktaFake;
  let appId = "";
  const auth = { authorization: "SSWS spec-conformance-token" };
  beforeAll(async () => {
    okta = await startOktaFake({ tls });
    okta.addApiToken("spec-conformance-token", "SUPER_ADMIN");
    appId = okta.createApp().clientId;
  });
  afterAll(() => okta?.close());

  it("serves a valid request and refuses malformed ones with Okta's error body", async () => {
    const jwks = `${okta.orgUrl}/api/v1/apps/${appId}/credentials/jwks`;
    expect((await send(jwks, "GET", auth)).status).toBe(200);
    const [wrongType, r1] = await refusedBy(okta.rejected, () => send(jwks, "POST", auth, ["RSA"]));
    expect(wrongType).toMatchObject({ status: 400, body: { errorCode: "E0000001" } });
    expect(r1).toHaveLength(1);
    const [missing] = await refusedBy(okta.rejected, () => send(jwks, "POST", auth));
    expect(missing).toMatchObject({
      status: 400,
      body: { errorCode: "E0000001", errorCauses: [{ errorSummary: "the request body is required" }] },
    });
    const [unknown, r3] = await refusedBy(okta.rejected, () =>
      send(`${jwks}/k1/lifecycle/rotate`, "POST", auth),
    );
    expect(unknown).toMatchObject({ status: 404, body: { errorCode: "E0000022" } });
    expect(r3[0]?.reason).toBe("unknown-path");
    const [method] = await refusedBy(okta.rejected, () => send(jwks, "PUT", auth, {}));
    expect(method).toMatchObject({ status: 405, body: { errorCode: "E0000022" } });
    expect(okta.keys(appId)).toEqual([]);
  });
});

describe("Auth0 fake vs the Management API description", () => {
  let auth0: Auth0Fake;
  let token = "";
  let clientId = "";
  const MGMT = { clientId: "specMgmtClient0000000000000000001", clientSecret: "spec-mgmt-secret" };
  beforeAll(async () => {
    auth0 = await startAuth0Fake({ tls });
    auth0.addManagementClient({
      ...MGMT,
      scopes: ["read:clients", "update:clients", "read:client_credentials", "create:client_credentials"],
    });
    clientId = auth0.createClient({ name: "spec-client" }).clientId;
    const res = await send(
      auth0.tokenEndpoint,
      "POST",
      {},
      {
        grant_type: "client_credentials",
        client_id: MGMT.clientId,
        client_secret: MGMT.clientSecret,
        audience: auth0.managementAudience,
      },
    );
    token = String(res.body.access_token);
  });
  afterAll(() => auth0?.close());

  it("serves a valid request and refuses malformed ones with Auth0's error body", async () => {
    const auth = { authorization: `Bearer ${token}` };
    const client = `${auth0.baseUrl}/api/v2/clients/${clientId}`;
    expect((await send(`${client}/credentials`, "GET", auth)).status).toBe(200);
    const [wrongType, r1] = await refusedBy(auth0.rejected, () =>
      send(client, "PATCH", auth, { client_authentication_methods: "private_key_jwt" }),
    );
    expect(wrongType).toMatchObject({ status: 400, body: { errorCode: "invalid_body" } });
    expect(r1).toHaveLength(1);
    const [missing] = await refusedBy(auth0.rejected, () =>
      send(`${client}/credentials`, "POST", auth, { name: "no type", pem: "x" }),
    );
    expect(missing).toMatchObject({
      status: 400,
      body: { errorCode: "invalid_body", message: expect.stringMatching(/credential_type/) },
    });
    const [unknown, r3] = await refusedBy(auth0.rejected, () => send(`${client}/keys/rotate`, "POST", auth));
    expect(unknown).toMatchObject({ status: 404, body: { message: "Not Found" } });
    expect(r3[0]?.reason).toBe("unknown-path");
    const [method] = await refusedBy(auth0.rejected, () => send(`${client}/credentials`, "PUT", auth, {}));
    expect(method.status).toBe(404);
    expect(auth0.client(clientId).credentials).toEqual([]);
  });
});

describe("Kubernetes fake vs the API server's OpenAPI (core/v1, authorization/v1, KIC CRDs)", () => {
  let k8s: KubernetesFake;
  const auth = { authorization: "Bearer spec-admin" };
  beforeAll(async () => {
    k8s = await startKubernetesFake({
      tls,
      tokens: { "spec-admin": { user: "spec-admin", rules: [{ verbs: ["*"], resources: ["*"] }] } },
      proxyPods: [],
    });
    k8s.addSecret("kong", "jwks", { "jwks.json": "[]" });
  });
  afterAll(() => k8s?.close());

  it("serves a valid request and refuses malformed ones with Status bodies", async () => {
    const secret = `${k8s.url}/api/v1/namespaces/kong/secrets/jwks`;
    expect((await send(secret, "GET", auth)).status).toBe(200);
    const review = `${k8s.url}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`;
    const [wrongType, r1] = await refusedBy(k8s.rejected, () =>
      send(review, "POST", auth, {
        kind: "SelfSubjectAccessReview",
        spec: { resourceAttributes: "secrets" },
      }),
    );
    expect(wrongType).toMatchObject({ status: 400, body: { kind: "Status", reason: "BadRequest" } });
    expect(r1[0]?.errors[0]).toMatch(/resourceAttributes must be object/);
    const [missing] = await refusedBy(k8s.rejected, () =>
      send(review, "POST", auth, { kind: "SelfSubjectAccessReview" }),
    );
    expect(missing).toMatchObject({
      status: 400,
      body: { kind: "Status", message: expect.stringMatching(/required property 'spec'/) },
    });
    const [media] = await refusedBy(k8s.rejected, () =>
      send(secret, "PATCH", { ...auth, "content-type": "text/plain" }, "data: {}"),
    );
    expect(media).toMatchObject({ status: 415, body: { reason: "UnsupportedMediaType" } });
    const [unknown, r4] = await refusedBy(k8s.rejected, () =>
      send(`${k8s.url}/api/v1/namespaces/kong/configmaps/x`, "GET", auth),
    );
    expect(unknown).toMatchObject({ status: 404, body: { kind: "Status", reason: "NotFound" } });
    expect(r4[0]?.reason).toBe("unknown-path");
    const [method] = await refusedBy(k8s.rejected, () => send(secret, "DELETE", auth));
    expect(method).toMatchObject({ status: 405, body: { reason: "MethodNotAllowed" } });
  });
});
