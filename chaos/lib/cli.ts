/**
 * The CLI as a real child process (`node --import tsx src/cli/main.ts ...`), exactly as an operator or a
 * scheduler runs it, with the stack's environment (identity, storage, Kong token, CA trust). Its output
 * goes to the hygiene capture.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import type { Capture } from "./capture.js";

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  ms: number;
}

export interface RunningCli {
  child: ChildProcess;
  exited: Promise<CliResult>;
}

const ENTRY = resolve("src/cli/main.ts");

export function spawnCli(args: string[], env: Record<string, string>, capture: Capture): RunningCli {
  const started = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", ENTRY, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on("data", (c: Buffer) => out.push(c));
  child.stderr!.on("data", (c: Buffer) => err.push(c));
  const exited = new Promise<CliResult>((resolveExit) => {
    child.on("close", (code, signal) => {
      const r = {
        code,
        signal,
        out: Buffer.concat(out).toString("utf8"),
        err: Buffer.concat(err).toString("utf8"),
        ms: performance.now() - started,
      };
      capture.add("cli-stdout", r.out);
      capture.add("cli-stderr", r.err);
      resolveExit(r);
    });
  });
  return { child, exited };
}
