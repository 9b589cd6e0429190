/**
 * Cuts a vendor's published API description down to what the product and the fakes use (the rules are in
 * ./README.md, "How the files were trimmed"), and turns KIC's CustomResourceDefinitions into the
 * operations the Kubernetes API server publishes for them.
 *
 *   npx tsx stack/specs/trim.ts <file under stack/specs> <full source document(s)>
 *
 * rewrites that file from the full document(s) named in ./sources.ts (for the Kong and Konnect documents,
 * ../shared/fixtures/kong; test/conformance/spec-files.test.ts checks those two against their fixtures).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { SOURCES, type VendoredSpec } from "./sources.js";

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Keywords that only document (dropped); `x-` extensions are dropped too, but for these. */
const PROSE = new Set(["description", "summary", "example", "examples", "externalDocs", "title", "tags"]);
const KEPT_EXTENSIONS = new Set(["x-nullable"]);
/** Keywords whose value maps names to schemas (or parameters, media types...): names are never dropped. */
const NAME_MAPS = new Set([
  "properties",
  "patternProperties",
  "definitions",
  "schemas",
  "parameters",
  "requestBodies",
  "content",
  "paths",
  "responses",
  "$defs",
  "dependentSchemas",
]);

function strip(v: unknown, names = false): unknown {
  if (Array.isArray(v)) return v.map((x) => strip(x));
  if (!isRecord(v)) return v;
  const out: Json = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === "responses" && !names) {
      out[k] = x;
      continue;
    }
    if (!names && (PROSE.has(k) || (k.startsWith("x-") && !KEPT_EXTENSIONS.has(k)))) continue;
    out[k] = names ? strip(x) : strip(x, NAME_MAPS.has(k) && isRecord(x) && !Array.isArray(x));
  }
  return out;
}

function refsOf(v: unknown, into: Set<string>): void {
  if (Array.isArray(v)) v.forEach((x) => refsOf(x, into));
  else if (isRecord(v))
    for (const [k, x] of Object.entries(v)) {
      if (k === "$ref" && typeof x === "string") into.add(x);
      else refsOf(x, into);
    }
}

function pointer(doc: Json, ref: string): unknown {
  let cur: unknown = doc;
  for (const part of ref.replace(/^#\//, "").split("/")) cur = isRecord(cur) ? cur[part] : undefined;
  return cur;
}

/** The kept operations, with the components their requests refer to (responses keep their status only). */
export function trimDocument(doc: Json, spec: VendoredSpec): Json {
  const paths: Json = {};
  const wanted = new Set<string>();
  for (const entry of spec.operations) {
    const [method = "", template = ""] = entry.split(" ");
    const item = isRecord(doc.paths) ? doc.paths[template] : undefined;
    const op = isRecord(item) ? item[method.toLowerCase()] : undefined;
    if (!isRecord(item) || !isRecord(op)) throw new Error(`${spec.file}: the source has no ${entry}`);
    const kept: Json = (paths[template] as Json | undefined) ?? {};
    if (item.parameters !== undefined) kept.parameters = item.parameters;
    const responses = isRecord(op.responses) ? op.responses : {};
    kept[method.toLowerCase()] = {
      ...Object.fromEntries(
        ["operationId", "parameters", "requestBody", "consumes"]
          .filter((k) => op[k] !== undefined)
          .map((k) => [k, op[k]]),
      ),
      responses: Object.fromEntries(
        Object.entries(responses).map(([code, r]) => [
          code,
          { description: isRecord(r) && typeof r.description === "string" ? r.description : "" },
        ]),
      ),
    };
    paths[template] = kept;
    refsOf(kept, wanted);
  }
  const stubs = new Set(spec.stubs ?? []);
  const components: Record<string, Json> = {};
  const queue = [...wanted];
  const seen = new Set<string>();
  while (queue.length) {
    const ref = queue.shift() ?? "";
    if (seen.has(ref)) continue;
    seen.add(ref);
    const parts = ref.replace(/^#\//, "").split("/");
    const target = pointer(doc, ref);
    if (target === undefined) throw new Error(`${spec.file}: unresolved ${ref}`);
    const name = parts[parts.length - 1] ?? "";
    const value = stubs.has(name) ? {} : target;
    let node = components;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, Json>;
    node[name] = value as Json;
    const more = new Set<string>();
    refsOf(value, more);
    queue.push(...more);
  }
  const top = Object.fromEntries(
    ["openapi", "swagger", "servers", "host", "basePath", "consumes", "produces"]
      .filter((k) => doc[k] !== undefined)
      .map((k) => [k, doc[k]]),
  );
  const info = isRecord(doc.info) ? doc.info : {};
  return {
    ...top,
    info: { title: info.title, version: info.version, "x-source": sourceNote(spec) },
    paths: strip(paths, true),
    ...(strip(components, true) as Json),
  };
}

function sourceNote(spec: VendoredSpec): Json {
  return {
    repository: spec.repository,
    path: spec.path,
    commit: spec.commit,
    date: spec.date,
    trimmed: "stack/specs/README.md",
  };
}

const LIST_PARAMETERS = [
  ["allowWatchBookmarks", "boolean"],
  ["continue", "string"],
  ["fieldSelector", "string"],
  ["labelSelector", "string"],
  ["limit", "integer"],
  ["resourceVersion", "string"],
  ["resourceVersionMatch", "string"],
  ["sendInitialEvents", "boolean"],
  ["timeoutSeconds", "integer"],
  ["watch", "boolean"],
] as const;

const query = (name: string, type: string): Json => ({
  in: "query",
  name,
  schema: { type, uniqueItems: true },
});

/**
 * The read operations the API server publishes for each served version of a CustomResourceDefinition
 * (apiextensions-apiserver pkg/controller/openapi/builder) that the fake serves: list (in a namespace for a
 * namespaced resource) and read, with the CRD's structural schema as the resource's schema.
 */
export function crdDocument(crds: Json[], spec: VendoredSpec): Json {
  const paths: Json = {};
  const schemas: Json = {};
  for (const crd of crds) {
    const s = isRecord(crd.spec) ? crd.spec : {};
    const names = isRecord(s.names) ? s.names : {};
    const [group, plural, kind] = [String(s.group), String(names.plural), String(names.kind)];
    const groupId = group
      .split(".")
      .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
      .join("");
    for (const version of Array.isArray(s.versions) ? s.versions : []) {
      if (!isRecord(version) || version.served !== true) continue;
      const v = String(version.name);
      const id = `${groupId}${v.charAt(0).toUpperCase()}${v.slice(1)}`;
      const schemaName = `${group}.${v}.${kind}`;
      const validation = isRecord(version.schema) ? version.schema.openAPIV3Schema : undefined;
      schemas[schemaName] = strip(validation ?? { type: "object" });
      const base = `/apis/${group}/${v}`;
      const pretty = query("pretty", "string");
      const list = {
        parameters: LIST_PARAMETERS.map(([n, t]) => query(n, t)),
        responses: { 200: { description: "OK" } },
      };
      const read = { responses: { 200: { description: "OK" } } };
      const namePath = {
        in: "path",
        name: "name",
        required: true,
        schema: { type: "string", uniqueItems: true },
      };
      const nsPath = {
        in: "path",
        name: "namespace",
        required: true,
        schema: { type: "string", uniqueItems: true },
      };
      if (s.scope === "Namespaced") {
        paths[`${base}/namespaces/{namespace}/${plural}`] = {
          get: { operationId: `list${id}Namespaced${kind}`, ...list },
          parameters: [nsPath, pretty],
        };
        paths[`${base}/namespaces/{namespace}/${plural}/{name}`] = {
          get: { operationId: `read${id}Namespaced${kind}`, ...read },
          parameters: [namePath, nsPath, pretty],
        };
      } else {
        paths[`${base}/${plural}`] = {
          get: { operationId: `list${id}${kind}`, ...list },
          parameters: [pretty],
        };
        paths[`${base}/${plural}/{name}`] = {
          get: { operationId: `read${id}${kind}`, ...read },
          parameters: [namePath, pretty],
        };
      }
    }
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes custom resources", version: "unversioned", "x-source": sourceNote(spec) },
    paths,
    components: { schemas },
  };
}

export function readDocument(path: string): Json {
  const text = readFileSync(path, "utf8");
  return (path.endsWith(".json") ? JSON.parse(text) : parseYaml(text)) as Json;
}

export const SPECS_DIR = fileURLToPath(new URL("./", import.meta.url));

export function render(doc: Json): string {
  return JSON.stringify(doc, null, 2) + "\n";
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, ...inputs] = process.argv.slice(2);
  const spec = SOURCES.find((s) => s.file === file);
  if (!spec || inputs.length === 0) {
    console.error(`usage: tsx stack/specs/trim.ts <${SOURCES.map((s) => s.file).join("|")}> <source...>`);
    process.exit(2);
  }
  const docs = inputs.map(readDocument);
  const out = spec.kind === "crds" ? crdDocument(docs, spec) : trimDocument(docs[0] ?? {}, spec);
  writeFileSync(`${SPECS_DIR}${spec.file}`, render(out));
  console.log(`wrote stack/specs/${spec.file}`);
}
