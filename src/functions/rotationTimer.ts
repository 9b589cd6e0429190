import { app, type InvocationContext, type Timer } from "@azure/functions";
import { rotateAll } from "../app/service.js";
import { withSecretScope } from "../log/redact.js";
import { functionsRuntime } from "./runtime.js";

/** Hourly by default; ROTATION_SCHEDULE (NCRONTAB, six fields) overrides. Timer runs are singletons. */
export const ROTATION_SCHEDULE = process.env.ROTATION_SCHEDULE ?? "0 0 * * * *";

export function rotationTimerHandler(timer: Timer, context: InvocationContext): Promise<void> {
  return withSecretScope(() => run(timer, context));
}

async function run(timer: Timer, context: InvocationContext): Promise<void> {
  const rt = await functionsRuntime();
  const results = await rotateAll(rt, {
    trigger: "timer",
    reason: timer.isPastDue ? "schedule (past due)" : "schedule",
  });
  for (const r of results) {
    if (r.kind === "busy")
      context.log(`${r.credential}: busy (another writer holds the lease); the next run resumes`);
    else if (r.kind === "error") context.error(`${r.credential}: could not start: ${r.error.code}`);
    else
      context.log(`${r.credential}: ${r.report.outcome}${r.report.error ? ` ${r.report.error.code}` : ""}`);
  }
}

app.timer("rotationTimer", { schedule: ROTATION_SCHEDULE, handler: rotationTimerHandler });
