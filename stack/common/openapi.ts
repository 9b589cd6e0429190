/**
 * Request validation against the vendors' published API descriptions (the trimmed copies in stack/specs/),
 * shared by every fake. A request is accepted only when:
 * - its path matches an operation's path template (the most specific template wins, literal segments before
 *   parameters, as routers do), else `unknown-path`;
 * - that template has an operation for the method, else `method`;
 * - its path and query parameters match their declared schemas, unknown query parameters included
 *   (`invalid`, in `query`/`path`);
 * - its body has a media type the operation takes (`media-type`) and matches its schema (`invalid`, `body`).
 * The fake then answers the refusal the way its vendor does (status and error body are the fake's choice,
 * see `Refusal`), keeps it in its `rejected` list, and every served operation and refused request is
 * reported to the coverage report (./spec-coverage.ts).
 *
 * Both OpenAPI 3.x and Swagger 2.0 (Key Vault) documents are read. The schemas are checked with ajv
 * (JSON Schema 2020-12) after these readings of OpenAPI's own dialect, which JSON Schema spells differently:
 * - `nullable: true` (3.0) and `x-nullable: true` (Swagger, autorest) also allow null;
 * - boolean `exclusiveMinimum`/`exclusiveMaximum` (3.0, Swagger) become the numeric form;
 * - `allOf` of object schemas is merged into one object schema, so that an `additionalProperties` in one
 *   member applies to the merged properties (Microsoft Graph declares every entity as
 *   `allOf: [base, {properties, additionalProperties}]`, which plain JSON Schema would read as refusing the
 *   base's properties);
 * - formats: `uuid`, `date-time`, `int32`, `int64`, `byte` and `base64url` are checked (`base64url` also
 *   accepts standard base64: OData's Edm.Binary is base64url, and Graph accepts both); others are ignored.
 * Validators are compiled once per process and operation, on first use.
 */
import { readFileSync } from "node:fs";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { parse as parseYaml } from "yaml";
import { noteSpecEvent } from "./spec-coverage.js";

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

export interface SpecFile {
  /** Path of the vendored document. */
  path: string;
  /** Prefix of request paths that the document's templates are relative to, e.g. "/v2". */
  basePath?: string;
}

export interface SpecOptions {
  /** The suite's name in the coverage report, e.g. "keyvault". */
  name: string;
  files: readonly SpecFile[];
  /** Path parameters that take the rest of the path, slashes included (Kubernetes' proxy `{path}`). */
  greedyParams?: readonly string[];
  /** Other spellings a literal path segment is accepted under (Graph's unqualified `addKey`). */
  literalAliases?: (literal: string) => readonly string[];
  /** Media types whose body is any JSON value whatever the declared schema (Kubernetes' JSON Patch). */
  anyJsonMediaTypes?: readonly string[];
  /** PATCH bodies are partial updates: `required` is not enforced in them (Kong's PATCH semantics). */
  partialPatch?: boolean;
  /**
   * Query parameters the service puts in its own next-page links without declaring them (Key Vault's
   * `$skiptoken` in `nextLink`, x-ms-pageable): accepted on every operation.
   */
  pagingQuery?: readonly string[];
  /** Operations that pass the query string on to another server (Kubernetes' proxy): any query is theirs. */
  forwardedQuery?: readonly string[];
  /**
   * Path parameters that may be left out when they are a template's last segment (Key Vault's object
   * versions: "This URI fragment is optional. If not specified, the latest version … is returned").
   */
  optionalLastParams?: readonly string[];
}

export interface Operation {
  operationId: string;
  method: string;
  template: string;
  /** Decoded path parameters. */
  params: Record<string, string>;
}

export type Refusal =
  | { reason: "unknown-path"; status: 404; errors: string[] }
  | { reason: "method"; status: 405; errors: string[]; allowed: string[] }
  | { reason: "media-type"; status: 415; errors: string[] }
  | {
      reason: "invalid";
      status: 400;
      in: "path" | "query" | "body";
      errors: string[];
      /** For a body: each schema error, for vendors that report errors per field. */
      fields?: FieldError[];
      /** The body could not be parsed as its media type at all. */
      unparsable?: true;
    };

export interface FieldError {
  /** JSON pointer into the body ("" for the root). */
  pointer: string;
  keyword: string;
  message: string;
  /** The member concerned: the unknown one (additionalProperties) or the missing one (required). */
  member?: string;
}

export type Validation = { ok: true; op: Operation } | ({ ok: false } & Refusal);

/** What a fake received (stack/common/server.ts `Request` has these). */
export interface SpecRequest {
  method: string;
  url: URL;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A refused request, as a fake lists it for conformance tests. */
export interface Rejection {
  method: string;
  path: string;
  reason: Refusal["reason"];
  errors: string[];
}

interface Param {
  name: string;
  in: string;
  required: boolean;
  schema: Json;
  /** Array serialisation: one value per repetition (form/explode, Swagger `multi`) or comma-separated. */
  explode: boolean;
  validate: () => ValidateFunction;
}

interface Body {
  required: boolean;
  /** Media type (lower case, `*\/*` allowed) → validator, undefined when any value is accepted. */
  media: Map<string, (() => ValidateFunction) | undefined>;
}

interface Op {
  operationId: string;
  params: Param[];
  body?: Body;
}

interface Segment {
  literal?: string[];
  regex?: RegExp;
  names: string[];
  greedy?: string;
  score: number;
}

interface Route {
  template: string;
  segments: Segment[];
  ops: Map<string, Op>;
}

const METHODS = ["get", "put", "post", "patch", "delete", "head", "options"];
const JSON_MEDIA = /^application\/([\w.+-]*\+)?json$/;

const FORMATS: Record<string, RegExp | { type: "number"; validate: (n: number) => boolean }> = {
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  "date-time": /^\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i,
  byte: /^[A-Za-z0-9+/]*={0,2}$/,
  base64url: /^[A-Za-z0-9+/_-]*={0,2}$/,
  int32: { type: "number", validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 },
  int64: { type: "number", validate: (n) => Number.isInteger(n) },
};

const cache = new Map<string, ApiSpec>();

/** The spec of one suite, loaded once per process (by name). */
export function loadSpec(options: SpecOptions): ApiSpec {
  let spec = cache.get(options.name);
  if (!spec) {
    const t = performance.now();
    cache.set(options.name, (spec = new ApiSpec(options)));
    stats.loadMs += performance.now() - t;
  }
  return spec;
}

/** What validation cost this process: documents loaded, requests checked (schemas compile on first use). */
export const stats = { loadMs: 0, requests: 0, checkMs: 0 };

let shared: Ajv2020 | undefined;

/**
 * One ajv for every suite of the process (documents are kept apart by their `$id`). Its code optimisation
 * pass is off: it made compiling the larger schemas (Graph's application, Auth0's client) about twice as
 * slow and did not make validating a request faster.
 */
function ajvInstance(): Ajv2020 {
  if (shared) return shared;
  shared = new Ajv2020({
    strict: false,
    allErrors: true,
    code: { optimize: false },
    logger: false,
    validateFormats: true,
    validateSchema: false,
  });
  for (const [name, format] of Object.entries(FORMATS)) shared.addFormat(name, format);
  return shared;
}

export class ApiSpec {
  readonly name: string;
  private readonly routes: Route[] = [];
  private readonly ajv = ajvInstance();

  constructor(private readonly options: SpecOptions) {
    this.name = options.name;
    options.files.forEach((file, i) => this.load(file, `spec:${options.name}/${i}`));
  }

  /** operationIds of every operation the vendored documents hold. */
  operations(): string[] {
    return this.routes.flatMap((r) => [...r.ops.values()].map((o) => o.operationId));
  }

  /** Validates one request; a refusal is also added to `rejected` (the fake's list, for tests). */
  check(req: SpecRequest, rejected?: Rejection[]): Validation {
    const t = performance.now();
    const v = this.validate(req.method, req.url, req.headers, req.body);
    stats.requests++;
    stats.checkMs += performance.now() - t;
    if (v.ok) noteSpecEvent({ type: "served", suite: this.name, operationId: v.op.operationId });
    else {
      const path = req.url.pathname + req.url.search;
      rejected?.push({ method: req.method, path, reason: v.reason, errors: v.errors });
      noteSpecEvent({
        type: "refused",
        suite: this.name,
        method: req.method,
        path,
        reason: v.reason,
        errors: v.errors,
      });
    }
    return v;
  }

  private validate(
    method: string,
    url: URL,
    headers: Record<string, string | string[] | undefined>,
    body: Buffer,
  ): Validation {
    const path = url.pathname;
    // The most specific template that matches the whole path; when it lacks the method, the most specific
    // one that matches with its optional last parameter left out (Key Vault's GET /secrets/{name}).
    const candidates = [false, true].flatMap((omitted) => {
      let best: { route: Route; params: Record<string, string> } | undefined;
      let bestScore: number[] = [];
      for (const route of this.routes) {
        const params = match(route, path, omitted ? this.options.optionalLastParams : undefined);
        if (!params) continue;
        const score = route.segments.map((s) => s.score);
        if (!best || compareScores(score, bestScore) > 0) [best, bestScore] = [{ route, params }, score];
      }
      return best ? [best] : [];
    });
    const chosen = candidates.find((c) => c.route.ops.has(method.toUpperCase())) ?? candidates[0];
    if (!chosen)
      return { ok: false, reason: "unknown-path", status: 404, errors: [`no operation at ${path}`] };
    const { route, params } = chosen;
    const op = route.ops.get(method.toUpperCase());
    if (!op)
      return {
        ok: false,
        reason: "method",
        status: 405,
        errors: [`${method} is not an operation of ${route.template}`],
        allowed: [...route.ops.keys()],
      };
    const refusal =
      this.checkParams(op, params, url) ??
      this.checkBody(op, method.toUpperCase(), headers["content-type"], body);
    if (refusal) return { ok: false, ...refusal };
    return { ok: true, op: { operationId: op.operationId, method, template: route.template, params } };
  }

  private checkParams(op: Op, params: Record<string, string>, url: URL): Refusal | undefined {
    const errors: { in: "path" | "query"; text: string }[] = [];
    for (const p of op.params) {
      if (p.in !== "path" && p.in !== "query") continue;
      const where = p.in;
      let value: unknown;
      if (where === "path") value = params[p.name];
      else {
        const all = url.searchParams.getAll(p.name);
        if (all.length === 0) value = undefined;
        else if (
          p.schema.type === "array" ||
          (Array.isArray(p.schema.type) && p.schema.type.includes("array"))
        )
          value = (p.explode ? all : (all[0] ?? "").split(",")).map((v) => coerce(itemsOf(p.schema), v));
        else if (all.length > 1) {
          errors.push({ in: where, text: `query parameter ${p.name} is given ${all.length} times` });
          continue;
        } else value = coerce(p.schema, all[0] ?? "");
      }
      if (value === undefined) {
        if (p.required) errors.push({ in: where, text: `${where} parameter ${p.name} is required` });
        continue;
      }
      const check = p.validate();
      if (!check(value))
        errors.push({ in: where, text: `${where} parameter ${p.name}: ${ajvText(check.errors)}` });
    }
    const forwarded = this.options.forwardedQuery?.includes(op.operationId) === true;
    for (const name of new Set(url.searchParams.keys()))
      if (
        !forwarded &&
        !this.options.pagingQuery?.includes(name) &&
        !op.params.some((p) => p.in === "query" && p.name === name)
      )
        errors.push({ in: "query", text: `query parameter ${name} is not defined for ${op.operationId}` });
    const first = errors[0];
    return first
      ? { reason: "invalid", status: 400, in: first.in, errors: errors.map((e) => e.text) }
      : undefined;
  }

  private checkBody(
    op: Op,
    method: string,
    contentType: string | string[] | undefined,
    raw: Buffer,
  ): Refusal | undefined {
    const invalid = (text: string, fields?: FieldError[]): Refusal & { reason: "invalid" } => ({
      reason: "invalid",
      status: 400,
      in: "body",
      errors: [text],
      ...(fields ? { fields } : {}),
    });
    if (!op.body) return raw.length > 0 ? invalid(`${op.operationId} takes no request body`) : undefined;
    if (raw.length === 0) return op.body.required ? invalid("the request body is required") : undefined;
    const type = (Array.isArray(contentType) ? contentType[0] : contentType)
      ?.split(";")[0]
      ?.trim()
      .toLowerCase();
    const mediaType = type || "application/json";
    const entry = op.body.media.has(mediaType)
      ? { type: mediaType, check: op.body.media.get(mediaType) }
      : op.body.media.has("*/*")
        ? { type: mediaType, check: op.body.media.get("*/*") }
        : undefined;
    if (!entry)
      return {
        reason: "media-type",
        status: 415,
        errors: [
          `${op.operationId} does not take ${mediaType} (it takes ${[...op.body.media.keys()].join(", ")})`,
        ],
      };
    let value: unknown;
    try {
      value = parseBody(entry.type, raw);
    } catch {
      return { ...invalid(`the request body is not valid ${entry.type}`), unparsable: true };
    }
    if (value === undefined || !entry.check || this.options.anyJsonMediaTypes?.includes(entry.type))
      return undefined;
    const check = entry.check();
    const errors = (check(value) ? [] : (check.errors ?? [])).filter(
      (e) => !(this.options.partialPatch && method === "PATCH" && e.keyword === "required"),
    );
    if (!errors.length) return undefined;
    const fields = errors.map((e): FieldError => {
      const member = e.params.additionalProperty ?? e.params.missingProperty;
      return {
        pointer: e.instancePath,
        keyword: e.keyword,
        message: e.message ?? "invalid",
        ...(typeof member === "string" ? { member } : {}),
      };
    });
    return invalid(`request body: ${ajvText(errors)}`, fields);
  }

  private load(file: SpecFile, id: string): void {
    const text = readFileSync(file.path, "utf8");
    const raw = (file.path.endsWith(".json") ? JSON.parse(text) : parseYaml(text)) as Json;
    const swagger = typeof raw.swagger === "string";
    const doc = normalise(raw);
    const root: Json = swagger ? { definitions: doc.definitions } : { components: doc.components };
    this.ajv.addSchema({ $id: id, ...root });
    const deref = (v: unknown): Json => {
      for (let i = 0; i < 32 && isRecord(v) && typeof v.$ref === "string"; i++) v = pointer(doc, v.$ref);
      return isRecord(v) ? v : {};
    };
    const compile = (schema: unknown) => {
      let fn: ValidateFunction | undefined;
      return () => {
        if (fn) return fn;
        const rooted = JSON.parse(JSON.stringify(schema ?? {}).replaceAll('"$ref":"#/', `"$ref":"${id}#/`));
        return (fn = this.ajv.compile(rooted as object));
      };
    };
    const consumes = Array.isArray(doc.consumes) ? (doc.consumes as string[]) : ["application/json"];
    const paths = isRecord(doc.paths) ? doc.paths : {};
    for (const [template, item] of Object.entries(paths)) {
      if (!isRecord(item)) continue;
      const shared = Array.isArray(item.parameters) ? item.parameters : [];
      const ops: Route["ops"] = new Map();
      for (const method of METHODS) {
        const op = item[method];
        if (!isRecord(op)) continue;
        const declared = [...shared, ...(Array.isArray(op.parameters) ? op.parameters : [])].map(deref);
        // An operation's parameter overrides the path item's one of the same name and location.
        const byKey = new Map(declared.map((p) => [`${String(p.in)}:${String(p.name)}`, p]));
        const params: Param[] = [];
        let body: Body | undefined;
        for (const p of byKey.values()) {
          if (p.in === "body") {
            const media = new Map<string, (() => ValidateFunction) | undefined>();
            const types = Array.isArray(op.consumes) ? (op.consumes as string[]) : consumes;
            const check = compile(p.schema);
            for (const t of types) media.set(t.toLowerCase(), check);
            body = { required: p.required === true, media };
            continue;
          }
          const schema = swagger ? swaggerParamSchema(p) : isRecord(p.schema) ? p.schema : {};
          params.push({
            name: String(p.name),
            in: String(p.in),
            required: p.required === true || p.in === "path",
            schema: deref(schema),
            explode: swagger ? p.collectionFormat === "multi" : p.explode !== false,
            validate: compile(schema),
          });
        }
        if (!swagger && op.requestBody !== undefined) {
          const rb = deref(op.requestBody);
          const media = new Map<string, (() => ValidateFunction) | undefined>();
          for (const [t, m] of Object.entries(isRecord(rb.content) ? rb.content : {}))
            media.set(t.toLowerCase(), isRecord(m) && m.schema !== undefined ? compile(m.schema) : undefined);
          body = { required: rb.required === true, media };
        }
        ops.set(method.toUpperCase(), {
          operationId: String(op.operationId ?? `${method} ${template}`),
          params,
          body,
        });
      }
      this.routes.push({
        template,
        segments: segmentsOf((file.basePath ?? "") + template, this.options),
        ops,
      });
    }
  }
}

function segmentsOf(template: string, options: SpecOptions): Segment[] {
  return template
    .split("/")
    .slice(1)
    .map((text): Segment => {
      const names: string[] = [];
      if (!text.includes("{"))
        return { literal: [text, ...(options.literalAliases?.(text) ?? [])], names, score: 2 };
      const whole = /^\{([^}]+)\}$/.exec(text)?.[1];
      if (whole && options.greedyParams?.includes(whole)) return { names: [whole], greedy: whole, score: 0 };
      const source = text
        .replace(/[.*+?^$()|[\]\\]/g, "\\$&")
        .replace(/\\?\{([^}]+)\\?\}/g, (_m, n: string) => {
          names.push(n.replace(/\\/g, ""));
          return "(.*)";
        });
      return { regex: new RegExp(`^${source}$`), names, score: whole ? 0 : 1 };
    });
}

/**
 * The path parameters when `path` matches the route; with `omittable`, only a match that leaves out the
 * route's last segment, a parameter named there (then "").
 */
function match(
  route: Route,
  path: string,
  omittable?: readonly string[],
): Record<string, string> | undefined {
  let parts = path.split("/").slice(1);
  const params: Record<string, string> = {};
  if (omittable) {
    const last = route.segments[route.segments.length - 1];
    const name = last && !last.literal && last.names.length === 1 && !last.greedy ? last.names[0] : undefined;
    if (!name || !omittable.includes(name) || parts.length !== route.segments.length - 1) return undefined;
    parts = [...parts, ""];
  }
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return undefined;
    }
  };
  for (const [i, seg] of route.segments.entries()) {
    if (seg.greedy) {
      if (i !== route.segments.length - 1 || parts.length <= i) return undefined;
      const rest = decode(parts.slice(i).join("/"));
      if (rest === undefined) return undefined;
      params[seg.greedy] = rest;
      return params;
    }
    const raw = parts[i];
    const text = raw === undefined ? undefined : decode(raw);
    if (text === undefined) return undefined;
    if (seg.literal) {
      if (!seg.literal.includes(text)) return undefined;
      continue;
    }
    const m = seg.regex?.exec(text);
    if (!m) return undefined;
    seg.names.forEach((n, j) => (params[n] = m[j + 1] ?? ""));
  }
  return parts.length === route.segments.length ? params : undefined;
}

function compareScores(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

function pointer(doc: Json, ref: string): unknown {
  if (!ref.startsWith("#/")) return undefined;
  let cur: unknown = doc;
  for (const part of ref.slice(2).split("/"))
    cur = isRecord(cur) ? cur[part.replaceAll("~1", "/").replaceAll("~0", "~")] : undefined;
  return cur;
}

/** A Swagger 2.0 non-body parameter carries its schema keywords inline. */
function swaggerParamSchema(p: Json): Json {
  const keys = [
    "type",
    "format",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "default",
  ];
  return Object.fromEntries(keys.filter((k) => p[k] !== undefined).map((k) => [k, p[k]]));
}

function itemsOf(schema: Json): Json {
  return isRecord(schema.items) ? schema.items : {};
}

function coerce(schema: Json, raw: string): unknown {
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if ((types.includes("integer") || types.includes("number")) && /^-?\d+(\.\d+)?$/.test(raw.trim()))
    return Number(raw);
  if (types.includes("boolean") && (raw === "true" || raw === "false")) return raw === "true";
  return raw;
}

function parseBody(type: string, raw: Buffer): unknown {
  const text = raw.toString("utf8");
  if (type === "application/x-www-form-urlencoded") return Object.fromEntries(new URLSearchParams(text));
  if (type.endsWith("yaml")) return parseYaml(text) as unknown;
  if (JSON_MEDIA.test(type) || type === "*/*") return JSON.parse(text) as unknown;
  return undefined;
}

function ajvText(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .slice(0, 5)
    .map((e) => {
      const extra = e.keyword === "additionalProperties" ? ` (${String(e.params.additionalProperty)})` : "";
      return `${e.instancePath || "(root)"} ${e.message ?? "invalid"}${extra}`;
    })
    .join("; ");
}

/**
 * OpenAPI's schema dialect read as JSON Schema 2020-12 (see the header): nullable, boolean exclusive bounds,
 * merged allOf.
 */
function normalise(doc: Json): Json {
  const merging = new Map<string, Json>();
  const resolve = (ref: string): Json => {
    const hit = merging.get(ref);
    if (hit) return hit;
    const target = pointer(doc, ref);
    const out: Json = {};
    merging.set(ref, out);
    Object.assign(out, walk(target));
    return out;
  };
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (!isRecord(v)) return v;
    let out: Json = {};
    for (const [k, x] of Object.entries(v)) out[k] = walk(x);
    if (Array.isArray(out.allOf)) out = mergeAllOf(out, resolve);
    if (out.exclusiveMinimum === true && typeof out.minimum === "number")
      [out.exclusiveMinimum, out.minimum] = [out.minimum, undefined];
    if (out.exclusiveMaximum === true && typeof out.maximum === "number")
      [out.exclusiveMaximum, out.maximum] = [out.maximum, undefined];
    if (out.exclusiveMinimum === false) delete out.exclusiveMinimum;
    if (out.exclusiveMaximum === false) delete out.exclusiveMaximum;
    for (const k of ["minimum", "maximum"]) if (out[k] === undefined) delete out[k];
    if (out.nullable === true || out["x-nullable"] === true) {
      if (typeof out.type === "string") out.type = [out.type, "null"];
      else if (Array.isArray(out.type) && !out.type.includes("null"))
        out.type = [...(out.type as unknown[]), "null"];
      else if (out.type === undefined && typeof out.$ref === "string")
        out = { anyOf: [{ $ref: out.$ref }, { type: "null" }] };
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...(out.enum as unknown[]), null];
    }
    delete out.nullable;
    delete out["x-nullable"];
    return out;
  };
  return walk(doc) as Json;
}

/** `allOf` members that are object schemas (or references to them) merged into one object schema. */
function mergeAllOf(schema: Json, resolve: (ref: string) => Json): Json {
  const { allOf, ...own } = schema;
  const members = (allOf as unknown[]).map((m) =>
    isRecord(m) && typeof m.$ref === "string" && Object.keys(m).length === 1 ? resolve(m.$ref) : m,
  );
  if (!members.every((m) => isRecord(m) && !("allOf" in m))) return schema;
  const merged: Json = {};
  const properties: Json = {};
  const required = new Set<string>();
  for (const m of [...(members as Json[]), own]) {
    for (const [k, x] of Object.entries(m)) {
      if (k === "properties" && isRecord(x)) Object.assign(properties, x);
      else if (k === "required" && Array.isArray(x)) for (const r of x) required.add(String(r));
      else merged[k] = x;
    }
  }
  if (Object.keys(properties).length) merged.properties = properties;
  if (required.size) merged.required = [...required];
  return merged;
}
