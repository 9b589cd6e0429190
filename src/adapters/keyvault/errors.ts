import { isRotatorError, RotatorError } from "../../errors.js";
import { TimeoutError } from "../../http/retry.js";
import { isTransientStatus } from "../../http/transient.js";

export type KeyVaultArea = "certificates" | "secrets" | "keys";

/** What was being done, for messages and details. Names and versions are identifiers, never secret. */
export interface KeyVaultCall {
  area: KeyVaultArea;
  action: string;
  name: string;
  version?: string;
}

/**
 * The built-in role that grants each area's data actions
 * (https://learn.microsoft.com/azure/key-vault/general/rbac-guide#azure-built-in-roles-for-key-vault-data-plane-operations).
 */
const ROLE_HINT: Record<KeyVaultArea, string> = {
  certificates:
    "Assign the service identity the 'Key Vault Certificates Officer' role on the vault (or, with access policies, certificate get/list/create/update).",
  secrets:
    "Assign the service identity the 'Key Vault Secrets User' role on the vault or on the secret (or, with access policies, secret get): the PEM of a certificate is read from its secret.",
  keys: "Assign the service identity the 'Key Vault Crypto User' role on the vault or on the key (or, with access policies, key get and sign).",
};

interface RestErrorLike {
  statusCode?: number;
  code?: string;
  details?: unknown;
  response?: { headers: { get(name: string): string | undefined } };
}

function isRestErrorLike(e: unknown): e is Error & RestErrorLike {
  return e instanceof Error && e.name === "RestError";
}

/** `innererror.code` of Key Vault's error body, as the SDK puts it on RestError.details. */
function innerCode(details: unknown): string | undefined {
  if (!details || typeof details !== "object" || !("error" in details)) return undefined;
  const err = (details as { error?: { code?: unknown; innerError?: { code?: unknown } } }).error;
  const inner = err?.innerError?.code;
  return typeof inner === "string" ? inner : undefined;
}

function outerCode(details: unknown): string | undefined {
  if (!details || typeof details !== "object" || !("error" in details)) return undefined;
  const code = (details as { error?: { code?: unknown } }).error?.code;
  return typeof code === "string" ? code : undefined;
}

/** Credential failures from @azure/identity (error names are part of its public API). */
const CREDENTIAL_ERRORS = new Set([
  "CredentialUnavailableError",
  "AuthenticationError",
  "AggregateAuthenticationError",
  "AuthenticationRequiredError",
]);

const target = (c: KeyVaultCall): string => (c.version ? `${c.name}/${c.version}` : c.name);

/**
 * Map anything an Azure SDK Key Vault client throws to a RotatorError. Messages are built from the call and
 * the HTTP status only: the SDK's own messages can quote response bodies (a PARSE_ERROR quotes the whole
 * body, which for a secret is the secret), so neither they nor the RestError itself are kept.
 */
export function keyVaultError(e: unknown, call: KeyVaultCall): RotatorError {
  if (isRotatorError(e)) return e;
  const what = `Key Vault ${call.action} '${target(call)}'`;
  const base = {
    operation: call.action,
    name: call.name,
    ...(call.version ? { version: call.version } : {}),
  };
  if (e instanceof TimeoutError)
    return new RotatorError(
      "KV_UNAVAILABLE",
      `${what} timed out on every attempt`,
      "Key Vault did not answer in time; the next run retries.",
      {
        retryable: true,
        details: { ...base, reason: "timeout" },
      },
    );
  if (isRestErrorLike(e)) {
    const status = e.statusCode;
    // With an HTTP status, RestError.code is the `error.code` of Key Vault's body; the inner code is only
    // on `details`, which the SDK sets for single-object calls.
    const kvCode = outerCode(e.details) ?? (status === undefined ? undefined : e.code);
    const kvInnerCode = innerCode(e.details);
    const details = { ...base, ...(kvCode ? { kvCode } : {}), ...(kvInnerCode ? { kvInnerCode } : {}) };
    if (e.code === "PARSE_ERROR")
      return new RotatorError(
        "KV_BAD_RESPONSE",
        `${what} returned a body that is not valid JSON`,
        "A proxy or the service returned a malformed response; the next run retries.",
        {
          status,
          retryable: true,
          details,
        },
      );
    if (status === undefined)
      return new RotatorError(
        "KV_UNAVAILABLE",
        `${what} failed before an HTTP response (${e.code ?? "network error"})`,
        "Check the vault URL, DNS, network access to the vault (firewall, private endpoint) and TLS trust.",
        {
          retryable: true,
          details: { ...details, socketCode: e.code },
        },
      );
    if (status === 401)
      return new RotatorError(
        "KV_UNAUTHORIZED",
        `${what} was refused: the access token was not accepted (401)`,
        "Key Vault rejected the service identity's token: check that the identity is in the vault's tenant and the token is for https://vault.azure.net.",
        { status, details },
      );
    if (status === 403) {
      const inner = innerCode(e.details);
      if (inner === "SecretDisabled" || inner === "KeyDisabled")
        return new RotatorError(
          "KV_VERSION_DISABLED",
          `${what} refused: the version is disabled (403)`,
          "The certificate version is disabled in Key Vault; use an enabled version.",
          { status, details },
        );
      return new RotatorError(
        "KV_FORBIDDEN",
        `${what} is not permitted for the service identity (403)`,
        ROLE_HINT[call.area],
        { status, details },
      );
    }
    if (status === 404)
      return new RotatorError(
        "KV_NOT_FOUND",
        `${what} was not found (404)`,
        "Check the vault URL and the certificate name.",
        { status, details },
      );
    if (status === 409)
      return new RotatorError(
        "KV_CONFLICT",
        `${what} conflicts with an operation in progress (409)`,
        "Another Key Vault operation on this object is in progress; retry after it completes.",
        { status, retryable: true, details },
      );
    if (status === 429) {
      const retryAfter = e.response?.headers.get("retry-after");
      return new RotatorError(
        "KV_THROTTLED",
        `${what} was throttled (429)`,
        "Key Vault throttled the vault beyond the retry budget (https://learn.microsoft.com/azure/key-vault/general/overview-throttling); the next run retries.",
        {
          status,
          retryable: true,
          details: { ...details, ...(retryAfter ? { retryAfter } : {}) },
        },
      );
    }
    if (isTransientStatus(status))
      return new RotatorError(
        "KV_UNAVAILABLE",
        `${what} failed with HTTP ${status}`,
        "Key Vault is unavailable or failing; the next run retries.",
        { status, retryable: true, details },
      );
    return new RotatorError(
      "KV_BAD_REQUEST",
      `${what} was rejected (HTTP ${status})`,
      "Key Vault rejected the request; check the certificate name and policy.",
      { status, details },
    );
  }
  if (e instanceof Error && CREDENTIAL_ERRORS.has(e.name))
    return new RotatorError(
      "KV_UNAUTHORIZED",
      `${what}: the service identity could not get a token for Key Vault`,
      "Check the service's identity configuration (managed identity or AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET).",
      {
        details: { ...base, credentialError: e.name },
        cause: e,
      },
    );
  // keyVaultAuthenticationPolicy throws plain Errors when the challenge does not fit the request
  // (@azure/keyvault-common, verifyChallengeResource / verifyChallengeOrigin).
  if (e instanceof Error && /challenge/i.test(e.message))
    return new RotatorError(
      "KV_CHALLENGE_REJECTED",
      `${what}: the vault's authentication challenge does not match its URL`,
      "Use the vault URL exactly as shown in the portal (https://<name>.vault.azure.net).",
      {
        details: base,
        cause: e,
      },
    );
  // CryptographyClient checks the key's nbf/exp and key_ops before signing (@azure/keyvault-keys,
  // CryptographyClient.ensureValid).
  if (e instanceof Error && /can't be used before|expired at|is not supported on key/.test(e.message))
    return new RotatorError(
      "KV_KEY_UNUSABLE",
      `${what}: the key is outside its validity window or does not allow the operation`,
      "Use a certificate version that is currently valid and whose key usage includes digitalSignature.",
      {
        details: base,
        cause: e,
      },
    );
  return new RotatorError(
    "KV_BAD_RESPONSE",
    `${what} returned a response the client could not use`,
    "The response did not have the shape Key Vault documents; the next run retries.",
    {
      retryable: true,
      details: base,
    },
  );
}

export async function kvCall<T>(call: KeyVaultCall, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw keyVaultError(e, call);
  }
}
