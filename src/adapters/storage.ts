/**
 * The service's storage account, found the way the Azure Functions host finds its own: the
 * `AzureWebJobsStorage` app setting. The one-writer lease and the alert state live there, so the
 * functions and the CLI (pointed at the same setting) share them.
 *
 * - `AzureWebJobsStorage` = a connection string (account key or SAS; `UseDevelopmentStorage=true` for the
 *   emulator on its default ports). When present it wins, as for the host.
 * - Identity-based, per https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity:
 *   `AzureWebJobsStorage__blobServiceUri` (any cloud), or `AzureWebJobsStorage__accountName`, which means
 *   `https://{account}.blob.core.windows.net` (global Azure only). The token comes from the service's
 *   TokenCredential; the identity needs a data-plane role such as "Storage Blob Data Contributor"
 *   (the host itself needs "Storage Blob Data Owner").
 */
import type { TokenCredential } from "@azure/identity";
import { BlobServiceClient, type StoragePipelineOptions } from "@azure/storage-blob";
import { RotatorError } from "../errors.js";
import { isTransientStatus } from "../http/transient.js";
import { registerProcessSecret } from "../log/redact.js";

export interface StorageConnection {
  blob: BlobServiceClient;
  /** Where the storage is and how it authenticates; never contains keys or SAS tokens. */
  describe: string;
}

/**
 * The SDK's own retry (exponential, honouring 5xx/503 server busy) with short tries: lease renewal and
 * alert bookkeeping must fail in seconds rather than hang for the SDK's default of minutes.
 */
const PIPELINE: StoragePipelineOptions = {
  retryOptions: { maxTries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4_000, tryTimeoutInMs: 10_000 },
};

const SETTING = "AzureWebJobsStorage";

export function storageFromEnv(
  env: NodeJS.ProcessEnv,
  credential: TokenCredential,
): StorageConnection | undefined {
  const connectionString = env[SETTING]?.trim();
  if (connectionString) return fromConnectionString(connectionString);

  const serviceUri = env[`${SETTING}__blobServiceUri`]?.trim();
  const accountName = env[`${SETTING}__accountName`]?.trim();
  if (serviceUri) return fromIdentity(serviceUri, `${SETTING}__blobServiceUri`, credential);
  if (accountName) {
    // Storage account names: 3-24 lower-case letters and digits.
    if (!/^[a-z0-9]{3,24}$/.test(accountName))
      throw new RotatorError(
        "STORAGE_CONFIG_INVALID",
        `${SETTING}__accountName is not a valid storage account name`,
        "Use the account's name only (3-24 lower-case letters and digits), or set AzureWebJobsStorage__blobServiceUri to the full blob endpoint.",
      );
    return fromIdentity(
      `https://${accountName}.blob.core.windows.net`,
      `${SETTING}__accountName`,
      credential,
    );
  }
  return undefined;
}

function fromConnectionString(connectionString: string): StorageConnection {
  for (const part of connectionString.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (name === "accountkey" || name === "sharedaccesssignature")
      registerProcessSecret(part.slice(eq + 1).trim());
  }
  let blob: BlobServiceClient;
  try {
    blob = BlobServiceClient.fromConnectionString(connectionString, PIPELINE);
  } catch (e) {
    throw new RotatorError(
      "STORAGE_CONFIG_INVALID",
      `${SETTING} is not a usable storage connection string`,
      "Set it to the storage account's connection string (DefaultEndpointsProtocol=...;AccountName=...;AccountKey=... or a SAS connection string), UseDevelopmentStorage=true for Azurite, or use AzureWebJobsStorage__blobServiceUri with an identity.",
      { cause: e },
    );
  }
  return {
    blob,
    describe: `${endpointOf(blob)} (${SETTING} connection string, account ${blob.accountName})`,
  };
}

function fromIdentity(uri: string, setting: string, credential: TokenCredential): StorageConnection {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (e) {
    throw new RotatorError(
      "STORAGE_CONFIG_INVALID",
      `${setting} is not a URL`,
      "Set it to the blob endpoint, e.g. https://<account>.blob.core.windows.net.",
      { cause: e },
    );
  }
  // The SDK's bearer-token policy refuses to send a token over plain http, so only https can work.
  if (url.protocol !== "https:")
    throw new RotatorError(
      "STORAGE_CONFIG_INVALID",
      `${setting} must be an https URL for identity-based access`,
      "Use the account's https blob endpoint; for the local emulator use the AzureWebJobsStorage connection string instead.",
    );
  url.search = "";
  url.hash = "";
  const blob = new BlobServiceClient(url.toString().replace(/\/$/, ""), credential, PIPELINE);
  return { blob, describe: `${endpointOf(blob)} (${setting}, identity)` };
}

/** The blob endpoint without any query (a SAS connection string puts the token there). */
function endpointOf(blob: BlobServiceClient): string {
  const url = new URL(blob.url);
  url.search = "";
  return url.toString().replace(/\/$/, "");
}

// ---------------------------------------------------------------------------------------------
// Error mapping shared by the storage-backed adapters
// ---------------------------------------------------------------------------------------------

export interface StorageFailure {
  statusCode?: number;
  code?: string;
}

/** The Storage error code (`x-ms-error-code`, e.g. `LeaseAlreadyPresent`) and HTTP status, when the call got an answer. */
export function storageErrorCode(e: unknown): StorageFailure {
  if (e === null || typeof e !== "object") return {};
  const out: StorageFailure = {};
  if ("statusCode" in e && typeof e.statusCode === "number") out.statusCode = e.statusCode;
  if ("code" in e && typeof e.code === "string") out.code = e.code;
  return out;
}

const CREDENTIAL_ERRORS = new Set([
  "AuthenticationError",
  "CredentialUnavailableError",
  "AggregateAuthenticationError",
]);

/**
 * Map a Storage SDK failure to a RotatorError with a stable code `${area}_STORAGE_*`. Messages carry the
 * action, HTTP status and Storage error code only; never the response body or the request URL (which may
 * hold a SAS).
 */
export function storageError(e: unknown, area: "LEASE" | "ALERT_STATE", action: string): RotatorError {
  if (e instanceof RotatorError) return e;
  const { statusCode, code } = storageErrorCode(e);
  const name = e instanceof Error ? e.name : "";
  const what = `${action}: ${statusCode ?? "no response"}${code ? ` ${code}` : ""}`;
  const options = {
    cause: e,
    ...(statusCode === undefined ? {} : { status: statusCode }),
    details: { storageCode: code },
  };
  if (CREDENTIAL_ERRORS.has(name))
    return new RotatorError(
      `${area}_STORAGE_AUTH`,
      `${action}: could not get a token for storage`,
      "Check the service identity (managed identity or AZURE_* variables) and that it can get tokens for https://storage.azure.com.",
      options,
    );
  if (statusCode === 403 && code === "AuthenticationFailed")
    return new RotatorError(
      `${area}_STORAGE_AUTH`,
      what,
      "Storage rejected the request signature: check the account key or SAS in AzureWebJobsStorage (and that the SAS has not expired).",
      options,
    );
  if (statusCode === 401 || statusCode === 403)
    return new RotatorError(
      `${area}_STORAGE_FORBIDDEN`,
      what,
      "Grant the service identity 'Storage Blob Data Contributor' on the storage account (or its containers), and check the account's network rules.",
      options,
    );
  if (statusCode === undefined || isTransientStatus(statusCode))
    return new RotatorError(
      `${area}_STORAGE_UNAVAILABLE`,
      what,
      "Storage did not answer or is busy; the next run retries. Check AzureWebJobsStorage points at a reachable account (is Azurite running locally?).",
      { ...options, retryable: true },
    );
  return new RotatorError(
    `${area}_STORAGE_ERROR`,
    what,
    "Unexpected answer from storage; see the storage error code.",
    options,
  );
}
