/**
 * Who may do what over HTTP. The HTTP API fails closed: every action above reading needs a caller that
 * App Service Authentication (Easy Auth) signed in and that holds the action's app role.
 *
 * How the code knows that the platform authenticates callers: the app setting ROTATOR_AUTH_REQUIRED=true,
 * which infra/app/rotator.bicep sets together with the `authsettingsV2` that turns the platform on (one
 * condition, one template). The code trusts that setting, and nothing else grants access: a missing or
 * misspelt setting means "not authenticated", never "allowed". The platform's own WEBSITE_AUTH_ENABLED is
 * only ever used to refuse (when it says authentication is off although it is required).
 *
 * The principal is the `x-ms-client-principal` header, base64 JSON {auth_typ, name_typ, role_typ,
 * claims[{typ, val}]}. "External requests aren't allowed to set these headers, so they're present only if
 * set by App Service" (https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities);
 * app roles arrive as `roles` claims, which the app must check itself ("this is not performed by App
 * Service Authentication / Authorization",
 * https://learn.microsoft.com/azure/app-service/configure-authentication-provider-aad). Without the
 * platform in front, anybody could send that header, so it is ignored.
 */
import type { HttpFunctionOptions, HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { problem } from "./http.js";

export const READER = "Rotation.Reader";
export const OPERATOR = "Rotation.Operator";
export const ADMIN = "Rotation.Admin";

/** The app roles, least privileged first; each includes the ones before it (an admin may also operate). */
export const ROLES = [READER, OPERATOR, ADMIN] as const;
export type Role = (typeof ROLES)[number];

/**
 * The least role of every action, one line each. Reader actions only read and are served with the
 * function key when the platform does not authenticate callers; every other action changes state (or,
 * for a dry run, skips the lease and fans out reads to Key Vault, the IdP and Kong) and needs a signed-in
 * caller. A new action is one more line.
 */
export const ACTION_ROLES = {
  status: READER,
  page: READER,
  doctor: READER,
  dryRun: OPERATOR,
  rotate: OPERATOR,
  force: OPERATOR,
  rollback: ADMIN,
  cancel: ADMIN,
  overrideCooldown: ADMIN,
  /** rotate --compromised (and its revokeUnmanaged): revokes every earlier key at once. */
  compromise: ADMIN,
} as const satisfies Record<string, Role>;
export type Action = keyof typeof ACTION_ROLES;

/** The actor written to the audit line when no principal identified the caller. */
export const FUNCTION_KEY_CALLER = "function-key caller";

export const AUTH_REQUIRED_SETTING = "ROTATOR_AUTH_REQUIRED";
export const KEY_ONLY_WRITES_SETTING = "ROTATOR_ALLOW_KEY_ONLY_WRITES";

export interface AuthMode {
  /** ROTATOR_AUTH_REQUIRED=true: App Service Authentication is configured in front of every function. */
  required: boolean;
  /**
   * Required, but the platform says its authentication is off (WEBSITE_AUTH_ENABLED=False): any principal
   * header could be forged, so every request is refused.
   */
  platformOff: boolean;
  /** The local-development opt-in is in effect: state-changing requests pass with the function key alone. */
  keyOnlyWrites: boolean;
  /** Why a set opt-in is ignored: on App Service (WEBSITE_INSTANCE_ID is set), or with authentication required. */
  keyOnlyIgnored?: "app-service" | "auth-required";
}

const isTrue = (v: string | undefined) => v?.trim().toLowerCase() === "true";
const isFalse = (v: string | undefined) => ["false", "0"].includes(v?.trim().toLowerCase() ?? "");

export function authMode(env: NodeJS.ProcessEnv = process.env): AuthMode {
  const required = isTrue(env[AUTH_REQUIRED_SETTING]);
  // WEBSITE_AUTH_ENABLED: "Read-only. Injected into a Windows or Linux app to indicate whether App Service
  // authentication is enabled" (https://learn.microsoft.com/azure/app-service/reference-app-settings).
  const platformOff = required && isFalse(env.WEBSITE_AUTH_ENABLED);
  const optIn = isTrue(env[KEY_ONLY_WRITES_SETTING]);
  // WEBSITE_INSTANCE_ID is set by App Service on every instance: the opt-in is for local development only.
  const ignored = !optIn
    ? undefined
    : required
      ? "auth-required"
      : env.WEBSITE_INSTANCE_ID
        ? "app-service"
        : undefined;
  return {
    required,
    platformOff,
    keyOnlyWrites: optIn && !ignored,
    ...(ignored ? { keyOnlyIgnored: ignored } : {}),
  };
}

/**
 * The host's key check for the read functions: with the platform authenticating callers the sign-in is the
 * gate (Microsoft's guidance for functions behind App Service Authentication is authLevel anonymous), so a
 * browser reaches the status page with the user's sign-in and no key in the URL; without it, the function
 * key. State-changing functions always keep their per-function key on top of the sign-in.
 */
export function readAuthLevel(env: NodeJS.ProcessEnv = process.env): "anonymous" | "function" {
  return authMode(env).required ? "anonymous" : "function";
}

/**
 * The options of a read-only GET route at the read auth level (the handler authorizes the caller itself),
 * for the module that registers it with the Functions app.
 */
export function readRoute(
  route: string,
  handler: (req: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>,
): HttpFunctionOptions {
  return { methods: ["GET"], authLevel: readAuthLevel(), route, handler };
}

export interface Caller {
  /** Who, for the audit line: the principal's name, or FUNCTION_KEY_CALLER. */
  actor: string;
  /** The key for per-caller limits: the principal's object id (else its name), or FUNCTION_KEY_CALLER. */
  id: string;
  /** True only when the platform authenticates callers and set a principal that decodes. */
  authenticated: boolean;
  /** The principal's app roles (empty otherwise). */
  roles: string[];
}

interface ClientPrincipal {
  auth_typ?: unknown;
  name_typ?: unknown;
  role_typ?: unknown;
  claims?: unknown;
}

const OBJECT_ID_CLAIMS = ["http://schemas.microsoft.com/identity/claims/objectidentifier", "oid"];

/** The caller of a request. A header that does not decode to a principal with claims is no identity. */
export function callerOf(req: HttpRequest, mode: AuthMode = authMode()): Caller {
  const anonymous: Caller = {
    actor: FUNCTION_KEY_CALLER,
    id: FUNCTION_KEY_CALLER,
    authenticated: false,
    roles: [],
  };
  const encoded = req.headers.get("x-ms-client-principal");
  if (!mode.required || mode.platformOff || !encoded) return anonymous;
  let p: ClientPrincipal;
  try {
    p = JSON.parse(Buffer.from(encoded, "base64").toString("utf8")) as ClientPrincipal;
  } catch {
    return anonymous;
  }
  if (p === null || typeof p !== "object" || !Array.isArray(p.claims)) return anonymous;
  const claims = p.claims.filter(
    (c): c is { typ: string; val: string } =>
      c !== null && typeof c === "object" && typeof c.typ === "string" && typeof c.val === "string",
  );
  const of = (...types: unknown[]) => claims.filter((c) => types.includes(c.typ)).map((c) => c.val);
  // Entra tokens carry app roles as `roles` claims; role_typ names the type the platform used.
  const roles = [...new Set(of("roles", p.role_typ))];
  const objectId = of(...OBJECT_ID_CLAIMS)[0];
  const name =
    of(
      p.name_typ,
      "name",
      "preferred_username",
      "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    )[0] ??
    objectId ??
    of("appid", "azp")[0] ??
    req.headers.get("x-ms-client-principal-name") ??
    undefined;
  if (!name) return anonymous;
  const actor = name.slice(0, 200);
  return { actor, id: objectId ?? actor, authenticated: true, roles };
}

/** Does the caller hold `role` or a role above it? */
export function holds(caller: Caller, role: Role): boolean {
  const need = ROLES.indexOf(role);
  return caller.roles.some((r) => ROLES.indexOf(r as Role) >= need);
}

/** How an allowed request got through, for the audit line. */
export type Grant = "principal" | "function-key" | "key-only-opt-in";

export type Decision = { allowed: true; grant: Grant } | { allowed: false; response: HttpResponseInit };

const SETUP = 'docs/permissions.md, "The HTTP API"';

/**
 * May this caller do this action? Refusals are 401 (no signed-in caller although the platform would sign
 * one in) or 403 with a code and a hint; nothing is read or changed before the answer.
 */
export function authorize(caller: Caller, action: Action, mode: AuthMode = authMode()): Decision {
  const need = ACTION_ROLES[action];
  const refuse = (response: HttpResponseInit): Decision => ({ allowed: false, response });
  if (mode.required) {
    if (mode.platformOff)
      return refuse(
        problem(
          403,
          "AUTH_PLATFORM_OFF",
          `${AUTH_REQUIRED_SETTING} is true but the platform reports App Service Authentication off, so no caller can be trusted`,
          `Turn App Service Authentication back on (azd provision applies infra/app/rotator.bicep); every request is refused until then (${SETUP}).`,
        ),
      );
    if (!caller.authenticated) {
      const res = problem(
        401,
        "AUTHENTICATION_REQUIRED",
        `${action} needs a signed-in caller`,
        `Sign in (a browser is sent to the sign-in page), or send a Microsoft identity platform access token for the rotator's API (scope api://<AUTH_CLIENT_ID>/.default) issued to a principal holding ${need} (${SETUP}).`,
      );
      res.headers = { ...(res.headers as Record<string, string>), "www-authenticate": "Bearer" };
      return refuse(res);
    }
    if (!holds(caller, need))
      return refuse(
        problem(
          403,
          "ROLE_REQUIRED",
          `${caller.actor} does not hold the ${need} app role, which ${action} needs`,
          `Ask an administrator to assign the ${need} app role of the rotator's API to you (${SETUP}).`,
        ),
      );
    return { allowed: true, grant: "principal" };
  }
  if (need === READER) return { allowed: true, grant: "function-key" };
  if (mode.keyOnlyWrites) return { allowed: true, grant: "key-only-opt-in" };
  const ignored =
    mode.keyOnlyIgnored === "app-service"
      ? ` ${KEY_ONLY_WRITES_SETTING} is set but ignored on App Service: it is for local development only.`
      : "";
  return refuse(
    problem(
      403,
      "AUTH_NOT_CONFIGURED",
      `${action} needs a caller signed in by App Service Authentication, which is not configured for this app`,
      `Deploy with AUTH_CLIENT_ID (the rotator's API app registration) so that callers sign in, and call with a token holding ${need} (${SETUP}).${ignored} For local development only, ${KEY_ONLY_WRITES_SETTING}=true lets the function key alone through.`,
    ),
  );
}
