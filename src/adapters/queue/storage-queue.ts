/**
 * The fleet's work queue on Azure Storage queues, found like the Functions host finds its queue
 * trigger's connection (`connection: "AzureWebJobsStorage"`): a connection string in
 * `AzureWebJobsStorage`, or identity-based `AzureWebJobsStorage__queueServiceUri` /
 * `AzureWebJobsStorage__accountName` (https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#identity-based-connections;
 * the identity needs "Storage Queue Data Contributor" on the queues, infra/app/rbac.bicep).
 *
 * Messages are sent base64-encoded: the host's default `messageEncoding` is base64
 * (https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#host-json).
 * A visibility timeout delays a message by up to 7 days
 * (https://learn.microsoft.com/rest/api/storageservices/put-message, `visibilitytimeout`).
 */
import type { TokenCredential } from "@azure/identity";
import { QueueServiceClient, type QueueClient, type StoragePipelineOptions } from "@azure/storage-queue";
import { RotatorError } from "../../errors.js";
import type { WorkQueue } from "../../ports/infrastructure.js";
import { WORK_QUEUE } from "./names.js";

const SETTING = "AzureWebJobsStorage";
const MAX_VISIBILITY_S = 7 * 24 * 3600;
const PIPELINE: StoragePipelineOptions = {
  retryOptions: { maxTries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4_000, tryTimeoutInMs: 10_000 },
};

export function queueServiceFromEnv(
  env: NodeJS.ProcessEnv,
  credential: TokenCredential,
): QueueServiceClient | undefined {
  const connectionString = env[SETTING]?.trim();
  if (connectionString) {
    try {
      return QueueServiceClient.fromConnectionString(connectionString, PIPELINE);
    } catch (e) {
      throw new RotatorError(
        "STORAGE_CONFIG_INVALID",
        `${SETTING} is not a usable storage connection string for queues`,
        "Set it to the storage account's connection string (with a QueueEndpoint for Azurite).",
        { cause: e },
      );
    }
  }
  const uri = env[`${SETTING}__queueServiceUri`]?.trim();
  const account = env[`${SETTING}__accountName`]?.trim();
  const url = uri ?? (account ? `https://${account}.queue.core.windows.net` : undefined);
  return url ? new QueueServiceClient(url.replace(/\/$/, ""), credential, PIPELINE) : undefined;
}

export function createStorageWorkQueue(service: QueueServiceClient, name = WORK_QUEUE): WorkQueue {
  const client: QueueClient = service.getQueueClient(name);
  let created: Promise<unknown> | undefined;
  const ensure = () =>
    (created ??= client
      .createIfNotExists()
      .catch((e: unknown) => ((created = undefined), Promise.reject(e))));
  return {
    name,
    async send(body, delayMs = 0) {
      try {
        await ensure();
        await client.sendMessage(Buffer.from(body, "utf8").toString("base64"), {
          visibilityTimeout: Math.min(Math.max(0, Math.floor(delayMs / 1000)), MAX_VISIBILITY_S),
        });
      } catch (e) {
        throw new RotatorError(
          "QUEUE_SEND_FAILED",
          `could not enqueue work on queue ${name}`,
          "Check AzureWebJobsStorage and that the identity has Storage Queue Data Contributor on the queue; the next timer tick enqueues again.",
          { cause: e, retryable: true },
        );
      }
    },
  };
}
