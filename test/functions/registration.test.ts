/**
 * The function registrations happen in the Functions worker only: loaded anywhere else (the demo, the CLI,
 * a test importing a handler) the app prints none of the @azure/functions library's "test mode" warnings,
 * and inside the worker (stood in for by test/package/functions-core.mjs) all eight functions register.
 */
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "..", "..");
const LIST =
  "await import('./src/functions/index.ts'); console.log(JSON.stringify((globalThis.__functionsCore?.registered ?? []).map((r) => r.metadata.name)))";

async function load(preload: string[]): Promise<{ names: string[]; stderr: string }> {
  const { stdout, stderr } = await run(
    process.execPath,
    [...preload.flatMap((p) => ["--import", p]), "--import", "tsx", "--input-type=module", "-e", LIST],
    { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: "" } },
  );
  return { names: JSON.parse(stdout.trim().split("\n").at(-1) ?? "[]") as string[], stderr };
}

describe("function registration", () => {
  it("outside the Functions worker: nothing registered, no test-mode warning", async () => {
    const { names, stderr } = await load([]);
    expect(names).toEqual([]);
    expect(stderr).not.toMatch(
      /Failed to detect the Azure Functions runtime|Skipping call to register|test mode/,
    );
  }, 60_000);

  it("inside the worker: all eight functions", async () => {
    const { names, stderr } = await load(["./test/package/functions-core.mjs"]);
    expect(names.sort()).toEqual(
      [
        "doctor",
        "getCredential",
        "listCredentials",
        "rotateCredential",
        "rotationPoison",
        "rotationTimer",
        "rotationWork",
        "syncCheckTimer",
      ].sort(),
    );
    expect(stderr).not.toMatch(/WARNING/);
  }, 60_000);
});
