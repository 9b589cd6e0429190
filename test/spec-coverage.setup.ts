/**
 * Coverage of the vendored API descriptions, part 1 of 2: in every test worker, records which operations
 * the fakes served and which requests they refused, with the test file, into one file per worker process
 * (part 2, spec-coverage.global.ts, reports them after the run).
 */
import { appendFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { stats } from "../stack/common/openapi.js";
import { addSpecListener, type SpecEvent } from "../stack/common/spec-coverage.js";

const dir = process.env.ROTATOR_SPEC_COVERAGE_DIR;
type Global = typeof globalThis & { __rotatorSpecCoverage?: { file: string; write: (e: SpecEvent) => void } };
const g = globalThis as Global;

if (dir && !g.__rotatorSpecCoverage) {
  const seen = new Set<string>();
  const state = (g.__rotatorSpecCoverage = {
    file: "",
    write: (event: SpecEvent) =>
      appendFileSync(
        join(dir, `${process.pid}.ndjson`),
        JSON.stringify({ ...event, file: state.file }) + "\n",
      ),
  });
  addSpecListener((event) => {
    // A served operation once per test file is enough; every refusal is kept.
    const key = event.type === "served" ? `${state.file}\t${event.suite}\t${event.operationId}` : undefined;
    if (key && seen.has(key)) return;
    if (key) seen.add(key);
    state.write(event);
  });
}

let before = { ...stats };
beforeAll(() => {
  if (g.__rotatorSpecCoverage)
    g.__rotatorSpecCoverage.file = relative(process.cwd(), expect.getState().testPath ?? "");
  before = { ...stats };
});
afterAll(() => {
  g.__rotatorSpecCoverage?.write({
    type: "cost",
    requests: stats.requests - before.requests,
    checkMs: stats.checkMs - before.checkMs,
    loadMs: stats.loadMs - before.loadMs,
  });
});
