/**
 * The Graph adapter against the Entra fake, over HTTPS, through the SDKs production uses:
 * @azure/identity's ClientSecretCredential (MSAL) for the service identity's token and
 * @microsoft/microsoft-graph-client for Graph.
 */
import { ClientSecretCredential } from "@azure/identity";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGraphDirectory } from "../../src/adapters/idp/entra/graph.js";
import type { Clock } from "../../src/ports/engine.js";
import { localSigner, signJwt, type JwsSigner } from "../../src/crypto/jws.js";
import { thumbprints } from "../../src/crypto/keymaterial.js";
import { RotatorError } from "../../src/errors.js";
import type { EntraDirectory } from "../../src/adapters/idp/entra/types.js";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import { selfSignedCertificate, type SelfSignedCertificate } from "../../stack/entra/certs.js";
import { startEntraFake, type EntraFake } from "../../stack/entra/index.js";

const TENANT = "7f3e1b2a-0c4d-4e5f-8a9b-1c2d3e4f5a6b";
const SERVICE = { clientId: "5a0e7c1d-9b8f-4a3e-a2d1-0f9e8d7c6b5a", clientSecret: "local-service-secret" };
const READER = { clientId: "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", clientSecret: "local-reader-secret" };

const signerOf = (c: SelfSignedCertificate): JwsSigner => {
  const t = thumbprints(c.der);
  return localSigner(c.privateKey, t.x5t, t.x5tS256);
};

/** A clock that records the waits it is asked for and returns at once. */
function recordingClock(offsetMs = 0): Clock & { slept: number[] } {
  const slept: number[] = [];
  return { slept, now: () => new Date(Date.now() + offsetMs), sleep: async (ms) => void slept.push(ms) };
}

async function rejection(p: Promise<unknown>): Promise<RotatorError> {
  const e: unknown = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RotatorError);
  return e as RotatorError;
}

let fake: EntraFake;
let bootstrap: SelfSignedCertificate;
let app: { objectId: string; appId: string };
let clock: ReturnType<typeof recordingClock>;
let directory: EntraDirectory;

const credentialFor = (who: { clientId: string; clientSecret: string }) =>
  new ClientSecretCredential(TENANT, who.clientId, who.clientSecret, {
    authorityHost: fake.authorityHost,
    disableInstanceDiscovery: true,
  });

const directoryFor = (who: { clientId: string; clientSecret: string }, c: Clock = recordingClock()) =>
  createGraphDirectory({
    credential: credentialFor(who),
    graphBaseUrl: fake.graphBaseUrl,
    clock: c,
    retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 40, attemptTimeoutMs: 5000 },
  });

beforeAll(async () => {
  const tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  fake = await startEntraFake({ tls, tenantId: TENANT });
  fake.addServicePrincipal({ ...SERVICE, appRoles: ["Application.ReadWrite.OwnedBy"] });
  fake.addServicePrincipal({ ...READER, appRoles: ["Application.Read.All"] });
  bootstrap = await selfSignedCertificate({
    subject: "CN=bootstrap",
    notBefore: new Date(Date.now() - 86_400_000),
  });
  app = fake.createApplication({ displayName: "kong-gateway", owners: [SERVICE.clientId] });
  fake.seedKeyCredential(app.appId, bootstrap.der);
  clock = recordingClock();
  directory = directoryFor(SERVICE, clock);
});

afterAll(async () => {
  await fake?.close();
});

describe("Graph adapter: reading the application", () => {
  it("resolves the application by appId with $filter and derives x5t from customKeyIdentifier", async () => {
    const got = await directory.getApplication(app.appId);
    expect(got.objectId).toBe(app.objectId);
    expect(got.appId).toBe(app.appId);
    expect(got.keyCredentials).toHaveLength(1);
    const [key] = got.keyCredentials;
    expect(key?.x5t).toBe(thumbprints(bootstrap.der).x5t);
    expect(key?.type).toBe("AsymmetricX509Cert");
    expect(key?.usage).toBe("Verify");
    expect(
      fake.graph.requests.some(
        (r) => r.method === "GET" && decodeURIComponent(r.path).includes(`$filter=appId eq '${app.appId}'`),
      ),
    ).toBe(true);
  });

  it("reports an unknown appId as ENTRA_APP_NOT_FOUND", async () => {
    const e = await rejection(directory.getApplication(randomUUID()));
    expect(e.code).toBe("ENTRA_APP_NOT_FOUND");
  });

  it("does not show an application the identity neither owns nor may read all of", async () => {
    const other = fake.createApplication({ displayName: "someone-else" });
    const e = await rejection(directory.getApplication(other.appId));
    expect(e.code).toBe("ENTRA_APP_NOT_FOUND");
    expect(e.hint).toMatch(/owner/);
  });
});

describe("Graph adapter: addKey and removeKey with a proof of possession", () => {
  it("adds a certificate with a proof signed by a currently valid key", async () => {
    const current = await directory.getApplication(app.appId);
    const next = await selfSignedCertificate({ subject: "CN=next" });
    const added = await directory.addKey(current, next.der, signerOf(bootstrap), "rotator gen 2");
    expect(added.keyId).toMatch(/^[0-9a-f-]{36}$/);
    expect(added.x5t).toBe(thumbprints(next.der).x5t);
    expect(added.displayName).toBe("rotator gen 2");
    expect(fake.keyCredentials(app.appId).map((k) => k.x5t)).toContain(added.x5t);
    const request = fake.graph.requests.find(
      (r) => r.method === "POST" && r.path.endsWith(`/applications/${app.objectId}/addKey`),
    );
    expect(request?.status).toBe(200);

    const again = await directory.addKey(
      await directory.getApplication(app.appId),
      next.der,
      signerOf(bootstrap),
      "rotator gen 2",
    );
    expect(again.keyId).toBe(added.keyId);
    expect(fake.keyCredentials(app.appId).filter((k) => k.x5t === added.x5t)).toHaveLength(1);
  });

  it("is rejected when the proof is signed by a key the application does not have", async () => {
    const stranger = await selfSignedCertificate({ subject: "CN=stranger" });
    const next = await selfSignedCertificate();
    const before = fake.keyCredentials(app.appId).length;
    const e = await rejection(
      directory.addKey(await directory.getApplication(app.appId), next.der, signerOf(stranger), "x"),
    );
    expect(e.code).toBe("ENTRA_PROOF_REJECTED");
    expect(e.details).toMatchObject({ graphCode: "Authentication_MissingOrMalformed", status: 401 });
    expect(fake.keyCredentials(app.appId)).toHaveLength(before);
  });

  it("is rejected when the proof's time window has passed", async () => {
    const late = directoryFor(SERVICE, recordingClock(-60 * 60_000));
    const next = await selfSignedCertificate();
    const e = await rejection(
      late.addKey(await directory.getApplication(app.appId), next.der, signerOf(bootstrap), "x"),
    );
    expect(e.code).toBe("ENTRA_PROOF_REJECTED");
  });

  it("checks iss = object id, aud and a lifetime of at most 10 minutes (raw requests to the fake)", async () => {
    const token = (await credentialFor(SERVICE).getToken(`${fake.graphBaseUrl}/.default`))?.token;
    const next = await selfSignedCertificate();
    const now = Math.floor(Date.now() / 1000);
    const post = async (claims: Record<string, unknown>) => {
      const proof = await signJwt(signerOf(bootstrap), "RS256", {
        aud: "00000002-0000-0000-c000-000000000000",
        iss: app.objectId,
        nbf: now,
        exp: now + 600,
        ...claims,
      });
      const res = await fetch(`${fake.graphBaseUrl}/v1.0/applications/${app.objectId}/addKey`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({
          keyCredential: { type: "AsymmetricX509Cert", usage: "Verify", key: next.der.toString("base64") },
          passwordCredential: null,
          proof,
        }),
      });
      return { status: res.status, body: (await res.json()) as { error?: { code: string }; keyId?: string } };
    };
    for (const wrong of [
      { iss: app.appId },
      { aud: "00000003-0000-0000-c000-000000000000" },
      { exp: now + 601 },
      { nbf: now - 3600, exp: now - 3000 },
    ]) {
      const r = await post(wrong);
      expect(r.status).toBe(401);
      expect(r.body.error?.code).toBe("Authentication_MissingOrMalformed");
    }
    const ok = await post({});
    expect(ok.status).toBe(200);
    expect(ok.body.keyId).toBeTypeOf("string");
  });

  it("removes a key with removeKey, and treats an absent key as already removed", async () => {
    const extra = await selfSignedCertificate({ subject: "CN=to-remove" });
    const added = await directory.addKey(
      await directory.getApplication(app.appId),
      extra.der,
      signerOf(bootstrap),
      "temporary",
    );
    await directory.removeKey(await directory.getApplication(app.appId), added.keyId, signerOf(bootstrap));
    expect(fake.keyCredentials(app.appId).map((k) => k.keyId)).not.toContain(added.keyId);
    const removals = () => fake.graph.requests.filter((r) => r.path.endsWith("/removeKey")).length;
    const before = removals();
    await directory.removeKey(await directory.getApplication(app.appId), added.keyId, signerOf(bootstrap));
    expect(removals()).toBe(before);
  });
});

describe("Graph adapter: PATCH fallback", () => {
  it("refuses addKey when no key is valid any more, and PATCH registers the key keeping the existing entries", async () => {
    const expired = await selfSignedCertificate({
      subject: "CN=expired",
      notBefore: new Date(Date.now() - 400 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const stale = fake.createApplication({ displayName: "stale", owners: [SERVICE.clientId] });
    const { keyId: expiredKeyId } = fake.seedKeyCredential(stale.appId, expired.der);
    const before = fake.keyCredentials(stale.appId)[0];

    const next = await selfSignedCertificate({ subject: "CN=fresh" });
    const e = await rejection(
      directory.addKey(await directory.getApplication(stale.appId), next.der, signerOf(expired), "fresh"),
    );
    expect(e.code).toBe("ENTRA_NO_VALID_KEY");
    expect(e.hint).toMatch(/PATCH/);

    const patched = await directory.patchKeyCredentials(await directory.getApplication(stale.appId), {
      add: { certDer: next.der, displayName: "fresh" },
    });
    expect(patched.keyCredentials.map((k) => k.keyId)).toContain(expiredKeyId);
    expect(patched.keyCredentials.map((k) => k.x5t)).toEqual([
      thumbprints(expired.der).x5t,
      thumbprints(next.der).x5t,
    ]);
    const kept = fake.keyCredentials(stale.appId).find((k) => k.keyId === expiredKeyId);
    expect(kept?.start).toEqual(before?.start);
    expect(kept?.end).toEqual(before?.end);
    const patch = fake.graph.requests.find((r) => r.method === "PATCH" && r.path.includes(stale.objectId));
    expect(patch?.status).toBe(204);

    const pruned = await directory.patchKeyCredentials(patched, { removeKeyIds: [expiredKeyId] });
    expect(pruned.keyCredentials.map((k) => k.x5t)).toEqual([thumbprints(next.der).x5t]);
  });

  it("maps a PATCH without write permission to GRAPH_FORBIDDEN with the permission hint", async () => {
    const reader = directoryFor(READER);
    const next = await selfSignedCertificate();
    const e = await rejection(
      reader.patchKeyCredentials(await reader.getApplication(app.appId), {
        add: { certDer: next.der, displayName: "x" },
      }),
    );
    expect(e.code).toBe("GRAPH_FORBIDDEN");
    expect(e.status).toBe(403);
    expect(e.details).toMatchObject({ graphCode: "Authorization_RequestDenied" });
    expect(e.hint).toContain(
      "grant Application.ReadWrite.OwnedBy and make the service identity an owner of the app",
    );
  });
});

describe("Graph adapter: PATCH preflight", () => {
  it("reads the permission from the identity's own token roles, without writing", async () => {
    const writer = directoryFor(SERVICE);
    const reader = directoryFor(READER);
    const before = fake.graph.requests.filter((r) => r.method !== "GET").length;
    expect(await writer.canPatchKeyCredentials?.(await writer.getApplication(app.appId))).toBe(true);
    expect(await reader.canPatchKeyCredentials?.(await reader.getApplication(app.appId))).toBe(false);
    expect(fake.graph.requests.filter((r) => r.method !== "GET").length).toBe(before);
  });
});

describe("Graph adapter: failures and retries", () => {
  it("honours 429 Retry-After", async () => {
    fake.graph.faults.add({
      method: "GET",
      path: "/v1.0/applications",
      times: 1,
      fault: {
        kind: "status",
        status: 429,
        retryAfter: "7",
        body: { error: { code: "TooManyRequests", message: "throttled" } },
      },
    });
    clock.slept.length = 0;
    const got = await directory.getApplication(app.appId);
    expect(got.objectId).toBe(app.objectId);
    expect(clock.slept).toEqual([7000]);
  });

  it("retries 5xx and resets with backoff, then succeeds", async () => {
    fake.graph.faults.add({
      method: "GET",
      path: "/v1.0/applications",
      times: 1,
      fault: { kind: "status", status: 502 },
    });
    fake.graph.faults.add({ method: "GET", path: "/v1.0/applications", times: 1, fault: { kind: "reset" } });
    clock.slept.length = 0;
    expect((await directory.getApplication(app.appId)).objectId).toBe(app.objectId);
    expect(clock.slept).toHaveLength(2);
    for (const ms of clock.slept) expect(ms).toBeLessThanOrEqual(40);
  });

  it("gives up on persistent throttling and outages with retryable errors", async () => {
    fake.graph.faults.add({
      method: "GET",
      path: "/v1.0/applications",
      times: 3,
      fault: { kind: "status", status: 429, retryAfter: "1" },
    });
    const throttled = await rejection(directory.getApplication(app.appId));
    expect(throttled.code).toBe("GRAPH_THROTTLED");
    expect(throttled.retryable).toBe(true);
    fake.graph.faults.add({
      method: "GET",
      path: "/v1.0/applications",
      times: 3,
      fault: { kind: "status", status: 503 },
    });
    const down = await rejection(directory.getApplication(app.appId));
    expect(down.code).toBe("GRAPH_UNAVAILABLE");
    expect(down.retryable).toBe(true);
  });

  it("reports a garbage body as GRAPH_BAD_RESPONSE", async () => {
    fake.graph.faults.add({
      method: "GET",
      path: "/v1.0/applications",
      times: 1,
      fault: { kind: "garbage" },
    });
    const e = await rejection(directory.getApplication(app.appId));
    expect(e.code).toBe("GRAPH_BAD_RESPONSE");
  });

  it("retries a throttled addKey, and does not add again what an earlier attempt already added", async () => {
    const next = await selfSignedCertificate();
    const addKeyPosts = () =>
      fake.graph.requests.filter((r) => r.method === "POST" && r.path.endsWith("/addKey")).length;
    fake.graph.faults.add({
      method: "POST",
      path: "/addKey",
      times: 1,
      fault: { kind: "status", status: 429, retryAfter: "2" },
    });
    const retried = await directory.addKey(
      await directory.getApplication(app.appId),
      next.der,
      signerOf(bootstrap),
      "after throttling",
    );
    expect(fake.keyCredentials(app.appId).filter((k) => k.x5t === retried.x5t)).toHaveLength(1);

    // The write lands while the client waits to retry (as when a response is lost): the retry re-reads
    // the application and finds the key instead of posting it again.
    const another = await selfSignedCertificate();
    let landed: string | undefined;
    const racing = createGraphDirectory({
      credential: credentialFor(SERVICE),
      graphBaseUrl: fake.graphBaseUrl,
      clock: {
        now: () => new Date(),
        sleep: async () => void (landed ??= fake.seedKeyCredential(app.appId, another.der).keyId),
      },
      retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 40, attemptTimeoutMs: 5000 },
    });
    fake.graph.faults.add({
      method: "POST",
      path: "/addKey",
      times: 1,
      fault: { kind: "status", status: 503 },
    });
    const before = addKeyPosts();
    const found = await racing.addKey(
      await directory.getApplication(app.appId),
      another.der,
      signerOf(bootstrap),
      "raced",
    );
    expect(found.keyId).toBe(landed);
    expect(addKeyPosts() - before).toBe(1);
    expect(fake.keyCredentials(app.appId).filter((k) => k.x5t === found.x5t)).toHaveLength(1);
  });

  it("reports a service identity the authority refuses as GRAPH_UNAUTHORIZED without retrying", async () => {
    const refused = directoryFor({ clientId: SERVICE.clientId, clientSecret: "wrong-secret" });
    const tokenRequests = () =>
      fake.login.requests.filter((r) => r.path.includes("/oauth2/v2.0/token")).length;
    const before = tokenRequests();
    const e = await rejection(refused.getApplication(app.appId));
    expect(e.code).toBe("GRAPH_UNAUTHORIZED");
    expect(tokenRequests() - before).toBe(1);
    expect(JSON.stringify(e.toJSON())).not.toContain("wrong-secret");
  });
});
