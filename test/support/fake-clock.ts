/** A Clock whose time moves only when told to; `sleep` advances it at once, so polling loops run instantly. */
import type { Clock } from "../../src/ports/engine.js";

export class FakeClock implements Clock {
  private t: number;

  constructor(start: string | Date = "2026-01-05T08:00:00.000Z") {
    this.t = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.t);
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.t += Math.max(0, ms);
    await Promise.resolve();
    if (signal?.aborted) throw signal.reason;
  }

  advance(ms: number): void {
    this.t += ms;
  }

  set(at: string | Date): void {
    this.t = new Date(at).getTime();
  }
}
