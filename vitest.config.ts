import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The page tests skip without Chromium; the second reporter then says so in one line.
    reporters: ["default", "./test/support/page-tests-reporter.ts"],
    globalSetup: ["test/global-setup.ts", "test/chaos/hygiene.global.ts", "test/spec-coverage.global.ts"],
    // Secret hygiene over the whole suite: every worker captures its output (test/chaos/hygiene.setup.ts);
    // the fakes' use of the vendored API descriptions is reported at the end (test/spec-coverage.*.ts).
    setupFiles: ["test/chaos/hygiene.setup.ts", "test/spec-coverage.setup.ts"],
    // Forked workers start after global setup has set NODE_EXTRA_CA_CERTS, so every SDK client in a
    // worker trusts the local stack's CA exactly as a deployed process would trust a real one.
    pool: "forks",
    // Most test time is waiting on sockets, lease expiry and key propagation, not CPU: on a 2-core machine
    // four workers finish the suite in about half the time of vitest's default (cores - 1).
    maxWorkers: 4,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
