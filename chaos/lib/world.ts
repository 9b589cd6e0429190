/**
 * The invariant checker's WorldView built from the local stack's fakes for one lane: Key Vault versions
 * and their phase tags, the app's keyCredentials, what the token endpoint accepts right now (registered,
 * within its dates, propagated), and the kid Kong holds for our client.
 */
import type { WorldView } from "../../src/engine/invariants.js";
import type { LocalStack } from "../../stack/stack.js";
import type { Lane } from "./lanes.js";

export function laneWorld(stack: LocalStack, lane: Lane, now = Date.now()): WorldView {
  const generations = stack.keyVault.versions(lane.certName).map((v) => ({
    version: v.version,
    enabled: v.enabled,
    ...(v.x5t ? { x5t: v.x5t } : {}),
    ...(v.tags["rotator-phase"] ? { phase: v.tags["rotator-phase"] } : {}),
    ...(v.tags["rotator-activatedAt"] ? { activatedAt: v.tags["rotator-activatedAt"] } : {}),
  }));
  let keys: ReturnType<LocalStack["entra"]["keyCredentials"]> = [];
  try {
    keys = stack.entra.keyCredentials(lane.appId);
  } catch {
    keys = [];
  }
  const accepted = keys
    .filter((k) => k.visibleAt.getTime() <= now && k.start.getTime() <= now && now < k.end.getTime())
    .map((k) => k.x5t);
  return {
    generations,
    appKeys: keys.map((k) => ({ keyId: k.keyId, x5t: k.x5t })),
    accepted,
    kong: [{ target: "local", kids: ourKid(stack, lane) ? [ourKid(stack, lane)!] : [] }],
  };
}

/** The kid of our client's entry in the plugin's client_jwk (undefined when there is none). */
export function ourKid(stack: LocalStack, lane: Lane): string | undefined {
  const cfg = stack.kong.getPlugin(lane.pluginId)?.config;
  if (!cfg) return undefined;
  const ids = cfg.client_id as unknown[] | null;
  const jwks = cfg.client_jwk as Record<string, unknown>[] | null;
  const i = ids?.indexOf(lane.appId) ?? -1;
  const kid = i >= 0 ? jwks?.[i]?.kid : undefined;
  return typeof kid === "string" ? kid : undefined;
}

/** The kid of the partner's entry (must never change). */
export function partnerKid(stack: LocalStack, lane: Lane): unknown {
  return (stack.kong.getPlugin(lane.pluginId)?.config.client_jwk as Record<string, unknown>[] | null)?.[0]
    ?.kid;
}

/**
 * The end state, without values that differ between runs (keys, times): what convergence compares.
 * Phases newest first; the active key is at the app alone (nothing leaked) and in Kong.
 */
export function endState(stack: LocalStack, lane: Lane): string {
  const w = laneWorld(stack, lane);
  const active = w.generations.filter((g) => g.phase === "active");
  const phases = [...w.generations]
    .reverse()
    .map((g) => `${g.phase ?? "untracked"}${g.enabled ? "" : "(disabled)"}`);
  const activeX5t = active.length === 1 ? active[0]!.x5t : undefined;
  const appOnlyActive = w.appKeys.length === 1 && w.appKeys[0]!.x5t === activeX5t;
  const kongOnActive = activeX5t !== undefined && ourKid(stack, lane) === activeX5t;
  return `phases=[${phases.join(",")}] appKeys=${appOnlyActive ? "[active]" : w.appKeys.length} kong=${kongOnActive ? "active" : String(ourKid(stack, lane))} partner=${partnerKid(stack, lane) === `partner-${lane.name}` ? "kept" : "CHANGED"}`;
}
