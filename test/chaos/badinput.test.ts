/** Bad input and the HTTP surface (chaos/suites/badinput.ts): every case, as in `npm run chaos`. */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startChaosStack, type ChaosStack } from "../../chaos/lib/stack.js";
import { badInput } from "../../chaos/suites/badinput.js";
import { KNOWN_MUTATING } from "../../chaos/report.js";
import { START_TIMEOUT_MS } from "../../stack/azurite.js";

let cs: ChaosStack;
beforeAll(async () => {
  cs = await startChaosStack();
}, START_TIMEOUT_MS + 60_000);
afterAll(async () => {
  await cs?.close();
});

it("refuses every bad input with a code and a hint, and with no external mutation", async () => {
  const { cases, surface } = await badInput(cs);
  expect(cases.length).toBeGreaterThanOrEqual(30);
  for (const c of cases) {
    expect(c.hint, c.name).toBe(true);
    if (KNOWN_MUTATING.has(c.name))
      expect(c.ok, `${c.name} now passes: remove it from KNOWN_MUTATING`).toBe(false);
    else expect(c, c.name).toMatchObject({ ok: true, mutations: 0 });
  }
  expect(surface.keysAsDesigned).toBe(true);
  expect(surface.httpFunctions.map((f) => f.name)).toEqual(
    expect.arrayContaining(["rotateCredential", "listCredentials", "getCredential"]),
  );
  expect(surface.oversizedRefused).toBe(true);
  expect(surface.internalErrorOpaque).toBe(true);
  expect(surface.secretNotEchoed).toBe(true);
  expect(surface.auditLines).toBe(surface.manualRequests);
  expect(surface.cliRotateAudited).toBe(true);
  expect(cs.capture.check()).toEqual([]);
}, 120_000);
