/**
 * The fleet on Azure Functions queues (README "Scaling out"):
 * - the rotation timer lists each vault's certificates once (tags and expiry of each latest version, 25
 *   per call) and enqueues one message per credential with work (`enqueueDue`);
 * - the queue-triggered function runs that credential's work under its lease with a wait budget
 *   (`processWork`); work that waits (Key Vault create, verification streak) is re-enqueued with a
 *   visibility delay until `nextRunAt`, so no invocation holds a worker for minutes, and work stopped by a
 *   lost lease is re-enqueued at once (`runAgain`);
 * - a message whose processing keeps failing is moved by the host to `<queue>-poison` after
 *   `maxDequeueCount` attempts (host.json), and `poisoned` raises an alert naming the credential.
 *
 * Messages are idempotent: a message only says "look at this credential"; the run decides from the
 * state in Key Vault what to do, under the credential's lease. A duplicate or a redelivery finds the
 * work done (noop) or another writer holding the lease (busy: looked at again later).
 */
import { RotatorError } from "../errors.js";
import { workDue } from "../engine/schedule.js";
import type { RunReport } from "../engine/reconcile.js";
import { DEFAULT_WAIT_BUDGET_MS } from "../engine/wait.js";
import type { Runtime } from "./runtime.js";
import type { CredentialConfig } from "../config/load.js";
import { vaultKey } from "../config/rules.js";
import { rotate, type RotateResult, type Trigger } from "./service.js";
import type { CertificateSummary } from "../ports/engine.js";
import type { WorkQueue } from "../ports/infrastructure.js";

/** Messages the timer's tick sends at a time. */
const ENQUEUE_CONCURRENCY = 16;

/** A credential busy with another writer is looked at again after this long. */
export const BUSY_RECHECK_MS = 30_000;
/**
 * Waiting work is made visible this much before its `nextRunAt`, and the run polls the rest in-run
 * (within its wait budget): it hides the queue trigger's polling latency (host.json
 * `maxPollingInterval`, 1 s) and the whole-second granularity of a message's visibility timeout.
 */
export const EARLY_DELIVERY_MS = 1_500;

/**
 * A work message: it only says "look at this credential". Checked by hand, not with zod: the queue and
 * timer functions load this module at cold start, and zod is not needed there (docs/performance.md).
 */
export interface WorkMessage {
  v: 1;
  credential: string;
  reason: string;
  at: string;
}

export function workMessage(credential: string, reason: string, at: Date): string {
  const m: WorkMessage = { v: 1, credential, reason: reason.slice(0, 300), at: at.toISOString() };
  return JSON.stringify(m);
}

/** The Functions host hands the trigger the decoded message: a string, or the parsed object for JSON. */
export function parseWorkMessage(raw: unknown): WorkMessage | undefined {
  let value = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      return undefined;
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const { v, credential, reason, at } = value as Record<string, unknown>;
  if (v !== 1 || typeof credential !== "string" || typeof reason !== "string" || typeof at !== "string")
    return undefined;
  if (credential.length < 1 || credential.length > 63 || reason.length > 300) return undefined;
  return { v, credential, reason, at };
}

export interface DueWork {
  credential: string;
  reason: string;
}

export interface TickPlan {
  due: DueWork[];
  /** Credentials with nothing due, by the listing. */
  idle: string[];
  /** Key Vault list calls made (one per 25 certificates, in each vault). */
  listCalls: number;
}

/**
 * Which credentials (all, or `names`) have work now: one certificate listing of each Key Vault the
 * credentials use, nothing else.
 */
export async function dueWork(rt: Runtime, names?: readonly string[]): Promise<TickPlan> {
  const now = rt.clock.now();
  const creds = names ? names.map((n) => rt.credential(n)) : rt.config.credentials;
  const byVault = new Map<string, CredentialConfig[]>();
  for (const cred of creds) {
    const key = vaultKey(cred.keyVaultUrl);
    byVault.set(key, [...(byVault.get(key) ?? []), cred]);
  }
  let listCalls = 0;
  const listings = new Map<string, Map<string, CertificateSummary> | undefined>();
  await Promise.all(
    [...byVault].map(async ([key, [first]]) => {
      const store = rt.enginePorts(first!).store;
      if (!store.listCertificates) return listings.set(key, undefined);
      const listing = await store.listCertificates();
      listCalls += listing.calls;
      // Key Vault object names are case-insensitive.
      listings.set(key, new Map(listing.certificates.map((c) => [c.name.toLowerCase(), c])));
    }),
  );
  const due: DueWork[] = [];
  const idle: string[] = [];
  for (const cred of creds) {
    const byName = listings.get(vaultKey(cred.keyVaultUrl));
    const reason = byName
      ? workDue(byName.get(cred.certificateName.toLowerCase()), cred.policy, cred.name, now)
      : "the store cannot list certificates";
    if (reason) due.push({ credential: cred.name, reason });
    else idle.push(cred.name);
  }
  return { due, idle, listCalls };
}

export interface TickResult extends TickPlan {
  enqueued: number;
}

/** The rotation timer's tick: enqueue one message per credential with work. */
export async function enqueueDue(rt: Runtime, queue: WorkQueue): Promise<TickResult> {
  const plan = await dueWork(rt);
  const now = rt.clock.now();
  // Several sends at a time: one after the other, 1,000 messages took minutes of the tick under load.
  let enqueued = 0;
  const next = [...plan.due];
  const sender = async (): Promise<void> => {
    for (let d = next.shift(); d; d = next.shift()) {
      await queue.send(workMessage(d.credential, d.reason, now));
      enqueued++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(ENQUEUE_CONCURRENCY, next.length) }, sender));
  rt.logger.log("info", "FleetTick", {
    credentials: rt.config.credentials.length,
    due: plan.due.length,
    enqueued,
    listCalls: plan.listCalls,
  });
  return { ...plan, enqueued };
}

export type WorkOutcome =
  | { kind: "dropped"; why: string }
  | { kind: "busy"; credential: string; recheckAt: string }
  | { kind: "waiting"; credential: string; nextRunAt: string }
  | { kind: "done"; credential: string; outcome: string };

export interface WorkOptions {
  /** In-run polling budget (engine/wait.ts). */
  waitBudgetMs?: number;
  trigger?: Trigger;
}

/**
 * One queue message: the credential's work under its lease. Waiting work and busy credentials are
 * re-enqueued with a delay; a failed run throws, so the host retries the message and finally moves it to
 * the poison queue.
 */
export async function processWork(
  rt: Runtime,
  queue: WorkQueue,
  raw: unknown,
  options: WorkOptions = {},
): Promise<WorkOutcome> {
  const msg = parseWorkMessage(raw);
  if (!msg) {
    rt.logger.log("error", "FleetMessageInvalid", { queue: queue.name });
    return { kind: "dropped", why: "not a rotation work message" };
  }
  if (!rt.config.credentials.some((c) => c.name === msg.credential)) {
    rt.logger.log("warn", "FleetMessageUnknownCredential", { credential: msg.credential });
    return { kind: "dropped", why: `no credential named ${msg.credential} in the configuration` };
  }
  const result: RotateResult = await rotate(rt, msg.credential, {
    trigger: options.trigger ?? "queue",
    reason: msg.reason,
    waitBudgetMs: options.waitBudgetMs ?? DEFAULT_WAIT_BUDGET_MS,
  });
  const now = rt.clock.now();
  if (result.kind === "busy") {
    const at = new Date(now.getTime() + BUSY_RECHECK_MS);
    await queue.send(workMessage(msg.credential, "busy: look again", now), BUSY_RECHECK_MS);
    return { kind: "busy", credential: msg.credential, recheckAt: at.toISOString() };
  }
  if (result.kind === "error")
    // Already alerted; throwing lets the host retry the message, then poison it.
    throw new RotatorError(
      "FLEET_WORK_FAILED",
      `rotation work for ${msg.credential} could not start: ${result.error.code}`,
      "The host retries the message; after maxDequeueCount it goes to the poison queue and alerts.",
      { retryable: true, details: { credential: msg.credential, code: result.error.code } },
    );
  const r = result.report;
  const again = runAgain(r, now);
  if (again) {
    await continueOnQueue(queue, msg.credential, again.reason, now, again.at);
    return { kind: "waiting", credential: msg.credential, nextRunAt: again.at.toISOString() };
  }
  if (r.outcome === "failed") {
    // Already alerted by the run; throwing lets the host retry with its backoff, then poison.
    throw new RotatorError(
      "FLEET_WORK_FAILED",
      `rotation work for ${msg.credential} failed: ${r.error?.code ?? "unknown"}`,
      "The host retries the message; after maxDequeueCount it goes to the poison queue and alerts.",
      { retryable: true, details: { credential: msg.credential, code: r.error?.code ?? null } },
    );
  }
  return { kind: "done", credential: msg.credential, outcome: r.outcome };
}

/**
 * When the credential's work continues after a run, the one rule for every caller that runs work again (the
 * queue worker `processWork`, the CLI's scheduler app/scheduler.ts, the HTTP trigger functions/rotateHttp.ts):
 * - `waiting`: at `nextRunAt` (at once if it is missing);
 * - stopped by RUN_ABORTED (its lease was lost, or the caller's time budget ran out): at once, from the phase
 *   it persisted. An abort is not a failure (none is recorded or alerted); when another writer holds the
 *   lease now, the next attempt finds the credential busy and is looked at again later;
 * - otherwise there is nothing to continue: the work is done, or it failed (alerted, and retried by the next
 *   timer tick or the queue host).
 */
export function runAgain(
  report: Pick<RunReport, "outcome" | "nextRunAt" | "error" | "steps">,
  now: Date,
): { at: Date; reason: string } | undefined {
  if (report.outcome === "waiting")
    return {
      at: report.nextRunAt ? new Date(report.nextRunAt) : now,
      reason: report.steps.at(-1)?.detail ?? "waiting",
    };
  if (report.error?.code === "RUN_ABORTED")
    return { at: now, reason: "resume after the run stopped before its work was done (RUN_ABORTED)" };
  return undefined;
}

/**
 * Hand a credential's unfinished work to the queue function, delivered shortly before `at` (the queue's
 * visibility delay), so it continues without holding the caller.
 */
export async function continueOnQueue(
  queue: WorkQueue,
  credential: string,
  reason: string,
  now: Date,
  at: Date,
): Promise<void> {
  const delay = Math.max(0, at.getTime() - now.getTime() - EARLY_DELIVERY_MS);
  await queue.send(workMessage(credential, reason, now), delay);
}

/**
 * A message the host gave up on and moved to the poison queue `poisonQueue`: alert naming the credential
 * (deduplicated like every alert).
 */
export async function poisoned(
  rt: Runtime,
  poisonQueue: string,
  raw: unknown,
  dequeueCount?: number,
): Promise<void> {
  const msg = parseWorkMessage(raw);
  const credential = msg?.credential ?? "(unreadable message)";
  rt.logger.log("error", "FleetMessagePoisoned", { credential, dequeueCount });
  await rt.alerter.report(
    {
      event: "KeyRotationFailed",
      credential,
      code: "ROTATION_POISONED",
      message: `rotation work for ${credential} failed on every attempt${dequeueCount ? ` (${dequeueCount})` : ""} and was moved to the poison queue ${poisonQueue}`,
      hint: "See the credential's last failure (GET /api/credentials/{name}) and the runbook for its error code; the next timer tick enqueues it again.",
    },
    true,
  );
}
