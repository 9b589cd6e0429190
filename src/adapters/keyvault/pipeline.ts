import type { CertificateClientOptions } from "@azure/keyvault-certificates";
import { parseRetryAfter, withRetry, type RetryPolicy } from "../../http/retry.js";
import { HttpStatusError, isTransientStatus, retryDecision } from "../../http/transient.js";
import type { Clock } from "../../ports/engine.js";

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

/**
 * Key Vault's create (POST .../create) makes a new version each time it is processed, so it is not
 * idempotent: the shared rule (src/http/transient.ts) re-sends it only when it cannot have been processed,
 * and leaves a timeout or a 500 after sending to the caller, which checks what landed. `sign` is a POST
 * without side effects.
 */
function idempotent(method: string, url: string): boolean {
  return method !== "POST" || new URL(url).pathname.endsWith("/sign");
}

/**
 * The retry loop of every Key Vault client, placed per attempt in the SDK pipeline (after the challenge
 * authentication policy) and replacing the SDK's own retries, which are switched off: it uses the service's
 * RetryPolicy and Clock and the shared rule (src/http/transient.ts), honours Retry-After
 * (https://learn.microsoft.com/azure/key-vault/general/overview-throttling) up to `maxRetryAfterMs`, and
 * gives each attempt `attemptTimeoutMs` (the SDK neither retries a timed-out request nor caps Retry-After). When the attempts run out on an HTTP status the last response is
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
            if (isTransientStatus(response.status))
              throw new HttpStatusError(
                response.status,
                parseRetryAfter(response.headers.get("retry-after"), clock.now()),
                response,
              );
            return response;
          },
          (e) => retryDecision(e, { idempotent: idem }),
          { policy, clock },
        );
      } catch (e) {
        // The attempts ran out on a status: the SDK raises its usual RestError from the last response.
        if (e instanceof HttpStatusError && e.answer) return e.answer as PipelineResponse;
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
