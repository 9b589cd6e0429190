/**
 * The one HTTP edge every adapter uses: the transient-status table and retry decision
 * (src/http/transient.ts), the token-endpoint proof and its classification (src/http/token-request.ts), and
 * the Kong read-back comparison (src/adapters/kong/common/readback.ts).
 */
import { generateKeyPairSync } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { checkReadBack, readBackMismatch } from "../../src/adapters/kong/common/readback.js";
import { localSigner, type JwsSigner } from "../../src/crypto/jws.js";
import { RotatorError } from "../../src/errors.js";
import { defaultRetryPolicy, TimeoutError } from "../../src/http/retry.js";
import {
  judgeTokenAnswer,
  proveAtTokenEndpoint,
  type RefusalContext,
  type TokenProof,
} from "../../src/http/token-request.js";
import { HttpStatusError, isTransientStatus, NoAnswer, retryDecision } from "../../src/http/transient.js";
import { FakeClock } from "../support/fake-clock.js";
import { failure, kongJwk } from "../support/kong-jwk.js";

describe("the transient-status table", () => {
  it("is 408, 429 and every 5xx but 501 and 505", () => {
    const transient: number[] = [];
    for (let s = 100; s <= 599; s++) if (isTransientStatus(s)) transient.push(s);
    const fivexx = Array.from({ length: 100 }, (_, i) => 500 + i).filter((s) => s !== 501 && s !== 505);
    expect(transient).toEqual([408, 429, ...fivexx]);
  });

  it("leaves out what no later attempt fixes", () => {
    for (const s of [200, 204, 301, 400, 401, 403, 404, 405, 409, 412, 422, 501, 505])
      expect(isTransientStatus(s), String(s)).toBe(false);
  });
});

describe("retryDecision", () => {
  const coded = (code: string, nested = false) =>
    nested
      ? new TypeError("fetch failed", { cause: Object.assign(new Error("socket"), { code }) })
      : Object.assign(new Error(code), { code });

  it("retries a transient status after the wait the server asked for, and no other status", () => {
    expect(retryDecision(new HttpStatusError(429, 2_000))).toEqual({ retry: true, retryAfterMs: 2_000 });
    expect(retryDecision(new HttpStatusError(500, undefined))).toEqual({ retry: true });
    expect(retryDecision(new HttpStatusError(504, 7_000))).toEqual({ retry: true, retryAfterMs: 7_000 });
    for (const s of [400, 401, 404, 409, 501, 505])
      expect(retryDecision(new HttpStatusError(s, 1))).toEqual({ retry: false });
  });

  it("re-sends a request that is not idempotent only when it cannot have been processed", () => {
    const once = { idempotent: false };
    for (const s of [408, 429, 503])
      expect(retryDecision(new HttpStatusError(s, undefined), once).retry).toBe(true);
    for (const s of [500, 502, 504])
      expect(retryDecision(new HttpStatusError(s, undefined), once).retry).toBe(false);
    expect(retryDecision(new TimeoutError("t"), once).retry).toBe(false);
    expect(retryDecision(new NoAnswer("n"), once).retry).toBe(false);
    expect(retryDecision(coded("ECONNRESET"), once).retry).toBe(false);
    // Never connected: safe to send again.
    for (const code of ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT"])
      expect(retryDecision(coded(code), once).retry, code).toBe(true);
  });

  it("retries lost connections and timeouts of idempotent requests, found through the cause chain", () => {
    expect(retryDecision(new TimeoutError("t"))).toEqual({ retry: true });
    expect(retryDecision(new NoAnswer("n"))).toEqual({ retry: true });
    for (const code of ["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_HEADERS_TIMEOUT"]) {
      expect(retryDecision(coded(code)).retry, code).toBe(true);
      expect(retryDecision(coded(code, true)).retry, `${code} as a cause`).toBe(true);
    }
  });

  it("does not retry our own failures or what another attempt meets again", () => {
    expect(retryDecision(new RotatorError("KONG_BAD_RESPONSE", "m", "h"))).toEqual({ retry: false });
    expect(retryDecision(new Error("a bug"))).toEqual({ retry: false });
    expect(retryDecision(coded("CERT_HAS_EXPIRED"))).toEqual({ retry: false });
    expect(retryDecision(coded("ERR_TLS_CERT_ALTNAME_INVALID", true))).toEqual({ retry: false });
  });
});

describe("judgeTokenAnswer", () => {
  const ctx: RefusalContext = { alg: "RS256", algorithmAllowed: true };
  const body = (error: string, description?: string) =>
    JSON.stringify({ error, ...(description ? { error_description: description } : {}) });

  it("leaves transient answers to the retry loop", () => {
    for (const status of [408, 429, 500, 502, 503, 504])
      expect(judgeTokenAnswer({ status, text: "" }, ctx), String(status)).toBe("transient");
  });

  it("judges every other answer with the refusal rule: final, or polled again", () => {
    expect(judgeTokenAnswer({ status: 400, text: body("invalid_scope") }, ctx)).toMatchObject({
      code: "invalid_scope",
      retryable: false,
    });
    expect(judgeTokenAnswer({ status: 401, text: body("invalid_client", "key not found") }, ctx)).toEqual({
      ok: false,
      code: "invalid_client",
      description: "key not found",
      retryable: true,
    });
    expect(judgeTokenAnswer({ status: 501, text: "<html>" }, ctx)).toEqual({
      ok: false,
      code: "HTTP_501",
      description: "the token endpoint answered 501",
      retryable: true,
    });
  });

  it("reports the provider's own code and description when its reader gives them", () => {
    const read = () => ({
      error: "invalid_client",
      description: "AADSTS700027: bad key",
      code: "AADSTS700027",
    });
    expect(judgeTokenAnswer({ status: 401, text: "{}" }, ctx, read)).toMatchObject({
      code: "AADSTS700027",
      description: "AADSTS700027: bad key",
      retryable: true,
    });
  });
});

describe("proveAtTokenEndpoint", () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => server?.close(r));
    server = undefined;
  });

  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const signer = localSigner(privateKey, "x5t-of-the-key");
  const fast = { ...defaultRetryPolicy, maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20 };

  /** A token endpoint on loopback answering from `answers` in turn (the last one repeats). */
  async function endpoint(
    answers: { status: number; body?: string; headers?: Record<string, string> }[],
  ): Promise<{ url: string; forms: URLSearchParams[] }> {
    const forms: URLSearchParams[] = [];
    const read = (req: IncomingMessage) =>
      new Promise<string>((r) => {
        let s = "";
        req.on("data", (c: Buffer) => (s += c.toString()));
        req.on("end", () => r(s));
      });
    server = createServer((req, res) => {
      void read(req).then((text) => {
        forms.push(new URLSearchParams(text));
        const a = answers[Math.min(forms.length, answers.length) - 1]!;
        res.writeHead(a.status, { "content-type": "application/json", ...a.headers });
        res.end(a.body ?? "{}");
      });
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}/token`, forms };
  }

  const proof = (url: string, more: Partial<TokenProof> = {}): TokenProof => ({
    endpoint: url,
    clientId: "client-1",
    signer,
    alg: "RS256",
    params: { client_id: "client-1", scope: "api/.default" },
    refusal: { algorithmAllowed: true },
    ...more,
  });

  it("sends one client-credentials request with the assertion and the provider's parameters", async () => {
    const e = await endpoint([{ status: 200, body: '{"access_token":"t"}' }]);
    const clock = new FakeClock(new Date());
    expect(await proveAtTokenEndpoint(proof(e.url), { clock, policy: fast })).toEqual({ ok: true });
    const [form] = e.forms;
    expect(Object.fromEntries(form!)).toMatchObject({
      grant_type: "client_credentials",
      client_id: "client-1",
      scope: "api/.default",
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    });
    const claims = JSON.parse(
      Buffer.from(form!.get("client_assertion")!.split(".")[1]!, "base64url").toString(),
    );
    expect(claims).toMatchObject({ iss: "client-1", sub: "client-1", aud: e.url });
    expect(claims.exp - claims.iat).toBe(300);
  });

  it("retries a transient answer after the provider's wait, with a fresh assertion each time", async () => {
    const e = await endpoint([{ status: 429, headers: { "x-reset-in": "3" } }, { status: 200 }]);
    const clock = new FakeClock(new Date());
    const start = clock.now().getTime();
    const retryAfter = (_s: number, h: Record<string, string | string[] | undefined>) =>
      Number(h["x-reset-in"]) * 1000;
    const attempt = await proveAtTokenEndpoint(proof(e.url, { retryAfter, lifetimeSec: 60 }), {
      clock,
      policy: fast,
    });
    expect(attempt).toEqual({ ok: true });
    expect(clock.now().getTime() - start).toBe(3000);
    const [a, b] = e.forms.map((f) => f.get("client_assertion"));
    expect(a).not.toBe(b);
  });

  it("reports a token endpoint that stays unavailable as retryable, and a refusal as judged", async () => {
    const down = await endpoint([{ status: 503 }]);
    const clock = new FakeClock(new Date());
    expect(await proveAtTokenEndpoint(proof(down.url), { clock, policy: fast })).toEqual({
      ok: false,
      code: "TOKEN_ENDPOINT_UNAVAILABLE",
      description: "the token endpoint did not answer successfully (HTTP 503)",
      retryable: true,
    });
    expect(down.forms).toHaveLength(fast.maxAttempts);
    await new Promise((r) => server?.close(r));
    const refused = await endpoint([{ status: 400, body: '{"error":"unauthorized_client"}' }]);
    expect(await proveAtTokenEndpoint(proof(refused.url), { clock, policy: fast })).toMatchObject({
      code: "unauthorized_client",
      retryable: false,
    });
    expect(refused.forms).toHaveLength(1);
  });

  it("refuses an assertion over the provider's size before sending, and never retries a failing signer", async () => {
    const e = await endpoint([{ status: 200 }]);
    const clock = new FakeClock(new Date());
    const small = { bytes: 100, code: "IDP_ASSERTION_TOO_LARGE", provider: "the IdP" };
    expect(
      await proveAtTokenEndpoint(proof(e.url, { maxAssertion: small }), { clock, policy: fast }),
    ).toMatchObject({
      code: "IDP_ASSERTION_TOO_LARGE",
      retryable: false,
    });
    let signs = 0;
    const broken: JwsSigner = {
      x5t: "x",
      sign: () => {
        signs++;
        return Promise.reject(new Error("vault unreachable"));
      },
    };
    const err = await failure(
      proveAtTokenEndpoint(proof(e.url, { signer: broken }), { clock, policy: fast }),
    );
    expect(err.code).toBe("ASSERTION_SIGNING_FAILED");
    expect(signs).toBe(1);
    expect(e.forms).toHaveLength(0);
  });
});

describe("Kong read-back", () => {
  const jwk = kongJwk("kid-new");

  it("holds when kid, n, e and alg are the key written; Kong's nulls for unset members do not matter", () => {
    expect(readBackMismatch({ ...jwk, extra: null }, jwk)).toEqual([]);
    // Vault-reference mode: the private members read back as references, which are not compared.
    expect(readBackMismatch({ ...jwk, d: "{vault://azure/k/d}", p: "{vault://azure/k/p}" }, jwk)).toEqual([]);
  });

  it("names every member that differs", () => {
    const other = kongJwk("kid-other");
    expect(readBackMismatch(other, jwk)).toEqual(["kid", "n"]);
    expect(readBackMismatch({ ...jwk, n: other.n }, jwk)).toEqual(["n"]);
    expect(readBackMismatch({ ...jwk, e: "AQAC" }, jwk)).toEqual(["e"]);
    expect(readBackMismatch({ ...jwk, alg: "RS256" }, jwk)).toEqual(["alg"]);
    for (const nothing of [undefined, null, [], "x"])
      expect(readBackMismatch(nothing, jwk)).toEqual(["kid", "n", "e", "alg"]);
  });

  it("throws KONG_READBACK_MISMATCH naming where and what, never a key member", async () => {
    const other = kongJwk("kid-other");
    const e = await failure(
      Promise.resolve().then(() =>
        checkReadBack(other, jwk, {
          target: "edge",
          where: "plugin p1, client_jwk[1]",
          details: { pluginId: "p1" },
        }),
      ),
    );
    expect(e).toMatchObject({
      code: "KONG_READBACK_MISMATCH",
      retryable: true,
      details: { pluginId: "p1", mismatched: ["kid", "n"] },
    });
    expect(e.message).toBe(
      "Kong target edge: plugin p1, client_jwk[1] reads back with kid kid-other instead of kid-new (differs in kid, n)",
    );
    const text = JSON.stringify(e);
    for (const v of [jwk.n, jwk.d, other.n, other.d]) expect(text).not.toContain(v);
    expect(() => checkReadBack({ ...jwk }, jwk, { target: "edge", where: "w" })).not.toThrow();
  });
});
