/**
 * Coverage of the vendored API descriptions, part 2 of 2 (a globalSetup): gives the workers a fresh
 * directory, and after the run prints, per vendor suite (stack/specs/index.ts), how many distinct
 * operations of its vendored subset the fakes served and how many requests they refused, overall and per
 * test directory; writes the details to .local/spec-coverage.json. Figures are recorded in
 * docs/local-stack.md ("Vendored API descriptions").
 *
 * A refusal in a test that runs the product against the local stack end to end (test/e2e, test/functions,
 * test/chaos, test/package: none of them sends a malformed request on purpose) means the product sent a
 * request its vendor's published description refuses: it fails the run, whatever that test asserted.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { SUITES, suite, type SuiteName } from "../stack/specs/index.js";
import type { SpecEvent } from "../stack/common/spec-coverage.js";

type Line = SpecEvent & { file: string };

export default function setup(): () => void {
  const dir = resolve(".local/spec-coverage", String(process.pid));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  process.env.ROTATOR_SPEC_COVERAGE_DIR = dir;
  return () => {
    const lines: Line[] = readdirSync(dir).flatMap((f) =>
      readFileSync(join(dir, f), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Line),
    );
    rmSync(dir, { recursive: true, force: true });
    const area = (file: string) => file.split("/").slice(0, 2).join("/") || "(none)";
    const report = (Object.keys(SUITES) as SuiteName[]).map((name) => {
      const spec = suite(name);
      const all = spec.operations();
      const mine = lines.filter(
        (l): l is Exclude<Line, { type: "cost" }> => l.type !== "cost" && l.suite === spec.name,
      );
      const served = new Set(mine.flatMap((l) => (l.type === "served" ? [l.operationId] : [])));
      const byArea: Record<string, number> = {};
      for (const a of new Set(mine.map((l) => area(l.file))))
        byArea[a] = new Set(
          mine.flatMap((l) => (l.type === "served" && area(l.file) === a ? [l.operationId] : [])),
        ).size;
      return {
        suite: spec.name,
        operations: all.length,
        served: served.size,
        notServed: all.filter((o) => !served.has(o)),
        refused: mine.filter((l) => l.type === "refused").length,
        byArea,
      };
    });
    writeFileSync(
      resolve(".local/spec-coverage.json"),
      JSON.stringify({ report, refusals: lines.filter((l) => l.type === "refused") }, null, 2),
    );
    const rows = report.map(
      (r) =>
        `  ${r.suite.padEnd(11)} ${String(r.served).padStart(2)}/${String(r.operations).padEnd(2)} operations served, ${String(r.refused).padStart(3)} requests refused` +
        (Object.keys(r.byArea).length
          ? ` (${Object.entries(r.byArea)
              .sort()
              .map(([a, n]) => `${a} ${n}`)
              .join(", ")})`
          : ""),
    );
    const cost = lines.reduce(
      (sum, l) =>
        l.type === "cost"
          ? {
              requests: sum.requests + l.requests,
              ms: sum.ms + l.checkMs + l.loadMs,
              loadMs: sum.loadMs + l.loadMs,
            }
          : sum,
      { requests: 0, ms: 0, loadMs: 0 },
    );
    process.stdout.write(
      `vendored API descriptions (stack/specs): distinct operations the fakes served\n${rows.join("\n")}\n` +
        `  validation took ${Math.round(cost.ms)} ms in all workers for ${cost.requests} requests (${Math.round(cost.loadMs)} ms of it loading the descriptions)\n`,
    );
  };
}
