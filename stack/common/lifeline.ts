/**
 * `npm run stack`, `demo`, `bench` and `chaos` stop with everything they started, whichever way their parent
 * goes away:
 * - npm forwards only SIGINT and SIGTERM, and only to its script shell (`sh -c …`, @npmcli/run-script
 *   signal-manager.js), which dies of it without passing it on; SIGHUP kills npm itself and reaches nobody
 *   else; a supervisor may SIGKILL npm. In each case our launcher lives on, re-parented or under a shell
 *   whose parent is gone.
 * - So the launcher (stack/launch.ts) stops its child on SIGINT, SIGTERM and SIGHUP, and also when an
 *   ancestor it watches is gone: its parent, and, when that parent is npm's script shell, npm itself.
 * - The entries it starts (stack/main.ts, the demos, ...) stop the same way when the launcher is gone, and
 *   Azurite watches its own parent (stack/azurite.ts).
 * Liveness is polled (kill(pid, 0), and our own parent id, which changes when we are re-parented); the
 * timer never keeps a process alive by itself.
 */
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";

export const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const POLL_MS = 500;
/** How long a child gets to stop cleanly before it is killed. */
const CHILD_GRACE_MS = 15_000;
const SHELLS = new Set(["sh", "dash", "bash", "zsh", "ash", "ksh", "busybox"]);

/** A process's parent id and command name: /proc on Linux, `ps` elsewhere; undefined when unknown. */
function processInfo(pid: number): { ppid: number; comm: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid …": comm may contain spaces and parentheses, so split after the last ')'.
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const ppid = Number(stat.slice(close + 2).split(" ")[1]);
    return Number.isInteger(ppid) ? { ppid, comm } : undefined;
  } catch {
    try {
      const out = execFileSync("ps", ["-o", "ppid=,comm=", "-p", String(pid)], { encoding: "utf8" }).trim();
      const m = /^(\d+)\s+(.+)$/.exec(out);
      return m ? { ppid: Number(m[1]), comm: (m[2] ?? "").split("/").pop() ?? "" } : undefined;
    } catch {
      return undefined;
    }
  }
}

/** The processes whose exit means "stop": the parent, and npm when the parent is the script shell npm started. */
export function watchedAncestors(): number[] {
  const parent = process.ppid;
  const watched = [parent];
  if (process.env.npm_lifecycle_event !== undefined) {
    const info = processInfo(parent);
    if (info && SHELLS.has(info.comm) && info.ppid > 1) watched.push(info.ppid);
  }
  return watched;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Calls `onGone` once when a watched ancestor has exited or this process was re-parented. */
export function onAncestorGone(onGone: () => void, ancestors: number[] = [process.ppid]): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent && ancestors.every(alive)) return;
    clearInterval(timer);
    onGone();
  }, POLL_MS);
  timer.unref();
}

/**
 * For a launcher: run `args` in a child Node process, stop it (the signal received, or SIGTERM when an
 * ancestor is gone; SIGKILL after a grace period) and exit with its code.
 */
export function superviseChild(args: string[], env: NodeJS.ProcessEnv): void {
  const child = spawn(process.execPath, args, { stdio: "inherit", env });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    if (stopping) return;
    stopping = true;
    setTimeout(() => child.kill("SIGKILL"), CHILD_GRACE_MS).unref();
  };
  for (const sig of STOP_SIGNALS) process.on(sig, () => stop(sig));
  onAncestorGone(() => stop("SIGTERM"), watchedAncestors());
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
}

/**
 * For an entry run by a launcher: on SIGINT, SIGTERM or SIGHUP, or when the launcher is gone, run the
 * registered cleanups (last registered first) once, then exit with `code`.
 */
export function stopWhenAsked(code: number): { onStop(cleanup: () => Promise<void> | void): void } {
  const cleanups: (() => Promise<void> | void)[] = [];
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // A terminal that hung up makes writes fail; stopping must not.
    for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    process.exit(code);
  };
  for (const sig of STOP_SIGNALS) process.on(sig, () => void stop());
  onAncestorGone(() => void stop());
  return { onStop: (cleanup) => void cleanups.push(cleanup) };
}
