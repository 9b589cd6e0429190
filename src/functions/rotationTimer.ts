import type { InvocationContext, Timer } from "@azure/functions";
import { app } from "./app.js";
import { enqueueDue } from "../app/fleet.js";
import { rotateAll } from "../app/service.js";
import { withSecretScope } from "../log/redact.js";
import { functionsRuntime } from "./runtime.js";

/** Hourly by default; ROTATION_SCHEDULE (NCRONTAB, six fields) overrides. Timer runs are singletons. */
export const ROTATION_SCHEDULE = process.env.ROTATION_SCHEDULE ?? "0 0 * * * *";

/**
 * With the work queue (AzureWebJobsStorage, always there on Azure) the tick only decides which
 * credentials have work, from one certificate listing, and enqueues them (app/fleet.ts); the
 * queue-triggered function does the work. Without it (no storage) the credentials run here in turn.
 */
export function rotationTimerHandler(timer: Timer, context: InvocationContext): Promise<void> {
  return withSecretScope(() => run(timer, context));
}

async function run(timer: Timer, context: InvocationContext): Promise<void> {
  const rt = await functionsRuntime();
  if (rt.queue) {
    const tick = await enqueueDue(rt, rt.queue);
    context.log(
      `${tick.enqueued} of ${rt.config.credentials.length} credential(s) enqueued (${tick.listCalls} Key Vault list call(s))`,
    );
    for (const d of tick.due) context.log(`${d.credential}: ${d.reason}`);
    return;
  }
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
