import type { CertificateClientOptions } from "@azure/keyvault-certificates";
import type { Clock } from "../../clock.js";
import {
  parseRetryAfter,
  TimeoutError,
  withRetry,
  type RetryDecision,
  type RetryPolicy,
} from "../../http/retry.js";

type PipelinePolicy = NonNullable<CertificateClientOptions["additionalPolicies"]>[number]["policy"];
type PipelineResponse = Awaited<ReturnType<PipelinePolicy["sendRequest"]>>;

/**
 * Data-plane hosts of Key Vault in the public and sovereign clouds
 * (https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#dns-suffixes-for-object-identifiers).
 */
const VAULT_DNS_SUFFIXES = [
  ".vault.azure.net",
  ".vault.azure.cn",
  ".vault.usgovcloudapi.net",
  ".vault.microsoftazure.de",
];

function isAzureVaultHost(vaultUrl: string): boolean {
  const host = new URL(vaultUrl).hostname.toLowerCase();
  return VAULT_DNS_SUFFIXES.some((s) => host.endsWith(s));
}

/** Errors of the socket layer after which the request can be sent again (as core-rest-pipeline treats them). */
const TRANSIENT_SOCKET_CODES = new Set([
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** Statuses worth another attempt: throttling, timeouts and server errors other than 501/505. */
function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

class RetryableResponse extends Error {
  constructor(readonly response: PipelineResponse) {
    super(`HTTP ${response.status}`);
  }
}

function errorCode(e: unknown): string | undefined {
  return e && typeof e === "object" && "code" in e && typeof e.code === "string" ? e.code : undefined;
}

/**
 * Only requests that did not reach the service may be re-sent when they are not idempotent: Key Vault's
 * create (POST .../create) makes a new version each time it is processed, so a timeout or a 500 after
 * sending is left to the caller, which checks what landed. `sign` is a POST without side effects.
 */
function idempotent(method: string, url: string): boolean {
  return method !== "POST" || new URL(url).pathname.endsWith("/sign");
}

function classify(e: unknown, clock: Clock, idem: boolean): RetryDecision {
  if (e instanceof RetryableResponse) {
    const status = e.response.status;
    // 429 and 503 mean the request was not processed; Retry-After says when to come back
    // (https://learn.microsoft.com/azure/key-vault/general/overview-throttling).
    if (status === 429 || status === 503) {
      const retryAfterMs = parseRetryAfter(e.response.headers.get("retry-after"), clock.now());
      return retryAfterMs === undefined ? { retry: true } : { retry: true, retryAfterMs };
    }
    return { retry: idem };
  }
  if (e instanceof TimeoutError) return { retry: idem };
  const code = errorCode(e);
  if (code === "ECONNREFUSED") return { retry: true };
  return { retry: idem && code !== undefined && TRANSIENT_SOCKET_CODES.has(code) };
}

/**
 * The retry loop of every Key Vault client, placed per attempt in the SDK pipeline (after the challenge
 * authentication policy) and replacing the SDK's own retries, which are switched off: it uses the service's
 * RetryPolicy and Clock, honours Retry-After on 429/503 up to `maxRetryAfterMs`, backs off with a cap on
 * 5xx and socket errors, and gives each attempt `attemptTimeoutMs` (the SDK neither retries a timed-out
 * request nor caps Retry-After). When the attempts run out on an HTTP status the last response is
 * returned, so the SDK raises its usual RestError with the service's error body.
 */
function retryingPolicy(policy: RetryPolicy, clock: Clock): PipelinePolicy {
  return {
    name: "keyRotatorRetryPolicy",
    async sendRequest(request, next) {
      const callerSignal = request.abortSignal;
      const idem = idempotent(request.method, request.url);
      try {
        return await withRetry(
          async (_attempt, signal) => {
            request.abortSignal =
              callerSignal instanceof AbortSignal ? AbortSignal.any([signal, callerSignal]) : signal;
            const response = await next(request);
            if (retryableStatus(response.status)) throw new RetryableResponse(response);
            return response;
          },
          (e) => classify(e, clock, idem),
          { policy, clock },
        );
      } catch (e) {
        if (e instanceof RetryableResponse) return e.response;
        throw e;
      } finally {
        request.abortSignal = callerSignal;
      }
    },
  };
}

export interface KeyVaultClientOptions {
  retryOptions: { maxRetries: number };
  additionalPolicies: { policy: PipelinePolicy; position: "perRetry" }[];
  disableChallengeResourceVerification: boolean;
}

/**
 * Options shared by CertificateClient, SecretClient and KeyClient.
 *
 * The challenge flow checks that the `resource` in Key Vault's 401 challenge matches the vault's host
 * (@azure/keyvault-common, keyVaultAuthenticationPolicy), which a local or private endpoint cannot satisfy;
 * the check stays on for real vault hosts and is switched off only for other hosts.
 */
export function keyVaultClientOptions(
  vaultUrl: string,
  policy: RetryPolicy,
  clock: Clock,
): KeyVaultClientOptions {
  return {
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [{ policy: retryingPolicy(policy, clock), position: "perRetry" }],
    disableChallengeResourceVerification: !isAzureVaultHost(vaultUrl),
  };
}
