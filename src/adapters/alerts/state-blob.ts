/**
 * AlertStateStore on Blob Storage: one small JSON blob per alert key in a container of the service's
 * storage account (default `rotator-alerts`), e.g. `KeySyncDrift/prod-app/kong-eu/KONG_JWK_MISMATCH`.
 *
 * Concurrency follows the contract in state.ts with Blob Storage conditional headers
 * (https://learn.microsoft.com/rest/api/storageservices/specifying-conditional-headers-for-blob-service-operations):
 * writes carry `If-Match: <ETag last seen>`, or `If-None-Match: *` for a key seen absent; a 412
 * `ConditionNotMet` or 409 `BlobAlreadyExists` means another run got there first. A missing container
 * reads as empty and is created on first write.
 */
import type { BlobServiceClient } from "@azure/storage-blob";
import type { AlertStateStore } from "../../ports/infrastructure.js";
import { storageError, storageErrorCode } from "../storage.js";
import { alertStateConflict, checkAlertKey, isAlertState, type AlertState } from "./state.js";

export const DEFAULT_ALERT_CONTAINER = "rotator-alerts";

export interface BlobAlertStateStoreOptions {
  blob: BlobServiceClient;
  container?: string;
}

export function createBlobAlertStateStore(opts: BlobAlertStateStoreOptions): AlertStateStore {
  const container = opts.blob.getContainerClient(opts.container ?? DEFAULT_ALERT_CONTAINER);
  /** ETag last seen per key; null = seen absent. */
  const etags = new Map<string, string | null>();

  const conditionsFor = (key: string) => {
    const etag = etags.get(key);
    return etag ? { ifMatch: etag } : { ifNoneMatch: "*" };
  };

  async function upload(key: string, value: AlertState): Promise<string | undefined> {
    const body = JSON.stringify(value);
    const res = await container.getBlockBlobClient(key).upload(body, Buffer.byteLength(body), {
      conditions: conditionsFor(key),
      blobHTTPHeaders: { blobContentType: "application/json" },
    });
    return res.etag;
  }

  return {
    async get(key) {
      checkAlertKey(key);
      try {
        const res = await container.getBlockBlobClient(key).download();
        const text = await readAll(res.readableStreamBody);
        etags.set(key, res.etag ?? null);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        // A damaged entry reads as absent (the alert fires again); its ETag is kept so the next put replaces it.
        return isAlertState(parsed) ? parsed : undefined;
      } catch (e) {
        if (storageErrorCode(e).statusCode === 404) {
          etags.set(key, null);
          return undefined;
        }
        throw storageError(e, "ALERT_STATE", "read alert state");
      }
    },

    async put(key, value) {
      checkAlertKey(key);
      for (let attempt = 1; ; attempt++) {
        try {
          etags.set(key, (await upload(key, value)) ?? null);
          return;
        } catch (e) {
          const { statusCode, code } = storageErrorCode(e);
          if (statusCode === 404 && code === "ContainerNotFound" && attempt === 1) {
            await createContainer();
            continue;
          }
          if (statusCode === 412 || (statusCode === 409 && code === "BlobAlreadyExists")) {
            etags.delete(key);
            throw alertStateConflict(key);
          }
          throw storageError(e, "ALERT_STATE", "write alert state");
        }
      }
    },

    async delete(key) {
      checkAlertKey(key);
      const etag = etags.get(key);
      // Seen absent, never read, or invalidated by a conflict: this store cannot know what it would delete.
      if (!etag) throw alertStateConflict(key);
      try {
        await container.getBlockBlobClient(key).delete({ conditions: { ifMatch: etag } });
        etags.set(key, null);
      } catch (e) {
        const { statusCode } = storageErrorCode(e);
        if (statusCode === 404 || statusCode === 412) {
          etags.delete(key);
          throw alertStateConflict(key);
        }
        throw storageError(e, "ALERT_STATE", "delete alert state");
      }
    },

    async list(prefix) {
      const keys: string[] = [];
      try {
        for await (const item of container.listBlobsFlat({ prefix })) keys.push(item.name);
      } catch (e) {
        if (storageErrorCode(e).statusCode === 404) return [];
        throw storageError(e, "ALERT_STATE", "list alert state");
      }
      return keys.sort();
    },
  };

  async function createContainer(): Promise<void> {
    try {
      await container.createIfNotExists();
    } catch (e) {
      throw storageError(e, "ALERT_STATE", `create alert state container ${container.containerName}`);
    }
  }
}

async function readAll(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return "";
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}
