/**
 * Hybrid-mode data planes for the Kong fake: each holds its own copy of the plugins, received from the
 * control plane after a configurable lag, and is listed by `GET /clustering/data-planes`.
 *
 * Real behaviours reproduced (github.com/Kong/kong; shared/facts/kong-modes-vaults-idps.md §2):
 * - The control plane pushes a new config to connected data planes after a write; a data plane applies it
 *   and pings at once with its new `config_hash` (`ping_immediately`, kong/clustering/data_plane.lua), then
 *   every 30 s (CLUSTERING_PING_INTERVAL), which moves `last_seen`.
 * - `config_hash` is a 32-hex digest of the config (md5 in kong/clustering/config_helper.lua); identical
 *   configs give identical hashes.
 * - Rows of disconnected data planes stay, with their old `last_seen` and hash, for
 *   `cluster_data_plane_purge_delay` (14 days).
 * - `sync_status` reports compatibility (`normal`), not freshness (kong/constants.lua).
 * - Row fields as in kong/db/schema/entities/clustering_data_planes.lua and the Admin API EE spec
 *   (GetConnectedDataPlanesListResponse): id, ip, hostname, version, config_hash, last_seen, updated_at,
 *   sync_status, labels, cert_details.expiry_timestamp, ttl.
 * - Each data plane is a gateway node with its own caches (./node-cache.ts). Applying a config from the
 *   control plane is a declarative reconfiguration, which purges the node cache, tokens included
 *   ("flushing caches as part of the reconfiguration", kong/runloop/handler.lua); with incremental configuration
 *   sync (`incrementalSync`; https://developer.konghq.com/gateway/incremental-config-sync) only a full sync
 *   purges and applied deltas leave the token cache alone (kong/clustering/services/sync/rpc.lua:
 *   `kong.cache:purge()` when a full sync ends, crud events otherwise).
 * Simulated faults: per data plane `lagMs` (time to apply a push, also after it comes back), `neverSync`
 * (connected, pinging, but never applies a push), `disconnected` (a stale row: last_seen hours ago).
 */
import { createHash, randomUUID } from "node:crypto";
import { probeLogin, type ProbeResult } from "./probe.js";
import type { KongVaults } from "./vault.js";
import { GatewayNode } from "./node-cache.js";
import { isRecord } from "./validate.js";

export interface DataPlaneSpec {
  hostname: string;
  lagMs?: number;
  neverSync?: boolean;
  disconnected?: boolean;
  /** Deltas instead of full configs: applying one does not purge the node cache. */
  incrementalSync?: boolean;
}

export interface DataPlaneState {
  id: string;
  hostname: string;
  lagMs: number;
  neverSync: boolean;
  disconnected: boolean;
  /** The plugins this data plane serves with (id → entity). */
  plugins: Map<string, Record<string, unknown>>;
  hash: string;
  lastSeen: number;
  incrementalSync: boolean;
  /** The data plane's caches (tokens, discovery). */
  node: GatewayNode;
}

const PING_S = 30;
const nowS = () => Math.floor(Date.now() / 1000);

export function configHash(plugins: ReadonlyMap<string, unknown>): string {
  const sorted = [...plugins.entries()].sort(([a], [b]) => a.localeCompare(b));
  return createHash("md5").update(JSON.stringify(sorted)).digest("hex");
}

export class DataPlanes {
  readonly list: DataPlaneState[];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    specs: DataPlaneSpec[],
    private readonly version: string,
    private readonly current: () => Map<string, Record<string, unknown>>,
  ) {
    this.list = specs.map((s) => ({
      id: randomUUID(),
      hostname: s.hostname,
      lagMs: s.lagMs ?? 0,
      neverSync: s.neverSync ?? false,
      disconnected: s.disconnected ?? false,
      plugins: new Map(),
      hash: "0".repeat(32),
      lastSeen: s.disconnected ? nowS() - 3 * 3600 : nowS(),
      incrementalSync: s.incrementalSync ?? false,
      node: new GatewayNode(),
    }));
  }

  /** Seeding: every connected data plane holds the control plane's config at once. */
  seed(): void {
    for (const dp of this.list) if (!dp.disconnected) this.take(dp);
  }

  /** After a control-plane write: push to every connected data plane, applied after its lag. */
  push(): void {
    for (const dp of this.list) if (!dp.disconnected && !dp.neverSync) this.deliver(dp);
  }

  /**
   * Change a data plane's behaviour. One that comes back (connected and syncing again) gets the latest
   * config pushed as it reconnects, and applies it after its lag like any push: a data plane that recovers
   * is not on the new config at the instant it is back.
   */
  set(hostname: string, change: Partial<Omit<DataPlaneSpec, "hostname">>): void {
    const dp = this.list.find((d) => d.hostname === hostname);
    if (!dp) throw new Error(`kong fake: no data plane ${hostname}`);
    const syncing = !dp.disconnected && !dp.neverSync;
    if (change.lagMs !== undefined) dp.lagMs = change.lagMs;
    if (change.neverSync !== undefined) dp.neverSync = change.neverSync;
    if (change.disconnected !== undefined) dp.disconnected = change.disconnected;
    if (!syncing && !dp.disconnected && !dp.neverSync) this.deliver(dp);
  }

  /** The control plane's current config reaches `dp` after its lag (at once without one). */
  private deliver(dp: DataPlaneState): void {
    if (dp.lagMs <= 0) {
      this.take(dp);
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!dp.disconnected && !dp.neverSync) this.take(dp);
    }, dp.lagMs);
    this.timers.add(t);
  }

  rows(): Record<string, unknown>[] {
    const t = nowS();
    return this.list.map((dp) => {
      // Connected data planes ping every 30 s; a disconnected row keeps its last ping.
      const lastSeen = dp.disconnected
        ? dp.lastSeen
        : Math.max(dp.lastSeen, t - ((t - dp.lastSeen) % PING_S));
      return {
        id: dp.id,
        ip: "127.0.0.1",
        hostname: dp.hostname,
        version: this.version,
        config_hash: dp.hash,
        last_seen: lastSeen,
        updated_at: lastSeen,
        sync_status: "normal",
        labels: {},
        cert_details: { expiry_timestamp: t + 365 * 86_400 },
        ttl: 1_209_600,
      };
    });
  }

  /** The kid each data plane's copy of the plugin holds for the client (parallel arrays, fallback to [0]). */
  kids(pluginId: string, clientId: string): Record<string, string | undefined> {
    const out: Record<string, string | undefined> = {};
    for (const dp of this.list) {
      const cfg = dp.plugins.get(pluginId)?.config;
      const ids = isRecord(cfg) && Array.isArray(cfg.client_id) ? cfg.client_id : [];
      const jwks = isRecord(cfg) && Array.isArray(cfg.client_jwk) ? cfg.client_jwk : [];
      const jwk: unknown = jwks[ids.indexOf(clientId)] ?? jwks[0];
      out[dp.hostname] = isRecord(jwk) && typeof jwk.kid === "string" ? jwk.kid : undefined;
    }
    return out;
  }

  /**
   * The login probe with each connected data plane's copy; passes only when every one logs in. `vaults`
   * resolves references: one resolver for all, or each data plane's own (its cache and credentials).
   */
  async probe(
    pluginId: string,
    clientId: string | undefined,
    ca: string,
    label: string,
    vaults?: KongVaults | ((hostname: string) => KongVaults | undefined),
    cached = false,
  ): Promise<ProbeResult> {
    let last: ProbeResult = { ok: false, status: 0, error: `no connected ${label}` };
    for (const dp of this.list) {
      if (dp.disconnected) continue;
      const e = dp.plugins.get(pluginId);
      if (!e || e.name !== "openid-connect" || !isRecord(e.config))
        return {
          ok: false,
          status: 0,
          error: `${label} ${dp.hostname}: no openid-connect plugin ${pluginId}`,
        };
      last = await probeLogin(
        e.config,
        clientId,
        ca,
        typeof vaults === "function" ? vaults(dp.hostname) : vaults,
        { node: dp.node, cached },
      );
      if (!last.ok) return { ...last, error: `${label} ${dp.hostname}: ${last.error ?? "failed"}` };
    }
    return last;
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private take(dp: DataPlaneState): void {
    const config = this.current();
    const hash = configHash(config);
    const first = dp.hash === "0".repeat(32);
    dp.plugins = new Map([...config.entries()].map(([k, v]) => [k, structuredClone(v)]));
    // A full config (always, without incremental sync; the first sync with it) purges the node cache.
    if (hash !== dp.hash && (!dp.incrementalSync || first)) dp.node.purge();
    dp.hash = hash;
    dp.lastSeen = nowS();
  }
}
