/**
 * KongTarget over DB-less Kong nodes. Their Admin API refuses entity writes (405); only `POST /config`
 * changes anything, and it replaces the node's whole declarative configuration. Nodes are independent: a
 * POST to one "doesn't affect other … nodes" (https://developer.konghq.com/gateway/db-less-mode/), so each
 * node is read, changed and confirmed on its own:
 * 1. `GET /config` → `{config: "<declarative YAML>"}` (Admin API EE spec, get-config).
 * 2. Replace only our client's `client_jwk` entry in the resolved openid-connect plugin(s) (../common/plugin.ts),
 *    keep everything else as exported, and `POST /config` the whole document as JSON (a body with
 *    `_format_version` is parsed as the declarative table; create-config); then `GET /config` again and
 *    compare our entry with the key (../common/readback.ts), as every kind does after a write.
 * 3. Confirm: the node's `GET /config` holds the key and its `GET /status` `configuration_hash` (present
 *    on DB-less nodes, kong/api/routes/health.lua) differs from the hash before the write.
 *
 * A concurrent deploy by the operator's own pipeline (decK/CI posting its file to /config) replaces the
 * whole config: if its file carries an older client_jwk, the node reverts to the old key. The old key stays
 * registered at the IdP during the overlap, so logins keep working; `sync` (drift detection) then sees the
 * node off the active key and re-applies it. Keep client_jwk out of the pipeline's file, or have the
 * pipeline read the current entry first (README "Supported Kong deployments").
 */
import { parse as parseYaml } from "yaml";
import type {
  Clock,
  KongApplyOptions,
  KongApplyReceipt,
  KongClientAuthView,
  KongConfirmation,
  KongPluginView,
  KongTarget,
  KongTokenCacheClearing,
} from "../../../ports/engine.js";
import type { DblessTargetConfig } from "../../../config/load.js";
import type { KongPrivateJwk } from "../../../crypto/keymaterial.js";
import { RotatorError } from "../../../errors.js";
import type { IdpKind } from "../../../idp-rules.js";
import { registerSecret } from "../../../log/redact.js";
import type {
  KongDiagnosis,
  KongVaultDiagnosis,
  KongGatewayDiagnosis,
  KongNodeInfo,
} from "../../../ports/diagnosis.js";
import { readVaultEntity, vaultPath } from "../common/vault.js";
import { KongClient } from "../common/client.js";
import {
  checkWriteReadBack,
  clientAuthView,
  clientSlot,
  diagnosePlugin,
  parsePlugin,
  clientEdits,
  type ClientSlot,
  type ConfigWrite,
  pluginsOff,
  toView,
  type OidcPlugin,
} from "../common/plugin.js";

export interface DblessTargetOptions {
  target: DblessTargetConfig;
  clientId: string;
  /** The credential's IdP: its rules decide which client_alg can work (idp-rules.ts `clientAlgProblem`). */
  idp: IdpKind;
  adminToken?: string;
  clock?: Clock;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const PREFIX = 8;

interface Node {
  name: string;
  client: KongClient;
}

interface Declarative {
  doc: Record<string, unknown>;
  /** The plugin objects inside `doc` (mutating them changes doc). */
  plugins: Record<string, unknown>[];
}

/** Every plugin object in the declarative doc: top level and nested under services/routes/consumers. */
function collectPlugins(v: unknown, out: Record<string, unknown>[], depth = 0): void {
  if (depth > 6) return;
  if (Array.isArray(v)) for (const x of v) collectPlugins(x, out, depth + 1);
  else if (isRecord(v))
    for (const [k, x] of Object.entries(v)) {
      if (k === "plugins" && Array.isArray(x)) out.push(...x.filter(isRecord));
      else if (Array.isArray(x)) collectPlugins(x, out, depth + 1);
    }
}

export function createDblessTarget(opts: DblessTargetOptions): KongTarget {
  const t = opts.target;
  registerSecret(opts.adminToken);
  const nodes: Node[] = t.dbless.nodes.map((url) => ({
    name: new URL(url).host,
    client: new KongClient({
      target: `${t.name} (node ${new URL(url).host})`,
      adminUrl: url,
      ...(opts.adminToken ? { adminToken: opts.adminToken } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
    }),
  }));

  const readConfig = async (node: Node): Promise<Declarative> => {
    const body = await node.client.get("config");
    const text = isRecord(body) ? body.config : undefined;
    let doc: unknown;
    try {
      doc = typeof text === "string" ? parseYaml(text) : undefined;
    } catch {
      doc = undefined;
    }
    if (!isRecord(doc))
      throw new RotatorError(
        "KONG_BAD_RESPONSE",
        `Kong target ${t.name}: GET /config on node ${node.name} did not return a declarative config`,
        "Check that the node URL is the DB-less node's Admin API.",
      );
    const plugins: Record<string, unknown>[] = [];
    collectPlugins(doc, plugins);
    return { doc, plugins };
  };

  const select = (node: Node, d: Declarative): { raw: Record<string, unknown>; plugin: OidcPlugin }[] => {
    const chosen = d.plugins.filter((p) =>
      t.pluginId
        ? p.id === t.pluginId
        : (t.pluginTags ?? []).every((tag) => Array.isArray(p.tags) && p.tags.includes(tag)),
    );
    if (chosen.length === 0)
      throw new RotatorError(
        "KONG_PLUGIN_NOT_FOUND",
        `Kong target ${t.name}: node ${node.name} has no plugin ${t.pluginId ?? `with all tags ${(t.pluginTags ?? []).join(", ")}`} in its declarative config`,
        "Every DB-less node must carry the openid-connect plugin (with its id or tags) in its declarative config.",
      );
    return chosen.map((raw) => ({
      raw,
      plugin: parsePlugin({ ...raw, config: raw.config ?? {} }, t.name, `GET /config on ${node.name}`),
    }));
  };

  const statusHash = async (node: Node): Promise<string | undefined> => {
    const body = await node.client.get("status");
    return isRecord(body) && typeof body.configuration_hash === "string"
      ? body.configuration_hash
      : undefined;
  };

  const nodeInfo = async (node: Node): Promise<KongNodeInfo> => {
    const body = await node.client.get("");
    const c = isRecord(body) && isRecord(body.configuration) ? body.configuration : {};
    const info: KongNodeInfo = {};
    if (isRecord(body) && typeof body.version === "string") info.version = body.version;
    if (typeof c.database === "string") info.database = c.database;
    if (typeof c.role === "string") info.role = c.role;
    return info;
  };

  // Each DB-less node has its own declarative config, vaults included: read every node's `/vaults`.
  const vaults = (prefix: string): Promise<KongVaultDiagnosis[]> =>
    Promise.all(nodes.map((n) => readVaultEntity((p) => n.client.get(p), vaultPath(prefix), prefix, n.name)));

  const holds = (node: Node, d: Declarative, kid: string): boolean =>
    pluginsOff(
      select(node, d).map((p) => p.plugin),
      opts.clientId,
      t.name,
      kid,
    ).length === 0;

  const edits = clientEdits({ id: opts.clientId, idp: opts.idp }, t.name);
  /**
   * Plan the write on every node's copy of every plugin (all checked before the first POST), put the planned
   * fields into the node's declarative config, POST it and read back what the node serves.
   */
  const write = async (
    planFor: (plugin: OidcPlugin) => { slot: ClientSlot; write?: ConfigWrite },
    jwk?: KongPrivateJwk,
  ): Promise<KongApplyReceipt> => {
    const reads = await Promise.all(nodes.map(async (n) => ({ n, d: await readConfig(n) })));
    const plans = reads.map(({ n, d }) => ({
      n,
      d,
      entries: select(n, d).map(({ raw, plugin }) => ({ raw, plugin, ...planFor(plugin) })),
    }));
    const views: KongPluginView[] = [];
    let wrote = false;
    for (const { n, d, entries } of plans) {
      if (!entries.some((e) => e.write)) {
        for (const e of entries) views.push(toView(e.plugin, e.slot.index, undefined));
        continue;
      }
      for (const e of entries)
        if (e.write) e.raw.config = { ...(isRecord(e.raw.config) ? e.raw.config : {}), ...e.write };
      await n.client.post("config", d.doc);
      wrote = true;
      // Read back what the node serves now: a node may answer 201 and keep (or be given) another config.
      const after = select(n, await readConfig(n));
      for (const e of entries) {
        const plugin = after.find((x) => x.plugin.id === e.plugin.id)?.plugin;
        const { index } = clientSlot(plugin ?? e.plugin, opts.clientId, t.name);
        const slot = { ...e.slot, index };
        if (plugin && e.write)
          checkWriteReadBack(plugin, slot, e.write, jwk, {
            target: t.name,
            where: `node ${n.name}, plugin ${plugin.id}`,
            details: { node: n.name, pluginId: plugin.id, clientIndex: index },
          });
        views.push(toView(plugin ?? e.plugin, index, undefined));
      }
    }
    return { plugins: views, wrote };
  };

  return {
    name: t.name,
    maxLagMs: t.dbless.maxLagMs,

    async diagnose(): Promise<KongDiagnosis> {
      const first = nodes[0];
      const node = first ? await nodeInfo(first) : {};
      const gateways: KongGatewayDiagnosis[] = [];
      let plugins: KongDiagnosis["plugins"] = [];
      for (const n of nodes) {
        try {
          const [info, hash, d] = await Promise.all([nodeInfo(n), statusHash(n), readConfig(n)]);
          if (n === first)
            plugins = select(n, d).map(({ plugin }) => diagnosePlugin(plugin, opts.clientId, undefined));
          gateways.push({
            name: n.name,
            live: true,
            ...(hash ? { configHash: hash } : {}),
            ...(info.version ? { version: info.version } : {}),
            ...(info.database !== "off" ? { error: `not DB-less (database ${info.database ?? "?"})` } : {}),
          });
        } catch (e) {
          gateways.push({
            name: n.name,
            live: false,
            error: e instanceof RotatorError ? e.code : "unreachable",
          });
        }
      }
      const d: KongDiagnosis = { kind: "dbless", node, plugins, gateways };
      if (t.vaultReference) d.vaults = await vaults(t.vaultReference.prefix);
      return d;
    },

    vaults,

    async inspect(): Promise<KongPluginView[]> {
      const views: KongPluginView[] = [];
      for (const n of nodes) {
        const d = await readConfig(n);
        for (const { plugin } of select(n, d))
          views.push(toView(plugin, clientSlot(plugin, opts.clientId, t.name).index, undefined));
      }
      return views;
    },

    async baseline() {
      const hashes = await Promise.all(nodes.map((n) => statusHash(n)));
      return hashes.map((h) => (h ?? "").slice(0, PREFIX)).join(",");
    },

    authMigration: "one-write",

    async clientAuth() {
      const views: KongClientAuthView[] = [];
      for (const n of nodes) {
        const d = await readConfig(n);
        for (const { plugin } of select(n, d))
          views.push(clientAuthView(plugin, opts.clientId, t.name, undefined));
      }
      return views;
    },

    apply: (jwk: KongPrivateJwk, options?: KongApplyOptions) => write(edits.key(jwk, options), jwk),

    dropSecret: () => write(edits.dropSecret),

    async confirm(expect, since): Promise<KongConfirmation> {
      const before = (since.baseline ?? "").split(",");
      const lagging: string[] = [];
      for (const [i, n] of nodes.entries()) {
        const [d, hash] = await Promise.all([readConfig(n), statusHash(n)]);
        const moved = since.baseline === undefined || (hash ?? "").slice(0, PREFIX) !== before[i];
        if (!holds(n, d, expect.kid) || !hash || !moved) lagging.push(n.name);
      }
      const detail = `${nodes.length - lagging.length}/${nodes.length} DB-less node(s) hold ${expect.kid}`;
      return lagging.length ? { state: "pending", detail, lagging } : { state: "confirmed", detail };
    },

    /** Loading a declarative config (`POST /config`) purges the node's cache (kong/db/declarative/import.lua). */
    async clearTokenCache(): Promise<KongTokenCacheClearing> {
      return {
        state: "by-activation",
        detail: `each of the ${nodes.length} DB-less node(s) purged its token cache when it loaded the new configuration (POST /config)`,
      };
    },
  };
}
