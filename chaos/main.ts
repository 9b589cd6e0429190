/**
 * `npm run chaos`: the reliability and security suite on the local stack (issue #4). Prints the table
 * of figures, writes them as JSON to .local/chaos/report.json, and exits 1 if any invariant was
 * violated, a gateway login failed, a secret leaked or a figure is outside what the product promises.
 *
 *   npm run chaos [-- --quick]     --quick: a subset of crash points and 10 rotations of churn
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { startChaosStack } from "./lib/stack.js";
import { crashMatrix } from "./suites/crash.js";
import { adapterFaults, persistentFailures } from "./suites/faults.js";
import { oneWriter } from "./suites/writer.js";
import { loginUnderChurn } from "./suites/churn.js";
import { badInput } from "./suites/badinput.js";
import { table, verdict, type ChaosResults } from "./report.js";

const quick = process.argv.includes("--quick");
const started = performance.now();
const say = (m: string) =>
  process.stdout.write(`[chaos ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${m}\n`);

say("starting the local stack");
const cs = await startChaosStack();
const results: Partial<ChaosResults> = {};
try {
  say("1. crash-point matrix (CLI child processes, SIGKILL before/after every mutating call)");
  results.crash = await crashMatrix(cs, {
    concurrency: 8,
    ...(quick ? { select: (i: number) => i % 5 === 1 } : {}),
  });
  say(`   ${results.crash.points.length} crash points done`);
  say("2. faults per adapter, persistent failures and alerts");
  results.faults = await adapterFaults(cs);
  results.persistent = await persistentFailures(cs);
  say("3. one writer");
  results.writer = await oneWriter(cs, { http: 16, cli: 4, renewal: !quick });
  say("4. login probe under churn");
  results.churn = await loginUnderChurn(cs, { rotations: quick ? 10 : 50 });
  say("5/7. bad input and the HTTP surface");
  results.bad = await badInput(cs);
} finally {
  await cs.close();
}
const leaks = cs.capture.check();
const final: ChaosResults = {
  ...results,
  hygiene: {
    leaks,
    items: cs.capture.items,
    bytes: cs.capture.bytes,
    secrets: cs.capture.secrets.size,
    channels: cs.capture.channels(),
  },
  seconds: (performance.now() - started) / 1000,
};
const out = resolve(".local/chaos");
mkdirSync(out, { recursive: true });
writeFileSync(resolve(out, "report.json"), JSON.stringify(final, null, 2));
process.stdout.write(`\n${table(final)}\n\nfull figures: ${resolve(out, "report.json")}\n`);
const problems = verdict(final);
if (problems.length) {
  process.stdout.write(`\nCHAOS FAILED:\n  - ${problems.join("\n  - ")}\n`);
  process.exit(1);
}
process.stdout.write("\nchaos passed: 0 invariant violations, 0 failed logins, 0 secret leaks\n");
process.exit(0);
