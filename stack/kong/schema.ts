/**
 * The part of Kong's published `openid-connect` config schema that the Kong fake needs: field names, types,
 * defaults and enums of `config`, and the member names and types of a `client_jwk` item.
 *
 * The subsets are committed under `stack/kong/schema/` so that the fake runs without `../shared`. They are
 * derived mechanically by `extractOidcSchemaSubset` from Kong's published JSON schemas
 * (`../shared/fixtures/kong/openid-connect.config-schema.{3.4,3.10,3.15}.json`, the plugin reference at
 * https://developer.konghq.com/plugins/openid-connect/reference/); `stack/kong/schema/update.ts` rewrites
 * them and `test/conformance/kong-schema.test.ts` fails when a committed copy drifts from its fixture.
 */
import { readFileSync } from "node:fs";

export type FieldType = "string" | "number" | "integer" | "boolean" | "array" | "object";

export interface MemberSpec {
  type: FieldType;
  itemsType?: FieldType;
}

export interface ItemSpec {
  type: FieldType;
  enum?: (string | number)[];
  /** For arrays of records (client_jwk): the record's members. */
  members?: Record<string, MemberSpec>;
}

export interface FieldSpec {
  type: FieldType;
  default?: unknown;
  enum?: (string | number)[];
  items?: ItemSpec;
}

export interface OidcSchemaSubset {
  /** The fixture this subset was derived from (relative to the repository root). */
  source: string;
  /** Kong Gateway minor version of the fixture, e.g. "3.10". */
  version: string;
  /** `config.required`. */
  required: string[];
  fields: Record<string, FieldSpec>;
}

/** Kong versions whose published schema is in `../shared/fixtures/kong`. */
export const SCHEMA_VERSIONS = ["3.4", "3.10", "3.15"] as const;
export type SchemaVersion = (typeof SCHEMA_VERSIONS)[number];

const FIELD_TYPES: readonly string[] = ["string", "number", "integer", "boolean", "array", "object"];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function fieldType(v: unknown, where: string): FieldType {
  if (typeof v !== "string" || !FIELD_TYPES.includes(v))
    throw new Error(`${where}: unsupported type ${String(v)}`);
  return v as FieldType;
}

function enumOf(v: unknown): (string | number)[] | undefined {
  return Array.isArray(v)
    ? v.filter((x): x is string | number => typeof x === "string" || typeof x === "number")
    : undefined;
}

function extractItems(items: Record<string, unknown>, where: string): ItemSpec {
  const spec: ItemSpec = { type: fieldType(items.type, where) };
  const e = enumOf(items.enum);
  if (e) spec.enum = e;
  if (spec.type === "object" && isRecord(items.properties)) {
    const members: Record<string, MemberSpec> = {};
    for (const [name, m] of Object.entries(items.properties).sort(([a], [b]) => a.localeCompare(b))) {
      if (!isRecord(m)) throw new Error(`${where}.${name}: not an object`);
      const member: MemberSpec = { type: fieldType(m.type, `${where}.${name}`) };
      if (member.type === "array" && isRecord(m.items))
        member.itemsType = fieldType(m.items.type, `${where}.${name}[]`);
      members[name] = member;
    }
    spec.members = members;
  }
  return spec;
}

/** Derive the subset from one of Kong's published `openid-connect` JSON schemas. */
export function extractOidcSchemaSubset(fixture: unknown, version: string, source: string): OidcSchemaSubset {
  const config = isRecord(fixture) && isRecord(fixture.properties) ? fixture.properties.config : undefined;
  if (!isRecord(config) || !isRecord(config.properties))
    throw new Error(`${source}: no properties.config.properties`);
  const fields: Record<string, FieldSpec> = {};
  for (const [name, f] of Object.entries(config.properties).sort(([a], [b]) => a.localeCompare(b))) {
    if (!isRecord(f)) throw new Error(`${source}: config.${name} is not an object`);
    const spec: FieldSpec = { type: fieldType(f.type, `config.${name}`) };
    if ("default" in f) spec.default = f.default;
    const e = enumOf(f.enum);
    if (e) spec.enum = e;
    if (spec.type === "array" && isRecord(f.items)) spec.items = extractItems(f.items, `config.${name}[]`);
    fields[name] = spec;
  }
  const required = Array.isArray(config.required)
    ? config.required.filter((r): r is string => typeof r === "string")
    : [];
  return { source, version, required, fields };
}

export function subsetPath(version: SchemaVersion): URL {
  return new URL(`./schema/openid-connect.${version}.json`, import.meta.url);
}

export function fixtureFileName(version: SchemaVersion): string {
  return `openid-connect.config-schema.${version}.json`;
}

const cache = new Map<SchemaVersion, OidcSchemaSubset>();

export function loadOidcSchemaSubset(version: SchemaVersion): OidcSchemaSubset {
  let s = cache.get(version);
  if (!s) {
    s = JSON.parse(readFileSync(subsetPath(version), "utf8")) as OidcSchemaSubset;
    cache.set(version, s);
  }
  return s;
}

/**
 * The schema to use for a Kong version string such as "3.10.0.2" or "3.12": the newest published schema
 * not newer than that version (3.4 for anything older).
 */
export function schemaVersionFor(kongVersion: string): SchemaVersion {
  const [major = 0, minor = 0] = kongVersion.split(".").map((p) => Number.parseInt(p, 10));
  let chosen: SchemaVersion = SCHEMA_VERSIONS[0];
  for (const v of SCHEMA_VERSIONS) {
    const [vMajor = 0, vMinor = 0] = v.split(".").map(Number);
    if (major > vMajor || (major === vMajor && minor >= vMinor)) chosen = v;
  }
  return chosen;
}
