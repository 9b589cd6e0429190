/**
 * Call log and fault injection shared by the in-memory ports. Every port operation goes through
 * `run`, which numbers it, can make it fail (before or after its effect), and can simulate a crash:
 * from a chosen call on, every call fails until `revive()` — the process died between two calls.
 */
import { RotatorError } from "../../../src/errors.js";

export interface CallEntry {
  seq: number;
  /** `store.createVersion`, `directory.addKey`, `kong[edge].apply`, ... */
  op: string;
  mutating: boolean;
  ok: boolean;
}

export type FaultTiming = "before" | "after";

interface Fault {
  remaining: number;
  timing: FaultTiming;
  error: () => Error;
}

export const simulatedCrash = (): RotatorError =>
  new RotatorError("SIMULATED_CRASH", "simulated process crash", "test fault", { retryable: true });

export class Calls {
  readonly log: CallEntry[] = [];
  private readonly faults = new Map<string, Fault[]>();
  private crash: { at: number | string; timing: FaultTiming } | undefined;
  private crashed = false;
  /** Called after every mutating call's effect (e.g. to check invariants at every instant). */
  afterMutation: ((op: string) => void) | undefined;

  /** Make the next `times` calls of `op` fail, before their effect (default) or after it (response lost). */
  failNext(op: string, times = 1, options: { timing?: FaultTiming; error?: () => Error } = {}): void {
    const list = this.faults.get(op) ?? [];
    list.push({
      remaining: times,
      timing: options.timing ?? "before",
      error: options.error ?? simulatedCrash,
    });
    this.faults.set(op, list);
  }

  /**
   * Crash at call number `at` (1-based, counted from the last reset) or at the next call of operation `at`:
   * that call fails before or after its effect, and every later call fails until revive().
   */
  crashAt(at: number | string, timing: FaultTiming): void {
    this.crash = { at, timing };
  }

  /** Drop the faults still queued for `op` (the outage is over). */
  heal(op: string): void {
    this.faults.delete(op);
  }

  revive(): void {
    this.crash = undefined;
    this.crashed = false;
  }

  reset(): void {
    this.log.length = 0;
    this.faults.clear();
    this.revive();
  }

  count(op?: string | ((e: CallEntry) => boolean)): number {
    return this.log.filter((e) => (op === undefined ? true : typeof op === "string" ? e.op === op : op(e)))
      .length;
  }

  mutations(): CallEntry[] {
    return this.log.filter((e) => e.mutating);
  }

  async run<T>(op: string, mutating: boolean, effect: () => T | Promise<T>): Promise<T> {
    const entry: CallEntry = { seq: this.log.length + 1, op, mutating, ok: false };
    this.log.push(entry);
    if (this.crashed) throw simulatedCrash();
    const crashHere = this.crash?.at === entry.seq || this.crash?.at === op ? this.crash.timing : undefined;
    if (crashHere === "before") {
      this.crashed = true;
      throw simulatedCrash();
    }
    const fault = this.takeFault(op);
    if (fault?.timing === "before") throw fault.error();
    const result = await effect();
    if (mutating) this.afterMutation?.(op);
    if (crashHere === "after") {
      this.crashed = true;
      throw simulatedCrash();
    }
    if (fault) throw fault.error();
    entry.ok = true;
    return result;
  }

  private takeFault(op: string): Fault | undefined {
    const list = this.faults.get(op);
    const f = list?.[0];
    if (!list || !f) return undefined;
    if (--f.remaining <= 0) list.shift();
    return f;
  }
}
