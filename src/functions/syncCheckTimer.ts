import type { InvocationContext, Timer } from "@azure/functions";
import { app } from "./app.js";
import type { Runtime } from "../app/runtime.js";
import { syncCheck } from "../app/service.js";
import { withSecretScope } from "../log/redact.js";
import { withHeartbeat, type TickSummary } from "./heartbeat.js";

/** Every 15 minutes by default; SYNC_CHECK_SCHEDULE overrides. */
export const SYNC_CHECK_SCHEDULE = process.env.SYNC_CHECK_SCHEDULE ?? "0 */15 * * * *";

/** Every tick ends with a heartbeat (functions/heartbeat.ts), the signal of the dead-man alert. */
export function syncCheckTimerHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  return withSecretScope(() => withHeartbeat("syncCheckTimer", (rt) => run(rt, context)));
}

async function run(rt: Runtime, context: InvocationContext): Promise<TickSummary> {
  let failures = 0;
  for (const r of await syncCheck(rt)) {
    if (r.kind === "checked")
      context.log(
        `${r.credential}: ${r.report.findings.map((f) => f.code + (f.reapplied ? " (re-applied)" : "")).join(", ") || "in sync"}`,
      );
    else if (r.kind === "busy") context.log(`${r.credential}: busy`);
    else {
      failures++;
      context.log(`${r.credential}: ${r.error.code}`);
    }
  }
  return { credentials: rt.config.credentials.length, failures };
}

app.timer("syncCheckTimer", { schedule: SYNC_CHECK_SCHEDULE, handler: syncCheckTimerHandler });
