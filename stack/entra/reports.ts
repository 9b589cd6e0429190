/**
 * Microsoft Graph's sign-in activity reports for applications, as the Entra fake records them from its own
 * token endpoint (every successful client-credentials sign-in of an application, ./login.ts). Both exist in
 * the beta endpoint only; there is no v1.0 version of either, so `/v1.0/reports/…` is Graph's 400 for an
 * unknown segment. Both are served by the global service only, not by the national clouds.
 *
 * - `GET /beta/reports/servicePrincipalSignInActivities[/{id}]`
 *   (https://learn.microsoft.com/graph/api/reportroot-list-serviceprincipalsigninactivities?view=graph-rest-beta,
 *   resource https://learn.microsoft.com/graph/api/resources/serviceprincipalsigninactivity?view=graph-rest-beta):
 *   one row per application with `id` (base64 of the appId, as in the documented examples), `appId`,
 *   `lastSignInActivity` and the four per-flow activities; a client-credentials sign-in is
 *   `applicationAuthenticationClientSignInActivity`. It is per application, not per credential.
 * - `GET /beta/reports/appCredentialSignInActivities[/{id}]`
 *   (https://learn.microsoft.com/graph/api/reportroot-list-appcredentialsigninactivities?view=graph-rest-beta,
 *   resource https://learn.microsoft.com/graph/api/resources/appcredentialsigninactivity?view=graph-rest-beta):
 *   one row per credential that signed in, by `keyId`, with `keyType` (`clientSecret` or `certificate`),
 *   `keyUsage`, `credentialOrigin` `application`, `appId`, `appObjectId`, `servicePrincipalObjectId`,
 *   `resourceId`, `createdDateTime`, `expirationDateTime` and `signInActivity`; `id` is base64 of
 *   `<keyId>|<credentialOrigin>` (the documented examples).
 *   This is the report a product uses to tell whether one client secret is still in use: filter by its
 *   keyId (`$filter=keyId eq '…'`). The per-application report cannot tell a secret from a certificate.
 * - Permissions: AuditLog.Read.All or Directory.Read.All (application), else 403
 *   Authorization_RequestDenied.
 * - `$filter` with `appId eq '…'` (both) or `keyId eq '…'` (credentials), and `$top`; a filtered list is a
 *   collection (`{value: […]}`, OData), although one documented example shows a bare object.
 *
 * Where the documentation disagrees with itself, the resource page wins: `keyType` values are `clientSecret`
 * and `certificate` and the expiry is `expirationDateTime` (the list page's examples show `secret` and
 * `expirationDate`). `keyUsage` is `sign` for a credential the client authenticates with (the examples show
 * `sign` for credentials of origin `application`).
 *
 * Not reproduced: delegated and resource-side activity (their activities are `{lastSignInDateTime: null,
 * lastSignInRequestId: null}`), `$orderby`, paging, the reports' real latency (configurable with
 * `delayMs`, default 0), failed and partial sign-ins (the preview may count them; the fake records
 * successes only), licensing.
 */
import type { AccessTokenClaims } from "../common/auth.js";
import type { Reply, Request } from "../common/server.js";
import type { CredentialSignIn, Directory, SignIn, StoredApp } from "./directory.js";
import { graphDate } from "./errors.js";

export class GraphFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export const REPORTS_PATH = /^\/(?:beta|v1\.0)\/reports\//;
const ROUTE =
  /^\/beta\/reports\/(servicePrincipalSignInActivities|appCredentialSignInActivities)(?:\/([^/]+)|\('([^']+)'\))?\/?$/;
const READ_ROLES = ["AuditLog.Read.All", "Directory.Read.All"];

/** Applications' well-known resource app ids, for `resourceId`. */
const RESOURCE_APP_IDS: Record<string, string> = {
  "https://graph.microsoft.com": "00000003-0000-0000-c000-000000000000",
  "https://vault.azure.net": "cfa8b339-82a2-471a-a3c9-0fc0be7a4093",
};

const noActivity = { lastSignInDateTime: null, lastSignInRequestId: null };
const activity = (s: SignIn) => ({ lastSignInDateTime: graphDate(s.at), lastSignInRequestId: s.requestId });
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

function servicePrincipalRow(appId: string, s: SignIn): Record<string, unknown> {
  return {
    id: b64(appId),
    appId,
    applicationAuthenticationClientSignInActivity: activity(s),
    applicationAuthenticationResourceSignInActivity: noActivity,
    delegatedClientSignInActivity: noActivity,
    delegatedResourceSignInActivity: noActivity,
    lastSignInActivity: activity(s),
  };
}

function credentialRow(c: CredentialSignIn, app: StoredApp | undefined): Record<string, unknown> {
  const key = app?.keys.find((k) => k.keyId === c.keyId);
  const password = app?.passwords.find((p) => p.keyId === c.keyId);
  const created = key?.addedAt ?? password?.addedAt;
  const expires = key?.end ?? password?.end;
  return {
    id: b64(`${c.keyId}|application`),
    appId: c.appId,
    appObjectId: app?.objectId ?? null,
    createdDateTime: created === undefined ? null : graphDate(new Date(created)),
    credentialOrigin: "application",
    expirationDateTime: expires ? graphDate(expires) : null,
    keyId: c.keyId,
    keyType: c.keyType,
    keyUsage: "sign",
    resourceId: RESOURCE_APP_IDS[c.resource] ?? c.resource,
    servicePrincipalObjectId: app?.servicePrincipalObjectId ?? null,
    signInActivity: activity(c),
  };
}

const notFoundSegment = (path: string) =>
  new GraphFailure(
    400,
    "BadRequest",
    `Resource not found for the segment '${path.split("/").filter(Boolean).pop() ?? ""}'.`,
  );

/** `appId eq '…'` or `keyId eq '…'`; undefined when absent. */
function parseFilter(raw: string | null, fields: string[]): { field: string; value: string } | undefined {
  if (raw === null) return undefined;
  const m = /^\s*(\w+)\s+eq\s+'([^']*)'\s*$/.exec(raw);
  if (!m?.[1] || m[2] === undefined || !fields.includes(m[1]))
    throw new GraphFailure(400, "Request_UnsupportedQuery", "Unsupported query.");
  return { field: m[1], value: m[2] };
}

export function reportsHandler(opts: {
  directory: Directory;
  base: () => string;
  delayMs?: number;
}): (req: Request, caller: AccessTokenClaims) => Reply {
  const { directory } = opts;
  const visible = (s: SignIn) => s.at.getTime() + (opts.delayMs ?? 0) <= Date.now();

  return (req, caller) => {
    const m = ROUTE.exec(req.path);
    if (!m?.[1]) throw notFoundSegment(req.path);
    if (req.method !== "GET")
      throw new GraphFailure(
        405,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request uri.",
      );
    if (!READ_ROLES.some((r) => caller.roles?.includes(r)))
      throw new GraphFailure(
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
      );
    const report = m[1];
    const rawId = m[2] ?? m[3];
    let id: string | undefined;
    try {
      id = rawId === undefined ? undefined : decodeURIComponent(rawId);
    } catch {
      throw notFoundSegment(req.path);
    }
    for (const name of req.url.searchParams.keys())
      if (!["$filter", "$top"].includes(name))
        throw new GraphFailure(400, "Request_UnsupportedQuery", `Query option '${name}' is not supported.`);
    const top = req.url.searchParams.get("$top");
    const limit = top === null ? Number.MAX_SAFE_INTEGER : Number(top);
    if (!Number.isInteger(limit) || limit < 0)
      throw new GraphFailure(400, "BadRequest", `Invalid value '${top ?? ""}' for query option '$top'.`);

    let rows: Record<string, unknown>[];
    if (report === "servicePrincipalSignInActivities") {
      const filter = parseFilter(req.url.searchParams.get("$filter"), ["appId"]);
      rows = [...directory.appSignIns.entries()]
        .filter(([appId, s]) => visible(s) && (!filter || appId.toLowerCase() === filter.value.toLowerCase()))
        .map(([appId, s]) => servicePrincipalRow(appId, s));
    } else {
      const filter = parseFilter(req.url.searchParams.get("$filter"), ["appId", "keyId"]);
      rows = [...directory.credentialSignIns.values()]
        .filter(
          (c) =>
            visible(c) &&
            (!filter ||
              (filter.field === "appId" ? c.appId : c.keyId).toLowerCase() === filter.value.toLowerCase()),
        )
        .map((c) => credentialRow(c, directory.appByAppId(c.appId)));
    }
    const context = `${opts.base()}/beta/$metadata#reports/${report}`;
    if (id !== undefined) {
      const row = rows.find((r) => r.id === id);
      if (!row)
        throw new GraphFailure(
          404,
          "Request_ResourceNotFound",
          `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
        );
      return { status: 200, body: { "@odata.context": `${context}/$entity`, ...row } };
    }
    return { status: 200, body: { "@odata.context": context, value: rows.slice(0, limit) } };
  };
}
