/**
 * The CLI explains itself: every usage error names the problem in a sentence (a mistyped command or option
 * with its closest match, a missing credential name or value), never Node's parser text; `--help` lists
 * every command with one line each and the exit codes; one exit-code rule for every command.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { COMMANDS } from "../../src/cli/args.js";
import { exitCode, main } from "../../src/cli/main.js";

const dir = mkdtempSync(join(tmpdir(), "rotator-cli-usage-"));
const config = join(dir, "rotator.yaml");
writeFileSync(
  config,
  stringify({
    keyVault: { url: "https://nowhere.invalid" },
    credentials: [
      {
        name: "orders-api",
        certificateName: "kong-orders-api",
        entra: {
          tenantId: "11111111-2222-4333-8444-555555555555",
          clientId: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        },
        kong: [{ name: "k", adminUrl: "https://kong.invalid:8444", pluginTags: ["rotator"] }],
      },
    ],
  }),
);

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s), env: {} });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** Node's own parseArgs wording, which must never reach the user. */
const NODE_TEXT = /To specify a positional argument|ERR_PARSE_ARGS|argument missing|Unknown option '/;

describe("usage errors name the problem", () => {
  it.each([
    [["rotat", "orders-api"], /^unknown command 'rotat'; did you mean 'rotate'\?$/m],
    [["stauts"], /^unknown command 'stauts'; did you mean 'status'\?$/m],
    [["frobnicate"], /^unknown command 'frobnicate'$/m],
    [["rotate"], /^rotate needs a credential name: kong-key-rotator rotate <name>/m],
    [["adopt"], /^adopt needs a credential name: kong-key-rotator adopt <name> --cert FILE/m],
    [["rotate", "orders-api", "--forse"], /^unknown option --forse; did you mean --force\?$/m],
    [["status", "--jsno"], /^unknown option --jsno; did you mean --json\?$/m],
    [["run", "--no-such-flag"], /^unknown option --no-such-flag$/m],
    [["status", "--config"], /^--config needs a value: --config FILE$/m],
    [["status", "--config", "--json"], /^--config needs a value: --config FILE$/m],
    [["status", "--json=yes"], /^--json takes no value \(got "yes"\)$/m],
    [["status", "a", "b"], /^unexpected argument 'b'$/m],
    [["status", "--log-format", "xml"], /^--log-format is text or json \(got "xml"\)$/m],
    [["status", "--force"], /^--force applies to 'rotate' and 'plan' only$/m],
    [["plan", "orders-api", "--compromised"], /^--compromised applies to 'rotate' only$/m],
    [
      ["rotate", "orders-api", "--compromised", "--rollback"],
      /^use only one of --force \(or --compromised\)/m,
    ],
    [["rotate", "orders-api", "--revoke-unmanaged"], /^--revoke-unmanaged goes with --compromised$/m],
    [[], /^no command given$/m],
  ])("%j", async (argv, message) => {
    const r = await cli(...argv, ...(argv.includes("--config") ? [] : ["--config", config]));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).toMatch(/run 'kong-key-rotator --help' for the commands and options$/);
    expect(r.err).not.toMatch(NODE_TEXT);
    expect(r.out).toBe("");
  });
});

describe("--help", () => {
  it.each([["--help"], ["-h"], ["help"], ["rotate", "--help"]])(
    "%j lists every command with one line",
    async (...argv) => {
      const r = await cli(...argv);
      expect(r.code).toBe(0);
      expect(r.err).toBe("");
      const names = [...r.out.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]);
      expect(names).toEqual(COMMANDS.map((c) => c.name));
      expect(names).toContain("adopt");
      for (const c of COMMANDS) {
        const at = r.out.split("\n").findIndex((l) => l.startsWith(`  ${c.name}`));
        expect(r.out.split("\n")[at + 1], c.name).toMatch(/^ {6}\S.{10,}$/);
      }
      expect(r.out).toMatch(/--log-format text\|json/);
      expect(r.out).toMatch(
        /exit codes: 0 ok or nothing to do, 1 work failed, 2 usage or configuration error, 3 busy/,
      );
    },
  );
});

describe("one exit-code rule", () => {
  it("a failure wins over busy, busy over ok; nothing to do is ok", () => {
    expect(exitCode([])).toBe(0);
    expect(exitCode(["ok", "ok"])).toBe(0);
    expect(exitCode(["ok", "busy"])).toBe(3);
    expect(exitCode(["busy", "failed", "ok"])).toBe(1);
  });

  it("no configuration is a usage error, named", async () => {
    const r = await cli("status");
    expect(r.code).toBe(2);
    expect(r.err).toBe("no configuration: pass --config <file> or set ROTATOR_CONFIG");
  });
});
