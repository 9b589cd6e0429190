/**
 * One benchmark worker = one Function App instance: the real queue-triggered handlers, driven against
 * Azurite by stack/queue-host.ts exactly as the Functions host's queue trigger would (batchSize,
 * newBatchThreshold, polling back-off, maxDequeueCount, poison queue). Configuration and identity come
 * from the environment (ROTATOR_CONFIG, AzureWebJobsStorage, AZURE_*), as in Azure. Reports its peak
 * memory and counters to the parent over IPC.
 */
import { writeHeapSnapshot } from "node:v8";
import azureFunctions from "@azure/functions";
import { POISON_QUEUE, WORK_QUEUE } from "../src/adapters/queue/names.js";
import { rotationPoisonHandler, rotationWorkHandler } from "../src/functions/rotationQueue.js";
import { startQueueHost } from "../stack/queue-host.js";

// The package is CommonJS; only its default export carries the classes (as in stack/demo.ts).
const { InvocationContext } = azureFunctions;
const batchSize = Number(process.env.BENCH_BATCH_SIZE ?? "16");
const context = (name: string, dequeueCount = 1) =>
  new InvocationContext({
    functionName: name,
    invocationId: `bench-${process.pid}-${Date.now()}`,
    triggerMetadata: { dequeueCount },
    logHandler: () => undefined,
  });
const common = {
  connectionString: process.env.AzureWebJobsStorage ?? "",
  batchSize,
  // host.json extensions.queues.maxPollingInterval
  maxPollingIntervalMs: 1_000,
};
const work = await startQueueHost({
  ...common,
  queueName: WORK_QUEUE,
  handler: (m, meta) => rotationWorkHandler(m, context("rotationWork", meta.dequeueCount)),
});
const poison = await startQueueHost({
  ...common,
  queueName: POISON_QUEUE,
  handler: (m, meta) => rotationPoisonHandler(m, context("rotationPoison", meta.dequeueCount)),
});

// The worker's memory before any message: what the in-flight runs add is measured against it.
const baseRss = process.memoryUsage().rss;
let peakRss = 0;
let peak: NodeJS.MemoryUsage | undefined;
let snapshot: string | undefined;
const report = () => {
  // rss() alone is cheap; the whole breakdown walks the heap's spaces, so only at a new peak.
  const rss = process.memoryUsage.rss();
  if (rss > peakRss) {
    peakRss = rss;
    peak = process.memoryUsage();
  }
  // BENCH_HEAP_SNAPSHOT=<file>: one heap snapshot once this worker has its most runs in flight so far
  // (at least half a batch), for finding where the memory goes (docs/performance.md).
  const file = process.env.BENCH_HEAP_SNAPSHOT;
  if (file && !snapshot && work.peakInFlight >= batchSize && work.inFlight >= batchSize)
    snapshot = writeHeapSnapshot(file);
  process.send?.({
    baseRss,
    peak,
    peakRss,
    processed: work.processed,
    failed: work.failed,
    poisoned: work.poisoned,
    peakInFlight: work.peakInFlight,
  });
};
const timer = setInterval(report, 500);
process.send?.("ready");
process.on("message", (m) => {
  if (m !== "stop") return;
  clearInterval(timer);
  void Promise.all([work.stop(), poison.stop()]).then(() => {
    report();
    process.exit(0);
  });
});
