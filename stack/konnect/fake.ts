/**
 * Fake Konnect Control Planes Config API v2, the part the rotator uses: plugins of one control plane,
 * its expected config hash and its data plane nodes. HTTPS on 127.0.0.1 (stack/common/server.ts).
 *
 * Every request is first validated against the published OpenAPI spec (stack/specs/konnect/, the operations
 * used here from ../shared/fixtures/kong/konnect-control-planes-config.v2.openapi.yaml;
 * stack/common/openapi.ts): an operation the spec does not have is 404/405 (there is no PATCH on plugins),
 * bad parameters or bodies are 400, a body of another media type 415.
 *
 * Real behaviours reproduced (the spec, info.version 3.15.0; shared/facts/kong-modes-vaults-idps.md §1):
 * - `Authorization: Bearer <token>`; otherwise 401 `{message: "Unauthorized", status: 401}` (HTTP401Error).
 * - `GET|PUT /v2/control-planes/{cp}/core-entities/plugins/{id}` (get-plugin, upsert-plugin). PUT replaces
 *   the whole object: omitted fields fall back to their defaults (guess in the facts file, as the Admin
 *   API's PUT). openid-connect configs are validated like the Kong fake (stack/kong/validate.ts, 3.15
 *   schema), with Kong's schema-violation body.
 * - `GET .../core-entities/plugins?tags=a,b` (AND), `size`, `offset`: `{data, offset, next}`.
 * - `GET .../expected-config-hash` → `{expected_hash, created_at, updated_at}`; a node is in sync when its
 *   `config_hash` equals it (get-expected-config-hash).
 * - `GET .../nodes` (`page[size]`, `page[after]`) → `{items: [{id, version, hostname, last_ping, type,
 *   config_hash, compatibility_status}], page: {total_count, next?}}`. Nodes receive a new config after their
 *   own lag (stack/kong/dataplanes.ts); a disconnected node keeps its record and an old `last_ping`.
 * - 429 with Retry-After through the shared fault injector (`faults`), as Konnect rate limits without
 *   published figures.
 * - `GET .../core-entities/vaults/{VaultId}` (get-vault, "Get a Vault using ID or prefix") and the list
 *   (list-vault): vault entities added with `addVault`, `{id, name, prefix, description, config, tags,
 *   created_at, updated_at}` (spec schema Vault); 404 `{message: "Not found"}` as for plugins.
 * - The login probe signs with what the connected nodes hold. `{vault://…}` references in it are resolved by
 *   each node itself (../kong/vault.ts, its own cache): a self-managed Konnect data plane receives the control
 *   plane's vault entities with its config and reads the secret with its own credentials, for Azure the
 *   entity's `vault_uri`, `tenant_id`, `client_id` plus the node's `AZURE_CLIENT_SECRET` env var, which no
 *   entity field holds (https://developer.konghq.com/gateway/entities/vault/azure/; Kong's Azure Key Vaults
 *   backend docs: "Azure Client Secret: This value can only be configured as an environment variable").
 *   The stack gives the nodes that secret (`nodeCredentials`); without it every fetch fails and resolves to "".
 *   Only the Konnect Config Store vault is resolved by the control plane before the config is sent
 *   (https://developer.konghq.com/gateway/entities/vault/konnect-config-store/); Dedicated Cloud Gateways
 *   cannot use Azure Key Vault at all (doctor's KONG_VAULT_DEDICATED_CLOUD).
 * Not reproduced: other entities, writing vaults, workspaces, incremental sync (`expected-config-version`), partials, RBAC
 * roles (any valid token may do anything), the 15-minute validity of revoked tokens, the Config Store vault,
 * vault entities reaching nodes after their lag (an added vault applies to every node at once, with a new
 * cache, as Kong keys its shared cache by the vault's config too).
 */
import { randomUUID } from "node:crypto";
import { startHttpsServer, type Reply, type Request, type RunningServer } from "../common/server.js";
import type { ServerTls } from "../common/tls.js";
import { noteSecret } from "../common/capture.js";
import { configHash, DataPlanes, type DataPlaneSpec } from "../kong/dataplanes.js";
import type { ProbeResult } from "../kong/probe.js";
import type { GatewayNode } from "../kong/node-cache.js";
import { loadOidcSchemaSubset } from "../kong/schema.js";
import { azureVaultFromEntity, KongVaults, type AzureNodeCredentials } from "../kong/vault.js";
import { isRecord, schemaViolation, validatePluginEntity, withDefaults } from "../kong/validate.js";
import type { Rejection } from "../common/openapi.js";
import { suite } from "../specs/index.js";

export interface KonnectFakeOptions {
  tls: ServerTls;
  token: string;
  controlPlaneId?: string;
  nodes?: DataPlaneSpec[];
  /** Kong version the nodes report. */
  version?: string;
  /** The nodes' own Azure credentials for vault references (their AZURE_CLIENT_SECRET); none by default. */
  nodeCredentials?: AzureNodeCredentials;
}

export interface KonnectFake extends RunningServer {
  readonly controlPlaneId: string;
  /** Requests the spec refused, for conformance tests. */
  readonly rejected: Rejection[];
  addPlugin(p: { id?: string; name: string; tags?: string[]; config: Record<string, unknown> }): {
    id: string;
  };
  getPlugin(id: string): Record<string, unknown> | undefined;
  /** A vault entity (backend `name`, `prefix`, backend `config`); returns its id. */
  addVault(v: { name: string; prefix: string; config: Record<string, unknown> }): { id: string };
  setNode(hostname: string, change: Partial<Omit<DataPlaneSpec, "hostname">>): void;
  /**
   * Test hook: the next `count` plugin PUTs answer 200 with the entity as if stored, but are not stored (a
   * lost write, or another writer's change landing right after ours).
   */
  dropWrites(count: number): void;
  nodeKids(pluginId: string, clientId: string): Record<string, string | undefined>;
  probe(pluginId: string, clientId: string, opts?: { cached?: boolean }): Promise<ProbeResult>;
  /** Each connected node's caches (tokens, discovery), by hostname. */
  gatewayNodes(): Record<string, GatewayNode>;
  /** Key Vault reads the nodes made to resolve references (cache misses, all nodes). */
  vaultFetches(): number;
}

const now = () => Math.floor(Date.now() / 1000);
const TITLES = {
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  415: "Unsupported Media Type",
} as const;

export async function startKonnectFake(opts: KonnectFakeOptions): Promise<KonnectFake> {
  noteSecret("admin-token", opts.token);
  const cpId = opts.controlPlaneId ?? randomUUID();
  const version = opts.version ?? "3.10.0.16";
  const schema = loadOidcSchemaSubset("3.15");
  const spec = suite("konnect");
  const plugins = new Map<string, Record<string, unknown>>();
  const nodes = new DataPlanes(opts.nodes ?? [], version, () => plugins);
  const created = now();
  let updated = created;
  const rejected: KonnectFake["rejected"] = [];
  const vaults: Record<string, unknown>[] = [];
  // Each node's own reference resolver (cache), configured from the vault entities and the node's credentials.
  const credentials = opts.nodeCredentials ?? { authorityHost: "https://login.microsoftonline.com" };
  const nodeVaults = new Map(nodes.list.map((n) => [n.hostname, new KongVaults(opts.tls.ca)]));

  const defaults = (e: Record<string, unknown>): Record<string, unknown> => ({
    enabled: true,
    protocols: ["grpc", "grpcs", "http", "https"],
    tags: null,
    route: null,
    service: null,
    consumer: null,
    consumer_group: null,
    instance_name: null,
    ordering: null,
    partials: null,
    ...e,
    config:
      e.name === "openid-connect" && isRecord(e.config) ? withDefaults(e.config, schema) : (e.config ?? {}),
  });

  let dropWrites = 0;
  const put = (id: string, body: Record<string, unknown>): Reply => {
    const candidate: Record<string, unknown> = { ...body, id, config: body.config ?? {} };
    const errors = candidate.name === "openid-connect" ? validatePluginEntity(candidate, schema) : undefined;
    if (errors) return { status: 400, body: schemaViolation(errors) };
    const t = now();
    const entity = defaults({
      ...candidate,
      created_at: plugins.get(id)?.created_at ?? t,
      updated_at: t,
    });
    if (dropWrites > 0) {
      dropWrites--;
      return { status: 200, body: structuredClone(entity) };
    }
    plugins.set(id, entity);
    updated = t;
    nodes.push();
    return { status: 200, body: structuredClone(entity) };
  };

  const list = (url: URL): Reply => {
    const tags = url.searchParams.get("tags");
    const wanted = tags ? tags.split(",").filter(Boolean) : [];
    const size = Number(url.searchParams.get("size") ?? "100");
    const after = url.searchParams.get("offset");
    const all = [...plugins.values()]
      .filter((p) => wanted.every((w) => Array.isArray(p.tags) && p.tags.includes(w)))
      .sort((a, b) => String(a.id).localeCompare(String(b.id)))
      .filter((p) => !after || String(p.id) > Buffer.from(after, "base64url").toString("utf8"));
    const page = all.slice(0, size);
    const last = page[page.length - 1];
    const offset = all.length > size && last ? Buffer.from(String(last.id)).toString("base64url") : undefined;
    return {
      status: 200,
      body: {
        data: structuredClone(page),
        next: offset ? `?offset=${offset}` : null,
        ...(offset ? { offset } : {}),
      },
    };
  };

  const listNodes = (url: URL): Reply => {
    const size = Number(url.searchParams.get("page[size]") ?? "100");
    const after = url.searchParams.get("page[after]");
    const rows = nodes.rows();
    const start = after ? Number(Buffer.from(after, "base64url").toString("utf8")) : 0;
    const items = rows.slice(start, start + size).map((r) => ({
      id: r.id,
      version: r.version,
      hostname: r.hostname,
      last_ping: r.last_seen,
      type: "kong-proxy",
      created_at: created,
      updated_at: r.updated_at,
      config_hash: r.config_hash,
      compatibility_status: { state: "COMPATIBILITY_STATE_FULLY_COMPATIBLE", issues: [] },
    }));
    const more = start + size < rows.length;
    return {
      status: 200,
      body: {
        items,
        page: {
          total_count: rows.length,
          ...(more
            ? {
                next: `/v2/control-planes/${cpId}/nodes?page%5Bafter%5D=${Buffer.from(String(start + size)).toString("base64url")}`,
              }
            : {}),
        },
      },
    };
  };

  const handler = async (req: Request): Promise<Reply> => {
    const auth = req.headers.authorization;
    if (auth !== `Bearer ${opts.token}`)
      return { status: 401, body: { message: "Unauthorized", status: 401 } };
    const v = spec.check(req, rejected);
    if (!v.ok) {
      return {
        status: v.status,
        body: {
          status: v.status,
          title: TITLES[v.status],
          detail: v.errors.join("; "),
        },
      };
    }
    if (v.op.params.controlPlaneId !== cpId)
      return { status: 404, body: { message: "Not found", status: 404 } };
    switch (v.op.operationId) {
      case "get-plugin": {
        const p = plugins.get(v.op.params.PluginId ?? "");
        return p
          ? { status: 200, body: structuredClone(p) }
          : { status: 404, body: { message: "Not found" } };
      }
      case "upsert-plugin":
        return put(
          v.op.params.PluginId ?? "",
          JSON.parse(req.body.toString("utf8")) as Record<string, unknown>,
        );
      case "list-plugin":
        return list(req.url);
      case "get-expected-config-hash":
        return {
          status: 200,
          body: { expected_hash: configHash(plugins), created_at: created, updated_at: updated },
        };
      case "list-dataplane-nodes":
        return listNodes(req.url);
      case "list-vault":
        return { status: 200, body: { data: structuredClone(vaults), next: null } };
      case "get-vault": {
        const key = v.op.params.VaultId ?? "";
        const hit = vaults.find((x) => x.id === key || x.prefix === key);
        return hit
          ? { status: 200, body: structuredClone(hit) }
          : { status: 404, body: { message: "Not found" } };
      }
      default:
        return {
          status: 501,
          body: { message: `${v.op.operationId} is not simulated by the fake`, status: 501 },
        };
    }
  };

  const server = await startHttpsServer("konnect", opts.tls, handler);
  return {
    ...server,
    controlPlaneId: cpId,
    rejected,
    async close() {
      nodes.close();
      await server.close();
    },
    addPlugin(p) {
      const id = p.id ?? randomUUID();
      const r = put(id, { name: p.name, tags: p.tags ?? null, config: structuredClone(p.config) });
      if (r.status !== 200) throw new Error(`konnect fake: seed plugin rejected: ${JSON.stringify(r.body)}`);
      nodes.seed();
      return { id };
    },
    getPlugin(id) {
      const p = plugins.get(id);
      return p ? structuredClone(p) : undefined;
    },
    addVault(x) {
      const id = randomUUID();
      const t = now();
      vaults.push({
        id,
        name: x.name,
        prefix: x.prefix,
        description: null,
        config: structuredClone(x.config),
        tags: null,
        created_at: t,
        updated_at: t,
      });
      const specs = vaults.flatMap((e) => {
        const spec = azureVaultFromEntity(
          { name: String(e.name), prefix: String(e.prefix), config: isRecord(e.config) ? e.config : {} },
          credentials,
        );
        return spec ? [spec] : [];
      });
      for (const r of nodeVaults.values()) r.configure(specs);
      return { id };
    },
    setNode(hostname, change) {
      nodes.set(hostname, change);
    },
    dropWrites(count) {
      dropWrites = count;
    },
    nodeKids(pluginId, clientId) {
      return nodes.kids(pluginId, clientId);
    },
    gatewayNodes() {
      return Object.fromEntries(nodes.list.map((n) => [n.hostname, n.node]));
    },
    probe(pluginId, clientId, probeOpts = {}) {
      return nodes.probe(
        pluginId,
        clientId,
        opts.tls.ca,
        "node",
        (hostname) => nodeVaults.get(hostname),
        probeOpts.cached ?? false,
      );
    },
    vaultFetches() {
      return [...nodeVaults.values()].reduce((n, r) => n + r.fetches, 0);
    },
  };
}
