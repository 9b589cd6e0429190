/**
 * Write-time validation of a plugin entity the way Kong's schema library reports it, for the fake.
 *
 * Real behaviours reproduced (sources):
 * - Error body `{code: 2, name: "schema violation", message, fields}` and the message format
 *   "schema violation (<field>.<sub>: <pretty value>)" / "<n> schema violations (a; b)":
 *   kong/db/errors.lua `schema_violation` (https://github.com/Kong/kong/blob/master/kong/db/errors.lua).
 * - Field messages "unknown field", "required field missing", "expected a string|number|integer|boolean",
 *   "expected an array", "expected a record", "expected one of: a, b": kong/db/schema/init.lua validators.
 * - Errors inside arrays are keyed by 1-based position; cjson encodes them as JSON arrays padded with null.
 * - Fields Kong does not know in `config` (or in a `client_jwk` item) are rejected; member names, types,
 *   enums and defaults come from Kong's published schema (see ./schema.ts).
 * - Empty strings are refused, in fields, array items and JWK members: "length must be at least 1"
 *   (kong/db/schema/init.lua: "empty strings are not accepted by default", `len_min` 1 unless a field sets
 *   its own; the published JSON schemas do not show this default). So `client_secret: ["", "…"]` is not a
 *   way to empty one entry of the parallel arrays.
 *
 * Stricter than Kong (documented in docs/local-stack/kong.md): Kong's JWK record
 * (kong/plugins/openid-connect/typedefs.lua) has no required members and a free-form `alg`. The fake also
 * requires `kty`, `n` and `e` for RSA, and an `alg` from the schema's `client_alg` enum, because the
 * gateway cannot sign a client assertion without them; a write that Kong would accept but that could never
 * log in is surfaced at write time instead of at the first login.
 *
 * Not reproduced: nested records (`redis`, `cluster_cache_redis`, ...) are type-checked but not validated
 * member by member; numeric ranges, URL formats, shorthand fields and entity checks are not modelled.
 */
import type { FieldSpec, FieldType, ItemSpec, OidcSchemaSubset } from "./schema.js";

export type FieldErrors = Record<string, unknown>;

export interface SchemaViolationBody {
  code: 2;
  name: "schema violation";
  message: string;
  fields: FieldErrors;
}

const TYPE_MESSAGE: Record<FieldType, string> = {
  string: "expected a string",
  number: "expected a number",
  integer: "expected an integer",
  boolean: "expected a boolean",
  array: "expected an array",
  object: "expected a record",
};

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function hasType(v: unknown, type: FieldType): boolean {
  switch (type) {
    case "string":
      return typeof v === "string";
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "boolean":
      return typeof v === "boolean";
    case "array":
      return Array.isArray(v);
    case "object":
      return isRecord(v);
  }
}

const oneOf = (values: readonly (string | number)[]): string => `expected one of: ${values.join(", ")}`;
const EMPTY = "length must be at least 1";

/** Kong reports array element errors by position; cjson turns the sparse Lua table into a padded array. */
function positional(errors: Map<number, unknown>): unknown[] | undefined {
  if (errors.size === 0) return undefined;
  const out: unknown[] = new Array(Math.max(...errors.keys()) + 1).fill(null);
  for (const [i, e] of errors) out[i] = e;
  return out;
}

function validateJwk(
  item: unknown,
  spec: ItemSpec,
  algEnum: readonly (string | number)[] | undefined,
): unknown {
  if (!isRecord(item)) return TYPE_MESSAGE.object;
  const members = spec.members ?? {};
  const errors: FieldErrors = {};
  for (const [name, value] of Object.entries(item)) {
    const m = members[name];
    if (!m) errors[name] = "unknown field";
    else if (value === null) continue;
    else if (!hasType(value, m.type)) errors[name] = TYPE_MESSAGE[m.type];
    else if (value === "") errors[name] = EMPTY;
    else if (m.type === "array" && m.itemsType) {
      const itemType = m.itemsType;
      const bad = new Map<number, unknown>();
      (value as unknown[]).forEach((x, i) => {
        if (!hasType(x, itemType)) bad.set(i, TYPE_MESSAGE[itemType]);
        else if (x === "") bad.set(i, EMPTY);
      });
      const p = positional(bad);
      if (p) errors[name] = p;
    }
  }
  const present = (k: string) => item[k] !== undefined && item[k] !== null;
  if (!present("kty")) errors.kty ??= "required field missing";
  if (item.kty === "RSA") for (const k of ["n", "e"]) if (!present(k)) errors[k] ??= "required field missing";
  if (present("alg") && typeof item.alg === "string" && algEnum && !algEnum.includes(item.alg))
    errors.alg ??= oneOf(algEnum);
  return Object.keys(errors).length ? errors : undefined;
}

function validateField(value: unknown, spec: FieldSpec, schema: OidcSchemaSubset): unknown {
  if (!hasType(value, spec.type)) return TYPE_MESSAGE[spec.type];
  if (value === "") return EMPTY;
  if (spec.enum && !spec.enum.includes(value as string | number)) return oneOf(spec.enum);
  if (spec.type !== "array" || !spec.items) return undefined;
  const items = spec.items;
  const bad = new Map<number, unknown>();
  (value as unknown[]).forEach((x, i) => {
    let e: unknown;
    if (items.members) e = validateJwk(x, items, schema.fields.client_alg?.items?.enum);
    else if (!hasType(x, items.type)) e = TYPE_MESSAGE[items.type];
    else if (x === "") e = EMPTY;
    else if (items.enum && !items.enum.includes(x as string | number)) e = oneOf(items.enum);
    if (e !== undefined) bad.set(i, e);
  });
  return positional(bad);
}

/** Field errors for an openid-connect `config`, keyed like Kong's (`{client_jwk: [null, {kty: ...}]}`). */
function validateOidcConfig(
  config: Record<string, unknown>,
  schema: OidcSchemaSubset,
): FieldErrors | undefined {
  const errors: FieldErrors = {};
  for (const [name, value] of Object.entries(config)) {
    const spec = schema.fields[name];
    if (!spec) errors[name] = "unknown field";
    else if (value !== null) {
      const e = validateField(value, spec, schema);
      if (e !== undefined) errors[name] = e;
    }
  }
  for (const r of schema.required)
    if (config[r] === undefined || config[r] === null) errors[r] ??= "required field missing";
  return Object.keys(errors).length ? errors : undefined;
}

/**
 * The plugin entity's own fields (Admin API spec, components.schemas.Plugin, additionalProperties: false).
 */
const ENTITY_FIELDS = new Set([
  "id",
  "name",
  "instance_name",
  "created_at",
  "updated_at",
  "route",
  "service",
  "consumer",
  "consumer_group",
  "protocols",
  "enabled",
  "tags",
  "config",
  "ordering",
  "partials",
]);

/**
 * An entity tag: printable ASCII except space, ',' and '/', or UTF-8 (kong/db/schema/typedefs.lua `tag`;
 * spec/02-integration/03-db/07-tags_spec.lua rejects "invalid tag" with "invalid value: invalid tag").
 */
const TAG = /^[\x21-\x2B\x2D\x2E\x30-\x7E\x80-\u{10FFFF}]+$/u;

/** Field errors for a whole plugin entity after merge; `config` is checked only for openid-connect. */
export function validatePluginEntity(
  entity: Record<string, unknown>,
  schema: OidcSchemaSubset,
): FieldErrors | undefined {
  const errors: FieldErrors = {};
  for (const key of Object.keys(entity)) if (!ENTITY_FIELDS.has(key)) errors[key] = "unknown field";
  if (typeof entity.name !== "string" || entity.name === "")
    errors.name =
      entity.name === undefined || entity.name === null ? "required field missing" : TYPE_MESSAGE.string;
  if (entity.enabled !== undefined && typeof entity.enabled !== "boolean")
    errors.enabled = TYPE_MESSAGE.boolean;
  for (const key of ["tags", "protocols"] as const) {
    const v = entity[key];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v)) errors[key] = TYPE_MESSAGE.array;
    else {
      const bad = new Map<number, unknown>();
      v.forEach((x, i) => {
        if (typeof x !== "string") bad.set(i, TYPE_MESSAGE.string);
        else if (key === "tags" && !TAG.test(x)) bad.set(i, `invalid value: ${x}`);
      });
      const p = positional(bad);
      if (p) errors[key] = p;
    }
  }
  if (entity.name === "openid-connect") {
    if (!isRecord(entity.config))
      errors.config =
        entity.config === undefined || entity.config === null
          ? "required field missing"
          : TYPE_MESSAGE.object;
    else {
      const e = validateOidcConfig(entity.config, schema);
      if (e) errors.config = e;
    }
  } else if (entity.config !== undefined && entity.config !== null && !isRecord(entity.config))
    errors.config = TYPE_MESSAGE.object;
  return Object.keys(errors).length ? errors : undefined;
}

/**
 * Kong returns every schema field: the stored value, else the default, else null; records inside arrays
 * (client_jwk items) likewise carry all their members, unset ones as null (the Admin API reads with
 * `nulls = true`, kong/api/endpoints.lua `extract_options`; kong/db/schema/init.lua `process_auto_fields`).
 */
export function withDefaults(
  config: Record<string, unknown>,
  schema: OidcSchemaSubset,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema.fields)) {
    const v = config[name];
    const members = spec.items?.members;
    if (members && Array.isArray(v))
      out[name] = v.map((item) =>
        isRecord(item) ? Object.fromEntries(Object.keys(members).map((m) => [m, item[m] ?? null])) : item,
      );
    else out[name] = v !== undefined ? v : spec.default !== undefined ? structuredClone(spec.default) : null;
  }
  for (const [name, value] of Object.entries(config)) if (!(name in out)) out[name] = value;
  return out;
}

const LUA_IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A rendering of a Lua table in the style of Penlight's `pl.pretty.write`, which Kong uses in messages. */
export function luaPretty(value: unknown, indent = ""): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || value === undefined) return "nil";
  if (typeof value !== "object") return String(value);
  const inner = indent + "  ";
  const entries: string[] = [];
  if (Array.isArray(value)) {
    const dense = value.every((v) => v !== null);
    value.forEach((v, i) => {
      if (v === null) return;
      entries.push(dense ? inner + luaPretty(v, inner) : `${inner}[${i + 1}] = ${luaPretty(v, inner)}`);
    });
  } else {
    for (const [k, v] of Object.entries(value).sort(([a], [b]) => a.localeCompare(b))) {
      entries.push(`${inner}${LUA_IDENT.test(k) ? k : `[${JSON.stringify(k)}]`} = ${luaPretty(v, inner)}`);
    }
  }
  return entries.length ? `{\n${entries.join(",\n")}\n${indent}}` : "{}";
}

/** The 400 body Kong sends for schema violations (kong/db/errors.lua `schema_violation`). */
export function schemaViolation(fields: FieldErrors): SchemaViolationBody {
  const parts: string[] = [];
  for (const name of Object.keys(fields).sort()) {
    const e = fields[name];
    if (isRecord(e)) {
      for (const sub of Object.keys(e).sort()) {
        const v = e[sub];
        parts.push(`${name}.${sub}: ${typeof v === "string" ? v : luaPretty(v)}`);
      }
    } else if (Array.isArray(e)) {
      e.forEach((v, i) => {
        if (v !== null) parts.push(`${name}.${i + 1}: ${typeof v === "string" ? v : luaPretty(v)}`);
      });
    } else parts.push(`${name}: ${String(e)}`);
  }
  const message =
    parts.length === 1
      ? `schema violation (${parts[0]})`
      : `${parts.length} schema violations (${parts.join("; ")})`;
  return { code: 2, name: "schema violation", message, fields };
}
