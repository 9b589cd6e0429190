/**
 * A vitest reporter that makes skipped page tests visible: when Chromium is missing (and CI does not
 * require it, see chromium-env.ts), the page tests are skipped, and this prints one line at the end of the
 * run with how many and the command that installs Chromium. Silent when the browser is there.
 */
import { existsSync } from "node:fs";
import type { Reporter, TestModule } from "vitest/node";
import { CHROMIUM_INSTALL, CHROMIUM_PATH, PAGE_SUITE_MARK } from "./chromium-env.js";

export default class PageTestsReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    if (existsSync(CHROMIUM_PATH)) return;
    let skipped = 0;
    for (const m of modules)
      for (const t of m.children.allTests())
        if (t.fullName.includes(PAGE_SUITE_MARK) && t.result().state === "skipped") skipped++;
    if (skipped > 0)
      process.stdout.write(
        `${skipped} page test${skipped === 1 ? "" : "s"} skipped: Chromium is not installed (${CHROMIUM_PATH}); install it with: ${CHROMIUM_INSTALL}\n`,
      );
  }
}
