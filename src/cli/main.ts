#!/usr/bin/env node
/**
 * kong-key-rotator: the same engine as the Azure Functions, from a terminal. The commands, options and
 * help text are in args.ts; the exit codes (README "CLI", one rule for every command) are:
 *   0 ok, or nothing to do;  1 work failed;  2 usage or configuration error (checked first, including an
 *   unknown credential name, before anything external is touched);  3 busy (another writer holds a
 *   credential's lease; nothing was done for it).
 * Over several credentials every one is tried; a failure wins over busy, busy over ok.
 */
import { readFile, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { existsSync, realpathSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { credentialOf, loadConfig, type Config } from "../config/load.js";
import { isConfigurationError, isRotatorError, toRotatorError } from "../errors.js";
import { jsonLogger } from "../log/logger.js";
import type { Logger, LogLevel } from "../ports/engine.js";
import { redact, redactText, registerSecret, withSecretScope } from "../log/redact.js";
import { createRuntime, type Runtime } from "../app/runtime.js";
import {
  cancelRequested,
  rotate,
  status,
  syncCheck,
  type BatchResult,
  type CancelResult,
  type RotateRequest,
} from "../app/service.js";
import { runDue } from "../app/scheduler.js";
import { doctor } from "../app/doctor.js";
import { renderStatusPage } from "../app/status-page.js";
import { adopt } from "../app/adopt.js";
import { migrateCredential } from "../app/migrate.js";
import { readCertificateInput } from "../app/cert-input.js";
import { configChecks, report } from "../app/checks.js";
import {
  checkCombinations,
  helpText,
  parse,
  SEE_HELP,
  UsageError,
  type Parsed,
  type Values,
} from "./args.js";
import {
  adoptText,
  batchText,
  cancelText,
  doctorText,
  logText,
  manualChange,
  migrateText,
  nothingToCancelText,
  progressLine,
  statusText,
  syncText,
} from "./format.js";

/** Credentials `run` works on at once (the rate plan in src/limits.ts paces their calls). */
const RUN_CONCURRENCY = 8;

/** The exit codes, one rule for every command (README "CLI"). */
export const EXIT = { ok: 0, failed: 1, usage: 2, busy: 3 } as const;

/** What happened to one credential (or the command as a whole), for the exit code. */
export type Outcome = "ok" | "failed" | "busy";

/** A failure wins over busy, busy over ok; nothing to do is ok. */
export function exitCode(outcomes: readonly Outcome[]): number {
  if (outcomes.includes("failed")) return EXIT.failed;
  if (outcomes.includes("busy")) return EXIT.busy;
  return EXIT.ok;
}

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
  /** Standard input, read to its end (--password-stdin). */
  stdin?: () => Promise<string>;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parse(argv);
    checkCombinations(parsed);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`${e.message}\n${SEE_HELP}`);
    return EXIT.usage;
  }
  const { command, name, values } = parsed;
  if (command === "help") {
    io.out(helpText());
    return EXIT.ok;
  }
  const password = await readPassword(values, io);
  if (typeof password === "object") {
    io.err(`${password.error}\n${SEE_HELP}`);
    return EXIT.usage;
  }
  registerSecret(password);
  const asJson = values.json === true;
  const logJson = values["log-format"] === "json";
  const verbose = values.verbose === true;
  const print = (human: string, machine: unknown) =>
    io.out(asJson ? JSON.stringify(redact(machine), null, 2) : redactText(human));
  /** Human lines on stderr (progress, notes); with --log-format json stderr carries JSON log lines only. */
  const note = (line: string) => {
    if (!logJson) io.err(redactText(line));
  };

  const configPath = values.config ?? io.env.ROTATOR_CONFIG;
  if (!configPath) {
    io.err("no configuration: pass --config <file> or set ROTATOR_CONFIG");
    return EXIT.usage;
  }
  const fail = (e: unknown): void => {
    const err = toRotatorError(e);
    io.err(
      asJson || logJson
        ? JSON.stringify(redact({ error: err.toJSON() }))
        : redactText(`error ${err.code}: ${err.message}\nhint: ${err.hint}`),
    );
  };

  // Usage and configuration errors (including an unknown credential name) exit 2 here, before any
  // runtime is built or anything external is touched.
  let config: Config;
  try {
    config = await loadConfig(configPath);
    if (name) credentialOf(config, name);
  } catch (e) {
    if (command === "doctor" && toRotatorError(e).code !== "UNKNOWN_CREDENTIAL") {
      const r = report(configChecks(e));
      print(doctorText(r), r);
    } else fail(e);
    return EXIT.usage;
  }
  const logger = cliLogger(io, { json: logJson, verbose });

  if (command === "doctor") {
    try {
      const rt = createRuntime({ config, env: io.env, logger, lease: "none" });
      const r = await doctor(rt, name);
      print(doctorText(r), r);
      return exitCode([r.ok ? "ok" : "failed"]);
    } catch (e) {
      const r = report(configChecks(e));
      print(doctorText(r), r);
      return isRotatorError(e) && isConfigurationError(toRotatorError(e).code) ? EXIT.usage : EXIT.failed;
    }
  }
  try {
    const mutating =
      command === "run" ||
      command === "rotate" ||
      command === "sync" ||
      (command === "migrate" && values["dry-run"] !== true) ||
      (command === "adopt" && values.yes === true);
    const rt = createRuntime({
      config,
      env: io.env,
      logger,
      lease: values["no-other-writer"] ? "none" : mutating ? "storage" : "none",
    });
    const names = name ? [name] : config.credentials.map((c) => c.name);

    if (command === "adopt" && name && values.cert) {
      let bytes: Buffer;
      try {
        bytes = await readFile(values.cert);
      } catch (e) {
        io.err(`cannot read --cert ${values.cert}: ${ioReason(e)}`);
        return EXIT.usage;
      }
      const input = await readCertificateInput(bytes, password);
      const r = await adopt(rt, name, input, {
        apply: values.yes === true,
        holder: `cli-adopt:${safeUser()}`,
      });
      print(adoptText(r, values.yes === true), r);
      return exitCode([r.busy ? "busy" : r.ok ? "ok" : "failed"]);
    }
    if (command === "migrate" && name) {
      const r = await migrateCredential(rt, name, {
        actor: safeUser(),
        dryRun: values["dry-run"] === true,
        acceptCutover: values["accept-cutover"] === true,
        retireSecret: values["retire-secret"] === true,
        allSecrets: values["all-secrets"] === true,
        ...(asJson || logJson ? {} : { onProgress: note }),
      });
      print(migrateText(r), r);
      return exitCode([r.kind === "busy" ? "busy" : r.report.outcome === "failed" ? "failed" : "ok"]);
    }
    if (command === "status") {
      const views = await status(rt, name);
      print(views.map((v) => statusText(v, rt.clock.now())).join("\n\n"), views);
      // A credential or a Kong target that could not be read is a status that failed to tell the whole truth.
      const outcomes: Outcome[] = views.map((v) =>
        v.error || v.targets.some((t) => t.error) ? "failed" : "ok",
      );
      if (values.html !== undefined) {
        const path = resolve(values.html);
        try {
          await writeFile(path, renderStatusPage(views, rt.clock.now(), { runbooks: runbookBase(io.env) }));
          note(`status page written to ${path}`);
        } catch (e) {
          io.err(`cannot write the status page to ${path}: ${ioReason(e, dirname(path))}`);
          outcomes.push("failed");
        }
      }
      return exitCode(outcomes);
    }
    if (command === "sync") {
      const results = await syncCheck(rt, names);
      print(results.map(syncText).join("\n"), results);
      return exitCode(
        results.map((r) =>
          r.kind === "busy"
            ? "busy"
            : r.kind === "error" || r.report.findings.some((f) => !(f.code === "KONG_DRIFT" && f.reapplied))
              ? "failed"
              : "ok",
        ),
      );
    }
    const actor = safeUser();
    if (command === "rotate" && name && values.cancel) {
      let r: CancelResult;
      try {
        r = await cancelRequested(rt, name, {
          trigger: "cli",
          actor,
          ...(values.reason ? { reason: values.reason } : {}),
        });
      } catch (e) {
        // Nothing pending is nothing to do, not a failure.
        if (!isRotatorError(e) || toRotatorError(e).code !== "NO_PENDING_REQUEST") throw e;
        print(nothingToCancelText(name), { credential: name, kind: "nothing-pending" });
        return EXIT.ok;
      }
      print(cancelText(r), r);
      return exitCode([r.kind === "busy" ? "busy" : "ok"]);
    }
    const req: RotateRequest = {
      trigger: "cli",
      actor,
      dryRun: command === "plan",
      force: values.force === true,
      rollback: values.rollback === true,
      overrideCooldown: values["override-cooldown"] === true,
      ...(values.compromised
        ? { compromised: true, revokeUnmanaged: values["revoke-unmanaged"] === true }
        : {}),
      ...(values.reason ? { reason: values.reason } : {}),
      ...(asJson || logJson ? {} : { onProgress: (e) => io.err(redactText(progressLine(e))) }),
    };
    // One named credential: its error is the command's (stderr, exit 1; a refused request says why).
    // Several: like the timer, every credential is tried and one that throws does not stop the others.
    const results: BatchResult[] =
      command === "run"
        ? // As lean as a timer tick: the vault listing decides who has work (--check or a name: in full); the
          // fleet scheduler in-process runs them: bounded concurrency, waits do not hold a slot (app/scheduler.ts).
          await runDue(rt, names, req, {
            concurrency: RUN_CONCURRENCY,
            // A credential named on its own is looked at in full, as `rotate <name>` does.
            full: values.check === true || name !== undefined,
            ...(asJson || logJson
              ? {}
              : {
                  onPlan: (p) =>
                    io.err(
                      `[run] ${p.due} of ${p.total} credential(s) due (${p.listCalls} Key Vault list call(s))`,
                    ),
                  onStatus: (p) =>
                    io.err(
                      `[run] done ${p.done} / in flight ${p.inFlight} / waiting ${p.waiting} / failed ${p.failed} (of ${p.total})`,
                    ),
                }),
          })
        : name
          ? [await rotate(rt, name, req)]
          : await eachCredential(rt, names, req);
    print(
      results
        .map((r) =>
          batchText(r, { asked: command === "rotate" && !req.force && !req.rollback && !req.compromised }),
        )
        .join("\n"),
      results,
    );
    return exitCode(results.map(batchOutcome));
  } catch (e) {
    fail(e);
    return isRotatorError(e) && isConfigurationError(toRotatorError(e).code) ? EXIT.usage : EXIT.failed;
  }
}

/**
 * One credential's run for the exit code: failed, stuck, or a requested rotation still outstanding whose
 * last attempt failed is work failed; busy is busy; anything else (done, nothing due, waiting) is ok.
 */
function batchOutcome(r: BatchResult): Outcome {
  if (r.kind === "busy") return "busy";
  if (r.kind === "error") return "failed";
  if (r.kind === "idle") return "ok";
  const { outcome, status } = r.report;
  return outcome === "failed" || outcome === "stuck" || status?.request?.lastError !== undefined
    ? "failed"
    : "ok";
}

/** A file system error as a sentence (the folder that does not exist, no permission, ...). */
function ioReason(e: unknown, folder?: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
      return folder ? `the folder ${folder} does not exist` : "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "that is a folder";
    case "ENOTDIR":
      return "a part of the path is not a folder";
    default:
      return code ?? (e instanceof Error ? e.message : String(e));
  }
}

/** `plan` over every credential: each in turn, an error recorded as its outcome (a dry run alerts nothing). */
async function eachCredential(rt: Runtime, names: string[], req: RotateRequest): Promise<BatchResult[]> {
  const results: BatchResult[] = [];
  for (const n of names) {
    try {
      results.push(await rotate(rt, n, req));
    } catch (e) {
      results.push({ credential: n, kind: "error", stage: "start", error: toRotatorError(e).toJSON() });
    }
  }
  return results;
}

function safeUser(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli";
  }
}

/**
 * The service's log lines on stderr. Text (default): warnings and errors as one human line each
 * (everything with --verbose), between the progress lines, and the audit line of a manual change. JSON (--log-format json): every record from
 * info up (debug with --verbose) as a JSON line, the audit record of each request included, and nothing
 * else on stderr.
 */
function cliLogger(io: CliIo, opts: { json: boolean; verbose: boolean }): Logger {
  if (opts.json) return jsonLogger((line) => io.err(line), opts.verbose ? "debug" : "info");
  const shown: LogLevel[] = opts.verbose ? ["debug", "info", "warn", "error"] : ["warn", "error"];
  return {
    log(level, event, fields = {}) {
      // The audit record of a manual change (force, rollback, cancel) is always shown, as one line.
      const audit = event === "RotationRequested" && manualChange(fields) !== undefined;
      if (!audit && (!shown.includes(level) || (!opts.verbose && NARRATED.has(event)))) return;
      io.err(logText(level, event, fields));
    },
  };
}

/** Records the progress lines and the printed result already tell in text mode (shown with --verbose). */
const NARRATED = new Set(["RotationStep", "RotationRun", "KeySyncFinding"]);

/** Where the status page links each alert's runbook: RUNBOOK_BASE_URL, else the runbooks next to this CLI. */
function runbookBase(env: NodeJS.ProcessEnv): string | undefined {
  if (env.RUNBOOK_BASE_URL) return env.RUNBOOK_BASE_URL;
  const here = fileURLToPath(import.meta.url);
  for (let dir = dirname(here); dir !== dirname(dir); dir = dirname(dir))
    if (existsSync(resolve(dir, "docs/runbooks"))) return pathToFileURL(resolve(dir, "docs/runbooks")).href;
  return undefined;
}

/**
 * The password for adopt's input. --password-stdin and --password-env keep it out of the process list
 * (`ps`, /proc/<pid>/cmdline, readable by every local user) and the shell history; --password still works,
 * with a warning. From stdin: the first line, without its line ending.
 */
async function readPassword(values: Values, io: CliIo): Promise<string | undefined | { error: string }> {
  if (values.password !== undefined) {
    io.err(
      "warning: --password puts the password in the process list and the shell history; use --password-stdin or --password-env VAR",
    );
    return values.password;
  }
  const name = values["password-env"];
  if (name !== undefined) {
    const value = io.env[name];
    return value === undefined ? { error: `--password-env: environment variable ${name} is not set` } : value;
  }
  if (values["password-stdin"]) {
    const text = await (io.stdin ?? readStdin)();
    const line = text.split(/\r?\n/)[0] ?? "";
    return line === "" ? { error: "--password-stdin: nothing was read from standard input" } : line;
  }
  return undefined;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString("utf8");
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
