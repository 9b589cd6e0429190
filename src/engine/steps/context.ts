/**
 * What a step needs: the credential, the ports, the snapshot the step was planned from, and a tag
 * writer that remembers what this step already wrote (../tag-book.ts).
 */
import type { CredentialConfig } from "../../config/load.js";
import type { JwsSigner } from "../../crypto/jws.js";
import type { EnginePorts } from "../../ports/engine.js";
import { EngineBug } from "../errors.js";
import type { Snapshot } from "../types.js";
import type { Generation } from "../tags.js";
import type { TagBook } from "../tag-book.js";
import type { StepWait } from "../wait.js";
import type { CompromiseResult } from "../compromise.js";

export interface StepContext {
  cred: CredentialConfig;
  ports: EnginePorts;
  snapshot: Snapshot;
  tags: TagBook;
  signal?: AbortSignal;
  /**
   * How long the step may poll in this run before it hands back a `wait` (docs/engine.md, "Waits").
   * Infinity: wait in-run as long as the policy allows (the run then never ends `waiting`).
   */
  waitBudgetMs: number;
  /** Intermediate progress of the running step (verify attempts, per-target applies). */
  progress(detail: string): void;
}

/**
 * What a step reports back; `version`/`x5t` only when the step made a new generation. `wait`: the step
 * is not finished and must not be retried before `until` (a Key Vault creation still pending, a
 * verification streak in progress). Its progress is already persisted in tags, so `reconcile` ends the
 * run as `waiting` with `nextRunAt = until`, and whoever runs it again then (a queue message with a
 * visibility delay, the CLI's loop) continues where it stopped.
 */
export interface StepOutcome {
  detail: string;
  version?: string;
  x5t?: string;
  wait?: StepWait;
  /** complete-request of a key-compromise rotation: the response as carried out. */
  compromise?: CompromiseResult;
}

export function generation(s: Snapshot, version: string | undefined): Generation {
  const g = s.generations.find((x) => x.version === version);
  // The planner only names generations of the snapshot it was given: anything else is a bug.
  if (!g)
    throw new EngineBug(`planned action names version ${version ?? "(none)"}, which is not in the snapshot`);
  return g;
}

export function signerFor(ctx: StepContext, g: Generation): JwsSigner {
  if (!g.x5t) throw new EngineBug(`version ${g.version} has no certificate yet and cannot sign`);
  return ctx.ports.store.signer(ctx.cred.certificateName, g.version, {
    x5t: g.x5t,
    ...(g.x5tS256 ? { x5tS256: g.x5tS256 } : {}),
  });
}
