/**
 * The local stack started from a client secret (`startLocalStack({ secretAuth })`, `npm run stack --
 * --client-secret`): Kong's entry for our client logs in with the secret at each IdP as the plugin does, the
 * IdP lists the secret, and the IdP-side cutover of a migration (Entra removePassword, Okta switching the app
 * to private_key_jwt, Auth0 attaching a credential) shows as failed gateway logins, while tokens the gateway
 * cached keep being served until its cache is cleared.
 */
import { X509Certificate } from "node:crypto";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  KIC,
  SERVICE_CLIENT_ID,
  secretAuthFromArgs,
  startLocalStack,
  type LocalStack,
} from "../../stack/stack.js";
import { selfSignedCertificate } from "../../stack/entra/certs.js";

const start = (over: Parameters<typeof startLocalStack>[0]) =>
  startLocalStack({ propagationDelayMs: 0, createDelayMs: 50, caDir: resolve(".local/ca"), ...over });

async function json(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
}

/** Kong's plugin config for our entry (index 1), as the Admin API returns it. */
const ourEntry = (stack: LocalStack) => {
  const config = stack.kong.getPlugin(stack.pluginId)?.config ?? {};
  return {
    auth: (config.client_auth as string[])[1],
    secret: (config.client_secret as string[] | null)?.[1],
    partnerSecret: (config.client_secret as string[] | null)?.[0],
  };
};

async function graphToken(stack: LocalStack): Promise<string> {
  const res = await json(stack.entra.tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: SERVICE_CLIENT_ID,
      client_secret: stack.env.AZURE_CLIENT_SECRET ?? "",
      scope: "https://graph.microsoft.com/.default",
    }).toString(),
  });
  return String(res.body.access_token);
}

describe("--client-secret on the stack command line", () => {
  it("takes an optional method and refuses an unknown one", () => {
    expect(secretAuthFromArgs([])).toBeUndefined();
    expect(secretAuthFromArgs(["--client-secret"])).toBe("client_secret_post");
    expect(secretAuthFromArgs(["--client-secret", "--idp", "okta"])).toBe("client_secret_post");
    expect(secretAuthFromArgs(["--client-secret", "client_secret_basic"])).toBe("client_secret_basic");
    expect(secretAuthFromArgs(["--client-secret", "private_key_jwt"])).toBeNull();
  });
});

describe("secretAuth on Entra", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await start({ idp: "entra", secretAuth: "client_secret_post" });
  });
  afterAll(async () => stack?.close());

  it("seeds the password credential and Kong's entry, which logs in with it", async () => {
    const seeded = stack.seededSecret!;
    expect(seeded).toMatchObject({ auth: "client_secret_post", hint: seeded.secret.slice(0, 3) });
    expect(ourEntry(stack)).toMatchObject({ auth: "client_secret_post", secret: seeded.secret });
    expect(ourEntry(stack).partnerSecret).not.toBe(seeded.secret);
    expect(stack.idpSecrets()).toEqual([{ id: seeded.idpId, hint: seeded.hint, state: "valid" }]);
    expect(stack.entra.keyCredentials(stack.clientId)).toEqual([]);
    expect(await stack.probe()).toEqual({ ok: true, status: 200, secretHint: seeded.hint });
  });

  it("reports the secret's last sign-in by keyId to the service identity (AuditLog.Read.All)", async () => {
    expect((await stack.probe()).ok).toBe(true);
    const bearer = await graphToken(stack);
    const report = await json(
      `${stack.entra.graphBaseUrl}/beta/reports/appCredentialSignInActivities?$filter=keyId eq '${stack.seededSecret!.idpId}'`,
      { headers: { authorization: `Bearer ${bearer}` } },
    );
    expect(report.status).toBe(200);
    expect(report.body.value).toEqual([
      expect.objectContaining({ keyType: "clientSecret", appId: stack.clientId }),
    ]);
  });

  it("shows removePassword as failed logins, while a cached token is served until DELETE /cache", async () => {
    expect((await stack.probe()).ok).toBe(true);
    const bearer = await graphToken(stack);
    const removed = await fetch(
      `${stack.entra.graphBaseUrl}/v1.0/applications/${stack.app.objectId}/removePassword`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
        body: JSON.stringify({ keyId: stack.seededSecret!.idpId }),
      },
    );
    expect(removed.status).toBe(204);
    const fresh = await stack.probe();
    expect(fresh).toMatchObject({ ok: false, status: 401 });
    expect(fresh.error).toContain("AADSTS7000215");
    expect(await stack.probe({ cached: true })).toMatchObject({ ok: true, cached: true });
    const purge = await fetch(`${stack.kong.url}/cache`, {
      method: "DELETE",
      headers: { "kong-admin-token": stack.env.KONG_ADMIN_TOKEN ?? "" },
    });
    expect(purge.status).toBe(204);
    expect(await stack.probe({ cached: true })).toMatchObject({ ok: false, status: 401 });
    expect(Object.keys(stack.gatewayNodes())).toEqual([new URL(stack.kong.url).host]);
  });
});

describe("secretAuth on Okta", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await start({ idp: "okta", secretAuth: "client_secret_basic" });
  });
  afterAll(async () => stack?.close());

  it("switching the app to private_key_jwt deletes the secret: the gateway's secret logins fail", async () => {
    const okta = stack.okta!;
    expect(okta.authMethod(stack.clientId)).toBe("client_secret_basic");
    expect(stack.idpSecrets()).toEqual([{ id: stack.seededSecret!.idpId, state: "active" }]);
    expect(await stack.probe()).toMatchObject({ ok: true, secretHint: stack.seededSecret!.hint });

    const api = (method: string, path: string, body?: unknown) =>
      json(`${okta.orgUrl}${path}`, {
        method,
        headers: {
          authorization: `SSWS ${stack.env.OKTA_API_TOKEN ?? ""}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const cert = await selfSignedCertificate();
    const pub = new X509Certificate(cert.der).publicKey.export({ format: "jwk" });
    const added = await api("POST", `/api/v1/apps/${stack.clientId}/credentials/jwks`, {
      kty: "RSA",
      use: "sig",
      alg: "RS256",
      kid: "kong-key-1",
      n: pub.n,
      e: pub.e,
    });
    expect(added.status).toBe(201);
    const app = await api("GET", `/api/v1/apps/${stack.clientId}`);
    (
      app.body.credentials as Record<string, Record<string, unknown>>
    ).oauthClient!.token_endpoint_auth_method = "private_key_jwt";
    expect((await api("PUT", `/api/v1/apps/${stack.clientId}`, app.body)).status).toBe(200);
    expect(stack.idpSecrets()).toEqual([]);
    expect(await stack.probe()).toMatchObject({ ok: false, status: 401 });
  });
});

describe("secretAuth on Auth0", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await start({ idp: "auth0", secretAuth: "client_secret_post" });
  });
  afterAll(async () => stack?.close());

  it("attaching a credential ends the secret: the gateway's secret logins fail", async () => {
    const auth0 = stack.auth0!;
    expect(stack.idpSecrets()).toEqual([{ id: "client_secret", state: "enabled" }]);
    expect(await stack.probe()).toMatchObject({ ok: true, secretHint: stack.seededSecret!.hint });
    const cert = await selfSignedCertificate();
    const { id } = await auth0.seedCredential(
      stack.clientId,
      { pem: new X509Certificate(cert.der).toString() },
      true,
    );
    expect(auth0.client(stack.clientId)).toMatchObject({ tokenEndpointAuthMethod: null, attached: [id] });
    expect(stack.idpSecrets()).toEqual([{ id: "client_secret", state: "disabled" }]);
    expect(await stack.probe()).toMatchObject({ ok: false, status: 401 });
  });
});

describe("secretAuth with KIC", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await start({ idp: "entra", kongMode: "kubernetes", secretAuth: "client_secret_basic" });
  });
  afterAll(async () => stack?.close());

  it("puts the secret in the plugin's Secret, patched into client_secret, and every proxy logs in with it", async () => {
    const secretArray = JSON.parse(
      stack.kubernetes!.secretValue(KIC.namespace, KIC.secret, KIC.secretKey) ?? "[]",
    ) as string[];
    expect(secretArray[1]).toBe(stack.seededSecret!.secret);
    // dp-2 applies KIC's first push after its lag.
    let probe = await stack.probe();
    for (let i = 0; i < 50 && !probe.ok; i++) {
      await new Promise((r) => setTimeout(r, 100));
      probe = await stack.probe();
    }
    expect(probe).toMatchObject({ ok: true, secretHint: stack.seededSecret!.hint });
    expect(Object.keys(stack.gatewayNodes())).toEqual(stack.kubernetes!.pods.map((p) => p.name));
  });
});
