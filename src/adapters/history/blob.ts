/**
 * Last success and last failure per credential, and the origin marks of its newest manual requests, as
 * one small JSON blob (`rotator-runs/{credential}.json`) in the service's storage. Only the lease holder
 * writes it, so plain overwrites suffice. It feeds the status output and the audit of where a request came
 * from; the rotation itself never reads it.
 */
import type { BlobServiceClient } from "@azure/storage-blob";
import type { RequestMark, RunHistory, RunRecord } from "../../ports/infrastructure.js";
import { storageErrorCode } from "../storage.js";

type Entry = { lastSuccess?: RunRecord; lastFailure?: RunRecord; requests?: RequestMark[] };

const FAILED = new Set(["failed", "stuck"]);

/** Request marks kept per credential, newest last: far more than the requests a credential has in flight. */
export const MAX_REQUEST_MARKS = 50;

export function mergeRun(entry: Entry, run: RunRecord): Entry {
  if (FAILED.has(run.outcome)) return { ...entry, lastFailure: run };
  if (run.outcome === "ok" || run.outcome === "noop") return { ...entry, lastSuccess: run };
  return entry;
}

export function mergeMark(entry: Entry, mark: RequestMark): Entry {
  const others = (entry.requests ?? []).filter((m) => m.id !== mark.id);
  return { ...entry, requests: [...others, mark].slice(-MAX_REQUEST_MARKS) };
}

const runs = ({ lastSuccess, lastFailure }: Entry) => ({
  ...(lastSuccess ? { lastSuccess } : {}),
  ...(lastFailure ? { lastFailure } : {}),
});

export const DEFAULT_HISTORY_CONTAINER = "rotator-runs";

export function createBlobRunHistory(opts: { blob: BlobServiceClient; container?: string }): RunHistory {
  const container = opts.blob.getContainerClient(opts.container ?? DEFAULT_HISTORY_CONTAINER);
  const blobOf = (credential: string) => container.getBlockBlobClient(`${credential}.json`);
  const read = async (credential: string): Promise<Entry> => {
    try {
      const buf = await blobOf(credential).downloadToBuffer();
      const parsed: unknown = JSON.parse(buf.toString("utf8"));
      return parsed && typeof parsed === "object" ? (parsed as Entry) : {};
    } catch (e) {
      if (storageErrorCode(e).statusCode === 404 || e instanceof SyntaxError) return {};
      throw e;
    }
  };
  const update = async (credential: string, change: (e: Entry) => Entry): Promise<void> => {
    const body = JSON.stringify(change(await read(credential)));
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
  };
  return {
    get: async (credential) => runs(await read(credential)),
    record: (credential, run) => update(credential, (e) => mergeRun(e, run)),
    requestMarks: async (credential) => {
      const marks = (await read(credential)).requests;
      return Array.isArray(marks) ? marks : [];
    },
    markRequest: (credential, mark) => update(credential, (e) => mergeMark(e, mark)),
  };
}

export function createMemoryRunHistory(): RunHistory {
  const entries = new Map<string, Entry>();
  return {
    get: async (credential) => runs(entries.get(credential) ?? {}),
    record: async (credential, run) =>
      void entries.set(credential, mergeRun(entries.get(credential) ?? {}, run)),
    requestMarks: async (credential) => entries.get(credential)?.requests ?? [],
    markRequest: async (credential, mark) =>
      void entries.set(credential, mergeMark(entries.get(credential) ?? {}, mark)),
  };
}
