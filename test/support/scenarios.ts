/** Worlds in well-known states, and the steps that move them along, for engine tests. */
import { reconcile, type RunOptions, type RunReport } from "../../src/engine/reconcile.js";
import { TAG_PHASE, TAG_RETIRE_AFTER } from "../../src/engine/tags.js";
import { createWorld, type World, type WorldOptions } from "./memory/world.js";

/** Run until a run has nothing to do (noop); returns every report. Fails the test after `max` runs. */
export async function settle(w: World, options: RunOptions = {}, max = 6): Promise<RunReport[]> {
  const reports: RunReport[] = [];
  for (let i = 0; i < max; i++) {
    const r = await reconcile(w.cred, w.ports, i === 0 ? options : { ...options, force: false });
    reports.push(r);
    if (r.outcome === "noop") return reports;
  }
  throw new Error(
    `no convergence after ${max} runs: ${reports.map((r) => `${r.outcome}:${r.error?.code ?? ""}`).join(", ")}`,
  );
}

/** A world whose first generation is active on every target; the call log starts empty. */
export async function bootstrapped(options: WorldOptions = {}): Promise<World> {
  const w = createWorld(options);
  await settle(w);
  w.calls.reset();
  return w;
}

export function versionsByPhase(w: World, phase: string) {
  return w.store.versions(w.cred.certificateName).filter((v) => v.tags[TAG_PHASE] === phase);
}

export function only<T>(items: T[]): T {
  if (items.length !== 1) throw new Error(`expected exactly one item, got ${items.length}`);
  return items[0] as T;
}

export function activeVersion(w: World) {
  return only(versionsByPhase(w, "active"));
}

/** Move the clock to one minute past the active generation's renewal time. */
export function toRenewal(w: World): void {
  const expires = activeVersion(w).cert?.notAfter;
  if (!expires) throw new Error("active version has no certificate");
  w.clock.set(new Date(expires.getTime() - w.cred.policy.renewBefore + 60_000));
}

/** Move the clock to one minute past the retiring generation's retireAfter. */
export function toRetirement(w: World): void {
  const at = only(versionsByPhase(w, "retiring")).tags[TAG_RETIRE_AFTER];
  if (!at) throw new Error("retiring version has no retireAfter");
  w.clock.set(new Date(Date.parse(at) + 60_000));
}

/** A world right after a renewal: a new active generation, the previous one retiring. */
export async function renewed(options: WorldOptions = {}): Promise<World> {
  const w = await bootstrapped(options);
  toRenewal(w);
  await settle(w);
  w.calls.reset();
  return w;
}

/**
 * The world reduced to what must be equal after any interrupted-and-resumed run: generations in creation
 * order with phase, enabled, whether the app lists them and which targets hold them (no times, no ids).
 */
export function endState(w: World) {
  const held = (x5t: string | undefined) =>
    w.kong.filter((t) => x5t !== undefined && t.kids().includes(x5t)).map((t) => t.name);
  const gens = w.store.versions(w.cred.certificateName);
  return {
    generations: gens.map((v) => ({
      phase: v.tags[TAG_PHASE],
      enabled: v.enabled,
      atApp: v.cert !== undefined && w.directory.find(v.cert.x5t) !== undefined,
      heldBy: held(v.cert?.x5t),
    })),
    appKeys: w.directory.keys.length,
    targetsFullyOnOneKey: w.kong.every(
      (t) => new Set(t.kids()).size === 1 && t.kids().length === t.plugins.length,
    ),
  };
}
