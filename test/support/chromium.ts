/**
 * Headless Chromium from Debian's `chromium` package, driven by playwright-core (which downloads no browser
 * of its own). A fresh profile per launch; no network services (sync, component updates, QUIC).
 * Locally a missing browser skips the page tests, and test/support/page-tests-reporter.ts prints one line
 * saying how many and how to install it; under CI=true it fails them (`.ci/run` installs it).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { CHROMIUM_INSTALL, CHROMIUM_PATH } from "./chromium-env.js";

export { CHROMIUM_PATH, chromiumRequired, PAGE_SUITE_MARK } from "./chromium-env.js";

export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Chromium> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(`${CHROMIUM_PATH} is missing: ${CHROMIUM_INSTALL} (CI=true requires the page tests)`);
  const profile = mkdtempSync(join(tmpdir(), "chromium-profile-"));
  // launchPersistentContext takes the profile directory (playwright refuses --user-data-dir in args).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
