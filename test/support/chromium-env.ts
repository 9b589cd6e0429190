/**
 * Where the page tests find Chromium, how to install it, and how their suites are named: shared by the
 * tests (chromium.ts) and the reporter that counts the skipped ones (page-tests-reporter.ts), which runs in
 * vitest's main process and must not load the browser driver.
 */
import { existsSync } from "node:fs";

/** Debian's browser; CHROMIUM_PATH overrides it (the skip-notice test points it at nothing). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** The command that installs it, as the one-line notice prints it. */
export const CHROMIUM_INSTALL = "sudo apt-get install -y chromium";

/** Every page test sits in a suite whose name contains this. */
export const PAGE_SUITE_MARK = "in headless Chromium";

/** Run the page tests: the browser is installed, or CI requires them (a missing browser then fails). */
export const chromiumRequired = existsSync(CHROMIUM_PATH) || process.env.CI === "true";
