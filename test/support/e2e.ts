/** Shared pieces of the end-to-end tests on the local stack. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalStack, type LocalStack, type LocalStackOptions } from "../../stack/stack.js";
import type { ProbeResult } from "../../stack/kong/probe.js";

/**
 * A local stack with a compressed policy (3 s overlap, 0.3 s verification polls, no force cooldown) and its
 * configuration written to a temporary file.
 */
export async function startE2eStack(
  options: LocalStackOptions = {},
): Promise<{ stack: LocalStack; configPath: string }> {
  const stack = await startLocalStack({
    propagationDelayMs: 1200,
    createDelayMs: 200,
    policy: {
      overlap: "PT3S",
      verifyInterval: "PT0.3S",
      verifyConsecutive: 3,
      verifyTimeout: "PT30S",
      forceCooldown: "PT0S",
    },
    ...options,
  });
  const configPath = join(mkdtempSync(join(tmpdir(), "rotator-e2e-")), "rotator.yaml");
  writeFileSync(configPath, stack.configYaml());
  return { stack, configPath };
}

/** Run the gateway login probe every `everyMs` until stopped; returns the failed logins. */
export function probeLoop(probe: () => Promise<ProbeResult>, everyMs = 250): { stop(): Promise<string[]> } {
  const failures: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const p = await probe();
      if (!p.ok) failures.push(`${new Date().toISOString()} ${p.error ?? p.status}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return failures;
    },
  };
}
