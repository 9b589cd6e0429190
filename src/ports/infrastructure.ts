/**
 * The runtime infrastructure around the engine (src/app, src/functions, src/cli): one writer per
 * credential, alert sinks and their state, run history and the fleet's work queue. The engine calls none
 * of these.
 */

// ---------------------------------------------------------------------------------------------
// One writer
// ---------------------------------------------------------------------------------------------

export interface Lease {
  readonly id: string;
  /** Aborts when the lease is lost (renewal failed); long work must stop at the next step. */
  readonly signal: AbortSignal;
  release(): Promise<void>;
}

export interface LeaseManager {
  /** Take the credential's lease, or return undefined when another writer holds it. */
  tryAcquire(credential: string, holder: string): Promise<Lease | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------

export type AlertEventName =
  "KeyRotationFailed" | "KeySyncDrift" | "KeyExpiring" | "KeyRotationSucceeded" | "KeyCompromiseRotation";

export interface AlertEvent {
  event: AlertEventName;
  status: "firing" | "reminder" | "resolved" | "info";
  credential: string;
  target?: string;
  phase?: string;
  /** The trigger reason code (NoActiveGeneration, ManualRequest, Renewal, ...) of the work that failed. */
  trigger?: string;
  code?: string;
  message: string;
  hint?: string;
  /** KeyCompromiseRotation: who asked, why, and the thumbprints of the keys revoked (public). */
  actor?: string;
  reason?: string;
  revoked?: string[];
  time: string;
}

export interface AlertSink {
  readonly name: string;
  send(event: AlertEvent): Promise<void>;
}

/**
 * One persisted alert state entry. For a condition (`${event}/${credential}/${target}/${code}`): when it
 * first failed, when a notification was last sent, how many checks saw it failing, and in which phase it
 * failed (the step, or "observe"/"start"), which decides what evidence resolves it (src/app/alert-evidence.ts),
 * and the failure's message and hint as last reported (for status output).
 * For a sink (`AlertSink/${sink}`): its delivery failures, the last error, and the notifications still to
 * deliver to it.
 */
export interface AlertStateValue {
  firstAt: string;
  lastSentAt: string;
  count: number;
  phase?: string;
  code?: string;
  message?: string;
  hint?: string;
  undelivered?: AlertEvent[];
}

/** Persisted dedup state for alerts, keyed by `${event}/${credential}/${target}/${code}`. */
export interface AlertStateStore {
  get(key: string): Promise<AlertStateValue | undefined>;
  put(key: string, value: AlertStateValue): Promise<void>;
  delete(key: string): Promise<void>;
  list(prefix: string): Promise<string[]>;
}

// ---------------------------------------------------------------------------------------------
// Run history (observability only: correctness never depends on it)
// ---------------------------------------------------------------------------------------------

export interface RunRecord {
  at: string;
  outcome: string;
  trigger: string;
  code?: string;
  message?: string;
}

/**
 * Where a manual request came from: noted by the process that recorded it (the HTTP API or the CLI), or
 * by the run that found it without such a note (written straight into the `rotator-request` tag).
 */
export interface RequestMark {
  id: string;
  origin: "api" | "cli" | "tag";
  at: string;
  actor?: string;
}

export interface RunHistory {
  get(credential: string): Promise<{ lastSuccess?: RunRecord; lastFailure?: RunRecord }>;
  record(credential: string, run: RunRecord): Promise<void>;
  /** The newest request marks of the credential (a bounded list). */
  requestMarks(credential: string): Promise<RequestMark[]>;
  markRequest(credential: string, mark: RequestMark): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Fleet work queue (Azure Storage queue; the queue-triggered function consumes it)
// ---------------------------------------------------------------------------------------------

export interface WorkQueue {
  /** The queue's name (the poison queue is `${name}-poison`). */
  readonly name: string;
  /** Enqueue one message, invisible for `delayMs` (0: at once; whole seconds, rounded down). */
  send(body: string, delayMs?: number): Promise<void>;
}
