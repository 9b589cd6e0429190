/**
 * Composition root: turns a validated Config and the process environment into the engine's ports.
 * The Azure Functions, the CLI and the demo all build their runtime here, so they share one lease,
 * one alert state and one set of adapters.
 */
import type { TokenCredential } from "@azure/identity";
import type { BlobServiceClient } from "@azure/storage-blob";
import { credentialOf, type Config, type CredentialConfig, type SecretRef } from "../config/load.js";
import { vaultKey } from "../config/rules.js";
import { systemClock } from "../clock.js";
import type { CertificateStore, Clock, Logger, KongTarget, EnginePorts } from "../ports/engine.js";
import { RotatorError } from "../errors.js";
import { jsonLogger } from "../log/logger.js";
import { registerProcessSecret, registerSecret } from "../log/redact.js";
import type {
  AlertSink,
  AlertStateStore,
  LeaseManager,
  RunHistory,
  WorkQueue,
} from "../ports/infrastructure.js";
import { createStorageWorkQueue, queueServiceFromEnv } from "../adapters/queue/storage-queue.js";
import { createBlobRunHistory, createMemoryRunHistory } from "../adapters/history/blob.js";
import { createKeyVaultSecretReader, createKeyVaultStore } from "../adapters/keyvault/store.js";
import { registeredIdp } from "../adapters/idp/registry.js";
import {
  createTargetOfKind,
  kongSecretsOf,
  lazyKongTarget,
  type KongReadCache,
} from "../adapters/kong/registry.js";
import { storageFromEnv } from "../adapters/storage.js";
import { createBlobLeaseManager } from "../adapters/lease/blob.js";
import { createNoLeaseManager } from "../adapters/lease/none.js";
import {
  createLeasedPluginLock,
  createLocalPluginLock,
  PLUGIN_LOCK_CONTAINER,
  type PluginLock,
} from "../adapters/lease/plugin-lock.js";
import { createAlerter, readOpenAlerts, type Alerter, type OpenAlert } from "../adapters/alerts/dedup.js";
import { createLogSink } from "../adapters/alerts/log-sink.js";
import { createDeferredWebhookSink } from "../adapters/alerts/webhook-sink.js";
import { createBlobAlertStateStore } from "../adapters/alerts/state-blob.js";
import { createMemoryAlertStateStore } from "../adapters/alerts/state-memory.js";
import { tracedPorts } from "../telemetry/tracing.js";
import { serviceCredential } from "./identity.js";
import { effectiveLimits } from "../limits.js";
import { shareConnections } from "../http/connections.js";
import { createLimiters, limitedStore, vaultLimiters } from "./limited.js";
import { createIdentityProvider } from "./idp.js";

export interface RuntimeOptions {
  config: Config;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  clock?: Clock;
  credential?: TokenCredential;
  /**
   * 'storage' (default): the per-credential blob lease from AzureWebJobsStorage; refuses to build when no
   * storage is configured. 'none': the operator stated that no other writer exists (CLI flag).
   */
  lease?: "storage" | "none";
}

export interface Runtime {
  config: Config;
  clock: Clock;
  logger: Logger;
  leases: LeaseManager;
  alerter: Alerter;
  history: RunHistory;
  /** The credential's open alert conditions, from the shared alert state (status output). */
  openAlerts(credential: string): Promise<OpenAlert[]>;
  /** Where the lease and alert state live, for status output (no secrets). */
  storage: string;
  /** The storage account's blob service, when AzureWebJobsStorage is configured (doctor probes it). */
  blob?: BlobServiceClient;
  /** The fleet's work queue (app/fleet.ts), when AzureWebJobsStorage is configured. */
  queue?: WorkQueue;
  credential(name: string): CredentialConfig;
  /** `kongReads`: one sync tick's Kong read cache, shared by every credential (adapters/kong/registry.ts). */
  enginePorts(cred: CredentialConfig, options?: { kongReads?: KongReadCache }): EnginePorts;
  /** An alert webhook's URL: as configured, or read from its reference (registered with the redactor). */
  webhookUrl(url: string | SecretRef): Promise<string>;
}

export function createRuntime(options: RuntimeOptions): Runtime {
  const env = options.env ?? process.env;
  const config = options.config;
  shareConnections();
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? jsonLogger();
  const credential = options.credential ?? serviceCredential(config.cloud.authorityHost, env);

  const storage = storageFromEnv(env, credential);
  let leases: LeaseManager;
  let alertState: AlertStateStore;
  if (options.lease === "none") {
    leases = createNoLeaseManager();
    alertState = storage ? createBlobAlertStateStore({ blob: storage.blob }) : createMemoryAlertStateStore();
  } else {
    if (!storage)
      throw new RotatorError(
        "STORAGE_NOT_CONFIGURED",
        "no storage for the one-writer lease: AzureWebJobsStorage is not set",
        "Set AzureWebJobsStorage (a connection string, or AzureWebJobsStorage__blobServiceUri with an identity) to the Function App's storage so the CLI and the functions share one lease; or pass --no-other-writer if you are sure nothing else rotates these credentials.",
      );
    leases = createBlobLeaseManager({ blob: storage.blob, logger });
    alertState = createBlobAlertStateStore({ blob: storage.blob });
  }

  const queues = storage ? queueServiceFromEnv(env, credential) : undefined;
  // One writer per Kong plugin, across credentials that share it (and across instances with storage).
  const pluginLock: PluginLock = storage
    ? createLeasedPluginLock({
        leases: createBlobLeaseManager({ blob: storage.blob, container: PLUGIN_LOCK_CONTAINER, logger }),
        clock,
      })
    : createLocalPluginLock();
  const history = storage ? createBlobRunHistory({ blob: storage.blob }) : createMemoryRunHistory();

  // Shared by every credential of the process: the documented limits are per vault and per tenant. Each
  // Key Vault the credentials name has a store and limiters of its own (built when first used).
  const limits = effectiveLimits(config.limits);
  const limiters = createLimiters(limits, clock);
  const stores = new Map<string, CertificateStore>();
  const storeOf = (vaultUrl: string): CertificateStore => {
    const key = vaultKey(vaultUrl);
    let store = stores.get(key);
    if (!store) {
      store = limitedStore(
        createKeyVaultStore({ vaultUrl, credential, clock }),
        key === vaultKey(config.keyVault.url) ? limiters : vaultLimiters(limits, clock),
      );
      stores.set(key, store);
    }
    return store;
  };
  const secrets = createKeyVaultSecretReader({ vaultUrl: config.keyVault.url, credential, clock });

  // Kong and IdP tokens held in the process environment live as long as the process: redacted for its
  // whole life. Tokens read from Key Vault are registered for the run that read them (src/log/redact.ts).
  for (const t of config.credentials.flatMap((c) => c.kong))
    for (const { ref } of kongSecretsOf(t)) if ("env" in ref) registerProcessSecret(env[ref.env]);
  for (const { idp } of config.credentials)
    for (const { ref } of registeredIdp(idp).secrets) if ("env" in ref) registerProcessSecret(env[ref.env]);
  for (const { url } of config.alerts.webhooks)
    if (typeof url !== "string" && "env" in url) registerProcessSecret(env[url.env]);

  const readSecret = async (ref: SecretRef, missing: (name: string) => RotatorError): Promise<string> => {
    if ("env" in ref) {
      const value = env[ref.env];
      if (!value) throw missing(ref.env);
      return value;
    }
    const value = await secrets.read(ref.keyVaultSecret);
    registerSecret(value);
    return value;
  };

  const secretOf = async (
    target: string,
    ref: SecretRef | undefined,
    what: string,
  ): Promise<string | undefined> =>
    ref === undefined
      ? undefined
      : readSecret(
          ref,
          (name) =>
            new RotatorError(
              "KONG_TOKEN_MISSING",
              `Kong target ${target}: environment variable ${name} is not set`,
              `Set ${name} (an app setting in Azure, ideally a Key Vault reference) to the ${what}.`,
            ),
        );
  const idpDeps = { config, credential, clock, limiters, secret: readSecret };

  // The service identity's own token for another resource (AKS with Microsoft Entra), a secret of the run.
  const accessToken = async (scope: string): Promise<string> => {
    const t = await credential.getToken(scope);
    if (!t)
      throw new RotatorError(
        "IDENTITY_NO_TOKEN",
        `the service identity got no token for ${scope}`,
        "Check the identity (AZURE_CLIENT_ID, managed identity) and that the resource exists in its tenant.",
      );
    registerSecret(t.token);
    return t.token;
  };

  // A webhook sink holds its URL for the process (src/adapters/alerts/webhook-sink.ts registers it).
  const webhookUrl = async (url: string | SecretRef): Promise<string> =>
    typeof url === "string"
      ? url
      : readSecret(
          url,
          (name) =>
            new RotatorError(
              "ALERT_WEBHOOK_URL_MISSING",
              `alert webhook: environment variable ${name} is not set`,
              `Set ${name} (an app setting in Azure, ideally a Key Vault reference) to the webhook's URL, or name a Key Vault secret with url: { keyVaultSecret: <name> }.`,
            ),
        );
  const sinks: AlertSink[] = [
    createLogSink(logger),
    // Built on first use: a webhook that cannot be built, read or reached never stops a rotation (dedup.ts).
    ...config.alerts.webhooks.map((w) =>
      createDeferredWebhookSink({ url: w.url, resolve: webhookUrl, format: w.format, clock, logger }),
    ),
  ];
  const alerter = createAlerter({
    sinks,
    state: alertState,
    clock,
    remindEveryMs: config.alerts.remindEveryMs,
    logger,
  });

  const kongTargets = (cred: CredentialConfig, reads?: KongReadCache): KongTarget[] =>
    cred.kong.map((target) =>
      lazyKongTarget(target, () =>
        createTargetOfKind({
          target,
          clientId: cred.idp.clientId,
          idp: cred.idp.kind,
          clock,
          secret: secretOf,
          accessToken,
          pluginLock,
          ...(reads ? { reads } : {}),
        }),
      ),
    );

  return {
    config,
    clock,
    logger,
    leases,
    alerter,
    history,
    // A store instance of its own: reads record ETags, which must not move under the alerter's writes.
    openAlerts: (credential) =>
      readOpenAlerts(storage ? createBlobAlertStateStore({ blob: storage.blob }) : alertState, credential),
    storage: storage?.describe ?? "none (in-memory; --no-other-writer)",
    ...(storage ? { blob: storage.blob } : {}),
    ...(queues ? { queue: createStorageWorkQueue(queues) } : {}),
    credential: (name) => credentialOf(config, name),
    webhookUrl,
    // Every Key Vault, Graph, token endpoint and Kong call runs in a span (no-op without telemetry).
    enginePorts: (cred, options = {}) =>
      tracedPorts(
        {
          store: storeOf(cred.keyVaultUrl),
          idp: createIdentityProvider(cred, idpDeps),
          kong: kongTargets(cred, options.kongReads),
          clock,
          logger,
        },
        cred.name,
      ),
  };
}
