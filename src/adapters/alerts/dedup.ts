/**
 * Alert deduplication: turns "is this condition failing right now?" observations, made on every run,
 * into notifications a human wants: one `firing` on the transition to failing, a `reminder` at most every
 * `remindEveryMs` while it stays failing, and one `resolved` on recovery.
 *
 * State key: `{event}/{credential}/{target or ~}/{code}`. The first three segments are the *condition*
 * (what is broken, and where); the code is only what it currently looks like. So:
 * - a failure whose code changes (e.g. KONG_UNREACHABLE, then KONG_FORBIDDEN) keeps its firstAt and
 *   reminder cadence: the entry moves to the new code without a new `firing`;
 * - a recovery resolves every code firing for that condition, reporting the code that was firing.
 *
 * A condition's entry also keeps the phase it failed in. A caller reporting "not failing" passes the
 * evidence it has (`resolves`, see src/app/alert-evidence.ts): an entry resolves only when that evidence
 * covers the phase it failed in; otherwise it stays firing (and keeps its reminder cadence).
 *
 * Delivery never blocks the caller: a sink that throws (cannot be built, refuses, is unreachable) is logged
 * as AlertSinkFailed with the error's code, and the notifications it missed are kept in an
 * `AlertSink/{sink}` entry and sent to it first with the next alert, until it delivers again. `doctor`
 * lists such entries (sinkHealth).
 *
 * Runs may race (timer, HTTP trigger, CLI): state writes are optimistic (see state.ts) and a conflict
 * re-reads and decides again, so concurrent reporters send one notification. If the state store itself
 * is unavailable the alerter fails open (a failing condition is sent without dedup): a duplicate alert
 * is better than a silent outage. Nothing here throws: sink and state failures are logged.
 */
import type { Clock, Logger } from "../../ports/engine.js";
import { toRotatorError } from "../../errors.js";
import { redactText } from "../../log/redact.js";
import type { AlertEvent, AlertEventName, AlertSink, AlertStateStore } from "../../ports/infrastructure.js";
import { isAlertStateConflict, type AlertState } from "./state.js";

export interface AlertCondition {
  event: Exclude<AlertEventName, "KeyRotationSucceeded" | "KeyCompromiseRotation">;
  credential: string;
  target?: string;
  /** RotatorError code (or check code) describing the current failure. */
  code: string;
  message: string;
  hint?: string;
  phase?: string;
  /** Trigger reason code of the work that failed (see engine/triggers.ts). */
  trigger?: string;
}

export interface RotationSuccess {
  credential: string;
  target?: string;
  phase?: string;
  message: string;
}

/** A completed key-compromise rotation (engine/compromise.ts), as the notification carries it. */
export interface CompromiseNotice {
  credential: string;
  actor?: string;
  reason?: string;
  revoked: string[];
  message: string;
  hint: string;
}

/** What a firing entry remembers of its failure; evidence is judged against it. */
export interface FiringEntry {
  code: string;
  phase?: string;
  firstAt: string;
}

/** Does the caller's evidence show that this firing entry's failure is gone? */
export type ResolveEvidence = (entry: FiringEntry) => boolean;

/** A sink whose last delivery failed, as persisted for `doctor`. */
export interface SinkHealth {
  sink: string;
  code: string;
  message: string;
  firstFailedAt: string;
  lastFailedAt: string;
  failures: number;
  /** Notifications it missed, sent to it first with the next alert. */
  undelivered: number;
}

export interface Alerter {
  /**
   * Report the condition's current state; sends firing / reminder / resolved as described above. When not
   * failing, `resolves` decides per firing entry whether the caller's evidence resolves it (default: yes).
   */
  report(condition: AlertCondition, failing: boolean, resolves?: ResolveEvidence): Promise<void>;
  /** A KeyRotationSucceeded info event: always sent, never deduplicated. */
  succeeded(info: RotationSuccess): Promise<void>;
  /** A KeyCompromiseRotation info event: always sent, never deduplicated. */
  compromised(notice: CompromiseNotice): Promise<void>;
  /** Sinks whose last delivery failed (read-only; for doctor). */
  sinkHealth(): Promise<SinkHealth[]>;
}

export interface AlerterOptions {
  sinks: AlertSink[];
  state: AlertStateStore;
  clock: Clock;
  remindEveryMs: number;
  logger: Logger;
}

/** Attempts when concurrent reporters keep changing the same entry. */
const MAX_CONFLICTS = 4;
const NO_TARGET = "~";
/** Prefix of the per-sink delivery entries; no alert event is named like this. */
const SINK_PREFIX = "AlertSink/";
/** A sink down for long keeps only the latest missed notifications. */
const MAX_UNDELIVERED = 20;

/** Key segment encoding: [A-Za-z0-9._-] as is, every other UTF-8 byte (including '~' and '/') as ~XX. */
export function encodeKeySegment(value: string): string {
  let out = "";
  for (const byte of Buffer.from(value, "utf8")) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9._-]/.test(ch) ? ch : `~${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

export function decodeKeySegment(segment: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < segment.length; i++) {
    if (segment[i] === "~" && /^[0-9a-f]{2}$/.test(segment.slice(i + 1, i + 3))) {
      bytes.push(parseInt(segment.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(segment.charCodeAt(i));
  }
  return Buffer.from(bytes).toString("utf8");
}

/** The prefix shared by every code of one condition (ends with '/'). */
export function conditionPrefix(c: { event: string; credential: string; target?: string }): string {
  return `${encodeKeySegment(c.event)}/${encodeKeySegment(c.credential)}/${c.target === undefined ? NO_TARGET : encodeKeySegment(c.target)}/`;
}

/** A failing condition that has not recovered, as the alert state records it (for status output). */
export interface OpenAlert {
  event: AlertCondition["event"];
  target?: string;
  code: string;
  /** The failure's message and hint as last reported (redacted); absent on entries stored before they were kept. */
  message?: string;
  hint?: string;
  /** The runbook for the event: a file in docs/runbooks (e.g. `key-rotation-failed.md`). */
  runbook: string;
  /** When the condition started failing, the last notification, and how many checks saw it failing. */
  firstAt: string;
  lastSentAt: string;
  count: number;
}

/** The runbook of an alert event: its name in kebab case (KeyRotationFailed → key-rotation-failed.md). */
export function runbookOf(event: string): string {
  return `${event.replace(/(?<=[a-z0-9])([A-Z])/g, "-$1").toLowerCase()}.md`;
}

const CONDITION_EVENTS: AlertCondition["event"][] = ["KeyRotationFailed", "KeySyncDrift", "KeyExpiring"];

/**
 * Every open condition of a credential, read from the alert state. Reads update a store's concurrency
 * bookkeeping, so pass a store instance the alerter does not write through.
 */
export async function readOpenAlerts(state: AlertStateStore, credential: string): Promise<OpenAlert[]> {
  const open: OpenAlert[] = [];
  for (const event of CONDITION_EVENTS) {
    for (const key of await state.list(`${encodeKeySegment(event)}/${encodeKeySegment(credential)}/`)) {
      const value = await state.get(key);
      if (!value) continue;
      const [, , target = NO_TARGET] = key.split("/");
      open.push({
        event,
        ...(target === NO_TARGET ? {} : { target: decodeKeySegment(target) }),
        code: codeOf(key),
        runbook: runbookOf(event),
        firstAt: value.firstAt,
        lastSentAt: value.lastSentAt,
        count: value.count,
        ...(value.message === undefined ? {} : { message: value.message }),
        ...(value.hint === undefined ? {} : { hint: value.hint }),
      });
    }
  }
  return open;
}

export function createAlerter(opts: AlerterOptions): Alerter {
  const { sinks, state, clock, remindEveryMs, logger } = opts;

  async function send(event: AlertEvent): Promise<void> {
    const safe: AlertEvent = {
      ...event,
      message: redactText(event.message),
      ...(event.hint === undefined ? {} : { hint: redactText(event.hint) }),
    };
    await Promise.all(sinks.map((s) => deliver(s, safe)));
  }

  /** Send to one sink, after what it missed; remember what it could not take. Never throws. */
  async function deliver(sink: AlertSink, event: AlertEvent): Promise<void> {
    const key = SINK_PREFIX + encodeKeySegment(sink.name);
    const health = await state.get(key).catch((e: unknown) => {
      logger.log("warn", "AlertStateUnavailable", { sink: sink.name, error: toRotatorError(e) });
      return undefined;
    });
    const queue = [...(health?.undelivered ?? []), event];
    let sent = 0;
    try {
      for (const e of queue) {
        await sink.send(e);
        sent++;
      }
    } catch (e) {
      const error = toRotatorError(e, "ALERT_SINK_FAILED");
      logger.log("error", "AlertSinkFailed", {
        sink: sink.name,
        alert: event.event,
        alertStatus: event.status,
        credential: event.credential,
        code: error.code,
        error,
        undelivered: queue.length - sent,
      });
      const now = clock.now().toISOString();
      await saveHealth(key, {
        firstAt: health?.firstAt ?? now,
        lastSentAt: now,
        count: (health?.count ?? 0) + 1,
        code: error.code,
        message: redactText(error.message),
        undelivered: queue.slice(sent).slice(-MAX_UNDELIVERED),
      });
      return;
    }
    if (health) {
      if (health.undelivered?.length)
        logger.log("info", "AlertSinkRecovered", { sink: sink.name, delivered: health.undelivered.length });
      await saveHealth(key, undefined);
    }
  }

  /** Best effort: losing this write at worst re-sends or forgets a missed notification, never blocks. */
  async function saveHealth(key: string, value: AlertState | undefined): Promise<void> {
    try {
      if (value) await state.put(key, value);
      else await state.delete(key);
    } catch (e) {
      logger.log(isAlertStateConflict(e) ? "debug" : "warn", "AlertSinkStateNotSaved", {
        key,
        error: toRotatorError(e),
      });
    }
  }

  const eventOf = (
    c: AlertCondition,
    status: AlertEvent["status"],
    code: string,
    message: string,
  ): AlertEvent => ({
    event: c.event,
    status,
    credential: c.credential,
    ...(c.target === undefined ? {} : { target: c.target }),
    ...(c.phase === undefined ? {} : { phase: c.phase }),
    ...(c.trigger === undefined ? {} : { trigger: c.trigger }),
    code,
    message,
    ...(c.hint === undefined || status === "resolved" ? {} : { hint: c.hint }),
    time: clock.now().toISOString(),
  });

  /** Read every entry of the condition (also records the versions the store will write against). */
  async function readCondition(
    prefix: string,
  ): Promise<Array<{ key: string; value: AlertState | undefined }>> {
    const keys = await state.list(prefix);
    return Promise.all(keys.map(async (key) => ({ key, value: await state.get(key) })));
  }

  /** One decision against freshly read state; returns the notification to send, if any. */
  async function decideFailing(c: AlertCondition): Promise<AlertEvent | undefined> {
    const prefix = conditionPrefix(c);
    const key = prefix + encodeKeySegment(c.code);
    const entries = await readCondition(prefix);
    const live = entries.flatMap((e) => (e.value ? [e.value] : []));
    const now = clock.now();
    const nowIso = now.toISOString();

    if (live.length === 0) {
      await state.put(key, { firstAt: nowIso, lastSentAt: nowIso, count: 1, ...phaseOf(c), ...described(c) });
      await removeOthers(entries, key);
      return eventOf(c, "firing", c.code, c.message);
    }

    const firstAt = live.map((v) => v.firstAt).sort()[0] ?? nowIso;
    const lastSentAt =
      live
        .map((v) => v.lastSentAt)
        .sort()
        .at(-1) ?? nowIso;
    const count = live.reduce((n, v) => n + v.count, 0) + 1;
    const due = now.getTime() - Date.parse(lastSentAt) >= remindEveryMs;
    await state.put(key, {
      firstAt,
      lastSentAt: due ? nowIso : lastSentAt,
      count,
      ...phaseOf(c),
      ...described(c),
    });
    const moved = await removeOthers(entries, key);
    if (moved.length > 0)
      logger.log("info", "AlertCodeChanged", {
        alert: c.event,
        credential: c.credential,
        target: c.target,
        from: moved,
        to: c.code,
      });
    if (!due) {
      logger.log("debug", "AlertSuppressed", {
        alert: c.event,
        credential: c.credential,
        target: c.target,
        code: c.code,
        firstAt,
        lastSentAt,
      });
      return undefined;
    }
    return eventOf(c, "reminder", c.code, `${c.message} (failing since ${firstAt}, ${count} checks)`);
  }

  /** Drop the condition's entries under other codes; returns the codes removed. */
  async function removeOthers(entries: Array<{ key: string }>, keep: string): Promise<string[]> {
    const removed: string[] = [];
    for (const e of entries) {
      if (e.key === keep) continue;
      await state.delete(e.key);
      removed.push(codeOf(e.key));
    }
    return removed;
  }

  async function decideRecovered(c: AlertCondition, resolves: ResolveEvidence): Promise<AlertEvent[]> {
    const entries = await readCondition(conditionPrefix(c));
    const events: AlertEvent[] = [];
    for (const e of entries) {
      const code = codeOf(e.key);
      const firing: FiringEntry | undefined = e.value && {
        code,
        firstAt: e.value.firstAt,
        ...(e.value.phase === undefined ? {} : { phase: e.value.phase }),
      };
      if (firing && !resolves(firing)) {
        logger.log("info", "AlertKept", {
          alert: c.event,
          credential: c.credential,
          target: c.target,
          code,
          phase: firing.phase,
          reason: "this run has no evidence that the failure is gone",
        });
        continue;
      }
      // Deleting first: of several concurrent recoveries only the one whose delete succeeds notifies.
      await state.delete(e.key);
      if (e.value)
        events.push(
          eventOf({ ...c, ...(firing?.phase ? { phase: firing.phase } : {}) }, "resolved", code, c.message),
        );
    }
    return events;
  }

  return {
    async report(condition, failing, resolves = () => true) {
      for (let attempt = 1; attempt <= MAX_CONFLICTS; attempt++) {
        try {
          if (failing) {
            const event = await decideFailing(condition);
            if (event) await send(event);
          } else {
            for (const event of await decideRecovered(condition, resolves)) await send(event);
          }
          return;
        } catch (e) {
          if (isAlertStateConflict(e)) continue;
          const error = toRotatorError(e, "ALERT_STATE_ERROR");
          logger.log("warn", "AlertStateUnavailable", {
            alert: condition.event,
            credential: condition.credential,
            failing,
            error,
          });
          if (failing) await send(eventOf(condition, "firing", condition.code, condition.message));
          return;
        }
      }
      logger.log("warn", "AlertStateContended", {
        alert: condition.event,
        credential: condition.credential,
        failing,
        attempts: MAX_CONFLICTS,
      });
    },

    async succeeded(info) {
      await send({
        event: "KeyRotationSucceeded",
        status: "info",
        credential: info.credential,
        ...(info.target === undefined ? {} : { target: info.target }),
        ...(info.phase === undefined ? {} : { phase: info.phase }),
        message: info.message,
        time: clock.now().toISOString(),
      });
    },

    async compromised(notice) {
      await send({
        event: "KeyCompromiseRotation",
        status: "info",
        credential: notice.credential,
        phase: "revoked",
        message: notice.message,
        hint: notice.hint,
        ...(notice.actor === undefined ? {} : { actor: notice.actor }),
        ...(notice.reason === undefined ? {} : { reason: notice.reason }),
        revoked: notice.revoked,
        time: clock.now().toISOString(),
      });
    },

    async sinkHealth() {
      const out: SinkHealth[] = [];
      for (const key of await state.list(SINK_PREFIX)) {
        const v = await state.get(key);
        if (!v) continue;
        out.push({
          sink: decodeKeySegment(key.slice(SINK_PREFIX.length)),
          code: v.code ?? "ALERT_SINK_FAILED",
          message: v.message ?? "",
          firstFailedAt: v.firstAt,
          lastFailedAt: v.lastSentAt,
          failures: v.count,
          undelivered: v.undelivered?.length ?? 0,
        });
      }
      return out;
    },
  };
}

const phaseOf = (c: AlertCondition): { phase?: string } => (c.phase === undefined ? {} : { phase: c.phase });

/** The failure's message and hint, kept with the entry for status output (redacted like every notification). */
const described = (c: AlertCondition): { message: string; hint?: string } => ({
  message: redactText(c.message),
  ...(c.hint === undefined ? {} : { hint: redactText(c.hint) }),
});

function codeOf(key: string): string {
  return decodeKeySegment(key.slice(key.lastIndexOf("/") + 1));
}
