/**
 * The Okta IdentityProvider adapter over HTTPS against the Okta fake (stack/okta), whose token endpoint
 * verifies `private_key_jwt` assertions with a real oidc-provider; and the fake's own answers (status
 * codes and Okta error bodies) for the rules the adapter relies on.
 */
import { createPublicKey, generateKeyPairSync, randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  OktaIdentityProvider,
  oktaRetryAfter,
  type OktaIdpConfig,
} from "../../src/adapters/idp/okta/index.js";
import type { Clock, PublicKeyMaterial } from "../../src/ports/engine.js";
import { clientAssertion, localSigner, type JwsSigner } from "../../src/crypto/jws.js";
import { RotatorError } from "../../src/errors.js";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import { MAX_KEYS, startOktaFake, type OktaFake } from "../../stack/okta/index.js";
import { issueSelfSigned } from "../support/certs.js";
import { FakeClock } from "../support/fake-clock.js";

const ADMIN_TOKEN = "00Okta-local-admin-token-" + randomUUID();
const READ_ONLY_TOKEN = "00Okta-local-readonly-token-" + randomUUID();
const SCOPES = ["kong.gateway"];
const FAST = { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 40, attemptTimeoutMs: 5000 };

interface Generation {
  material: PublicKeyMaterial;
  signer: JwsSigner;
}

async function generation(): Promise<Generation> {
  const now = Date.now();
  const c = await issueSelfSigned({
    subject: "CN=okta contract test",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 90 * 86_400_000),
  });
  const pub = createPublicKey(c.privateKey).export({ format: "jwk" });
  return {
    material: {
      certDer: c.der,
      certPem: c.certPem,
      jwk: { kty: "RSA", n: pub.n ?? "", e: pub.e ?? "" },
      kid: c.x5t,
      x5t: c.x5t,
      alg: "RS256",
      notAfter: c.notAfter,
      displayName: "okta contract test",
    },
    signer: localSigner(c.privateKey, c.x5t, c.x5tS256),
  };
}

/** The error a promise rejects with (a RotatorError, or the test fails). */
const failure = (p: Promise<unknown>): Promise<RotatorError> =>
  p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => {
      if (e instanceof RotatorError) return e;
      throw e;
    },
  );

let propagationMs = 0;
let fake: OktaFake;
let bootstrap: Generation;

beforeAll(async () => {
  const ca = await ensureCa(resolve(".local/ca"));
  fake = await startOktaFake({ tls: await issueServerTls(ca), propagationDelayMs: () => propagationMs });
  fake.addAuthorizationServer("default", { scopes: SCOPES, defaultScopes: [] });
  fake.addAuthorizationServer("withdefaults", { scopes: SCOPES, defaultScopes: SCOPES });
  fake.addApiToken(ADMIN_TOKEN, "APP_ADMIN");
  fake.addApiToken(READ_ONLY_TOKEN, "READ_ONLY_ADMIN");
  bootstrap = await generation();
});

afterAll(async () => {
  await fake?.close();
});

beforeEach(() => {
  propagationMs = 0;
  fake.server.faults.clear();
});

/** A fresh app holding one active key (the current generation), as a hand-made setup has it. */
function appWithBootstrapKey(): string {
  const { clientId } = fake.createApp();
  fake.seedKey(clientId, {
    kid: bootstrap.material.kid,
    n: bootstrap.material.jwk.n,
    e: bootstrap.material.jwk.e,
  });
  return clientId;
}

function idp(clientId: string, overrides: Partial<OktaIdpConfig> = {}, clock?: Clock): OktaIdentityProvider {
  return new OktaIdentityProvider(
    {
      orgUrl: fake.orgUrl,
      authorizationServer: "default",
      clientId,
      token: ADMIN_TOKEN,
      scopes: SCOPES,
      ...overrides,
    },
    { retry: FAST, ...(clock ? { clock } : {}) },
  );
}

const posts = (clientId: string) =>
  fake.server.requests.filter(
    (r) => r.method === "POST" && r.path === `/api/v1/apps/${clientId}/credentials/jwks`,
  );

describe("Okta adapter against the Okta fake", () => {
  it("states Okta's rules", () => {
    expect(idp("0oaX").rules).toEqual({
      maxKeys: 50,
      algorithms: ["RS256"],
      kid: "registered",
      staged: true,
      proofOfPossession: false,
      published: "registered and ACTIVE on the Okta app",
      proofScopes: "kong",
      issuedTokens: expect.stringContaining("until they expire") as string,
    });
  });

  it("stages a key inactive, refuses it at the token endpoint until activated, then proves it", async () => {
    const clientId = appWithBootstrapKey();
    const okta = idp(clientId);
    const next = await generation();
    const key = await okta.register(next.material);
    expect(key).toMatchObject({ kid: next.material.kid, usable: false });
    expect(fake.keys(clientId).find((k) => k.id === key.id)?.status).toBe("INACTIVE");

    const refused = await okta.verify(next.signer, "RS256");
    expect(refused).toMatchObject({ ok: false, code: "invalid_client" });
    if (!refused.ok) expect(refused.description).toMatch(/signature/);

    await okta.activate(key);
    expect((await okta.listKeys()).find((k) => k.id === key.id)).toMatchObject({ usable: true });
    expect(await okta.verify(next.signer, "RS256")).toEqual({ ok: true });
    expect(await okta.verify(bootstrap.signer, "RS256")).toEqual({ ok: true });
  });

  it("registers idempotently: the same kid and key is returned without a second POST", async () => {
    const clientId = appWithBootstrapKey();
    const okta = idp(clientId);
    const next = await generation();
    const first = await okta.register(next.material);
    const second = await okta.register(next.material);
    expect(second).toEqual(first);
    expect(posts(clientId)).toHaveLength(1);
  });

  it("refuses a different key under a registered kid", async () => {
    const clientId = appWithBootstrapKey();
    const other = await generation();
    const e = await failure(idp(clientId).register({ ...other.material, kid: bootstrap.material.kid }));
    expect(e.code).toBe("OKTA_KID_CONFLICT");
    expect(posts(clientId)).toHaveLength(0);
  });

  it("reports an app whose existing key has no kid as OKTA_KID_CONFLICT", async () => {
    const { clientId } = fake.createApp();
    fake.seedKey(clientId, { kid: null, n: bootstrap.material.jwk.n, e: bootstrap.material.jwk.e });
    const e = await failure(idp(clientId).register((await generation()).material));
    expect(e).toMatchObject({ code: "OKTA_KID_CONFLICT", status: 400 });
    expect(fake.keys(clientId)).toHaveLength(1);
  });

  it("registers once when the answer to the POST is lost and the POST is retried", async () => {
    const clientId = appWithBootstrapKey();
    const next = await generation();
    let dropped = 0;
    fake.server.hook.set(async (stage, req) =>
      stage === "after" && req.method === "POST" && req.path.endsWith("/credentials/jwks") && dropped++ === 0
        ? "drop"
        : undefined,
    );
    try {
      const key = await idp(clientId).register(next.material);
      expect(key).toMatchObject({ kid: next.material.kid, usable: false });
    } finally {
      fake.server.hook.set(undefined);
    }
    expect(dropped).toBe(2);
    expect(fake.keys(clientId).filter((k) => k.kid === next.material.kid)).toHaveLength(1);
  });

  it("retries a throttled token endpoint and then proves the key", async () => {
    const clientId = appWithBootstrapKey();
    fake.server.faults.add({
      method: "POST",
      path: "/oauth2/default/v1/token",
      times: 1,
      fault: {
        kind: "status",
        status: 429,
        body: {
          errorCode: "E0000047",
          errorSummary: "API call exceeded rate limit due to too many requests.",
        },
        headers: { "x-rate-limit-reset": String(Math.ceil(Date.now() / 1000) + 2) },
      },
    });
    const clock = new FakeClock(new Date());
    const start = clock.now().getTime();
    expect(await idp(clientId, {}, clock).verify(bootstrap.signer, "RS256")).toEqual({ ok: true });
    expect(clock.now().getTime() - start).toBeGreaterThanOrEqual(1000);
  });

  it("refuses PS256: at registration without calling Okta, and at the token endpoint", async () => {
    const clientId = appWithBootstrapKey();
    const okta = idp(clientId);
    const next = await generation();
    const e = await failure(okta.register({ ...next.material, alg: "PS256" }));
    expect(e.code).toBe("OKTA_ALG_UNSUPPORTED");
    expect(posts(clientId)).toHaveLength(0);
    const attempt = await okta.verify(bootstrap.signer, "PS256");
    expect(attempt).toMatchObject({ ok: false, code: "invalid_client", retryable: false });
    if (!attempt.ok) expect(attempt.description).toMatch(/algorithm/);
    expect(await okta.verify(bootstrap.signer, "RS256")).toEqual({ ok: true });
  });

  it("refuses to delete an active key with a typed error, and deletes it once withdrawn", async () => {
    const clientId = appWithBootstrapKey();
    const okta = idp(clientId);
    const next = await generation();
    const key = await okta.register(next.material);
    await okta.activate(key);
    const e = await failure(okta.remove(key));
    expect(e.code).toBe("OKTA_ACTIVE_KEY_DELETE");
    expect(e.hint).toMatch(/Deactivate/);
    await okta.withdraw(key);
    await okta.remove(key);
    await okta.remove(key); // already gone: idempotent
    expect(fake.keys(clientId).map((k) => k.id)).not.toContain(key.id);
  });

  it("refuses to withdraw the last active key of a private_key_jwt client", async () => {
    const clientId = appWithBootstrapKey();
    const okta = idp(clientId);
    const [only] = await okta.listKeys();
    if (!only) throw new Error("the app has no key");
    const e = await failure(okta.withdraw(only));
    expect(e).toMatchObject({ code: "OKTA_LAST_ACTIVE_KEY", status: 400 });
    expect(e.details).toMatchObject({ errorCode: "E0000001" });
    expect(fake.keys(clientId)[0]?.status).toBe("ACTIVE");
  });

  it("stops at Okta's 50-key limit without calling Okta", async () => {
    const clientId = appWithBootstrapKey();
    const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const { n = "", e = "" } = publicKey.export({ format: "jwk" });
    for (let i = 1; i < MAX_KEYS - 1; i++) fake.seedKey(clientId, { kid: `seed-${i}`, n, e }, "INACTIVE");
    const okta = idp(clientId);
    await okta.register((await generation()).material);
    expect(await okta.listKeys()).toHaveLength(MAX_KEYS);
    const err = await failure(okta.register((await generation()).material));
    expect(err.code).toBe("OKTA_KEY_LIMIT");
    expect(posts(clientId)).toHaveLength(1);
  });

  it("retries 429s after Okta's X-Rate-Limit-Reset", async () => {
    const clientId = appWithBootstrapKey();
    const clock = new FakeClock(new Date());
    const start = clock.now().getTime();
    const before = fake.server.requests.length;
    fake.rateLimit(2, 3);
    expect(await idp(clientId, {}, clock).listKeys()).toHaveLength(1);
    // Two waits of about 3 s each (the reset is whole seconds, measured against the whole-second Date).
    expect(clock.now().getTime() - start).toBeGreaterThanOrEqual(4000);
    expect(clock.now().getTime() - start).toBeLessThanOrEqual(8000);
    expect(fake.server.requests.slice(before).map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it("measures Okta's reset against the response's Date, not the local clock", () => {
    const date = new Date(95_000).toUTCString();
    const skewed = new Date(10_000_000);
    expect(oktaRetryAfter({ "x-rate-limit-reset": "100", date }, skewed)).toBe(5000);
    expect(oktaRetryAfter({ "x-rate-limit-reset": "100" }, new Date(98_000))).toBe(2000);
    expect(oktaRetryAfter({ "x-rate-limit-reset": "90", date }, skewed)).toBeUndefined();
    expect(oktaRetryAfter({ "retry-after": "7" }, skewed)).toBe(7000);
  });

  it("reports persistent throttling as retryable OKTA_RATE_LIMITED", async () => {
    const clientId = appWithBootstrapKey();
    fake.rateLimit(FAST.maxAttempts, 1);
    const e = await failure(idp(clientId, {}, new FakeClock(new Date())).listKeys());
    expect(e).toMatchObject({ code: "OKTA_RATE_LIMITED", retryable: true, status: 429 });
  });

  it("types a bad and an underprivileged token, and never echoes the token", async () => {
    const clientId = appWithBootstrapKey();
    const bad = await failure(idp(clientId, { token: "00Okta-wrong-" + randomUUID() }).listKeys());
    expect(bad).toMatchObject({ code: "OKTA_UNAUTHORIZED", status: 401 });
    const reader = idp(clientId, { token: READ_ONLY_TOKEN });
    expect(await reader.listKeys()).toHaveLength(1);
    const denied = await failure(reader.register((await generation()).material));
    expect(denied).toMatchObject({ code: "OKTA_FORBIDDEN", status: 403 });
    expect(denied.hint).toContain("okta.apps.manage");
    for (const e of [bad, denied]) {
      const text = JSON.stringify(e.toJSON()) + e.message + e.hint;
      expect(text).not.toContain(ADMIN_TOKEN);
      expect(text).not.toContain(READ_ONLY_TOKEN);
    }
  });

  it("names a scope unless the authorization server has default scopes", async () => {
    const clientId = appWithBootstrapKey();
    expect(await idp(clientId, { scopes: [] }).verify(bootstrap.signer, "RS256")).toMatchObject({
      ok: false,
      code: "invalid_scope",
      retryable: false,
    });
    expect(
      await idp(clientId, { scopes: [], authorizationServer: "withdefaults" }).verify(
        bootstrap.signer,
        "RS256",
      ),
    ).toEqual({ ok: true });
  });

  it("proves with the scopes Kong sends unless okta.scopes overrides them", async () => {
    const clientId = appWithBootstrapKey();
    const kong = { scopes: SCOPES, source: "Kong target t, plugin p" };
    const scoped = (overrides: Partial<OktaIdpConfig>) => idp(clientId, { scopes: undefined, ...overrides });
    expect(await scoped({}).verify(bootstrap.signer, "RS256", kong)).toEqual({ ok: true });
    // The plugin sends a scope the authorization server does not have: final, with a hint naming both.
    const refused = await scoped({}).verify(bootstrap.signer, "RS256", {
      ...kong,
      scopes: ["unknown.scope"],
    });
    expect(refused).toMatchObject({ ok: false, code: "invalid_scope", retryable: false });
    expect(refused.ok === false && refused.hint).toMatch(
      /unknown\.scope \(config\.scopes of Kong target t, plugin p\).*okta\.scopes/,
    );
    // okta.scopes overrides what the plugin sends.
    expect(
      await scoped({ scopes: SCOPES }).verify(bootstrap.signer, "RS256", {
        ...kong,
        scopes: ["unknown.scope"],
      }),
    ).toEqual({ ok: true });
    // No Kong target could be read: nothing is sent, and the attempt is worth repeating.
    const before = fake.server.requests.length;
    expect(await scoped({}).verify(bootstrap.signer, "RS256", {})).toMatchObject({
      ok: false,
      code: "KONG_SCOPES_UNKNOWN",
      retryable: true,
    });
    // A vault reference in config.scopes cannot be resolved by the rotator: final, pointing at okta.scopes.
    expect(
      await scoped({}).verify(bootstrap.signer, "RS256", { ...kong, scopes: ["{vault://env/scopes}"] }),
    ).toMatchObject({
      ok: false,
      code: "KONG_SCOPES_REFERENCED",
      retryable: false,
      hint: expect.stringMatching(/okta\.scopes/),
    });
    expect(fake.server.requests.length).toBe(before);
  });

  it("stops at once on an algorithm the client does not allow", async () => {
    const clientId = appWithBootstrapKey();
    expect(await idp(clientId).verify(bootstrap.signer, "PS256")).toMatchObject({
      ok: false,
      code: "invalid_client",
      retryable: false,
      hint: expect.stringMatching(/PS256/),
    });
  });

  it("polls a key that is still propagating as retryable", async () => {
    const clientId = appWithBootstrapKey();
    const okta = idp(clientId);
    propagationMs = 400;
    const next = await generation();
    const key = await okta.register(next.material);
    await okta.activate(key);
    expect(await okta.verify(next.signer, "RS256")).toMatchObject({ ok: false, retryable: true });
    await new Promise((r) => setTimeout(r, 500));
    expect(await okta.verify(next.signer, "RS256")).toEqual({ ok: true });
  });

  it("refuses a configuration it cannot use, before any call", () => {
    expect(
      () => new OktaIdentityProvider({ orgUrl: "http://example.okta.com", clientId: "0oa", token: "t" }),
    ).toThrow(/https/);
    expect(() => new OktaIdentityProvider({ orgUrl: fake.orgUrl, clientId: "0oa", token: "" })).toThrow(
      RotatorError,
    );
  });
});

describe("the Okta fake answers like Okta", () => {
  const call = async (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) => {
    const res = await fetch(fake.orgUrl + path, {
      method,
      headers: { authorization: `SSWS ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: (text ? JSON.parse(text) : undefined) as unknown,
    };
  };
  // One key pair serves every body: the fake tells keys apart by kid, as Okta does.
  const { n: testN = "", e: testE = "" } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
  }).publicKey.export({
    format: "jwk",
  });
  const jwk = () => ({ kty: "RSA", use: "sig", alg: "RS256", n: testN, e: testE });
  const causeOf = (body: unknown) =>
    (body as { errorCauses: { errorSummary: string }[] }).errorCauses.map((c) => c.errorSummary).join(" ");

  it("answers with Okta's error body, 401 E0000011 for a bad token and 403 E0000006 for a read-only one", async () => {
    const { clientId } = fake.createApp();
    const bad = await call("GET", `/api/v1/apps/${clientId}/credentials/jwks`, undefined, "nope");
    expect(bad.status).toBe(401);
    expect(Object.keys(bad.body as object).sort()).toEqual([
      "errorCauses",
      "errorCode",
      "errorId",
      "errorLink",
      "errorSummary",
    ]);
    expect(bad.body).toMatchObject({ errorCode: "E0000011", errorSummary: "Invalid token provided" });
    const denied = await call("POST", `/api/v1/apps/${clientId}/credentials/jwks`, jwk(), READ_ONLY_TOKEN);
    expect(denied).toMatchObject({ status: 403, body: { errorCode: "E0000006" } });
    const missing = await call("GET", `/api/v1/apps/0oaMissing/credentials/jwks`);
    expect(missing).toMatchObject({ status: 404, body: { errorCode: "E0000007" } });
  });

  it("adds keys ACTIVE by default, lists a plain array, and enforces kid, size and count rules", async () => {
    const { clientId } = fake.createApp();
    const path = `/api/v1/apps/${clientId}/credentials/jwks`;
    const first = await call("POST", path, { ...jwk(), kid: "k1" });
    expect(first).toMatchObject({ status: 201, body: { kid: "k1", status: "ACTIVE" } });
    const list = await call("GET", path);
    expect(Array.isArray(list.body)).toBe(true);

    const dup = await call("POST", path, { ...jwk(), kid: "k1", status: "INACTIVE" });
    expect(dup).toMatchObject({ status: 400, body: { errorCode: "E0000001" } });
    expect(causeOf(dup.body)).toMatch(/unique `kid`/);
    const noKid = await call("POST", path, { ...jwk(), status: "INACTIVE" });
    expect(causeOf(noKid.body)).toMatch(/unique kid when adding multiple keys/);
    const { n, e } = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ format: "jwk" });
    const small = await call("POST", path, {
      kty: "RSA",
      use: "sig",
      kid: "small",
      n,
      e,
      status: "INACTIVE",
    });
    expect(small.status).toBe(400);
    expect(causeOf(small.body)).toMatch(/less than '2,048' bits/);

    const { clientId: legacy } = fake.createApp();
    fake.seedKey(legacy, { kid: null, ...pick(jwk()) });
    const blocked = await call("POST", `/api/v1/apps/${legacy}/credentials/jwks`, { ...jwk(), kid: "new" });
    expect(causeOf(blocked.body)).toMatch(/unique kid when adding multiple keys/);

    for (let i = 2; i <= MAX_KEYS; i++) fake.seedKey(clientId, { kid: `k${i}`, ...pick(jwk()) }, "INACTIVE");
    const over = await call("POST", path, { ...jwk(), kid: "k51", status: "INACTIVE" });
    expect(over.status).toBe(400);
    expect(causeOf(over.body)).toMatch(/maximum number of keys allowed \(50\)/);
  });

  it("refuses deleting an active key and deactivating the only active key", async () => {
    const { clientId } = fake.createApp();
    const path = `/api/v1/apps/${clientId}/credentials/jwks`;
    const added = await call("POST", path, { ...jwk(), kid: "only" });
    const id = (added.body as { id: string }).id;
    const del = await call("DELETE", `${path}/${id}`);
    expect(del.status).toBe(400);
    expect(causeOf(del.body)).toBe(
      "You can't delete an active JSON Web Key. Deactivate the key before deleting it.",
    );
    const deact = await call("POST", `${path}/${id}/lifecycle/deactivate`);
    expect(deact.status).toBe(400);
    expect(causeOf(deact.body)).toMatch(/only active JSON Web Key/);
    const second = await call("POST", path, { ...jwk(), kid: "second", status: "INACTIVE" });
    expect(second.body).toMatchObject({ status: "INACTIVE" });
    const secondId = (second.body as { id: string }).id;
    expect((await call("POST", `${path}/${secondId}/lifecycle/activate`)).body).toMatchObject({
      status: "ACTIVE",
    });
    expect((await call("POST", `${path}/${id}/lifecycle/deactivate`)).body).toMatchObject({
      status: "INACTIVE",
    });
    expect((await call("DELETE", `${path}/${id}`)).status).toBe(204);
    expect((await call("GET", `${path}/${id}`)).status).toBe(404);
  });

  it("throttles with 429 E0000047 and X-Rate-Limit headers, no Retry-After", async () => {
    const { clientId } = fake.createApp();
    fake.rateLimit(1, 30, 100);
    const res = await call("GET", `/api/v1/apps/${clientId}/credentials/jwks`);
    expect(res).toMatchObject({ status: 429, body: { errorCode: "E0000047" } });
    expect(res.headers.get("x-rate-limit-limit")).toBe("100");
    expect(res.headers.get("x-rate-limit-remaining")).toBe("0");
    expect(Number(res.headers.get("x-rate-limit-reset"))).toBeGreaterThan(Date.now() / 1000);
    expect(res.headers.get("retry-after")).toBeNull();
    const ok = await call("GET", `/api/v1/apps/${clientId}/credentials/jwks`);
    expect(ok.status).toBe(200);
    expect(Number(ok.headers.get("x-rate-limit-remaining"))).toBeLessThan(
      Number(ok.headers.get("x-rate-limit-limit")),
    );
  });

  it("enforces a configured per-minute limit", async () => {
    const ca = await ensureCa(resolve(".local/ca"));
    const strict = await startOktaFake({ tls: await issueServerTls(ca), rateLimitPerMinute: 2 });
    try {
      strict.addApiToken(ADMIN_TOKEN, "SUPER_ADMIN");
      const { clientId } = strict.createApp();
      const get = () =>
        fetch(`${strict.orgUrl}/api/v1/apps/${clientId}/credentials/jwks`, {
          headers: { authorization: `SSWS ${ADMIN_TOKEN}` },
        });
      // Five calls span at most two one-minute windows, so at most four fit under a limit of 2.
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await get());
      expect(answers[0]?.status).toBe(200);
      const throttled = answers.find((a) => a.status === 429);
      if (!throttled) throw new Error("no call was throttled");
      expect(await throttled.json()).toMatchObject({ errorCode: "E0000047" });
      expect(throttled.headers.get("x-rate-limit-remaining")).toBe("0");
    } finally {
      await strict.close();
    }
  });

  it("checks aud = the token endpoint URL, the kid, and the scope at the token endpoint", async () => {
    const clientId = appWithBootstrapKey();
    const endpoint = fake.tokenEndpoint("default");
    const post = async (assertion: string, scope?: string) => {
      const res = await fetch(endpoint, {
        method: "POST",
        body: new URLSearchParams({
          grant_type: "client_credentials",
          ...(scope ? { scope } : {}),
          client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
          client_assertion: assertion,
        }),
      });
      return { status: res.status, body: (await res.json()) as { error?: string; access_token?: string } };
    };
    const at = (aud: string, signer = bootstrap.signer) =>
      clientAssertion(signer, "RS256", clientId, aud, new Date());
    expect((await post(await at(endpoint), SCOPES[0])).status).toBe(200);
    expect(await post(await at(fake.orgUrl + "/oauth2/default"), SCOPES[0])).toMatchObject({
      status: 401,
      body: { error: "invalid_client" },
    });
    expect(await post(await at(endpoint))).toMatchObject({ status: 400, body: { error: "invalid_scope" } });
    const stranger = await generation();
    expect(await post(await at(endpoint, stranger.signer), SCOPES[0])).toMatchObject({
      status: 401,
      body: { error: "invalid_client" },
    });
    const orgEndpoint = fake.tokenEndpoint();
    expect(orgEndpoint).toBe(`${fake.orgUrl}/oauth2/v1/token`);
  });
});

function pick(j: { n: string; e: string }): { n: string; e: string } {
  return { n: j.n, e: j.e };
}
