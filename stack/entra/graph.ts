/**
 * Microsoft Graph v1.0, the application endpoints the rotator uses:
 * - `GET /v1.0/applications?$filter=appId eq '…'`, `GET /v1.0/applications/{id}`,
 *   `GET /v1.0/applications(appId='{appId}')` (https://learn.microsoft.com/graph/api/application-get);
 * - `PATCH /v1.0/applications/{id}` with `keyCredentials`, which replaces the whole collection
 *   (https://learn.microsoft.com/graph/api/application-update, https://learn.microsoft.com/graph/applications-how-to-add-certificate);
 * - `POST …/addKey` and `…/removeKey` with a proof of possession
 *   (https://learn.microsoft.com/graph/api/application-addkey, https://learn.microsoft.com/graph/api/application-removekey,
 *    https://learn.microsoft.com/graph/application-rollkey-prooftoken);
 * - `POST …/addPassword` (200 with the new passwordCredential, `secretText` included, the only time Graph
 *   returns it) and `POST …/removePassword` `{keyId}` (204), by object id or `(appId='…')`; they need
 *   Application.ReadWrite.OwnedBy as an owner, Application.ReadWrite.All or Directory.ReadWrite.All. Unlike
 *   addKey there is no exemption for an app managing its own secrets: the permission tables of both pages
 *   list no such case (https://learn.microsoft.com/graph/api/application-addpassword#permissions,
 *   https://learn.microsoft.com/graph/api/application-removepassword#permissions);
 * - `passwordCredentials` on applications with `secretText` null
 *   (https://learn.microsoft.com/graph/api/resources/passwordcredential);
 * - the beta sign-in activity reports (./reports.ts).
 * Callers authenticate with a bearer token for Graph issued by the fake authority; application roles in
 * the token's `roles` claim decide what they may do (https://learn.microsoft.com/graph/permissions-reference).
 * Every authenticated request is then validated against Graph's published v1.0 description of these
 * operations (stack/specs/graph/; stack/common/openapi.ts), actions by qualified (`microsoft.graph.addKey`)
 * or bare name: a path with no operation is 400 "Resource not found for the segment", a method the path does
 * not have 405 Request_BadRequest, bad query options or a body that does not match the entity 400 BadRequest
 * (https://learn.microsoft.com/graph/errors).
 * Does not reproduce: other application properties, OData beyond `appId eq '…'` and `$select`, paging,
 * `$batch`, ETags (Graph has none on applications either), replication lag, or Graph's throttling limits.
 * Assumed where Microsoft documents nothing: removeKey and removePassword of an unknown keyId answer 400
 * Request_BadRequest; addKey does not refuse a certificate the application already has; addPassword ignores
 * `keyId`, `hint` and `secretText` in its body (the secret is always generated) and refuses an
 * `endDateTime` not after `startDateTime` with 400 Request_BadRequest; PATCH cannot change
 * passwordCredentials (Graph's documented way is addPassword/removePassword).
 */
import { compactVerify, decodeProtectedHeader } from "jose";
import { bearer, type AccessTokenClaims, type LocalTokenIssuer } from "../common/auth.js";
import { SlidingWindow } from "../common/ratelimit.js";
import { startHttpsServer, type Reply, type Request, type RunningServer } from "../common/server.js";
import type { ServerTls } from "../common/tls.js";
import {
  InvalidCertificateError,
  type Directory,
  type StoredApp,
  type StoredKey,
  type StoredPassword,
} from "./directory.js";
import { graphDate, graphError } from "./errors.js";
import type { Rejection } from "../common/openapi.js";
import { suite } from "../specs/index.js";
import { GraphFailure, REPORTS_PATH, reportsHandler } from "./reports.js";

/** `aud` of an addKey/removeKey proof: the Azure AD Graph application id. */
export const PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000";
const PROOF_MAX_LIFETIME_SEC = 600;
const CLOCK_SKEW_SEC = 300;

const READ_ALL = [
  "Application.Read.All",
  "Application.ReadWrite.All",
  "Directory.Read.All",
  "Directory.ReadWrite.All",
];
const OWNED_BY = "Application.ReadWrite.OwnedBy";

const ROUTE =
  /^\/v1\.0\/applications(?:\/([^/()]+)|\(appId='([^']+)'\))?(?:\/(?:microsoft\.graph\.)?(addKey|removeKey|addPassword|removePassword))?\/?$/;

type Caller = AccessTokenClaims & { principalId?: string };

export interface GraphServerOptions {
  tls: ServerTls;
  directory: Directory;
  tokens: LocalTokenIssuer;
  /** Audiences a Graph token may carry. */
  audiences: () => string[];
  /**
   * Enforce Graph's application write limits: 3,000 per 150 s per app per tenant, 18,000 per 5 min per
   * tenant (https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits);
   * past them 429 with Retry-After (https://learn.microsoft.com/graph/throttling).
   */
  rateLimits?: boolean;
  /** How long a sign-in takes to show in the reports API (./reports.ts). Default 0. */
  reportDelayMs?: number;
}

const denied = () =>
  new GraphFailure(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
const badRequest = (message: string) => new GraphFailure(400, "Request_BadRequest", message);
// Graph answers a rejected proof with 401 Authentication_MissingOrMalformed
// (https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/1076: a proof with the wrong `aud`).
const proofRejected = () =>
  new GraphFailure(401, "Authentication_MissingOrMalformed", "Access Token missing or malformed.");

const hasRole = (c: Caller, roles: string[]) => roles.some((r) => c.roles?.includes(r));
const owns = (c: Caller, app: StoredApp) => c.principalId !== undefined && app.owners.has(c.principalId);
const canRead = (c: Caller, app: StoredApp) =>
  hasRole(c, READ_ALL) || (hasRole(c, [OWNED_BY]) && owns(c, app));
/** PATCH of credentials: Application.ReadWrite.All, or Application.ReadWrite.OwnedBy as an owner. */
const canWrite = (c: Caller, app: StoredApp) =>
  hasRole(c, ["Application.ReadWrite.All"]) || (hasRole(c, [OWNED_BY]) && owns(c, app));
/**
 * addKey/removeKey: "An application does not need any specific permission to roll its own keys"; any other
 * caller needs Application.ReadWrite.OwnedBy (as an owner), Application.ReadWrite.All or Directory.ReadWrite.All
 * (https://learn.microsoft.com/graph/api/application-addkey#permissions).
 */
const canRoll = (c: Caller, app: StoredApp) =>
  c.appid === app.appId || canWrite(c, app) || hasRole(c, ["Directory.ReadWrite.All"]);
/** addPassword/removePassword: the same roles as addKey for another app, with no self exemption. */
const canManagePasswords = (c: Caller, app: StoredApp) =>
  canWrite(c, app) || hasRole(c, ["Directory.ReadWrite.All"]);

function keyJson(k: StoredKey, withKey: boolean): Record<string, unknown> {
  return {
    customKeyIdentifier: k.customKeyIdentifier,
    displayName: k.displayName,
    endDateTime: graphDate(k.end),
    // "key … Returned only on $select for a single object … otherwise, it is always null."
    key: withKey ? k.der.toString("base64") : null,
    keyId: k.keyId,
    startDateTime: graphDate(k.start),
    type: k.type,
    usage: k.usage,
  };
}

/** A passwordCredential as Graph returns it; `secretText` only in the addPassword response. */
function passwordJson(p: StoredPassword, withSecret: boolean): Record<string, unknown> {
  return {
    customKeyIdentifier: null,
    displayName: p.displayName,
    endDateTime: graphDate(p.end),
    hint: p.hint,
    keyId: p.keyId,
    secretText: withSecret ? p.secret : null,
    startDateTime: graphDate(p.start),
  };
}

function appJson(app: StoredApp, select: string[] | undefined, single: boolean): Record<string, unknown> {
  const withKey = single && select?.includes("keyCredentials") === true;
  const full: Record<string, unknown> = {
    id: app.objectId,
    appId: app.appId,
    displayName: app.displayName,
    createdDateTime: graphDate(app.createdAt),
    signInAudience: "AzureADMyOrg",
    keyCredentials: app.keys.map((k) => keyJson(k, withKey)),
    passwordCredentials: app.passwords.map((p) => passwordJson(p, false)),
  };
  return select ? Object.fromEntries(Object.entries(full).filter(([k]) => select.includes(k))) : full;
}

const safeDecode = (path: string) => {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
};

const asObject = (v: unknown): Record<string, unknown> | undefined =>
  v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

function parseBody(req: Request): Record<string, unknown> {
  try {
    const body = asObject(JSON.parse(req.body.toString("utf8")));
    if (body) return body;
  } catch {
    // fall through to Graph's error below
  }
  throw new GraphFailure(
    400,
    "BadRequest",
    "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
  );
}

function parseDate(v: unknown, field: string, resource = "KeyCredential"): Date | undefined {
  if (v === undefined || v === null) return undefined;
  const d = typeof v === "string" ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime()))
    throw badRequest(`Invalid value specified for property '${field}' of resource '${resource}'.`);
  return d;
}

function parseCustomKeyIdentifier(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  // Edm.Binary, at most 32 bytes (https://github.com/Azure/azure-docs-powershell-azuread/issues/202).
  const valid = typeof v === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(v);
  const size = valid ? Buffer.from(v, "base64").length : 0;
  if (!valid || size === 0 || size > 32)
    throw badRequest("When present, application key identifier cannot be empty and can be at most 32 bytes.");
  return v;
}

function parseDer(v: unknown): Buffer {
  if (typeof v !== "string" || !/^[A-Za-z0-9+/]+={0,2}$/.test(v))
    throw badRequest("Invalid value specified for property 'key' of resource 'KeyCredential'.");
  return Buffer.from(v, "base64");
}

/** AsymmetricX509Cert keys are used to Verify (https://learn.microsoft.com/graph/api/application-addkey#request-body). */
function checkTypeAndUsage(entry: Record<string, unknown>): void {
  if (entry.usage !== "Verify")
    throw badRequest(
      'The value for the property "usage" in one of your credentials is invalid. Acceptable values are Sign, Verify.',
    );
  if (entry.type !== "AsymmetricX509Cert")
    throw badRequest(
      'The value for the property "type" in one of your credentials is invalid. Acceptable values are AsymmetricX509Cert, X509CertAndPassword, Symmetric.',
    );
}

export interface GraphServer extends RunningServer {
  /** Requests Graph's published description refused, for conformance tests. */
  readonly rejected: Rejection[];
}

const notAllowed = () =>
  new GraphFailure(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.");
const lastSegment = (path: string) => path.split("/").filter(Boolean).pop() ?? "";

export async function startGraphServer(opts: GraphServerOptions): Promise<GraphServer> {
  const { directory, tokens } = opts;
  const spec = suite("graph");
  const rejected: Rejection[] = [];
  let base = "";
  const writesPerTenant = new SlidingWindow(18_000, 300_000);
  const writesPerApp = new Map<string, SlidingWindow>();

  const authenticate = async (req: Request): Promise<Caller> => {
    const token = bearer(req.headers.authorization);
    if (!token) throw new GraphFailure(401, "InvalidAuthenticationToken", "Access token is empty.");
    const claims = await tokens.verify(token, opts.audiences());
    if (!claims || claims.tid !== directory.tenantId)
      throw new GraphFailure(
        401,
        "InvalidAuthenticationToken",
        "Access token validation failure. Invalid audience.",
      );
    const principalId = directory.principalByClientId(claims.appid)?.objectId;
    return { ...claims, ...(principalId ? { principalId } : {}) };
  };

  const find = (objectId: string | undefined, appId: string | undefined): StoredApp => {
    const app = objectId ? directory.app(objectId) : appId ? directory.appByAppId(appId) : undefined;
    if (!app)
      throw new GraphFailure(
        404,
        "Request_ResourceNotFound",
        `Resource '${objectId ?? appId ?? ""}' does not exist or one of its queried reference-property objects are not present.`,
      );
    return app;
  };

  /** Proof of possession (https://learn.microsoft.com/graph/application-rollkey-prooftoken). */
  const verifyProof = async (app: StoredApp, proof: unknown): Promise<void> => {
    if (typeof proof !== "string") throw badRequest("The proof property is required.");
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(proof);
    } catch {
      throw proofRejected();
    }
    // Signed by one of the application's currently valid certificates, found by the x5t header.
    const key = app.keys.find((k) => k.x5t === header.x5t && directory.isCurrent(k));
    if (header.alg !== "RS256" || !key) throw proofRejected();
    let claims: Record<string, unknown>;
    try {
      const { payload } = await compactVerify(proof, key.publicKey, { algorithms: ["RS256"] });
      claims = asObject(JSON.parse(Buffer.from(payload).toString("utf8"))) ?? {};
    } catch {
      throw proofRejected();
    }
    const { aud, iss, nbf, exp } = claims;
    const now = Date.now() / 1000;
    const audOk = Array.isArray(aud) ? aud.includes(PROOF_AUDIENCE) : aud === PROOF_AUDIENCE;
    const windowOk =
      typeof nbf === "number" &&
      typeof exp === "number" &&
      exp > nbf &&
      exp - nbf <= PROOF_MAX_LIFETIME_SEC &&
      now >= nbf - CLOCK_SKEW_SEC &&
      now < exp + CLOCK_SKEW_SEC;
    if (!audOk || iss !== app.objectId || !windowOk) throw proofRejected();
  };

  const buildNewKey = (entry: Record<string, unknown>) => {
    checkTypeAndUsage(entry);
    const customKeyIdentifier = parseCustomKeyIdentifier(entry.customKeyIdentifier);
    const start = parseDate(entry.startDateTime, "startDateTime");
    const end = parseDate(entry.endDateTime, "endDateTime");
    try {
      return directory.buildKey(
        {
          der: parseDer(entry.key),
          ...(typeof entry.keyId === "string" ? { keyId: entry.keyId } : {}),
          displayName: typeof entry.displayName === "string" ? entry.displayName : null,
          ...(customKeyIdentifier ? { customKeyIdentifier } : {}),
          ...(start ? { start } : {}),
          ...(end ? { end } : {}),
        },
        false,
      );
    } catch (e) {
      if (e instanceof InvalidCertificateError)
        throw badRequest("Key credential value is not a valid X.509 certificate.");
      throw e;
    }
  };

  const addKey = async (req: Request, app: StoredApp): Promise<Reply> => {
    const body = parseBody(req);
    await verifyProof(app, body.proof);
    const entry = asObject(body.keyCredential);
    if (!entry) throw badRequest("The keyCredential property is required.");
    if (body.passwordCredential !== undefined && body.passwordCredential !== null)
      throw badRequest("passwordCredential must be null for keys of type AsymmetricX509Cert.");
    const key = buildNewKey({ ...entry, keyId: undefined });
    app.keys.push(key);
    return {
      status: 200,
      body: {
        "@odata.context": `${base}/v1.0/$metadata#microsoft.graph.keyCredential`,
        ...keyJson(key, false),
      },
    };
  };

  const removeKey = async (req: Request, app: StoredApp): Promise<Reply> => {
    const body = parseBody(req);
    await verifyProof(app, body.proof);
    const index = app.keys.findIndex((k) => k.keyId === body.keyId);
    if (index < 0)
      throw badRequest(`No key credential with keyId '${String(body.keyId)}' exists on the application.`);
    app.keys.splice(index, 1);
    return { status: 204 };
  };

  const addPassword = (req: Request, app: StoredApp): Reply => {
    const body = parseBody(req);
    // "In the request body, provide an optional passwordCredential object".
    const raw = body.passwordCredential;
    const entry = raw === undefined || raw === null ? {} : asObject(raw);
    if (!entry)
      throw badRequest(
        "Invalid value specified for property 'passwordCredential' of resource 'Application'.",
      );
    const start = parseDate(entry.startDateTime, "startDateTime", "PasswordCredential");
    const end = parseDate(entry.endDateTime, "endDateTime", "PasswordCredential");
    if (end && end.getTime() <= (start ?? new Date()).getTime())
      throw badRequest("The endDateTime of a password credential must be after its startDateTime.");
    const password = directory.buildPassword(
      {
        displayName: typeof entry.displayName === "string" ? entry.displayName : null,
        ...(start ? { start } : {}),
        ...(end ? { end } : {}),
      },
      false,
    );
    app.passwords.push(password);
    return {
      status: 200,
      body: {
        "@odata.context": `${base}/v1.0/$metadata#microsoft.graph.passwordCredential`,
        ...passwordJson(password, true),
      },
    };
  };

  const removePassword = (req: Request, app: StoredApp): Reply => {
    const body = parseBody(req);
    const index = app.passwords.findIndex((p) => p.keyId === body.keyId);
    if (index < 0)
      throw badRequest(
        `No password credential with keyId '${String(body.keyId)}' exists on the application.`,
      );
    app.passwords.splice(index, 1);
    return { status: 204 };
  };

  /** keyCredentials replace the collection: kept entries re-sent by keyId, new ones with `key`, the rest deleted. */
  const patch = (req: Request, app: StoredApp): Reply => {
    const body = parseBody(req);
    for (const property of Object.keys(body))
      if (property !== "keyCredentials" && property !== "displayName")
        throw badRequest(`Property '${property}' is not supported by the local Graph fake.`);
    let keys = app.keys;
    if (body.keyCredentials !== undefined) {
      if (!Array.isArray(body.keyCredentials))
        throw badRequest("Invalid value specified for property 'keyCredentials' of resource 'Application'.");
      keys = body.keyCredentials.map((raw: unknown) => {
        const entry = asObject(raw);
        if (!entry)
          throw badRequest(
            "Invalid value specified for property 'keyCredentials' of resource 'Application'.",
          );
        if (typeof entry.key === "string") return buildNewKey(entry);
        const existing = app.keys.find((k) => k.keyId === entry.keyId);
        if (!existing)
          throw badRequest(
            `Key credential '${String(entry.keyId)}' does not exist on the application; a new key credential must include its 'key'.`,
          );
        return existing;
      });
      if (new Set(keys.map((k) => k.keyId)).size !== keys.length)
        throw badRequest("Key credentials must have unique keyIds.");
    }
    if (typeof body.displayName === "string") app.displayName = body.displayName;
    app.keys = keys;
    return { status: 204 };
  };

  const reports = reportsHandler({
    directory,
    base: () => base,
    ...(opts.reportDelayMs ? { delayMs: opts.reportDelayMs } : {}),
  });

  const handle = async (req: Request): Promise<Reply> => {
    const caller = await authenticate(req);
    const v = spec.check(req, rejected);
    if (!v.ok) {
      if (v.reason === "unknown-path")
        throw new GraphFailure(
          400,
          "BadRequest",
          `Resource not found for the segment '${lastSegment(req.path)}'.`,
        );
      if (v.reason === "method") throw notAllowed();
      throw new GraphFailure(v.status, "BadRequest", v.errors.join("; "));
    }
    if (REPORTS_PATH.test(req.path)) return reports(req, caller);
    const match = ROUTE.exec(safeDecode(req.path));
    if (!match)
      throw new GraphFailure(
        501,
        "NotImplemented",
        `${v.op.operationId} is not simulated by the local Graph fake.`,
      );
    const [, objectId, appId, action] = match;
    const select = req.url.searchParams
      .get("$select")
      ?.split(",")
      .map((s) => s.trim());

    if (!objectId && !appId) {
      if (req.method !== "GET" || action) throw notAllowed();
      if (!hasRole(caller, [...READ_ALL, OWNED_BY])) throw denied();
      const filter = req.url.searchParams.get("$filter");
      const wanted = filter === null ? undefined : /^appId eq '([^']+)'$/.exec(filter.trim())?.[1];
      if (filter !== null && !wanted)
        throw new GraphFailure(400, "Request_UnsupportedQuery", "Unsupported query.");
      const apps = directory
        .allApps()
        .filter((a) => canRead(caller, a) && (!wanted || a.appId.toLowerCase() === wanted.toLowerCase()));
      return {
        status: 200,
        body: {
          "@odata.context": `${base}/v1.0/$metadata#applications`,
          value: apps.map((a) => appJson(a, select, false)),
        },
      };
    }

    const app = find(objectId, appId);
    if (opts.rateLimits && (action || req.method === "PATCH")) {
      const perApp = writesPerApp.get(caller.appid) ?? new SlidingWindow(3_000, 150_000);
      writesPerApp.set(caller.appid, perApp);
      const retryAfter = writesPerTenant.take() ?? perApp.take();
      if (retryAfter !== undefined)
        throw new GraphFailure(429, "TooManyRequests", "Too many requests.", retryAfter);
    }
    if (action) {
      if (req.method !== "POST") throw notAllowed();
      if (action === "addPassword" || action === "removePassword") {
        if (!canManagePasswords(caller, app)) throw denied();
        return action === "addPassword" ? addPassword(req, app) : removePassword(req, app);
      }
      if (!canRoll(caller, app)) throw denied();
      return action === "addKey" ? addKey(req, app) : removeKey(req, app);
    }
    if (req.method === "GET") {
      if (!canRead(caller, app)) throw denied();
      return {
        status: 200,
        body: {
          "@odata.context": `${base}/v1.0/$metadata#applications/$entity`,
          ...appJson(app, select, true),
        },
      };
    }
    if (req.method === "PATCH") {
      if (!canWrite(caller, app)) throw denied();
      return patch(req, app);
    }
    throw notAllowed();
  };

  const server = await startHttpsServer("graph", opts.tls, async (req) => {
    try {
      return await handle(req);
    } catch (e) {
      if (e instanceof GraphFailure) {
        const reply = graphError(req, e.status, e.code, e.message);
        if (e.retryAfter !== undefined)
          reply.headers = { ...reply.headers, "retry-after": String(e.retryAfter) };
        return reply;
      }
      throw e;
    }
  });
  base = server.url;
  return { ...server, rejected };
}
