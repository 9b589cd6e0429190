/**
 * Contract tests of the Key Vault adapter: the production SDK clients (CertificateClient, SecretClient,
 * KeyClient/CryptographyClient) over real HTTPS against the Key Vault fake, through the challenge flow with
 * tokens from the local issuer.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { importX509, jwtVerify, decodeProtectedHeader } from "jose";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/identity";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import { LocalTokenIssuer } from "../../stack/common/auth.js";
import { startKeyVaultFake, type KeyVaultFake } from "../../stack/keyvault/fake.js";
import type { WirePolicy } from "../../stack/keyvault/issue.js";
import { createKeyVaultSecretReader, createKeyVaultStore } from "../../src/adapters/keyvault/store.js";
import { keyVaultClientOptions } from "../../src/adapters/keyvault/pipeline.js";
import { systemClock } from "../../src/clock.js";
import type { Clock, CertificateStore } from "../../src/ports/engine.js";
import { defaultRetryPolicy } from "../../src/http/retry.js";
import { isRotatorError, type RotatorError } from "../../src/errors.js";
import { signJwt } from "../../src/crypto/jws.js";
import { redactText, REDACTED } from "../../src/log/redact.js";
import { pemToKongJwk } from "../../src/crypto/keymaterial.js";

const TENANT = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9";
const POLICY = { subject: "CN=kong-client-assertion", validityMonths: 6, keySize: 2048 } as const;
/**
 * Fast backoff, but an attempt timeout no loaded machine reaches: a timed-out attempt is retried, and an
 * extra request would break the assertions on the exact requests sent. The hung-request tests use
 * `hangStore()`.
 */
const RETRY = {
  maxAttempts: 4,
  baseDelayMs: 5,
  maxDelayMs: 20,
  attemptTimeoutMs: 15_000,
  maxRetryAfterMs: 5000,
};
/** Abandons a hung request after 3 s: long enough for an answered request on a loaded machine. */
const HANG_TIMEOUT_MS = 3000;

/** Gets tokens for the requested scope from the local issuer, as a client credential would from Entra. */
class LocalTokenCredential implements TokenCredential {
  readonly calls: { scopes: string[]; tenantId?: string }[] = [];
  constructor(
    private readonly issuer: LocalTokenIssuer,
    private readonly forge = false,
  ) {}
  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    const list = Array.isArray(scopes) ? scopes : [scopes];
    this.calls.push({ scopes: list, ...(options?.tenantId ? { tenantId: options.tenantId } : {}) });
    const aud = (list[0] ?? "").replace(/\/\.default$/, "");
    const tid = options?.tenantId ?? TENANT;
    const { token, expiresIn } = await this.issuer.issue({
      aud: this.forge ? "https://graph.microsoft.com" : aud,
      sub: "rotator",
      appid: "rotator",
      tid,
    });
    return { token, expiresOnTimestamp: Date.now() + expiresIn * 1000 };
  }
}

/** Real sleeps, recorded, so tests can see which delays the adapter asked for. */
function recordingClock(): Clock & { slept: number[] } {
  const slept: number[] = [];
  return {
    slept,
    now: () => new Date(),
    sleep: (ms, signal) => (slept.push(ms), systemClock.sleep(ms, signal)),
  };
}

async function expectRotatorError(p: Promise<unknown>, code: string): Promise<RotatorError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(isRotatorError(e), `expected RotatorError ${code}, got ${String(e)}`).toBe(true);
  expect((e as RotatorError).code).toBe(code);
  return e as RotatorError;
}

const pemPolicy = (over: WirePolicy = {}): WirePolicy => ({
  issuer: { name: "Self" },
  x509_props: {
    subject: "CN=seeded",
    validity_months: 12,
    key_usage: ["digitalSignature"],
    ...over.x509_props,
  },
  key_props: { kty: "RSA", key_size: 2048, exportable: true, reuse_key: false, ...over.key_props },
  secret_props: { contentType: "application/x-pem-file" },
});

let issuer: LocalTokenIssuer;
let fake: KeyVaultFake;
let credential: LocalTokenCredential;
let clock: ReturnType<typeof recordingClock>;
let store: CertificateStore;
/**
 * The fake's clock runs behind real time and tests step it forward between creates, so that versions get
 * distinct creation seconds while every key stays inside its nbf/exp window for the SDK's own checks.
 */
let offsetMs = -30 * 60_000;

beforeAll(async () => {
  const ca = await ensureCa(resolve(".local/ca"));
  issuer = await LocalTokenIssuer.create((tid) => `https://127.0.0.1/${tid}/v2.0`);
  fake = await startKeyVaultFake({
    tls: await issueServerTls(ca),
    authority: `https://127.0.0.1:1/${TENANT}`,
    verifyToken: async (token, resource) => (await issuer.verify(token, resource))?.tid === TENANT,
    createDelayMs: 250,
    pageSize: 2,
    now: () => new Date(Date.now() + offsetMs),
  });
  credential = new LocalTokenCredential(issuer);
  clock = recordingClock();
  store = createKeyVaultStore({ vaultUrl: fake.url, credential, retry: RETRY, clock, pollIntervalMs: 20 });
});

afterAll(async () => {
  await fake?.close();
});

const hangStore = () =>
  createKeyVaultStore({
    vaultUrl: fake.url,
    credential,
    retry: { ...RETRY, attemptTimeoutMs: HANG_TIMEOUT_MS },
    clock,
    pollIntervalMs: 20,
  });

afterEach(() => {
  fake.faults.clear();
  fake.allowAll();
  clock.slept.length = 0;
});

/**
 * Requests the fake logged from `from` on, as "METHOD path-without-query status". A status is recorded when
 * the server has flushed the response, which can come just after the client has read it.
 */
async function log(from: number): Promise<string[]> {
  const entries = () => fake.requests.slice(from);
  for (let i = 0; i < 100 && entries().some((r) => r.status === 0 && !r.fault); i++)
    await new Promise((r) => setImmediate(r));
  return entries().map(
    (r) => `${r.method} ${r.path.split("?")[0]} ${r.status}${r.fault ? ` ${r.fault}` : ""}`,
  );
}

describe("challenge authentication", () => {
  it("answers the anonymous first request with the challenge, then accepts a token for https://vault.azure.net", async () => {
    fake.putSecret("kong-admin-token", "admin-token-value-1234");
    const cred = new LocalTokenCredential(issuer);
    const reader = createKeyVaultSecretReader({ vaultUrl: fake.url, credential: cred, retry: RETRY, clock });
    const from = fake.requests.length;
    expect(await reader.read("kong-admin-token")).toBe("admin-token-value-1234");
    expect(await log(from)).toEqual([
      "GET /secrets/kong-admin-token/ 401",
      "GET /secrets/kong-admin-token/ 200",
    ]);
    expect(cred.calls).toEqual([{ scopes: ["https://vault.azure.net/.default"], tenantId: TENANT }]);
    // Values read from the vault are scrubbed from anything logged later.
    expect(redactText("token=admin-token-value-1234")).toBe(`token=${REDACTED}`);
  });

  it("keeps challenge resource verification on for real vault hosts only", () => {
    const opts = (url: string) =>
      keyVaultClientOptions(url, defaultRetryPolicy, systemClock).disableChallengeResourceVerification;
    expect(opts("https://contoso.vault.azure.net")).toBe(false);
    expect(opts("https://contoso.vault.azure.cn")).toBe(false);
    expect(opts("https://contoso.vault.usgovcloudapi.net")).toBe(false);
    expect(opts("https://contoso.vault.microsoftazure.de")).toBe(false);
    expect(opts(fake.url)).toBe(true);
  });

  it("maps a token the vault does not accept to KV_UNAUTHORIZED", async () => {
    const reader = createKeyVaultSecretReader({
      vaultUrl: fake.url,
      credential: new LocalTokenCredential(issuer, true),
      retry: RETRY,
      clock,
    });
    fake.putSecret("other-token", "value-of-other-token");
    const e = await expectRotatorError(reader.read("other-token"), "KV_UNAUTHORIZED");
    expect(e.status).toBe(401);
  });

  it("maps a missing secret to KV_NOT_FOUND", async () => {
    const reader = createKeyVaultSecretReader({ vaultUrl: fake.url, credential, retry: RETRY, clock });
    const e = await expectRotatorError(reader.read("no-such-secret"), "KV_NOT_FOUND");
    expect(e.details).toMatchObject({ kvCode: "SecretNotFound" });
  });
});

describe("certificate versions", () => {
  it("creates a version with the rotation policy and its tags, polling the pending operation to completion", async () => {
    const from = fake.requests.length;
    const v = await store.createVersion("kong-rotation", POLICY, { phase: "pending", generation: "g1" });
    expect(v.tags).toEqual({ phase: "pending", generation: "g1" });
    expect(v.enabled).toBe(true);
    expect(v.x5t).toMatch(/^[A-Za-z0-9_-]{27}$/);
    expect(v.x5tS256).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(v.expiresOn!.getUTCMonth()).toBe((v.notBefore!.getUTCMonth() + 6) % 12);
    const [seen] = fake.versions("kong-rotation");
    expect(seen).toMatchObject({
      version: v.version,
      x5t: v.x5t,
      tags: { phase: "pending", generation: "g1" },
      status: "completed",
    });
    const calls = await log(from);
    expect(calls).toContain("POST /certificates/kong-rotation/create 202");
    // inProgress at least once (250 ms creation, 20 ms polls), then completed.
    expect(calls.filter((c) => c === "GET /certificates/kong-rotation/pending 200").length).toBeGreaterThan(
      1,
    );
    expect(fake.policy("kong-rotation")).toMatchObject({
      key_props: { exportable: true, kty: "RSA", key_size: 2048, reuse_key: false },
      secret_props: { contentType: "application/x-pem-file" },
      x509_props: {
        subject: "CN=kong-client-assertion",
        key_usage: ["digitalSignature"],
        validity_months: 6,
      },
      lifetime_actions: [{ action: { action_type: "EmailContacts" } }],
      issuer: { name: "Self" },
    });
    expect(await store.getPolicy("kong-rotation")).toEqual({
      exportable: true,
      keyType: "RSA",
      keySize: 2048,
      contentType: "application/x-pem-file",
    });
    expect(await store.getPolicy("no-such-cert")).toBeUndefined();
  });

  it("resumes a creation that a crashed run left pending, and reports nothing when none is", async () => {
    await fake.seedCertificate("kong-crashed", pemPolicy(), {
      tags: { phase: "pending", generation: "g7" },
      pendingForMs: 300,
    });
    const v = await store.awaitPendingCreate("kong-crashed");
    expect(v).toMatchObject({ tags: { phase: "pending", generation: "g7" }, enabled: true });
    expect(v!.x5t).toBe(fake.versions("kong-crashed")[0]!.x5t);
    expect(await store.awaitPendingCreate("kong-crashed")).toBeUndefined();
    expect(await store.awaitPendingCreate("never-created")).toBeUndefined();
  });

  it("waits out another creation that is in progress (409) and then creates its own version", async () => {
    await fake.seedCertificate("kong-busy", pemPolicy(), {
      tags: { generation: "theirs" },
      pendingForMs: 300,
    });
    const from = fake.requests.length;
    const v = await store.createVersion("kong-busy", POLICY, { generation: "ours" });
    expect(v.tags).toEqual({ generation: "ours" });
    expect(fake.versions("kong-busy").map((x) => x.tags.generation)).toEqual(["theirs", "ours"]);
    expect(await log(from)).toContain("POST /certificates/kong-busy/create 409");
  });

  it("lists every version across pages, newest first, with tags, and an unknown certificate as empty", async () => {
    const made: string[] = [];
    for (const g of ["a", "b", "c"]) {
      made.push((await store.createVersion("kong-listed", POLICY, { generation: g })).version);
      offsetMs += 120_000;
    }
    const from = fake.requests.length;
    const mutations = fake.mutations().length;
    const versions = await store.listVersions("kong-listed");
    expect(fake.mutations()).toHaveLength(mutations);
    expect(versions.map((v) => v.version)).toEqual([...made].reverse());
    expect(versions.map((v) => v.tags.generation)).toEqual(["c", "b", "a"]);
    expect(versions.every((v) => v.enabled && v.x5t && v.notBefore && v.expiresOn)).toBe(true);
    expect(
      (await log(from)).filter((c) => c.startsWith("GET /certificates/kong-listed/versions")).length,
    ).toBe(2);
    expect(await store.listVersions("not-there")).toEqual([]);
  });

  it("updates tags and enabled on one version only", async () => {
    const a = await store.createVersion("kong-updated", POLICY, { phase: "active" });
    offsetMs += 120_000;
    const b = await store.createVersion("kong-updated", POLICY, { phase: "pending" });
    const mutations = fake.mutations().length;
    await store.updateVersion("kong-updated", a.version, { tags: { phase: "retired" }, enabled: false });
    await store.updateVersion("kong-updated", b.version, { tags: { phase: "active", since: "now" } });
    await store.updateVersion("kong-updated", b.version, {});
    expect(
      fake
        .mutations()
        .slice(mutations)
        .map((r) => `${r.method} ${r.path.split("?")[0]}`),
    ).toEqual([
      `PATCH /certificates/kong-updated/${a.version}`,
      `PATCH /certificates/kong-updated/${b.version}`,
    ]);
    const byVersion = new Map(fake.versions("kong-updated").map((v) => [v.version, v]));
    expect(byVersion.get(a.version)).toMatchObject({ enabled: false, tags: { phase: "retired" } });
    expect(byVersion.get(b.version)).toMatchObject({
      enabled: true,
      tags: { phase: "active", since: "now" },
    });
    const listed = await store.listVersions("kong-updated");
    expect(listed.map((v) => [v.enabled, v.tags.phase])).toEqual([
      [true, "active"],
      [false, "retired"],
    ]);
    // A disabled version's secret and key are not operable (about-certificates, "Attributes").
    await expectRotatorError(store.readPem("kong-updated", a.version), "KV_VERSION_DISABLED");
  });
});

describe("key material", () => {
  let name: string;
  let version: string;
  let x5t: string;
  let x5tS256: string;

  beforeAll(async () => {
    name = "kong-material";
    const v = await store.createVersion(name, POLICY, { phase: "pending" });
    version = v.version;
    x5t = v.x5t!;
    x5tS256 = v.x5tS256!;
  });

  it("reads the PEM from the certificate's secret: the key matches the certificate, x5t is openssl's SHA-1 fingerprint", async () => {
    const pem = await store.readPem(name, version);
    const cert = new X509Certificate(pem);
    expect(cert.checkPrivateKey(createPrivateKey(pem))).toBe(true);
    expect(Buffer.from(await store.getCertificateDer(name, version)).equals(cert.raw)).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "kv-contract-"));
    try {
      writeFileSync(join(dir, "bundle.pem"), pem);
      const out = execFileSync(
        "openssl",
        ["x509", "-in", join(dir, "bundle.pem"), "-noout", "-fingerprint", "-sha1"],
        { encoding: "utf8" },
      );
      const hex = out.trim().split("=")[1]!.replace(/:/g, "");
      expect(Buffer.from(hex, "hex").toString("base64url")).toBe(x5t);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(["RS256", "PS256"] as const)(
    "signs %s inside Key Vault; the signature verifies with the certificate's public key",
    async (alg) => {
      const certPem = new X509Certificate(
        Buffer.from(await store.getCertificateDer(name, version)),
      ).toString();
      const jwt = await signJwt(store.signer(name, version, { x5t, x5tS256 }), alg, {
        iss: "rotator",
        aud: "test",
      });
      const { payload } = await jwtVerify(jwt, await importX509(certPem, alg));
      expect(payload).toMatchObject({ iss: "rotator", aud: "test" });
      expect(decodeProtectedHeader(jwt)).toMatchObject({ alg, x5t, kid: x5t, "x5t#S256": x5tS256 });
    },
  );

  it("refuses to export a non-exportable certificate's key, yet signs with it", async () => {
    const v = await fake.seedCertificate(
      "kong-nonexportable",
      pemPolicy({ key_props: { exportable: false } }),
    );
    await expectRotatorError(store.readPem("kong-nonexportable", v), "KV_NOT_EXPORTABLE");
    expect(await store.getPolicy("kong-nonexportable")).toMatchObject({ exportable: false, keyType: "RSA" });
    const [seen] = await store.listVersions("kong-nonexportable");
    const certPem = new X509Certificate(
      Buffer.from(await store.getCertificateDer("kong-nonexportable", v)),
    ).toString();
    const jwt = await signJwt(store.signer("kong-nonexportable", v, { x5t: seen!.x5t! }), "PS256", {
      iss: "rotator",
    });
    await expect(jwtVerify(jwt, await importX509(certPem, "PS256"))).resolves.toBeTruthy();
  });

  it("returns an EC certificate's PEM, which the Kong JWK conversion refuses as not RSA", async () => {
    const v = await fake.seedCertificate(
      "kong-ec",
      pemPolicy({ key_props: { kty: "EC", crv: "P-256", key_size: undefined } }),
    );
    expect(await store.getPolicy("kong-ec")).toMatchObject({ keyType: "EC", exportable: true });
    const pem = await store.readPem("kong-ec", v);
    expect(createPrivateKey(pem).asymmetricKeyType).toBe("ec");
    expect(() => pemToKongJwk(pem, "PS256")).toThrow(expect.objectContaining({ code: "CERT_NOT_RSA" }));
  });
});

describe("faults", () => {
  it("honours Retry-After on 429", async () => {
    await fake.seedCertificate("kong-throttled", pemPolicy());
    fake.faults.add({
      method: "GET",
      path: "/certificates/kong-throttled/versions",
      fault: {
        kind: "status",
        status: 429,
        retryAfter: "1",
        body: {
          error: {
            code: "Throttled",
            message: "Request was not processed because too many requests were received.",
          },
        },
      },
      times: 1,
    });
    const from = fake.requests.length;
    expect(await store.listVersions("kong-throttled")).toHaveLength(1);
    expect(clock.slept).toContain(1000);
    const entries = fake.requests
      .slice(from)
      .filter((r) => r.path.startsWith("/certificates/kong-throttled/versions"));
    expect(entries.map((r) => r.status)).toEqual([429, 200]);
    expect(entries[1]!.time - entries[0]!.time).toBeGreaterThanOrEqual(950);
  });

  it("does not wait out a Retry-After longer than the policy allows: KV_THROTTLED, retryable", async () => {
    await fake.seedCertificate("kong-throttled-long", pemPolicy());
    fake.faults.add({
      method: "GET",
      path: "/certificates/kong-throttled-long/policy",
      fault: { kind: "status", status: 429, retryAfter: "60" },
      times: 1,
    });
    const e = await expectRotatorError(store.getPolicy("kong-throttled-long"), "KV_THROTTLED");
    expect(e).toMatchObject({ status: 429, retryable: true, details: { retryAfter: "60" } });
    expect(clock.slept).not.toContain(60_000);
    expect(
      fake.requests.filter((r) => r.path.startsWith("/certificates/kong-throttled-long/policy")),
    ).toHaveLength(1);
  });

  it("retries 5xx and connection resets with capped backoff", async () => {
    await fake.seedCertificate("kong-flaky", pemPolicy());
    fake.faults.add({
      method: "GET",
      path: "/certificates/kong-flaky/policy",
      fault: { kind: "status", status: 500 },
      times: 1,
    });
    fake.faults.add({
      method: "GET",
      path: "/certificates/kong-flaky/policy",
      fault: { kind: "reset" },
      times: 1,
    });
    fake.faults.add({
      method: "GET",
      path: "/certificates/kong-flaky/policy",
      fault: { kind: "status", status: 503 },
      times: 1,
    });
    const from = fake.requests.length;
    expect(await store.getPolicy("kong-flaky")).toMatchObject({ keyType: "RSA" });
    expect(await log(from)).toEqual([
      "GET /certificates/kong-flaky/policy 500 status",
      "GET /certificates/kong-flaky/policy 0 reset",
      "GET /certificates/kong-flaky/policy 503 status",
      "GET /certificates/kong-flaky/policy 200",
    ]);
    expect(clock.slept.every((ms) => ms <= RETRY.maxDelayMs)).toBe(true);
  });

  it("gives up on persistent 5xx with a retryable KV_UNAVAILABLE", async () => {
    fake.faults.add({
      method: "GET",
      path: "/certificates/kong-down/policy",
      fault: { kind: "status", status: 502 },
      times: Infinity,
    });
    const e = await expectRotatorError(store.getPolicy("kong-down"), "KV_UNAVAILABLE");
    expect(e).toMatchObject({ status: 502, retryable: true });
    expect(fake.requests.filter((r) => r.path.startsWith("/certificates/kong-down/policy")).length).toBe(
      RETRY.maxAttempts,
    );
  });

  it("times out a hung request and retries it", async () => {
    const v = await fake.seedCertificate("kong-hang", pemPolicy());
    // A new client answers Key Vault's challenge on its first request: done before the one logged.
    const hangs = hangStore();
    await hangs.getCertificateDer("kong-hang", v);
    fake.faults.add({
      method: "GET",
      path: `/certificates/kong-hang/${v}`,
      fault: { kind: "hang" },
      times: 1,
    });
    const from = fake.requests.length;
    expect((await hangs.getCertificateDer("kong-hang", v)).length).toBeGreaterThan(100);
    expect(await log(from)).toEqual([
      `GET /certificates/kong-hang/${v} 0 hang`,
      `GET /certificates/kong-hang/${v} 200`,
    ]);
  });

  it("does not re-send a create whose outcome is unknown before checking what landed", async () => {
    // The first create hangs before reaching the vault: nothing landed, so it is sent again.
    fake.faults.add({
      method: "POST",
      path: "/certificates/kong-resend/create",
      fault: { kind: "hang" },
      times: 1,
    });
    const v = await hangStore().createVersion("kong-resend", POLICY, { generation: "g1" });
    expect(fake.versions("kong-resend").map((x) => x.version)).toEqual([v.version]);
    // The create lands but every poll of it fails: the version is found afterwards, not created twice.
    fake.faults.add({
      method: "GET",
      path: "/certificates/kong-resend/pending",
      fault: { kind: "status", status: 500 },
      times: RETRY.maxAttempts,
    });
    const w = await store.createVersion("kong-resend", POLICY, { generation: "g2" });
    expect(w.tags).toEqual({ generation: "g2" });
    expect(fake.versions("kong-resend").map((x) => x.version)).toEqual([v.version, w.version]);
  });

  it("maps a garbage body to KV_BAD_RESPONSE without quoting it", async () => {
    const v = await fake.seedCertificate("kong-garbage", pemPolicy());
    fake.faults.add({
      method: "GET",
      path: "/certificates/kong-garbage/policy",
      fault: { kind: "garbage" },
      times: 1,
    });
    await expectRotatorError(store.getPolicy("kong-garbage"), "KV_BAD_RESPONSE");
    const leaked = '{"value":"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC';
    fake.faults.add({
      method: "GET",
      path: `/secrets/kong-garbage/${v}`,
      fault: { kind: "garbage", body: leaked },
      times: 1,
    });
    const e = await expectRotatorError(store.readPem("kong-garbage", v), "KV_BAD_RESPONSE");
    const shown = [e.message, e.hint, JSON.stringify(e), String(e), JSON.stringify(e.details)].join("\n");
    expect(shown).not.toContain("PRIVATE KEY");
    expect(shown).not.toContain("MIIEvQ");
    expect(e.cause).toBeUndefined();
  });

  it.each([
    ["Microsoft.KeyVault/vaults/secrets/", "readPem", "Key Vault Secrets User"],
    ["Microsoft.KeyVault/vaults/keys/", "sign", "Key Vault Crypto User"],
    ["Microsoft.KeyVault/vaults/certificates/", "createVersion", "Key Vault Certificates Officer"],
  ] as const)(
    "maps a persistent 403 on %s to KV_FORBIDDEN naming the missing role",
    async (prefix, op, role) => {
      const v = await fake.seedCertificate("kong-forbidden", pemPolicy());
      fake.deny(prefix);
      const from = fake.requests.length;
      const run =
        op === "readPem"
          ? store.readPem("kong-forbidden", v)
          : op === "sign"
            ? store.signer("kong-forbidden", v, { x5t: "x" }).sign(Buffer.from("input"), "RS256")
            : store.createVersion("kong-forbidden", POLICY, {});
      const e = await expectRotatorError(run, "KV_FORBIDDEN");
      expect(e.status).toBe(403);
      expect(e.hint).toContain(role);
      expect(e.details).toMatchObject({ kvCode: "Forbidden" });
      // 403 is not retried.
      expect((await log(from)).filter((c) => c.endsWith(" 403"))).toHaveLength(op === "sign" ? 2 : 1);
    },
  );
});

describe("plain secrets (vault-reference mode)", () => {
  it("writes with a content type, reads the latest version back, and disables it idempotently", async () => {
    const secrets = store.secrets!;
    const from = fake.requests.length;
    const value = JSON.stringify({ d: "private-d", p: "private-p" });
    await secrets.set("kong-jwk-orders-api-abc", value, "application/json");
    expect(await secrets.get("kong-jwk-orders-api-abc")).toEqual({ value, contentType: "application/json" });
    expect(await secrets.disable("kong-jwk-orders-api-abc")).toBe("disabled");
    await expectRotatorError(secrets.get("kong-jwk-orders-api-abc"), "KV_VERSION_DISABLED");
    expect(await secrets.disable("kong-jwk-orders-api-abc")).toBe("disabled");
    expect(await secrets.disable("kong-jwk-never-written")).toBe("absent");
    // The SecretClient's first request is the anonymous challenge (401).
    expect((await log(from)).filter((l) => !l.endsWith(" 401"))).toEqual([
      "PUT /secrets/kong-jwk-orders-api-abc 200",
      "GET /secrets/kong-jwk-orders-api-abc/ 200",
      "GET /secrets/kong-jwk-orders-api-abc/ 200",
      expect.stringMatching(/^PATCH \/secrets\/kong-jwk-orders-api-abc\/[0-9a-f]{32} 200$/) as string,
      "GET /secrets/kong-jwk-orders-api-abc/ 403",
      "GET /secrets/kong-jwk-orders-api-abc/ 403",
      "GET /secrets/kong-jwk-never-written/ 404",
    ]);
  });

  it("maps a missing secrets role to KV_FORBIDDEN", async () => {
    fake.deny("Microsoft.KeyVault/vaults/secrets/getSecret");
    await store.secrets!.set("kong-jwk-denied", "{}", "application/json");
    await expectRotatorError(store.secrets!.get("kong-jwk-denied"), "KV_FORBIDDEN");
  });
});
