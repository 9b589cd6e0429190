/**
 * The three PATCH bodies the Kubernetes API server accepts for built-in kinds, as @kubernetes/client-node
 * sends them (the Content-Type is chosen per call; `PatchStrategy` in client-node's src/patch.ts):
 * - `application/json-patch+json`: RFC 6902 (add, remove, replace, move, copy, test). The API server
 *   applies it with evanphx/json-patch; a failed op is 422 (apiserver handlers/patch.go `applyJSPatch`:
 *   `NewGenericServerResponse(http.StatusUnprocessableEntity, ...)`).
 * - `application/merge-patch+json`: RFC 7386 (objects merge recursively, `null` deletes, arrays and scalars
 *   replace).
 * - `application/strategic-merge-patch+json`: for the fields of a Secret we serve (`data`, `stringData`,
 *   `metadata.labels`, `metadata.annotations` are maps) it is the same as RFC 7386. List merge keys
 *   (`ownerReferences` by uid, `finalizers` as a set) and `$patch`/`$retainKeys` directives are not
 *   reproduced: lists are replaced.
 * `application/apply-patch+yaml` (server-side apply) is not served: 415, which the adapter never triggers.
 */

export class PatchError extends Error {}

type Json = unknown;

const isObject = (v: Json): v is Record<string, Json> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** RFC 7386 MergePatch(target, patch). */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** RFC 6901 pointer tokens. */
function tokens(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new PatchError(`invalid JSON pointer ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc: Json, path: string): { parent: Json; key: string } {
  const t = tokens(path);
  const key = t.pop();
  if (key === undefined) throw new PatchError("cannot operate on the document root");
  let cur: Json = doc;
  for (const k of t) {
    if (Array.isArray(cur)) cur = cur[Number(k)];
    else if (isObject(cur)) cur = cur[k];
    else cur = undefined;
    if (cur === undefined) throw new PatchError(`missing path: ${path}`);
  }
  return { parent: cur, key };
}

function get(doc: Json, path: string): Json {
  let cur: Json = doc;
  for (const k of tokens(path)) {
    if (Array.isArray(cur)) cur = cur[Number(k)];
    else if (isObject(cur)) cur = cur[k];
    else return undefined;
  }
  return cur;
}

function add(doc: Json, path: string, value: Json): void {
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) {
    const i = key === "-" ? parent.length : Number(key);
    if (!Number.isInteger(i) || i < 0 || i > parent.length)
      throw new PatchError(`index out of bounds: ${path}`);
    parent.splice(i, 0, structuredClone(value));
  } else if (isObject(parent)) parent[key] = structuredClone(value);
  else throw new PatchError(`missing path: ${path}`);
}

function remove(doc: Json, path: string): void {
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= parent.length)
      throw new PatchError(`index out of bounds: ${path}`);
    parent.splice(i, 1);
  } else if (isObject(parent) && key in parent) delete parent[key];
  else throw new PatchError(`missing path: ${path}`);
}

/** RFC 6902 applied to a copy of `doc`. */
export function jsonPatch(doc: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new PatchError("a JSON patch must be an array of operations");
  const out = structuredClone(doc);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== "string" || typeof raw.path !== "string")
      throw new PatchError("every operation needs op and path");
    const { op, path } = raw;
    switch (op) {
      case "add":
        add(out, path, raw.value);
        break;
      case "remove":
        remove(out, path);
        break;
      case "replace":
        if (get(out, path) === undefined)
          throw new PatchError(`replace operation does not apply: doc is missing key: ${path}`);
        remove(out, path);
        add(out, path, raw.value);
        break;
      case "move":
      case "copy": {
        if (typeof raw.from !== "string") throw new PatchError(`${op} needs from`);
        const v = get(out, raw.from);
        if (v === undefined) throw new PatchError(`missing path: ${raw.from}`);
        if (op === "move") remove(out, raw.from);
        add(out, path, v);
        break;
      }
      case "test":
        if (JSON.stringify(get(out, path)) !== JSON.stringify(raw.value))
          throw new PatchError(`testing value ${path} failed: test failed`);
        break;
      default:
        throw new PatchError(`Unexpected kind: ${op}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Selectors (k8s.io/apimachinery pkg/labels and pkg/fields)
// ---------------------------------------------------------------------------------------------

export type Requirement =
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!exists" };

/**
 * Label selector grammar of pkg/labels/selector.go: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
 * `k`, `!k`, comma-separated (AND).
 */
export function parseLabelSelector(s: string): Requirement[] {
  const out: Requirement[] = [];
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur);
  for (const p of parts.map((x) => x.trim()).filter(Boolean)) {
    let m: RegExpExecArray | null;
    if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p)))
      out.push({
        key: m[1] ?? "",
        op: m[2] === "in" ? "in" : "notin",
        values: (m[3] ?? "").split(",").map((v) => v.trim()),
      });
    else if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(p)))
      out.push({ key: m[1] ?? "", op: m[2] === "!=" ? "!=" : "=", value: m[3] ?? "" });
    else if ((m = /^!([\w./-]+)$/.exec(p))) out.push({ key: m[1] ?? "", op: "!exists" });
    else if ((m = /^([\w./-]+)$/.exec(p))) out.push({ key: m[1] ?? "", op: "exists" });
    else throw new PatchError(`unable to parse requirement: ${p}`);
  }
  return out;
}

export function matchesLabels(reqs: Requirement[], labels: Record<string, string> = {}): boolean {
  return reqs.every((r) => {
    const v = labels[r.key];
    switch (r.op) {
      case "=":
        return v === r.value;
      case "!=":
        return v !== r.value;
      case "in":
        return v !== undefined && r.values.includes(v);
      case "notin":
        return v === undefined || !r.values.includes(v);
      case "exists":
        return v !== undefined;
      case "!exists":
        return v === undefined;
    }
  });
}

/** Field selector: `a=b`, `a==b`, `a!=b`, comma-separated (pkg/fields/selector.go). */
export function parseFieldSelector(s: string): { key: string; op: "=" | "!="; value: string }[] {
  return s
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(p);
      if (!m) throw new PatchError(`invalid selector: '${p}'; can't understand '${p}'`);
      return { key: m[1] ?? "", op: m[2] === "!=" ? "!=" : "=", value: m[3] ?? "" };
    });
}
