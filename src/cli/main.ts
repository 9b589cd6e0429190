#!/usr/bin/env node
/**
 * kong-key-rotator: the same engine as the Azure Functions, from a terminal.
 *
 *   plan [name]               dry run: what the next run would do (no change)
 *   run [name]                reconcile every credential (or one): the timer's job; several credentials
 *                             run 8 at a time, waits not holding a slot, with progress on stderr
 *   rotate <name> [--force]   rotate one credential now (--force: even if not due; recorded as a
 *                             durable request that later runs finish; --override-cooldown skips
 *                             policy.forceCooldown); --rollback: back to the previous generation;
 *                             --cancel: withdraw the pending request
 *   status [name]             generations, Kong targets, open alerts, last success and failure
 *                             (--html FILE: also write the status page, one self-contained HTML file)
 *   sync [name]               drift check (re-applies when sync.reapplyOnDrift)
 *   doctor [name]             read-only preflight checks: config, Kong, Entra, Key Vault, storage
 *   adopt <name> --cert <f>   import a hand-made certificate + key as the first generation
 *                             (dry run unless --yes; --password for an encrypted key or a PFX)
 *
 * Options: --config <file> (or ROTATOR_CONFIG), --json, --reason <text>,
 *          --no-other-writer (run without the storage lease; only when nothing else rotates).
 * Exit codes: 0 ok, 1 a failure (an alert was raised; doctor/adopt: a check failed; run: any credential
 *             failed or could not start, after all were tried), 2 bad usage or configuration (checked first,
 *             including an unknown credential name, before anything external is touched),
 *             3 busy (another writer holds a credential's lease; nothing was done for it).
 */
import { parseArgs } from "node:util";
import { readFile, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { credentialOf, loadConfig, type Config } from "../config/load.js";
import { isConfigurationError, isRotatorError, toRotatorError } from "../errors.js";
import { jsonLogger, type Logger } from "../log/logger.js";
import { redact, redactText, registerSecret, withSecretScope } from "../log/redact.js";
import { createRuntime, type Runtime } from "../app/runtime.js";
import {
  cancelRequested,
  rotate,
  status,
  syncCheck,
  type BatchResult,
  type RotateRequest,
} from "../app/service.js";
import { runScheduled } from "../app/scheduler.js";
import { doctor } from "../app/doctor.js";
import { renderStatusPage } from "../app/status-page.js";
import { adopt } from "../app/adopt.js";
import { readCertificateInput } from "../app/cert-input.js";
import { configChecks, report } from "../app/checks.js";
import {
  adoptText,
  batchText,
  cancelText,
  doctorText,
  progressLine,
  statusText,
  syncText,
} from "./format.js";

/** Credentials `run` works on at once (the rate plan in src/limits.ts paces their calls). */
const RUN_CONCURRENCY = 8;

const USAGE = `usage: kong-key-rotator <plan|run|rotate|status|sync|doctor> [name] [--config file] [--json] [--force] [--reason text] [--no-other-writer] [--verbose]
       kong-key-rotator rotate <name> [--force [--override-cooldown] | --rollback | --cancel] [--reason text]
       kong-key-rotator plan <name> [--force | --rollback]
       kong-key-rotator status [name] --html FILE [--config file]
       kong-key-rotator adopt <name> --cert <pem|pfx> [--password p | --password-env NAME] [--yes] [--config file] [--json] [--no-other-writer]`;

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
  const commands = ["plan", "run", "rotate", "status", "sync", "doctor", "adopt"];
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  if (
    !command ||
    !commands.includes(command) ||
    extra.length > 0 ||
    ((command === "rotate" || command === "adopt") && !name)
  ) {
    io.err(USAGE);
    return 2;
  }
  const usageError = requestFlagsError(command, name, values);
  if (usageError) {
    io.err(`${usageError}\n${USAGE}`);
    return 2;
  }
  if (values.html !== undefined && command !== "status") {
    io.err("--html applies to 'status' only\n" + USAGE);
    return 2;
  }
  if (command === "adopt" && !values.cert) {
    io.err("adopt needs --cert <file> (PEM with key and certificate, or PFX)\n" + USAGE);
    return 2;
  }
  if (
    command !== "adopt" &&
    (values.cert !== undefined ||
      values.password !== undefined ||
      values["password-env"] !== undefined ||
      values.yes)
  ) {
    io.err("--cert, --password, --password-env and --yes apply to 'adopt' only\n" + USAGE);
    return 2;
  }
  // --password-env keeps the password out of the process list and shell history.
  const password = values.password ?? (values["password-env"] ? io.env[values["password-env"]] : undefined);
  if (values["password-env"] && password === undefined) {
    io.err(`--password-env: environment variable ${values["password-env"]} is not set`);
    return 2;
  }
  registerSecret(password);
  const asJson = values.json === true;
  const print = (human: string, machine: unknown) =>
    io.out(asJson ? JSON.stringify(redact(machine), null, 2) : redactText(human));

  const configPath = values.config ?? io.env.ROTATOR_CONFIG;
  if (!configPath) {
    io.err("no configuration: pass --config <file> or set ROTATOR_CONFIG");
    return 2;
  }
  const fail = (e: unknown): void => {
    const err = toRotatorError(e);
    io.err(
      asJson
        ? JSON.stringify(redact({ error: err.toJSON() }))
        : redactText(`error ${err.code}: ${err.message}\nhint: ${err.hint}`),
    );
  };

  // Exit contract: usage and configuration errors (including an unknown credential name) exit 2 here,
  // before any runtime is built or anything external is touched.
  let config: Config;
  try {
    config = await loadConfig(configPath);
    if (name) credentialOf(config, name);
  } catch (e) {
    if (command === "doctor" && toRotatorError(e).code !== "UNKNOWN_CREDENTIAL") {
      const r = report(configChecks(e));
      print(doctorText(r), r);
    } else fail(e);
    return 2;
  }

  if (command === "doctor") {
    try {
      const rt = createRuntime({
        config,
        env: io.env,
        logger: jsonLogger((line) => io.err(line), values.verbose ? "debug" : "warn"),
        lease: "none",
      });
      const r = await doctor(rt, name);
      print(doctorText(r), r);
      return r.ok ? 0 : 1;
    } catch (e) {
      const r = report(configChecks(e));
      print(doctorText(r), r);
      return isRotatorError(e) && isConfigurationError(toRotatorError(e).code) ? 2 : 1;
    }
  }
  try {
    const mutating =
      command === "run" ||
      command === "rotate" ||
      command === "sync" ||
      (command === "adopt" && values.yes === true);
    const rt = createRuntime({
      config,
      env: io.env,
      logger: cliLogger(io, values.verbose === true),
      lease: values["no-other-writer"] ? "none" : mutating ? "storage" : "none",
    });
    const names = name ? [name] : config.credentials.map((c) => c.name);

    if (command === "adopt" && name && values.cert) {
      let bytes: Buffer;
      try {
        bytes = await readFile(values.cert);
      } catch (e) {
        io.err(`cannot read ${values.cert}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
        return 2;
      }
      const input = await readCertificateInput(bytes, password);
      const r = await adopt(rt, name, input, {
        apply: values.yes === true,
        holder: `cli-adopt:${safeUser()}`,
      });
      print(adoptText(r, values.yes === true), r);
      if (r.busy) return 3;
      return r.ok ? 0 : 1;
    }
    if (command === "status") {
      const views = await status(rt, name);
      if (values.html !== undefined) {
        try {
          await writeFile(values.html, renderStatusPage(views, rt.clock.now()));
        } catch (e) {
          io.err(`cannot write ${values.html}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
          return 2;
        }
      }
      print(views.map(statusText).join("\n\n"), views);
      return views.some((v) => v.error) ? 1 : 0;
    }
    if (command === "sync") {
      const results = await syncCheck(rt, names);
      print(results.map(syncText).join("\n"), results);
      return results.some(
        (r) =>
          r.kind === "error" ||
          (r.kind === "checked" && r.report.findings.some((f) => !(f.code === "KONG_DRIFT" && f.reapplied))),
      )
        ? 1
        : 0;
    }
    const actor = safeUser();
    if (command === "rotate" && name && values.cancel) {
      const r = await cancelRequested(rt, name, {
        trigger: "cli",
        actor,
        ...(values.reason ? { reason: values.reason } : {}),
      });
      print(cancelText(r), r);
      return r.kind === "busy" ? 3 : 0;
    }
    const req: RotateRequest = {
      trigger: "cli",
      actor,
      dryRun: command === "plan",
      force: values.force === true,
      rollback: values.rollback === true,
      overrideCooldown: values["override-cooldown"] === true,
      ...(values.reason ? { reason: values.reason } : {}),
      ...(asJson ? {} : { onProgress: (e) => io.err(progressLine(e)) }),
    };
    // One named credential: its error is the command's (stderr, exit 1; a refused request says why).
    // Several: like the timer, every credential is tried and one that throws does not stop the others.
    const results: BatchResult[] = name
      ? [await rotate(rt, name, req)]
      : command === "run"
        ? // The fleet scheduler in-process: bounded concurrency, waits do not hold a slot (app/scheduler.ts).
          await runScheduled(rt, names, req, {
            concurrency: RUN_CONCURRENCY,
            ...(asJson
              ? {}
              : {
                  onStatus: (p) =>
                    io.err(
                      `[run] done ${p.done} / in flight ${p.inFlight} / waiting ${p.waiting} / failed ${p.failed} (of ${p.total})`,
                    ),
                }),
          })
        : await eachCredential(rt, names, req);
    print(results.map(batchText).join("\n"), results);
    if (
      results.some(
        (r) =>
          r.kind === "error" ||
          (r.kind === "done" &&
            (r.report.outcome === "failed" ||
              r.report.outcome === "stuck" ||
              // A requested rotation is still outstanding and its last attempt failed.
              r.report.status?.request?.lastError !== undefined)),
      )
    )
      return 1;
    return results.some((r) => r.kind === "busy") ? 3 : 0;
  } catch (e) {
    fail(e);
    return isRotatorError(e) && isConfigurationError(toRotatorError(e).code) ? 2 : 1;
  }
}

/** `plan` over every credential: each in turn, an error recorded as its outcome (a dry run alerts nothing). */
async function eachCredential(rt: Runtime, names: string[], req: RotateRequest): Promise<BatchResult[]> {
  const results: BatchResult[] = [];
  for (const n of names) {
    try {
      results.push(await rotate(rt, n, req));
    } catch (e) {
      results.push({ credential: n, kind: "error", error: toRotatorError(e).toJSON() });
    }
  }
  return results;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      json: { type: "boolean" },
      force: { type: "boolean" },
      rollback: { type: "boolean" },
      cancel: { type: "boolean" },
      "override-cooldown": { type: "boolean" },
      reason: { type: "string" },
      cert: { type: "string" },
      html: { type: "string" },
      password: { type: "string" },
      "password-env": { type: "string" },
      yes: { type: "boolean" },
      "no-other-writer": { type: "boolean" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** The request flags and which commands take them; undefined when the combination is valid. */
function requestFlagsError(
  command: string,
  name: string | undefined,
  values: { force?: boolean; rollback?: boolean; cancel?: boolean; "override-cooldown"?: boolean },
): string | undefined {
  const { force, rollback, cancel } = values;
  const override = values["override-cooldown"];
  if (force && command !== "rotate" && command !== "plan")
    return "--force applies to 'rotate' and 'plan' only";
  if (rollback && command !== "rotate" && command !== "plan")
    return "--rollback applies to 'rotate' and 'plan' only";
  if ((cancel || override) && command !== "rotate")
    return "--cancel and --override-cooldown apply to 'rotate' only";
  if ([force, rollback, cancel].filter(Boolean).length > 1)
    return "use only one of --force, --rollback and --cancel";
  if (override && !force) return "--override-cooldown goes with --force";
  if ((force || rollback) && command === "plan" && !name)
    return "plan --force/--rollback needs a credential name";
  return undefined;
}

function safeUser(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli";
  }
}

/** Warnings and errors on stderr (everything with --verbose), plus the audit line of every manual request. */
function cliLogger(io: CliIo, verbose: boolean): Logger {
  const all = jsonLogger((line) => io.err(line), "debug");
  return {
    log(level, event, fields) {
      if (verbose || level === "warn" || level === "error" || event === "RotationRequested")
        all.log(level, event, fields);
    },
  };
}

const isEntry =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) {
  // One command, one secret scope: values registered for redaction are dropped when it ends.
  const code = await withSecretScope(() =>
    main(process.argv.slice(2), {
      out: (s) => process.stdout.write(s + "\n"),
      err: (s) => process.stderr.write(s + "\n"),
      env: process.env,
    }),
  );
  process.exitCode = code;
}
