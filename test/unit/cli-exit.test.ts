/**
 * The CLI's exit contract, for every command: usage and configuration errors, including an unknown
 * credential name, exit 2 before anything else happens. The configuration points at hosts that do not
 * resolve and no storage is configured, so any work attempted first would surface as another error.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { main } from "../../src/cli/main.js";

const dir = mkdtempSync(join(tmpdir(), "rotator-cli-exit-"));
const good = join(dir, "good.yaml");
writeFileSync(
  good,
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
    // Plain http to loopback is valid config: it must never stop a command (it used to, at sink build).
    alerts: { webhooks: [{ url: "http://127.0.0.1:9/hook" }] },
  }),
);
const bad = join(dir, "bad.yaml");
writeFileSync(bad, stringify({ keyVault: { url: "http://vault.example" }, credentials: [] }));

async function cli(argv: string[]): Promise<{ code: number; err: string; out: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s), env: {} });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const COMMANDS: string[][] = [
  ["plan"],
  ["run"],
  ["rotate"],
  ["rotate", "--force"],
  ["status"],
  ["sync"],
  ["doctor"],
  ["adopt", "--cert", join(dir, "missing.pem")],
];

describe("CLI exit contract", () => {
  it.each(COMMANDS.map((c) => [c.join(" "), c] as const))(
    "%s: an unknown credential exits 2 first",
    async (_label, argv) => {
      const [command, ...flags] = argv;
      const r = await cli([command!, "no-such-credential", ...flags, "--config", good]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/UNKNOWN_CREDENTIAL/);
      expect(r.err).not.toMatch(/STORAGE_NOT_CONFIGURED|ALERT_WEBHOOK_INVALID/);
    },
  );

  it.each(COMMANDS.map((c) => [c.join(" "), c] as const))(
    "%s: an invalid configuration exits 2 with the paths",
    async (_label, argv) => {
      const [command, ...flags] = argv;
      const r = await cli([
        command!,
        ...(command === "adopt" || command === "rotate" ? ["x"] : []),
        ...flags,
        "--config",
        bad,
      ]);
      expect(r.code).toBe(2);
      expect(`${r.out}\n${r.err}`).toMatch(/keyVault\.url[\s\S]*credentials/);
    },
  );

  it("bad usage exits 2", async () => {
    expect((await cli(["rotate", "--config", good])).code).toBe(2);
    expect((await cli(["frobnicate", "--config", good])).code).toBe(2);
    expect((await cli(["status", "--force", "--config", good])).code).toBe(2);
    expect((await cli(["run", "--no-such-flag", "--config", good])).code).toBe(2);
    expect((await cli(["run"])).code).toBe(2);
  });
});
