/**
 * Page tests never vanish silently: with no Chromium, a run of the page tests skips them and says so in one
 * line (how many, and the command that installs the browser); under CI=true the same run fails instead.
 * Runs vitest itself on the status page tests with CHROMIUM_PATH pointing at nothing.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { CHROMIUM_INSTALL } from "../support/chromium-env.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const MISSING = "/nonexistent/chromium-for-this-test";

function vitest(env: Record<string, string | undefined>) {
  const { CI: _ci, ...rest } = process.env;
  const r = spawnSync(resolve(ROOT, "node_modules/.bin/vitest"), ["run", "test/e2e/status-page.test.ts"], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...rest, NO_COLOR: "1", FORCE_COLOR: "0", CHROMIUM_PATH: MISSING, ...env },
    timeout: 240_000,
  });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe("page tests without Chromium", () => {
  it("are skipped with one line: how many, and how to install Chromium", () => {
    const r = vitest({});
    expect(r.code, r.out).toBe(0);
    const skipped = Number(/Tests\s+.*?(\d+) skipped/.exec(r.out)?.[1]);
    expect(skipped).toBeGreaterThanOrEqual(8);
    const lines = r.out.split("\n").filter((l) => l.includes("page test"));
    expect(lines).toEqual([
      `${skipped} page tests skipped: Chromium is not installed (${MISSING}); install it with: ${CHROMIUM_INSTALL}`,
    ]);
  }, 240_000);

  it("fail under CI=true", () => {
    const r = vitest({ CI: "true" });
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toContain(`${MISSING} is missing: ${CHROMIUM_INSTALL}`);
  }, 240_000);
});
