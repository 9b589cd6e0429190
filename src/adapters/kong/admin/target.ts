/**
 * KongTarget over the Kong Gateway Admin API (Enterprise, DB-backed or hybrid control plane).
 *
 * - Plugins are resolved by id (`/{workspace}/plugins/{id}` when a workspace is set) or by tags
 *   (`GET /plugins?tags=a,b` = AND, all pages).
 * - apply() replaces only our client's `client_jwk` entry: PATCH merges `config` but replaces arrays
 *   wholesale (kong/db/schema/init.lua `Schema:merge_values`), so the whole array is sent with the other
 *   clients' entries as read. It then reads the plugin back and compares (../common/readback.ts).
 * - An entry that already holds the key (as just read) is neither rewritten nor read again, so re-runs
 *   converge without writes.
 * - Every plugin is checked before the first write, so one bad plugin does not leave the others half-done.
 * - confirm(): a traditional node serves what its database holds, so the read-back confirms. A hybrid
 *   control plane (`dataPlanes.confirm`: `always`, or `auto` with `GET /` configuration.role =
 *   control_plane) is confirmed on its data planes through `GET /clustering/data-planes` (../hybrid/data-planes.ts).
 * - With a `pluginLock`, each plugin write is done as the plugin's only writer: the plugin is read again
 *   under the lock, our entry placed into that fresh array, written and read back. Credentials whose
 *   clients share a plugin therefore never overwrite each other's entries (adapters/lease/plugin-lock.ts).
 */
import { createHash } from "node:crypto";
import type { Dispatcher } from "undici";
import type {
  Clock,
  KongApplyReceipt,
  KongConfirmation,
  KongPluginView,
  KongTarget,
  KongTokenCacheClearing,
} from "../../../ports/engine.js";
import type { KongTargetConfig } from "../../../config/load.js";
import { kongTagsProblem } from "../../../config/rules.js";
import type { KongPrivateJwk } from "../../../crypto/keymaterial.js";
import { RotatorError } from "../../../errors.js";
import type { IdpKind } from "../../../idp-rules.js";
import type { RetryPolicy } from "../../../http/retry.js";
import { registerSecret } from "../../../log/redact.js";
import type { KongDiagnosis, KongVaultDiagnosis, KongNodeInfo } from "../../../ports/diagnosis.js";
import {
  baselineOf,
  judgeDataPlanes,
  liveRows,
  parseDataPlanes,
  type DataPlaneRow,
} from "../hybrid/data-planes.js";
import type { PluginLock } from "../../lease/plugin-lock.js";
import { readVaultEntity, vaultPath } from "../common/vault.js";
import { KongClient } from "../common/client.js";
import {
  checkWriteReadBack,
  clientAuthView,
  clientSlot,
  diagnosePlugin,
  parsePlugin,
  clientEdits,
  type ConfigWrite,
  pluginsOff,
  revertedConfirmation,
  toView,
  type ClientSlot,
  type OidcPlugin,
} from "../common/plugin.js";

export interface KongTargetOptions {
  target: KongTargetConfig;
  /** The credential's client id, as listed in the plugin's config.client_id. */
  clientId: string;
  /** The credential's IdP: its rules decide which client_alg can work (idp-rules.ts `clientAlgProblem`). */
  idp: IdpKind;
  /** RBAC user token, sent as Kong-Admin-Token. */
  adminToken?: string;
  clock?: Clock;
  retry?: Partial<RetryPolicy>;
  dispatcher?: Dispatcher;
  /** Page size for tag lookups (Kong's default is 100, its maximum 1000). */
  pageSize?: number;
  /** Serialises writes per plugin across credentials (and processes, when lease-backed). */
  pluginLock?: PluginLock;
  /**
   * Shared by every credential's targets during one sync tick: a plugin (and the node's `GET /`) read
   * once answers every credential that inspects it. Only inspection reads go through it; writes and
   * read-backs always read fresh.
   */
  reads?: KongReadCache;
}

/** Admin API GET answers by `${adminUrl}|${token}|${path}` (the token decides what the caller may see). */
export type KongReadCache = Map<string, Promise<unknown>>;

const MAX_PAGES = 1000;
/** Default for dataPlanes.maxLag: four ping intervals. */
export const DEFAULT_MAX_LAG_MS = 120_000;
export const DBLESS_HINT =
  "DB-less Kong: the Admin API is read-only. Configure this target as `dbless: { nodes: [...] }` (POST /config per node) instead of adminUrl.";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

export function createKongTarget(opts: KongTargetOptions): KongTarget {
  const t = opts.target;
  registerSecret(opts.adminToken);
  const client = new KongClient({
    target: t.name,
    adminUrl: t.adminUrl,
    ...(opts.adminToken ? { adminToken: opts.adminToken } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.retry ? { retry: opts.retry } : {}),
    ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
  });
  const prefix = t.workspace ? `${encodeURIComponent(t.workspace)}/` : "";
  const edits = clientEdits({ id: opts.clientId, idp: opts.idp }, t.name);
  const pluginPath = (id: string) => `${prefix}plugins/${encodeURIComponent(id)}`;
  const pageSize = opts.pageSize ?? 100;

  const load = async (id: string): Promise<OidcPlugin> =>
    parsePlugin(await client.get(pluginPath(id)), t.name, `GET ${pluginPath(id)}`);
  const readerKey = createHash("sha256")
    .update(opts.adminToken ?? "")
    .digest("hex")
    .slice(0, 16);
  /** An inspection read: answered from the tick's cache when there is one. */
  const inspectGet = (path: string): Promise<unknown> => {
    if (!opts.reads) return client.get(path);
    const key = `${t.adminUrl}|${readerKey}|${path}`;
    let hit = opts.reads.get(key);
    if (!hit) opts.reads.set(key, (hit = client.get(path)));
    return hit;
  };
  const inspectLoad = async (id: string): Promise<OidcPlugin> =>
    parsePlugin(await inspectGet(pluginPath(id)), t.name, `GET ${pluginPath(id)}`);

  const byTags = async (tags: string[], get: (path: string) => Promise<unknown>): Promise<OidcPlugin[]> => {
    // The config schema applies the same rule, so configured tags never fail here.
    const problem = kongTagsProblem(tags);
    if (problem)
      throw new RotatorError(
        "KONG_TAGS_INVALID",
        `Kong target ${t.name}: pluginTags ${problem}`,
        "Kong's tag filter takes at most 5 tags and uses ',' (AND) and '/' (OR) as operators.",
      );
    const found = new Map<string, OidcPlugin>();
    const seen = new Set<string>();
    let offset: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = new URLSearchParams({ tags: tags.join(","), size: String(pageSize) });
      if (offset) query.set("offset", offset);
      const where = `GET ${prefix}plugins?${query.toString()}`;
      const body = await get(`${prefix}plugins?${query.toString()}`);
      if (!isRecord(body) || !Array.isArray(body.data))
        throw new RotatorError(
          "KONG_BAD_RESPONSE",
          `Kong target ${t.name}: ${where} did not return a list`,
          "Check that adminUrl points at the Kong Admin API.",
        );
      for (const item of body.data) {
        const p = parsePlugin(item, t.name, where);
        found.set(p.id, p);
      }
      // Continue from `offset` on our own path rather than following `next`: Kong builds `next` as
      // "/plugins?offset=..." without the workspace prefix (kong/api/endpoints.lua), which from
      // /{workspace}/plugins would page through the default workspace instead.
      offset = body.next === null ? undefined : str(body.offset);
      if (!offset) return [...found.values()];
      if (seen.has(offset)) break;
      seen.add(offset);
    }
    throw new RotatorError(
      "KONG_BAD_RESPONSE",
      `Kong target ${t.name}: plugin pagination did not end`,
      "Kong kept returning pages; check the Admin API.",
    );
  };

  /** The target's plugins; `fresh` bypasses the tick's read cache (before a write). */
  const resolve = async (fresh = false): Promise<OidcPlugin[]> => {
    let plugins: OidcPlugin[];
    if (t.pluginId) plugins = [await (fresh ? load : inspectLoad)(t.pluginId)];
    else if (t.pluginTags?.length)
      plugins = await byTags(t.pluginTags, fresh ? (path) => client.get(path) : inspectGet);
    else
      throw new RotatorError(
        "CONFIG_INVALID",
        `Kong target ${t.name}: neither pluginId nor pluginTags is set`,
        "Set exactly one of pluginId or pluginTags.",
      );
    if (plugins.length === 0)
      throw new RotatorError(
        "KONG_PLUGIN_NOT_FOUND",
        `Kong target ${t.name}: no plugin has all tags ${t.pluginTags?.join(", ") ?? ""}${t.workspace ? ` in workspace ${t.workspace}` : ""}`,
        "Tag the openid-connect plugin with every configured tag (tags are ANDed), in the configured workspace.",
      );
    return plugins;
  };

  const readBack = async (
    plugin: OidcPlugin,
    slot: ClientSlot,
    fields: ConfigWrite,
    jwk: KongPrivateJwk | undefined,
  ): Promise<KongPluginView> => {
    const after = await load(plugin.id);
    checkWriteReadBack(after, slot, fields, jwk, {
      target: t.name,
      where: `plugin ${plugin.id}`,
      details: { pluginId: plugin.id, clientIndex: slot.index },
    });
    return toView(after, slot.index, t.workspace);
  };

  /** `GET /` node information (https://developer.konghq.com/api/gateway/admin-ee/, "Information"). */
  const nodeInfo = async (): Promise<KongNodeInfo> => {
    const body = await inspectGet("");
    const configuration = isRecord(body) && isRecord(body.configuration) ? body.configuration : {};
    const info: KongNodeInfo = {};
    const version = isRecord(body) ? str(body.version) : undefined;
    if (version !== undefined) info.version = version;
    const database = str(configuration.database);
    if (database !== undefined) info.database = database;
    const role = str(configuration.role);
    if (role !== undefined) info.role = role;
    return info;
  };

  const confirmMode = t.dataPlanes?.confirm ?? "auto";
  let hybrid: Promise<boolean> | undefined;
  const isHybrid = (): Promise<boolean> =>
    confirmMode === "never"
      ? Promise.resolve(false)
      : confirmMode === "always"
        ? Promise.resolve(true)
        : (hybrid ??= nodeInfo().then((n) => n.role === "control_plane"));

  /** Every data-plane row, all pages (Kong pages with `next`). */
  const dataPlanes = async (): Promise<DataPlaneRow[]> => {
    const rows: DataPlaneRow[] = [];
    let path: string | undefined = "clustering/data-planes";
    for (let page = 0; path && page < MAX_PAGES; page++) {
      const parsed = parseDataPlanes(await client.get(path));
      if (!parsed)
        throw new RotatorError(
          "KONG_BAD_RESPONSE",
          `Kong target ${t.name}: GET /clustering/data-planes did not return a list`,
          "Check that adminUrl points at the control plane's Admin API.",
        );
      rows.push(...parsed.rows);
      path = parsed.next;
    }
    return rows;
  };
  const now = () => (opts.clock ?? { now: () => new Date() }).now();
  // Vault entities live in the database (or the control plane's), shared by every node it serves; in the
  // target's workspace (`GET /{workspace}/vaults/{prefix}`).
  const vaults = async (vaultPrefix: string): Promise<KongVaultDiagnosis[]> => [
    await readVaultEntity((p) => client.get(p), `${prefix}${vaultPath(vaultPrefix)}`, vaultPrefix),
  ];

  return {
    name: t.name,
    maxLagMs: confirmMode === "never" ? 0 : (t.dataPlanes?.maxLagMs ?? DEFAULT_MAX_LAG_MS),

    async diagnose(): Promise<KongDiagnosis> {
      const node = await nodeInfo();
      const plugins = await resolve();
      const d: KongDiagnosis = {
        kind: (await isHybrid()) ? "hybrid" : "admin",
        node,
        plugins: plugins.map((p) => diagnosePlugin(p, opts.clientId, t.workspace)),
      };
      if (await isHybrid()) {
        const rows = await dataPlanes();
        const live = new Set(liveRows(rows, now()).map((r) => r.id));
        d.gateways = rows.map((r) => ({
          name: r.hostname ?? r.id,
          live: live.has(r.id),
          ...(r.configHash ? { configHash: r.configHash } : {}),
          ...(r.version ? { version: r.version } : {}),
          ...(r.syncStatus ? { syncStatus: r.syncStatus } : {}),
        }));
      }
      if (t.vaultReference) d.vaults = await vaults(t.vaultReference.prefix);
      return d;
    },

    vaults,

    async baseline() {
      return (await isHybrid()) ? baselineOf(liveRows(await dataPlanes(), now())) : undefined;
    },

    async confirm(expect, since): Promise<KongConfirmation> {
      const off = pluginsOff(await resolve(), opts.clientId, t.name, expect.kid);
      if (off.length) return revertedConfirmation(off, expect.kid);
      if (!(await isHybrid())) return { state: "confirmed", detail: "read back from the Admin API" };
      return judgeDataPlanes(liveRows(await dataPlanes(), now()), since.baseline);
    },

    /**
     * Traditional: a plugin PATCH only posts entity invalidations, so the token cache is purged with
     * `DELETE /cache` (Admin API EE spec delete-cache-entries; kong/api/routes/cache.lua), which is local to
     * the node that answers. Hybrid: the control plane's cache serves no traffic; data planes purge theirs
     * when they apply a full config (kong/runloop/handler.lua), not with incremental sync.
     */
    async clearTokenCache(): Promise<KongTokenCacheClearing> {
      if (await isHybrid())
        return {
          state: "by-activation",
          detail:
            "data planes purge their token cache when they apply the new configuration as a full sync (the default); " +
            "with incremental config sync (cluster_rpc_sync) they keep cached tokens until they expire",
        };
      await client.delete("cache");
      return {
        state: "cleared",
        detail: `DELETE /cache purged the token cache of the node that answered the Admin API of ${t.name}; other traditional nodes behind a load balancer keep theirs until the tokens expire`,
      };
    },

    async inspect() {
      // A DB-less node answers reads but refuses every write (405): refuse before anything is rotated, not
      // at activation (https://developer.konghq.com/gateway/db-less-mode/).
      const plugins = await resolve();
      if ((await nodeInfo()).database === "off")
        throw new RotatorError(
          "KONG_DBLESS",
          `Kong target ${t.name}: the node runs DB-less (configuration.database = off); its Admin API is read-only`,
          DBLESS_HINT,
        );
      return plugins.map((p) => toView(p, clientSlot(p, opts.clientId, t.name).index, t.workspace));
    },

    authMigration: "one-write",

    async clientAuth() {
      return (await resolve()).map((p) => clientAuthView(p, opts.clientId, t.name, t.workspace));
    },

    apply: (jwk, options) => write(edits.key(jwk, options), jwk),

    dropSecret: () => write(edits.dropSecret),
  };

  /**
   * Plan a write for every resolved plugin (all checked before the first write), PATCH the planned fields
   * and read each plugin back. With a plugin lock, the plugin is read again and the write planned again
   * under the lock.
   */
  async function write(
    planFor: (plugin: OidcPlugin) => { slot: ClientSlot; write?: ConfigWrite },
    jwk?: KongPrivateJwk,
  ): Promise<KongApplyReceipt> {
    const plugins = await resolve(true);
    const plans = plugins.map((plugin) => ({ plugin, ...planFor(plugin) }));
    const views: KongPluginView[] = [];
    let wrote = false;
    const patch = async (plugin: OidcPlugin, slot: ClientSlot, fields: ConfigWrite) => {
      await client.patch(pluginPath(plugin.id), { config: fields });
      wrote = true;
      return readBack(plugin, slot, fields, jwk);
    };
    for (const { plugin, slot, write: fields } of plans) {
      if (!fields) {
        views.push(toView(plugin, slot.index, t.workspace));
        continue;
      }
      if (!opts.pluginLock) {
        views.push(await patch(plugin, slot, fields));
        continue;
      }
      const key = `${t.adminUrl}|${t.workspace ?? ""}|${plugin.id}`;
      views.push(
        await opts.pluginLock.run(key, async () => {
          // Fresh under the lock: another credential may have written its own entry since our read.
          const fresh = await load(plugin.id);
          const again = planFor(fresh);
          if (!again.write) return toView(fresh, again.slot.index, t.workspace);
          return patch(fresh, again.slot, again.write);
        }),
      );
    }
    // What this tick read before the write is stale now: later inspections read again.
    if (wrote && opts.reads)
      for (const key of [...opts.reads.keys()])
        if (key.startsWith(`${t.adminUrl}|${readerKey}|`)) opts.reads.delete(key);
    return { plugins: views, wrote };
  }
}
