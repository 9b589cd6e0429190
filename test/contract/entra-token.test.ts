/**
 * The token endpoint adapter and propagation polling against the Entra fake's login server, whose
 * `private_key_jwt` verification is a real oidc-provider; plus the service identity's own sign-in through
 * @azure/identity's ClientSecretCredential.
 */
import { ClientCertificateCredential, ClientSecretCredential } from "@azure/identity";
import { X509Certificate, randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGraphDirectory } from "../../src/adapters/idp/entra/graph.js";
import { awaitConsecutiveSuccesses } from "../../src/engine/propagation.js";
import { createTokenEndpoint } from "../../src/adapters/idp/entra/token-endpoint.js";
import { systemClock } from "../../src/clock.js";
import type { Clock } from "../../src/ports/engine.js";
import { clientAssertion, localSigner, type JwsSigner } from "../../src/crypto/jws.js";
import { thumbprints } from "../../src/crypto/keymaterial.js";
import type { EntraDirectory, TokenEndpoint } from "../../src/adapters/idp/entra/types.js";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import { selfSignedCertificate, type SelfSignedCertificate } from "../../stack/entra/certs.js";
import { startEntraFake, type EntraFake } from "../../stack/entra/index.js";

const TENANT = "3c9a1e7b-5d2f-4a8c-9b6e-0f1d2c3b4a59";
const SERVICE = { clientId: "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b", clientSecret: "local-service-secret" };
const PROPAGATION_MS = 800;
const FAST = { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 40, attemptTimeoutMs: 5000 };

const signerOf = (c: SelfSignedCertificate): JwsSigner => {
  const t = thumbprints(c.der);
  return localSigner(c.privateKey, t.x5t, t.x5tS256);
};

/** A hand-built assertion, for headers the product's signJwt never produces. */
async function rawAssertion(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  signer: JwsSigner,
): Promise<string> {
  const data = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  const sig = await signer.sign(Buffer.from(data), "RS256");
  return `${data}.${Buffer.from(sig).toString("base64url")}`;
}

const claimsFor = (clientId: string, aud: string) => {
  const now = Math.floor(Date.now() / 1000);
  return { aud, iss: clientId, sub: clientId, jti: randomUUID(), nbf: now, exp: now + 300 };
};

function recordingClock(offsetMs = 0): Clock & { slept: number[] } {
  const slept: number[] = [];
  return { slept, now: () => new Date(Date.now() + offsetMs), sleep: async (ms) => void slept.push(ms) };
}

let fake: EntraFake;
let app: { objectId: string; appId: string };
let bootstrap: SelfSignedCertificate;
let tokens: TokenEndpoint;
let directory: EntraDirectory;

const form = (assertion: string, clientId = app.appId) =>
  new URLSearchParams({
    grant_type: "client_credentials",
    client_id: clientId,
    scope: "https://graph.microsoft.com/.default",
    client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    client_assertion: assertion,
  });

async function postToken(body: URLSearchParams): Promise<{
  status: number;
  body: { error?: string; error_codes?: number[]; error_description?: string; access_token?: string };
}> {
  const res = await fetch(fake.tokenEndpoint, { method: "POST", body });
  return {
    status: res.status,
    body: (await res.json()) as {
      error?: string;
      error_codes?: number[];
      error_description?: string;
      access_token?: string;
    },
  };
}

beforeAll(async () => {
  const tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  fake = await startEntraFake({ tls, tenantId: TENANT, propagationDelayMs: PROPAGATION_MS });
  fake.addServicePrincipal({ ...SERVICE, appRoles: ["Application.ReadWrite.OwnedBy"] });
  app = fake.createApplication({ displayName: "kong-gateway", owners: [SERVICE.clientId] });
  bootstrap = await selfSignedCertificate({
    subject: "CN=bootstrap",
    notBefore: new Date(Date.now() - 86_400_000),
  });
  fake.seedKeyCredential(app.appId, bootstrap.der);
  tokens = createTokenEndpoint({ authorityHost: fake.authorityHost, retry: FAST, clock: recordingClock() });
  directory = createGraphDirectory({
    credential: new ClientSecretCredential(TENANT, SERVICE.clientId, SERVICE.clientSecret, {
      authorityHost: fake.authorityHost,
      disableInstanceDiscovery: true,
    }),
    graphBaseUrl: fake.graphBaseUrl,
    retry: FAST,
  });
});

afterAll(async () => {
  await fake?.close();
});

describe("the service identity signs in with @azure/identity", () => {
  it("gets tokens for Graph and Key Vault from the fake authority (no instance discovery)", async () => {
    const credential = new ClientSecretCredential(TENANT, SERVICE.clientId, SERVICE.clientSecret, {
      authorityHost: fake.authorityHost,
      disableInstanceDiscovery: true,
    });
    const graph = await credential.getToken("https://graph.microsoft.com/.default");
    const vault = await credential.getToken("https://vault.azure.net/.default");
    expect(await fake.verifyToken(graph.token, "https://graph.microsoft.com")).toBe(true);
    expect(await fake.verifyToken(vault.token, "https://vault.azure.net")).toBe(true);
    expect(await fake.verifyToken(graph.token, "https://vault.azure.net")).toBe(false);
    expect(fake.login.requests.some((r) => r.path.includes("/v2.0/.well-known/openid-configuration"))).toBe(
      true,
    );
  });

  it("can also sign in with a certificate (client assertion for a service principal)", async () => {
    const clientId = randomUUID();
    const cert = await selfSignedCertificate({ subject: "CN=rotator service" });
    const registration = fake.createApplication({ displayName: "rotator", appId: clientId });
    fake.addServicePrincipal({
      clientId,
      clientSecret: "unused-secret",
      appRoles: ["Application.ReadWrite.OwnedBy"],
    });
    fake.seedKeyCredential(registration.appId, cert.der);
    const pem = `${cert.privateKey.export({ type: "pkcs8", format: "pem" }).toString()}${new X509Certificate(cert.der).toString()}`;
    const credential = new ClientCertificateCredential(
      TENANT,
      clientId,
      { certificate: pem },
      { authorityHost: fake.authorityHost, disableInstanceDiscovery: true },
    );
    const graph = await credential.getToken("https://graph.microsoft.com/.default");
    expect(await fake.verifyToken(graph.token, "https://graph.microsoft.com")).toBe(true);
  });

  it("is refused with a wrong secret", async () => {
    const credential = new ClientSecretCredential(TENANT, SERVICE.clientId, "not-the-secret", {
      authorityHost: fake.authorityHost,
      disableInstanceDiscovery: true,
    });
    await expect(credential.getToken("https://graph.microsoft.com/.default")).rejects.toThrow(
      /AADSTS7000215/,
    );
  });
});

describe("token endpoint: client assertions verified by oidc-provider", () => {
  it("accepts PS256 and RS256 assertions signed by a registered key", async () => {
    expect(await tokens.tryClientAssertion(TENANT, app.appId, signerOf(bootstrap), "PS256")).toEqual({
      ok: true,
    });
    expect(await tokens.tryClientAssertion(TENANT, app.appId, signerOf(bootstrap), "RS256")).toEqual({
      ok: true,
    });
  });

  it("finds the certificate by x5t whatever the kid", async () => {
    const { x5t } = thumbprints(bootstrap.der);
    const other = await postToken(
      form(
        await rawAssertion(
          { alg: "RS256", typ: "JWT", kid: "some-other-kid", x5t },
          claimsFor(app.appId, fake.tokenEndpoint),
          signerOf(bootstrap),
        ),
      ),
    );
    expect(other.status).toBe(200);
    expect(other.body.access_token).toBeTypeOf("string");
    // Kong's plugin puts only the JWK's kid in the header; with kid = x5t (the configuration known to
    // work against Entra, BRIEF) the certificate is found by that thumbprint.
    const kidIsThumbprint = await postToken(
      form(
        await rawAssertion(
          { alg: "RS256", typ: "JWT", kid: x5t },
          claimsFor(app.appId, fake.tokenEndpoint),
          signerOf(bootstrap),
        ),
      ),
    );
    expect(kidIsThumbprint.status).toBe(200);
    const noThumbprint = await postToken(
      form(
        await rawAssertion(
          { alg: "RS256", typ: "JWT", kid: "not-a-thumbprint" },
          claimsFor(app.appId, fake.tokenEndpoint),
          signerOf(bootstrap),
        ),
      ),
    );
    expect(noThumbprint.status).toBe(401);
    expect(noThumbprint.body.error_codes).toEqual([700027]);
  });

  it("rejects an unregistered key with AADSTS700027, worth polling again", async () => {
    const stranger = await selfSignedCertificate();
    const r = await tokens.tryClientAssertion(TENANT, app.appId, signerOf(stranger), "PS256");
    expect(r).toMatchObject({ ok: false, code: "AADSTS700027", retryable: true });
    expect(r.ok === false && r.description).toMatch(/The key was not found/);
    expect(r.ok === false && r.description).not.toMatch(/Trace ID/);
  });

  it("rejects an assertion outside its time window with AADSTS700024 (invalid_client: polled again, not final)", async () => {
    const late = createTokenEndpoint({
      authorityHost: fake.authorityHost,
      retry: FAST,
      clock: recordingClock(-60 * 60_000),
    });
    expect(await late.tryClientAssertion(TENANT, app.appId, signerOf(bootstrap), "PS256")).toMatchObject({
      ok: false,
      code: "AADSTS700024",
      retryable: true,
    });
  });

  it("rejects a replayed jti and an audience other than the token endpoint", async () => {
    const assertion = await clientAssertion(
      signerOf(bootstrap),
      "PS256",
      app.appId,
      fake.tokenEndpoint,
      new Date(),
    );
    expect((await postToken(form(assertion))).status).toBe(200);
    const replay = await postToken(form(assertion));
    expect(replay.status).toBe(401);
    expect(replay.body.error).toBe("invalid_client");
    expect(replay.body.error_description).toMatch(/used once/);

    const wrongAud = await clientAssertion(signerOf(bootstrap), "PS256", app.appId, fake.issuer, new Date());
    const r = await postToken(form(wrongAud));
    expect(r.status).toBe(401);
    expect(r.body.error_description).toMatch(/audience/);
  });

  it("rejects an unknown client with AADSTS700016 and ES256 is not an accepted algorithm", async () => {
    const unknown = await tokens.tryClientAssertion(TENANT, randomUUID(), signerOf(bootstrap), "PS256");
    expect(unknown).toMatchObject({ ok: false, code: "AADSTS700016", retryable: false });

    const { x5t } = thumbprints(bootstrap.der);
    const es = await rawAssertion(
      { alg: "ES256", typ: "JWT", kid: x5t, x5t },
      claimsFor(app.appId, fake.tokenEndpoint),
      signerOf(bootstrap),
    );
    const r = await postToken(form(es));
    expect(r.status).toBe(401);
    expect(r.body.error).toBe("invalid_client");
  });

  it("retries 5xx and honours 429 Retry-After", async () => {
    const clock = recordingClock();
    const retrying = createTokenEndpoint({ authorityHost: fake.authorityHost, retry: FAST, clock });
    fake.login.faults.add({
      method: "POST",
      path: "/oauth2/v2.0/token",
      times: 1,
      fault: { kind: "status", status: 429, retryAfter: "3" },
    });
    fake.login.faults.add({
      method: "POST",
      path: "/oauth2/v2.0/token",
      times: 1,
      fault: { kind: "status", status: 503 },
    });
    expect(await retrying.tryClientAssertion(TENANT, app.appId, signerOf(bootstrap), "PS256")).toEqual({
      ok: true,
    });
    expect(clock.slept[0]).toBe(3000);
    expect(clock.slept).toHaveLength(2);

    fake.login.faults.add({ method: "POST", path: "/oauth2/v2.0/token", times: 3, fault: { kind: "reset" } });
    expect(await retrying.tryClientAssertion(TENANT, app.appId, signerOf(bootstrap), "PS256")).toMatchObject({
      ok: false,
      code: "TOKEN_ENDPOINT_UNAVAILABLE",
      retryable: true,
    });
  });
});

describe("propagation of a new key", () => {
  it("is rejected before the propagation delay, accepted after, and fails again once removed", async () => {
    const next = await selfSignedCertificate({ subject: "CN=next" });
    const added = await directory.addKey(
      await directory.getApplication(app.appId),
      next.der,
      signerOf(bootstrap),
      "gen 2",
    );
    const first = await tokens.tryClientAssertion(TENANT, app.appId, signerOf(next), "PS256");
    expect(first).toMatchObject({ ok: false, code: "AADSTS700027" });

    const seen: boolean[] = [];
    const result = await awaitConsecutiveSuccesses(
      () => tokens.tryClientAssertion(TENANT, app.appId, signerOf(next), "PS256"),
      { consecutive: 3, intervalMs: 100, timeoutMs: 20_000 },
      systemClock,
      { onAttempt: (_n, ok) => void seen.push(ok) },
    );
    expect(result.result).toBe("ok");
    expect(seen[0]).toBe(false);
    expect(seen.slice(-3)).toEqual([true, true, true]);
    expect(result.attempts).toBe(seen.length);

    await directory.removeKey(await directory.getApplication(app.appId), added.keyId, signerOf(bootstrap));
    expect(await tokens.tryClientAssertion(TENANT, app.appId, signerOf(next), "PS256")).toMatchObject({
      ok: false,
      code: "AADSTS700027",
    });
  });

  it("rejects an expired certificate with AADSTS700027", async () => {
    const old = await selfSignedCertificate({
      notBefore: new Date(Date.now() - 100 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    fake.seedKeyCredential(app.appId, old.der);
    const r = await tokens.tryClientAssertion(TENANT, app.appId, signerOf(old), "PS256");
    expect(r).toMatchObject({ ok: false, code: "AADSTS700027" });
    expect(r.ok === false && r.description).toMatch(/expired/);
  });
});
