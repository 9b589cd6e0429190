/**
 * The Auth0 IdentityProvider adapter over HTTPS against the Auth0 fake (Management API v2 + token endpoint,
 * whose private_key_jwt verification is a real oidc-provider).
 */
import { X509Certificate } from "node:crypto";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Auth0IdentityProvider, type Auth0IdpConfig } from "../../src/adapters/idp/auth0/idp.js";
import type { Clock, PublicKeyMaterial } from "../../src/ports/engine.js";
import { localSigner, type JwsSigner } from "../../src/crypto/jws.js";
import { thumbprints, type SigningAlg } from "../../src/crypto/keymaterial.js";
import { RotatorError } from "../../src/errors.js";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import { ROTATION_SCOPES, startAuth0Fake, type Auth0Fake } from "../../stack/auth0/index.js";
import { selfSignedCertificate, type SelfSignedCertificate } from "../../stack/entra/certs.js";

const API = "https://orders.example.com/";
const MGMT = { clientId: "mgmtClient0123456789abcdefghijklm", clientSecret: "auth0-mgmt-secret-7f3a9c" };
const FAST = { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 40, attemptTimeoutMs: 5000 };

function recordingClock(): Clock & { slept: number[]; advance(ms: number): void } {
  const slept: number[] = [];
  let offset = 0;
  return {
    slept,
    now: () => new Date(Date.now() + offset),
    sleep: async (ms) => void slept.push(ms),
    advance: (ms) => void (offset += ms),
  };
}

interface Key {
  cert: SelfSignedCertificate;
  material: PublicKeyMaterial;
  signer: JwsSigner;
}

async function newKey(alg: SigningAlg = "RS256"): Promise<Key> {
  const cert = await selfSignedCertificate({ subject: "CN=kong-auth0" });
  const t = thumbprints(cert.der);
  const x509 = new X509Certificate(cert.der);
  const jwk = x509.publicKey.export({ format: "jwk" }) as { n: string; e: string };
  return {
    cert,
    signer: localSigner(cert.privateKey, t.x5t, t.x5tS256),
    material: {
      certDer: cert.der,
      certPem: x509.toString(),
      jwk: { kty: "RSA", n: jwk.n, e: jwk.e },
      kid: t.x5t,
      x5t: t.x5t,
      alg,
      notAfter: new Date(x509.validTo),
      displayName: `kong ${t.x5t.slice(0, 8)}`,
    },
  };
}

let fake: Auth0Fake;
const errors: unknown[] = [];

/** A fresh application and an adapter for it (each test owns its client). */
function setup(overrides: Partial<Auth0IdpConfig> = {}): {
  clientId: string;
  idp: Auth0IdentityProvider;
  clock: ReturnType<typeof recordingClock>;
} {
  const { clientId } = fake.createClient({ name: "kong-gateway" });
  fake.setGrant(clientId, ["read:orders"], API);
  const clock = recordingClock();
  const idp = new Auth0IdentityProvider(
    { baseUrl: fake.baseUrl, clientId, management: MGMT, ...overrides },
    // Each test counts its own token requests: a cache of its own instead of the process's.
    { retry: FAST, clock, tokenCache: new Map() },
  );
  return { clientId, idp, clock };
}

async function rejection(p: Promise<unknown>): Promise<RotatorError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  errors.push(e);
  expect(e).toBeInstanceOf(RotatorError);
  return e as RotatorError;
}

const requestsTo = (path: string, method?: string) =>
  fake.server.requests.filter((r) => r.path.startsWith(path) && (!method || r.method === method)).length;

beforeAll(async () => {
  const tls = await issueServerTls(await ensureCa(resolve(".local/ca")));
  fake = await startAuth0Fake({ tls, defaultAudience: API });
  fake.addManagementClient({ ...MGMT, scopes: [...ROTATION_SCOPES] });
});

afterAll(async () => {
  // No secret (management client secret, any token) in any error this suite saw.
  const text = errors.map(
    (e) => JSON.stringify(e) + String((e as Error)?.message) + String((e as RotatorError)?.hint),
  );
  for (const t of text) expect(t).not.toContain(MGMT.clientSecret);
  await fake?.close();
});

describe("Auth0 IdentityProvider", () => {
  it("registers, attaches and verifies a key; the first attach clears token_endpoint_auth_method", async () => {
    const { clientId, idp } = setup();
    const key = await newKey();
    expect(fake.client(clientId).tokenEndpointAuthMethod).toBe("client_secret_post");

    const registered = await idp.register(key.material);
    expect(registered).toMatchObject({ kid: key.material.kid, usable: false });
    expect(await idp.verify(key.signer, "RS256")).toMatchObject({ ok: false, code: "invalid_client" });

    await idp.activate(registered);
    expect(fake.client(clientId)).toMatchObject({ tokenEndpointAuthMethod: null, attached: [registered.id] });
    expect(await idp.verify(key.signer, "RS256")).toEqual({ ok: true });
    expect(await idp.listKeys()).toEqual([expect.objectContaining({ id: registered.id, usable: true })]);

    // Idempotent: the same key again is the same credential, and attaching twice changes nothing.
    const posts = requestsTo(`/api/v2/clients/${clientId}/credentials`, "POST");
    expect(await idp.register(key.material)).toMatchObject({ id: registered.id, usable: true });
    await idp.activate(registered);
    expect(requestsTo(`/api/v2/clients/${clientId}/credentials`, "POST")).toBe(posts);
    expect(fake.client(clientId).attached).toEqual([registered.id]);
  });

  it("a PS256 credential verifies with PS256", async () => {
    const { idp } = setup();
    const key = await newKey("PS256");
    await idp.activate(await idp.register(key.material));
    expect(await idp.verify(key.signer, "PS256")).toEqual({ ok: true });
    expect(await idp.verify(key.signer, "RS256")).toMatchObject({ ok: false, code: "invalid_client" });
  });

  it("the token endpoint refuses a registered but unattached credential, as one not usable yet (polled again)", async () => {
    const { idp } = setup();
    const [a, b] = [await newKey(), await newKey()];
    await idp.activate(await idp.register(a.material));
    const staged = await idp.register(b.material);
    expect(staged.usable).toBe(false);
    expect(await idp.verify(b.signer, "RS256")).toMatchObject({
      ok: false,
      code: "invalid_client",
      retryable: true,
    });
    expect(await idp.verify(a.signer, "RS256")).toEqual({ ok: true });
  });

  it("refuses a third credential with AUTH0_CREDENTIAL_LIMIT, without calling the API", async () => {
    const { clientId, idp } = setup();
    await idp.register((await newKey()).material);
    await idp.register((await newKey()).material);
    const posts = requestsTo(`/api/v2/clients/${clientId}/credentials`, "POST");
    const e = await rejection(idp.register((await newKey()).material));
    expect(e.code).toBe("AUTH0_CREDENTIAL_LIMIT");
    expect(e.hint).toMatch(/at most 2.*old one must be removed first/);
    expect(requestsTo(`/api/v2/clients/${clientId}/credentials`, "POST")).toBe(posts);
    expect(fake.client(clientId).credentials).toHaveLength(2);
  });

  it("an attached credential can't be removed: withdraw first; the last attached one can't be withdrawn", async () => {
    const { clientId, idp } = setup();
    const [a, b] = [await newKey(), await newKey()];
    const old = await idp.register(a.material);
    await idp.activate(old);

    const last = await rejection(idp.withdraw(old));
    expect(last.code).toBe("AUTH0_LAST_CREDENTIAL");

    const next = await idp.register(b.material);
    await idp.activate(next);
    expect(fake.client(clientId).attached).toEqual([old.id, next.id]);

    const deletes = requestsTo(`/api/v2/clients/${clientId}/credentials/`, "DELETE");
    const attached = await rejection(idp.remove(old));
    expect(attached.code).toBe("AUTH0_CREDENTIAL_ATTACHED");
    expect(requestsTo(`/api/v2/clients/${clientId}/credentials/`, "DELETE")).toBe(deletes);

    await idp.withdraw(old);
    expect(fake.client(clientId).attached).toEqual([next.id]);
    expect(await idp.verify(a.signer, "RS256")).toMatchObject({ ok: false });
    await idp.remove(old);
    await idp.remove(old); // already gone: no error
    expect((await idp.listKeys()).map((k) => k.id)).toEqual([next.id]);
    expect(await idp.verify(b.signer, "RS256")).toEqual({ ok: true });
  });

  it("names the missing scope (AUTH0_FORBIDDEN) and the unauthorized management client (AUTH0_UNAUTHORIZED)", async () => {
    const limited = {
      clientId: "mgmtLimited0123456789abcdefghijk",
      clientSecret: "auth0-limited-secret-2b8e",
    };
    fake.addManagementClient({ ...limited, scopes: ["read:clients", "read:client_credentials"] });
    const { idp } = setup({ management: limited });
    const e = await rejection(idp.register((await newKey()).material));
    expect(e.code).toBe("AUTH0_FORBIDDEN");
    expect(e.details).toMatchObject({ missingScope: "create:client_credentials" });
    expect(e.hint).toContain("create:client_credentials");

    const wrong = setup({ management: { clientId: MGMT.clientId, clientSecret: "not-the-secret-at-all" } });
    const u = await rejection(wrong.idp.listKeys());
    expect(u.code).toBe("AUTH0_UNAUTHORIZED");
    expect(JSON.stringify(u)).not.toContain("not-the-secret-at-all");
  });

  it("attaching needs update:client_credentials: without it the adapter names that scope", async () => {
    const narrow = { clientId: "mgmt-narrow", clientSecret: "narrow-secret-0123456789abcdef" };
    fake.addManagementClient({
      ...narrow,
      scopes: ROTATION_SCOPES.filter((s) => s !== "update:client_credentials"),
    });
    const { idp } = setup({ management: narrow });
    const key = await newKey();
    const registered = await idp.register(key.material);
    const e = await rejection(idp.activate(registered));
    expect(e.code).toBe("AUTH0_FORBIDDEN");
    expect(e.details?.["missingScope"]).toBe("update:client_credentials");
  });

  it("refuses to attach on a client whose ID tokens are not RS256, before any change; doctor says so", async () => {
    const { clientId } = fake.createClient({ name: "hs256 app", jwtAlg: "HS256" });
    const idp = new Auth0IdentityProvider(
      { baseUrl: fake.baseUrl, clientId, management: MGMT },
      { retry: FAST, clock: recordingClock(), tokenCache: new Map() },
    );
    expect(await idp.diagnose()).toEqual(
      expect.arrayContaining([expect.objectContaining({ status: "fail", code: "AUTH0_JWT_ALG" })]),
    );
    const registered = await idp.register((await newKey()).material);
    const patches = requestsTo(`/api/v2/clients/${clientId}`, "PATCH");
    expect((await rejection(idp.activate(registered))).code).toBe("AUTH0_JWT_ALG");
    expect(requestsTo(`/api/v2/clients/${clientId}`, "PATCH")).toBe(patches);
    expect(fake.client(clientId).attached).toBeNull();
  });

  it("answers AUTH0_PLAN_NO_PKJWT on a plan without Private Key JWT", async () => {
    const { idp } = setup();
    fake.setPrivateKeyJwt(false);
    try {
      const e = await rejection(idp.register((await newKey()).material));
      expect(e.code).toBe("AUTH0_PLAN_NO_PKJWT");
      expect(e.hint).toContain("needs the Enterprise plan");
    } finally {
      fake.setPrivateKeyJwt(true);
    }
  });

  it("retries 429 after X-RateLimit-Reset or Retry-After, and caches the management token", async () => {
    const { clientId, idp, clock } = setup();
    await idp.listKeys();
    const tokens = requestsTo("/oauth/token");
    fake.rateLimit({ path: `/api/v2/clients/${clientId}`, times: 2, resetInSec: 3 });
    expect(await idp.listKeys()).toEqual([]);
    expect(clock.slept).toHaveLength(2);
    for (const ms of clock.slept) expect(ms).toBeGreaterThan(1000);
    fake.rateLimit({ path: `/api/v2/clients/${clientId}`, times: 1, resetInSec: 7, retryAfter: true });
    await idp.listKeys();
    expect(clock.slept.at(-1)).toBe(7000);
    expect(requestsTo("/oauth/token")).toBe(tokens);

    fake.rateLimit({ path: `/api/v2/clients/${clientId}`, times: 10, resetInSec: 1 });
    const e = await rejection(idp.listKeys());
    expect(e).toMatchObject({ code: "AUTH0_THROTTLED", retryable: true });
    fake.server.faults.clear();
  });

  it("adapters built for later runs reuse the management token an earlier one fetched", async () => {
    const cache = new Map();
    const tokens = () => requestsTo("/oauth/token", "POST");
    const { clientId } = fake.createClient({ name: "reuse" });
    const adapter = () =>
      new Auth0IdentityProvider(
        { baseUrl: fake.baseUrl, clientId, management: MGMT },
        { retry: FAST, clock: recordingClock(), tokenCache: cache },
      );
    const before = tokens();
    await adapter().listKeys();
    await adapter().listKeys();
    await adapter().listKeys();
    expect(tokens() - before).toBe(1);
  });

  it("fetches a new management token only near the cached one's expiry", async () => {
    const { idp, clock } = setup();
    const tokens = requestsTo("/oauth/token");
    await idp.listKeys();
    clock.advance(86_400_000 - 120_000);
    await idp.listKeys();
    expect(requestsTo("/oauth/token")).toBe(tokens + 1);
    clock.advance(90_000); // within the last minute of 86400 s
    await idp.listKeys();
    expect(requestsTo("/oauth/token")).toBe(tokens + 2);
  });

  it("a registration whose answer was lost is not registered twice", async () => {
    const { clientId, idp } = setup();
    const key = await newKey();
    let dropped = 0;
    fake.server.hook.set(async (stage, req) =>
      stage === "after" && req.method === "POST" && req.path.endsWith("/credentials") && dropped++ === 0
        ? "drop"
        : undefined,
    );
    try {
      const registered = await idp.register(key.material);
      expect(dropped).toBeGreaterThan(0);
      expect(fake.client(clientId).credentials.map((c) => c.id)).toEqual([registered.id]);
    } finally {
      fake.server.hook.set(undefined);
    }
  });

  it("a 2xx body that is not JSON is AUTH0_UNAVAILABLE (retryable), not a crash", async () => {
    const { clientId, idp } = setup();
    await idp.listKeys();
    fake.server.faults.add({
      path: `/api/v2/clients/${clientId}/credentials`,
      times: 1,
      fault: { kind: "garbage", status: 200 },
    });
    const e = await rejection(idp.listKeys());
    expect(e).toMatchObject({ code: "AUTH0_UNAVAILABLE", retryable: true });
  });

  it("refuses an assertion over 2048 bytes before sending it", async () => {
    const { idp } = setup();
    const key = await newKey();
    const bloated: JwsSigner = { ...key.signer, x5t: "x".repeat(1800), sign: key.signer.sign };
    const before = requestsTo("/oauth/token");
    const attempt = await idp.verify(bloated, "RS256");
    expect(attempt).toMatchObject({ ok: false, code: "AUTH0_ASSERTION_TOO_LARGE", retryable: false });
    expect(requestsTo("/oauth/token")).toBe(before);
  });

  it("reports Auth0's answer when the tenant has no default audience (Kong sends none)", async () => {
    const { idp } = setup();
    const key = await newKey();
    await idp.activate(await idp.register(key.material));
    fake.setDefaultAudience(undefined);
    try {
      expect(await idp.verify(key.signer, "RS256")).toMatchObject({
        ok: false,
        code: "access_denied",
        description: expect.stringContaining("no default audience"),
      });
    } finally {
      fake.setDefaultAudience(API);
    }
  });
});
