/**
 * The alert rules against days of replayed telemetry (issue 18). Days pass on a fake clock; the real
 * function handlers run as the Functions host would run them in queue mode: rotationTimer on the hour,
 * syncCheckTimer every 15 minutes, rotationWork for each visible queue message (a failing one retried
 * after host.json's visibilityTimeout, moved to the poison queue after maxDequeueCount attempts) and
 * rotationPoison for those. Behind the runtime are the in-memory Key Vault, Entra app, token endpoint and
 * Kong (test/support/memory) sharing the fake clock. The rotator's structured events go through the
 * OpenTelemetry logs SDK to the in-memory exporter; its records become Application Insights customEvents
 * rows as the Azure Monitor exporter makes them (custom events named by microsoft.custom_event.name, the
 * attributes as customDimensions). Key Vault's audit rows (AZKVAuditLogs) come from the in-memory vault's
 * call log, each write attributed to the rotator's identity unless an operator made it.
 *
 * Every rule of infra/app/alert-rules.json, the file the Bicep builds the Azure Monitor rules from, is
 * evaluated on its own schedule by test/support/alert-rules.ts. Expected: an idle week in queue mode
 * (with a renewal in it) fires nothing; the dead-man rule fires when ticks stop or fail; each fault fires
 * its own rule within one evaluation period, and recovery clears it within one more.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { InvocationContext, type Timer } from "@azure/functions";
import { logs } from "@opentelemetry/api-logs";
import { hrTimeToMilliseconds } from "@opentelemetry/core";
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import type { TokenCredential } from "@azure/identity";
import { parseConfig, type Policy } from "../../src/config/load.js";
import { createRuntime, type Runtime } from "../../src/app/runtime.js";
import { WORK_QUEUE } from "../../src/adapters/queue/names.js";
import { CUSTOM_EVENT_NAME_ATTRIBUTE, otelLogger } from "../../src/log/otel.js";
import { CUSTOM_EVENTS } from "../../src/telemetry/azure.js";
import { INSTRUMENTATION_NAME } from "../../src/telemetry/metrics.js";
import { setFunctionsRuntime } from "../../src/functions/runtime.js";
import { rotationTimerHandler } from "../../src/functions/rotationTimer.js";
import { syncCheckTimerHandler } from "../../src/functions/syncCheckTimer.js";
import { rotationPoisonHandler, rotationWorkHandler } from "../../src/functions/rotationQueue.js";
import { RotatorError } from "../../src/errors.js";
import { parseDuration } from "../../src/duration.js";
import { newRequest, requestTag } from "../../src/engine/requests.js";
import { TAG_PHASE } from "../../src/engine/tags.js";
import type { WorkQueue } from "../../src/ports/infrastructure.js";
import { CLIENT_ID, TENANT_ID, createWorld, type World } from "../support/memory/world.js";
import { hygieneProcessors, installHygieneProviders } from "../chaos/hygiene-otel.js";
import {
  AlertMonitor,
  loadAlertDefinitions,
  windowMs,
  type AlertEpisode,
  type Deployment,
  type Row,
  type Tables,
} from "../support/alert-rules.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const START = "2026-01-05T00:00:00.000Z";

const defs = loadAlertDefinitions();
const rule = (key: string) => defs.rules.find((r) => r.key === key)!;
const ROTATOR_OID = "7c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e";
const OPERATOR_OID = "0f9e8d7c-6b5a-4493-8271-605f4e3d2c1b";
const deployment: Deployment = { rotationIntervalHours: 1, rotatorPrincipalId: ROTATOR_OID };

/** The queue settings the Functions host applies (host.json extensions.queues). */
const hostQueues = (
  JSON.parse(readFileSync("host.json", "utf8")) as {
    extensions: { queues: { visibilityTimeout: string; maxDequeueCount: number } };
  }
).extensions.queues;
const [h, m, s] = hostQueues.visibilityTimeout.split(":").map(Number) as [number, number, number];
const VISIBILITY_TIMEOUT_MS = ((h * 60 + m) * 60 + s) * 1000;

const exporter = new InMemoryLogRecordExporter();

beforeAll(() => {
  // In place of the secret-hygiene capture's provider, with its processor kept (test/chaos/hygiene-otel.ts).
  logs.disable();
  logs.setGlobalLoggerProvider(
    new LoggerProvider({
      processors: [new SimpleLogRecordProcessor({ exporter }), ...hygieneProcessors().logs],
    }),
  );
});

afterAll(() => {
  setFunctionsRuntime(undefined);
  logs.disable();
  installHygieneProviders();
});

interface Message {
  id: number;
  body: string;
  visibleAt: number;
  dequeueCount: number;
}

/** The Functions host's queue triggers over an in-memory queue and its poison queue, on the fake clock. */
class QueueHost {
  readonly work: Message[] = [];
  readonly poison: Message[] = [];
  poisoned = 0;
  private ids = 0;

  constructor(private readonly world: World) {}

  readonly queue: WorkQueue = {
    name: WORK_QUEUE,
    send: async (body, delayMs = 0) => {
      // A visibility timeout is whole seconds.
      const delay = Math.floor(delayMs / 1000) * 1000;
      this.work.push({
        id: ++this.ids,
        body,
        visibleAt: this.world.clock.now().getTime() + delay,
        dequeueCount: 0,
      });
    },
  };

  nextVisible(): number {
    return Math.min(...[...this.work, ...this.poison].map((x) => x.visibleAt));
  }

  /** Deliver every message visible now, as the host does: the trigger gets the parsed JSON. */
  async deliver(): Promise<void> {
    for (;;) {
      const now = this.world.clock.now().getTime();
      const w = this.work.find((x) => x.visibleAt <= now);
      const p = w ? undefined : this.poison.find((x) => x.visibleAt <= now);
      const msg = w ?? p;
      if (!msg) return;
      const queue = w ? this.work : this.poison;
      queue.splice(queue.indexOf(msg), 1);
      msg.dequeueCount++;
      const context = new InvocationContext({
        invocationId: `msg-${msg.id}-${msg.dequeueCount}`,
        functionName: w ? "rotationWork" : "rotationPoison",
        triggerMetadata: { dequeueCount: msg.dequeueCount },
        logHandler: () => undefined,
      });
      try {
        await (w ? rotationWorkHandler : rotationPoisonHandler)(JSON.parse(msg.body), context);
      } catch (e) {
        if (!w) throw e;
        if (msg.dequeueCount >= hostQueues.maxDequeueCount) {
          this.poisoned++;
          this.poison.push({ ...msg, dequeueCount: 0, visibleAt: this.world.clock.now().getTime() });
        } else
          this.work.push({ ...msg, visibleAt: this.world.clock.now().getTime() + VISIBILITY_TIMEOUT_MS });
      }
    }
  }
}

const timer = (isPastDue: boolean): Timer => ({
  isPastDue,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: START, next: START, lastUpdated: START },
});

const context = (functionName: string) =>
  new InvocationContext({ invocationId: functionName, functionName, logHandler: () => undefined });

interface ReplayOptions {
  policy?: Partial<Policy>;
  expiryWarning?: string;
}

interface Replay {
  world: World;
  host: QueueHost;
  monitor: AlertMonitor;
  /** Rows as Application Insights and Log Analytics would hold them. */
  tables(): Tables;
  /**
   * Run the deployment until `until`: timers on their schedules, queue messages as they become visible,
   * every rule evaluated on its schedule. `stopped`: the Function App does not run (evaluations go on).
   */
  run(until: Date | number, options?: { stopped?: boolean }): Promise<void>;
  /** Do something as an operator (another identity): Key Vault writes made meanwhile are audited as theirs. */
  asOperator<T>(fn: () => Promise<T>): Promise<T>;
  /** Timer invocations that threw (the host records them as failed). */
  failedTicks: string[];
}

/** A credential in the in-memory world behind the real handlers, on the fake clock, in queue mode. */
function startReplay(options: ReplayOptions = {}): Replay {
  exporter.reset();
  const world = createWorld({ start: START, targets: [{ name: "edge" }], policy: options.policy ?? {} });
  const host = new QueueHost(world);
  const logger = otelLogger({
    name: INSTRUMENTATION_NAME,
    customEvents: CUSTOM_EVENTS,
    clock: world.clock,
  });
  const parsed = parseConfig({
    keyVault: { url: "https://replay.vault.azure.net" },
    credentials: [
      {
        name: world.cred.name,
        certificateName: world.cred.certificateName,
        entra: { tenantId: TENANT_ID, clientId: CLIENT_ID },
        kong: world.cred.kong,
      },
    ],
    ...(options.expiryWarning ? { alerts: { expiryWarning: options.expiryWarning } } : {}),
  });
  const config = { ...parsed, credentials: [world.cred] };
  const noIdentity: TokenCredential = { getToken: async () => null };
  const base = createRuntime({
    config,
    env: {},
    clock: world.clock,
    logger,
    lease: "none",
    credential: noIdentity,
  });
  // The composition root's own runtime, with the in-memory services and queue in place of Azure's.
  const rt: Runtime = { ...base, queue: host.queue, enginePorts: () => ({ ...world.ports, logger }) };
  setFunctionsRuntime(rt);

  const audit: Row[] = [];
  let audited = 0;
  let caller = ROTATOR_OID;
  const OPERATIONS: Record<string, string> = {
    "store.createVersion": "CertificateCreate",
    "store.updateVersion": "CertificateUpdate",
    "store.importVersion": "CertificateImport",
  };
  /** Key Vault's AuditEvent rows for the vault calls made since the last look. */
  const collectAudit = () => {
    for (const entry of world.calls.log.slice(audited)) {
      const operation = OPERATIONS[entry.op];
      if (operation)
        audit.push({
          TimeGenerated: world.clock.now(),
          OperationName: operation,
          ResultSignature: entry.ok ? "OK" : "InternalServerError",
          Id: `https://replay.vault.azure.net/certificates/${world.cred.certificateName}`,
          CallerIpAddress: "10.0.0.4",
          Identity: { claim: { "http://schemas.microsoft.com/identity/claims/objectidentifier": caller } },
        });
    }
    audited = world.calls.log.length;
  };

  const customEvents = (): Row[] =>
    exporter.getFinishedLogRecords().flatMap((r) => {
      const name = r.attributes[CUSTOM_EVENT_NAME_ATTRIBUTE];
      if (typeof name !== "string") return [];
      const customDimensions = Object.fromEntries(
        Object.entries(r.attributes).filter(([k]) => k !== CUSTOM_EVENT_NAME_ATTRIBUTE),
      );
      return [{ timestamp: new Date(hrTimeToMilliseconds(r.hrTime)), name, customDimensions }];
    });
  const tables = (): Tables => ({ customEvents: customEvents(), AZKVAuditLogs: audit });

  const monitor = new AlertMonitor(defs, deployment, world.clock.now());
  const failedTicks: string[] = [];
  const every = { rotation: HOUR, sync: 15 * MINUTE };
  let nextRotation = Math.ceil(world.clock.now().getTime() / every.rotation) * every.rotation;
  let nextSync = Math.ceil(world.clock.now().getTime() / every.sync) * every.sync;

  const tick = async (name: string, handler: typeof rotationTimerHandler, due: number) => {
    try {
      await handler(timer(world.clock.now().getTime() > due + MINUTE), context(name));
    } catch (e) {
      failedTicks.push(`${new Date(due).toISOString()} ${name}: ${(e as Error).message}`);
    }
  };

  return {
    world,
    host,
    monitor,
    tables,
    failedTicks,
    async run(until, runOptions = {}) {
      const end = typeof until === "number" ? until : until.getTime();
      for (;;) {
        const t = runOptions.stopped ? Infinity : Math.min(nextRotation, nextSync, host.nextVisible());
        if (t > end) break;
        // Evaluations before this instant see what was there before it.
        monitor.advanceTo(new Date(t - 1), tables());
        if (world.clock.now().getTime() < t) world.clock.set(new Date(t));
        if (nextRotation <= t) {
          await tick("rotationTimer", rotationTimerHandler, nextRotation);
          nextRotation += every.rotation;
        }
        if (nextSync <= t) {
          await tick("syncCheckTimer", syncCheckTimerHandler, nextSync);
          nextSync += every.sync;
        }
        await host.deliver();
        collectAudit();
      }
      if (world.clock.now().getTime() < end) world.clock.set(new Date(end));
      if (runOptions.stopped) {
        // The timers resume on their schedule, with no catch-up of the ticks missed.
        nextRotation = Math.ceil(end / every.rotation) * every.rotation;
        nextSync = Math.ceil(end / every.sync) * every.sync;
      }
      monitor.advanceTo(new Date(end), tables());
    },
    async asOperator(fn) {
      collectAudit();
      caller = OPERATOR_OID;
      try {
        return await fn();
      } finally {
        collectAudit();
        caller = ROTATOR_OID;
      }
    },
  };
}

const at = (offsetMs: number) => new Date(Date.parse(START) + offsetMs);
const summary = (e: AlertEpisode[]) =>
  e.map(
    (x) => `${x.rule}[${x.instance}] ${x.firedAt.toISOString()} → ${x.resolvedAt?.toISOString() ?? "open"}`,
  );
const customEventRows = (r: Replay, name: string) =>
  (r.tables().customEvents ?? []).filter((x) => x.name === name) as {
    timestamp: Date;
    customDimensions: Record<string, unknown>;
  }[];
/** Log records of an event (custom event or not). */
const logEvents = (event: string) => exporter.getFinishedLogRecords().filter((x) => x.body === event);
/** When the first row of `event` matching `where` was emitted. */
function firstRow(r: Replay, event: string, where: Record<string, unknown>, after = 0): Date {
  const row = customEventRows(r, event).find(
    (x) =>
      x.timestamp.getTime() >= after && Object.entries(where).every(([k, v]) => x.customDimensions[k] === v),
  );
  expect(row, `a ${event} row with ${JSON.stringify(where)}`).toBeDefined();
  return row!.timestamp;
}
/** The alert fired within one evaluation period of `cause`, and (when given) resolved within one of `cure`. */
function expectEpisode(e: AlertEpisode | undefined, everyMinutes: number, cause: Date, cure?: Date): void {
  expect(e, "an alert episode").toBeDefined();
  const period = everyMinutes * MINUTE;
  expect(e!.firedAt.getTime()).toBeGreaterThanOrEqual(cause.getTime());
  expect(e!.firedAt.getTime() - cause.getTime()).toBeLessThanOrEqual(period);
  if (cure) {
    expect(e!.resolvedAt, "resolved").toBeDefined();
    expect(e!.resolvedAt!.getTime()).toBeGreaterThanOrEqual(cure.getTime());
    expect(e!.resolvedAt!.getTime() - cure.getTime()).toBeLessThanOrEqual(period);
  }
}

const kongDown = () =>
  new RotatorError(
    "KONG_UNREACHABLE",
    "Kong target edge did not answer (connection refused)",
    "Check Kong.",
    {
      retryable: true,
    },
  );
const graphDown = () =>
  new RotatorError("GRAPH_UNAVAILABLE", "Graph addKey failed with HTTP 503", "Transient.", {
    retryable: true,
  });

describe("alert rules against replayed telemetry", () => {
  it("an idle week in queue mode, with a renewal and a retirement in it, fires nothing", async () => {
    // A one-month key renewed 26 days before it expires: the renewal falls on day 5, its retirement on day 6.
    const r = startReplay({ policy: { validityMonths: 1, renewBefore: parseDuration("P26D")! } });
    await r.run(at(7 * DAY));
    expect(r.failedTicks).toEqual([]);
    expect(summary(r.monitor.episodes)).toEqual([]);

    // It was a real week: the bootstrap, then one renewal; the first key retired after its overlap.
    const versions = await r.world.store.listVersions(r.world.cred.certificateName);
    expect(versions.map((v) => v.tags[TAG_PHASE])).toEqual(["active", "retired"]);
    const heartbeats = customEventRows(r, "RotatorHeartbeat");
    const completed = (timer: string) =>
      heartbeats.filter(
        (x) => x.customDimensions.timer === timer && x.customDimensions.outcome === "completed",
      );
    // Both ends included: 00:00 on day 0 to 00:00 on day 7.
    expect(completed("rotationTimer")).toHaveLength(7 * 24 + 1);
    expect(completed("syncCheckTimer")).toHaveLength(7 * 24 * 4 + 1);
    expect(
      heartbeats.every((x) => x.customDimensions.mode === undefined || x.customDimensions.mode === "queue"),
    ).toBe(true);
    // The rotator's own certificate writes (bootstrap, renewal, phases) are audited and alert nothing.
    expect(
      (r.tables().AZKVAuditLogs ?? []).filter((x) => x.OperationName === "CertificateUpdate").length,
    ).toBeGreaterThan(5);

    // The signal the dead-man rule used to count: a run row appears only when there is work, so a 3-hour
    // window without one is the rule, not the exception, in an idle week.
    const runs = customEventRows(r, "RotationRun").map((x) => x.timestamp.getTime());
    const window = windowMs(rule("rotation-dead-man"), deployment);
    const quiet = Array.from({ length: 7 * 24 - 3 }, (_, i) => Date.parse(START) + (i + 3) * HOUR).filter(
      (t) => !runs.some((x) => x > t - window && x <= t),
    );
    expect(quiet.length).toBeGreaterThan(100);
  }, 120_000);

  it("the dead-man rule fires for each timer whose ticks stop or fail, and clears when they complete again", async () => {
    const r = startReplay();
    const deadMan = rule("rotation-dead-man");
    await r.run(at(6 * HOUR));
    expect(r.monitor.episodes).toEqual([]);

    // The Function App stops for 6 hours.
    const lastRotation = firstRow(
      r,
      "RotatorHeartbeat",
      { timer: "rotationTimer", outcome: "completed" },
      Date.parse(START) + 6 * HOUR,
    );
    const lastSync = firstRow(
      r,
      "RotatorHeartbeat",
      { timer: "syncCheckTimer", outcome: "completed" },
      Date.parse(START) + 6 * HOUR,
    );
    await r.run(at(12 * HOUR), { stopped: true });
    await r.run(at(15 * HOUR).getTime() - MINUTE);
    const window = windowMs(deadMan, deployment);
    const episode = (timer: string, after = 0) =>
      r.monitor.episodes.find(
        (e) => e.rule === deadMan.key && e.instance === timer && e.firedAt.getTime() > after,
      );
    expectEpisode(
      episode("rotationTimer"),
      deadMan.everyMinutes,
      new Date(lastRotation.getTime() + window),
      at(12 * HOUR),
    );
    expectEpisode(
      episode("syncCheckTimer"),
      deadMan.everyMinutes,
      new Date(lastSync.getTime() + window),
      at(12 * HOUR),
    );

    // The rotation timer runs but every tick fails (its certificate listing is refused): it is as dead.
    r.world.calls.failNext("store.listCertificates", Infinity, {
      error: () =>
        new RotatorError(
          "KV_FORBIDDEN",
          "Key Vault list certificates is not permitted (403)",
          "Assign the role.",
          { status: 403 },
        ),
    });
    const failingFrom = Date.parse(START) + 15 * HOUR;
    await r.run(at(21 * HOUR).getTime() - MINUTE);
    expect(r.failedTicks.length).toBe(6);
    const lastCompleted = customEventRows(r, "RotatorHeartbeat")
      .filter(
        (x) => x.customDimensions.timer === "rotationTimer" && x.customDimensions.outcome === "completed",
      )
      .at(-1)!.timestamp;
    expect(lastCompleted.getTime()).toBeLessThan(failingFrom);
    expect(
      firstRow(r, "RotatorHeartbeat", {
        timer: "rotationTimer",
        outcome: "failed",
        code: "KV_FORBIDDEN",
      }).getTime(),
    ).toBe(failingFrom);
    r.world.calls.heal("store.listCertificates");
    await r.run(at(24 * HOUR));
    expectEpisode(
      episode("rotationTimer", failingFrom),
      deadMan.everyMinutes,
      new Date(lastCompleted.getTime() + window),
      at(21 * HOUR),
    );
    // The sync-check timer kept completing: no second alert for it, and no other rule fired.
    expect(r.monitor.episodes.filter((e) => e.instance === "syncCheckTimer")).toHaveLength(1);
    expect(new Set(r.monitor.episodes.map((e) => e.rule))).toEqual(new Set([deadMan.key]));
    expect(r.monitor.open()).toEqual([]);
  }, 120_000);

  it("a Kong outage fires the sync rule within one evaluation period, and its recovery clears it", async () => {
    const r = startReplay();
    await r.run(at(3 * HOUR));
    r.world.calls.failNext("kong[edge].inspect", Infinity, { error: kongDown });
    await r.run(at(5 * HOUR));
    r.world.calls.heal("kong[edge].inspect");
    await r.run(at(8 * HOUR));

    const drift = rule("key-sync-drift");
    const cause = firstRow(r, "KeySyncDrift", { status: "firing", code: "KONG_UNREACHABLE", target: "edge" });
    const cure = firstRow(r, "KeySyncDrift", { status: "resolved", target: "edge" });
    expect(cure.getTime()).toBeGreaterThanOrEqual(Date.parse(START) + 5 * HOUR);
    expect(r.monitor.episodes).toHaveLength(1);
    expect(r.monitor.episodes[0]!.rule).toBe(drift.key);
    expect(r.monitor.episodes[0]!.instance).toBe(r.world.cred.name);
    expectEpisode(r.monitor.episodes[0], drift.everyMinutes, cause, cure);
  }, 120_000);

  it("a message that fails on every attempt is poisoned and alerts through the rotation rule, which clears on recovery", async () => {
    // Renewal is due two days after the bootstrap; Graph refuses to register the new key from day 1.
    const r = startReplay({ policy: { validityMonths: 1, renewBefore: parseDuration("P29D")! } });
    await r.run(at(DAY));
    r.world.calls.failNext("directory.addKey", Infinity, { error: graphDown });
    await r.run(at(3 * DAY));
    expect(r.host.poisoned).toBeGreaterThan(0);
    const failed = rule("key-rotation-failed");
    const cause = firstRow(r, "KeyRotationFailed", { status: "firing" });
    expect(logEvents("FleetMessagePoisoned").length).toBe(r.host.poisoned);
    r.world.calls.heal("directory.addKey");
    await r.run(at(3 * DAY + 3 * HOUR));
    const cure = firstRow(r, "KeyRotationFailed", { status: "resolved" });

    expect(r.monitor.episodes).toHaveLength(1);
    expect(r.monitor.episodes[0]).toMatchObject({ rule: failed.key, instance: r.world.cred.name });
    expectEpisode(r.monitor.episodes[0], failed.everyMinutes, cause, cure);
    // The renewal completed once Graph was back.
    const versions = await r.world.store.listVersions(r.world.cred.certificateName);
    expect(versions[0]!.tags[TAG_PHASE]).toBe("active");
    expect(versions).toHaveLength(2);
  }, 120_000);

  it("an expiring key fires the expiry rule within one evaluation period, and its renewal clears it", async () => {
    // Renewal 25 days ahead but the warning 28 days ahead: the key is reported expiring for three days.
    const r = startReplay({
      policy: { validityMonths: 1, renewBefore: parseDuration("P25D")! },
      expiryWarning: "P28D",
    });
    await r.run(at(8 * DAY));
    const expiring = rule("key-expiring");
    const cause = firstRow(r, "KeyExpiring", { status: "firing" });
    const cure = firstRow(r, "KeyExpiring", { status: "resolved" });
    expect(cure.getTime() - cause.getTime()).toBeGreaterThan(2 * DAY);
    expect(summary(r.monitor.episodes)).toHaveLength(1);
    expect(r.monitor.episodes[0]).toMatchObject({ rule: expiring.key, instance: r.world.cred.name });
    expectEpisode(r.monitor.episodes[0], expiring.everyMinutes, cause, cure);
  }, 120_000);

  it("a certificate tag written by another identity fires the Key Vault rule, which clears after its window", async () => {
    const r = startReplay();
    await r.run(at(2 * HOUR));
    const name = r.world.cred.certificateName;
    const active = (await r.world.store.listVersions(name)).find((v) => v.tags[TAG_PHASE] === "active")!;
    // An operator with Certificates Officer asks for a rotation through the tag, bypassing the API.
    await r.asOperator(() =>
      r.world.store.updateVersion(name, active.version, {
        tags: {
          ...active.tags,
          ...requestTag(newRequest("rotate", r.world.clock.now(), { force: true, actor: "someone" })),
        },
      }),
    );
    const cause = r.world.clock.now();
    await r.run(at(4 * HOUR));

    const kv = rule("keyvault-certificate-update");
    // Only the operator's write alerts, not the rotator's own writes of the rotation it started.
    expect(r.monitor.episodes).toHaveLength(1);
    expect(r.monitor.episodes[0]).toMatchObject({ rule: kv.key, instance: OPERATOR_OID });
    expectEpisode(
      r.monitor.episodes[0],
      kv.everyMinutes,
      cause,
      new Date(cause.getTime() + windowMs(kv, deployment)),
    );
    const versions = await r.world.store.listVersions(name);
    expect(versions.filter((v) => v.tags[TAG_PHASE] === "active")).toHaveLength(1);
    expect(versions.length).toBe(2);
  }, 120_000);
});
