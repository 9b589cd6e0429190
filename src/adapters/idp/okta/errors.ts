/**
 * How Okta management API failures are retried and reported.
 *
 * Okta's error body is `{ errorCode, errorSummary, errorLink, errorId, errorCauses: [{ errorSummary }] }`
 * (okta-management-openapi-spec, schema `Error`). Every JSON Web Key validation failure is
 * `E0000001 Api validation failed: JsonWebKey` with 400; which rule failed is only in `errorCauses`, so the
 * cause text published in the spec's examples is matched, with the operation as a fallback.
 *
 * Reported as RotatorError with Okta's errorCode and errorId in `details`; never Okta's summaries or body.
 */
import { RotatorError } from "../../../errors.js";
import { isTransientStatus } from "../../../http/transient.js";

export type OktaOperation =
  | "listKeys"
  | "addKey"
  | "activateKey"
  | "deactivateKey"
  | "deleteKey"
  | "getApp"
  | "replaceApp"
  | "listSecrets";

export interface OktaErrorBody {
  errorCode?: string;
  errorId?: string;
  causes: string[];
}

export function parseOktaError(text: string): OktaErrorBody {
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const b = v as Record<string, unknown>;
      const causes = Array.isArray(b.errorCauses)
        ? b.errorCauses.flatMap((c: unknown) =>
            c && typeof c === "object" && "errorSummary" in c && typeof c.errorSummary === "string"
              ? [c.errorSummary]
              : [],
          )
        : [];
      return {
        ...(typeof b.errorCode === "string" ? { errorCode: b.errorCode } : {}),
        ...(typeof b.errorId === "string" ? { errorId: b.errorId } : {}),
        causes,
      };
    }
  } catch {
    // not JSON: reported by status
  }
  return { causes: [] };
}

const WRITE_SCOPE = "okta.apps.manage";
const READ_SCOPE = "okta.apps.read";

/** The spec's example causes (ErrorClientJsonWebKey*, ErrorDeleteActiveJsonWebKey, ErrorDeactivateTheOnlyKey*). */
const CAUSE_RULES: { test: RegExp; code: string; message: string; hint: string }[] = [
  {
    test: /maximum number of keys/i,
    code: "OKTA_KEY_LIMIT",
    message: "the Okta app already holds the most JSON Web Keys it may (50)",
    hint: "Delete inactive keys that no Kong plugin references (`rotator status` lists them), then retry.",
  },
  {
    test: /unique .?kid/i,
    code: "OKTA_KID_CONFLICT",
    message:
      "Okta refused the key's kid: every key needs a unique kid, and a key without one blocks adding keys",
    hint: "Give the app's existing keys a kid (Apps API) or remove the key that lacks one; a kid already registered for a different key must not be reused.",
  },
  {
    test: /delete an active/i,
    code: "OKTA_ACTIVE_KEY_DELETE",
    message: "Okta does not delete an active JSON Web Key",
    hint: "Deactivate the key first (withdraw), then delete it.",
  },
  {
    test: /deactivate the only active/i,
    code: "OKTA_LAST_ACTIVE_KEY",
    message: "Okta does not deactivate the only active key of a private_key_jwt client",
    hint: "Activate the new key first; the old key can be deactivated once another key is active.",
  },
  {
    test: /less than .?2,?048/i,
    code: "OKTA_KEY_TOO_SMALL",
    message: "Okta refused the key: RSA keys must be at least 2048 bits",
    hint: "Use an RSA key of 2048 bits or more in the Key Vault certificate policy.",
  },
];

/** The documented 400 of each lifecycle operation, when the cause text is not recognised. */
const OPERATION_400: Partial<Record<OktaOperation, string>> = {
  deleteKey: "OKTA_ACTIVE_KEY_DELETE",
  deactivateKey: "OKTA_LAST_ACTIVE_KEY",
};

/** The typed error of one of Okta's key rules, for a check made before calling Okta. */
export function oktaRuleError(code: "OKTA_KEY_LIMIT", details: Record<string, unknown>): RotatorError {
  const rule = CAUSE_RULES.find((r) => r.code === code);
  if (!rule) throw new Error(`no Okta rule ${code}`);
  return new RotatorError(rule.code, rule.message, rule.hint, { details });
}

export function oktaFailure(op: OktaOperation, status: number, body: OktaErrorBody): RotatorError {
  const details = {
    operation: op,
    ...(body.errorCode ? { errorCode: body.errorCode } : {}),
    ...(body.errorId ? { errorId: body.errorId } : {}),
  };
  const opts = { status, details };
  if (status === 401)
    return new RotatorError(
      "OKTA_UNAUTHORIZED",
      `Okta refused the API token (${op}, ${body.errorCode ?? `HTTP ${status}`})`,
      "The Okta API token is invalid, revoked or expired (tokens expire after 30 days unused); create a new one and update the configured secret.",
      opts,
    );
  if (status === 403)
    return new RotatorError(
      "OKTA_FORBIDDEN",
      `Okta denied ${op} (${body.errorCode ?? `HTTP ${status}`})`,
      `The API token's admin needs a role that can manage this app (Super Admin, or App Admin for it); with OAuth for Okta, grant ${op === "listKeys" ? READ_SCOPE : WRITE_SCOPE} to the service app.`,
      opts,
    );
  if (status === 404)
    return new RotatorError(
      op === "listKeys" || op === "addKey" ? "OKTA_APP_NOT_FOUND" : "OKTA_KEY_NOT_FOUND",
      `Okta found no ${op === "listKeys" || op === "addKey" ? "app with the configured client id" : "such key"} (${op})`,
      "Check okta.clientId (the app's client id is its id) and okta.orgUrl.",
      opts,
    );
  if (status === 400) {
    const rule = CAUSE_RULES.find((r) => body.causes.some((c) => r.test.test(c)));
    if (rule) return new RotatorError(rule.code, rule.message, rule.hint, opts);
    const fallback = OPERATION_400[op];
    const known = fallback ? CAUSE_RULES.find((r) => r.code === fallback) : undefined;
    if (known) return new RotatorError(known.code, known.message, known.hint, opts);
  }
  if (status === 429)
    return new RotatorError(
      "OKTA_RATE_LIMITED",
      `Okta rate-limited ${op} beyond the retry budget`,
      "Retry later; other clients of the org may be using the same rate-limit bucket.",
      { ...opts, retryable: true },
    );
  if (isTransientStatus(status))
    return new RotatorError(
      "OKTA_UNAVAILABLE",
      `Okta answered ${status} to ${op}`,
      "Okta is failing; retry later (https://status.okta.com).",
      { ...opts, retryable: true },
    );
  return new RotatorError(
    "OKTA_REQUEST_REJECTED",
    `Okta rejected ${op} (${body.errorCode ?? `HTTP ${status}`})`,
    "See details.errorCode in Okta's error code reference; the errorId finds the request in Okta's System Log.",
    opts,
  );
}
