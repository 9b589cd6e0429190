#!/usr/bin/env node
/**
 * kong-key-rotator: the same engine as the Azure Functions, from a terminal.
 *
 *   plan [name]               dry run: what the next run would do (no change)
 *   run [name]                reconcile every credential (or one): the timer's job
 *   rotate <name> [--force]   rotate one credential now (--force: even if not due)
 *   status [name]             generations, Kong targets, last success and failure
 *   sync [name]               drift check (re-applies when sync.reapplyOnDrift)
 *
 * Options: --config <file> (or ROTATOR_CONFIG), --json, --reason <text>,
 *          --no-other-writer (run without the storage lease; only when nothing else rotates).
 * Exit codes: 0 ok, 1 a failure (an alert was raised), 2 bad usage or configuration,
 *             3 busy (another writer holds a credential's lease; nothing was done for it).
 */
import { parseArgs } from "node:util";
import { userInfo } from "node:os";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../config/load.js";
import { isRotatorError, toRotatorError } from "../errors.js";
import { jsonLogger } from "../log/logger.js";
import { redact, redactText } from "../log/redact.js";
import { createRuntime } from "../app/runtime.js";
import { rotate, status, syncCheck, type RotateResult } from "../app/service.js";
import { progressLine, reportText, statusText, syncText } from "./format.js";

const USAGE = `usage: kong-key-rotator <plan|run|rotate|status|sync> [name] [--config file] [--json] [--force] [--reason text] [--no-other-writer]`;

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (e) {
    io.err(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = args;
  const [command, name, ...extra] = positionals;
  const commands = ["plan", "run", "rotate", "status", "sync"];
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  if (!command || !commands.includes(command) || extra.length > 0 || (command === "rotate" && !name)) {
    io.err(USAGE);
    return 2;
  }
  if (values.force && command !== "rotate") {
    io.err("--force applies to 'rotate' only\n" + USAGE);
    return 2;
  }
  const asJson = values.json === true;
  const print = (human: string, machine: unknown) => io.out(asJson ? JSON.stringify(redact(machine), null, 2) : redactText(human));

  const configPath = values.config ?? io.env.ROTATOR_CONFIG;
  if (!configPath) {
    io.err("no configuration: pass --config <file> or set ROTATOR_CONFIG");
    return 2;
  }
  try {
    const config = await loadConfig(configPath);
    const mutating = command === "run" || command === "rotate" || command === "sync";
    const rt = createRuntime({
      config,
      env: io.env,
      logger: jsonLogger((line) => io.err(line), values.verbose ? "debug" : "warn"),
      lease: values["no-other-writer"] ? "none" : mutating ? "storage" : "none",
    });
    if (name) rt.credential(name);
    const names = name ? [name] : config.credentials.map((c) => c.name);

    if (command === "status") {
      const views = await status(rt, name);
      print(views.map(statusText).join("\n\n"), views);
      return views.some((v) => v.error) ? 1 : 0;
    }
    if (command === "sync") {
      const results = (await syncCheck(rt)).filter((r) => names.includes(r.credential));
      print(results.map(syncText).join("\n"), results);
      return results.some((r) => r.kind === "error" || (r.kind === "checked" && r.report.findings.some((f) => !(f.code === "KONG_DRIFT" && f.reapplied)))) ? 1 : 0;
    }
    const results: RotateResult[] = [];
    const actor = safeUser();
    for (const n of names) {
      results.push(
        await rotate(rt, n, {
          trigger: "cli",
          actor,
          dryRun: command === "plan",
          force: values.force === true,
          ...(values.reason ? { reason: values.reason } : {}),
          ...(asJson ? {} : { onProgress: (e) => io.err(progressLine(e)) }),
        }),
      );
    }
    print(results.map((r) => (r.kind === "busy" ? `${r.credential}: busy (another writer holds the lease)` : reportText(r.report))).join("\n"), results);
    if (results.some((r) => r.kind === "done" && (r.report.outcome === "failed" || r.report.outcome === "stuck"))) return 1;
    return results.some((r) => r.kind === "busy") ? 3 : 0;
  } catch (e) {
    const err = toRotatorError(e);
    io.err(asJson ? JSON.stringify({ error: err.toJSON() }) : redactText(`error ${err.code}: ${err.message}\nhint: ${err.hint}`));
    return isRotatorError(e) && /^(CONFIG_|UNKNOWN_CREDENTIAL|STORAGE_NOT_CONFIGURED|IDENTITY_NOT_CONFIGURED)/.test(err.code) ? 2 : 1;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      json: { type: "boolean" },
      force: { type: "boolean" },
      reason: { type: "string" },
      "no-other-writer": { type: "boolean" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

function safeUser(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli";
  }
}

const isEntry = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) {
  const code = await main(process.argv.slice(2), {
    out: (s) => process.stdout.write(s + "\n"),
    err: (s) => process.stderr.write(s + "\n"),
    env: process.env,
  });
  process.exitCode = code;
}
