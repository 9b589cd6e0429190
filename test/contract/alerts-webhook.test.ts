/**
 * Webhook alert sink over real HTTPS to the local webhook receiver (trusted through the local CA):
 * payload formats, retry on 5xx / 429, no retry on a refused URL, and secret hygiene.
 */
import { generateKeyPairSync } from "node:crypto";
import { resolve } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import { startWebhookReceiver, type RunningWebhookReceiver } from "../../stack/webhook-receiver.js";
import { createWebhookSink, type WebhookFormat } from "../../src/adapters/alerts/webhook-sink.js";
import { createAlerter } from "../../src/adapters/alerts/dedup.js";
import { createMemoryAlertStateStore } from "../../src/adapters/alerts/state-memory.js";
import type { Clock, Logger } from "../../src/ports/engine.js";
import type { RetryPolicy } from "../../src/http/retry.js";
import type { AlertEvent } from "../../src/ports/infrastructure.js";

const fastRetry: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 1,
  maxDelayMs: 4,
  attemptTimeoutMs: 5_000,
  maxRetryAfterMs: 60_000,
};

function fakeClock(): Clock & { slept: number[] } {
  const slept: number[] = [];
  let t = Date.parse("2026-03-01T00:00:00Z");
  return { slept, now: () => new Date(t), sleep: async (ms) => void (slept.push(ms), (t += ms)) };
}

function recordingLogger(): Logger & { events: Array<{ event: string; fields: Record<string, unknown> }> } {
  const events: Array<{ event: string; fields: Record<string, unknown> }> = [];
  return { events, log: (_l, event, fields = {}) => void events.push({ event, fields }) };
}

const event: AlertEvent = {
  event: "KeyRotationFailed",
  status: "firing",
  credential: "prod-app",
  target: "kong-eu",
  phase: "published",
  code: "ENTRA_PROPAGATION_TIMEOUT",
  message: "new key not accepted by the token endpoint after 300 s <check> & retry",
  hint: "Entra propagation can take minutes; the next run continues from 'published'.",
  time: "2026-03-01T00:00:00.000Z",
};

let receiver: RunningWebhookReceiver;

beforeAll(async () => {
  const ca = await ensureCa(resolve(".local/ca"));
  receiver = await startWebhookReceiver(await issueServerTls(ca));
});
afterAll(async () => {
  await receiver?.close();
});
beforeEach(() => {
  receiver.received.length = 0;
});

function sink(format: WebhookFormat, path: string, extra: { clock?: Clock; logger?: Logger } = {}) {
  return createWebhookSink({
    url: `${receiver.url}${path}`,
    format,
    clock: extra.clock ?? fakeClock(),
    retryPolicy: fastRetry,
    ...(extra.logger ? { logger: extra.logger } : {}),
  });
}

describe("webhook alert sink", () => {
  it("posts the AlertEvent itself in the generic format", async () => {
    await sink("generic", "/generic/hook").send(event);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]).toMatchObject({ path: "/generic/hook", body: event });
  });

  it("posts a Teams message with one Adaptive Card attachment", async () => {
    await sink("teams", "/teams/workflow").send(event);
    const body = receiver.received[0]?.body as {
      type: string;
      attachments: Array<{
        contentType: string;
        content: { type: string; version: string; body: Array<Record<string, unknown>> };
      }>;
    };
    expect(body.type).toBe("message");
    expect(body.attachments).toHaveLength(1);
    expect(body.attachments[0]?.contentType).toBe("application/vnd.microsoft.card.adaptive");
    const card = body.attachments[0]?.content;
    expect(card).toMatchObject({ type: "AdaptiveCard", version: "1.4" });
    expect(card?.body[0]).toMatchObject({
      type: "TextBlock",
      color: "Attention",
      text: "[FIRING] Key rotation failed: prod-app / kong-eu",
    });
    const facts = card?.body.find((b) => b.type === "FactSet")?.facts;
    expect(facts).toEqual(
      expect.arrayContaining([
        { title: "Code", value: "ENTRA_PROPAGATION_TIMEOUT" },
        { title: "Phase", value: "published" },
      ]),
    );
  });

  it("posts Slack {text, blocks}, escaping mrkdwn control characters", async () => {
    await sink("slack", "/slack/services/T0/B0/x").send({ ...event, status: "resolved" });
    const body = receiver.received[0]?.body as { text: string; blocks: Array<Record<string, unknown>> };
    expect(body.text).toContain("[RESOLVED] Key rotation failed: prod-app / kong-eu");
    expect(body.blocks[0]).toMatchObject({ type: "header", text: { type: "plain_text" } });
    expect(body.blocks[1]).toMatchObject({
      type: "section",
      text: {
        type: "mrkdwn",
        text: "new key not accepted by the token endpoint after 300 s &lt;check&gt; &amp; retry",
      },
    });
    expect(body.blocks.some((b) => b.type === "context")).toBe(true);
  });

  it("retries a 500 and then delivers once", async () => {
    const logger = recordingLogger();
    receiver.failNext(2, 500);
    await sink("generic", "/generic/flaky", { logger }).send(event);
    expect(receiver.received).toHaveLength(1);
    expect(logger.events.filter((e) => e.event === "AlertWebhookRetry")).toHaveLength(2);
  });

  it("honours Retry-After on 429", async () => {
    const clock = fakeClock();
    receiver.failNext(1, 429);
    await sink("slack", "/slack/throttled", { clock }).send(event);
    expect(clock.slept).toEqual([1000]);
    expect(receiver.received).toHaveLength(1);
  });

  it("gives up after the retry budget with ALERT_WEBHOOK_FAILED", async () => {
    receiver.failNext(4, 502);
    await expect(sink("generic", "/generic/down").send(event)).rejects.toMatchObject({
      code: "ALERT_WEBHOOK_FAILED",
      status: 502,
    });
    expect(receiver.received).toHaveLength(0);
  });

  it("does not retry a payload the receiver rejects, and names only the host", async () => {
    const logger = recordingLogger();
    const generic = createWebhookSink({
      url: `${receiver.url}/teams/secret-path-token`,
      format: "generic",
      clock: fakeClock(),
      retryPolicy: fastRetry,
      logger,
    });
    const error = await generic.send(event).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ALERT_WEBHOOK_FAILED", status: 400 });
    expect(logger.events).toEqual([]);
    expect(JSON.stringify(error)).not.toContain("secret-path-token");
    expect(generic.name).not.toContain("secret-path-token");
  });

  it("reports an unreachable host as ALERT_WEBHOOK_UNREACHABLE", async () => {
    const dead = createWebhookSink({
      url: "https://127.0.0.1:1/hook",
      format: "generic",
      clock: fakeClock(),
      retryPolicy: fastRetry,
    });
    await expect(dead.send(event)).rejects.toMatchObject({ code: "ALERT_WEBHOOK_UNREACHABLE" });
  });

  it("refuses a plain-http webhook URL", () => {
    expect(() => createWebhookSink({ url: "http://hooks.example.com/x", format: "slack" })).toThrow(
      expect.objectContaining({ code: "ALERT_WEBHOOK_INVALID" }),
    );
  });

  it("never sends key material or tokens, in any format", async () => {
    const pem = generateKeyPairSync("rsa", { modulusLength: 2048 })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString();
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const jwt = `${b64({ alg: "PS256", x5t: "abc" })}.${b64({ aud: "https://login.microsoftonline.com/t/oauth2/v2.0/token", iss: "c", sub: "c" })}.c2lnbmF0dXJlLXNpZ25hdHVyZQ`;
    const pemBodyLine = pem.split("\n")[5] ?? "";
    expect(pemBodyLine.length).toBeGreaterThan(40);
    const leaky: AlertEvent = {
      ...event,
      message: `token endpoint said no to ${jwt} using key ${pem}`,
      hint: `try again with Bearer ${jwt}`,
    };

    for (const [format, path] of [
      ["generic", "/generic/leak"],
      ["teams", "/teams/leak"],
      ["slack", "/slack/leak"],
    ] as const) {
      await sink(format, path).send(leaky);
    }
    expect(receiver.received).toHaveLength(3);
    for (const r of receiver.received) {
      const text = JSON.stringify(r.body);
      expect(text).not.toContain(pemBodyLine);
      expect(text).not.toContain("PRIVATE KEY");
      expect(text).not.toContain(jwt);
      expect(text).not.toContain(jwt.split(".")[1]);
      expect(text).toContain("[REDACTED]");
    }
  });

  it("carries an alerter's firing and resolved notifications end to end", async () => {
    const clock = fakeClock();
    const alerter = createAlerter({
      sinks: [sink("slack", "/slack/ops", { clock }), sink("teams", "/teams/ops", { clock })],
      state: createMemoryAlertStateStore(),
      clock,
      remindEveryMs: 3_600_000,
      logger: recordingLogger(),
    });
    const condition = {
      event: "KeySyncDrift",
      credential: "prod-app",
      target: "kong-eu",
      code: "KONG_JWK_MISMATCH",
      message: "drift",
    } as const;
    await alerter.report(condition, true);
    await alerter.report(condition, true);
    await alerter.report({ ...condition, message: "in sync" }, false);
    const seen = receiver.received.map((r) => [
      r.path,
      JSON.stringify(r.body).match(/\[(FIRING|RESOLVED)\]/)?.[1],
    ]);
    expect(seen).toEqual(
      expect.arrayContaining([
        ["/slack/ops", "FIRING"],
        ["/teams/ops", "FIRING"],
        ["/slack/ops", "RESOLVED"],
        ["/teams/ops", "RESOLVED"],
      ]),
    );
    expect(seen).toHaveLength(4);
  });
});
