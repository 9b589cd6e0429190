import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/duration.js";
import { backoffDelay, defaultRetryPolicy, parseRetryAfter, withRetry } from "../../src/http/retry.js";
import {
  redact,
  redactText,
  registeredSecretCount,
  registerSecret,
  REDACTED,
  withSecretScope,
} from "../../src/log/redact.js";
import { RotatorError } from "../../src/errors.js";
import { keyToKongJwk } from "../../src/crypto/keymaterial.js";
import { issueSelfSigned } from "../support/certs.js";
import type { Clock } from "../../src/ports/engine.js";

describe("durations", () => {
  it("parses ISO-8601 durations and refuses ambiguous ones", () => {
    expect(parseDuration("PT10M")).toBe(600_000);
    expect(parseDuration("P1DT12H")).toBe(36 * 3_600_000);
    expect(parseDuration("P2W")).toBe(14 * 86_400_000);
    expect(parseDuration("PT0.5S")).toBe(500);
    for (const bad of ["P", "PT", "P1M", "P1Y", "10m", ""]) expect(parseDuration(bad)).toBeUndefined();
    expect(formatDuration(36 * 3_600_000)).toBe("P1DT12H");
  });
});

describe("retry policy", () => {
  const clock = (): Clock & { slept: number[] } => {
    const slept: number[] = [];
    return { slept, now: () => new Date(), sleep: async (ms) => void slept.push(ms) };
  };

  it("reads Retry-After as seconds or an HTTP date", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("7", now)).toBe(7000);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:03 GMT", now)).toBe(3000);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
  });

  it("backs off exponentially with jitter, capped", () => {
    const p = { ...defaultRetryPolicy, baseDelayMs: 1000, maxDelayMs: 16_000 };
    expect(backoffDelay(1, p, () => 0)).toBe(500);
    expect(backoffDelay(3, p, () => 1)).toBe(4000);
    expect(backoffDelay(10, p, () => 1)).toBe(16_000);
  });

  it("honours the server's Retry-After, then gives up after maxAttempts", async () => {
    const c = clock();
    let calls = 0;
    const result = await withRetry(
      async () => {
        if (++calls < 3) throw Object.assign(new Error("throttled"), { code: "THROTTLED" });
        return "ok";
      },
      () => ({ retry: true, retryAfterMs: 2000 }),
      { clock: c },
    );
    expect(result).toBe("ok");
    expect(c.slept).toEqual([2000, 2000]);
    const c2 = clock();
    await expect(
      withRetry(
        async () => {
          throw new Error("down");
        },
        () => ({ retry: true }),
        { clock: c2, policy: { ...defaultRetryPolicy, maxAttempts: 3 } },
      ),
    ).rejects.toThrow("down");
    expect(c2.slept).toHaveLength(2);
  });

  it("does not retry what the classifier refuses, and times out hung attempts", async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new Error("400");
        },
        () => ({ retry: false }),
      ),
    ).rejects.toThrow("400");
    expect(calls).toBe(1);
    const c = clock();
    const hung = withRetry(
      (_a, signal) =>
        new Promise((_r, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
      (e) => ({ retry: (e as Error).name === "TimeoutError" }),
      { clock: c, policy: { ...defaultRetryPolicy, attemptTimeoutMs: 20, maxAttempts: 2 } },
    );
    await expect(hung).rejects.toThrow(/timed out/);
    expect(c.slept).toHaveLength(1);
  });
});

describe("secret hygiene", () => {
  it("forgets the secrets of a run when it ends: the registry does not grow across runs", async () => {
    const baseline = registeredSecretCount();
    for (let run = 0; run < 50; run++) {
      const secret = `kv-secret-of-run-${run}-${"x".repeat(20)}`;
      await withSecretScope(async () => {
        registerSecret(secret);
        await new Promise((r) => setImmediate(r));
        expect(redactText(`leak ${secret}`)).toBe(`leak ${REDACTED}`);
        expect(registeredSecretCount()).toBe(baseline + 1);
      });
      // After the run: no longer held (the patterns still apply to PEMs, tokens and JWK members).
      expect(redactText(`later ${secret}`)).toBe(`later ${secret}`);
    }
    expect(registeredSecretCount()).toBe(baseline);
  });

  it("keeps concurrent runs apart and bounds registrations made outside any run", async () => {
    await Promise.all(
      ["run-a-secret-value", "run-b-secret-value"].map((mine, i, all) =>
        withSecretScope(async () => {
          registerSecret(mine);
          await new Promise((r) => setTimeout(r, 5));
          expect(redactText(mine)).toBe(REDACTED);
          expect(redactText(all[1 - i]!)).toBe(all[1 - i]);
        }),
      ),
    );
    const baseline = registeredSecretCount();
    for (let i = 0; i < 100; i++) registerSecret(`unscoped-secret-${i}-padding`);
    expect(registeredSecretCount()).toBeLessThanOrEqual(baseline + 16);
    expect(redactText("unscoped-secret-99-padding")).toBe(REDACTED);
  });

  it("scrubs PEM keys, tokens, bearer headers, private JWK members and registered secrets", () => {
    registerSecret("kong-admin-s3cret-token");
    const text = [
      "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
      "Authorization: Bearer abc.def-ghi",
      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
      '{"kty":"RSA","n":"public","d":"secret-d","qi":"secret-qi"}',
      "token kong-admin-s3cret-token",
    ].join("\n");
    const out = redactText(text);
    for (const s of ["MIIEvQ", "abc.def", "eyJhbGci", "secret-d", "secret-qi", "kong-admin-s3cret-token"])
      expect(out).not.toContain(s);
    expect(out).toContain('"n":"public"');
  });

  it("redact() copies shared arrays and objects each time they appear, and cuts only true cycles", () => {
    const shared = { kid: "k1", d: "shared-private-d" };
    const list = [shared, { kid: "k2" }];
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    cyclic.list = list;
    const v = redact({ a: list, b: list, c: { again: list, jwk: { ...shared, kty: "RSA" } }, cyclic });
    const copy = [{ kid: "k1", d: "shared-private-d" }, { kid: "k2" }];
    expect(v.a).toEqual(copy);
    expect(v.b).toEqual(copy);
    expect(v.c.again).toEqual(copy);
    expect(v.c.jwk).toEqual({ kid: "k1", d: REDACTED, kty: "RSA" });
    expect(v.a).not.toBe(list);
    expect(v.cyclic).toEqual({ name: "loop", self: "[Circular]", list: copy });
    // An array holding itself, and an error whose JSON form reaches back to an ancestor.
    const arr: unknown[] = [1];
    arr.push(arr);
    expect(redact(arr)).toEqual([1, "[Circular]"]);
    const holder: Record<string, unknown> = {};
    const err = Object.assign(new Error("boom"), { toJSON: () => ({ message: "boom", holder }) });
    holder.err = err;
    expect(redact(holder)).toEqual({ err: { message: "boom", holder: "[Circular]" } });
  });

  it("registers the private members of every JWK it builds: they are redacted wherever they appear", async () => {
    const { privateKey, der } = await issueSelfSigned({
      subject: "CN=registered-members",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
    });
    await withSecretScope(async () => {
      const jwk = keyToKongJwk(privateKey, der, "PS256");
      const loose = { n: jwk.n, d: jwk.d, p: jwk.p }; // no kty: the structural rule does not apply
      const text = JSON.stringify(redact({ loose, quoted: `Kong said: invalid value ${jwk.qi}` }));
      for (const m of ["d", "p", "q", "dp", "dq", "qi"] as const) expect(redactText(jwk[m])).toBe(REDACTED);
      expect(text).not.toContain(jwk.d);
      expect(text).not.toContain(jwk.qi);
      expect(text).toContain(jwk.n);
    });
  });

  it("redacts structured values, including RotatorError", () => {
    const v = redact({
      jwk: { kty: "RSA", kid: "abc", d: "dd", p: "pp" },
      headers: { authorization: "Bearer x", "kong-admin-token": "t" },
      err: new RotatorError("X", "failed for eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl", "hint"),
    });
    expect(v.jwk).toEqual({ kty: "RSA", kid: "abc", d: REDACTED, p: REDACTED });
    expect(v.headers).toEqual({ authorization: REDACTED, "kong-admin-token": REDACTED });
    expect(JSON.stringify(v.err)).not.toContain("eyJ");
  });
});
