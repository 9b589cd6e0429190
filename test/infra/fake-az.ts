/**
 * A fake `az` for testing scripts/graph-permissions.sh: only `az rest`, against an in-memory Microsoft
 * Graph directory kept in the JSON file named by FAKE_AZ_STATE. Run as a standalone program (node with
 * type stripping) through a `az` shell shim on PATH.
 *
 * Reproduces (Microsoft Graph v1.0, https://learn.microsoft.com/graph/api/overview):
 * - GET  /servicePrincipals(appId='{appId}') and /servicePrincipals/{id}, 404 when absent;
 * - GET  /servicePrincipals/{id}/appRoleAssignments → {value:[{id, principalId, resourceId, appRoleId}]};
 * - POST /servicePrincipals/{id}/appRoleAssignments {principalId, resourceId, appRoleId} → 201;
 * - DELETE /servicePrincipals/{id}/appRoleAssignments/{assignmentId} → 204;
 * - GET  /applications(appId='{appId}'), GET /applications/{id}/owners (a $select query is accepted);
 * - POST /applications/{id}/owners/$ref {"@odata.id": ".../directoryObjects/{id}"} → 204, 400 when already an owner;
 * - DELETE /applications/{id}/owners/{ownerId}/$ref → 204.
 * And of `az rest` itself: --method/--url/--body/--query/--output; `-o tsv` prints a scalar bare and
 * nothing for null; a failed request prints "ERROR: ..." on stderr and exits 1.
 *
 * Does not reproduce: authentication (--resource is accepted and ignored), paging, any JMESPath beyond the
 * forms `field` and `list[?a=='x' && b=='y'].field | [0]`.
 */
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

interface AppRole {
  id: string;
  value: string;
}
interface ServicePrincipal {
  id: string;
  appId: string;
  appRoles: AppRole[];
  assignments: { id: string; principalId: string; resourceId: string; appRoleId: string }[];
}
interface Application {
  id: string;
  appId: string;
  owners: string[];
}
export interface FakeDirectory {
  servicePrincipals: ServicePrincipal[];
  applications: Application[];
  /** Every mutating request, in order: "METHOD path". */
  writes: string[];
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function arg(args: string[], ...names: string[]): string | undefined {
  const i = args.findIndex((a) => names.includes(a));
  return i >= 0 ? args[i + 1] : undefined;
}

function handle(dir: FakeDirectory, method: string, path: string, body: unknown): unknown {
  const spByAppId = /^\/servicePrincipals\(appId='([^']+)'\)$/.exec(path);
  const spPath = /^\/servicePrincipals\/([^/]+)(\/appRoleAssignments)?(?:\/([^/]+))?$/.exec(path);
  const appByAppId = /^\/applications\(appId='([^']+)'\)$/.exec(path);
  const owners = /^\/applications\/([^/]+)\/owners(?:\/(?!\$ref$)([^/]+))?(\/\$ref)?$/.exec(path);
  const sp = (id: string) => {
    const found = dir.servicePrincipals.find((s) => s.id === id);
    if (!found) throw new HttpError(404, "Request_ResourceNotFound");
    return found;
  };
  if (method === "get" && spByAppId) {
    const found = dir.servicePrincipals.find((s) => s.appId === spByAppId[1]);
    if (!found) throw new HttpError(404, "Request_ResourceNotFound");
    return { id: found.id, appId: found.appId, appRoles: found.appRoles };
  }
  if (spPath && !spPath[2]) {
    const s = sp(spPath[1]!);
    return { id: s.id, appId: s.appId, appRoles: s.appRoles };
  }
  if (spPath && spPath[2]) {
    const s = sp(spPath[1]!);
    if (method === "get") return { value: s.assignments };
    if (method === "post") {
      const b = body as { principalId: string; resourceId: string; appRoleId: string };
      if (b.principalId !== s.id) throw new HttpError(400, "principalId must match the service principal");
      if (!sp(b.resourceId).appRoles.some((r) => r.id === b.appRoleId))
        throw new HttpError(400, "unknown appRoleId");
      const created = { id: randomUUID(), ...b };
      s.assignments.push(created);
      return created;
    }
    if (method === "delete") {
      const before = s.assignments.length;
      s.assignments = s.assignments.filter((a) => a.id !== spPath[3]);
      if (s.assignments.length === before) throw new HttpError(404, "Request_ResourceNotFound");
      return undefined;
    }
  }
  if (method === "get" && appByAppId) {
    const app = dir.applications.find((a) => a.appId === appByAppId[1]);
    if (!app) throw new HttpError(404, "Request_ResourceNotFound");
    return { id: app.id, appId: app.appId };
  }
  if (owners) {
    const app = dir.applications.find((a) => a.id === owners[1]);
    if (!app) throw new HttpError(404, "Request_ResourceNotFound");
    if (method === "get" && !owners[2] && !owners[3]) return { value: app.owners.map((id) => ({ id })) };
    if (method === "post" && !owners[2] && owners[3]) {
      const ref = (body as { "@odata.id": string })["@odata.id"];
      const id = ref.split("/").at(-1)!;
      if (app.owners.includes(id))
        throw new HttpError(400, "One or more added object references already exist");
      app.owners.push(id);
      return undefined;
    }
    if (method === "delete" && owners[2] && owners[3]) {
      if (!app.owners.includes(owners[2])) throw new HttpError(404, "Request_ResourceNotFound");
      app.owners = app.owners.filter((o) => o !== owners[2]);
      return undefined;
    }
  }
  throw new HttpError(400, `unsupported request ${method.toUpperCase()} ${path}`);
}

/** JMESPath subset: `field`, or `list[?a=='x' && b=='y'].field | [0]`. */
function query(value: unknown, expr: string): unknown {
  const filter = /^(\w+)\[\?(.+)\]\.(\w+) \| \[0\]$/.exec(expr);
  if (filter) {
    const list = (value as Record<string, unknown>)[filter[1]!] as Record<string, unknown>[];
    const conditions = filter[2]!.split(" && ").map((c) => /^(\w+)=='([^']*)'$/.exec(c.trim())!);
    const hit = list.find((item) => conditions.every((c) => item[c[1]!] === c[2]));
    return hit?.[filter[3]!] ?? null;
  }
  if (/^\w+$/.test(expr)) return (value as Record<string, unknown>)[expr] ?? null;
  throw new Error(`fake az: unsupported --query ${expr}`);
}

function main(args: string[]): number {
  if (args[0] !== "rest") {
    process.stderr.write(`fake az: only 'az rest' is supported\n`);
    return 2;
  }
  const statePath = process.env.FAKE_AZ_STATE!;
  const dir = JSON.parse(readFileSync(statePath, "utf8")) as FakeDirectory;
  const method = (arg(args, "--method", "-m") ?? "get").toLowerCase();
  const url = new URL(arg(args, "--url", "-u")!);
  const path = decodeURIComponent(url.pathname).replace(/^\/v1\.0/, "");
  const rawBody = arg(args, "--body", "-b");
  try {
    const result = handle(dir, method, path, rawBody === undefined ? undefined : JSON.parse(rawBody));
    if (method !== "get") dir.writes.push(`${method.toUpperCase()} ${path}`);
    writeFileSync(statePath, JSON.stringify(dir));
    const q = arg(args, "--query");
    const out = q === undefined ? result : query(result, q);
    const format = arg(args, "--output", "-o") ?? "json";
    if (format === "none" || out === undefined) return 0;
    if (format === "tsv") {
      if (out !== null) process.stdout.write(`${String(out)}\n`);
      return 0;
    }
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    process.stderr.write(`ERROR: ${e.status} ${e.message}\n`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
