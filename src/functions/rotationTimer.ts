import type { InvocationContext, Timer } from "@azure/functions";
import { app } from "./app.js";
import { enqueueDue } from "../app/fleet.js";
import type { Runtime } from "../app/runtime.js";
import { rotateAll } from "../app/service.js";
import { withSecretScope } from "../log/redact.js";
import { withHeartbeat, type TickSummary } from "./heartbeat.js";

/** Hourly by default; ROTATION_SCHEDULE (NCRONTAB, six fields) overrides. Timer runs are singletons. */
export const ROTATION_SCHEDULE = process.env.ROTATION_SCHEDULE ?? "0 0 * * * *";

/**
 * With the work queue (AzureWebJobsStorage, always there on Azure) the tick only decides which
 * credentials have work, from one certificate listing, and enqueues them (app/fleet.ts); the
 * queue-triggered function does the work. Without it (no storage) the credentials run here in turn.
 * Every tick ends with a heartbeat (functions/heartbeat.ts), the signal of the dead-man alert.
 */
export function rotationTimerHandler(timer: Timer, context: InvocationContext): Promise<void> {
  return withSecretScope(() => withHeartbeat("rotationTimer", (rt) => run(rt, timer, context)));
}

async function run(rt: Runtime, timer: Timer, context: InvocationContext): Promise<TickSummary> {
  const credentials = rt.config.credentials.length;
  if (rt.queue) {
    const tick = await enqueueDue(rt, rt.queue);
    context.log(
      `${tick.enqueued} of ${credentials} credential(s) enqueued (${tick.listCalls} Key Vault list call(s))`,
    );
    for (const d of tick.due) context.log(`${d.credential}: ${d.reason}`);
    return { mode: "queue", credentials, enqueued: tick.enqueued };
  }
  const results = await rotateAll(rt, {
    trigger: "timer",
    reason: timer.isPastDue ? "schedule (past due)" : "schedule",
  });
  let failures = 0;
  for (const r of results) {
    if (r.kind === "busy")
      context.log(`${r.credential}: busy (another writer holds the lease); the next run resumes`);
    else if (r.kind === "error") {
      failures++;
      context.error(`${r.credential}: could not start: ${r.error.code}`);
    } else {
      if (r.report.outcome === "failed" || r.report.outcome === "stuck") failures++;
      context.log(`${r.credential}: ${r.report.outcome}${r.report.error ? ` ${r.report.error.code}` : ""}`);
    }
  }
  return { mode: "inline", credentials, failures };
}

app.timer("rotationTimer", { schedule: ROTATION_SCHEDULE, handler: rotationTimerHandler });
