/**
 * The CLI's commands and options, its help text, and the parsing of argv into them. Every usage error is a
 * sentence naming the problem (an unknown command or option with the closest match, a missing value or
 * credential name); Node's own parser messages are never shown.
 */
import { parseArgs } from "node:util";

export interface CommandSpec {
  name: string;
  /** Whether the command takes a credential name. */
  takesName: "none" | "optional" | "required";
  synopsis: string;
  summary: string;
}

/** Every command, in the order `--help` lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "plan",
    takesName: "optional",
    synopsis: "plan [name] [--force | --rollback]",
    summary: "dry run: what the next run would do (changes nothing)",
  },
  {
    name: "run",
    takesName: "optional",
    synopsis: "run [name] [--check]",
    summary:
      "do what is due, decided as the timer does from the vault listing; a name or --check: observed in full",
  },
  {
    name: "rotate",
    takesName: "required",
    synopsis:
      "rotate <name> [--force [--override-cooldown] | --compromised [--revoke-unmanaged] | --rollback | --cancel]",
    summary:
      "rotate one credential now if due; --force even if not, --compromised to revoke a leaked key at once, --rollback, --cancel a pending request",
  },
  {
    name: "status",
    takesName: "optional",
    synopsis: "status [name] [--html FILE]",
    summary: "generations, Kong targets, open alerts, last success and failure (--html: the status page)",
  },
  {
    name: "sync",
    takesName: "optional",
    synopsis: "sync [name]",
    summary: "drift check: every Kong target against the active key (re-applies when configured)",
  },
  {
    name: "doctor",
    takesName: "optional",
    synopsis: "doctor [name]",
    summary: "read-only preflight checks: configuration, Kong, identity provider, Key Vault, storage",
  },
  {
    name: "adopt",
    takesName: "required",
    synopsis: "adopt <name> --cert FILE [--password-stdin | --password-env VAR] [--yes]",
    summary: "take over a hand-made certificate and key as the first generation (dry run without --yes)",
  },
  {
    name: "migrate",
    takesName: "required",
    synopsis: "migrate <name> [--dry-run] [--accept-cutover] [--retire-secret [--all-secrets]]",
    summary:
      "move a credential from a client secret to private_key_jwt without an outage (resumable; docs/migration.md)",
  },
  {
    name: "help",
    takesName: "none",
    synopsis: "help",
    summary: "this text (also --help, -h)",
  },
];

interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** The value's placeholder in the help text (string options). */
  value?: string;
  help: string;
}

export const OPTIONS = {
  config: { type: "string", value: "FILE", help: "the configuration file (default: $ROTATOR_CONFIG)" },
  json: { type: "boolean", help: "print the result as JSON on stdout" },
  "log-format": {
    type: "string",
    value: "text|json",
    help: "stderr: progress and log lines for people (text, default), or JSON log lines only (json)",
  },
  verbose: { type: "boolean", help: "also the service's informational and debug log lines" },
  reason: { type: "string", value: "TEXT", help: "why (kept with a forced rotation, rollback or cancel)" },
  force: { type: "boolean", help: "rotate / plan: a new key even if none is due" },
  "override-cooldown": { type: "boolean", help: "rotate --force: skip policy.forceCooldown (audited)" },
  compromised: {
    type: "boolean",
    help: "rotate: the active key leaked: a new key now (no cooldown), then every earlier key revoked at once (docs/runbooks/key-compromise.md)",
  },
  "revoke-unmanaged": {
    type: "boolean",
    help: "rotate --compromised: also remove the keys at the IdP that the rotator did not create",
  },
  rollback: { type: "boolean", help: "rotate / plan: every Kong target back on the previous key" },
  cancel: { type: "boolean", help: "rotate: withdraw the pending forced rotation or rollback" },
  check: {
    type: "boolean",
    help: "run: observe every credential (Key Vault, identity provider, Kong), not only those the vault listing says are due",
  },
  html: { type: "string", value: "FILE", help: "status: also write the status page (one HTML file)" },
  cert: { type: "string", value: "FILE", help: "adopt: PEM (key and certificate) or PFX file" },
  "password-stdin": {
    type: "boolean",
    help: "adopt: read the password of an encrypted key or PFX from the first line of standard input",
  },
  "password-env": {
    type: "string",
    value: "VAR",
    help: "adopt: read that password from environment variable VAR",
  },
  password: {
    type: "string",
    value: "P",
    help: "adopt: the password itself (visible in the process list: prefer the two above; warns)",
  },
  yes: { type: "boolean", help: "adopt: do it (without: a dry run)" },
  "dry-run": { type: "boolean", help: "migrate: print each step with the IdP's warning, change nothing" },
  "accept-cutover": {
    type: "boolean",
    help: "migrate: accept the provider's cutover, where it has one (failed gateway logins until Kong switches; migrate --dry-run states the window)",
  },
  "retire-secret": {
    type: "boolean",
    help: "migrate: once no Kong target holds the secret, retire it at the IdP",
  },
  "all-secrets": {
    type: "boolean",
    help: "migrate --retire-secret: every client secret of the client, not only the one Kong used",
  },
  "no-other-writer": {
    type: "boolean",
    help: "run without the storage lease (only when nothing else rotates these credentials)",
  },
  help: { type: "boolean", short: "h", help: "this text" },
} as const satisfies Record<string, OptionSpec>;

type OptionName = keyof typeof OPTIONS;
type ValueOf<N extends OptionName> = (typeof OPTIONS)[N]["type"] extends "string" ? string : boolean;
export type Values = { [N in OptionName]?: ValueOf<N> };

export interface Parsed {
  command: string;
  name?: string;
  values: Values;
}

export class UsageError extends Error {}

/** The one-screen help: every command with a line, every option, the exit codes. */
export function helpText(): string {
  const opts = Object.entries(OPTIONS).map(([name, o]) => {
    const flag = `${"short" in o ? `-${o.short}, ` : ""}--${name}${"value" in o ? ` ${o.value}` : ""}`;
    return [flag, o.help] as const;
  });
  const optWidth = Math.max(...opts.map(([f]) => f.length));
  return [
    "kong-key-rotator: rotate the private_key_jwt keys of Kong's openid-connect plugin",
    "",
    "usage: kong-key-rotator <command> [name] [options]",
    "",
    "commands:",
    ...COMMANDS.flatMap((c) => [`  ${c.synopsis}`, `      ${c.summary}`]),
    "",
    "options:",
    ...opts.map(([f, h]) => `  ${f.padEnd(optWidth)}  ${h}`),
    "",
    "exit codes: 0 ok or nothing to do, 1 work failed, 2 usage or configuration error, 3 busy (another",
    "writer holds a credential's lease; nothing was done for it)",
  ].join("\n");
}

/** What follows every usage error: where the full list is. */
export const SEE_HELP = "run 'kong-key-rotator --help' for the commands and options";

/** Parse argv; throws UsageError with a sentence for anything wrong. `--help` anywhere wins. */
export function parse(argv: string[]): Parsed {
  // Not strict: every problem is collected and worded here. The types tell the parser which options take a value.
  const options = Object.fromEntries(
    Object.entries(OPTIONS).map(([name, o]) => [
      name,
      { type: o.type, ...("short" in o ? { short: o.short } : {}) },
    ]),
  );
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const values: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const errors: string[] = [];
  for (const t of tokens) {
    if (t.kind === "positional") positionals.push(t.value);
    if (t.kind !== "option") continue;
    const entry = Object.entries(OPTIONS).find(
      ([name, o]) => name === t.name || ("short" in o && o.short === t.name),
    );
    if (!entry) {
      const near = closest(
        t.name,
        Object.keys(OPTIONS).filter((n) => n.length > 1),
      );
      errors.push(`unknown option ${t.rawName}${near ? `; did you mean --${near}?` : ""}`);
      continue;
    }
    const [name, spec] = entry;
    if (spec.type === "boolean") {
      if (t.value !== undefined) errors.push(`${t.rawName} takes no value (got "${t.value}")`);
      else values[name] = true;
    } else if (t.value === undefined || (!t.inlineValue && t.value.startsWith("-"))) {
      errors.push(`${t.rawName} needs a value: ${t.rawName} ${"value" in spec ? spec.value : "VALUE"}`);
    } else values[name] = t.value;
  }
  if (values.help === true) return { command: "help", values: values as Values };
  const [command, name, ...extra] = positionals;
  const spec = COMMANDS.find((c) => c.name === command);
  if (!command) errors.unshift("no command given");
  else if (!spec) {
    const near = closest(
      command,
      COMMANDS.map((c) => c.name),
    );
    errors.unshift(`unknown command '${command}'${near ? `; did you mean '${near}'?` : ""}`);
  } else if (spec.takesName === "required" && name === undefined)
    errors.unshift(`${command} needs a credential name: kong-key-rotator ${spec.synopsis}`);
  else if (spec.takesName === "none" && name !== undefined)
    errors.unshift(`${command} takes no argument (got '${name}')`);
  if (extra.length > 0)
    errors.push(`unexpected argument${extra.length > 1 ? "s" : ""} ${extra.map((e) => `'${e}'`).join(" ")}`);
  if (errors.length > 0) throw new UsageError(errors.join("\n"));
  return { command: command!, ...(name === undefined ? {} : { name }), values: values as Values };
}

/** The candidate within edit distance 2 (or that the input starts), if exactly one is closest. */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  const scored = candidates
    .map((c) => ({ c, d: c.startsWith(input) && input.length >= 2 ? 0.5 : distance(input, c) }))
    .filter((x) => x.d <= Math.min(2, Math.max(1, Math.floor(x.c.length / 3))))
    .sort((a, b) => a.d - b.d);
  if (scored.length === 0) return undefined;
  if (scored.length > 1 && scored[0]!.d === scored[1]!.d) return undefined;
  return scored[0]!.c;
}

/** Damerau-Levenshtein distance (optimal string alignment): a swapped pair counts once. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  return d[a.length]![b.length]!;
}

/** Which commands take which flags, and which flags go together; throws UsageError. */
export function checkCombinations({ command, name, values }: Parsed): void {
  const { force, rollback, cancel, compromised } = values;
  const override = values["override-cooldown"];
  const revokeUnmanaged = values["revoke-unmanaged"];
  const only = (flags: string, commands: string) => {
    throw new UsageError(`${flags} applies to ${commands} only`);
  };
  if (force && command !== "rotate" && command !== "plan") only("--force", "'rotate' and 'plan'");
  if (rollback && command !== "rotate" && command !== "plan") only("--rollback", "'rotate' and 'plan'");
  if (cancel && command !== "rotate") only("--cancel", "'rotate'");
  if (override && command !== "rotate") only("--override-cooldown", "'rotate'");
  if (compromised && command !== "rotate") only("--compromised", "'rotate'");
  if (revokeUnmanaged && command !== "rotate") only("--revoke-unmanaged", "'rotate'");
  if ([force || compromised, rollback, cancel].filter(Boolean).length > 1)
    throw new UsageError("use only one of --force (or --compromised), --rollback and --cancel");
  if (override && !force && !compromised) throw new UsageError("--override-cooldown goes with --force");
  if (revokeUnmanaged && !compromised) throw new UsageError("--revoke-unmanaged goes with --compromised");
  if (values.check && command !== "run") only("--check", "'run'");
  if ((force || rollback) && command === "plan" && !name)
    throw new UsageError("plan --force and plan --rollback need a credential name");
  if (values.html !== undefined && command !== "status") only("--html", "'status'");
  if (command === "adopt" && !values.cert)
    throw new UsageError("adopt needs --cert FILE (PEM with the key and the certificate, or PFX)");
  for (const flag of ["cert", "password", "password-env", "password-stdin", "yes"] as const)
    if (values[flag] !== undefined && command !== "adopt") only(`--${flag}`, "'adopt'");
  const passwordSources = (["password", "password-env", "password-stdin"] as const).filter(
    (f) => values[f] !== undefined,
  );
  if (passwordSources.length > 1)
    throw new UsageError("use only one of --password-stdin, --password-env and --password");
  for (const flag of ["dry-run", "accept-cutover", "retire-secret", "all-secrets"] as const)
    if (values[flag] !== undefined && command !== "migrate") only(`--${flag}`, "'migrate'");
  if (values["all-secrets"] && !values["retire-secret"])
    throw new UsageError("--all-secrets goes with --retire-secret");
  const format = values["log-format"];
  if (format !== undefined && format !== "text" && format !== "json")
    throw new UsageError(`--log-format is text or json (got "${format}")`);
}
