import { describe, expect, it } from "vitest";
import {
  conditionPrefix,
  createAlerter,
  decodeKeySegment,
  encodeKeySegment,
  readOpenAlerts,
} from "../../src/adapters/alerts/dedup.js";
import { createLogSink } from "../../src/adapters/alerts/log-sink.js";
import { createMemoryAlertStateStore } from "../../src/adapters/alerts/state-memory.js";
import { ALERT_KEY } from "../../src/adapters/alerts/state.js";
import { createDeferredWebhookSink, formatAlert } from "../../src/adapters/alerts/webhook-sink.js";
import { jsonLogger } from "../../src/log/logger.js";
import type { LogLevel } from "../../src/ports/engine.js";
import type { AlertEvent } from "../../src/ports/infrastructure.js";

const base: AlertEvent = {
  event: "KeyExpiring",
  status: "firing",
  credential: "prod-app",
  code: "KEY_EXPIRES_SOON",
  message: "active key expires in 9 days",
  time: "2026-03-01T00:00:00.000Z",
};

describe("alert state keys", () => {
  it("round-trips any text through the URL-safe key alphabet", () => {
    for (const s of ["kong-eu", "a/b", "~", "%2F", "ünï cødé", "x~7e", ""]) {
      const enc = encodeKeySegment(s);
      expect(enc).toMatch(/^[A-Za-z0-9._~-]*$/);
      expect(decodeKeySegment(enc)).toBe(s);
    }
  });

  it("gives each condition its own prefix; a target named like the no-target marker stays distinct", () => {
    const a = conditionPrefix({ event: "KeySyncDrift", credential: "c", target: "~" });
    const b = conditionPrefix({ event: "KeySyncDrift", credential: "c" });
    const c = conditionPrefix({ event: "KeySyncDrift", credential: "c", target: "a" });
    const d = conditionPrefix({ event: "KeySyncDrift", credential: "c", target: "ab" });
    expect(new Set([a, b, c, d]).size).toBe(4);
    expect(d.startsWith(c)).toBe(false);
    expect(ALERT_KEY.test(`${a}CODE`)).toBe(true);
  });
});

describe("memory alert state", () => {
  it("applies the same optimistic-concurrency contract as the blob store", async () => {
    const store = createMemoryAlertStateStore();
    const v = { firstAt: "t0", lastSentAt: "t0", count: 1 };
    expect(await store.get("E/c/~/X")).toBeUndefined();
    await store.put("E/c/~/X", v);
    expect(await store.get("E/c/~/X")).toEqual(v);
    await expect(store.delete("E/c/~/Y")).rejects.toMatchObject({ code: "ALERT_STATE_CONFLICT" });
    expect(await store.list("E/c/")).toEqual(["E/c/~/X"]);
    await expect(store.put("bad key", v)).rejects.toMatchObject({ code: "ALERT_STATE_KEY_INVALID" });
  });

  it("conflicts when a second reader writes after the first", async () => {
    const store = createMemoryAlertStateStore();
    const v = { firstAt: "t0", lastSentAt: "t0", count: 1 };
    await store.get("E/c/~/X");
    await store.put("E/c/~/X", v);
    await store.put("E/c/~/X", { ...v, count: 2 });
    await store.delete("E/c/~/X");
    await expect(store.delete("E/c/~/X")).rejects.toMatchObject({ code: "ALERT_STATE_CONFLICT" });
    await expect(store.put("E/c/~/X", v)).resolves.toBeUndefined();
  });
});

describe("webhook formats", () => {
  it("keeps Slack within Block Kit limits", () => {
    const long = {
      ...base,
      credential: "c".repeat(63),
      target: "t".repeat(63),
      message: "m".repeat(5000),
      hint: "h".repeat(5000),
    };
    const body = formatAlert(long, "slack") as {
      text: string;
      blocks: Array<{ type: string; text?: { text: string }; fields?: unknown[] }>;
    };
    expect(body.text.length).toBeLessThanOrEqual(3000);
    expect(body.blocks[0]?.text?.text.length).toBeLessThanOrEqual(150);
    expect(body.blocks[1]?.text?.text.length).toBeLessThanOrEqual(3000);
    expect(body.blocks[2]?.fields?.length).toBeLessThanOrEqual(10);
  });

  it("colours Teams cards by status", () => {
    const color = (status: AlertEvent["status"]) =>
      (
        formatAlert({ ...base, status }, "teams") as {
          attachments: Array<{ content: { body: Array<{ color?: string }> } }>;
        }
      ).attachments[0]?.content.body[0]?.color;
    expect(color("firing")).toBe("Attention");
    expect(color("reminder")).toBe("Attention");
    expect(color("resolved")).toBe("Good");
  });
});

describe("log sink", () => {
  it("logs the event under its own name with queryable dimensions and a severity per status", async () => {
    const lines: Array<{ level: LogLevel; record: Record<string, unknown> }> = [];
    const sink = createLogSink(
      jsonLogger(
        (line, level) => lines.push({ level, record: JSON.parse(line) as Record<string, unknown> }),
        "debug",
      ),
    );
    await sink.send({
      ...base,
      event: "KeyRotationFailed",
      target: "kong-eu",
      phase: "verified",
      hint: "see runbook",
    });
    await sink.send({ ...base, status: "resolved" });
    await sink.send({ ...base, message: "pem -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----" });
    expect(lines[0]).toMatchObject({
      level: "error",
      record: {
        event: "KeyRotationFailed",
        status: "firing",
        credential: "prod-app",
        target: "kong-eu",
        phase: "verified",
        code: "KEY_EXPIRES_SOON",
        hint: "see runbook",
      },
    });
    expect(lines[1]).toMatchObject({ level: "info", record: { event: "KeyExpiring", status: "resolved" } });
    expect(lines[2]?.level).toBe("warn");
    expect(JSON.stringify(lines[2]?.record)).not.toContain("MIIE");
  });
});

describe("alerter on memory state", () => {
  it("redacts messages before any sink sees them", async () => {
    const seen: AlertEvent[] = [];
    const alerter = createAlerter({
      sinks: [{ name: "r", send: async (e) => void seen.push(e) }],
      state: createMemoryAlertStateStore(),
      clock: { now: () => new Date(0), sleep: async () => {} },
      remindEveryMs: 1000,
      logger: { log() {} },
    });
    await alerter.report(
      {
        event: "KeyRotationFailed",
        credential: "c",
        code: "X",
        message: "got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
      },
      true,
    );
    expect(seen[0]?.message).toBe("got [REDACTED]");
  });
});

describe("open alerts for status", () => {
  it("lists a credential's failing conditions with target and code, and drops them on recovery", async () => {
    const state = createMemoryAlertStateStore();
    let now = Date.parse("2026-03-01T00:00:00Z");
    const alerter = createAlerter({
      sinks: [],
      state,
      clock: { now: () => new Date(now), sleep: async () => {} },
      remindEveryMs: 1000,
      logger: { log() {} },
    });
    const drift = {
      event: "KeySyncDrift",
      credential: "c",
      target: "eu/west",
      code: "KONG_DRIFT",
      message: "first look",
      hint: "h",
    } as const;
    await alerter.report(drift, true);
    now += 60_000;
    // The entry keeps the latest message and hint, for status output.
    await alerter.report({ ...drift, message: "eu/west holds kid other" }, true);
    await alerter.report({ event: "KeyExpiring", credential: "c", code: "KEY_EXPIRING", message: "m" }, true);
    await alerter.report({ event: "KeyRotationFailed", credential: "c2", code: "X", message: "m" }, true);

    // A separate store instance over the same data would be used in production; memory state is per instance.
    expect(await readOpenAlerts(state, "c")).toEqual([
      {
        event: "KeySyncDrift",
        target: "eu/west",
        code: "KONG_DRIFT",
        message: "eu/west holds kid other",
        hint: "h",
        runbook: "key-sync-drift.md",
        firstAt: "2026-03-01T00:00:00.000Z",
        lastSentAt: "2026-03-01T00:01:00.000Z",
        count: 2,
      },
      {
        event: "KeyExpiring",
        code: "KEY_EXPIRING",
        message: "m",
        runbook: "key-expiring.md",
        firstAt: "2026-03-01T00:01:00.000Z",
        lastSentAt: "2026-03-01T00:01:00.000Z",
        count: 1,
      },
    ]);
    await alerter.report({ ...drift, code: "IN_SYNC" }, false);
    expect((await readOpenAlerts(state, "c")).map((a) => a.event)).toEqual(["KeyExpiring"]);
    expect(await readOpenAlerts(state, "c2")).toHaveLength(1);
  });
});

describe("deferred webhook sink", () => {
  it("never throws when built; a URL it cannot use fails each send with a code, so the alerter logs it and retries", async () => {
    const sink = createDeferredWebhookSink({ url: "http://hooks.example.com/x", format: "teams" });
    expect(sink.name).toBe("webhook:teams:hooks.example.com");
    await expect(sink.send(base)).rejects.toMatchObject({ code: "ALERT_WEBHOOK_INVALID" });
    await expect(sink.send(base)).rejects.toMatchObject({ code: "ALERT_WEBHOOK_INVALID" });
    expect(createDeferredWebhookSink({ url: "not a url" }).name).toBe("webhook:generic:(invalid URL)");
  });

  it("a referenced URL is read on first send, names the sink by its reference, and is read again after a failure", async () => {
    const reads: unknown[] = [];
    const sink = createDeferredWebhookSink({
      url: { keyVaultSecret: "teams-hook" },
      format: "teams",
      // A URL the sink refuses (plain http off this machine): every delivery fails at once.
      resolve: async (url) => (reads.push(url), "http://hooks.example.com/secret-path"),
    });
    expect(sink.name).toBe("webhook:teams:keyVaultSecret:teams-hook");
    expect(reads).toEqual([]);
    const e = await sink.send(base).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "ALERT_WEBHOOK_INVALID" });
    expect(JSON.stringify(e)).not.toContain("secret-path");
    await sink.send(base).catch(() => undefined);
    expect(reads).toEqual([{ keyVaultSecret: "teams-hook" }, { keyVaultSecret: "teams-hook" }]);
    // Without a resolver a reference cannot be read: the send fails with a code, it does not throw at build.
    const bare = createDeferredWebhookSink({ url: { env: "HOOK" } });
    expect(bare.name).toBe("webhook:generic:env:HOOK");
    await expect(bare.send(base)).rejects.toMatchObject({ code: "ALERT_WEBHOOK_INVALID" });
  });
});
