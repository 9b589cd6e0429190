/**
 * `npm run stack` and `npm run demo` stop with every process they started (tsx, the stack, Azurite) and free
 * every port, whichever way npm goes: SIGTERM (a supervisor, `kill`), SIGHUP (a closed terminal: it kills npm
 * and reaches nobody else) or SIGKILL (npm dies without a word). Each case runs the real npm script in a
 * process group of its own, sends the signal to the npm process only, then checks /proc: no member of the
 * group left and no port of theirs still listening (stack/common/lifeline.ts).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { groupMembers, listened, listeningPorts, portFree } from "../support/processes.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const START_TIMEOUT_MS = 150_000;
const STOP_TIMEOUT_MS = 30_000;

let running: ChildProcess | undefined;
const dirs: string[] = [];

afterEach(() => {
  // Only if a case failed: nothing of it may outlive the test.
  const pid = running?.pid;
  if (pid !== undefined) for (const p of groupMembers(pid)) process.kill(p.pid, "SIGKILL");
  running = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Start `npm run <script>` in its own process group; resolves once `ready` appears on its stdout. */
async function start(script: string, ready: RegExp): Promise<ChildProcess> {
  const dir = mkdtempSync(join(tmpdir(), "stack-shutdown-"));
  dirs.push(dir);
  const child = spawn("npm", ["run", "--silent", script], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LOCAL_STACK_DIR: dir },
  });
  running = child;
  let output = "";
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`npm run ${script} not ready:\n${output}`)),
      START_TIMEOUT_MS,
    );
    const onData = (b: Buffer) => {
      output += b.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        res();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (b: Buffer) => (output += b.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      rej(new Error(`npm run ${script} exited (${code}) before it was ready:\n${output}`));
    });
  });
  // Keep draining: a child blocked on a full pipe would not stop.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return check();
}

/** Signal npm only, then: no process of the group left, every port its processes listened on free. */
async function expectStopsCleanly(npm: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const pgid = npm.pid!;
  const members = groupMembers(pgid);
  const ports = listeningPorts(members.map((p) => p.pid));
  // The launcher, the stack and Azurite at least; Azurite alone listens on three ports.
  expect(members.length, members.map((p) => p.cmd).join("\n")).toBeGreaterThanOrEqual(4);
  expect(ports.length).toBeGreaterThanOrEqual(4);

  process.kill(pgid, signal);
  await until(() => groupMembers(pgid).length === 0, STOP_TIMEOUT_MS);
  expect(
    groupMembers(pgid).map((p) => p.cmd),
    "processes left",
  ).toEqual([]);
  expect(ports.filter(listened), "ports still listening").toEqual([]);
  for (const port of ports) expect(await portFree(port), `port ${port}`).toBe(true);
}

describe("npm run stack stops with everything it started", () => {
  it.each(["SIGTERM", "SIGHUP", "SIGKILL"] as const)(
    "%s to the npm process",
    async (signal) => {
      const npm = await start("stack", /local stack is up/);
      await expectStopsCleanly(npm, signal);
    },
    START_TIMEOUT_MS + 2 * STOP_TIMEOUT_MS,
  );
});

describe("npm run demo stops with everything it started", () => {
  it(
    "SIGTERM to the npm process mid-demo",
    async () => {
      const npm = await start("demo", /stack up: /);
      await expectStopsCleanly(npm, "SIGTERM");
    },
    START_TIMEOUT_MS + 2 * STOP_TIMEOUT_MS,
  );
});
