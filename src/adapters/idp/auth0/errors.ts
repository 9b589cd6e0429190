/**
 * Auth0 Management API and token endpoint failures as typed RotatorErrors.
 *
 * Management API error bodies are `{statusCode, error, message, errorCode}`; a missing scope is
 * `403 {"message":"Insufficient scope, expected any of: <scope>","errorCode":"insufficient_scope"}`
 * (https://support.auth0.com/center/s/article/Management-API-Token-from-API-Explorer-Tab-does-not-contain-expected-scopes).
 * Messages are built from statuses, error codes and scope names; the body's `message` is kept only after
 * redaction and truncation (Auth0 echoes validation problems, never credentials).
 */
import { RotatorError } from "../../../errors.js";
import { redactText } from "../../../log/redact.js";

export type Auth0Operation =
  | "get-token"
  | "read-client"
  | "update-client"
  | "list-credentials"
  | "create-credential"
  | "delete-credential";

/**
 * The Management API scope(s) each operation needs (Management API v2 reference, per endpoint). Updating
 * the client's `client_authentication_methods` (attach, detach) needs `update:client_credentials` on top of
 * the endpoint's `update:clients` (https://auth0.com/docs/api/management/v2/clients/patch-clients-by-id).
 */
export const REQUIRED_SCOPE: Record<Exclude<Auth0Operation, "get-token">, string> = {
  "read-client": "read:clients",
  "update-client": "update:clients and update:client_credentials",
  "list-credentials": "read:client_credentials",
  "create-credential": "create:client_credentials",
  "delete-credential": "delete:client_credentials",
};

export const HINTS = {
  unauthorized:
    "Check the management client id and secret: a Machine-to-Machine application authorized for the Auth0 Management API (audience https://<domain>/api/v2/).",
  notAuthorizedForApi:
    "Authorize the Machine-to-Machine application for the Auth0 Management API (Applications > APIs > Auth0 Management API > Machine to Machine Applications).",
  forbidden: (scope: string) =>
    `Grant the scope ${scope} to the Machine-to-Machine application for the Auth0 Management API, then let the service fetch a new token.`,
  plan: "Private Key JWT needs the Enterprise plan: enable it for the tenant, or keep this client on Entra/Okta.",
  limit:
    "Auth0 keeps at most 2 credentials per application: the old one must be removed first (detach it, then delete it) before the next rotation registers a new key.",
  attached:
    "Detach the credential first (withdraw: remove it from client_authentication_methods.private_key_jwt.credentials), then delete it.",
  lastCredential:
    "Attach the new credential before detaching the last one: a client with no attached credential can't authenticate with private_key_jwt.",
  notFound: "Check the configured Auth0 domain and client id.",
  throttled: "The Auth0 Management API is rate limiting this tenant; the next run retries.",
  unavailable: "Auth0 did not answer successfully; the next run retries.",
  rejected: "Auth0 rejected the request; see the message and errorCode.",
  alg: "Auth0 credentials take RS256, RS384 or PS256; the service signs with RS256 or PS256.",
  jwtAlg:
    "Auth0 configures Private Key JWT only on a client whose ID tokens are signed with RS256: set the application's Advanced Settings > OAuth > JSON Web Token Signature Algorithm to RS256 (jwt_configuration.alg).",
} as const;

export interface ManagementErrorBody {
  statusCode?: number;
  error?: string;
  message?: string;
  errorCode?: string;
}

export function parseManagementError(text: string): ManagementErrorBody {
  try {
    const v: unknown = JSON.parse(text);
    if (!v || typeof v !== "object" || Array.isArray(v)) return {};
    const o = v as Record<string, unknown>;
    const s = (x: unknown) => (typeof x === "string" ? x : undefined);
    return {
      ...(typeof o.statusCode === "number" ? { statusCode: o.statusCode } : {}),
      ...(s(o.error) ? { error: s(o.error) } : {}),
      ...(s(o.message) ? { message: s(o.message) } : {}),
      ...(s(o.errorCode) ? { errorCode: s(o.errorCode) } : {}),
    };
  } catch {
    return {};
  }
}

const safeMessage = (m: string | undefined) => (m ? redactText(m).slice(0, 300) : undefined);

/** A non-2xx Management API answer (after retries for 429/5xx) as a RotatorError. */
export function managementFailure(
  op: Exclude<Auth0Operation, "get-token">,
  status: number,
  body: ManagementErrorBody,
  subject: string,
): RotatorError {
  const message = safeMessage(body.message);
  const details = {
    operation: op,
    ...(body.errorCode ? { errorCode: body.errorCode } : {}),
    ...(message ? { auth0Message: message } : {}),
  };
  if (status === 401)
    return new RotatorError(
      "AUTH0_UNAUTHORIZED",
      `The Auth0 Management API refused the token (${op} ${subject})`,
      HINTS.unauthorized,
      { status, details },
    );
  if (status === 403 && body.errorCode === "insufficient_scope") {
    const scope =
      /expected any of:\s*([\w:,\s]+)/.exec(body.message ?? "")?.[1]?.trim() ?? REQUIRED_SCOPE[op];
    return new RotatorError(
      "AUTH0_FORBIDDEN",
      `The management token lacks the scope ${scope} (${op} ${subject})`,
      HINTS.forbidden(scope),
      { status, details: { ...details, missingScope: scope } },
    );
  }
  // A 403 that names Private Key JWT or the plan: the tenant's plan does not include it.
  if (status === 403 && /private key jwt|plan|enterprise/i.test(body.message ?? ""))
    return new RotatorError(
      "AUTH0_PLAN_NO_PKJWT",
      `Auth0 refused Private Key JWT for ${subject}: the tenant's plan does not include it`,
      HINTS.plan,
      { status, details },
    );
  if (status === 403)
    return new RotatorError(
      "AUTH0_FORBIDDEN",
      `The Auth0 Management API refused ${op} ${subject}`,
      HINTS.forbidden(REQUIRED_SCOPE[op]),
      { status, details },
    );
  if (status === 404)
    return new RotatorError("AUTH0_NOT_FOUND", `Auth0 has no ${subject}`, HINTS.notFound, {
      status,
      details,
    });
  if (op === "create-credential" && /limit/i.test(body.message ?? ""))
    return new RotatorError("AUTH0_CREDENTIAL_LIMIT", `The client already holds 2 credentials`, HINTS.limit, {
      status,
      details,
    });
  if (op === "delete-credential" && status === 400)
    return new RotatorError(
      "AUTH0_CREDENTIAL_ATTACHED",
      `Auth0 refused to delete ${subject}: it is attached to the client`,
      HINTS.attached,
      { status, details },
    );
  return new RotatorError(
    "AUTH0_REQUEST_REJECTED",
    `Auth0 rejected ${op} ${subject} with HTTP ${status}${body.errorCode ? ` (${body.errorCode})` : ""}`,
    HINTS.rejected,
    { status, details },
  );
}
