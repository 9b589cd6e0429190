/**
 * Secret hygiene over the whole test suite, part 2 of 2 (a globalSetup): gives the workers a fresh
 * capture directory, and after the run checks every capture (hygiene.setup.ts) against every secret any
 * fake generated in any worker, and against the shapes of secrets (PEM private key, JWT, bearer token,
 * private JWK member). A leak, or a capture that did not run, fails the test run.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { findLeaks, type Leak } from "../../chaos/lib/capture.js";

export default function setup(): () => void {
  const dir = resolve(".local/hygiene", String(process.pid));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  process.env.ROTATOR_HYGIENE_DIR = dir;
  return () => {
    const files = readdirSync(dir);
    const secrets = new Map<string, string>();
    for (const f of files.filter((x) => x.endsWith(".secrets")))
      for (const line of readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean)) {
        const { kind, value } = JSON.parse(line) as { kind: string; value: string };
        secrets.set(value, kind);
      }
    const leaks: (Leak & { file: string })[] = [];
    let items = 0;
    const channels: Record<string, number> = {};
    for (const f of files.filter((x) => x.endsWith(".capture")))
      for (const line of readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean)) {
        const { channel, text } = JSON.parse(line) as { channel: string; text: string };
        items++;
        channels[channel] = (channels[channel] ?? 0) + 1;
        for (const l of findLeaks(channel, text, secrets)) leaks.push({ ...l, file: f });
      }
    const summary = {
      workers: files.filter((x) => x.endsWith(".ready")).length,
      captures: items,
      channels,
      secrets: secrets.size,
      leaks,
    };
    writeFileSync(resolve(".local/hygiene/last.json"), JSON.stringify(summary, null, 2));
    // Each run only needs its own directory; the summary stays for inspection.
    rmSync(dir, { recursive: true, force: true });
    // Vitest reports a teardown error but keeps its own exit code: set ours so the run fails.
    const workers = files.filter((x) => x.endsWith(".ready")).length;
    if (workers === 0 || leaks.length) process.exitCode = 1;
    if (workers === 0)
      throw new Error(
        "secret hygiene: no test worker installed the capture (test/chaos/hygiene.setup.ts did not run)",
      );
    if (leaks.length)
      throw new Error(
        `secret hygiene: ${leaks.length} leak(s) in test output:\n${leaks
          .slice(0, 20)
          .map((l) => `  ${l.what} in ${l.channel} (${l.excerpt})`)
          .join("\n")}`,
      );
    process.stdout.write(
      `secret hygiene: ${items} captured outputs (${Object.entries(channels)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}) checked against ${secrets.size} generated secrets: 0 leaks\n`,
    );
  };
}
