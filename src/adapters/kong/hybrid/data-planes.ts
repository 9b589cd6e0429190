/**
 * Hybrid-mode confirmation from a control plane's `GET /clustering/data-planes` (Admin API EE spec,
 * operationId get-data-planes; 400 when the node is not a control plane). Pure functions over its rows.
 *
 * Facts (shared/facts/kong-modes-vaults-idps.md §2, from github.com/Kong/kong):
 * - Rows carry `config_hash` (32 hex), `last_seen` (epoch s), `sync_status`, `hostname`, `id`
 *   (kong/db/schema/entities/clustering_data_planes.lua).
 * - A data plane pings every 30 s (CLUSTERING_PING_INTERVAL) and right after applying a config
 *   (`ping_immediately` in kong/clustering/data_plane.lua); rows of disconnected data planes stay for
 *   `cluster_data_plane_purge_delay` (14 days). So rows not seen within LIVE_WINDOW_S are ignored.
 * - `sync_status` is compatibility, not freshness (`normal` does not mean up to date; kong/constants.lua).
 * - No endpoint returns the control plane's own hash: the write is confirmed when every live data plane
 *   reports one identical hash that is not among the hashes they reported before the write (the baseline).
 */
import type { KongConfirmation } from "../../../ports/engine.js";

/** Three missed 30 s pings. */
export const LIVE_WINDOW_S = 90;
const PREFIX = 12;

export interface DataPlaneRow {
  id: string;
  hostname?: string;
  configHash?: string;
  lastSeen?: number;
  syncStatus?: string;
  version?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** Parse one page of `GET /clustering/data-planes`; undefined when the body is not that list. */
export function parseDataPlanes(body: unknown): { rows: DataPlaneRow[]; next?: string } | undefined {
  if (!isRecord(body) || !Array.isArray(body.data)) return undefined;
  const rows: DataPlaneRow[] = [];
  for (const r of body.data) {
    if (!isRecord(r) || typeof r.id !== "string") continue;
    const row: DataPlaneRow = { id: r.id };
    const set = <K extends keyof DataPlaneRow>(k: K, v: DataPlaneRow[K] | undefined) => {
      if (v !== undefined) row[k] = v;
    };
    set("hostname", str(r.hostname));
    set("configHash", str(r.config_hash));
    set("lastSeen", typeof r.last_seen === "number" ? r.last_seen : undefined);
    set("syncStatus", str(r.sync_status));
    set("version", str(r.version));
    rows.push(row);
  }
  const next = str(body.next);
  return next ? { rows, next } : { rows };
}

export const dataPlaneName = (r: DataPlaneRow): string => r.hostname ?? r.id;

export function liveRows(rows: readonly DataPlaneRow[], now: Date): DataPlaneRow[] {
  const t = now.getTime() / 1000;
  return rows.filter((r) => r.lastSeen !== undefined && t - r.lastSeen <= LIVE_WINDOW_S);
}

const short = (h: string | undefined): string => (h ?? "").slice(0, PREFIX);

/** The live data planes' distinct hashes (prefixes), sorted: what a write must move them away from. */
export function baselineOf(live: readonly DataPlaneRow[]): string {
  return [...new Set(live.map((r) => short(r.configHash)))].sort().join(",");
}

/** Incompatible data planes never receive the config (kong/constants.lua CLUSTERING_SYNC_STATUS). */
const INCOMPATIBLE = /incompatible$/;

/**
 * Judge the live rows after a write. `baseline` undefined: the pre-write state is unknown (the key was
 * already there), so agreement on one hash is all that can be asked.
 */
export function judgeDataPlanes(
  live: readonly DataPlaneRow[],
  baseline: string | undefined,
  gateways = "data plane",
): KongConfirmation {
  if (live.length === 0)
    return { state: "confirmed", detail: `no live ${gateways}s (none seen within ${LIVE_WINDOW_S} s)` };
  const before = new Set(baseline === undefined ? [] : baseline.split(",").filter(Boolean));
  const moved = live.filter((r) => r.configHash && !before.has(short(r.configHash)));
  const counts = new Map<string, number>();
  for (const r of moved) counts.set(r.configHash ?? "", (counts.get(r.configHash ?? "") ?? 0) + 1);
  const target = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const lagging = live.filter((r) => target === undefined || r.configHash !== target);
  const on = live.length - lagging.length;
  const detail = `${on}/${live.length} live ${gateways}s on config ${short(target) || "(none new)"}`;
  if (lagging.length === 0) return { state: "confirmed", detail };
  const names = lagging.map(dataPlaneName);
  const broken = lagging.filter((r) => INCOMPATIBLE.test(r.syncStatus ?? ""));
  if (broken.length)
    return {
      state: "failed",
      code: "KONG_DP_INCOMPATIBLE",
      detail: `${broken.map((r) => `${dataPlaneName(r)} is ${r.syncStatus ?? "?"}`).join("; ")}`,
      lagging: names,
    };
  return { state: "pending", detail, lagging: names };
}
