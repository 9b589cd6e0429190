/**
 * `npm run bench:startup`: cold-start cost of the deployment package, printed as figures (no assertion).
 *
 * - builds the package (scripts/package.ts) into dist/functionapp;
 * - import time of its entry (goal ≤ 100 ms median, issue 22): each run is a fresh `node` process that loads the entry the way the Functions
 *   worker does (test/package/load-entry.mjs, with @azure/functions-core stubbed by functions-core.mjs) and
 *   reports the wall time and the CPU time of the `import()` alone; also the whole process's wall time, and
 *   a bare `node -e 0` started just before each run (paired, so that both see the same machine load);
 * - for comparison, the same for the unbundled `tsc` output (dist/src/functions/index.js) when it exists;
 * - network calls attempted during import (TCP connects and DNS lookups);
 * - package size: bytes on disk, and the size of a zip of it with deflate (what azd uploads), computed
 *   entry by entry as a zip stores it (local header, central directory entry, end record).
 *
 * BENCH_RUNS (default 21) sets the number of runs per figure. The machine is shared: the load average is
 * printed with the figures.
 */
import { execFile } from "node:child_process";
import { readdir, readFile, stat } from "node:fs/promises";
import { loadavg } from "node:os";
import { join, relative, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { deflateRawSync } from "node:zlib";
import { buildPackage } from "../scripts/package.js";

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 21);
const CORE = resolve("test/package/functions-core.mjs");
const LOADER = resolve("test/package/load-entry.mjs");

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (x: number) => `${x.toFixed(0)} ms`;
const mb = (x: number) => `${(x / 1024 / 1024).toFixed(2)} MB`;

async function wall(args: string[], cwd: string): Promise<{ wallMs: number; stdout: string }> {
  const t0 = performance.now();
  const { stdout } = await run(process.execPath, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
  return { wallMs: performance.now() - t0, stdout };
}

async function importRuns(entry: string, cwd: string, before?: () => Promise<void>) {
  const importMs: number[] = [];
  const cpuMs: number[] = [];
  const wallMs: number[] = [];
  let connections = 0;
  let functions = 0;
  for (let i = 0; i < RUNS; i++) {
    await before?.();
    const r = await wall(["--import", CORE, LOADER, entry], cwd);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as {
      importMs: number;
      importCpuMs: number;
      connections: unknown[];
      registered: unknown[];
    };
    importMs.push(out.importMs);
    cpuMs.push(out.importCpuMs);
    wallMs.push(r.wallMs);
    connections = Math.max(connections, out.connections.length);
    functions = out.registered.length;
  }
  return { importMs, cpuMs, wallMs, connections, functions };
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else out.push(p);
  }
  return out;
}

/** Bytes of a zip of `dir` with every entry deflated (or stored when deflate does not help). */
async function zipBytes(dir: string): Promise<number> {
  let total = 22; // end of central directory record
  for (const f of await files(dir)) {
    const name = Buffer.byteLength(relative(dir, f));
    const data = await readFile(f);
    const stored = Math.min(deflateRawSync(data, { level: 6 }).length, data.length);
    total += 30 + name + stored + 46 + name; // local header + data + central directory entry
  }
  return total;
}

const pkg = await buildPackage();
const entry = join(pkg.outDir, "index.mjs");
const all = await files(pkg.outDir);
const diskBytes = (await Promise.all(all.map((f) => stat(f)))).reduce((n, s) => n + s.size, 0);

// Paired: each run starts a bare `node -e 0` and then the entry's import, so both see the same load.
const bare: number[] = [];
const bundled = await importRuns(entry, pkg.outDir, async () => {
  bare.push((await wall(["-e", "0"], process.cwd())).wallMs);
});
const tscEntry = resolve("dist/src/functions/index.js");
const tsc = await stat(tscEntry).then(
  () => importRuns(tscEntry, process.cwd()),
  () => undefined,
);

const load = loadavg()
  .map((x) => x.toFixed(1))
  .join(" ");
console.log(`# Startup and package (${RUNS} runs each, Node ${process.versions.node}, load average ${load})`);
console.log(
  `bare node -e 0 (process wall time)      median ${ms(median(bare))} (paired: one before each entry run)`,
);
console.log(
  `package entry: import()                 median ${ms(median(bundled.importMs))} (min ${ms(Math.min(...bundled.importMs))}, max ${ms(Math.max(...bundled.importMs))}), CPU time median ${ms(median(bundled.cpuMs))}; process wall time median ${ms(median(bundled.wallMs))}`,
);
if (tsc)
  console.log(
    `tsc output (unbundled): import()        median ${ms(median(tsc.importMs))}, CPU time median ${ms(median(tsc.cpuMs))}; process wall time median ${ms(median(tsc.wallMs))}`,
  );
else console.log("tsc output (unbundled): not built (npm run build writes dist/src)");
console.log(
  `functions registered                    ${bundled.functions}; network calls during import: ${bundled.connections}`,
);
console.log(
  `package ${relative(process.cwd(), pkg.outDir)}: ${all.length} files, ${mb(diskBytes)} on disk, ${mb(await zipBytes(pkg.outDir))} as a deflate zip; ${pkg.bundledPackages.length} npm packages bundled, ${pkg.copiedPackages.length} copied`,
);
