/**
 * The alert state machine with a fake clock: every transition (fire, stay quiet, remind, resolve, and
 * "no evidence": a run that ends fine but never reached the failure keeps it firing), judged from run and
 * sync reports by src/app/alert-evidence.ts and kept by the real alerter on the memory state store.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { createAlerter, type Alerter } from "../../src/adapters/alerts/dedup.js";
import { createMemoryAlertStateStore } from "../../src/adapters/alerts/state-memory.js";
import {
  failedPhase,
  judgeNotStarted,
  judgeRun,
  judgeSync,
  judgeSyncError,
  reportJudgements,
} from "../../src/app/alert-evidence.js";
import type { RunReport, StepRecord } from "../../src/engine/reconcile.js";
import type { PlannedAction } from "../../src/engine/plan.js";
import type { CredentialStatus, TargetStatus } from "../../src/engine/status.js";
import type { SyncFinding, SyncReport } from "../../src/engine/sync.js";
import type { AlertEvent, AlertSink, AlertStateStore } from "../../src/ports/infrastructure.js";
import type { Logger } from "../../src/ports/engine.js";
import { FakeClock } from "../support/fake-clock.js";

const HOUR = 3_600_000;
const TARGETS = ["eu", "us"];
const CRED = "orders-api";

// ------------------------------------------------------------------------------------------------
// Report builders (only the fields the judgements read)
// ------------------------------------------------------------------------------------------------

type TargetState = "ok" | "unreadable" | "drift";

function targets(states: Partial<Record<string, TargetState>> = {}): TargetStatus[] {
  return TARGETS.map((name) => {
    const s = states[name] ?? "ok";
    return {
      name,
      plugins: [],
      inSync: s === "ok",
      ...(s === "unreadable"
        ? { error: { code: "KONG_UNREACHABLE", message: `Kong target ${name} unreachable`, hint: "h" } }
        : {}),
    };
  });
}

function status(states: Partial<Record<string, TargetState>> = {}, active = "x5t-1"): CredentialStatus {
  return {
    credential: CRED,
    generations: [],
    targets: targets(states),
    active,
    unmanagedKeys: [],
    idp: { client: "app a" },
  };
}

const step = (action: StepRecord["action"], s: StepRecord["status"], target?: string): StepRecord => ({
  action,
  status: s,
  detail: "",
  startedAt: "2026-01-05T08:00:00.000Z",
  durationMs: 1,
  ...(target ? { target } : {}),
});

const error = (code: string) => ({ code, message: `${code} happened`, hint: `fix ${code}` });

function run(r: Partial<RunReport> & Pick<RunReport, "outcome">): RunReport {
  return { credential: CRED, plan: [], unmanaged: [], steps: [], status: status(), ...r };
}

/** Nothing due, everything read and in sync. */
const cleanNoop = (states: Partial<Record<string, TargetState>> = {}) =>
  run({ outcome: "noop", status: status(states) });

const create: PlannedAction = { kind: "create", reason: "forced", trigger: "Forced" };

// ------------------------------------------------------------------------------------------------
// Harness: the real alerter on the memory store, a capturing sink, a fake clock
// ------------------------------------------------------------------------------------------------

let clock: FakeClock;
let sent: AlertEvent[];
let logged: { event: string; fields: Record<string, unknown> }[];
let state: AlertStateStore;
let alerter: Alerter;
let sinkDown: boolean;

const logger: Logger = { log: (_level, event, fields = {}) => void logged.push({ event, fields }) };

function build(extraSinks: AlertSink[] = []): void {
  alerter = createAlerter({
    sinks: [{ name: "capture", send: async (e) => void sent.push(e) }, ...extraSinks],
    state,
    clock,
    remindEveryMs: HOUR,
    logger,
  });
}

beforeEach(() => {
  clock = new FakeClock("2026-01-05T08:00:00.000Z");
  sent = [];
  logged = [];
  sinkDown = false;
  state = createMemoryAlertStateStore();
  build();
});

const afterRun = (r: RunReport) => reportJudgements(alerter, judgeRun(TARGETS, r));
const afterSync = (r: SyncReport) => reportJudgements(alerter, judgeSync(TARGETS, r));
/** What the sinks received since the last call, as [status, target, code]. */
function drain(): [string, string | undefined, string | undefined][] {
  const out = sent.map((e): [string, string | undefined, string | undefined] => [e.status, e.target, e.code]);
  sent = [];
  return out;
}

/** Kong target `eu` unreadable: a new generation is refused before any change (reconcile's pre-check). */
const kongDown = () =>
  run({
    outcome: "failed",
    plan: [create],
    error: error("KONG_UNREACHABLE"),
    failedTarget: "eu",
    status: status({ eu: "unreadable" }),
  });

describe("KeyRotationFailed: fire, remind, resolve, and no evidence", () => {
  it("fires once, stays quiet, reminds after remindEvery, and resolves once when the target is read healthy", async () => {
    await afterRun(kongDown());
    expect(drain()).toEqual([["firing", "eu", "KONG_UNREACHABLE"]]);
    expect(sent).toEqual([]);

    clock.advance(10 * 60_000);
    await afterRun(kongDown());
    expect(drain()).toEqual([]);

    clock.advance(HOUR);
    await afterRun(kongDown());
    const reminder = drain();
    expect(reminder).toEqual([["reminder", "eu", "KONG_UNREACHABLE"]]);

    clock.advance(10 * 60_000);
    await afterRun(cleanNoop());
    expect(drain()).toEqual([["resolved", "eu", "KONG_UNREACHABLE"]]);

    clock.advance(HOUR);
    await afterRun(cleanNoop());
    expect(drain()).toEqual([]);
  });

  it("no evidence: a run that ends noop while the target is still unreadable resolves nothing, and reminders go on", async () => {
    await afterRun(kongDown());
    drain();
    // The timer's next run: nothing due, Kong still down (observed with an error): outcome noop.
    clock.advance(10 * 60_000);
    await afterRun(run({ outcome: "noop", status: status({ eu: "unreadable" }) }));
    expect(drain()).toEqual([]);
    // A run that could not observe anything at all is no evidence either.
    await afterRun(run({ outcome: "failed", error: error("GRAPH_UNAVAILABLE"), status: undefined }));
    expect(drain()).toEqual([["firing", undefined, "GRAPH_UNAVAILABLE"]]);
    // The cadence of the kept alert is unchanged by the runs without evidence; this run read Key Vault
    // and Graph again, which is the evidence that resolves the credential's observation failure.
    clock.advance(HOUR);
    await afterRun(kongDown());
    expect(drain()).toEqual([
      ["resolved", undefined, "GRAPH_UNAVAILABLE"],
      ["reminder", "eu", "KONG_UNREACHABLE"],
    ]);
    expect(logged.some((l) => l.event === "AlertKept" && l.fields.target === "eu")).toBe(true);
  });

  it("a Kong confirmation that failed stays open while later runs wait in a new window, and resolves on activation", async () => {
    const notConfirmed = run({
      outcome: "failed",
      steps: [step("activate", "failed")],
      error: error("KONG_NOT_CONFIRMED"),
      failedTarget: "eu",
      status: status({ eu: "drift" }),
    });
    await afterRun(notConfirmed);
    expect(drain()).toEqual([["firing", "eu", "KONG_NOT_CONFIRMED"]]);
    // The data plane is back: runs inside the new window end waiting (exit 0), which is no evidence.
    for (let i = 0; i < 3; i++) {
      clock.advance(5 * 60_000);
      await afterRun(
        run({ outcome: "waiting", steps: [step("activate", "waiting")], status: status({ eu: "drift" }) }),
      );
      expect(drain()).toEqual([]);
    }
    await afterRun(run({ outcome: "ok", steps: [step("activate", "done")] }));
    expect(drain()).toEqual([["resolved", "eu", "KONG_NOT_CONFIRMED"]]);
  });

  it("a failed step resolves only when a step of that kind succeeds, not on a noop run", async () => {
    await afterRun(
      run({
        outcome: "failed",
        steps: [step("create", "done"), step("publish", "failed")],
        error: error("GRAPH_FORBIDDEN"),
        trigger: "Renewal",
      }),
    );
    expect(sent[0]?.phase).toBe("publish");
    expect(sent[0]?.trigger).toBe("Renewal");
    expect(drain()).toEqual([["firing", undefined, "GRAPH_FORBIDDEN"]]);

    // Everything read and in sync, nothing done: nothing relevant to publish happened.
    clock.advance(5 * 60_000);
    await afterRun(cleanNoop());
    expect(drain()).toEqual([]);
    // A later step of another kind is not evidence either.
    await afterRun(run({ outcome: "ok", steps: [step("retire", "done")] }));
    expect(drain()).toEqual([]);

    await afterRun(run({ outcome: "ok", steps: [step("publish", "done"), step("verify", "done")] }));
    const resolved = sent.find((e) => e.status === "resolved");
    expect(drain()).toEqual([["resolved", undefined, "GRAPH_FORBIDDEN"]]);
    expect(resolved?.phase).toBe("publish");
  });

  it("a target's failed apply resolves when activate reaches it, or when a clean run finds it holding the active key", async () => {
    const activateFailed = run({
      outcome: "failed",
      steps: [step("activate", "failed")],
      error: error("KONG_FORBIDDEN"),
      failedTarget: "us",
      status: status({ us: "drift" }),
    });
    await afterRun(activateFailed);
    expect(drain()).toEqual([["firing", "us", "KONG_FORBIDDEN"]]);

    // The next run fails earlier (Graph): the target reads in sync with the *old* key, but the run was
    // not clean and did not activate: no evidence.
    await afterRun(
      run({ outcome: "failed", steps: [step("verify", "failed")], error: error("VERIFY_TIMEOUT") }),
    );
    expect(drain()).toEqual([["firing", undefined, "VERIFY_TIMEOUT"]]);

    await afterRun(run({ outcome: "ok", steps: [step("verify", "done"), step("activate", "done")] }));
    expect(drain()).toEqual([
      ["resolved", undefined, "VERIFY_TIMEOUT"],
      ["resolved", "us", "KONG_FORBIDDEN"],
    ]);

    await afterRun(activateFailed);
    drain();
    await afterRun(cleanNoop({ us: "drift" }));
    expect(drain()).toEqual([]);
    await afterRun(cleanNoop());
    expect(drain()).toEqual([["resolved", "us", "KONG_FORBIDDEN"]]);
  });

  it("a failure to observe resolves when a run observes; a run that could not start resolves when one starts", async () => {
    await afterRun(run({ outcome: "failed", error: error("KEYVAULT_UNAVAILABLE"), status: undefined }));
    expect(drain()).toEqual([["firing", undefined, "KEYVAULT_UNAVAILABLE"]]);
    await afterRun(run({ outcome: "noop", status: status({ eu: "unreadable" }) }));
    expect(drain()).toEqual([["resolved", undefined, "KEYVAULT_UNAVAILABLE"]]);

    await reportJudgements(alerter, [judgeNotStarted(CRED, error("LEASE_STORAGE_UNAVAILABLE"))]);
    expect(drain()).toEqual([["firing", undefined, "LEASE_STORAGE_UNAVAILABLE"]]);
    await afterRun(run({ outcome: "noop", status: undefined, error: undefined }));
    expect(drain()).toEqual([["resolved", undefined, "LEASE_STORAGE_UNAVAILABLE"]]);
  });

  it("keeps firstAt and the cadence when the code of a failing condition changes", async () => {
    await afterRun(kongDown());
    drain();
    clock.advance(30 * 60_000);
    await afterRun({ ...kongDown(), error: error("KONG_UNAUTHORIZED") });
    expect(drain()).toEqual([]);
    clock.advance(30 * 60_000);
    await afterRun({ ...kongDown(), error: error("KONG_UNAUTHORIZED") });
    const [reminder] = sent;
    expect(drain()).toEqual([["reminder", "eu", "KONG_UNAUTHORIZED"]]);
    expect(reminder?.message).toMatch(/failing since 2026-01-05T08:00:00.000Z, 3 checks/);
  });

  it("an entry recorded before phases were kept resolves only on a clean run with every target healthy", async () => {
    await state.put("KeyRotationFailed/orders-api/~/OLD_FAILURE", {
      firstAt: "2026-01-05T07:00:00.000Z",
      lastSentAt: "2026-01-05T07:00:00.000Z",
      count: 1,
    });
    await afterRun(cleanNoop({ us: "unreadable" }));
    expect(drain()).toEqual([]);
    await afterRun(run({ outcome: "ok", steps: [step("create", "done"), step("publish", "skipped")] }));
    expect(drain()).toEqual([]);
    await afterRun(cleanNoop());
    expect(drain()).toEqual([["resolved", undefined, "OLD_FAILURE"]]);
  });
});

describe("failedPhase", () => {
  it("names the failed step, else what could not be read, else the first planned action not done", () => {
    expect(
      failedPhase(run({ outcome: "failed", steps: [step("create", "done"), step("publish", "failed")] })),
    ).toBe("publish");
    expect(failedPhase(run({ outcome: "failed", status: undefined }))).toBe("observe");
    expect(failedPhase(kongDown())).toBe("observe");
    const publish: PlannedAction = { kind: "publish", reason: "r" };
    // registration refused beforehand: nothing ran, the next action was create.
    expect(failedPhase(run({ outcome: "failed", plan: [create, publish] }))).toBe("create");
    // A requested rollback refused (its action blocked, nothing else to do): the rollback.
    const refused: PlannedAction = { kind: "rollback", reason: "r", blocked: "previous key retired" };
    expect(failedPhase(run({ outcome: "failed", plan: [refused] }))).toBe("rollback");
    // Re-observation failed after create: publish is what the run did not get to.
    expect(
      failedPhase(run({ outcome: "failed", plan: [create, publish], steps: [step("create", "done")] })),
    ).toBe("publish");
  });
});

// ------------------------------------------------------------------------------------------------
// Sync check
// ------------------------------------------------------------------------------------------------

function sync(findings: SyncFinding[], s: CredentialStatus = status()): SyncReport {
  return { credential: CRED, findings, status: s };
}
const unreachable = (target: string): SyncFinding => ({
  code: "KONG_UNREACHABLE",
  target,
  message: `Kong target ${target} could not be inspected`,
  hint: "h",
});
const expiring: SyncFinding = { code: "KEY_EXPIRING", message: "expires soon", hint: "h" };

describe("KeySyncDrift and KeyExpiring: the same rule", () => {
  it("fires, reminds, and resolves only when the check ran (an active key exists) and read the target", async () => {
    await afterSync(sync([unreachable("eu"), expiring]));
    expect(drain()).toEqual([
      ["firing", "eu", "KONG_UNREACHABLE"],
      ["firing", undefined, "KEY_EXPIRING"],
    ]);
    clock.advance(HOUR);
    await afterSync(sync([unreachable("eu"), expiring]));
    expect(drain()).toEqual([
      ["reminder", "eu", "KONG_UNREACHABLE"],
      ["reminder", undefined, "KEY_EXPIRING"],
    ]);

    // No active key (e.g. the generation was disabled by hand): checkSync inspected nothing.
    const noActive = { ...status(), active: undefined };
    await afterSync(sync([], noActive));
    expect(drain()).toEqual([]);

    await afterSync(sync([]));
    expect(drain()).toEqual([
      ["resolved", "eu", "KONG_UNREACHABLE"],
      ["resolved", undefined, "KEY_EXPIRING"],
    ]);
  });

  it("a failed observation resolves on the next check that observes; a re-applied drift never fires", async () => {
    await reportJudgements(alerter, [judgeSyncError(CRED, error("GRAPH_UNAVAILABLE"))]);
    expect(drain()).toEqual([["firing", undefined, "GRAPH_UNAVAILABLE"]]);
    await afterSync(
      sync([{ code: "KONG_DRIFT", target: "us", message: "m", hint: "h", reapplied: true }], {
        ...status(),
        active: undefined,
      }),
    );
    expect(drain()).toEqual([["resolved", undefined, "GRAPH_UNAVAILABLE"]]);

    await afterSync(sync([{ code: "ACTIVE_KEY_NOT_AT_IDP", message: "m", hint: "h" }]));
    expect(drain()).toEqual([["firing", undefined, "ACTIVE_KEY_NOT_AT_IDP"]]);
    await afterSync(sync([], { ...status(), active: undefined }));
    expect(drain()).toEqual([]);
    await afterSync(sync([]));
    expect(drain()).toEqual([["resolved", undefined, "ACTIVE_KEY_NOT_AT_IDP"]]);
  });
});

// ------------------------------------------------------------------------------------------------
// Sinks that cannot deliver
// ------------------------------------------------------------------------------------------------

describe("a sink that cannot deliver", () => {
  it("is logged with a code, shows in sinkHealth, and gets what it missed with the next alert", async () => {
    const flaky: AlertEvent[] = [];
    build([
      {
        name: "webhook:generic:hooks.example",
        send: async (e) => {
          if (sinkDown) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
          flaky.push(e);
        },
      },
    ]);
    sinkDown = true;
    await afterRun(kongDown());
    // The other sink still got it; the failure is logged with a code.
    expect(drain()).toEqual([["firing", "eu", "KONG_UNREACHABLE"]]);
    const failure = logged.find((l) => l.event === "AlertSinkFailed");
    expect(failure?.fields).toMatchObject({
      sink: "webhook:generic:hooks.example",
      code: "ALERT_SINK_FAILED",
    });
    expect(await alerter.sinkHealth()).toEqual([
      expect.objectContaining({ sink: "webhook:generic:hooks.example", failures: 1, undelivered: 1 }),
    ]);

    sinkDown = false;
    clock.advance(HOUR);
    await afterRun(kongDown());
    expect(flaky.map((e) => [e.status, e.target])).toEqual([
      ["firing", "eu"],
      ["reminder", "eu"],
    ]);
    expect(await alerter.sinkHealth()).toEqual([]);
  });
});
