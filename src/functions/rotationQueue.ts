/**
 * The fleet's queue-triggered functions (app/fleet.ts):
 * - `rotationWork` takes one credential's work from the `rotation-work` queue and runs it under the
 *   credential's lease with a few seconds of in-run polling; waiting work goes back on the queue with a
 *   visibility delay. A throw makes the host retry the message (host.json `extensions.queues`:
 *   `visibilityTimeout` between attempts, `maxDequeueCount` attempts), then move it to
 *   `rotation-work-poison` (https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#poison-messages).
 * - `rotationPoison` takes those and raises an alert naming the credential.
 * Both use the host's storage (`connection: "AzureWebJobsStorage"`), like the rest of the service.
 */
import type { InvocationContext } from "@azure/functions";
import { app } from "./app.js";
import { RotatorError } from "../errors.js";
import { POISON_QUEUE, WORK_QUEUE } from "../adapters/queue/names.js";
import { poisoned, processWork } from "../app/fleet.js";
import { withSecretScope } from "../log/redact.js";
import { functionsRuntime } from "./runtime.js";

const CONNECTION = "AzureWebJobsStorage";

export function rotationWorkHandler(message: unknown, context: InvocationContext): Promise<void> {
  return withSecretScope(() => work(message, context));
}

async function work(message: unknown, context: InvocationContext): Promise<void> {
  const rt = await functionsRuntime();
  if (!rt.queue)
    throw new RotatorError(
      "QUEUE_NOT_CONFIGURED",
      "the rotation work queue needs AzureWebJobsStorage",
      "Set AzureWebJobsStorage (or AzureWebJobsStorage__queueServiceUri with an identity).",
    );
  const out = await processWork(rt, rt.queue, message);
  if (out.kind === "dropped") context.warn(`message dropped: ${out.why}`);
  else if (out.kind === "busy") context.log(`${out.credential}: busy; looked at again at ${out.recheckAt}`);
  else if (out.kind === "waiting") context.log(`${out.credential}: waiting; continues at ${out.nextRunAt}`);
  else context.log(`${out.credential}: ${out.outcome}`);
}

export function rotationPoisonHandler(message: unknown, context: InvocationContext): Promise<void> {
  return withSecretScope(() => poison(message, context));
}

async function poison(message: unknown, context: InvocationContext): Promise<void> {
  const rt = await functionsRuntime();
  const count = context.triggerMetadata?.["dequeueCount"];
  await poisoned(rt, POISON_QUEUE, message, typeof count === "number" ? count : undefined);
  context.error(`poisoned rotation work: alert raised`);
}

app.storageQueue("rotationWork", {
  queueName: WORK_QUEUE,
  connection: CONNECTION,
  handler: rotationWorkHandler,
});
app.storageQueue("rotationPoison", {
  queueName: POISON_QUEUE,
  connection: CONNECTION,
  handler: rotationPoisonHandler,
});
