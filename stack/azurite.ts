/**
 * Launches the REAL Azure Storage emulator (Azurite, npm `azurite`) as a child process for the local
 * stack and the contract tests. Nothing here emulates storage: blobs, leases, conditional writes and
 * listing are Azurite's own implementation.
 *
 * Real behaviours relied on (Azurite 3.x, https://github.com/Azure/Azurite#command-line-options-and-configuration):
 * - `--blobPort 0 --queuePort 0 --tablePort 0` lets the OS pick free ports; Azurite prints each service's
 *   bound address as "Azurite Blob service is successfully listening at http://127.0.0.1:PORT" on stdout.
 *   `--silent` only turns off the per-request access log, so these start-up lines are still printed.
 * - `--inMemoryPersistence` keeps everything in memory and cannot be combined with `--location`; with a
 *   `dir` the emulator persists to that folder instead, so a stack can be restarted with its state.
 * - The account is the documented development account `devstoreaccount1` with its well-known key
 *   (https://learn.microsoft.com/azure/storage/common/storage-use-azurite#well-known-storage-account-and-key),
 *   and endpoints are path-style: `http://127.0.0.1:PORT/devstoreaccount1`.
 * - Azurite shuts its servers down on SIGTERM.
 * - Azurite rejects requests whose `x-ms-version` is newer than it knows ("The API version ... is not
 *   supported by Azurite"), and the Storage SDK release is often ahead of the emulator's; its documented
 *   `--skipApiVersionCheck` flag accepts them.
 *
 * Not reproduced / not provided: HTTPS and OAuth (Azurite supports them with `--cert`/`--oauth`, the
 * stack uses the connection string instead), and the storage firewall.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The emulator's documented, public development account key (not a secret). */
const DEV_ACCOUNT = "devstoreaccount1";
const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/**
 * How long Azurite may take to print its three "listening" lines. A start that fails (bad flags, a taken
 * port) exits at once and is reported at once; this bounds only a slow or hung start. Start-up is CPU-bound
 * (Node loads the emulator's modules before it prints anything): measured 8 s on a 2-core machine at load
 * 20, and over 20 s while test workers were starting beside it. A retry would throw that work away and
 * start again under the same load, so the bound is wide instead, and wider under CI (`CI=true`), whose
 * machine runs every test file at once. Hooks that start Azurite allow this much more than their own work.
 */
export const START_TIMEOUT_MS = process.env.CI === "true" ? 120_000 : 60_000;
const STOP_GRACE_MS = 3_000;
const LISTENING = /Azurite (Blob|Queue|Table) service is successfully listening at (http:\/\/\S+)/;

/**
 * Exits the emulator when the process that launched it is gone (a parent that was SIGKILLed never runs
 * its exit handlers): the child is re-parented, so its ppid changes. The timer is unref'd so it never
 * keeps the emulator alive on its own.
 */
const PARENT_WATCHDOG =
  "data:text/javascript," +
  encodeURIComponent(
    "const p = process.ppid; setInterval(() => { if (process.ppid !== p) process.exit(0); }, 1000).unref();",
  );

export interface RunningAzurite {
  connectionString: string;
  blobEndpoint: string;
  queueEndpoint: string;
  tableEndpoint: string;
  close(): Promise<void>;
}

function azuriteEntry(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve("azurite/package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { bin?: Record<string, string> };
  const bin = pkg.bin?.azurite;
  if (!bin) throw new Error("the installed azurite package has no 'azurite' binary");
  return join(dirname(pkgPath), bin);
}

export async function startAzurite(opts: { dir?: string } = {}): Promise<RunningAzurite> {
  const persistence = opts.dir ? ["--location", opts.dir] : ["--inMemoryPersistence"];
  const args = [
    "--import",
    PARENT_WATCHDOG,
    azuriteEntry(),
    ...persistence,
    "--silent",
    "--disableTelemetry",
    "--skipApiVersionCheck",
    "--blobHost",
    "127.0.0.1",
    "--queueHost",
    "127.0.0.1",
    "--tableHost",
    "127.0.0.1",
    "--blobPort",
    "0",
    "--queuePort",
    "0",
    "--tablePort",
    "0",
  ];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
    ...(opts.dir ? { cwd: opts.dir } : {}),
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  let endpoints: Record<"Blob" | "Queue" | "Table", string>;
  try {
    endpoints = await waitForEndpoints(child);
  } catch (e) {
    process.removeListener("exit", killOnExit);
    child.kill("SIGKILL");
    throw e;
  }
  const blobEndpoint = `${endpoints.Blob}/${DEV_ACCOUNT}`;
  const queueEndpoint = `${endpoints.Queue}/${DEV_ACCOUNT}`;
  const tableEndpoint = `${endpoints.Table}/${DEV_ACCOUNT}`;
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};` +
    `BlobEndpoint=${blobEndpoint};QueueEndpoint=${queueEndpoint};TableEndpoint=${tableEndpoint};`;

  let closing: Promise<void> | undefined;
  return {
    connectionString,
    blobEndpoint,
    queueEndpoint,
    tableEndpoint,
    close: () =>
      (closing ??= stop(child).finally(() => {
        process.removeListener("exit", killOnExit);
      })),
  };
}

function waitForEndpoints(child: ChildProcess): Promise<Record<"Blob" | "Queue" | "Table", string>> {
  return new Promise((resolve, reject) => {
    const found: Partial<Record<"Blob" | "Queue" | "Table", string>> = {};
    let output = "";
    let pending = "";
    const timer = setTimeout(
      () => finish(new Error(`Azurite did not start within ${START_TIMEOUT_MS} ms:\n${output}`)),
      START_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      output += text;
      pending += text;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const m = LISTENING.exec(line);
        if (m?.[1] && m[2]) found[m[1] as "Blob" | "Queue" | "Table"] = m[2].replace(/\/$/, "");
      }
      if (found.Blob && found.Queue && found.Table)
        finish(undefined, { Blob: found.Blob, Queue: found.Queue, Table: found.Table });
    };
    const onStderr = (chunk: Buffer) => {
      output += chunk.toString("utf8");
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      finish(
        new Error(
          `Azurite exited during start-up (code ${code ?? "none"}, signal ${signal ?? "none"}):\n${output}`,
        ),
      );
    const finish = (error: Error | undefined, value?: Record<"Blob" | "Queue" | "Table", string>) => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onStderr);
      child.off("exit", onExit);
      // Keep draining the pipes so a chatty child never blocks on a full buffer.
      child.stdout?.resume();
      child.stderr?.resume();
      if (error) reject(error);
      else if (value) resolve(value);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onStderr);
    child.once("exit", onExit);
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
