/**
 * Migration of a credential from a client secret to private_key_jwt without an outage (docs/migration.md).
 *
 * Kong's entry for our client starts on client_auth[i] = client_secret_post/basic with client_secret[i]
 * set. The migration runs these steps, each resumable like every other step:
 *   1. key: create the generation in Key Vault, register it at the IdP and verify it at the token endpoint
 *      (the rotation's own create, publish and verify steps). switch providers switch the client to
 *      private_key_jwt between registration and verification: the IdP refuses assertions before it.
 *   2. switch: in one write per plugin, client_auth[i] = private_key_jwt and client_jwk[i] = the new key,
 *      confirmed on every target like an activation; the generation becomes active.
 *   3. secret-removed: client_secret[i] no longer holds the secret on any target, read back.
 *   4. retired (only with retireSecret, only once 3 holds everywhere): the secret is retired at the IdP.
 *
 * The state is one tag on the generation the migration created (TAG_MIGRATION, compact JSON), written in
 * the same call that creates the version, so a crash anywhere leaves a migration the next run (the CLI, the
 * timer, HTTP) continues from what it observes. Nothing here reads, logs or returns a client secret: Kong
 * targets report its first three characters (the IdP's own hint), and the IdP lists metadata.
 */
import type { CredentialConfig } from "../config/load.js";
import { RotatorError, toRotatorError } from "../errors.js";
import { redact } from "../log/redact.js";
import type { EnginePorts, IdpSecret, KongClientAuthView, SecretMigrationRules } from "../ports/engine.js";
import { EngineBug, runAborted } from "./errors.js";
import { clearConfirmRecords, loadJwk, pushAndConfirm } from "./kong.js";
import { observe } from "./observe.js";
import { createGeneration } from "./steps/create.js";
import type { StepContext } from "./steps/context.js";
import { publishGeneration } from "./steps/publish.js";
import { verifyGeneration } from "./steps/verify.js";
import { TagBook } from "./tag-book.js";
import { jsonTag, phaseTags, TAG_ACTIVATED_AT, TAG_MIGRATION, type Generation } from "./tags.js";
import type { SafeError, Snapshot, TargetObservation } from "./types.js";
import type { StepWait } from "./wait.js";

export const MIGRATION_STAGES = ["key", "switched", "secret-removed", "retired"] as const;
export type MigrationStage = (typeof MIGRATION_STAGES)[number];

/** The durable record of one migration (TAG_MIGRATION). Dates are ISO 8601. */
export interface MigrationRecord {
  stage: MigrationStage;
  startedAt: string;
  /** The client secret method Kong used. */
  auth: string;
  /** The first three characters of the secret Kong held (the IdP's hint), when Kong held it inline. */
  hint?: string;
  /** When the IdP stopped accepting the secret (switch/attach providers): the cutover window starts. */
  cutAt?: string;
  /** When every target was confirmed on private_key_jwt. */
  switchedAt?: string;
  /** When no target held the secret any more. */
  secretRemovedAt?: string;
  /** When the secret was retired at the IdP. */
  retiredAt?: string;
  /** How many secrets were retired at the IdP. */
  retired?: number;
}

interface Wire {
  s: MigrationStage;
  at: string;
  a: string;
  h?: string;
  c?: string;
  w?: string;
  r?: string;
  t?: string;
  n?: number;
}

export function encodeMigration(r: MigrationRecord): string {
  const w: Wire = {
    s: r.stage,
    at: r.startedAt,
    a: r.auth,
    ...(r.hint ? { h: r.hint } : {}),
    ...(r.cutAt ? { c: r.cutAt } : {}),
    ...(r.switchedAt ? { w: r.switchedAt } : {}),
    ...(r.secretRemovedAt ? { r: r.secretRemovedAt } : {}),
    ...(r.retiredAt ? { t: r.retiredAt } : {}),
    ...(r.retired !== undefined ? { n: r.retired } : {}),
  };
  return JSON.stringify(w);
}

/** Undefined when absent or unreadable. */
export function parseMigration(v: string | undefined): MigrationRecord | undefined {
  const w = jsonTag(v) as Partial<Wire> | undefined;
  if (!w) return undefined;
  if (
    !MIGRATION_STAGES.includes(w.s as MigrationStage) ||
    typeof w.at !== "string" ||
    typeof w.a !== "string"
  )
    return undefined;
  return {
    stage: w.s as MigrationStage,
    startedAt: w.at,
    auth: w.a,
    ...(typeof w.h === "string" ? { hint: w.h } : {}),
    ...(typeof w.c === "string" ? { cutAt: w.c } : {}),
    ...(typeof w.w === "string" ? { switchedAt: w.w } : {}),
    ...(typeof w.r === "string" ? { secretRemovedAt: w.r } : {}),
    ...(typeof w.t === "string" ? { retiredAt: w.t } : {}),
    ...(typeof w.n === "number" ? { retired: w.n } : {}),
  };
}

/** The generation holding the credential's migration, newest first. */
export function migrationOf(
  generations: readonly Generation[],
): { holder: Generation; record: MigrationRecord } | undefined {
  for (const g of generations) {
    const record = parseMigration(g.tags[TAG_MIGRATION]);
    if (record) return { holder: g, record };
  }
  return undefined;
}

/** A migration in one line (status, the status page). */
export function describeMigration(m: MigrationRecord): string {
  const next: Record<MigrationStage, string> = {
    key: "new key being created, registered and verified; Kong still on the secret",
    switched: "Kong on private_key_jwt; the secret is being removed from Kong",
    "secret-removed": "the secret is gone from Kong; migrate --retire-secret retires it at the IdP",
    retired: "complete",
  };
  return (
    `migration from ${m.auth} (started ${m.startedAt}): ${m.stage}: ${next[m.stage]}` +
    (m.cutAt && m.switchedAt ? `; cutover window ${Date.parse(m.switchedAt) - Date.parse(m.cutAt)} ms` : "")
  );
}

/** Is a started migration not yet through Kong (steps 1 to 3)? The timer then continues it. */
export function migrationUnfinished(generations: readonly Generation[]): boolean {
  const m = migrationOf(generations);
  return m !== undefined && (m.record.stage === "key" || m.record.stage === "switched");
}

/**
 * How long a cutover is expected to last: the key's verification at the token endpoint (its consecutive
 * acceptances at the policy's interval, after propagation) and then Kong's confirmation, which is at once
 * for a traditional node (read-back) and at most the target's maxLag for gateways that sync.
 */
export function expectedWindow(
  cred: CredentialConfig,
  ports: Pick<EnginePorts, "kong">,
): { expectedWindowMs: number; maxWindowMs: number } {
  const p = cred.policy;
  const verify = p.verifyConsecutive * p.verifyInterval;
  return {
    expectedWindowMs: verify,
    maxWindowMs: verify + Math.max(0, ...ports.kong.map((t) => t.maxLagMs)),
  };
}

/** The window in words, for messages. */
function windowText(w: { expectedWindowMs: number; maxWindowMs: number }): string {
  const s = (ms: number) => `${Math.ceil(ms / 1000)} s`;
  return w.maxWindowMs > w.expectedWindowMs
    ? `about ${s(w.expectedWindowMs)} plus propagation, at most ${s(w.maxWindowMs)} while gateways sync`
    : `about ${s(w.expectedWindowMs)} plus propagation`;
}

export interface MigrateOptions {
  /** Print the steps and change nothing. */
  dryRun?: boolean;
  /** switch and attach providers: the operator accepts the cutover window (failed gateway logins until Kong switches). */
  acceptCutover?: boolean;
  /** Step 4: retire the secret at the IdP once no Kong target holds it. */
  retireSecret?: boolean;
  /** none providers: retire every client secret of the client, not only the one Kong used. */
  allSecrets?: boolean;
  signal?: AbortSignal;
  /** As RunOptions.waitBudgetMs: past it a waiting step ends the run waiting. */
  waitBudgetMs?: number;
  onProgress?: (line: string) => void;
}

export interface MigrationStepRecord {
  step:
    "preflight" | "create" | "publish" | "cutover" | "verify" | "switch" | "remove-secret" | "retire-secret";
  status: "planned" | "done" | "waiting" | "failed" | "skipped";
  detail: string;
}

export interface MigrationReport {
  credential: string;
  outcome: "planned" | "ok" | "noop" | "waiting" | "failed";
  steps: MigrationStepRecord[];
  /** The provider's cutover rule and warning. */
  cutover: SecretMigrationRules & { expectedWindowMs: number; maxWindowMs: number };
  record?: MigrationRecord;
  /** Measured: from the IdP's end of the secret to Kong confirmed on private_key_jwt (switch/attach). */
  windowMs?: number;
  /** The client's secrets at the IdP (metadata), when they were read. */
  secrets?: IdpSecret[];
  error?: SafeError;
  nextRunAt?: string;
}

/** Our client's authentication on every target; a target that cannot be read keeps its error. */
type AuthObservation =
  | { name: string; views: KongClientAuthView[]; error?: undefined }
  | { name: string; views?: undefined; error: RotatorError };

async function observeAuth(ports: EnginePorts): Promise<AuthObservation[]> {
  return Promise.all(
    ports.kong.map(async (t): Promise<AuthObservation> => {
      try {
        return { name: t.name, views: await t.clientAuth() };
      } catch (e) {
        return { name: t.name, error: toRotatorError(e, "KONG_INSPECT_FAILED") };
      }
    }),
  );
}

const usesSecret = (v: KongClientAuthView) =>
  v.auth === "client_secret_post" || v.auth === "client_secret_basic";

function notSecretAuth(cred: CredentialConfig, offending: string[]): RotatorError {
  return new RotatorError(
    "MIGRATE_NOT_SECRET_AUTH",
    `credential ${cred.name}: Kong does not authenticate client ${cred.idp.clientId} with a client secret on ${offending.join(", ")}`,
    "migrate starts from client_auth[i] = client_secret_post or client_secret_basic with client_secret[i] set, in every plugin of every target. A client already on private_key_jwt is managed by the run command.",
    { details: { targets: offending } },
  );
}

export function cutoverNotAccepted(
  cred: CredentialConfig,
  rules: SecretMigrationRules,
  window: { expectedWindowMs: number; maxWindowMs: number },
) {
  return new RotatorError(
    "MIGRATE_CUTOVER_NOT_ACCEPTED",
    `credential ${cred.name}: the ${cred.idp.kind} migration has a cutover with failed gateway logins: ${windowText(window)}`,
    `${rules.warning} Run it again with --accept-cutover at a quiet time (--dry-run shows the steps).`,
    { details: { ...window } },
  );
}

export function secretStillInKong(targets: string[]): RotatorError {
  return new RotatorError(
    "MIGRATE_SECRET_IN_USE",
    `a configured Kong target still holds the client secret: ${targets.join(", ")}`,
    "The secret is retired at the IdP only once no configured Kong target holds it. Run migrate again without --retire-secret to finish removing it from Kong, and check who else configured it.",
    { details: { targets } },
  );
}

function secretAmbiguous(hint: string | undefined, ids: string[]): RotatorError {
  return new RotatorError(
    "MIGRATE_SECRET_AMBIGUOUS",
    hint
      ? `${ids.length} client secrets at the IdP start with ${hint}: ${ids.join(", ")}; the one Kong used cannot be told apart`
      : `the secret Kong used is unknown (it was a vault reference); the IdP lists ${ids.join(", ")}`,
    "Retire them with --all-secrets once you know no one else uses them (status lists their last sign-in), or remove the right one at the IdP by hand.",
    { details: { ids } },
  );
}

/**
 * Run (or continue) the credential's migration. Expected failures come back as outcome failed with a safe
 * error; only programming errors throw.
 */
export async function migrate(
  cred: CredentialConfig,
  ports: EnginePorts,
  options: MigrateOptions = {},
): Promise<MigrationReport> {
  const rules = ports.idp.secretMigration;
  const report: MigrationReport = {
    credential: cred.name,
    outcome: "noop",
    steps: [],
    cutover: { ...rules, ...expectedWindow(cred, ports) },
  };
  const note = (step: MigrationStepRecord["step"], status: MigrationStepRecord["status"], detail: string) => {
    report.steps.push({ step, status, detail });
    options.onProgress?.(`${step}: ${status}: ${detail}`);
    ports.logger.log("info", "MigrationStep", { credential: cred.name, step, status, detail });
  };
  const fail = (e: unknown, step?: MigrationStepRecord["step"]): MigrationReport => {
    const error = toRotatorError(e);
    if (step) note(step, "failed", error.message);
    report.outcome = "failed";
    report.error = redact(error.toJSON());
    ports.logger.log("error", "MigrationRun", { credential: cred.name, outcome: "failed", code: error.code });
    return report;
  };
  try {
    return await run(cred, ports, options, report, note);
  } catch (e) {
    if (e instanceof EngineBug) throw e;
    return fail(e);
  }
}

type Note = (
  step: MigrationStepRecord["step"],
  status: MigrationStepRecord["status"],
  detail: string,
) => void;

async function run(
  cred: CredentialConfig,
  ports: EnginePorts,
  options: MigrateOptions,
  report: MigrationReport,
  note: Note,
): Promise<MigrationReport> {
  const { clock, idp } = ports;
  const rules = idp.secretMigration;
  const waitBudgetMs = options.waitBudgetMs ?? Number.POSITIVE_INFINITY;
  const window = windowText(report.cutover);
  const waiting = (w: StepWait, step: MigrationStepRecord["step"]): MigrationReport => {
    note(step, "waiting", w.reason);
    report.outcome = "waiting";
    report.nextRunAt = w.until.toISOString();
    return report;
  };

  for (let round = 0; round < 12; round++) {
    if (options.signal?.aborted) throw runAborted();
    const snapshot = await observe(
      cred,
      ports,
      Number.isFinite(waitBudgetMs) ? { maxWaitMs: waitBudgetMs } : {},
    );
    const auth = await observeAuth(ports);
    const m = migrationOf(snapshot.generations);
    if (m) report.record = m.record;
    if (snapshot.creating)
      return waiting(
        {
          until: new Date(clock.now().getTime() + 10_000),
          reason: `Key Vault is still issuing version ${snapshot.creating}`,
        },
        "create",
      );

    // Steps use the snapshot with our client's views from clientAuth(): they are readable whatever the method.
    const snap: Snapshot = {
      ...snapshot,
      targets: auth.map((a): TargetObservation =>
        a.views ? { name: a.name, plugins: a.views } : { name: a.name, error: redact(a.error.toJSON()) },
      ),
    };
    const tags = new TagBook(ports.store, cred.certificateName);
    const ctx: StepContext = {
      cred,
      ports,
      snapshot: snap,
      tags,
      ...(options.signal ? { signal: options.signal } : {}),
      waitBudgetMs,
      progress: (detail) => options.onProgress?.(`  ${detail}`),
    };
    const unreadable = auth.find((a) => a.error);

    if (!m) {
      // Preflight, before any external change.
      if (unreadable?.error) throw unreadable.error;
      const unsupported = ports.kong.filter((t) => t.authMigration === "unsupported");
      if (unsupported.length)
        throw new RotatorError(
          "KONG_MIGRATION_UNSUPPORTED",
          `Kong target(s) ${unsupported.map((t) => t.name).join(", ")} cannot switch a client from a secret in one write`,
          "Kubernetes (KIC) targets keep client_auth in the KongPlugin and the JWK in a Secret; switch them by hand (docs/migration.md).",
        );
      const views = auth.flatMap((a) => (a.views ?? []).map((v) => ({ target: a.name, v })));
      const offending = views
        .filter((x) => !(usesSecret(x.v) && x.v.secret))
        .map((x) => `${x.target} (plugin ${x.v.pluginId})`);
      if (views.length && views.every((x) => x.v.auth === "private_key_jwt" && !x.v.secret)) {
        note(
          "preflight",
          "skipped",
          "every target already authenticates with private_key_jwt and holds no client secret: nothing to migrate",
        );
        return report;
      }
      if (offending.length) throw notSecretAuth(cred, offending);
      const first = views[0]!.v;
      const hints = [...new Set(views.map((x) => x.v.secretHint ?? ""))];
      const plan = planLines(cred, ports, rules, window, options);
      note(
        "preflight",
        "done",
        `${views.length} plugin(s) on ${auth.length} target(s) authenticate client ${cred.idp.clientId} with ${first.auth}` +
          (hints.length === 1 && hints[0] ? ` (secret hint ${hints[0]})` : ""),
      );
      if (options.dryRun) {
        for (const line of plan) note(line.step, "planned", line.detail);
        report.outcome = "planned";
        return report;
      }
      if (rules.cutover !== "none" && !options.acceptCutover)
        throw cutoverNotAccepted(cred, rules, report.cutover);
      const record: MigrationRecord = {
        stage: "key",
        startedAt: clock.now().toISOString(),
        auth: first.auth ?? "client_secret_post",
        ...(hints.length === 1 && hints[0] ? { hint: hints[0] } : {}),
      };
      const out = await createGeneration(ctx, { [TAG_MIGRATION]: encodeMigration(record) });
      if (out.wait) return waiting(out.wait, "create");
      note("create", "done", out.detail);
      report.outcome = "ok";
      continue;
    }

    const { holder: g, record } = m;
    const save = (r: MigrationRecord, extra = {}) =>
      tags.write(g, { [TAG_MIGRATION]: encodeMigration(r), ...extra });
    if (options.dryRun) {
      for (const line of planLines(cred, ports, rules, window, options, record, g))
        note(line.step, "planned", line.detail);
      report.outcome = "planned";
      return report;
    }
    if (record.stage === "key") {
      // The record exists only once the cutover was accepted (preflight): later runs, the timer's
      // included, continue without asking again.
      if (g.phase === "pending") {
        // attach providers: attaching the credential ends the secret; the window starts here.
        if (rules.cutover === "attach" && !record.cutAt)
          await save({ ...record, cutAt: clock.now().toISOString() });
        const out = await publishGeneration(ctx, {
          kind: "publish",
          version: g.version,
          reason: "migration",
        });
        note("publish", "done", out.detail);
        report.outcome = "ok";
        continue;
      }
      if (g.phase === "published") {
        if (rules.cutover === "switch" && !record.cutAt) {
          await save({ ...record, cutAt: clock.now().toISOString() });
          await idp.switchToKeys();
          note(
            "cutover",
            "done",
            `${idp.client} switched to private_key_jwt; its client secrets are deleted (cutover window ${window} expected)`,
          );
        } else if (rules.cutover === "switch") await idp.switchToKeys();
        const out = await verifyGeneration(ctx, { kind: "verify", version: g.version, reason: "migration" });
        if (out.wait) return waiting(out.wait, "verify");
        note("verify", "done", out.detail);
        report.outcome = "ok";
        continue;
      }
      if (g.phase !== "verified" && g.phase !== "active")
        throw new RotatorError(
          "MIGRATE_GENERATION_GONE",
          `the migration's generation ${g.version} is ${g.phase}`,
          "Its key left service before Kong switched to it; remove the rotator-migration tag from that version and run migrate again.",
        );
      // Step 2: one write per plugin (client_auth and client_jwk), confirmed like an activation.
      const jwk = await loadJwk(ports.store, cred, g);
      const pushed = await pushAndConfirm({ ...ctx, switchAuth: true }, g, ports.kong, jwk);
      if (pushed.wait) return waiting(pushed.wait, "switch");
      const now = clock.now();
      const switched: MigrationRecord = { ...record, stage: "switched", switchedAt: now.toISOString() };
      await tags.write(
        g,
        g.phase === "active"
          ? { [TAG_MIGRATION]: encodeMigration(switched) }
          : phaseTags("active", {
              [TAG_ACTIVATED_AT]: now.toISOString(),
              ...clearConfirmRecords(tags.current(g), ports.kong),
              [TAG_MIGRATION]: encodeMigration(switched),
            }),
      );
      if (switched.cutAt) report.windowMs = now.getTime() - Date.parse(switched.cutAt);
      note(
        "switch",
        "done",
        `${pushed.confirmed.length} Kong target(s) on private_key_jwt with ${jwk.kid}` +
          (report.windowMs !== undefined
            ? `; cutover window ${report.windowMs} ms`
            : "; no cutover (secret and key side by side)"),
      );
      report.outcome = "ok";
      continue;
    }
    if (record.stage === "switched") {
      if (unreadable?.error) throw unreadable.error;
      const done: string[] = [];
      for (const t of ports.kong) {
        if (options.signal?.aborted) throw runAborted();
        const r = await t.dropSecret().catch((e: unknown) => {
          throw toRotatorError(e);
        });
        done.push(`${t.name}: ${r.wrote ? "removed and read back" : "already gone"}`);
      }
      await save({ ...record, stage: "secret-removed", secretRemovedAt: clock.now().toISOString() });
      note("remove-secret", "done", done.join("; "));
      report.outcome = "ok";
      continue;
    }
    if (record.stage === "secret-removed") {
      report.secrets = await idp.listSecrets();
      if (record.switchedAt && record.cutAt)
        report.windowMs = Date.parse(record.switchedAt) - Date.parse(record.cutAt);
      if (!options.retireSecret) {
        note("retire-secret", "skipped", retireAdvice(rules, record, report.secrets));
        return report;
      }
      if (unreadable?.error) throw unreadable.error;
      const holding = auth.filter((a) => a.views?.some((v) => v.secret)).map((a) => a.name);
      if (holding.length) throw secretStillInKong(holding);
      const chosen = chooseSecrets(rules, record, report.secrets, options.allSecrets === true);
      for (const s of chosen) options.onProgress?.(`  retiring ${describeSecret(s)}`);
      for (const s of chosen) await idp.retireSecret(s);
      await save({
        ...record,
        stage: "retired",
        retiredAt: clock.now().toISOString(),
        retired: chosen.length,
      });
      note("retire-secret", "done", retiredText(rules, chosen));
      report.secrets = await idp.listSecrets();
      report.outcome = "ok";
      continue;
    }
    // retired: complete.
    if (record.switchedAt && record.cutAt)
      report.windowMs = Date.parse(record.switchedAt) - Date.parse(record.cutAt);
    if (report.steps.length === 0)
      note("retire-secret", "skipped", "the migration is complete: nothing to do");
    return report;
  }
  throw new EngineBug("the migration made no progress in 12 rounds");
}

function describeSecret(s: IdpSecret): string {
  return [
    `secret ${s.id}`,
    s.hint ? `hint ${s.hint}` : "",
    s.displayName ? `"${s.displayName}"` : "",
    s.expiresAt ? `expires ${s.expiresAt}` : "",
    s.lastSignIn ? `last sign-in ${s.lastSignIn}` : "",
  ]
    .filter(Boolean)
    .join(", ");
}

/** The secrets step 4 retires: without a cutover the one Kong used (by hint) or all; else every one (the cutover ended them). */
function chooseSecrets(
  rules: SecretMigrationRules,
  record: MigrationRecord,
  secrets: IdpSecret[],
  all: boolean,
): IdpSecret[] {
  if (rules.cutover !== "none" || all) return secrets;
  const matching = record.hint ? secrets.filter((s) => s.hint === record.hint) : [];
  if (matching.length === 1) return matching;
  if (matching.length === 0 && record.hint) return [];
  throw secretAmbiguous(
    record.hint,
    (matching.length ? matching : secrets).map((s) => s.id),
  );
}

function retiredText(rules: SecretMigrationRules, chosen: IdpSecret[]): string {
  if (rules.cutover === "switch")
    return `the switch to private_key_jwt already deleted the client secrets; confirmed: ${chosen.filter((s) => s.usable).length} usable secret(s) left`;
  if (rules.cutover === "attach")
    return "attaching the credential already ended client secret authentication (the two are exclusive); confirmed it no longer authenticates";
  return chosen.length
    ? `removed ${chosen.map(describeSecret).join("; ")}`
    : "no client secret at the IdP matches the one Kong used (already removed)";
}

function retireAdvice(rules: SecretMigrationRules, record: MigrationRecord, secrets: IdpSecret[]): string {
  if (rules.cutover !== "none")
    return `${rules.cutover === "switch" ? "the switch deleted the client secrets" : "the attach ended client secret authentication"}; --retire-secret confirms it`;
  const listed = secrets.map(
    (s) => `${describeSecret(s)}${s.hint && s.hint === record.hint ? " (Kong's)" : ""}`,
  );
  return `the secret is gone from Kong and still registered at the IdP: ${listed.join("; ") || "none listed"}. Run again with --retire-secret to remove Kong's (matched by hint ${record.hint ?? "?"})`;
}

/** The steps a migration will take from where it stands, for --dry-run. */
function planLines(
  cred: CredentialConfig,
  ports: EnginePorts,
  rules: SecretMigrationRules,
  window: string,
  options: MigrateOptions,
  record?: MigrationRecord,
  g?: Generation,
): { step: MigrationStepRecord["step"]; detail: string }[] {
  const out: { step: MigrationStepRecord["step"]; detail: string }[] = [];
  const stage = record?.stage;
  const targets = ports.kong.map((t) => t.name).join(", ");
  out.push({ step: "preflight", detail: `${ports.idp.kind}: ${rules.warning}` });
  if (!record)
    out.push({
      step: "create",
      detail: `create a new certificate version of ${cred.certificateName} in Key Vault`,
    });
  if (!stage || (stage === "key" && g?.phase === "pending"))
    out.push({
      step: "publish",
      detail:
        `register the key at ${ports.idp.client}` +
        (rules.cutover === "attach"
          ? ` and attach it: client secret logins fail from here (window ${window})`
          : ""),
    });
  if (rules.cutover === "switch" && !record?.cutAt)
    out.push({
      step: "cutover",
      detail: `switch ${ports.idp.client} to private_key_jwt, which deletes its client secrets: gateway logins fail from here (window ${window})`,
    });
  if (!stage || (stage === "key" && g?.phase !== "verified"))
    out.push({
      step: "verify",
      detail: `prove the key at the token endpoint (${cred.policy.verifyConsecutive} acceptances in a row)`,
    });
  if (!stage || stage === "key")
    out.push({
      step: "switch",
      detail: `one write per plugin on ${targets}: client_auth[i] = private_key_jwt and client_jwk[i] = the new key; confirmed like an activation`,
    });
  if (!stage || stage === "key" || stage === "switched")
    out.push({
      step: "remove-secret",
      detail: `remove the secret from client_secret[i] on ${targets} and read it back`,
    });
  if (stage !== "retired")
    out.push({
      step: "retire-secret",
      detail: options.retireSecret
        ? rules.cutover === "none"
          ? `removePassword for the secret Kong used (hint ${record?.hint ?? "from Kong"})${options.allSecrets ? " and every other client secret of the app" : ""}, once no target holds it`
          : "confirm the IdP no longer accepts the secret"
        : "not without --retire-secret",
    });
  return out;
}
