/**
 * The CLI commands the docs show work as written: every `kong-key-rotator …` command in README.md and
 * docs/**\/*.md (in code blocks and inline code; synopsis lines with `[optional]` or `a | b` are skipped)
 * parses with the CLI's own parser, with a known command, known options and a credential name where one is
 * needed. And every runbook that shows commands points at the one place that says how to run them against
 * the deployment (ROTATOR_CONFIG or --config, and how to get the command).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { checkCombinations, COMMANDS, parse } from "../../src/cli/args.js";

const ROOT = join(import.meta.dirname, "..", "..");
const RUNBOOKS = join(ROOT, "docs", "runbooks");
const SETUP_LINK = "README.md#before-you-start-the-cli-against-the-deployment";

function markdownFiles(): string[] {
  const out = [join(ROOT, "README.md")];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith(".md")) out.push(join(dir, e.name));
  };
  walk(join(ROOT, "docs"));
  return out;
}

/** Shell words of a command line: quotes grouped, `<placeholders>` kept as one word. */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? "");
}

/** A command's text without a trailing comment; undefined for synopsis lines (`[optional]`, `a | b`, `…`). */
function commandText(raw: string): string | undefined {
  const text = raw.replace(/\s+#.*$/, "").trim();
  return /[[\]|…]|\.\.\./.test(text) ? undefined : text;
}

/** Every documented command: lines of fenced code blocks, and inline code spans, that start with it. */
function commands(): { where: string; argv: string[] }[] {
  const found: { where: string; argv: string[] }[] = [];
  for (const file of markdownFiles()) {
    let fenced = false;
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, i) => {
        const where = `${relative(ROOT, file)}:${i + 1}`;
        if (/^\s*```/.test(line)) {
          fenced = !fenced;
          return;
        }
        const spans = fenced
          ? [/^\s*(?:\$ )?kong-key-rotator\b(.*)$/.exec(line)?.[1]]
          : [...line.matchAll(/`kong-key-rotator\b([^`]*)`/g)].map((m) => m[1]);
        for (const raw of spans) {
          const text = raw === undefined ? undefined : commandText(raw);
          if (text) found.push({ where, argv: words(text) });
        }
      });
  }
  return found;
}

describe("CLI commands in the docs", () => {
  const all = commands();

  it("finds the runbooks' commands", () => {
    expect(all.filter((c) => c.where.startsWith("docs/runbooks/")).length).toBeGreaterThanOrEqual(10);
  });

  it.each(all.map((c) => [c.where, c.argv.join(" "), c.argv] as const))("%s: %s", (_where, _text, argv) => {
    // A bare command name in prose (`kong-key-rotator adopt`) names the command: it must exist.
    if (argv.length === 1 && !argv[0]!.startsWith("-"))
      expect(COMMANDS.map((c) => c.name)).toContain(argv[0]);
    else expect(() => checkCombinations(parse(argv))).not.toThrow();
  });

  it("every runbook with commands points at how to run them against the deployment", () => {
    const missing = readdirSync(RUNBOOKS)
      .filter((f) => f.endsWith(".md") && f !== "README.md")
      .filter((f) => {
        const text = readFileSync(join(RUNBOOKS, f), "utf8");
        return /kong-key-rotator \w/.test(text) && !text.includes(SETUP_LINK);
      });
    expect(missing).toEqual([]);
    const setup = readFileSync(join(RUNBOOKS, "README.md"), "utf8");
    expect(setup).toMatch(/export ROTATOR_CONFIG=/);
    expect(setup).toMatch(/--config/);
    expect(setup).toMatch(/npm install -g \.\/kong-entra-key-rotator-/);
  });
});
