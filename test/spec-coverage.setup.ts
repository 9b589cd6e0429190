/**
 * Coverage of the vendored API descriptions, part 1 of 2: in every test worker, records which operations
 * the fakes served and which requests they refused, with the test file, into one file per worker process
 * (part 2, spec-coverage.global.ts, reports them after the run).
 */
import { appendFileSync } from "node:fs";
import { join, relative } from "node:path";
import { beforeAll, expect } from "vitest";
import { addSpecListener } from "../stack/common/spec-coverage.js";

const dir = process.env.ROTATOR_SPEC_COVERAGE_DIR;
type Global = typeof globalThis & { __rotatorSpecCoverage?: { file: string } };
const g = globalThis as Global;

if (dir && !g.__rotatorSpecCoverage) {
  const state = (g.__rotatorSpecCoverage = { file: "" });
  const seen = new Set<string>();
  addSpecListener((event) => {
    const line = JSON.stringify({ ...event, file: state.file });
    // A served operation once per test file is enough; every refusal is kept.
    const key = event.type === "served" ? `${state.file}\t${event.suite}\t${event.operationId}` : undefined;
    if (key && seen.has(key)) return;
    if (key) seen.add(key);
    appendFileSync(join(dir, `${process.pid}.ndjson`), line + "\n");
  });
}

beforeAll(() => {
  if (g.__rotatorSpecCoverage)
    g.__rotatorSpecCoverage.file = relative(process.cwd(), expect.getState().testPath ?? "");
});
