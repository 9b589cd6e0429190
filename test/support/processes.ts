/**
 * What a process group holds, read from Linux's /proc: its live members and the TCP ports they listen on.
 * Used to prove that `npm run stack` / `npm run demo` leave nothing behind.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";

interface Proc {
  pid: number;
  pgid: number;
  state: string;
  cmd: string;
}

function proc(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    const [state = "", , pgrp = ""] = stat.slice(close + 2).split(" ");
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    return { pid, pgid: Number(pgrp), state, cmd };
  } catch {
    return undefined;
  }
}

/** Live (not zombie) members of a process group, with their command lines. */
export function groupMembers(pgid: number): Proc[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => proc(Number(d)) ?? [])
    .filter((p) => p.pgid === pgid && p.state !== "Z");
}

/** Every LISTEN socket on this machine: [port, inode] (IPv4 and IPv6). */
function listeners(): [number, string][] {
  const out: [number, string][] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let lines: string[] = [];
    try {
      lines = readFileSync(table, "utf8").split("\n").slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const [, local = "", , st, , , , , , inode = ""] = line.trim().split(/\s+/);
      if (st === "0A") out.push([parseInt(local.split(":").at(-1) ?? "", 16), inode]);
    }
  }
  return out;
}

/** Is anything on this machine listening on the TCP port, on any address? */
export function listened(port: number): boolean {
  return listeners().some(([p]) => p === port);
}

/** TCP ports the given processes listen on (IPv4 and IPv6). */
export function listeningPorts(pids: number[]): number[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1]) inodes.add(m[1]);
      } catch {
        // closed meanwhile
      }
    }
  }
  const ports = new Set(listeners().flatMap(([port, inode]) => (inodes.has(inode) ? [port] : [])));
  return [...ports].sort((a, b) => a - b);
}

/** Can this process listen on 127.0.0.1:port right now? */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
