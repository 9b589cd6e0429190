/**
 * The one-writer lease against the REAL Azurite, through the same Storage SDK client production uses.
 * Lease durations are Azure's real ones (15 s minimum), so the two tests that need a lease to run out
 * wait for it; they run concurrently and assert outcomes, never timings.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { TokenCredential } from "@azure/identity";
import type { BlobServiceClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { START_TIMEOUT_MS, startAzurite, type RunningAzurite } from "../../stack/azurite.js";
import { storageFromEnv } from "../../src/adapters/storage.js";
import { createBlobLeaseManager } from "../../src/adapters/lease/blob.js";
import { createNoLeaseManager } from "../../src/adapters/lease/none.js";
import { RotatorError } from "../../src/errors.js";
import type { Logger } from "../../src/ports/engine.js";

const noCredential: TokenCredential = {
  getToken: () => Promise.reject(new Error("connection-string storage never asks for a token")),
};

function recordingLogger(): Logger & { events: Array<{ event: string; fields: Record<string, unknown> }> } {
  const events: Array<{ event: string; fields: Record<string, unknown> }> = [];
  return { events, log: (_level, event, fields = {}) => void events.push({ event, fields }) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function aborted(signal: AbortSignal, withinMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve(signal.reason);
    const t = setTimeout(() => reject(new Error(`signal not aborted within ${withinMs} ms`)), withinMs);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve(signal.reason);
    });
  });
}

let azurite: RunningAzurite;
let blob: BlobServiceClient;

beforeAll(async () => {
  azurite = await startAzurite();
  const storage = storageFromEnv({ AzureWebJobsStorage: azurite.connectionString }, noCredential);
  if (!storage) throw new Error("storage not configured");
  blob = storage.blob;
}, START_TIMEOUT_MS + 10_000);

afterAll(async () => {
  await azurite?.close();
});

describe("blob lease manager (Azurite)", () => {
  it("acquires a credential's lease and records the holder while holding it", async () => {
    const leases = createBlobLeaseManager({ blob });
    const lease = await leases.tryAcquire("cred-acquire", "run-1 (timer)");
    expect(lease).toBeDefined();
    expect(lease?.signal.aborted).toBe(false);
    const props = await blob
      .getContainerClient("rotator-locks")
      .getBlobClient("cred-acquire")
      .getProperties();
    expect(props.leaseState).toBe("leased");
    expect(decodeURIComponent(props.metadata?.holder ?? "")).toBe("run-1 (timer)");
    expect(Date.parse(props.metadata?.acquiredat ?? "")).not.toBeNaN();
    await lease?.release();
  });

  it("reports busy (undefined, not an error) while another writer holds it, naming the holder", async () => {
    const logger = recordingLogger();
    const first = await createBlobLeaseManager({ blob }).tryAcquire("cred-busy", "writer-a");
    const second = await createBlobLeaseManager({ blob, logger }).tryAcquire("cred-busy", "writer-b");
    expect(first).toBeDefined();
    expect(second).toBeUndefined();
    const busy = logger.events.find((e) => e.event === "LeaseBusy");
    expect(busy?.fields).toMatchObject({
      credential: "cred-busy",
      requestedBy: "writer-b",
      heldBy: "writer-a",
    });
    await first?.release();
  });

  it("can be re-acquired by another writer right after release", async () => {
    const a = createBlobLeaseManager({ blob });
    const b = createBlobLeaseManager({ blob });
    const first = await a.tryAcquire("cred-release", "a");
    expect(first).toBeDefined();
    await first?.release();
    await first?.release();
    const second = await b.tryAcquire("cred-release", "b");
    expect(second).toBeDefined();
    expect(second?.id).not.toBe(first?.id);
    await second?.release();
  });

  it("gives exactly one of 20 concurrent writers the lease, creating container and blob race-free", async () => {
    const managers = Array.from({ length: 20 }, () =>
      createBlobLeaseManager({ blob, container: "race-locks" }),
    );
    const results = await Promise.all(managers.map((m, i) => m.tryAcquire("cred-race", `writer-${i}`)));
    const winners = results.filter((l) => l !== undefined);
    expect(winners).toHaveLength(1);
    await winners[0]?.release();
  });

  it("aborts the lease signal when renewal finds the lease gone", async () => {
    const logger = recordingLogger();
    const lease = await createBlobLeaseManager({ blob, renewEveryMs: 200, logger }).tryAcquire(
      "cred-lost",
      "victim",
    );
    expect(lease).toBeDefined();
    if (!lease) return;
    // An operator (or a buggy writer) breaks the lease out from under the holder.
    await blob
      .getContainerClient("rotator-locks")
      .getBlobClient("cred-lost")
      .getBlobLeaseClient()
      .breakLease(0);
    const reason = await aborted(lease.signal, 20_000);
    expect(reason).toBeInstanceOf(RotatorError);
    expect((reason as RotatorError).code).toBe("LEASE_LOST");
    expect(logger.events.some((e) => e.event === "LeaseLost")).toBe(true);
    await lease.release();
  });

  it("maps an unreachable storage account to LEASE_STORAGE_UNAVAILABLE", async () => {
    const dead = storageFromEnv(
      {
        AzureWebJobsStorage: azurite.connectionString.replace(
          /:(\d+)\/devstoreaccount1/g,
          ":1/devstoreaccount1",
        ),
      },
      noCredential,
    );
    if (!dead) throw new Error("storage not configured");
    const error = await createBlobLeaseManager({ blob: dead.blob })
      .tryAcquire("cred-dead", "x")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotatorError);
    expect((error as RotatorError).code).toBe("LEASE_STORAGE_UNAVAILABLE");
    expect((error as RotatorError).retryable).toBe(true);
  });

  it("rejects lease settings Azure would refuse", () => {
    expect(() => createBlobLeaseManager({ blob, leaseSeconds: 10 })).toThrow(
      expect.objectContaining({ code: "LEASE_CONFIG_INVALID" }),
    );
    expect(() => createBlobLeaseManager({ blob, leaseSeconds: 15, renewEveryMs: 15_000 })).toThrow(
      expect.objectContaining({ code: "LEASE_CONFIG_INVALID" }),
    );
  });

  describe.concurrent("lease expiry (real 15 s leases)", () => {
    it("renewal keeps the lease past its duration", async () => {
      const lease = await createBlobLeaseManager({ blob, renewEveryMs: 3_000 }).tryAcquire(
        "cred-renew",
        "long-run",
      );
      expect(lease).toBeDefined();
      await sleep(17_000);
      expect(lease?.signal.aborted).toBe(false);
      expect(await createBlobLeaseManager({ blob }).tryAcquire("cred-renew", "intruder")).toBeUndefined();
      await lease?.release();
    });

    it(
      "aborts the signal before expiry when storage stops answering renewals",
      async () => {
        const own = await startAzurite();
        try {
          const storage = storageFromEnv({ AzureWebJobsStorage: own.connectionString }, noCredential);
          if (!storage) throw new Error("storage not configured");
          const logger = recordingLogger();
          const lease = await createBlobLeaseManager({
            blob: storage.blob,
            renewEveryMs: 2_000,
            logger,
          }).tryAcquire("cred-outage", "holder");
          expect(lease).toBeDefined();
          if (!lease) return;
          await own.close();
          const reason = await aborted(lease.signal, 30_000);
          expect((reason as RotatorError).code).toBe("LEASE_LOST");
          expect(logger.events.some((e) => e.event === "LeaseRenewFailed")).toBe(true);
        } finally {
          await own.close();
        }
      },
      START_TIMEOUT_MS + 45_000,
    );

    it("a holder that dies without releasing is taken over once its lease expires", async () => {
      const holder = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "--input-type=module",
          "-e",
          `import { BlobServiceClient } from "@azure/storage-blob";
           import { createBlobLeaseManager } from ${JSON.stringify(fileURLToPath(new URL("../../src/adapters/lease/blob.ts", import.meta.url)))};
           const leases = createBlobLeaseManager({ blob: BlobServiceClient.fromConnectionString(process.env.CS), renewEveryMs: 1000 });
           const lease = await leases.tryAcquire("cred-dead-holder", "doomed-process");
           console.log(lease ? "ACQUIRED" : "BUSY");
           setInterval(() => {}, 1000);`,
        ],
        { env: { ...process.env, CS: azurite.connectionString }, stdio: ["ignore", "pipe", "inherit"] },
      );
      const state = await new Promise<string>((resolve, reject) => {
        holder.stdout.on("data", (d: Buffer) => resolve(d.toString().trim()));
        holder.once("exit", (code) => reject(new Error(`holder exited early (${code})`)));
      });
      expect(state).toBe("ACQUIRED");
      const successor = createBlobLeaseManager({ blob });
      expect(await successor.tryAcquire("cred-dead-holder", "successor")).toBeUndefined();

      holder.kill("SIGKILL");
      const diedAt = Date.now();
      let lease = await successor.tryAcquire("cred-dead-holder", "successor");
      while (!lease && Date.now() - diedAt < 45_000) {
        await sleep(500);
        lease = await successor.tryAcquire("cred-dead-holder", "successor");
      }
      console.info(
        `[lease] successor took over ${((Date.now() - diedAt) / 1000).toFixed(1)} s after the holder was killed (lease 15 s)`,
      );
      expect(lease).toBeDefined();
      await lease?.release();
    });
  });
});

describe("no-other-writer lease manager", () => {
  it("always grants a lease whose signal never aborts", async () => {
    const leases = createNoLeaseManager();
    const [a, b] = await Promise.all([leases.tryAcquire("c", "x"), leases.tryAcquire("c", "y")]);
    expect(a?.signal.aborted).toBe(false);
    expect(b?.signal.aborted).toBe(false);
    expect(a?.id).toContain("no-other-writer");
    await a?.release();
  });
});
