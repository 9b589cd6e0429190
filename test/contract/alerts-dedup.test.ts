/**
 * Alert deduplication with its state in blobs on the REAL Azurite (ETag-conditional writes), under a
 * fake clock so reminder periods pass instantly.
 */
import type { TokenCredential } from "@azure/identity";
import type { BlobServiceClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type RunningAzurite } from "../../stack/azurite.js";
import { storageFromEnv } from "../../src/adapters/storage.js";
import { createAlerter, type AlertCondition } from "../../src/adapters/alerts/dedup.js";
import { createBlobAlertStateStore } from "../../src/adapters/alerts/state-blob.js";
import type { Clock, Logger } from "../../src/ports/engine.js";
import type { AlertEvent, AlertSink } from "../../src/ports/infrastructure.js";

const noCredential: TokenCredential = { getToken: () => Promise.reject(new Error("not used")) };
const MINUTE = 60_000;
const REMIND = 60 * MINUTE;

function fakeClock(start = Date.parse("2026-03-01T00:00:00Z")): Clock & { advance(ms: number): void } {
  let t = start;
  return { now: () => new Date(t), sleep: async (ms) => void (t += ms), advance: (ms) => void (t += ms) };
}

function recordingSink(name = "recorder"): AlertSink & { events: AlertEvent[] } {
  const events: AlertEvent[] = [];
  return { name, events, send: async (e) => void events.push(e) };
}

function recordingLogger(): Logger & { events: Array<{ event: string; fields: Record<string, unknown> }> } {
  const events: Array<{ event: string; fields: Record<string, unknown> }> = [];
  return { events, log: (_l, event, fields = {}) => void events.push({ event, fields }) };
}

let azurite: RunningAzurite;
let blob: BlobServiceClient;
let containerSeq = 0;

beforeAll(async () => {
  azurite = await startAzurite();
  const storage = storageFromEnv({ AzureWebJobsStorage: azurite.connectionString }, noCredential);
  if (!storage) throw new Error("storage not configured");
  blob = storage.blob;
});
afterAll(async () => {
  await azurite?.close();
});

/** A fresh state container per test, so tests never see each other's alerts. */
function setup(extraSinks: AlertSink[] = []) {
  const container = `alerts-${++containerSeq}`;
  const clock = fakeClock();
  const sink = recordingSink();
  const logger = recordingLogger();
  const state = createBlobAlertStateStore({ blob, container });
  const alerter = createAlerter({
    sinks: [sink, ...extraSinks],
    state,
    clock,
    remindEveryMs: REMIND,
    logger,
  });
  return { container, clock, sink, logger, state, alerter };
}

const drift: AlertCondition = {
  event: "KeySyncDrift",
  credential: "prod-app",
  target: "kong-eu",
  code: "KONG_JWK_MISMATCH",
  message: "kong-eu holds kid abc, expected def",
  hint: "Run sync for prod-app.",
  phase: "active",
};

describe("alert dedup with blob state (Azurite)", () => {
  it("fires once, stays quiet until remindEvery, reminds, then resolves once and clears its state", async () => {
    const { clock, sink, state, alerter } = setup();
    await alerter.report(drift, true);
    expect(sink.events.map((e) => e.status)).toEqual(["firing"]);
    expect(sink.events[0]).toMatchObject({
      event: "KeySyncDrift",
      credential: "prod-app",
      target: "kong-eu",
      code: "KONG_JWK_MISMATCH",
      hint: "Run sync for prod-app.",
    });

    for (let i = 0; i < 3; i++) {
      clock.advance(15 * MINUTE);
      await alerter.report(drift, true);
    }
    expect(sink.events).toHaveLength(1);

    clock.advance(15 * MINUTE);
    await alerter.report(drift, true);
    expect(sink.events.map((e) => e.status)).toEqual(["firing", "reminder"]);
    expect(sink.events[1]?.message).toContain("failing since 2026-03-01T00:00:00.000Z");

    clock.advance(MINUTE);
    await alerter.report(drift, true);
    expect(sink.events).toHaveLength(2);

    await alerter.report({ ...drift, message: "kong-eu holds the active key again" }, false);
    await alerter.report({ ...drift, message: "kong-eu holds the active key again" }, false);
    expect(sink.events.map((e) => e.status)).toEqual(["firing", "reminder", "resolved"]);
    expect(sink.events[2]).toMatchObject({
      code: "KONG_JWK_MISMATCH",
      message: "kong-eu holds the active key again",
    });
    expect(await state.list("")).toEqual([]);

    await alerter.report(drift, true);
    expect(sink.events.map((e) => e.status)).toEqual(["firing", "reminder", "resolved", "firing"]);
  });

  it("does not re-fire when the failure's code changes, and the recovery resolves the code that was firing", async () => {
    const { clock, sink, logger, state, alerter } = setup();
    await alerter.report({ ...drift, code: "KONG_UNREACHABLE" }, true);
    clock.advance(5 * MINUTE);
    await alerter.report({ ...drift, code: "KONG_FORBIDDEN" }, true);
    clock.advance(5 * MINUTE);
    await alerter.report({ ...drift, code: "KONG_UNREACHABLE" }, true);
    expect(sink.events.map((e) => e.status)).toEqual(["firing"]);
    expect(logger.events.filter((e) => e.event === "AlertCodeChanged")).toHaveLength(2);
    expect(await state.list("")).toEqual(["KeySyncDrift/prod-app/kong-eu/KONG_UNREACHABLE"]);

    clock.advance(REMIND);
    await alerter.report({ ...drift, code: "KONG_FORBIDDEN" }, true);
    expect(sink.events.map((e) => [e.status, e.code])).toEqual([
      ["firing", "KONG_UNREACHABLE"],
      ["reminder", "KONG_FORBIDDEN"],
    ]);

    await alerter.report({ ...drift, code: "OK", message: "recovered" }, false);
    expect(sink.events.at(-1)).toMatchObject({ status: "resolved", code: "KONG_FORBIDDEN" });
    expect(await state.list("")).toEqual([]);
  });

  it("keeps conditions for different targets, credentials and events apart", async () => {
    const { sink, state, alerter } = setup();
    const { target: _target, ...untargeted } = drift;
    await alerter.report(drift, true);
    await alerter.report({ ...drift, target: "kong-us" }, true);
    await alerter.report(untargeted, true);
    await alerter.report({ ...drift, credential: "other-app" }, true);
    await alerter.report({ ...drift, event: "KeyRotationFailed" }, true);
    expect(sink.events.filter((e) => e.status === "firing")).toHaveLength(5);
    expect(await state.list("")).toHaveLength(5);

    await alerter.report({ ...drift, target: "kong-us" }, false);
    expect(sink.events.filter((e) => e.status === "resolved").map((e) => e.target)).toEqual(["kong-us"]);
    expect(await state.list("")).toHaveLength(4);
  });

  it("does not notify on recovery of a condition that was never firing", async () => {
    const { sink, alerter } = setup();
    await alerter.report(drift, false);
    expect(sink.events).toEqual([]);
  });

  it("sends one firing when several runs report the same failure at once (ETag-conditional state)", async () => {
    const { container, clock } = setup();
    const sink = recordingSink();
    const alerters = Array.from({ length: 6 }, () =>
      createAlerter({
        sinks: [sink],
        state: createBlobAlertStateStore({ blob, container }),
        clock,
        remindEveryMs: REMIND,
        logger: recordingLogger(),
      }),
    );
    await Promise.all(alerters.map((a) => a.report(drift, true)));
    expect(sink.events.map((e) => e.status)).toEqual(["firing"]);

    await Promise.all(alerters.map((a) => a.report({ ...drift, message: "ok" }, false)));
    expect(sink.events.map((e) => e.status)).toEqual(["firing", "resolved"]);
  });

  it("rejects a stale write with ALERT_STATE_CONFLICT", async () => {
    const { container } = setup();
    const a = createBlobAlertStateStore({ blob, container });
    const b = createBlobAlertStateStore({ blob, container });
    const key = "KeyExpiring/prod-app/~/KEY_EXPIRING";
    const value = { firstAt: "2026-01-01T00:00:00.000Z", lastSentAt: "2026-01-01T00:00:00.000Z", count: 1 };
    expect(await a.get(key)).toBeUndefined();
    expect(await b.get(key)).toBeUndefined();
    await a.put(key, value);
    await expect(b.put(key, value)).rejects.toMatchObject({ code: "ALERT_STATE_CONFLICT" });
    expect(await b.get(key)).toEqual(value);
    await b.put(key, { ...value, count: 2 });
    await expect(a.put(key, { ...value, count: 3 })).rejects.toMatchObject({ code: "ALERT_STATE_CONFLICT" });
    await expect(a.delete(key)).rejects.toMatchObject({ code: "ALERT_STATE_CONFLICT" });
    await a.get(key);
    await a.delete(key);
    await expect(b.delete(key)).rejects.toMatchObject({ code: "ALERT_STATE_CONFLICT" });
  });

  it("keeps delivering to the other sinks when one sink fails, and logs the failure", async () => {
    const broken: AlertSink = { name: "broken", send: () => Promise.reject(new Error("sink down")) };
    const { sink, logger, alerter } = setup([broken]);
    await alerter.report(drift, true);
    expect(sink.events.map((e) => e.status)).toEqual(["firing"]);
    expect(logger.events.find((e) => e.event === "AlertSinkFailed")?.fields).toMatchObject({
      sink: "broken",
      alert: "KeySyncDrift",
      alertStatus: "firing",
    });
  });

  it("fails open when the state store is unreachable: the failure is still sent", async () => {
    const dead = storageFromEnv(
      {
        AzureWebJobsStorage: azurite.connectionString.replace(
          /:(\d+)\/devstoreaccount1/g,
          ":1/devstoreaccount1",
        ),
      },
      noCredential,
    );
    if (!dead) throw new Error("storage not configured");
    const sink = recordingSink();
    const logger = recordingLogger();
    const alerter = createAlerter({
      sinks: [sink],
      state: createBlobAlertStateStore({ blob: dead.blob }),
      clock: fakeClock(),
      remindEveryMs: REMIND,
      logger,
    });
    await alerter.report(drift, true);
    expect(sink.events.map((e) => e.status)).toEqual(["firing"]);
    expect(logger.events.find((e) => e.event === "AlertStateUnavailable")?.fields.error).toMatchObject({
      code: "ALERT_STATE_STORAGE_UNAVAILABLE",
    });
  });

  it("sends every KeyRotationSucceeded without dedup", async () => {
    const { sink, state, alerter } = setup();
    await alerter.succeeded({ credential: "prod-app", phase: "active", message: "rotated to x5t abc" });
    await alerter.succeeded({ credential: "prod-app", phase: "active", message: "rotated to x5t def" });
    expect(sink.events.map((e) => [e.event, e.status])).toEqual([
      ["KeyRotationSucceeded", "info"],
      ["KeyRotationSucceeded", "info"],
    ]);
    expect(await state.list("")).toEqual([]);
  });

  it("keeps the failed phase and a sink's missed notifications in blobs; evidence decides what resolves", async () => {
    let down = true;
    const flaky: AlertEvent[] = [];
    const { alerter, sink, state, clock } = setup([
      {
        name: "webhook:generic:hooks.example",
        send: async (e) => {
          if (down) throw new Error("connect ECONNREFUSED");
          flaky.push(e);
        },
      },
    ]);
    await alerter.report({ ...drift, phase: "observe" }, true);
    const [key] = await state.list("KeySyncDrift/");
    expect(await state.get(key!)).toMatchObject({ phase: "observe", count: 1 });
    expect(await alerter.sinkHealth()).toEqual([
      expect.objectContaining({ sink: "webhook:generic:hooks.example", undelivered: 1 }),
    ]);

    // Not failing, but no evidence for the observe phase: kept, nothing sent.
    await alerter.report(drift, false, (entry) => entry.phase !== "observe");
    expect(sink.events.map((e) => e.status)).toEqual(["firing"]);
    expect(await state.list("KeySyncDrift/")).toHaveLength(1);

    down = false;
    clock.advance(MINUTE);
    await alerter.report(drift, false, (entry) => entry.phase === "observe");
    expect(sink.events.map((e) => e.status)).toEqual(["firing", "resolved"]);
    expect(flaky.map((e) => e.status)).toEqual(["firing", "resolved"]);
    expect(await state.list("KeySyncDrift/")).toEqual([]);
    expect(await alerter.sinkHealth()).toEqual([]);
  });
});
