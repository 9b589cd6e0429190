/**
 * The alert-rule evaluator the replay test relies on (test/support/alert-rules.ts), on small hand-made tables
 * whose answers follow from the KQL each aggregation kind stands for in infra/app/alert-rules.json: the
 * range boundaries, arg_max per condition, case-insensitive in~ / !in~ with a deployment value substituted,
 * the missing-ticks rule's grace for a new deployment, splitting by dimension, and stateful episodes.
 */
import { describe, expect, it } from "vitest";
import {
  AlertMonitor,
  fieldValue,
  firingAt,
  loadAlertDefinitions,
  runQuery,
  type Deployment,
  type Row,
} from "../support/alert-rules.js";

const defs = loadAlertDefinitions();
const rule = (key: string) => defs.rules.find((r) => r.key === key)!;
const d: Deployment = { rotationIntervalHours: 1, rotatorPrincipalId: "AAAA-rotator" };
const T = Date.parse("2026-03-01T12:00:00Z");
const min = (m: number) => new Date(T + m * 60_000);

const event = (name: string, at: Date, dims: Record<string, unknown>): Row => ({
  timestamp: at,
  name,
  customDimensions: dims,
});

describe("fields", () => {
  it("reads columns, members and bracketed members as KQL tostring does", () => {
    const row = { Id: "x", customDimensions: { n: 3 }, Identity: { claim: { "http://a/b": "oid" } } };
    expect(fieldValue(row, "Id")).toBe("x");
    expect(fieldValue(row, "customDimensions.n")).toBe("3");
    expect(fieldValue(row, "Identity.claim['http://a/b']")).toBe("oid");
    expect(fieldValue(row, "customDimensions.missing")).toBe("");
  });
});

describe("latest: each condition's latest row", () => {
  const r = rule("key-rotation-failed");
  const rows = [
    event("KeyRotationFailed", min(-100), { credential: "a", status: "firing" }),
    event("KeyRotationFailed", min(-50), { credential: "a", status: "resolved" }),
    event("KeyRotationFailed", min(-40), { credential: "b", target: "edge", status: "firing" }),
    event("KeyRotationFailed", min(-30), { credential: "b", status: "reminder" }),
    event("KeySyncDrift", min(-10), { credential: "c", status: "firing" }),
    event("KeyRotationFailed", min(-5), { credential: "d", status: "info" }),
  ];

  it("counts the conditions whose latest row is firing or reminder, per credential", () => {
    const result = runQuery(defs, r, { customEvents: rows }, min(0), d);
    expect(result.map((x) => [x.credential, x.target, x.status])).toEqual([
      ["b", "edge", "firing"],
      ["b", "", "reminder"],
    ]);
    expect(firingAt(defs, r, { customEvents: rows }, min(0), d)).toEqual(["b"]);
  });

  it("reads only its range: a firing row older than the lookback is out", () => {
    const old = [
      event("KeyRotationFailed", new Date(T - 49 * 3_600_000), { credential: "z", status: "firing" }),
    ];
    expect(firingAt(defs, r, { customEvents: old }, min(0), d)).toEqual([]);
    // A row at exactly `at` is in; one after it is not.
    expect(
      firingAt(
        defs,
        r,
        { customEvents: [event("KeyRotationFailed", min(0), { credential: "z", status: "firing" })] },
        min(0),
        d,
      ),
    ).toEqual(["z"]);
    expect(
      firingAt(
        defs,
        r,
        { customEvents: [event("KeyRotationFailed", min(1), { credential: "z", status: "firing" })] },
        min(0),
        d,
      ),
    ).toEqual([]);
  });
});

describe("missing: a timer with no completed tick in the window", () => {
  const r = rule("rotation-dead-man");
  const beat = (at: Date, timer: string, outcome = "completed") =>
    event("RotatorHeartbeat", at, { timer, outcome });

  it("fires per timer when the deployment has been alive for a window and the timer completed none", () => {
    const rows = [
      beat(min(-300), "rotationTimer"),
      beat(min(-300), "syncCheckTimer"),
      beat(min(-15), "syncCheckTimer"),
      beat(min(-10), "rotationTimer", "failed"),
    ];
    expect(firingAt(defs, r, { customEvents: rows }, min(0), d)).toEqual(["rotationTimer"]);
  });

  it("does not fire before a new deployment's first window is over, and fires when nothing arrives at all", () => {
    expect(firingAt(defs, r, { customEvents: [beat(min(-10), "syncCheckTimer")] }, min(0), d)).toEqual([]);
    expect(firingAt(defs, r, { customEvents: [] }, min(0), d).sort()).toEqual([
      "rotationTimer",
      "syncCheckTimer",
    ]);
  });

  it("counts a tick exactly one window old as outside it (timestamp > ago(window))", () => {
    const rows = [
      beat(min(-400), "syncCheckTimer"),
      beat(min(-180), "rotationTimer"),
      beat(min(-1), "syncCheckTimer"),
    ];
    expect(firingAt(defs, r, { customEvents: rows }, min(0), d)).toEqual(["rotationTimer"]);
    expect(firingAt(defs, r, { customEvents: rows }, min(-1), d)).toEqual([]);
  });
});

describe("rows: Key Vault certificate writes by another identity", () => {
  const r = rule("keyvault-certificate-update");
  const audit = (at: Date, oid: string, op = "CertificateUpdate"): Row => ({
    TimeGenerated: at,
    OperationName: op,
    Identity: { claim: { "http://schemas.microsoft.com/identity/claims/objectidentifier": oid } },
  });

  it("ignores the rotator's identity (case-insensitively) and other operations, and splits by caller", () => {
    const rows = [
      audit(min(-1), "aaaa-ROTATOR"),
      audit(min(-2), "op-1"),
      audit(min(-3), "op-1"),
      audit(min(-4), "op-2", "CertificateGet"),
      audit(min(-20), "op-3"),
    ];
    expect(firingAt(defs, r, { AZKVAuditLogs: rows }, min(0), d)).toEqual(["op-1"]);
  });
});

describe("episodes", () => {
  it("fire at the first evaluation that sees the condition and resolve at the first that does not", () => {
    const r = rule("keyvault-certificate-update");
    const monitor = new AlertMonitor(defs, d, min(0));
    const rows: Row[] = [];
    monitor.advanceTo(min(7), { AZKVAuditLogs: rows });
    rows.push({
      TimeGenerated: min(7),
      OperationName: "CertificateUpdate",
      Identity: { claim: { "http://schemas.microsoft.com/identity/claims/objectidentifier": "op" } },
    });
    monitor.advanceTo(min(60), { AZKVAuditLogs: rows });
    const kv = monitor.episodes.filter((e) => e.rule === r.key);
    expect(kv).toEqual([{ rule: r.key, instance: "op", firedAt: min(10), resolvedAt: min(25) }]);
  });
});
