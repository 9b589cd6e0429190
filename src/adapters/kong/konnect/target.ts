/**
 * KongTarget over Konnect's Control Planes Config API v2 (../shared/fixtures/kong/
 * konnect-control-planes-config.v2.openapi.yaml, info.version 3.15.0):
 * - Base URL `https://{us|eu|au|me|in|sg}.api.konghq.com/v2` (the spec's `servers`), or `baseUrl` + `/v2`.
 * - `Authorization: Bearer <system-account token>`.
 * - The spec has no PATCH: the plugin is read with `GET /control-planes/{cp}/core-entities/plugins/{id}`
 *   (get-plugin) and written back whole with `PUT` (upsert-plugin, "Create or Update Plugin using ID"),
 *   with only our client's client_jwk entry changed (../common/plugin.ts), then read back and compared (../common/readback.ts).
 * - Tags: `GET .../core-entities/plugins?tags=a,b` (list-plugin, PaginationTagsFilter; `size`/`offset`).
 * - Confirmation: a node is in sync when its `config_hash` from `GET .../nodes` (list-dataplane-nodes,
 *   `page[size]`/`page[after]`) equals `GET .../expected-config-hash` (get-expected-config-hash: "The
 *   config hash will be the same if they are in sync"). Nodes whose `last_ping` is older than
 *   LIVE_WINDOW_S are ignored (disconnected nodes keep their records). The expected hash must also have
 *   moved away from its value before the write, so a stale expected hash cannot confirm.
 * - 429: Konnect rate limits without published figures (Kong/deck#1364, KIC#7825); the shared retry policy
 *   honours Retry-After (src/http/retry.ts via ./client.ts).
 * Not done: incremental config sync (`expected-config-version`); a node running it is reported pending.
 */
import type {
  Clock,
  KongApplyOptions,
  KongApplyReceipt,
  KongConfirmation,
  KongPluginView,
  KongTarget,
  KongTokenCacheClearing,
} from "../../../ports/engine.js";
import type { KonnectTargetConfig } from "../../../config/load.js";
import type { KongPrivateJwk } from "../../../crypto/keymaterial.js";
import { RotatorError } from "../../../errors.js";
import type { IdpKind } from "../../../idp-rules.js";
import { registerSecret } from "../../../log/redact.js";
import type { KongDiagnosis, KongVaultDiagnosis } from "../../../ports/diagnosis.js";
import { readVaultEntity, vaultPath } from "../common/vault.js";
import { KongClient } from "../common/client.js";
import { LIVE_WINDOW_S } from "../hybrid/data-planes.js";
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
  revertedConfirmation,
  toView,
  type OidcPlugin,
} from "../common/plugin.js";

export interface KonnectTargetOptions {
  target: KonnectTargetConfig;
  clientId: string;
  /** The credential's IdP: its rules decide which client_alg can work (idp-rules.ts `clientAlgProblem`). */
  idp: IdpKind;
  token: string;
  clock?: Clock;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const MAX_PAGES = 100;
const PREFIX = 12;

interface KonnectNode {
  id: string;
  hostname?: string;
  version?: string;
  lastPing?: number;
  configHash?: string;
}

export function konnectBaseUrl(k: KonnectTargetConfig["konnect"]): string {
  return `${k.baseUrl ?? `https://${k.region}.api.konghq.com`}/v2`;
}

export function createKonnectTarget(opts: KonnectTargetOptions): KongTarget {
  const t = opts.target;
  registerSecret(opts.token);
  const client = new KongClient({
    target: t.name,
    adminUrl: konnectBaseUrl(t.konnect),
    bearerToken: opts.token,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const cp = `control-planes/${encodeURIComponent(t.konnect.controlPlaneId)}`;
  const pluginPath = (id: string) => `${cp}/core-entities/plugins/${encodeURIComponent(id)}`;
  const now = () => (opts.clock ?? { now: () => new Date() }).now();

  const getRaw = async (id: string): Promise<Record<string, unknown>> => {
    const body = await client.get(pluginPath(id));
    parsePlugin(body, t.name, `GET ${pluginPath(id)}`);
    return body as Record<string, unknown>;
  };

  const resolveIds = async (): Promise<string[]> => {
    if (t.pluginId) return [t.pluginId];
    const ids: string[] = [];
    let offset: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const q = new URLSearchParams({ tags: (t.pluginTags ?? []).join(","), size: "100" });
      if (offset) q.set("offset", offset);
      const body = await client.get(`${cp}/core-entities/plugins?${q.toString()}`);
      if (!isRecord(body) || !Array.isArray(body.data))
        throw new RotatorError(
          "KONG_BAD_RESPONSE",
          `Kong target ${t.name}: Konnect did not return a plugin list`,
          "Check konnect.region/baseUrl and controlPlaneId.",
        );
      for (const p of body.data) if (isRecord(p) && typeof p.id === "string") ids.push(p.id);
      offset = str(body.offset);
      if (!offset) break;
    }
    if (ids.length === 0)
      throw new RotatorError(
        "KONG_PLUGIN_NOT_FOUND",
        `Kong target ${t.name}: no plugin in control plane ${t.konnect.controlPlaneId} has all tags ${(t.pluginTags ?? []).join(", ")}`,
        "Tag the openid-connect plugin in Konnect with every configured tag (tags are ANDed).",
      );
    return ids;
  };

  const load = async (): Promise<{ raw: Record<string, unknown>; plugin: OidcPlugin }[]> =>
    Promise.all(
      (await resolveIds()).map(async (id) => {
        const raw = await getRaw(id);
        return { raw, plugin: parsePlugin(raw, t.name, `GET ${pluginPath(id)}`) };
      }),
    );

  const expectedHash = async (): Promise<string> => {
    const body = await client.get(`${cp}/expected-config-hash`);
    const h = isRecord(body) ? str(body.expected_hash) : undefined;
    if (h === undefined)
      throw new RotatorError(
        "KONG_BAD_RESPONSE",
        `Kong target ${t.name}: GET expected-config-hash returned no expected_hash`,
        "Check konnect.region/baseUrl and controlPlaneId.",
      );
    return h;
  };

  const listNodes = async (): Promise<KonnectNode[]> => {
    const out: KonnectNode[] = [];
    let after: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const q = new URLSearchParams({ "page[size]": "100" });
      if (after) q.set("page[after]", after);
      const body = await client.get(`${cp}/nodes?${q.toString()}`);
      if (!isRecord(body) || !Array.isArray(body.items))
        throw new RotatorError(
          "KONG_BAD_RESPONSE",
          `Kong target ${t.name}: GET nodes did not return items`,
          "Check konnect.region/baseUrl and controlPlaneId.",
        );
      for (const n of body.items) {
        if (!isRecord(n) || typeof n.id !== "string") continue;
        const node: KonnectNode = { id: n.id };
        if (typeof n.hostname === "string") node.hostname = n.hostname;
        if (typeof n.version === "string") node.version = n.version;
        if (typeof n.last_ping === "number") node.lastPing = n.last_ping;
        if (typeof n.config_hash === "string") node.configHash = n.config_hash;
        out.push(node);
      }
      // page.next is a link or a cursor; the cursor goes back in page[after].
      const next = isRecord(body.page) ? str(body.page.next) : undefined;
      if (!next) break;
      const m = /[?&]page(?:%5B|\[)after(?:%5D|\])=([^&]+)/.exec(next);
      after = m?.[1] ? decodeURIComponent(m[1]) : next;
    }
    return out;
  };

  // The control plane's vault entities, pushed with its config to every node.
  const vaults = async (prefix: string): Promise<KongVaultDiagnosis[]> => [
    await readVaultEntity((p) => client.get(p), `${cp}/core-entities/${vaultPath(prefix)}`, prefix),
  ];

  const live = (nodes: KonnectNode[]) =>
    nodes.filter((n) => n.lastPing !== undefined && now().getTime() / 1000 - n.lastPing <= LIVE_WINDOW_S);
  const nameOf = (n: KonnectNode) => n.hostname ?? n.id;

  const edits = clientEdits({ id: opts.clientId, idp: opts.idp }, t.name);
  /** Plan the write for every plugin (all checked first), PUT each whole object with the planned fields, read back. */
  const write = async (
    planFor: (plugin: OidcPlugin) => { slot: ClientSlot; write?: ConfigWrite },
    jwk?: KongPrivateJwk,
  ): Promise<KongApplyReceipt> => {
    const plans = (await load()).map(({ raw, plugin }) => ({ raw, plugin, ...planFor(plugin) }));
    const views: KongPluginView[] = [];
    let wrote = false;
    for (const { raw, plugin, slot, write: fields } of plans) {
      if (!fields) {
        views.push(toView(plugin, slot.index, undefined));
        continue;
      }
      // PUT replaces the object: send it whole, as read, with only the planned fields changed.
      await client.put(pluginPath(plugin.id), { ...raw, config: { ...plugin.config, ...fields } });
      wrote = true;
      const after = parsePlugin(await getRaw(plugin.id), t.name, `GET ${pluginPath(plugin.id)}`);
      checkWriteReadBack(after, slot, fields, jwk, {
        target: t.name,
        where: `plugin ${plugin.id}`,
        details: { pluginId: plugin.id, clientIndex: slot.index },
      });
      views.push(toView(after, slot.index, undefined));
    }
    return { plugins: views, wrote };
  };

  return {
    name: t.name,
    maxLagMs: t.konnect.maxLagMs,

    async diagnose(): Promise<KongDiagnosis> {
      const plugins = await load();
      const [expected, nodes] = await Promise.all([expectedHash(), listNodes()]);
      const liveIds = new Set(live(nodes).map((n) => n.id));
      const versions = nodes.map((n) => n.version).filter((v): v is string => v !== undefined);
      const ref = t.vaultReference;
      return {
        ...(ref ? { vaults: await vaults(ref.prefix) } : {}),
        kind: "konnect",
        node: { role: "konnect", ...(versions[0] ? { version: versions.sort()[0] } : {}) },
        plugins: plugins.map(({ plugin }) => diagnosePlugin(plugin, opts.clientId, undefined)),
        gateways: nodes.map((n) => ({
          name: nameOf(n),
          live: liveIds.has(n.id),
          inSync: n.configHash === expected,
          ...(n.configHash ? { configHash: n.configHash } : {}),
          ...(n.version ? { version: n.version } : {}),
        })),
      };
    },

    vaults,

    async inspect(): Promise<KongPluginView[]> {
      return (await load()).map(({ plugin }) =>
        toView(plugin, clientSlot(plugin, opts.clientId, t.name).index, undefined),
      );
    },

    async baseline() {
      return (await expectedHash()).slice(0, PREFIX);
    },

    authMigration: "one-write",

    async clientAuth() {
      return (await load()).map(({ plugin }) => clientAuthView(plugin, opts.clientId, t.name, undefined));
    },

    apply: (jwk: KongPrivateJwk, options?: KongApplyOptions) => write(edits.key(jwk, options), jwk),

    dropSecret: () => write(edits.dropSecret),

    async confirm(expect, since): Promise<KongConfirmation> {
      const off = pluginsOff(
        (await load()).map((p) => p.plugin),
        opts.clientId,
        t.name,
        expect.kid,
      );
      if (off.length) return revertedConfirmation(off, expect.kid);
      const [expected, nodes] = await Promise.all([expectedHash(), listNodes()]);
      if (since.baseline !== undefined && expected.slice(0, PREFIX) === since.baseline)
        return {
          state: "pending",
          detail: "the control plane's expected config hash has not moved since the write",
          lagging: ["control plane"],
        };
      const alive = live(nodes);
      const lagging = alive.filter((n) => n.configHash !== expected).map(nameOf);
      const detail = `${alive.length - lagging.length}/${alive.length} live node(s) on expected hash ${expected.slice(0, PREFIX)}`;
      return lagging.length ? { state: "pending", detail, lagging } : { state: "confirmed", detail };
    },

    /**
     * The Control Planes Config API v2 has no cache operation; data planes purge their cache when they
     * apply a full config (kong/runloop/handler.lua), not when they apply incremental deltas.
     */
    async clearTokenCache(): Promise<KongTokenCacheClearing> {
      return {
        state: "by-activation",
        detail:
          "Konnect data planes purge their token cache when they apply the new configuration as a full sync; " +
          "data planes on incremental config sync keep cached tokens until they expire (Konnect offers no cache operation)",
      };
    },
  };
}
