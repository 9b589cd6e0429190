/**
 * Request validation against an OpenAPI 3.1 document, for the Konnect fake: a request is accepted only
 * when its path and method are an operation of the spec, its path and query parameters match their
 * declared schemas (unknown query parameters are refused), and its JSON body matches the operation's
 * requestBody schema. Schemas are checked with ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1).
 *
 * The spec still uses OpenAPI 3.0's `nullable: true` in places; it is read as its 3.0 meaning (the value
 * may also be null) by rewriting `type: T` to `type: [T, "null"]` before compiling. Unknown formats are
 * not checked; `uuid` is.
 */
import { readFileSync } from "node:fs";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { parse as parseYaml } from "yaml";

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

export interface Operation {
  operationId: string;
  method: string;
  template: string;
  params: Record<string, string>;
}

export type Validation =
  { ok: true; op: Operation } | { ok: false; status: 400 | 404 | 405; errors: string[] };

interface Param {
  name: string;
  in: string;
  required: boolean;
  validate: () => ValidateFunction;
  type?: string;
}

interface Route {
  template: string;
  regex: RegExp;
  names: string[];
  ops: Map<string, { operationId: string; params: Param[]; body?: () => ValidateFunction }>;
}

const cache = new Map<string, OpenApiValidator>();

/** One validator per spec file and base path, shared by every fake in the process (building takes seconds). */
export function openApiValidator(specPath: string, basePath: string): OpenApiValidator {
  const key = `${specPath}|${basePath}`;
  let v = cache.get(key);
  if (!v) cache.set(key, (v = new OpenApiValidator(specPath, basePath)));
  return v;
}

function nullable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(nullable);
  if (!isRecord(v)) return v;
  const out: Json = {};
  for (const [k, x] of Object.entries(v)) out[k] = nullable(x);
  if (out.nullable === true && typeof out.type === "string") out.type = [out.type, "null"];
  delete out.nullable;
  return out;
}

export class OpenApiValidator {
  private readonly routes: Route[] = [];

  constructor(specPath: string, basePath: string) {
    const spec = nullable(parseYaml(readFileSync(specPath, "utf8"))) as Json;
    const ajv = new Ajv2020({ strict: false, allErrors: true, logger: false, validateFormats: true });
    ajv.addFormat("uuid", /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
    ajv.addSchema({ $id: "spec", components: spec.components }, "spec");
    const deref = (v: unknown): Json => {
      if (isRecord(v) && typeof v.$ref === "string") {
        const parts = v.$ref.replace(/^#\//, "").split("/");
        let cur: unknown = spec;
        for (const p of parts) cur = isRecord(cur) ? cur[p] : undefined;
        return deref(cur);
      }
      return isRecord(v) ? v : {};
    };
    // Compiled on first use: the spec has hundreds of operations and the fake uses a handful.
    const compile = (schema: unknown) => {
      let fn: ValidateFunction | undefined;
      return () => {
        if (fn) return fn;
        const refd = JSON.parse(
          JSON.stringify(schema ?? {}).replaceAll('"#/components/', '"spec#/components/'),
        );
        return (fn = ajv.compile(refd as object));
      };
    };
    const paths = isRecord(spec.paths) ? spec.paths : {};
    for (const [template, item] of Object.entries(paths)) {
      if (!isRecord(item)) continue;
      const names: string[] = [];
      const regex = new RegExp(
        "^" +
          basePath +
          template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{([^}]+)\}/g, (_m, n: string) => {
            names.push(n);
            return "([^/]+)";
          }) +
          "$",
      );
      const shared = Array.isArray(item.parameters) ? item.parameters : [];
      const ops: Route["ops"] = new Map();
      for (const method of ["get", "put", "post", "patch", "delete"]) {
        const op = item[method];
        if (!isRecord(op)) continue;
        const params = [...shared, ...(Array.isArray(op.parameters) ? op.parameters : [])].map((p): Param => {
          const d = deref(p);
          const schema = isRecord(d.schema) ? d.schema : {};
          return {
            name: String(d.name),
            in: String(d.in),
            required: d.required === true,
            validate: compile(schema),
            ...(typeof schema.type === "string" ? { type: schema.type } : {}),
          };
        });
        const rb = deref(op.requestBody);
        const content = isRecord(rb.content) ? rb.content : {};
        const json = isRecord(content["application/json"]) ? content["application/json"] : undefined;
        ops.set(method.toUpperCase(), {
          operationId: String(op.operationId),
          params,
          ...(json ? { body: compile(json.schema) } : {}),
        });
      }
      this.routes.push({ template, regex, names, ops });
    }
  }

  validate(method: string, url: URL, body: Buffer): Validation {
    const route = this.routes.find((r) => r.regex.test(url.pathname));
    if (!route) return { ok: false, status: 404, errors: [`no operation at ${url.pathname}`] };
    const op = route.ops.get(method);
    if (!op)
      return { ok: false, status: 405, errors: [`${method} is not an operation of ${route.template}`] };
    const m = route.regex.exec(url.pathname);
    const params: Record<string, string> = {};
    route.names.forEach((n, i) => (params[n] = decodeURIComponent(m?.[i + 1] ?? "")));
    const errors: string[] = [];
    const coerce = (p: Param, raw: string): unknown =>
      p.type === "integer" || p.type === "number" ? (raw.trim() === "" ? raw : Number(raw)) : raw;
    for (const p of op.params) {
      const raw =
        p.in === "path" ? params[p.name] : p.in === "query" ? url.searchParams.get(p.name) : undefined;
      if (p.in !== "path" && p.in !== "query") continue;
      if (raw === undefined || raw === null) {
        if (p.required) errors.push(`${p.in} parameter ${p.name} is required`);
        continue;
      }
      const check = p.validate();
      if (!check(coerce(p, raw))) errors.push(`${p.in} parameter ${p.name}: ${ajvText(check)}`);
    }
    for (const name of new Set(url.searchParams.keys()))
      if (!op.params.some((p) => p.in === "query" && p.name === name))
        errors.push(`query parameter ${name} is not defined for ${op.operationId}`);
    if (op.body) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString("utf8"));
      } catch {
        errors.push("request body is not JSON");
      }
      const check = op.body();
      if (parsed !== undefined && !check(parsed)) errors.push(`request body: ${ajvText(check)}`);
    } else if (body.length > 0) errors.push(`${op.operationId} takes no request body`);
    if (errors.length) return { ok: false, status: 400, errors };
    return { ok: true, op: { operationId: op.operationId, method, template: route.template, params } };
  }
}

function ajvText(v: ValidateFunction): string {
  return (v.errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || "(root)"} ${e.message ?? "invalid"}`)
    .join("; ");
}
