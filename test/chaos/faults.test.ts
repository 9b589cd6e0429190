/**
 * Faults per adapter, persistent failures with deduplicated alerts, and the gateway login probe under a
 * short churn of rotations with random faults (chaos/suites/faults.ts, churn.ts), reduced for `npm test`
 * (fewer runs and rotations; every adapter and every dependency still faulted).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startChaosStack, type ChaosStack } from "../../chaos/lib/stack.js";
import { FAULT_RETRY, adapterFaults, persistentFailures } from "../../chaos/suites/faults.js";
import { loginUnderChurn } from "../../chaos/suites/churn.js";

let cs: ChaosStack;
beforeAll(async () => {
  cs = await startChaosStack();
}, 60_000);
afterAll(async () => {
  await cs?.close();
});

it("every adapter honours Retry-After, backs off under the cap on 5xx/resets/timeouts, and gives up with a typed error", async () => {
  const results = await adapterFaults(cs);
  expect(new Set(results.map((r) => r.adapter))).toEqual(
    new Set(["Key Vault", "Graph", "Entra token endpoint", "Kong Admin API", "Alert webhook"]),
  );
  for (const r of results) expect(r, `${r.adapter} / ${r.fault}`).toMatchObject({ ok: true });
  const throttled = results.filter((r) => r.fault === "429 Retry-After: 2");
  expect(throttled.every((r) => r.waitsMs.every((w) => w === 2000))).toBe(true);
  expect(
    results
      .filter((r) => r.fault === "persistent 503")
      .every((r) => r.retries === FAULT_RETRY.maxAttempts - 1),
  ).toBe(true);
}, 120_000);

it("a persistent failure of each dependency raises exactly one alert over repeated runs, changes nothing unsafe, and resolves", async () => {
  // Every dependency, the token endpoint included: there the forced rotation cannot even be recorded
  // (no token for Key Vault), which `rotate` returns as an alerted error rather than throwing.
  const results = await persistentFailures(cs, 2);
  expect(results.map((p) => p.dependency)).toEqual([
    "Key Vault (create)",
    "Graph (addKey)",
    "Entra token endpoint",
    "Kong Admin API (PATCH)",
  ]);
  expect(results.find((p) => p.dependency === "Entra token endpoint")?.code).toBe("KV_UNAUTHORIZED");
  for (const p of results) {
    expect(p, p.dependency).toMatchObject({
      alertsFiring: 1,
      reminders: 0,
      resolved: 1,
      kongKeyUnchanged: true,
      unsafeTransitions: 0,
      converged: true,
    });
    expect(p.violations).toEqual([]);
  }
}, 120_000);

it("the gateway keeps logging in while rotations run back to back with random faults", async () => {
  const r = await loginUnderChurn(cs, { rotations: 3, seed: 7 });
  expect(r.rotations).toBe(3);
  expect(r.loginsAttempted).toBeGreaterThan(0);
  expect(r.failures).toEqual([]);
  expect(r.loginsFailed).toBe(0);
  expect(r.violations).toEqual([]);
  expect(r.endState).toMatch(/appKeys=\[active\] kong=active partner=kept/);
  expect(cs.capture.check()).toEqual([]);
}, 120_000);
