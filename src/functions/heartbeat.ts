/**
 * The timers' heartbeat: every tick of rotationTimer and syncCheckTimer ends with one `RotatorHeartbeat`
 * event (an Application Insights customEvents row), whatever the fleet's size and whether or not any
 * credential had work. The dead-man alert rule (infra/app/alert-rules.json, `rotation-dead-man`) counts the
 * ticks that completed; docs/runbooks/rotation-dead-man.md says what it means when they stop.
 *
 * - `outcome: completed`: the tick looked at every credential. Failures of single credentials are in
 *   `failures` (each has an alert of its own) and do not make the tick fail: the timer is alive.
 * - `outcome: failed`: the tick stopped before that (no configuration, no storage, the certificate
 *   listing failed), with the error's `code`. The error is rethrown, so the host records the failed
 *   invocation too. Such ticks do not count as completed: a timer that fails every time is as dead as one
 *   that does not fire.
 */
import type { Runtime } from "../app/runtime.js";
import { toRotatorError } from "../errors.js";
import { functionsLogger, functionsRuntime } from "./runtime.js";

export type TimerName = "rotationTimer" | "syncCheckTimer";

export const HEARTBEAT_EVENT = "RotatorHeartbeat";

/** What a completed tick did, as heartbeat dimensions (counts and enumerations only). */
export type TickSummary = Record<string, string | number>;

/** Run one tick of `timer` with the Functions runtime and emit its heartbeat. */
export async function withHeartbeat(
  timer: TimerName,
  tick: (rt: Runtime) => Promise<TickSummary>,
): Promise<void> {
  let rt: Runtime | undefined;
  let started: number | undefined;
  try {
    rt = await functionsRuntime();
    started = rt.clock.now().getTime();
    const summary = await tick(rt);
    rt.logger.log("info", HEARTBEAT_EVENT, {
      timer,
      outcome: "completed",
      ...summary,
      durationMs: rt.clock.now().getTime() - started,
    });
  } catch (e) {
    (rt?.logger ?? functionsLogger()).log("error", HEARTBEAT_EVENT, {
      timer,
      outcome: "failed",
      code: toRotatorError(e).code,
      ...(rt && started !== undefined ? { durationMs: rt.clock.now().getTime() - started } : {}),
    });
    throw e;
  }
}
