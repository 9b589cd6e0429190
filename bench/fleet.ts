/**
 * `npm run bench [-- --credentials N --workers W --batch B --vaults V]`: the fleet benchmark on the local stack
 * (docs/performance.md, "Fleet"). Not a test: it measures and prints.
 *
 * Set-up: N credentials (default 1,000) with 2 Kong targets each (one plugin per target), spread over V Key
 * Vaults (default 1; each with its own documented limits, so the bound is the busiest vault's); injected
 * latencies: Key Vault create 3 s, Entra propagation 5 s, Kong plugin write 200 ms; the Key Vault and
 * Graph fakes enforce their documented rate limits (429 + Retry-After); the product's default
 * verification policy (5 s apart, 5 in a row). W worker processes (default 2) each run the real
 * queue-triggered handlers as one Function instance would (bench/worker.ts); the product's per-process
 * limits are set to the documented values divided by W (`limits:` in the config).
 *
 * Phases, in one run:
 * 1. P4: one credential alone, timer tick to active; minus the injected latency and the confirmation
 *    window, what is left is the product's own overhead.
 * 2. P1: one timer tick for the other N-1; wall time until all are active, against the bound
 *    max over limited resources (work / rate) + one rotation (phase 1's time), work counted at the fakes.
 * 3. P2: an idle rotation tick, an idle sync tick and an idle CLI `run`, external calls per credential.
 * 4. P4 from the CLI: `rotate --force` of the first credential in a new process (the CLI from the sources,
 *    under tsx), process start included, minus the injected latency and the confirmation window.
 */
import { execFile, fork, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs, promisify } from "node:util";
import { build } from "esbuild";
import { BUNDLE_OPTIONS } from "../scripts/package.js";
import { parseConfig } from "../src/config/load.js";
import { createRuntime, type Runtime } from "../src/app/runtime.js";
import { enqueueDue } from "../src/app/fleet.js";
import { syncCheck } from "../src/app/service.js";
import { runDue } from "../src/app/scheduler.js";
import { DOCUMENTED_LIMITS } from "../src/limits.js";
import { silentLogger } from "../src/log/logger.js";
import { startLocalStack } from "../stack/stack.js";
import { stopWhenAsked } from "../stack/common/lifeline.js";
import { seedFleet } from "../stack/fleet.js";

const HOST_BATCH_SIZE = (
  JSON.parse(readFileSync(resolve("host.json"), "utf8")) as { extensions: { queues: { batchSize: number } } }
).extensions.queues.batchSize;

const { values } = parseArgs({
  options: {
    credentials: { type: "string", default: "1000" },
    workers: { type: "string", default: "2" },
    // The queue trigger's batchSize as deployed (host.json extensions.queues).
    batch: { type: "string", default: String(HOST_BATCH_SIZE) },
    // Key Vaults the credentials are spread over (credential i in vault i mod V; each with its own limits).
    vaults: { type: "string", default: "1" },
  },
});
const N = Number(values.credentials);
const W = Number(values.workers);
const BATCH = Number(values.batch);
const V = Number(values.vaults);
if (!(N >= 2 && W >= 1 && BATCH >= 1 && V >= 1))
  throw new Error("--credentials ≥ 2, --workers ≥ 1, --batch ≥ 1, --vaults ≥ 1");

const CREATE_MS = 3_000;
const PROPAGATION_MS = 5_000;
const KONG_WRITE_MS = 200;
const TARGETS = 2;
const VERIFY_INTERVAL_S = 5;
const VERIFY_CONSECUTIVE = 5;

const run = promisify(execFile);
const log = (s: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const lifeline = stopWhenAsked(130);
const stack = await startLocalStack({
  createDelayMs: CREATE_MS,
  propagationDelayMs: PROPAGATION_MS,
  kongWriteLatencyMs: KONG_WRITE_MS,
  rateLimits: true,
  extraKeyVaults: V - 1,
  policy: {
    verifyInterval: `PT${VERIFY_INTERVAL_S}S`,
    verifyConsecutive: VERIFY_CONSECUTIVE,
    verifyTimeout: "PT10M",
  },
});
const workers: ChildProcess[] = [];
lifeline.onStop(() => stack.close());
lifeline.onStop(() => void workers.forEach((w) => w.kill()));
let stopping = false;
try {
  log(`seeding ${N} credentials × ${TARGETS} Kong targets`);
  const fleet = seedFleet(stack, { credentials: N, targetsPerCredential: TARGETS });
  const vaults = [stack.keyVault, ...stack.extraKeyVaults];
  // Credential i's certificate lives in vault i mod V (the first: the configuration's default keyVault).
  const vaultOf = new Map(fleet.members.map((m, i) => [m.name, vaults[i % V]!]));
  const credentials = fleet.credentials.map((c, i) =>
    i % V === 0 ? c : { ...c, keyVault: { url: vaults[i % V]!.url } },
  );
  const doc = {
    ...stack.config,
    credentials,
    limits: { keyVaultCreates: Math.floor(DOCUMENTED_LIMITS.keyVaultCreates.requests / W) },
  };
  const dir = resolve(".local/bench");
  mkdirSync(dir, { recursive: true });
  const configPath = resolve(dir, "config.json");
  writeFileSync(configPath, JSON.stringify(doc));
  const runtime = (credentials: unknown[]): Runtime =>
    createRuntime({ config: parseConfig({ ...doc, credentials }), env: stack.env, logger: silentLogger });
  const all = runtime(credentials);

  const ready = new Set<number>();
  const stats = new Map<
    number,
    {
      baseRss: number;
      peak?: NodeJS.MemoryUsage;
      peakRss: number;
      processed: number;
      failed: number;
      poisoned: number;
      peakInFlight: number;
    }
  >();
  // The workers run bench/worker.ts bundled as the package is (scripts/package.ts BUNDLE_OPTIONS), on plain
  // Node: their memory and CPU are the deployed code's, not tsx's (sources and source maps in memory).
  const workerDir = resolve(dir, "worker");
  await build({ ...BUNDLE_OPTIONS, entryPoints: { worker: "bench/worker.ts" }, outdir: workerDir });
  for (let i = 0; i < W; i++) {
    const child = fork(resolve(workerDir, "worker.mjs"), [], {
      // BENCH_CPU_PROF=<folder>: each worker writes a V8 CPU profile there when it stops (where time goes).
      execArgv: process.env.BENCH_CPU_PROF
        ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
        : [],
      env: { ...process.env, ...stack.env, ROTATOR_CONFIG: configPath, BENCH_BATCH_SIZE: String(BATCH) },
      // The workers' JSON logs, for reading a run afterwards.
      stdio: ["ignore", "ignore", openSync(resolve(dir, `worker-${i}.log`), "w"), "ipc"],
    });
    child.on("message", (m) => (m === "ready" ? ready.add(i) : stats.set(i, m as never)));
    child.on("exit", (code) => {
      if (code !== 0 && !stopping) {
        console.error(`worker ${i} exited with ${code}`);
        process.exit(1);
      }
    });
    workers.push(child);
  }

  // Like instances that are already running: the first message must not wait for a worker to boot.
  while (ready.size < W) await sleep(100);
  log(`${W} worker(s) ready`);

  const phaseOf = (name: string) => vaultOf.get(name)!.versions(`kong-${name}`)[0]?.tags["rotator-phase"];
  const activatedAt = (name: string) =>
    Date.parse(vaultOf.get(name)!.versions(`kong-${name}`)[0]?.tags["rotator-activatedAt"] ?? "");
  async function untilActive(names: string[], since: number, limitMs: number): Promise<void> {
    let last = 0;
    for (;;) {
      const phases = names.map(phaseOf);
      const active = phases.filter((p) => p === "active").length;
      if (active === names.length) return;
      if (Date.now() - last > 10_000) {
        last = Date.now();
        const inFlight = phases.filter(
          (p) => p === "pending" || p === "published" || p === "verified",
        ).length;
        const notStarted = phases.filter((p) => p === undefined).length;
        const failed = [...stats.values()].reduce((a, s) => a + s.failed, 0);
        log(
          `${Math.round((Date.now() - since) / 1000)} s: done ${active}, in flight ${inFlight}, not started ${notStarted}, failed attempts ${failed}`,
        );
      }
      if (Date.now() - since > limitMs) throw new Error(`not converged after ${limitMs} ms`);
      await sleep(250);
    }
  }

  // --- P4: one rotation alone ----------------------------------------------------------------------------
  const [first, ...rest] = fleet.members;
  const one = runtime([credentials[0]]);
  const t0 = Date.now();
  await enqueueDue(one, one.queue!);
  await untilActive([first!.name], t0, 120_000);
  const oneMs = activatedAt(first!.name) - t0;
  const windowMs = (VERIFY_CONSECUTIVE - 1) * VERIFY_INTERVAL_S * 1000;
  const injectedMs = CREATE_MS + PROPAGATION_MS + TARGETS * KONG_WRITE_MS;
  const p4 = oneMs - injectedMs - windowMs;
  log(`one rotation: ${(oneMs / 1000).toFixed(1)} s`);

  // --- P1: the fleet ---------------------------------------------------------------------------------------
  const kvBefore = vaults.map((v) => v.requests.length);
  const graphBefore = stack.entra.graph.requests.length;
  const kongBefore = stack.kong.requests.length;
  const t1 = Date.now();
  const tick = await enqueueDue(all, all.queue!);
  log(`tick: ${tick.enqueued} enqueued, ${tick.listCalls} Key Vault list call(s)`);
  const names = rest.map((m) => m.name);
  await untilActive(names, t1, 60 * 60_000);
  const wallMs = Math.max(...names.map(activatedAt)) - t1;
  const kvPerVault = vaults.map((v, i) => v.requests.slice(kvBefore[i]));
  const kv = kvPerVault.flat();
  const graph = stack.entra.graph.requests.slice(graphBefore);
  const kong = stack.kong.requests.slice(kongBefore);
  // Key Vault's limits are per vault: the busiest vault's work binds.
  const creates = (rs: typeof kv) =>
    rs.filter((r) => r.method === "POST" && /\/create(\?|$)/.test(r.path) && r.status === 202).length;
  const kvCreates = Math.max(...kvPerVault.map(creates));
  const kvOther = Math.max(
    ...kvPerVault.map((rs) => rs.filter((r) => r.status !== 429 && r.status !== 401).length - creates(rs)),
  );
  const graphWrites = graph.filter((r) => r.method !== "GET" && r.status !== 429 && r.status !== 401).length;
  const perPlugin = new Map<string, number>();
  for (const r of kong) if (r.method === "PATCH") perPlugin.set(r.path, (perPlugin.get(r.path) ?? 0) + 1);
  const kongMax = Math.max(0, ...perPlugin.values());
  const rate = (l: { requests: number; perMs: number }) => l.requests / (l.perMs / 1000);
  const resources = [
    {
      name: `Key Vault RSA creates${V > 1 ? " (busiest vault)" : ""}`,
      work: kvCreates,
      rate: rate(DOCUMENTED_LIMITS.keyVaultCreates),
    },
    {
      name: `Key Vault other ops${V > 1 ? " (busiest vault)" : ""}`,
      work: kvOther,
      rate: rate(DOCUMENTED_LIMITS.keyVaultOther),
    },
    { name: "Graph writes (per app)", work: graphWrites, rate: rate(DOCUMENTED_LIMITS.graphWritesPerApp) },
    { name: "Kong writes (busiest plugin)", work: kongMax, rate: 1000 / KONG_WRITE_MS },
  ].map((r) => ({ ...r, seconds: r.work / r.rate }));
  const binding = resources.reduce((a, b) => (b.seconds > a.seconds ? b : a));
  const boundMs = binding.seconds * 1000 + oneMs;
  const throttled = {
    kv: kv.filter((r) => r.status === 429).length,
    graph: graph.filter((r) => r.status === 429).length,
  };

  // --- P2: idle ticks ---------------------------------------------------------------------------------------
  const count = () => ({
    kv: vaults.reduce((n, v) => n + v.requests.length, 0),
    graph: stack.entra.graph.requests.length,
    kong: stack.kong.requests.length,
  });
  const idle0 = count();
  const idleTick = await enqueueDue(all, all.queue!);
  const idle1 = count();
  await syncCheck(all);
  const idle2 = count();
  // The CLI's `run` (app/scheduler.ts runDue), in-process: the same decision as the rotation tick.
  const idleRun = await runDue(
    all,
    all.config.credentials.map((c) => c.name),
    { trigger: "cli" },
    { concurrency: 8 },
  );
  const idle3 = count();
  const per = (a: number, b: number) => ((b - a) / N).toFixed(3);

  stopping = true;
  for (const w of workers) w.send("stop");
  await sleep(1_500);

  // --- P4 from the CLI: `rotate --force` of one credential, process start included ----------------------------
  // The CLI from the sources (tsx), the workers stopped: the only writer. Past forceCooldown by override.
  const tCli = Date.now();
  const cli = await run(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "rotate",
      first!.name,
      "--force",
      "--override-cooldown",
      "--reason",
      "bench P4",
      "--config",
      configPath,
    ],
    { env: { ...process.env, ...stack.env }, maxBuffer: 64 * 1024 * 1024 },
  ).then(
    () => "ok",
    (e: { code?: number }) => `exit ${e.code ?? "?"}`,
  );
  const cliMs = Date.now() - tCli;
  const p4Cli = cliMs - injectedMs - windowMs;
  const peakRss = Math.max(...[...stats.values()].map((s) => s.peakRss));
  // The worker with the highest peak: its memory then, and what each run in flight added to its idle start.
  const top = [...stats.values()].reduce((a, b) => (b.peakRss > a.peakRss ? b : a));
  const mib = (x: number) => `${(x / 2 ** 20).toFixed(0)} MiB`;
  const perRun = (top.peakRss - top.baseRss) / Math.max(1, top.peakInFlight);
  const peakInFlight = Math.max(...[...stats.values()].map((s) => s.peakInFlight));
  const poisoned = [...stats.values()].reduce((a, s) => a + s.poisoned, 0);

  const rows: [string, string][] = [
    [
      "credentials × Kong targets",
      `${N} × ${TARGETS} in ${V} Key Vault(s) (${W} worker process(es), batchSize ${BATCH}, peak ${peakInFlight} in flight per worker)`,
    ],
    [
      "injected latency",
      `KV create ${CREATE_MS / 1000} s, Entra propagation ${PROPAGATION_MS / 1000} s, Kong write ${KONG_WRITE_MS} ms`,
    ],
    [
      "verification policy",
      `${VERIFY_CONSECUTIVE} in a row, ${VERIFY_INTERVAL_S} s apart (confirmation window ${(windowMs / 1000).toFixed(0)} s)`,
    ],
    ...resources.map((r): [string, string] => [
      `  work ÷ rate: ${r.name}`,
      `${r.work} ÷ ${r.rate}/s = ${r.seconds.toFixed(1)} s`,
    ]),
    [
      "P1 bound",
      `${binding.name} ${binding.seconds.toFixed(1)} s + one rotation ${(oneMs / 1000).toFixed(1)} s = ${(boundMs / 1000).toFixed(1)} s`,
    ],
    ["P1 fleet wall time", `${(wallMs / 1000).toFixed(1)} s for ${names.length} credentials`],
    ["P1 ratio (goal ≤ 1.2, must ≤ 1.5)", `${(wallMs / boundMs).toFixed(2)}×`],
    [
      "  429s answered (backstop)",
      `Key Vault ${throttled.kv}, Graph ${throttled.graph}; poisoned messages ${poisoned}`,
    ],
    [
      "P2 idle rotation tick, calls per credential",
      `KV ${per(idle0.kv, idle1.kv)} (${idleTick.listCalls} list call(s), ${idleTick.enqueued} enqueued), Graph ${per(idle0.graph, idle1.graph)}, Kong ${per(idle0.kong, idle1.kong)}`,
    ],
    [
      "P2 idle sync tick, calls per credential",
      `KV ${per(idle1.kv, idle2.kv)}, Graph ${per(idle1.graph, idle2.graph)}, Kong ${per(idle1.kong, idle2.kong)}`,
    ],
    [
      "P2 idle CLI run, calls per credential",
      `KV ${per(idle2.kv, idle3.kv)}, Graph ${per(idle2.graph, idle3.graph)}, Kong ${per(idle2.kong, idle3.kong)} (${idleRun.filter((r) => r.kind === "idle").length} idle)`,
    ],
    [
      "P4 CLI rotate --force (process start included)",
      `${(cliMs / 1000).toFixed(1)} s (${cli}) − injected ${(injectedMs / 1000).toFixed(1)} s − window ${(windowMs / 1000).toFixed(0)} s = ${(p4Cli / 1000).toFixed(1)} s beyond (goal ≤ 3 s)`,
    ],
    [
      "P4 one rotation",
      `${(oneMs / 1000).toFixed(1)} s − injected ${(injectedMs / 1000).toFixed(1)} s − window ${(windowMs / 1000).toFixed(0)} s = ${(p4 / 1000).toFixed(1)} s beyond (goal ≤ 3 s)`,
    ],
    ["worker peak memory (RSS)", `${mib(peakRss)} (goal ≤ 256 MiB)`],
    [
      "  at the peak",
      top.peak
        ? `heap used ${mib(top.peak.heapUsed)} of ${mib(top.peak.heapTotal)}, external ${mib(top.peak.external)} (array buffers ${mib(top.peak.arrayBuffers)}); idle worker ${mib(top.baseRss)}`
        : "not reported",
    ],
    [
      "  memory per in-flight run",
      `(${mib(top.peakRss)} − idle ${mib(top.baseRss)}) ÷ ${top.peakInFlight} in flight = ${(perRun / 2 ** 20).toFixed(1)} MiB`,
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`\n| ${"measure".padEnd(width)} | value |\n|${"-".repeat(width + 2)}|-------|`);
  for (const [k, v] of rows) console.log(`| ${k.padEnd(width)} | ${v} |`);
} finally {
  stopping = true;
  for (const w of workers) if (w.exitCode === null) w.kill();
  await stack.close();
}
