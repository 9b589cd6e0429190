/**
 * What the CLI tells an operator, on the local stack: `rotate <name>` with nothing due says why and how to
 * rotate anyway; Renewal reads "renews on <date>" until due (text and JSON); "later runs carry it out" only
 * while a request is still pending; `--cancel` with nothing pending is nothing to do (exit 0); an unreadable
 * Kong target shows its message and hint, and a target named by an open alert is not called in sync; open
 * alerts show their message, hint and runbook; `status --html` names where it wrote, or why it could not
 * (exit 1); human stderr carries no JSON, and `--log-format json` carries nothing else.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREDENTIAL, type LocalStack } from "../../stack/stack.js";
import { runCli } from "../support/cli.js";
import { startE2eStack } from "../support/e2e.js";

let stack: LocalStack;
let configPath: string;
const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);
const day = (iso: string) => iso.slice(0, 10);

/** No line of human stderr is a JSON object. */
const noJsonLines = (err: string) =>
  expect(err.split("\n").filter((l) => l.trimStart().startsWith("{"))).toEqual([]);

beforeAll(async () => {
  ({ stack, configPath } = await startE2eStack());
  const boot = await cli("run");
  expect(boot.code, boot.out + boot.err).toBe(0);
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

describe("nothing due", () => {
  it("rotate <name> says why nothing happened and how to rotate anyway (exit 0)", async () => {
    const r = await cli("rotate", CREDENTIAL);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(
      new RegExp(
        `^  nothing was due: the active key expires on \\d{4}-\\d{2}-\\d{2}; renews on \\d{4}-\\d{2}-\\d{2}, 30 days before$`,
        "m",
      ),
    );
    expect(r.out).toContain(`to rotate now anyway: kong-key-rotator rotate ${CREDENTIAL} --force`);
    noJsonLines(r.err);
  });

  it("status reads 'renews on <date>' in text and JSON until renewal is due", async () => {
    const json = await cli("status", CREDENTIAL, "--json");
    expect(json.code, json.err).toBe(0);
    const view = (
      JSON.parse(json.out) as { trigger: { reason: string; message: string; dueAt: string } }[]
    )[0]!;
    expect(view.trigger.reason).toBe("Renewal");
    expect(view.trigger.message).toContain(`renews on ${day(view.trigger.dueAt)}`);
    expect(view.trigger.message).not.toMatch(/within renewBefore/);
    const text = await cli("status", CREDENTIAL);
    expect(text.out).toContain(`next rotation (Renewal): ${view.trigger.message}`);
  });
});

describe("forced rotation and cancel", () => {
  it("a request finished in the same run is not announced as left for later runs", async () => {
    const r = await cli("rotate", CREDENTIAL, "--force", "--reason", "routine");
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/rotate request \S+ recorded and carried out by this run/);
    expect(r.out).not.toMatch(/later runs carry it out/);
    noJsonLines(r.err);
  }, 60_000);

  it("a request left pending says later runs carry it out; --cancel withdraws it, twice is nothing to do", async () => {
    stack.kong.faults.add({
      method: "PATCH",
      path: "/plugins/",
      fault: { kind: "status", status: 403, body: { message: "You cannot consume this service" } },
      times: Infinity,
    });
    try {
      const r = await cli("rotate", CREDENTIAL, "--force", "--reason", "during an outage");
      expect(r.code, r.out + r.err).toBe(1);
      expect(r.out).toMatch(/recorded; later runs carry it out until it is done/);
      noJsonLines(r.err);
      expect(r.err.split("\n")[0]).toMatch(
        new RegExp(`^audit \\[${CREDENTIAL}\\] cli:\\S+ asked for a forced rotation: "during an outage"$`),
      );

      // The target is on the active key (the write was refused), but the alert names it: not "in sync".
      const status = await cli("status", CREDENTIAL);
      expect(status.out).toMatch(/^ {2}kong local: ALERT \S+/m);
      expect(status.out).not.toMatch(/kong local: in sync/);
      expect(status.out).toMatch(/^ {2}ALERT KeyRotationFailed \[local\]: \S+ since /m);
      expect(status.out).toMatch(/^ {4}hint: .+/m);
      expect(status.out).toContain("    runbook: docs/runbooks/key-rotation-failed.md");

      const cancelled = await cli("rotate", CREDENTIAL, "--cancel", "--log-format", "json");
      expect(cancelled.code, cancelled.out + cancelled.err).toBe(0);
      expect(cancelled.out).toMatch(/withdrawn/);
      const lines = cancelled.err.split("\n").filter(Boolean);
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
      expect(lines.map((l) => JSON.parse(l) as { event: string })).toContainEqual(
        expect.objectContaining({ event: "RotationRequested", cancel: true }),
      );

      const again = await cli("rotate", CREDENTIAL, "--cancel");
      expect(again.code, again.out + again.err).toBe(0);
      expect(again.out).toBe(`${CREDENTIAL}: no forced rotation or rollback is pending; nothing to cancel`);
    } finally {
      stack.kong.faults.clear();
    }
  }, 90_000);
});

describe("status", () => {
  it("an unreadable Kong target shows its message and hint, and fails the command (exit 1)", async () => {
    const { KONG_ADMIN_TOKEN: _token, ...env } = stack.env;
    const r = await runCli(["status", CREDENTIAL], configPath, env);
    expect(r.code, r.out + r.err).toBe(1);
    const lines = r.out.split("\n");
    const at = lines.findIndex((l) => /^ {2}kong local: error KONG_TOKEN_MISSING/.test(l));
    expect(at, r.out).toBeGreaterThan(0);
    expect(lines[at + 1]).toMatch(/^ {4}\S.*KONG_ADMIN_TOKEN/);
    expect(lines[at + 2]).toMatch(/^ {4}hint: \S/);
  });

  it("--html says where it wrote, or why it could not (exit 1)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rotator-html-"));
    const ok = await cli("status", "--html", join(dir, "status.html"));
    expect(ok.code, ok.err).toBe(0);
    expect(ok.err).toBe(`status page written to ${join(dir, "status.html")}`);
    expect(readFileSync(join(dir, "status.html"), "utf8")).toMatch(/^<!doctype html>/);

    const missing = join(dir, "no-such-folder", "status.html");
    const bad = await cli("status", "--html", missing);
    expect(bad.code).toBe(1);
    expect(bad.err).toBe(
      `cannot write the status page to ${missing}: the folder ${join(dir, "no-such-folder")} does not exist`,
    );
    expect(bad.out).toMatch(new RegExp(`^${CREDENTIAL} {2}active `));
  });
});
