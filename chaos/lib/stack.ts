/**
 * The chaos suite's local stack: the ordinary embedded stack (stack/stack.ts) with a propagation delay
 * that the suites can change and that records every delay drawn, the hygiene capture registered before
 * any secret is generated, the request interceptor, and helpers shared by the suites.
 */
import { BlobServiceClient } from "@azure/storage-blob";
import { parseConfig } from "../../src/config/load.js";
import { createRuntime, type Runtime } from "../../src/app/runtime.js";
import { jsonLogger } from "../../src/log/logger.js";
import { systemClock } from "../../src/clock.js";
import type { Clock } from "../../src/ports/engine.js";
import { startLocalStack, type LocalStack } from "../../stack/stack.js";
import { Capture } from "./capture.js";
import { Interceptor, type LaneState } from "./interceptor.js";
import { spawnCli, type CliResult } from "./cli.js";
import type { Lane } from "./lanes.js";

export interface ChaosStack {
  stack: LocalStack;
  capture: Capture;
  interceptor: Interceptor;
  /** Propagation delays drawn for new keys (ms), in order. */
  delays: number[];
  /** Set how the Entra fake draws the propagation delay of the next keys. */
  setPropagation(draw: () => number): void;
  /** Run the CLI as a child process for a lane; the child is the one the interceptor may kill. */
  cli(st: LaneState, args: string[]): Promise<CliResult>;
  /** An in-process runtime for a lane (the same composition root as the Functions and the CLI). */
  runtime(lane: Lane, opts?: { clock?: Clock }): Runtime;
  /** Whether the lane's lease blob is free (no live lease), read from Azurite. */
  leaseFree(name: string): Promise<boolean>;
  close(): Promise<void>;
}

export const CHAOS_POLICY = {
  verifyInterval: "PT0.2S",
  verifyConsecutive: 3,
  verifyTimeout: "PT30S",
  overlap: "PT2S",
  forceCooldown: "PT0S",
};

export async function startChaosStack(): Promise<ChaosStack> {
  const capture = new Capture();
  const delays: number[] = [];
  let draw: () => number = () => 500;
  const stack = await startLocalStack({
    propagationDelayMs: () => {
      const d = draw();
      delays.push(d);
      return d;
    },
    createDelayMs: 200,
    policy: CHAOS_POLICY,
  });
  for (const k of ["KONG_ADMIN_TOKEN", "AZURE_CLIENT_SECRET"]) capture.addSecret(k, stack.env[k]);
  const interceptor = new Interceptor(stack);
  const blob = BlobServiceClient.fromConnectionString(stack.env.AzureWebJobsStorage!);
  return {
    stack,
    capture,
    interceptor,
    delays,
    setPropagation: (d) => void (draw = d),
    async cli(st, args) {
      const running = spawnCli([...args, "--config", st.lane.configPath], stack.env, capture);
      st.child = running.child;
      return running.exited;
    },
    runtime(lane, opts = {}) {
      return createRuntime({
        config: parseConfig(lane.config, lane.configPath),
        env: stack.env,
        logger: jsonLogger((line) => capture.add("log", line), "debug"),
        clock: opts.clock ?? systemClock,
      });
    },
    async leaseFree(name) {
      try {
        const p = await blob.getContainerClient("rotator-locks").getBlobClient(name).getProperties();
        return p.leaseState !== "leased" && p.leaseState !== "breaking";
      } catch {
        return true;
      }
    },
    async close() {
      interceptor.close();
      capture.close();
      await stack.close();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A clock for in-process runs whose waits are recorded and shortened to at most `capMs` of real time,
 * so retry backoffs and Retry-After waits are measured without being slept through. `now()` is real.
 */
export function recordingClock(capMs = 20): Clock & { slept: number[] } {
  const slept: number[] = [];
  return {
    slept,
    now: () => new Date(),
    sleep: (ms, signal) => {
      slept.push(ms);
      return systemClock.sleep(Math.min(ms, capMs), signal);
    },
  };
}

/** Run tasks with at most `limit` in flight. */
export async function pool<T, R>(
  items: T[],
  limit: number,
  task: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
