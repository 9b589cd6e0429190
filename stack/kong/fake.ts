/**
 * Fake Kong Gateway Enterprise Admin API: plugins (openid-connect in depth), workspaces, node info, RBAC
 * token, DB-less mode, plus the gateway login probe (./probe.ts). Serves HTTPS on 127.0.0.1 with the
 * shared request log and fault injection (stack/common/server.ts).
 *
 * Real behaviours reproduced (sources; Admin API spec = ../shared/fixtures/kong/admin-api-ee.3.10.openapi.yaml,
 * Kong source = https://github.com/Kong/kong):
 * - `GET|PATCH|PUT /plugins/{id}` and `/{workspace}/plugins/{id}`; `/plugins/{id}` is the default
 *   workspace, so a plugin of another workspace is 404 there (spec paths `/{workspace}/plugins/{PluginId}`).
 * - `GET /plugins` and `/{workspace}/plugins` with `size` (default 100, 1..1000), `offset` and `tags`
 *   (`a,b` = AND, `a/b` = OR, at most 5 tags) (spec PaginationSize/PaginationTagsFilter; kong/api/endpoints.lua
 *   `extract_options`; spec/02-integration/03-db/07-tags_spec.lua "cannot query more than 5 tags").
 *   The response is `{data, offset, next}` with `next` = `/plugins?offset=<escaped>&tags=..&size=..` and
 *   without the workspace prefix, exactly as kong/api/endpoints.lua builds it; `next` is null on the last page.
 *   Invalid size/offset give 400 `invalid size` / `invalid offset` (kong/db/errors.lua codes 9 and 7).
 * - PATCH merges: nested records in `config` are merged recursively, omitted fields keep their value, arrays
 *   are replaced wholesale (kong/db/schema/init.lua `Schema:merge_values`). PUT is an upsert that replaces the
 *   entity (no merge) and fills defaults again.
 * - Returned entities carry every config field: stored value, else schema default, else null.
 * - Errors: 404 `{"message":"Not found"}`; 405 `{"message":"Method not allowed"}`; 400 schema violation
 *   (./validate.ts); 400 `{"message":"Cannot parse JSON body"}` for a body that is not JSON.
 * - RBAC (`adminToken`): a missing or wrong `Kong-Admin-Token` gets 401 `{"message":"Invalid RBAC credentials"}`
 *   (https://developer.konghq.com/how-to/enable-rbac-with-admin-api, "Validate").
 * - Every request is then validated against the Admin API spec (stack/specs/kong/, the operations used here;
 *   stack/common/openapi.ts): no operation at the path is 404, a method the path does not have 405, a body
 *   that does not match the entity schema (unknown or ill-typed top-level fields, `Plugin` has
 *   `additionalProperties: false`) a schema violation; PATCH bodies are partial, so `required` is not
 *   enforced in them. Query options the spec refuses get Kong's own error where this fake reproduces it
 *   (size, offset, tags below), else 400 `{"message"}`.
 * - DB-less (`dbless`): `GET /` reports `configuration.database: "off"`; writes fail with 405
 *   `{"code":12,"name":"operation unsupported","message":"cannot update 'plugins' entities when not using a database"}`
 *   ("cannot create or update" for PUT) after the entity was found and validated, as the DAO runs
 *   read-before-write and validation before the `off` strategy refuses (kong/db/strategies/off/init.lua,
 *   kong/api/endpoints.lua `handle_error`).
 * - `GET /` node info (version, edition, configuration.database/role) and `GET /workspaces` (spec); the
 *   role is `traditional` unless set (`control_plane` for a hybrid control plane, whose Admin API is
 *   writable while data planes receive the config asynchronously,
 *   https://developer.konghq.com/gateway/hybrid-mode/).
 *
 * - Hybrid (`dataPlanes`): the node is a control plane (role control_plane); its data planes receive each
 *   write after their own lag and are listed by `GET /clustering/data-planes` (./dataplanes.ts), which
 *   answers 400 on any other role (Admin API EE spec, get-data-planes). The login probe signs with what the
 *   data planes hold, so a key activated before they have it shows up as failed logins.
 * - DB-less `GET /config` → `{config: "<declarative YAML>"}` (spec get-config) and `POST /config`, which
 *   replaces the whole configuration (a body with `_format_version` is the declarative table, else its
 *   `config` string is parsed; kong/api/routes/config.lua), validated like a plugin write (400 code 14
 *   "invalid declarative configuration"); on a node with a database it answers 400. `GET /status` carries
 *   `configuration_hash` on DB-less nodes and data planes only (kong/api/routes/health.lua).
 *
 * - `GET /vaults` and `GET /vaults/{VaultIdOrPrefix}` (spec operationIds list-vault, get-vault; 404
 *   `{"message":"Not found"}`), also under `/{workspace}/`: the vaults added with `addVault` (./vault.ts),
 *   which belong to the default workspace. Reads answer on DB-less nodes too.
 *
 * Not reproduced: POST/DELETE of entities, routes/services/consumers, instance_name lookups, RBAC
 * roles/permissions (one all-powerful token), plugins other than openid-connect are stored without config
 * validation, writing vaults through the Admin API or declarative config (vaults are added with `addVault`;
 * references are resolved by the login probe, ./vault.ts), keyring encryption, `?check_hash`, Konnect
 * (stack/konnect/).
 */
import { randomUUID } from "node:crypto";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { configHash, DataPlanes, type DataPlaneSpec } from "./dataplanes.js";
import type { ServerResponse } from "node:http";
import { startHttpsServer, type Reply, type Request, type RunningServer } from "../common/server.js";
import type { ServerTls } from "../common/tls.js";
import { noteSecret } from "../common/capture.js";
import { probeLogin, type ProbeResult } from "./probe.js";
import { GatewayNode, normalizeIssuer, type IssuerRow } from "./node-cache.js";
import { KongVaults, type AzureVaultSpec } from "./vault.js";
import { loadOidcSchemaSubset, schemaVersionFor, type OidcSchemaSubset } from "./schema.js";
import {
  isRecord,
  schemaViolation,
  validatePluginEntity,
  withDefaults,
  type FieldErrors,
} from "./validate.js";
import type { FieldError, Rejection, Validation } from "../common/openapi.js";
import { suite } from "../specs/index.js";

export type { ProbeResult } from "./probe.js";

export interface KongFakeOptions {
  tls: ServerTls;
  /** When set, RBAC is enforced and every request must carry this `Kong-Admin-Token`. */
  adminToken?: string;
  dbless?: boolean;
  /** Kong version reported by `GET /`; also selects the published schema (3.4, 3.10 or 3.15). */
  version?: string;
  /** Hybrid mode: this node is a control plane with these data planes. */
  dataPlanes?: DataPlaneSpec[];
  /** Added to every plugin write (PATCH/PUT), e.g. a remote control plane's database round trip. */
  writeLatencyMs?: number;
}

export interface PluginInput {
  name: string;
  workspace?: string;
  tags?: string[];
  config: Record<string, unknown>;
  id?: string;
}

export type PluginEntity = Record<string, unknown> & {
  id: string;
  name: string;
  config: Record<string, unknown>;
};

export interface KongFake extends RunningServer {
  readonly version: string;
  /** Names of the workspaces, "default" first. */
  readonly workspaces: string[];
  /** Every entity state the fake stored (seeds and accepted writes), for schema conformance checks. */
  readonly accepted: PluginEntity[];
  /** Requests the Admin API spec refused, for conformance tests. */
  readonly rejected: Rejection[];
  addPlugin(plugin: PluginInput): { id: string };
  getPlugin(id: string): PluginEntity | undefined;
  setDbless(dbless: boolean): void;
  /** configuration.role reported by `GET /` (traditional, control_plane). */
  setRole(role: string): void;
  /**
   * Test hook: the next `count` PATCH/PUT answer 200, and DB-less `POST /config` 201, as if applied but are
   * not stored (a lost write; a node that keeps serving its old configuration).
   */
  dropWrites(count: number): void;
  /** Hybrid: change a data plane's lag / sync / connection (a recovered one takes the latest config after its lag). */
  setDataPlane(hostname: string, change: Partial<Omit<DataPlaneSpec, "hostname">>): void;
  /** Hybrid: the kid each data plane's copy of the plugin holds for the client. */
  dataPlaneKids(pluginId: string, clientId: string): Record<string, string | undefined>;
  /**
   * The gateway login probe. On a control plane with data planes it signs with each connected data
   * plane's copy and passes only when all of them log in (the error names the first that fails).
   * `cached`: answer from the gateway's token cache when it holds a live token (./node-cache.ts).
   */
  probe(pluginId: string, clientId?: string, opts?: { cached?: boolean }): Promise<ProbeResult>;
  /** This node's caches (token cache, discovery cache), as `DELETE /cache` and `/openid-connect/*` see them. */
  readonly node: GatewayNode;
  /** The caches of the nodes that serve traffic: this node, or each data plane of a control plane. */
  gatewayNodes(): Record<string, GatewayNode>;
  /** An Azure Key Vault vault entity whose references the probe resolves with Kong's identity (./vault.ts). */
  addVault(spec: AzureVaultSpec): void;
  /** Key Vault reads the vault made (cache misses). */
  vaultFetches(): number;
}

const DEFAULT_WORKSPACE = "default";
const NOT_FOUND: Reply = { status: 404, body: { message: "Not found" } };
const METHOD_NOT_ALLOWED: Reply = { status: 405, body: { message: "Method not allowed" } };
const MAX_TAGS = 5;
/** kong/api/endpoints.lua TAGS_AND_REGEX / TAGS_OR_REGEX. */
const TAGS_AND = /^(?:[\x20-\x2B\x2D\x2E\x30-\x7E\x80-\u{10FFFF}]+(?:,|$))+$/u;
const TAGS_OR = /^(?:[\x20-\x2B\x2D\x2E\x30-\x7E\x80-\u{10FFFF}]+(?:\/|$))+$/u;

interface Stored {
  workspace: string;
  entity: PluginEntity;
}

const now = () => Math.floor(Date.now() / 1000);

/** Schema-aware deep merge: records merge, everything else (arrays, scalars, null) is replaced. */
function mergeRecord(top: Record<string, unknown>, bottom: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...bottom };
  for (const [k, v] of Object.entries(top)) {
    const b = bottom[k];
    out[k] = isRecord(v) && isRecord(b) ? mergeRecord(v, b) : v;
  }
  return out;
}

function invalidDeclarative(fields: Record<string, unknown>): Reply {
  return {
    status: 400,
    body: {
      code: 14,
      name: "invalid declarative configuration",
      message: "declarative config is invalid",
      fields,
    },
  };
}

/** Kong's words for the schema errors the spec finds (kong/db/schema/init.lua validators). */
function kongFieldMessage(e: FieldError): string {
  if (e.keyword === "additionalProperties") return "unknown field";
  if (e.keyword === "required") return "required field missing";
  const type = /^must be (\w+)/.exec(e.message)?.[1];
  if (e.keyword === "type" && type)
    return type === "object"
      ? "expected a record"
      : type === "array"
        ? "expected an array"
        : `expected a ${type}`;
  return e.message;
}

/** A spec refusal in Kong's words: 404/405 bodies, schema violations for bodies, `{message}` otherwise. */
function kongRefusal(v: Exclude<Validation, { ok: true }>): Reply {
  if (v.reason === "unknown-path") return NOT_FOUND;
  if (v.reason === "method") return METHOD_NOT_ALLOWED;
  if (v.reason === "media-type") return { status: 415, body: { message: "Unsupported Media Type" } };
  if (v.in === "body" && v.unparsable) return { status: 400, body: { message: "Cannot parse JSON body" } };
  if (v.in !== "body" || !v.fields) return { status: 400, body: { message: v.errors.join("; ") } };
  const fields: FieldErrors = {};
  for (const e of v.fields) {
    const path = [...e.pointer.split("/").filter(Boolean), ...(e.member ? [e.member] : [])];
    if (path.length === 0) path.push("@entity");
    let node: FieldErrors = fields;
    for (const part of path.slice(0, -1))
      node = (isRecord(node[part]) ? node[part] : (node[part] = {})) as FieldErrors;
    node[path[path.length - 1] ?? "@entity"] = kongFieldMessage(e);
  }
  return { status: 400, body: schemaViolation(fields) };
}

function invalidOptions(message: string): Reply {
  return {
    status: 400,
    body: {
      code: 11,
      name: "invalid options",
      message: `invalid option (tags: ${message})`,
      options: { tags: message },
    },
  };
}

export async function startKongFake(opts: KongFakeOptions): Promise<KongFake> {
  noteSecret("admin-token", opts.adminToken);
  const version = opts.version ?? "3.10.0.0";
  const schema: OidcSchemaSubset = loadOidcSchemaSubset(schemaVersionFor(version));
  const plugins = new Map<string, Stored>();
  const workspaces = new Map<string, { id: string; name: string; created_at: number }>();
  const accepted: PluginEntity[] = [];
  let dbless = opts.dbless ?? false;
  let role = "traditional";
  let dropWrites = 0;
  const allPlugins = () =>
    new Map([...plugins.entries()].map(([id, st]) => [id, st.entity as Record<string, unknown>]));
  const dps = opts.dataPlanes ? new DataPlanes(opts.dataPlanes, version, allPlugins) : undefined;
  if (dps) role = "control_plane";
  const node = new GatewayNode();

  const ensureWorkspace = (name: string) => {
    if (!workspaces.has(name)) workspaces.set(name, { id: randomUUID(), name, created_at: now() });
  };
  ensureWorkspace(DEFAULT_WORKSPACE);

  const normalize = (entity: PluginEntity): PluginEntity =>
    entity.name === "openid-connect" ? { ...entity, config: withDefaults(entity.config, schema) } : entity;

  const store = (id: string, workspace: string, entity: PluginEntity) => {
    plugins.set(id, { workspace, entity });
    accepted.push(structuredClone(entity));
    dps?.push();
  };

  const find = (workspace: string, id: string): Stored | undefined => {
    const s = plugins.get(id);
    return s && s.workspace === workspace ? s : undefined;
  };

  const violation = (entity: Record<string, unknown>): Reply | undefined => {
    const errors = validatePluginEntity(entity, schema);
    return errors ? { status: 400, body: schemaViolation(errors) } : undefined;
  };

  const info = (): Reply => ({
    status: 200,
    body: {
      version,
      edition: "enterprise",
      tagline: "Welcome to kong",
      hostname: "kong-fake",
      node_id: nodeId,
      lua_version: "LuaJIT 2.1.0-20231117",
      configuration: { database: dbless ? "off" : "postgres", role },
      plugins: { available_on_server: { "openid-connect": true }, enabled_in_cluster: [] },
    },
  });
  const nodeId = randomUUID();

  const listPlugins = (workspace: string, url: URL): Reply => {
    const sizeRaw = url.searchParams.get("size");
    let size = 100;
    if (sizeRaw !== null) {
      size = Number(sizeRaw);
      if (sizeRaw.trim() === "" || Number.isNaN(size))
        return { status: 400, body: { code: 9, name: "invalid size", message: "size must be a number" } };
      if (!Number.isInteger(size) || size < 1 || size > 1000)
        return {
          status: 400,
          body: { code: 9, name: "invalid size", message: "size must be an integer between 1 and 1000" },
        };
    }
    const offsetRaw = url.searchParams.get("offset");
    let after: string | undefined;
    if (offsetRaw !== null && offsetRaw !== "") {
      try {
        const decoded: unknown = JSON.parse(Buffer.from(offsetRaw, "base64").toString("utf8"));
        if (!Array.isArray(decoded) || typeof decoded[0] !== "string") throw new Error("not an offset");
        after = decoded[0];
      } catch {
        return {
          status: 400,
          body: {
            code: 7,
            name: "invalid offset",
            message: `'${offsetRaw}' is not a valid offset: bad base64 encoding`,
          },
        };
      }
    }
    const tagsRaw = url.searchParams.get("tags");
    let tagFilter: ((tags: string[]) => boolean) | undefined;
    if (tagsRaw !== null) {
      let wanted: string[];
      let mode: "and" | "or";
      if (TAGS_AND.test(tagsRaw)) [wanted, mode] = [tagsRaw.split(","), "and"];
      else if (TAGS_OR.test(tagsRaw)) [wanted, mode] = [tagsRaw.split("/"), "or"];
      else return invalidOptions("must be a table");
      wanted = wanted.filter(Boolean);
      if (wanted.length > MAX_TAGS) return invalidOptions(`cannot query more than ${MAX_TAGS} tags`);
      tagFilter =
        mode === "and"
          ? (tags) => wanted.every((t) => tags.includes(t))
          : (tags) => wanted.some((t) => tags.includes(t));
    }
    const all = [...plugins.values()]
      .filter((s) => s.workspace === workspace)
      .map((s) => s.entity)
      .filter((e) => !tagFilter || tagFilter(Array.isArray(e.tags) ? (e.tags as string[]) : []))
      .sort((a, b) => a.id.localeCompare(b.id))
      .filter((e) => after === undefined || e.id > after);
    const page = all.slice(0, size);
    const more = all.length > size;
    const last = page[page.length - 1];
    const offset = more && last ? Buffer.from(JSON.stringify([last.id])).toString("base64") : undefined;
    const next = offset
      ? `/plugins?offset=${encodeURIComponent(offset)}${tagsRaw !== null ? `&tags=${encodeURIComponent(tagsRaw)}` : ""}${sizeRaw !== null ? `&size=${sizeRaw}` : ""}`
      : null;
    return { status: 200, body: { data: structuredClone(page), ...(offset ? { offset } : {}), next } };
  };

  const writePlugin = (method: "PATCH" | "PUT", workspace: string, id: string, req: Request): Reply => {
    let body: unknown;
    try {
      body = req.body.length ? JSON.parse(req.body.toString("utf8")) : {};
    } catch {
      return { status: 400, body: { message: "Cannot parse JSON body" } };
    }
    if (!isRecord(body)) return { status: 400, body: { message: "Cannot parse JSON body" } };
    const existing = find(workspace, id);
    let next: PluginEntity;
    if (method === "PATCH") {
      if (!existing) return NOT_FOUND;
      const { config, ...rest } = body;
      const merged: Record<string, unknown> = { ...existing.entity, ...rest, id };
      merged.config =
        isRecord(config) && isRecord(existing.entity.config)
          ? mergeRecord(config, existing.entity.config)
          : config === undefined
            ? existing.entity.config
            : config;
      const bad = violation(merged);
      if (bad) return bad;
      next = normalize(merged as PluginEntity);
    } else {
      const candidate: Record<string, unknown> = { ...body, id, config: body.config ?? {} };
      const bad = violation(candidate);
      if (bad) return bad;
      const upserted: Record<string, unknown> = {
        instance_name: null,
        route: null,
        service: null,
        consumer: null,
        consumer_group: null,
        protocols: ["grpc", "grpcs", "http", "https"],
        enabled: true,
        tags: null,
        ordering: null,
        ...candidate,
        created_at: existing?.entity.created_at ?? now(),
      };
      next = normalize(upserted as PluginEntity);
    }
    if (dbless) {
      const op = method === "PATCH" ? "update" : "create or update";
      return {
        status: 405,
        body: {
          code: 12,
          name: "operation unsupported",
          message: `cannot ${op} 'plugins' entities when not using a database`,
        },
      };
    }
    next.updated_at = now();
    if (dropWrites > 0) {
      dropWrites--;
      return { status: 200, body: structuredClone(next) };
    }
    store(id, workspace, next);
    return { status: 200, body: structuredClone(next) };
  };

  /** DB-less `GET|POST /config` (kong/api/routes/config.lua). */
  const declarative = (req: Request): Reply => {
    if (!dbless)
      return {
        status: 400,
        body: { message: "this endpoint is only available when Kong is configured to not use a database" },
      };
    if (req.method === "GET") {
      const doc = { _format_version: "3.0", plugins: [...plugins.values()].map((st) => st.entity) };
      return { status: 200, body: { config: toYaml(doc) } };
    }
    if (req.method !== "POST") return METHOD_NOT_ALLOWED;
    let body: unknown;
    try {
      body = JSON.parse(req.body.toString("utf8"));
      if (isRecord(body) && body._format_version === undefined && typeof body.config === "string")
        body = parseYaml(body.config);
    } catch {
      return { status: 400, body: { message: "Cannot parse JSON body" } };
    }
    if (!isRecord(body) || body._format_version === undefined)
      return { status: 400, body: { message: "expected a declarative configuration" } };
    const list = Array.isArray(body.plugins) ? body.plugins : [];
    const next = new Map<string, Stored>();
    for (const [i, p] of list.entries()) {
      if (!isRecord(p) || typeof p.id !== "string")
        return invalidDeclarative({ plugins: { [i + 1]: "id required" } });
      const errors = validatePluginEntity(p, schema);
      if (errors) return invalidDeclarative({ plugins: { [i + 1]: schemaViolation(errors).fields } });
      next.set(p.id, { workspace: DEFAULT_WORKSPACE, entity: normalize(p as PluginEntity) });
    }
    const reply = { status: 201, body: { plugins: [...next.values()].map((st) => st.entity) } };
    if (dropWrites > 0) {
      dropWrites--;
      return reply;
    }
    plugins.clear();
    for (const [id, st] of next) store(id, st.workspace, st.entity);
    // A declarative load purges the node cache, tokens included (kong/db/declarative/import.lua).
    node.purge();
    return reply;
  };

  const spec = suite("kong");
  const rejected: Rejection[] = [];

  /**
   * `DELETE /cache` (purge `kong.cache` and `kong.core_cache` on this node), `GET|DELETE /cache/{key}` (probe,
   * invalidate on this node): Admin API EE spec operations delete-cache-entries,
   * get-cache-by-key, deleteCacheByKey; kong/api/routes/cache.lua. GET answers the cached value (a table
   * as JSON) or 404 `{"message":"Not found"}`; both DELETEs answer 204 whether or not the key was there.
   */
  const cacheRoutes = (req: Request, rest: string[]): Reply => {
    if (rest.length === 0) {
      if (req.method !== "DELETE") return METHOD_NOT_ALLOWED;
      node.purge();
      return { status: 204 };
    }
    const key = rest.join("/");
    if (req.method === "DELETE") {
      node.invalidate(key);
      return { status: 204 };
    }
    if (req.method !== "GET") return METHOD_NOT_ALLOWED;
    const hit = node.probe(key);
    if (!hit) return NOT_FOUND;
    return {
      status: 200,
      body: isRecord(hit.value) || Array.isArray(hit.value) ? hit.value : { message: hit.value },
    };
  };

  /**
   * The openid-connect plugin's Admin API (../shared/fixtures/kong/openid-connect-plugin-endpoints.openapi.yaml;
   * kong/plugins/openid-connect/api.lua): the discovery cache (`/openid-connect/issuers[/{issuer_or_id}]`,
   * GET and DELETE; rows without their secret, `configuration` and `keys` decoded) and the plugin's own JWKS
   * (`/openid-connect/jwks`: GET the public keys as application/jwk-set+json, DELETE to rotate). None of them
   * touches the token cache: the plugin has no endpoint for that.
   */
  const openidConnectRoutes = (req: Request, rest: string[]): Reply => {
    const rowView = (r: IssuerRow) => ({
      id: r.id,
      issuer: r.issuer,
      configuration: JSON.parse(r.configuration) as unknown,
      keys: JSON.parse(r.keys) as unknown,
      created_at: r.created_at,
      updated_at: r.updated_at,
    });
    if (rest[0] === "issuers" && rest.length <= 2) {
      const wanted = rest[1];
      if (wanted === undefined) {
        if (req.method === "GET")
          return { status: 200, body: { data: [...node.issuers.values()].map(rowView), next: null } };
        if (req.method !== "DELETE") return METHOD_NOT_ALLOWED;
        node.issuers.clear();
        return { status: 204 };
      }
      const row = [...node.issuers.values()].find(
        (r) => r.id === wanted || r.issuer === normalizeIssuer(wanted),
      );
      if (req.method === "GET") return row ? { status: 200, body: rowView(row) } : NOT_FOUND;
      if (req.method !== "DELETE") return METHOD_NOT_ALLOWED;
      if (row) node.issuers.delete(row.issuer);
      return { status: 204 };
    }
    if (rest[0] === "jwks" && rest.length === 1) {
      if (req.method === "DELETE") {
        node.rotateOwnJwks();
        return { status: 204 };
      }
      if (req.method !== "GET") return METHOD_NOT_ALLOWED;
      const keys = node.ownJwks().map(({ kty, use, alg, kid, n, e }) => ({ kty, use, alg, kid, n, e }));
      return { status: 200, headers: { "content-type": "application/jwk-set+json" }, body: { keys } };
    }
    return NOT_FOUND;
  };

  const handler = async (req: Request, _res: ServerResponse): Promise<Reply> => {
    if (opts.adminToken !== undefined) {
      const token = req.headers["kong-admin-token"];
      if ((Array.isArray(token) ? token[0] : token) !== opts.adminToken)
        return { status: 401, body: { message: "Invalid RBAC credentials" } };
    }
    const v = spec.check(req, rejected);
    if (v.ok) return route(req);
    if (v.reason === "invalid" && v.in === "query" && req.method === "GET") {
      // Kong's own answer to these options, where the fake reproduces it (reads only: no side effect).
      const own = await route(req);
      if (own.status >= 400) return own;
    }
    return kongRefusal(v);
  };

  const route = async (req: Request): Promise<Reply> => {
    let segments: string[];
    try {
      segments = req.path.split("/").filter(Boolean).map(decodeURIComponent);
    } catch {
      return NOT_FOUND;
    }
    if (segments.length === 0) return req.method === "GET" ? info() : METHOD_NOT_ALLOWED;
    if (segments.join("/") === "clustering/data-planes") {
      if (req.method !== "GET") return METHOD_NOT_ALLOWED;
      if (role !== "control_plane")
        return {
          status: 400,
          body: {
            message:
              "This endpoint is only available when Kong is running as a control plane for the cluster.",
          },
        };
      return { status: 200, body: { data: dps?.rows() ?? [], next: null } };
    }
    if (segments.length === 1 && segments[0] === "status") {
      if (req.method !== "GET") return METHOD_NOT_ALLOWED;
      return {
        status: 200,
        body: {
          database: { reachable: true },
          memory: { lua_shared_dicts: {}, workers_lua_vms: [] },
          server: { connections_accepted: 1, connections_active: 1, total_requests: 1 },
          ...(dbless ? { configuration_hash: configHash(allPlugins()) } : {}),
        },
      };
    }
    if (segments.length === 1 && segments[0] === "config") return declarative(req);
    if (segments.length === 1 && segments[0] === "workspaces") {
      if (req.method !== "GET") return METHOD_NOT_ALLOWED;
      const data = [...workspaces.values()].map((w) => ({
        ...w,
        comment: null,
        config: {},
        meta: {},
        updated_at: w.created_at,
      }));
      return { status: 200, body: { data, next: null } };
    }
    if (segments[0] === "openid-connect") return openidConnectRoutes(req, segments.slice(1));
    if (segments[0] === "cache") return cacheRoutes(req, segments.slice(1));
    let workspace = DEFAULT_WORKSPACE;
    if (segments[0] !== "plugins" && segments[0] !== "vaults") {
      const ws = segments.shift() ?? "";
      if (!workspaces.has(ws)) return NOT_FOUND;
      workspace = ws;
    }
    if (segments[0] === "vaults" && segments.length <= 2) {
      if (req.method !== "GET") return METHOD_NOT_ALLOWED;
      const all = workspace === DEFAULT_WORKSPACE ? vaults.entities() : [];
      const key = segments[1];
      if (key === undefined) return { status: 200, body: { data: all, next: null } };
      const hit = all.find((v) => v.id === key || v.prefix === key);
      return hit ? { status: 200, body: hit } : NOT_FOUND;
    }
    if (segments[0] !== "plugins" || segments.length > 2) return NOT_FOUND;
    const id = segments[1];
    if (id === undefined) return req.method === "GET" ? listPlugins(workspace, req.url) : METHOD_NOT_ALLOWED;
    switch (req.method) {
      case "GET": {
        const s = find(workspace, id);
        return s ? { status: 200, body: structuredClone(s.entity) } : NOT_FOUND;
      }
      case "PATCH":
      case "PUT":
        if (opts.writeLatencyMs) await new Promise((r) => setTimeout(r, opts.writeLatencyMs));
        return writePlugin(req.method, workspace, id, req);
      default:
        return METHOD_NOT_ALLOWED;
    }
  };

  const server = await startHttpsServer("kong", opts.tls, handler);
  const vaults = new KongVaults(opts.tls.ca);

  const probeConfig = (
    entity: Record<string, unknown> | undefined,
    clientId: string | undefined,
    cached: boolean,
  ) => {
    if (!entity) return Promise.resolve<ProbeResult>({ ok: false, status: 0, error: "plugin not found" });
    if (entity.name !== "openid-connect")
      return Promise.resolve<ProbeResult>({
        ok: false,
        status: 0,
        error: `plugin is ${String(entity.name)}, not openid-connect`,
      });
    return probeLogin(isRecord(entity.config) ? entity.config : {}, clientId, opts.tls.ca, vaults, {
      node,
      cached,
    });
  };

  return {
    ...server,
    async close() {
      dps?.close();
      await server.close();
    },
    version,
    rejected,
    get workspaces() {
      return [...workspaces.keys()];
    },
    accepted,
    addPlugin(plugin) {
      const id = plugin.id ?? randomUUID();
      const workspace = plugin.workspace ?? DEFAULT_WORKSPACE;
      const t = now();
      const entity: Record<string, unknown> = {
        id,
        name: plugin.name,
        instance_name: null,
        created_at: t,
        updated_at: t,
        route: null,
        service: null,
        consumer: null,
        consumer_group: null,
        protocols: ["grpc", "grpcs", "http", "https"],
        enabled: true,
        tags: plugin.tags ?? null,
        config: structuredClone(plugin.config),
        ordering: null,
      };
      const errors = validatePluginEntity(entity, schema);
      if (errors) throw new Error(`kong fake: seed plugin rejected: ${schemaViolation(errors).message}`);
      ensureWorkspace(workspace);
      store(id, workspace, normalize(entity as PluginEntity));
      dps?.seed();
      return { id };
    },
    getPlugin(id) {
      const s = plugins.get(id);
      return s ? structuredClone(s.entity) : undefined;
    },
    setDbless(b) {
      dbless = b;
    },
    addVault(spec) {
      vaults.add(spec);
    },
    vaultFetches: () => vaults.fetches,
    setRole(r) {
      role = r;
    },
    dropWrites(count) {
      dropWrites = count;
    },
    setDataPlane(hostname, change) {
      if (!dps) throw new Error("kong fake: no data planes (not started in hybrid mode)");
      dps.set(hostname, change);
    },
    dataPlaneKids(pluginId, clientId) {
      return dps?.kids(pluginId, clientId) ?? {};
    },
    async probe(pluginId, clientId, probeOpts = {}) {
      const cached = probeOpts.cached ?? false;
      return dps
        ? dps.probe(pluginId, clientId, opts.tls.ca, "data plane", vaults, cached)
        : probeConfig(plugins.get(pluginId)?.entity, clientId, cached);
    },
    node,
    gatewayNodes() {
      return dps
        ? Object.fromEntries(dps.list.map((dp) => [dp.hostname, dp.node]))
        : { [new URL(server.url).host]: node };
    },
  };
}
