/**
 * The status page rendered in headless Chromium (Debian's package, see test/support/chromium.ts): one
 * timeline per credential with its phases, the overlap window and "now", each Kong target's kid and sync
 * state, open alerts, the pending manual request, and no secret. The screenshot is kept as a test artifact
 * (test-artifacts/status-page.png, not committed).
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import type { CredentialView } from "../../src/app/service.js";
import { renderStatusPage } from "../../src/app/status-page.js";
import { runbookOf } from "../../src/adapters/alerts/dedup.js";
import { submitRequest } from "../../src/engine/manual.js";
import { observe } from "../../src/engine/observe.js";
import { reconcile } from "../../src/engine/reconcile.js";
import { credentialStatus, type GenerationStatus } from "../../src/engine/status.js";
import { IDP_RULES } from "../../src/idp-rules.js";
import { bootstrapped, renewed, toRenewal } from "../support/scenarios.js";
import { chromiumRequired, launchChromium, PAGE_SUITE_MARK, type Chromium } from "../support/chromium.js";

const NOW = new Date("2026-11-30T03:00:00Z");
const RUNBOOKS = "https://git.example.test/rotator/blob/main/docs/runbooks";
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs).toISOString();
const H = 3_600_000;
const D = 24 * H;

// Secret-looking strings placed where a careless message could carry them: the page must not show them.
const PEM = generateKeyPairSync("rsa", { modulusLength: 1024 })
  .privateKey.export({ format: "pem", type: "pkcs8" })
  .toString();
const JWT = "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJjbGllbnQifQ.c2lnbmF0dXJlLXZhbHVlLXRoYXQtaXMtbG9uZw";

const X5T = {
  retired: "rEtIrEd0ldK3yThumbprint0001",
  retiring: "PrEv1ousK3yThumbprint000002",
  active: "AcT1veK3yThumbprint00000003",
  stale: "B1ll1ngOldK3yThumbprint0004",
  stuck: "B1ll1ngNewK3yThumbprint0005",
};

/** `status --json` views (the type status() returns), three credentials in three states. */
const data: CredentialView[] = [
  {
    credential: "orders-api",
    idp: { client: "app 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d" },
    active: X5T.active,
    nextAction: `retire ${X5T.retiring} after ${at(22 * H)}`,
    generations: [
      {
        version: "c0ffee000000000000000000000000a3",
        phase: "active",
        enabled: true,
        x5t: X5T.active,
        createdOn: at(-2 * D - 40 * 60_000),
        notBefore: at(-2 * D - 45 * 60_000),
        publishedAt: at(-2 * D - 38 * 60_000),
        verifiedAt: at(-2 * D - 25 * 60_000),
        activatedAt: at(-2 * D),
        expiresOn: at(363 * D),
        failures: 0,
        atIdp: true,
      },
      {
        version: "c0ffee000000000000000000000000a2",
        phase: "retiring",
        enabled: true,
        x5t: X5T.retiring,
        createdOn: at(-335 * D),
        notBefore: at(-335 * D),
        publishedAt: at(-335 * D + 10 * 60_000),
        verifiedAt: at(-335 * D + 30 * 60_000),
        activatedAt: at(-335 * D + H),
        retireAfter: at(22 * H),
        expiresOn: at(30 * D),
        failures: 0,
        atIdp: true,
      },
      {
        version: "c0ffee000000000000000000000000a1",
        phase: "retired",
        enabled: false,
        x5t: X5T.retired,
        createdOn: at(-700 * D),
        notBefore: at(-700 * D),
        activatedAt: at(-700 * D + H),
        retireAfter: at(-333 * D),
        retiredAt: at(-333 * D + 2 * H),
        expiresOn: at(-335 * D + 30 * D),
        failures: 0,
        atIdp: false,
      },
    ],
    targets: [
      {
        name: "edge",
        inSync: true,
        plugins: [{ pluginId: "5f1a7c2e-0d6b-4f43-9a4e-1c2d3e4f5a6b", kid: X5T.active }],
      },
      {
        name: "internal",
        inSync: true,
        plugins: [
          { pluginId: "7a8b9c0d-1e2f-4a5b-8c7d-0e1f2a3b4c5d", workspace: "payments", kid: X5T.active },
        ],
      },
    ],
    unmanagedKeys: [],
    lastSuccess: { at: at(-2 * D), outcome: "ok", trigger: "timer" },
    trigger: {
      reason: "Renewal",
      message: "the active key expires within renewBefore (30 d)",
      dueAt: at(333 * D),
    },
    alerts: [],
  },
  {
    credential: "billing-api",
    idp: { client: "app 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d" },
    active: X5T.stale,
    nextAction: "verify B1ll1ngNewK3y… (blocked: token endpoint rejects the key)",
    generations: [
      {
        version: "beef00000000000000000000000000b2",
        phase: "published",
        enabled: true,
        x5t: X5T.stuck,
        createdOn: at(-5 * H),
        notBefore: at(-5 * H),
        publishedAt: at(-4.5 * H),
        expiresOn: at(365 * D),
        failures: 3,
        lastError: "VERIFY_TIMEOUT",
        atIdp: true,
      },
      {
        version: "beef00000000000000000000000000b1",
        phase: "active",
        enabled: true,
        x5t: X5T.stale,
        createdOn: at(-340 * D),
        notBefore: at(-340 * D),
        activatedAt: at(-340 * D + H),
        expiresOn: at(25 * D),
        failures: 0,
        atIdp: true,
      },
    ],
    targets: [
      {
        name: "edge",
        inSync: false,
        plugins: [{ pluginId: "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", kid: "Unkn0wnHandPastedKid000006" }],
      },
      {
        name: "eu-cluster",
        inSync: false,
        plugins: [],
        error: {
          code: "KONG_UNREACHABLE",
          message: `connect ECONNREFUSED 10.0.0.7:8444 while sending Bearer ${JWT}`,
          hint: "Check the Admin API URL.",
        },
      },
    ],
    unmanagedKeys: [{ keyId: "9d8c7b6a-0000-4000-8000-000000000001", displayName: "hand-made 2025" }],
    lastSuccess: { at: at(-340 * D + H), outcome: "ok", trigger: "timer" },
    lastFailure: { at: at(-20 * 60_000), outcome: "stuck", trigger: "timer", code: "VERIFY_TIMEOUT" },
    request: {
      id: "req-7f3a",
      kind: "rotate",
      requestedAt: at(-5.2 * H),
      ageSeconds: 5.2 * 3600,
      actor: "alice@contoso.com",
      reason: "INC-4711 <script>alert(1)</script> key possibly exposed",
      force: true,
      attempts: 2,
      lastAttemptAt: at(-20 * 60_000),
      lastError: "VERIFY_TIMEOUT",
    },
    trigger: {
      reason: "ManualRequest",
      message: "manual rotate requested by alice@contoso.com",
      dueAt: at(-5.2 * H),
    },
    alerts: [
      {
        event: "KeyRotationFailed",
        code: "VERIFY_TIMEOUT",
        message: `the token endpoint did not accept the new key 3 times in a row by ${at(-4 * H)}`,
        hint: "Propagation usually; check the key is listed on the app if it repeats.",
        runbook: runbookOf("KeyRotationFailed"),
        firstAt: at(-4 * H),
        lastSentAt: at(-H),
        count: 5,
      },
      {
        event: "KeySyncDrift",
        target: "edge",
        code: "KONG_DRIFT",
        message: "Kong target edge holds kid Unkn0wnHandPastedKid000006, not the active key",
        hint: "Stop the other writer of client_jwk (decK, CI); sync re-applies the active key.",
        runbook: runbookOf("KeySyncDrift"),
        firstAt: at(-3 * D),
        lastSentAt: at(-3 * H),
        count: 288,
      },
    ],
  },
  {
    credential: "legacy-app",
    idp: { client: "app 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d" },
    generations: [],
    targets: [],
    unmanagedKeys: [],
    error: {
      code: "KEYVAULT_FORBIDDEN",
      message: `Key Vault refused the call (403); leaked material would look like ${PEM}`,
      hint: "Grant Key Vault Certificates Officer to the service identity.",
    },
  },
];

describe.skipIf(!chromiumRequired)(`status page ${PAGE_SUITE_MARK}`, () => {
  let browser: Chromium;
  let page: Page;
  const requests: string[] = [];
  let html: string;

  beforeAll(async () => {
    html = renderStatusPage(data, NOW, { runbooks: RUNBOOKS });
    browser = await launchChromium();
    page = await browser.context.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    // Self-contained: any request the page makes (stylesheet, font, image, script) is recorded and refused.
    await page.route("**/*", async (route) => {
      requests.push(route.request().url());
      await route.abort();
    });
    await page.setContent(html, { waitUntil: "load" });
    mkdirSync("test-artifacts", { recursive: true });
    writeFileSync("test-artifacts/status-page.html", html);
    await page.screenshot({ path: "test-artifacts/status-page.png", fullPage: true });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("is one self-contained document: no request, no script", async () => {
    expect(requests).toEqual([]);
    expect(await page.locator("script").count()).toBe(0);
    expect(await page.locator("link, img, iframe").count()).toBe(0);
    expect(await page.title()).toMatch(/^\(2\) Kong key rotation status/);
  });

  it("has one section per credential, in order, with its state", async () => {
    const sections = page.locator("section.credential");
    expect(await sections.evaluateAll((s) => s.map((e) => [e.dataset.credential, e.dataset.state]))).toEqual([
      ["orders-api", "ok"],
      ["billing-api", "problem"],
      ["legacy-app", "problem"],
    ]);
  });

  it("draws one timeline per credential with generations, each phase, the overlap window and now", async () => {
    const orders = page.locator('section[data-credential="orders-api"]');
    expect(await orders.locator("svg.timeline").count()).toBe(1);
    expect(await orders.locator("g.generation").evaluateAll((g) => g.map((e) => e.dataset.phase))).toEqual([
      "active",
      "retiring",
      "retired",
    ]);
    const phasesOf = (x5t: string) =>
      orders
        .locator(`g.generation[data-x5t="${x5t}"] rect.segment`)
        .evaluateAll((r) => r.map((e) => e.dataset.phase));
    expect(await phasesOf(X5T.active)).toEqual(["pending", "published", "verified", "active"]);
    expect(await phasesOf(X5T.retiring)).toEqual(["pending", "published", "verified", "active", "retiring"]);
    expect(await phasesOf(X5T.retired)).toEqual(["pending", "active", "retiring", "retired"]);
    expect(await orders.locator(`g.overlap[data-x5t="${X5T.retiring}"]`).count()).toBe(1);
    expect(await orders.locator("g.now").count()).toBe(1);
    // The now line sits inside the plot, after the active key's activation and before the overlap ends.
    const box = async (sel: string) => (await orders.locator(sel).first().boundingBox())!;
    const now = await box("g.now line");
    const activated = await box(`g.generation[data-x5t="${X5T.active}"] rect.segment[data-phase="active"]`);
    const overlap = await box(`g.overlap[data-x5t="${X5T.retiring}"] rect`);
    expect(activated.x).toBeLessThan(now.x);
    expect(overlap.x).toBeLessThan(now.x);
    expect(overlap.x + overlap.width).toBeGreaterThan(now.x);

    const billing = page.locator('section[data-credential="billing-api"]');
    expect(await billing.locator("svg.timeline").count()).toBe(1);
    expect(await billing.locator("g.generation").evaluateAll((g) => g.map((e) => e.dataset.phase))).toEqual([
      "published",
      "active",
    ]);
    const legacy = page.locator('section[data-credential="legacy-app"]');
    expect(await legacy.locator("svg.timeline").count()).toBe(0);
    expect(await legacy.innerText()).toMatch(/No key generation yet/);
  });

  it("shows the dates of every generation", async () => {
    const row = page.locator(
      `section[data-credential="orders-api"] table.generations tr[data-x5t="${X5T.retiring}"]`,
    );
    const text = await row.innerText();
    for (const iso of [
      data[0]!.generations[1]!.createdOn!,
      data[0]!.generations[1]!.activatedAt!,
      data[0]!.generations[1]!.retireAfter!,
      data[0]!.generations[1]!.expiresOn!,
    ])
      expect(text).toContain(`${iso.slice(0, 16).replace("T", " ")}Z`);
    expect(text).toMatch(/in 22 h/);
  });

  it("shows each Kong target's kid and sync state", async () => {
    const targets = (name: string) =>
      page
        .locator(`section[data-credential="${name}"] table.targets tr[data-target]`)
        .evaluateAll((r) => r.map((e) => [e.dataset.target, e.dataset.sync, e.textContent]));
    const orders = await targets("orders-api");
    expect(orders.map(([t, s]) => [t, s])).toEqual([
      ["edge", "in-sync"],
      ["internal", "in-sync"],
    ]);
    expect(orders[0]![2]).toContain(X5T.active);
    const billing = await targets("billing-api");
    expect(billing.map(([t, s]) => [t, s])).toEqual([
      ["edge", "out-of-sync"],
      ["eu-cluster", "error"],
    ]);
    expect(billing[0]![2]).toContain("Unkn0wnHandPastedKid000006");
    expect(billing[1]![2]).toContain("KONG_UNREACHABLE");
  });

  it("lists open alerts and highlights the problems", async () => {
    const billing = page.locator('section[data-credential="billing-api"]');
    expect(
      await billing
        .locator("table.alerts tr[data-event]")
        .evaluateAll((r) => r.map((e) => [e.dataset.event, e.dataset.code])),
    ).toEqual([
      ["KeyRotationFailed", "VERIFY_TIMEOUT"],
      ["KeySyncDrift", "KONG_DRIFT"],
    ]);
    const problems = await billing.locator("li.finding.problem").allInnerTexts();
    expect(problems.join("\n")).toMatch(/Kong target edge is not on the active key/);
    expect(problems.join("\n")).toMatch(/open alert KeySyncDrift \[edge\]: KONG_DRIFT/);
    expect(await page.locator('section[data-credential="orders-api"] .alerts-none').count()).toBe(1);
    expect(await page.locator('section[data-credential="legacy-app"]').innerText()).toMatch(
      /KEYVAULT_FORBIDDEN[\s\S]*Alert state unavailable/,
    );
  });

  it("shows the pending manual request and why the next run acts, escaped", async () => {
    const request = page.locator('section[data-credential="billing-api"] .request[data-request="req-7f3a"]');
    const text = await request.innerText();
    expect(text).toMatch(/Pending manual rotate request/);
    expect(text).toMatch(/alice@contoso\.com/);
    expect(text).toContain("<script>alert(1)</script>");
    expect(text).toMatch(/attempts\s*2/);
    expect(text).toMatch(/VERIFY_TIMEOUT/);
    expect(await page.locator('section[data-credential="billing-api"] .trigger.due').innerText()).toMatch(
      /A new key is due now[\s\S]*ManualRequest[\s\S]*manual rotate requested by alice/,
    );
    expect(
      await page.locator('section[data-credential="orders-api"] .trigger:not(.due)').innerText(),
    ).toMatch(/Next rotation[\s\S]*Renewal[\s\S]*in 333 d/);
    expect(await page.locator('section[data-credential="orders-api"] .request').count()).toBe(0);
  });

  it("alert rows carry the message, the hint and a link to the runbook", async () => {
    const rows = page.locator('section[data-credential="billing-api"] table.alerts tr[data-event]');
    const drift = rows.filter({ has: page.locator("td", { hasText: "KONG_DRIFT" }) });
    const text = await drift.innerText();
    expect(text).toMatch(/holds kid Unkn0wnHandPastedKid000006, not the active key/);
    expect(text).toMatch(/hint: Stop the other writer of client_jwk/);
    expect(await drift.locator("a.runbook").getAttribute("href")).toBe(`${RUNBOOKS}/key-sync-drift.md`);
    expect(await rows.locator("a.runbook").evaluateAll((a) => a.map((e) => e.getAttribute("href")))).toEqual([
      `${RUNBOOKS}/key-rotation-failed.md`,
      `${RUNBOOKS}/key-sync-drift.md`,
    ]);
  });

  it("writes every time like the rest: no raw ISO timestamp on the page", async () => {
    const text = await page.locator("body").innerText();
    expect(text).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
    // The next action (retire … at a time) and an alert message carried ISO times: both are rewritten.
    expect(await page.locator('section[data-credential="orders-api"] .summary').innerText()).toContain(
      `after ${at(22 * H)
        .slice(0, 16)
        .replace("T", " ")}Z`,
    );
  });

  it("shows no secret", async () => {
    const shown = `${html}\n${await page.content()}\n${await page.locator("body").innerText()}`;
    expect(shown).not.toContain(JWT);
    expect(shown).not.toContain(PEM.split("\n")[1]!);
    expect(shown).not.toMatch(/PRIVATE KEY/);
    expect(shown).toContain("[REDACTED]");
  });
});

/** Views built by the engine itself (memory world): a rollback, a renewal ahead, an alert on a target in sync. */
describe.skipIf(!chromiumRequired)(`status page of the engine's own views, ${PAGE_SUITE_MARK}`, () => {
  let browser: Chromium;
  let page: Page;
  let view: CredentialView;
  let rolledBack: GenerationStatus;
  let restored: GenerationStatus;
  let pageNow: Date;

  beforeAll(async () => {
    const w = await renewed();
    await submitRequest(w.cred, w.ports, { kind: "rollback", actor: "alice" });
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("ok");
    pageNow = w.clock.now();
    const status = credentialStatus(await observe(w.cred, w.ports), pageNow);
    rolledBack = status.generations.find((g) => g.rolledBackAt !== undefined)!;
    restored = status.generations.find((g) => g.phase === "active")!;
    view = {
      ...status,
      alerts: [
        {
          event: "KeyRotationFailed",
          target: "edge",
          code: "KONG_NOT_CONFIRMED",
          message: "Kong target edge: gateway dp-2 did not confirm the new key",
          hint: "The next run resumes the confirmation.",
          runbook: runbookOf("KeyRotationFailed"),
          firstAt: new Date(pageNow.getTime() - H).toISOString(),
          lastSentAt: new Date(pageNow.getTime() - H).toISOString(),
          count: 2,
        },
      ],
    };
    browser = await launchChromium();
    page = await browser.context.newPage();
    await page.setContent(renderStatusPage([view], pageNow), { waitUntil: "load" });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("never shows a target in sync while an open alert names it", async () => {
    expect(view.targets.find((t) => t.name === "edge")?.inSync).toBe(true);
    const rows = await page
      .locator("table.targets tr[data-target]")
      .evaluateAll((r) => r.map((e) => [e.dataset.target, e.dataset.sync]));
    expect(rows).toEqual([
      ["edge", "alert"],
      ["internal", "in-sync"],
    ]);
    const edge = await page.locator('table.targets tr[data-target="edge"]').innerText();
    expect(edge).not.toMatch(/in sync/);
    expect(edge).toMatch(/ALERT KONG_NOT_CONFIRMED[\s\S]*dp-2 did not confirm/);
  });

  it("shows the rollback on the timeline and in the table", async () => {
    const mark = page.locator(`g.generation[data-x5t="${rolledBack.x5t}"] g.rollback`);
    expect(await mark.count()).toBe(1);
    expect(await mark.getAttribute("data-rolled-back")).toBe(rolledBack.rolledBackAt);
    expect(await mark.locator("title").textContent()).toMatch(/^rolled back \d{4}-\d{2}-\d{2} \d{2}:\d{2}Z/);
    const from = await page.locator(`table.generations tr[data-x5t="${rolledBack.x5t}"]`).innerText();
    expect(from).toMatch(/retiring[\s\S]*rolled back/);
    const to = await page.locator(`table.generations tr[data-x5t="${restored.x5t}"]`).innerText();
    expect(to).toMatch(/active[\s\S]*restored by the rollback/);
    expect(await page.locator("li.finding.note").allInnerTexts()).toEqual(
      expect.arrayContaining([expect.stringMatching(/^rolled back at .*: Kong went back from/)]),
    );
  });

  it("says when renewal will happen until it is due, and that it is due once it is", async () => {
    const renews = new Date(Date.parse(view.trigger!.dueAt)).toISOString().slice(0, 10);
    const block = await page.locator(".trigger").innerText();
    expect(block).toMatch(/Next rotation/);
    expect(block).toContain(`renews on ${renews}`);
    expect(block).not.toMatch(/within renewBefore/);
    // Once due (a minute past the renewal time of a plain bootstrapped key), it says so instead.
    const w = await bootstrapped();
    toRenewal(w);
    const due = credentialStatus(await observe(w.cred, w.ports), w.clock.now());
    await page.setContent(renderStatusPage([{ ...due, alerts: [] }], w.clock.now()), { waitUntil: "load" });
    const dueBlock = await page.locator(".trigger.due").innerText();
    expect(dueBlock).toMatch(/A new key is due now[\s\S]*Renewal[\s\S]*within renewBefore/);
    expect(dueBlock).not.toMatch(/renews on/);
  });

  it("names each credential's own provider in the legend", async () => {
    const as = (credential: string, client: string, published: string): CredentialView => ({
      ...structuredClone(view),
      credential,
      idp: { client, published },
    });
    const okta = as("okta-app", "Okta app 0oa1", IDP_RULES.okta.published);
    const auth0 = as("auth0-app", "Auth0 client abc", IDP_RULES.auth0.published);
    await page.setContent(renderStatusPage([okta, auth0], pageNow), { waitUntil: "load" });
    const published = await page.locator('.legend li[data-phase="published"]').innerText();
    expect(published).toContain("registered and ACTIVE on the Okta app");
    expect(published).toContain("attached to the Auth0 application");
    expect(await page.locator("body").innerText()).not.toMatch(/Entra/);
    await page.setContent(renderStatusPage([view], pageNow), { waitUntil: "load" });
    expect(await page.locator('.legend li[data-phase="published"]').innerText()).toMatch(
      /^published\s+listed on the Entra app$/,
    );
  });
});

describe("status page without a browser", () => {
  it("names the runbook of each open alert when no runbook URL is configured", () => {
    const html = renderStatusPage([data[1]!], NOW);
    expect(html).toContain("docs/runbooks/key-rotation-failed.md");
    expect(html).not.toContain('<a class="runbook"');
  });

  it("escapes every value", () => {
    const page = renderStatusPage(
      [
        {
          credential: `x"><img src=x onerror=alert(1)>`,
          idp: { client: "app 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d" },
          generations: [],
          targets: [],
          unmanagedKeys: [],
          alerts: [],
        },
      ],
      NOW,
    );
    expect(page).not.toContain("<img");
    expect(page).toContain("x&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
  });
});
