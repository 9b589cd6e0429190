/**
 * Last success and last failure per credential, as one small JSON blob (`rotator-runs/{credential}.json`)
 * in the service's storage. Only the lease holder writes it, so plain overwrites suffice. It feeds the
 * status output; the rotation itself never reads it.
 */
import type { BlobServiceClient } from "@azure/storage-blob";
import type { RunHistory, RunRecord } from "../../ports.js";
import { storageErrorCode } from "../storage.js";

type Entry = { lastSuccess?: RunRecord; lastFailure?: RunRecord };

const FAILED = new Set(["failed", "stuck"]);

export function mergeRun(entry: Entry, run: RunRecord): Entry {
  if (FAILED.has(run.outcome)) return { ...entry, lastFailure: run };
  if (run.outcome === "ok" || run.outcome === "noop") return { ...entry, lastSuccess: run };
  return entry;
}

export const DEFAULT_HISTORY_CONTAINER = "rotator-runs";

export function createBlobRunHistory(opts: { blob: BlobServiceClient; container?: string }): RunHistory {
  const container = opts.blob.getContainerClient(opts.container ?? DEFAULT_HISTORY_CONTAINER);
  const blobOf = (credential: string) => container.getBlockBlobClient(`${credential}.json`);
  const get = async (credential: string): Promise<Entry> => {
    try {
      const buf = await blobOf(credential).downloadToBuffer();
      const parsed: unknown = JSON.parse(buf.toString("utf8"));
      return parsed && typeof parsed === "object" ? (parsed as Entry) : {};
    } catch (e) {
      if (storageErrorCode(e).statusCode === 404 || e instanceof SyntaxError) return {};
      throw e;
    }
  };
  return {
    get,
    async record(credential, run) {
      const body = JSON.stringify(mergeRun(await get(credential), run));
      const upload = () =>
        blobOf(credential).upload(body, Buffer.byteLength(body), {
          blobHTTPHeaders: { blobContentType: "application/json" },
        });
      try {
        await upload();
      } catch (e) {
        if (storageErrorCode(e).code !== "ContainerNotFound") throw e;
        await container.createIfNotExists();
        await upload();
      }
    },
  };
}

export function createMemoryRunHistory(): RunHistory {
  const entries = new Map<string, Entry>();
  return {
    get: async (credential) => entries.get(credential) ?? {},
    record: async (credential, run) =>
      void entries.set(credential, mergeRun(entries.get(credential) ?? {}, run)),
  };
}
