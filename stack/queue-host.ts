/**
 * What the Azure Functions host does for a queue-triggered function, for tests and the benchmark (Core
 * Tools cannot be installed here). It drives the exported handler against real Azurite queues, with the
 * host's documented behaviour
 * (https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#polling-algorithm,
 * #concurrency, #poison-messages, and host.json `extensions.queues`,
 * https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#host-json):
 * - messages are fetched in batches of `batchSize` (default 16, max 32) and run in parallel; the next
 *   batch is fetched when the number in flight falls to `newBatchThreshold` (default batchSize / 2), so
 *   one instance runs at most batchSize + newBatchThreshold at once;
 * - an empty poll backs off exponentially (randomised) from 100 ms up to `maxPollingIntervalMs`, and a
 *   found message resets it;
 * - a message is invisible while it runs; on success it is deleted; on failure it is made visible again
 *   after `visibilityTimeoutMs` (default 0), and once its dequeue count reaches `maxDequeueCount`
 *   (default 5) it is moved to `<queue>-poison` instead;
 * - the message text is base64 (host default `messageEncoding`); JSON content reaches a Node handler as
 *   the parsed object.
 * It never imports product code: the handler is passed in.
 */
import { QueueServiceClient, type QueueClient } from "@azure/storage-queue";

export interface QueueHostOptions {
  connectionString: string;
  queueName: string;
  handler: (message: unknown, meta: { id: string; dequeueCount: number }) => Promise<void>;
  batchSize?: number;
  newBatchThreshold?: number;
  maxDequeueCount?: number;
  visibilityTimeoutMs?: number;
  maxPollingIntervalMs?: number;
}

export interface QueueHost {
  readonly processed: number;
  readonly failed: number;
  readonly poisoned: number;
  /** Peak number of handler invocations in flight. */
  readonly peakInFlight: number;
  /** Handler invocations in flight now. */
  readonly inFlight: number;
  /** Resolves once the queue holds no message (visible or delayed) and nothing is in flight. */
  idle(pollMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** While a handler runs, the host keeps the message invisible (it renews; 10 minutes covers any run here). */
const RUNNING_VISIBILITY_S = 600;

export async function startQueueHost(opts: QueueHostOptions): Promise<QueueHost> {
  const service = QueueServiceClient.fromConnectionString(opts.connectionString);
  const queue = service.getQueueClient(opts.queueName);
  const poison = service.getQueueClient(`${opts.queueName}-poison`);
  await queue.createIfNotExists();
  const batchSize = Math.min(opts.batchSize ?? 16, 32);
  const threshold = opts.newBatchThreshold ?? Math.floor(batchSize / 2);
  const maxDequeue = opts.maxDequeueCount ?? 5;
  const retryDelayS = Math.ceil((opts.visibilityTimeoutMs ?? 0) / 1000);
  const maxPoll = opts.maxPollingIntervalMs ?? 60_000;
  let running = true;
  let inFlight = 0;
  const stats = { processed: 0, failed: 0, poisoned: 0, peakInFlight: 0 };
  const tasks = new Set<Promise<void>>();

  async function run(
    q: QueueClient,
    m: { messageId: string; popReceipt: string; messageText: string; dequeueCount: number },
  ): Promise<void> {
    const text = Buffer.from(m.messageText, "base64").toString("utf8");
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: the handler gets the string.
    }
    try {
      await opts.handler(body, { id: m.messageId, dequeueCount: m.dequeueCount });
      stats.processed++;
      await q.deleteMessage(m.messageId, m.popReceipt);
    } catch {
      stats.failed++;
      if (m.dequeueCount >= maxDequeue) {
        await poison.createIfNotExists();
        await poison.sendMessage(m.messageText);
        await q.deleteMessage(m.messageId, m.popReceipt);
        stats.poisoned++;
      } else {
        await q.updateMessage(m.messageId, m.popReceipt, undefined, retryDelayS);
      }
    }
  }

  const loop = (async () => {
    let delay = 100;
    while (running) {
      if (inFlight > threshold) {
        await sleep(20);
        continue;
      }
      let found = 0;
      try {
        const got = await queue.receiveMessages({
          numberOfMessages: batchSize,
          visibilityTimeout: RUNNING_VISIBILITY_S,
        });
        found = got.receivedMessageItems.length;
        for (const m of got.receivedMessageItems) {
          inFlight++;
          stats.peakInFlight = Math.max(stats.peakInFlight, inFlight);
          const t = run(queue, m)
            .catch(() => undefined)
            .finally(() => {
              inFlight--;
              tasks.delete(t);
            });
          tasks.add(t);
        }
      } catch {
        // Storage hiccup: poll again after the back-off.
      }
      if (found > 0) delay = 100;
      else {
        await sleep(delay * (0.8 + Math.random() * 0.4));
        delay = Math.min(delay * 2, maxPoll);
      }
    }
  })();

  return {
    get processed() {
      return stats.processed;
    },
    get failed() {
      return stats.failed;
    },
    get poisoned() {
      return stats.poisoned;
    },
    get peakInFlight() {
      return stats.peakInFlight;
    },
    get inFlight() {
      return inFlight;
    },
    async idle(pollMs = 100) {
      for (;;) {
        if (inFlight === 0) {
          const p = await queue.getProperties();
          if ((p.approximateMessagesCount ?? 0) === 0 && inFlight === 0) return;
        }
        await sleep(pollMs);
      }
    },
    async stop() {
      running = false;
      await loop;
      await Promise.all([...tasks]);
    },
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
