import { describe, expect, it } from "vitest";
import { DOCUMENTED_LIMITS, effectiveLimits } from "../../src/limits.js";
import { generateKeyPairSync } from "node:crypto";
import { createLimiters, slidingWindow, writeSlot } from "../../src/app/limited.js";
import { registeredIdp } from "../../src/adapters/idp/registry.js";
import { throttledDirectory } from "../../src/adapters/idp/entra/entry.js";
import { localSigner } from "../../src/crypto/jws.js";
import { FakeClock } from "../support/fake-clock.js";

describe("rate limits", () => {
  it("documents each value with its source, and lets the configuration override the count", () => {
    expect(DOCUMENTED_LIMITS.keyVaultCreates).toMatchObject({ requests: 20, perMs: 10_000 });
    expect(DOCUMENTED_LIMITS.keyVaultOther).toMatchObject({ requests: 4_000, perMs: 10_000 });
    expect(DOCUMENTED_LIMITS.graphWritesPerApp.source).toContain(
      "learn.microsoft.com/graph/throttling-limits",
    );
    const l = effectiveLimits({ keyVaultCreates: 10 });
    expect(l.keyVaultCreates).toMatchObject({ requests: 10, perMs: 10_000 });
    expect(l.keyVaultOther.requests).toBe(4_000);
  });

  it("a sliding window grants N calls per window and makes the next one wait for room", async () => {
    const clock = new FakeClock();
    const start = clock.now().getTime();
    const w = slidingWindow({ requests: 20, perMs: 10_000, source: "test" }, clock);
    const at: number[] = [];
    for (let i = 0; i < 45; i++) {
      await w.take();
      at.push(clock.now().getTime() - start);
    }
    expect(at.filter((t) => t < 10_000)).toHaveLength(20);
    expect(at.filter((t) => t >= 10_000 && t < 20_000)).toHaveLength(20);
    expect(at.filter((t) => t >= 20_000)).toHaveLength(5);
  });

  it("acquire reserves the next free slot instead of waiting past the budget; a later caller claims it", async () => {
    const clock = new FakeClock();
    const start = clock.now().getTime();
    const w = slidingWindow({ requests: 2, perMs: 10_000, source: "test" }, clock);
    expect(await w.acquire(1_000)).toEqual({ granted: true });
    expect(await w.acquire(1_000)).toEqual({ granted: true });
    const third = await w.acquire(1_000);
    const fourth = await w.acquire(1_000);
    expect(third.granted).toBe(false);
    expect(fourth.granted).toBe(false);
    const at3 = third.granted ? 0 : third.at.getTime() - start;
    const at4 = fourth.granted ? 0 : fourth.at.getTime() - start;
    // Distinct reservations, one window (plus the arrival margin) after the grants they follow.
    expect(at3).toBeGreaterThanOrEqual(10_000);
    expect(at4).toBe(at3);
    expect(await w.acquire(1_000)).toMatchObject({ granted: false });
    clock.advance(at3);
    expect(await w.acquire(0)).toEqual({ granted: true });
    expect(await w.acquire(0)).toEqual({ granted: true });
    expect(clock.now().getTime() - start).toBe(at3);
  });
});

describe("identity-provider key writes under the fleet's limiters", () => {
  it("each write takes a slot of every limit the provider's entry declares, in order; reads take none", async () => {
    const clock = new FakeClock();
    const limiters = createLimiters(effectiveLimits(), clock);
    const taken: string[] = [];
    for (const name of ["graphWritesPerApp", "graphWritesPerTenant"] as const) {
      const l = limiters[name];
      limiters[name] = { ...l, take: async () => void taken.push(name) };
    }
    const entra = registeredIdp({ kind: "entra", tenantId: "t", clientId: "c" }).writeLimits;
    expect(entra).toEqual(["graphWritesPerTenant", "graphWritesPerApp"]);
    const slot = writeSlot(limiters, entra);
    const calls: string[] = [];
    const app = { objectId: "o", appId: "c", displayName: "d", keyCredentials: [], passwordCredentials: [] };
    const directory = throttledDirectory(
      {
        getApplication: async () => (calls.push("get"), app),
        addKey: async () => (calls.push("add"), { keyId: "k", type: "AsymmetricX509Cert", usage: "Verify" }),
        removeKey: async () => void calls.push("remove"),
        patchKeyCredentials: async () => (calls.push("patch"), app),
        removePassword: async () => void calls.push("removePassword"),
      },
      slot,
    );
    await directory.getApplication("c");
    expect(taken).toEqual([]);
    await directory.removeKey(
      app,
      "k",
      localSigner(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, "x"),
    );
    await directory.patchKeyCredentials(app, { removeKeyIds: ["k"] });
    await directory.removePassword(app, "p");
    expect(calls).toEqual(["get", "remove", "patch", "removePassword"]);
    expect(taken).toEqual([
      "graphWritesPerTenant",
      "graphWritesPerApp",
      "graphWritesPerTenant",
      "graphWritesPerApp",
      "graphWritesPerTenant",
      "graphWritesPerApp",
    ]);
    // Okta and Auth0 declare none: their writes wait for nothing (their 429s are honoured instead).
    expect(
      registeredIdp({ kind: "okta", orgUrl: "https://o", clientId: "c", token: { env: "T" } }).writeLimits,
    ).toEqual([]);
  });
});
