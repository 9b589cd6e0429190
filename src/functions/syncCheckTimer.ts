import type { InvocationContext, Timer } from "@azure/functions";
import { app } from "./app.js";
import { syncCheck } from "../app/service.js";
import { withSecretScope } from "../log/redact.js";
import { functionsRuntime } from "./runtime.js";

/** Every 15 minutes by default; SYNC_CHECK_SCHEDULE overrides. */
export const SYNC_CHECK_SCHEDULE = process.env.SYNC_CHECK_SCHEDULE ?? "0 */15 * * * *";

export function syncCheckTimerHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  return withSecretScope(() => run(_timer, context));
}

async function run(_timer: Timer, context: InvocationContext): Promise<void> {
  const rt = await functionsRuntime();
  for (const r of await syncCheck(rt)) {
    if (r.kind === "checked")
      context.log(
        `${r.credential}: ${r.report.findings.map((f) => f.code + (f.reapplied ? " (re-applied)" : "")).join(", ") || "in sync"}`,
      );
    else if (r.kind === "busy") context.log(`${r.credential}: busy`);
    else context.log(`${r.credential}: ${r.error.code}`);
  }
}

app.timer("syncCheckTimer", { schedule: SYNC_CHECK_SCHEDULE, handler: syncCheckTimerHandler });
