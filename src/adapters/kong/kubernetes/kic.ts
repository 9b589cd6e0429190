/**
 * KongTarget for Kong on Kubernetes with the Kong Ingress Controller (KIC 3.1+): the openid-connect plugin is
 * a `KongPlugin` whose `configPatches[{path: /client_jwk, valueFrom.secretKeyRef}]` takes the JWK array from a
 * Secret, and the rotator writes only that Secret, through the Kubernetes API (@kubernetes/client-node).
 *
 * Facts this relies on (docs app/kubernetes-ingress-controller/reference/secrets-in-plugins.md and
 * custom-resources.md in Kong/developer.konghq.com; KIC CHANGELOG 3.1.0, #5158/#5208/#5203):
 * - configPatches are RFC 6902 "add" operations of the Secret value onto `config`; the value must be JSON
 *   (so the array is written as JSON text, strings quoted).
 * - KIC watches every Secret a KongPlugin refers to and pushes the whole config to every proxy at most every
 *   `--proxy-sync-seconds` (default 3). There is no `Programmed` condition on KongPlugin (removed in 2.11.1,
 *   #4584), so confirmation reads each proxy pod's Status API `GET /status` -> `configuration_hash`
 *   (kong/api/routes/health.lua), which changes when the pod loads a new config.
 * - The Status API is read through the API server's pod proxy subresource by default
 *   (`statusAccess: apiserver`): the rotator runs outside the cluster network, where pod IPs are not routable.
 *   See hashOf() for the API's rules; `statusAccess: direct` reads `http://<podIP>:<port>/status` instead.
 * - `KongConfigurationApplyFailed` Events on the KIC pod (internal/dataplane/kong_client.go) are only a hint:
 *   client-go's spam filter drops all but 25 + 1 per 5 min per object (tools/record/events_cache.go), so a
 *   change may produce no event at all. A failure event newer than our write fails the step early.
 * - Since 3.1.0 KIC's admission webhook validates a Secret change against the plugins that use it: a bad
 *   JWK fails the PATCH itself with `admission webhook "..." denied the request: ...`.
 *
 * Clients are matched with the same rules as the Admin API adapter (../common/plugin.ts): the KongPlugin's
 * `config.client_id` decides our index in the Secret's array, and only our entry is replaced.
 */
import {
  ApiException,
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  Observable,
  PatchStrategy,
  type ConfigurationOptions,
  type CoreV1Event,
  type RequestContext,
  type V1Pod,
  type V1Secret,
} from "@kubernetes/client-node";
import { readFileSync } from "node:fs";
import { Agent, fetch } from "undici";
import type { Clock, KongPluginView } from "../../../ports/engine.js";
import { systemClock } from "../../../clock.js";
import type { KongPrivateJwk } from "../../../crypto/keymaterial.js";
import { RotatorError } from "../../../errors.js";
import type { IdpKind } from "../../../idp-rules.js";
import { defaultRetryPolicy, parseRetryAfter, withRetry, type RetryPolicy } from "../../../http/retry.js";
import { HttpStatusError, isTransientStatus, retryDecision } from "../../../http/transient.js";
import { registerSecret, scrubEchoedText } from "../../../log/redact.js";
import { checkReadBack } from "../common/readback.js";
import {
  checkClientAlg,
  clientSlot,
  diagnosePlugin,
  effectiveJwk,
  holdsJwk,
  parsePlugin,
  placeJwk,
  toView,
  type JwkEntry,
  type OidcPlugin,
} from "../common/plugin.js";
import { AZURE_BACKEND } from "../../../engine/vault-entity.js";
import { parseVaultEntity } from "../common/vault.js";
import type { KongDiagnosis, KongNodeInfo, KongVaultDiagnosis } from "../../../ports/diagnosis.js";

/** The `kubernetes:` block of a Kong target (issue 10's config contract, plus optional proxy discovery). */
export interface KubernetesTargetConfig {
  name: string;
  namespace: string;
  secretName: string;
  /** Key in the Secret holding the JWK array (the one the KongPlugin's secretKeyRef names). */
  secretKey: string;
  /** Path to a kubeconfig file; absent = in-cluster service account. */
  kubeconfig?: string;
  /**
   * How the proxy pods' Status API is reached: `apiserver` (default) through the API server's pod proxy
   * subresource (needs `get` on `pods/proxy`), `direct` by pod IP (the rotator must be in the cluster network).
   */
  statusAccess?: "apiserver" | "direct";
  /** Label selector of the Kong proxy pods (default `app.kubernetes.io/component=app`, the Kong chart's). */
  proxySelector?: string;
  /** Namespace of the proxy pods (default: `namespace`). */
  proxyNamespace?: string;
  /** Name or number of the proxy container port serving the Status API (default `status`, the chart's). */
  statusPort?: string | number;
  /** Scheme of the Status API (default `http`: the chart's status listener has no TLS unless enabled). */
  statusScheme?: "http" | "https";
  /**
   * Also read each proxy pod's Admin API (`GET /plugins?tags=k8s-uid:<KongPlugin uid>`) and require that the
   * pod holds our kid. Off by default: KIC's Admin API usually needs KIC's client certificate.
   */
  proxyAdmin?: {
    /** Container port name or number (default `admin-tls`, KIC's `--kong-admin-svc-port-names` default). */
    port?: string | number;
    scheme?: "http" | "https";
    /** PEM files: the CA of the Admin API's certificate, and a client certificate and key for mTLS. */
    caFile?: string;
    certFile?: string;
    keyFile?: string;
  };
}

/**
 * Credentials other than `target.kubeconfig` (a file) or the in-cluster service account:
 * - `kubeconfig`: the text of a kubeconfig held as a secret (Key Vault or environment). It may carry only
 *   inline credentials: a secret must not make the rotator run a command (`exec`), call an auth provider,
 *   read local files or skip TLS verification.
 * - `aks`: Microsoft Entra authentication to AKS: every request carries a bearer token for the AKS server
 *   application, obtained with the service identity (`token`); the cluster is named by its API server URL
 *   and CA. No cluster credential exists anywhere.
 */
export interface KubernetesCredentials {
  kubeconfig?: string;
  aks?: { server: string; certificateAuthorityData?: string; token: () => Promise<string> };
}

export interface KubernetesTargetOptions {
  target: KubernetesTargetConfig;
  credentials?: KubernetesCredentials;
  /** The credential's client id, as listed in the KongPlugin's config.client_id. */
  clientId: string;
  /** The credential's IdP: its rules decide which client_alg can work (idp-rules.ts `clientAlgProblem`). */
  idp: IdpKind;
  clock?: Clock;
  retry?: Partial<RetryPolicy>;
  /** Per-request timeout of the proxy pods' Status API (default 5000 ms). */
  statusTimeoutMs?: number;
  /**
   * Prefix of the in-cluster service-account files (`<prefix>/var/run/secrets/kubernetes.io/serviceaccount`);
   * only for tests (KubeConfig.loadFromCluster's `pathPrefix`).
   */
  inClusterPathPrefix?: string;
}

/** What apply() leaves for confirm(): JSON-serialisable, to persist between runs. */
export interface KicApplyReceipt {
  kind: "kubernetes";
  namespace: string;
  secretName: string;
  /** The Secret's resourceVersion after our write (or as read, when it already held the key). */
  resourceVersion: string;
  /** False when the Secret already held exactly this key (then at most the labels were written). */
  wrote: boolean;
  /** When the write was accepted (ISO 8601), by the API server's `Date` header when it sent one. */
  writtenAt: string;
  /** Each live proxy pod's configuration_hash before the write, by pod name. */
  before: Record<string, string>;
  views: KongPluginView[];
}

/** One permission the target needs, and whether the API server grants it (SelfSubjectAccessReview). */
export interface KicAccessCheck {
  verb: string;
  group: string;
  resource: string;
  /** `proxy` for `pods/proxy` (RBAC names it `<resource>/<subresource>`). */
  subresource?: string;
  namespace: string;
  name?: string;
  /** False for what only sharpens confirmation (events). */
  required: boolean;
  allowed: boolean;
}

export type KicConfirmation =
  | { state: "confirmed" }
  | { state: "pending"; detail: string; lagging: string[] }
  | { state: "failed"; code: string; detail: string; lagging: string[] };

/**
 * Labels the rotator puts on the Secret:
 * - `konghq.com/secret: "true"`: KIC's default `--secret-label-selector` (DefaultSecretLabelSelector). KIC also
 *   reconciles Secrets a KongPlugin refers to without it, but the docs say to label them.
 * - `konghq.com/validate: plugin`: since KIC 3.2 the chart's webhook only checks Secrets labelled
 *   `konghq.com/credential` or `konghq.com/validate` ("Secrets with plugin configuration should use a
 *   konghq.com/validate: plugin label", KIC CHANGELOG; admission handler), so a bad JWK is refused on write.
 *   Not `konghq.com/credential`: that marks a consumer credential and its value must be a credential type.
 * - `app.kubernetes.io/managed-by`: who writes it.
 */
export const SECRET_LABELS: Readonly<Record<string, string>> = {
  "konghq.com/secret": "true",
  "konghq.com/validate": "plugin",
  "app.kubernetes.io/managed-by": "kong-entra-key-rotator",
};

const KONG_GROUP = "configuration.konghq.com";
/** The KIC custom resources the target reads (both in KONG_GROUP). */
const KONG_RESOURCES: ReadonlySet<string> = new Set(["kongplugins", "kongvaults"]);
const ZERO_HASH = "0".repeat(32);
const CONFLICT_ATTEMPTS = 3;
/** Codes that say our identity may not read the Status API through the API server: not a pod that lags. */
const DENIED: ReadonlySet<string> = new Set(["KONG_K8S_FORBIDDEN", "KONG_K8S_UNAUTHORIZED"]);

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

interface KongPluginResource {
  name: string;
  plugin: string;
  config: Record<string, unknown>;
  uid: string;
}

interface LivePod {
  name: string;
  /** The Status API by pod IP (`statusAccess: direct`). */
  url: string;
  /** The status container port's number (the pod proxy subresource takes a number, not a port name). */
  port: number;
  adminUrl?: string;
  image?: string;
}

/** An RBAC rule granting one call (`resource` may be `<resource>/<subresource>`), as YAML flow text. */
function rbacRule(verb: string, group: string, resource: string, name?: string): string {
  const scoped = name ? `, resourceNames: ["${name}"]` : "";
  return `{ apiGroups: ["${group}"], resources: ["${resource}"], verbs: ["${verb}"]${scoped} }`;
}

/** The permission a KicAccessCheck asks about, and the Role (or ClusterRole) rule that grants it. */
export function describeAccess(c: Omit<KicAccessCheck, "allowed" | "required">): {
  permission: string;
  grant: string;
} {
  const resource = c.subresource ? `${c.resource}/${c.subresource}` : c.resource;
  const qualified = c.group ? `${resource}.${c.group}` : resource;
  const rule = rbacRule(c.verb, c.group, resource, c.name);
  return {
    permission: `${c.verb} ${qualified}${c.name ? ` "${c.name}"` : ""} ${c.namespace ? `in namespace ${c.namespace}` : "(cluster-scoped)"}`,
    grant: c.namespace
      ? `a Role in namespace ${c.namespace} with ${rule}, bound to the rotator's identity`
      : `a ClusterRole with ${rule} and a ClusterRoleBinding (${resource} are cluster-scoped)`,
  };
}

/** The auth provider name of the AKS Entra user (loadAks); client-node's own providers use other names. */
const ENTRA_PROVIDER = "kong-key-rotator-entra";

/** A cluster named by its API server and CA, whose every request carries a fresh Entra token. */
function loadAks(kc: KubeConfig, aks: NonNullable<KubernetesCredentials["aks"]>, target: string): void {
  kc.loadFromOptions({
    clusters: [
      {
        name: "aks",
        server: aks.server,
        skipTLSVerify: false,
        ...(aks.certificateAuthorityData ? { caData: aks.certificateAuthorityData } : {}),
      },
    ],
    users: [{ name: "entra", authProvider: { name: ENTRA_PROVIDER, config: {} } }],
    contexts: [{ name: "aks", cluster: "aks", user: "entra" }],
    currentContext: "aks",
  });
  kc.addAuthenticator({
    isAuthProvider: (user) => (user.authProvider as { name?: unknown } | undefined)?.name === ENTRA_PROVIDER,
    applyAuthentication: async (_user, options) => {
      let token: string;
      try {
        token = await aks.token();
      } catch (e) {
        throw new RotatorError(
          "KONG_AKS_TOKEN_FAILED",
          `Kong target ${target}: the service identity got no Microsoft Entra token for the AKS server application (${e instanceof Error ? e.name : "error"})`,
          "The identity (AZURE_CLIENT_ID) must be able to sign in to the cluster's tenant; kubernetes.aks.serverAppId is the AKS server application (6dae42f8-4368-4678-94ff-3960e28e3630 for AKS-managed Entra integration).",
          { retryable: true, cause: e },
        );
      }
      options.headers = { ...options.headers, Authorization: `Bearer ${token}` };
    },
  });
}

/**
 * A kubeconfig read from a secret, with inline credentials only: whoever can write the secret must not be
 * able to make the rotator run a command (`exec`), call an auth provider, read local files, or talk to the
 * cluster without verifying its certificate (the JWK it writes holds a private key).
 */
function loadKubeconfigSecret(kc: KubeConfig, text: string, target: string): void {
  kc.loadFromString(text);
  const user = kc.getCurrentUser();
  const cluster = kc.getCurrentCluster();
  const refused = [
    user?.exec ? "users[].user.exec" : undefined,
    user?.authProvider ? "users[].user.auth-provider" : undefined,
    user?.certFile || user?.keyFile ? "users[].user.client-certificate / client-key (files)" : undefined,
    (user as { tokenFile?: unknown } | undefined)?.tokenFile ? "users[].user.tokenFile" : undefined,
    cluster?.caFile ? "clusters[].cluster.certificate-authority (a file)" : undefined,
    cluster?.skipTLSVerify ? "clusters[].cluster.insecure-skip-tls-verify" : undefined,
  ].filter((x): x is string => x !== undefined);
  if (refused.length)
    throw new RotatorError(
      "KONG_K8S_KUBECONFIG_REFUSED",
      `Kong target ${target}: the kubeconfig secret uses ${refused.join(", ")}, which a kubeconfig held as a secret may not`,
      "Keep only inline credentials in it: token, or client-certificate-data and client-key-data, with certificate-authority-data. For AKS, prefer kubernetes.aks (Entra authentication, no kubeconfig at all).",
    );
}

/** The Status body of a failed call, when the API server sent one. */
function statusMessage(e: ApiException<unknown>): string | undefined {
  let body: unknown = e.body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  return isRecord(body) ? str(body.message) : undefined;
}

/** The KIC target with its own receipt; ./target.ts adapts it to the engine's KongTarget port. */
export class KubernetesKongTarget {
  readonly name: string;
  private readonly t: KubernetesTargetConfig;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly authz: AuthorizationV1Api;
  private readonly clock: Clock;
  private readonly policy: RetryPolicy;
  private readonly statusTimeoutMs: number;
  private readonly statusAccess: "apiserver" | "direct";
  private readonly adminDispatcher: Agent | undefined;

  constructor(private readonly opts: KubernetesTargetOptions) {
    this.t = opts.target;
    this.name = opts.target.name;
    this.clock = opts.clock ?? systemClock;
    this.policy = { ...defaultRetryPolicy, ...opts.retry };
    this.statusTimeoutMs = opts.statusTimeoutMs ?? 5000;
    this.statusAccess = opts.target.statusAccess ?? "apiserver";
    const admin = this.t.proxyAdmin;
    const pem = (path: string | undefined) => {
      if (!path) return undefined;
      try {
        return readFileSync(path, "utf8");
      } catch (e) {
        throw new RotatorError(
          "CONFIG_INVALID",
          `Kong target ${this.name}: cannot read proxyAdmin file ${path}`,
          "proxyAdmin caFile, certFile and keyFile must be readable PEM files.",
          { cause: e },
        );
      }
    };
    this.adminDispatcher =
      admin && (admin.caFile || admin.certFile)
        ? new Agent({
            connect: {
              ...(admin.caFile ? { ca: pem(admin.caFile) } : {}),
              ...(admin.certFile ? { cert: pem(admin.certFile) } : {}),
              ...(admin.keyFile ? { key: pem(admin.keyFile) } : {}),
            },
          })
        : undefined;
    const kc = new KubeConfig();
    const creds = opts.credentials;
    const source = creds?.aks
      ? "AKS with Microsoft Entra"
      : creds?.kubeconfig !== undefined
        ? "kubeconfig secret"
        : this.t.kubeconfig
          ? "kubeconfig file"
          : "in-cluster service account";
    try {
      if (creds?.aks) loadAks(kc, creds.aks, this.name);
      else if (creds?.kubeconfig !== undefined) loadKubeconfigSecret(kc, creds.kubeconfig, this.name);
      else if (this.t.kubeconfig) kc.loadFromFile(this.t.kubeconfig);
      else kc.loadFromCluster(opts.inClusterPathPrefix);
    } catch (e) {
      if (e instanceof RotatorError) throw e;
      throw new RotatorError(
        "CONFIG_INVALID",
        `Kong target ${this.name}: cannot load the Kubernetes credentials (${source})`,
        source === "kubeconfig secret"
          ? "The secret must hold a kubeconfig (YAML) with a current context."
          : this.t.kubeconfig
            ? "Check that kubeconfig points at a readable kubeconfig file with a current context."
            : "Run inside the cluster with a service account token mounted, or set kubeconfig.",
        { cause: e },
      );
    }
    // Whatever credential the configuration holds is a secret of the run, wherever it might be echoed.
    const user = kc.getCurrentUser();
    for (const v of [user?.token, user?.keyData, user?.password]) registerSecret(v);
    if (!kc.getCurrentCluster())
      throw new RotatorError(
        "CONFIG_INVALID",
        `Kong target ${this.name}: the Kubernetes configuration has no current cluster`,
        "Set current-context in the kubeconfig, or run in-cluster (KUBERNETES_SERVICE_HOST must be set).",
      );
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.authz = kc.makeApiClient(AuthorizationV1Api);
  }

  // ---------------------------------------------------------------------------------------------
  // Kubernetes calls: retries (the shared rule, src/http/transient.ts) and typed errors
  // ---------------------------------------------------------------------------------------------

  private async call<T>(
    what: { verb: string; resource: string; name?: string; namespace: string },
    op: (options: ConfigurationOptions) => Promise<T>,
    hooks: {
      pre?: (ctx: RequestContext) => void;
      /** Response headers (lower-case names) of the answer that was used. */
      post?: (headers: Record<string, string>) => void;
      /** Instead of the target's retry policy (e.g. one attempt for a read that is polled anyway). */
      policy?: RetryPolicy;
    } = {},
  ): Promise<T> {
    // The client raises an answer as ApiException (code = status) and a lost connection as fetch's error.
    const classify = (e: unknown) => {
      if (!(e instanceof ApiException)) return retryDecision(e);
      const answer = e as ApiException<unknown>;
      return retryDecision(
        new HttpStatusError(answer.code, parseRetryAfter(answer.headers["retry-after"], this.clock.now())),
      );
    };
    try {
      return await withRetry(
        (_attempt, signal) =>
          op({
            middleware: [
              {
                pre: (ctx: RequestContext) => {
                  ctx.setSignal(signal);
                  hooks.pre?.(ctx);
                  return new Observable(Promise.resolve(ctx));
                },
                post: (res) => {
                  hooks.post?.(res.headers);
                  return new Observable(Promise.resolve(res));
                },
              },
            ],
            middlewareMergeStrategy: "append",
          }),
        classify,
        { policy: hooks.policy ?? this.policy, clock: this.clock },
      );
    } catch (e) {
      throw this.typed(e, what);
    }
  }

  private typed(
    e: unknown,
    what: { verb: string; resource: string; name?: string; namespace: string },
  ): RotatorError {
    if (e instanceof RotatorError) return e;
    const where = `${what.resource}${what.name ? ` "${what.name}"` : ""} ${what.namespace ? `in namespace ${what.namespace}` : "(cluster-scoped)"}`;
    if (!(e instanceof ApiException))
      return new RotatorError(
        "KONG_K8S_UNREACHABLE",
        `Kong target ${this.name}: the Kubernetes API did not answer (${e instanceof Error ? e.name : "error"}) for ${what.verb} ${where}`,
        "Check the API server address in the kubeconfig (or KUBERNETES_SERVICE_HOST), network policies and the cluster CA.",
        { retryable: true, cause: e },
      );
    const code = (e as ApiException<unknown>).code;
    const message = statusMessage(e as ApiException<unknown>);
    const opts = {
      status: code,
      details: {
        verb: what.verb,
        resource: what.resource,
        namespace: what.namespace,
        ...(what.name ? { name: what.name } : {}),
      },
    };
    if (code === 401)
      return new RotatorError(
        "KONG_K8S_UNAUTHORIZED",
        `Kong target ${this.name}: the Kubernetes API rejected our credentials (401)`,
        "The service account token or kubeconfig credentials are missing, expired or for another cluster; with kubernetes.aks, the cluster must use AKS-managed Microsoft Entra integration in the service identity's tenant.",
        opts,
      );
    // A webhook denial's status is the webhook's own code, 403 when it set none and 400 on older API servers
    // (apiserver admission/plugin/webhook/errors `ToStatusErr`); the message prefix is what identifies it.
    if (code >= 400 && code < 500 && message?.startsWith("admission webhook"))
      return new RotatorError(
        "KONG_KIC_WEBHOOK_REJECTED",
        `Kong target ${this.name}: KIC's admission webhook refused the change to secret ${this.t.secretName}: ${scrubEchoedText(message, 400)}`,
        "KIC validated the plugin with the new Secret value and Kong's schema refused it; nothing was written. Check the KongPlugin's config and the key's members.",
        opts,
      );
    if (code === 403) {
      const group = KONG_RESOURCES.has(what.resource) ? KONG_GROUP : "";
      const rule = rbacRule(what.verb, group, what.resource, what.name);
      return new RotatorError(
        "KONG_K8S_FORBIDDEN",
        `Kong target ${this.name}: Kubernetes RBAC denies ${what.verb} on ${where}`,
        what.namespace
          ? `Grant the rotator's identity a Role in namespace ${what.namespace} with ${rule} and bind it (see docs/kong-kubernetes.md).`
          : `Grant the rotator's identity a ClusterRole with ${rule} and bind it with a ClusterRoleBinding: ${what.resource} are cluster-scoped, a Role cannot grant them (see docs/kong-kubernetes.md).`,
        opts,
      );
    }
    if (code === 404 && KONG_RESOURCES.has(what.resource))
      return new RotatorError(
        "KONG_KIC_CRD_MISSING",
        `Kong target ${this.name}: the API server does not serve ${what.resource}.${KONG_GROUP}`,
        "Install the Kong Ingress Controller's CRDs (KIC 3.1+), or point kubeconfig at the cluster that runs KIC.",
        opts,
      );
    if (code === 404 && what.resource === "secrets")
      return new RotatorError(
        "KONG_KIC_SECRET_NOT_FOUND",
        `Kong target ${this.name}: secret ${this.t.secretName} does not exist in namespace ${what.namespace}`,
        "Create the Secret the KongPlugin's configPatches secretKeyRef names (it may start with an empty JSON array `[]`), or fix secretName/namespace.",
        opts,
      );
    if (code === 422 && what.resource === "secrets" && message?.includes("immutable"))
      return new RotatorError(
        "KONG_KIC_SECRET_IMMUTABLE",
        `Kong target ${this.name}: secret ${this.t.secretName} is immutable; its data cannot change`,
        "Recreate the Secret without `immutable: true` (Kubernetes never lets an immutable Secret's data change).",
        opts,
      );
    if (code === 409)
      return new RotatorError(
        "KONG_K8S_CONFLICT",
        `Kong target ${this.name}: secret ${this.t.secretName} kept changing while we wrote it`,
        "Another writer is updating the Secret; the next run re-reads and re-applies.",
        { ...opts, retryable: true },
      );
    return new RotatorError(
      "KONG_K8S_ERROR",
      `Kong target ${this.name}: Kubernetes answered ${code} for ${what.verb} ${where}`,
      "See the API server's audit log for the request.",
      { ...opts, retryable: isTransientStatus(code) },
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Reading
  // ---------------------------------------------------------------------------------------------

  private readSecret(): Promise<V1Secret> {
    const { namespace, secretName: name } = this.t;
    return this.call({ verb: "get", resource: "secrets", name, namespace }, (o) =>
      this.core.readNamespacedSecret({ name, namespace }, o),
    );
  }

  /** The JWK array in the Secret (an absent key is an empty array). Never echoes the value. */
  private jwks(secret: V1Secret): JwkEntry[] {
    const b64 = secret.data?.[this.t.secretKey];
    if (b64 === undefined) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(b64, "base64").toString("utf8"));
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || !parsed.every(isRecord))
      throw new RotatorError(
        "KONG_KIC_SECRET_INVALID",
        `Kong target ${this.name}: key ${this.t.secretKey} of secret ${this.t.secretName} is not a JSON array of JWK objects`,
        'configPatches values are JSON: the key must hold a JSON array such as [{"kty":"RSA",...}].',
      );
    return parsed;
  }

  /** KongPlugins in the namespace whose configPatches put our Secret key at /client_jwk. */
  private async plugins(): Promise<KongPluginResource[]> {
    const { namespace } = this.t;
    const list = await this.call({ verb: "list", resource: "kongplugins", namespace }, (o) =>
      this.custom.listNamespacedCustomObject(
        { group: KONG_GROUP, version: "v1", namespace, plural: "kongplugins" },
        o,
      ),
    );
    const items: unknown[] = isRecord(list) && Array.isArray(list.items) ? list.items : [];
    const found: KongPluginResource[] = [];
    for (const item of items) {
      if (!isRecord(item) || !isRecord(item.metadata)) continue;
      const patches = Array.isArray(item.configPatches) ? item.configPatches : [];
      const ours = patches.some((p: unknown) => {
        if (!isRecord(p) || p.path !== "/client_jwk" || !isRecord(p.valueFrom)) return false;
        const ref = p.valueFrom.secretKeyRef;
        return isRecord(ref) && ref.name === this.t.secretName && ref.key === this.t.secretKey;
      });
      if (!ours) continue;
      found.push({
        name: str(item.metadata.name) ?? "",
        uid: str(item.metadata.uid) ?? "",
        plugin: str(item.plugin) ?? "",
        config: isRecord(item.config) ? item.config : {},
      });
    }
    if (found.length === 0)
      throw new RotatorError(
        "KONG_PLUGIN_NOT_FOUND",
        `Kong target ${this.name}: no KongPlugin in namespace ${namespace} takes /client_jwk from secret ${this.t.secretName} key ${this.t.secretKey}`,
        `Add configPatches: [{ path: /client_jwk, valueFrom: { secretKeyRef: { name: ${this.t.secretName}, key: ${this.t.secretKey} } } }] to the openid-connect KongPlugin (KIC 3.1+).`,
      );
    return found;
  }

  /** Each KongPlugin as the plugin KIC sends to Kong: its config with the Secret's array at client_jwk. */
  private async resolve(): Promise<{ secret: V1Secret; plugins: OidcPlugin[]; uids: string[] }> {
    const [resources, secret] = await Promise.all([this.plugins(), this.readSecret()]);
    const jwks = this.jwks(secret);
    const plugins = resources.map((r) => ({
      id: `${this.t.namespace}/${r.name}`,
      name: r.plugin,
      config: { ...r.config, client_jwk: structuredClone(jwks) },
    }));
    return { secret, plugins, uids: resources.map((r) => r.uid) };
  }

  private async livePods(): Promise<LivePod[]> {
    const namespace = this.t.proxyNamespace ?? this.t.namespace;
    const labelSelector = this.t.proxySelector ?? "app.kubernetes.io/component=app";
    const list = await this.call({ verb: "list", resource: "pods", namespace }, (o) =>
      this.core.listNamespacedPod({ namespace, labelSelector }, o),
    );
    const want = this.t.statusPort ?? "status";
    const scheme = this.t.statusScheme ?? "http";
    const live: LivePod[] = [];
    for (const pod of list.items) {
      const port = this.portOf(pod, want);
      const ip = pod.status?.podIP;
      const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      if (
        port === undefined ||
        !ip ||
        pod.status?.phase !== "Running" ||
        !ready ||
        pod.metadata?.deletionTimestamp
      )
        continue;
      const host = ip.includes(":") ? `[${ip}]` : ip;
      const container = pod.spec?.containers.find((c) => c.ports?.some((p) => p.containerPort === port));
      const admin = this.t.proxyAdmin;
      const adminPort = admin ? this.portOf(pod, admin.port ?? "admin-tls") : undefined;
      live.push({
        name: pod.metadata?.name ?? ip,
        url: `${scheme}://${host}:${port}/status`,
        port,
        ...(adminPort === undefined
          ? {}
          : { adminUrl: `${admin?.scheme ?? "https"}://${host}:${adminPort}` }),
        ...(container?.image ? { image: container.image } : {}),
      });
    }
    return live;
  }

  private portOf(pod: V1Pod, want: string | number): number | undefined {
    for (const c of pod.spec?.containers ?? [])
      for (const p of c.ports ?? [])
        if (typeof want === "number" ? p.containerPort === want : p.name === want) return p.containerPort;
    return undefined;
  }

  /**
   * Why the pod's Admin API does not show our kid in every plugin KIC made from our KongPlugins, or
   * undefined when it does. Plugins are found by KIC's `k8s-uid:` tag and judged with ./plugin.ts rules.
   */
  private async podLacksKid(pod: LivePod, uids: string[], kid: string): Promise<string | undefined> {
    if (!pod.adminUrl)
      return `no "${String(this.t.proxyAdmin?.port ?? "admin-tls")}" port to read the Admin API`;
    for (const uid of uids) {
      let body: unknown;
      try {
        const res = await fetch(
          `${pod.adminUrl}/plugins?tags=${encodeURIComponent(`k8s-uid:${uid}`)}&size=1000`,
          {
            signal: AbortSignal.timeout(this.statusTimeoutMs),
            ...(this.adminDispatcher ? { dispatcher: this.adminDispatcher } : {}),
          },
        );
        if (res.status !== 200) return `Admin API answered ${res.status}`;
        body = await res.json();
      } catch (e) {
        return `Admin API unreachable (${e instanceof Error ? e.name : "error"})`;
      }
      const items = isRecord(body) && Array.isArray(body.data) ? body.data : [];
      if (items.length === 0) return `Admin API shows no plugin tagged k8s-uid:${uid} yet`;
      for (const item of items) {
        const p = parsePlugin(item, this.name, `${pod.name} GET /plugins`);
        const held = effectiveJwk(p, clientSlot(p, this.opts.clientId, this.name).index);
        if (held?.kid !== kid) return `plugin ${p.id} still holds kid ${str(held?.kid) ?? "(none)"}`;
      }
    }
    return undefined;
  }

  /**
   * `GET /status` → configuration_hash, or an error string; `denied` when the API server refuses our identity
   * the pod proxy (RBAC, credentials): a configuration problem to report at once, not a pod that lags.
   */
  private async hashOf(pod: LivePod): Promise<{ hash?: string; error?: string; denied?: RotatorError }> {
    let body: unknown;
    if (this.statusAccess === "direct") {
      try {
        const res = await fetch(pod.url, { signal: AbortSignal.timeout(this.statusTimeoutMs) });
        if (res.status !== 200) return { error: `status API answered ${res.status}` };
        body = await res.json();
      } catch (e) {
        return { error: `status API unreachable (${e instanceof Error ? e.name : "error"})` };
      }
    } else {
      const read = await this.statusThroughApiServer(pod);
      if ("error" in read) return read;
      body = read.body;
    }
    const hash = isRecord(body) ? str(body.configuration_hash) : undefined;
    return hash ? { hash } : { error: "status API reports no configuration_hash" };
  }

  /**
   * The pod's Status API through the API server's pod proxy subresource,
   * `GET /api/v1/namespaces/{ns}/pods/{name}/proxy/{path}` (operation connectCoreV1GetNamespacedPodProxyWithPath
   * in the Kubernetes API, `connectGetNamespacedPodProxyWithPath` in @kubernetes/client-node). The apiserver
   * proxy "connects a user outside of the cluster to cluster IPs which otherwise might not be reachable"
   * (https://kubernetes.io/docs/concepts/cluster-administration/proxies/); the URL form is described in
   * https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/#manually-constructing-apiserver-proxy-urls.
   * - `{name}` is `[scheme:]pod[:port]`, and for a pod the port must be a number: the API server dials
   *   `podIP:port` as given (kubernetes pkg/registry/core/pod/strategy.go `ResourceLocation`).
   * - RBAC: the request is verb `get` on resource `pods`, subresource `proxy` (a Role rule on `pods/proxy`).
   * - A pod the API server cannot reach answers 503 `error trying to reach service: dial tcp …`
   *   (apimachinery pkg/util/proxy/transport.go), which is a lagging pod here, not an error of ours.
   * One attempt per read: confirmation polls anyway.
   */
  private async statusThroughApiServer(
    pod: LivePod,
  ): Promise<{ body: unknown } | { error: string; denied?: RotatorError }> {
    const namespace = this.t.proxyNamespace ?? this.t.namespace;
    const scheme = this.t.statusScheme === "https" ? "https:" : "";
    // The API server's answer, for the message (the typed error keeps only the code).
    let refused: ApiException<unknown> | undefined;
    try {
      const text: unknown = await this.call(
        { verb: "get", resource: "pods/proxy", namespace },
        (o) =>
          this.core
            .connectGetNamespacedPodProxyWithPath(
              { name: `${scheme}${pod.name}:${pod.port}`, namespace, path: "status" },
              o,
            )
            .catch((e: unknown) => {
              if (e instanceof ApiException) refused = e as ApiException<unknown>;
              throw e;
            }),
        {
          policy: {
            ...this.policy,
            maxAttempts: 1,
            attemptTimeoutMs: Math.min(this.policy.attemptTimeoutMs, this.statusTimeoutMs),
          },
        },
      );
      // The client parses a JSON answer itself; any other content type comes back as text.
      return { body: typeof text === "string" ? JSON.parse(text) : text };
    } catch (e) {
      if (e instanceof RotatorError && DENIED.has(e.code))
        return { error: `${e.code}: get pods/proxy refused`, denied: e };
      const message = refused ? statusMessage(refused) : undefined;
      const why = refused
        ? `API server answered ${refused.code}${message ? `: ${scrubEchoedText(message, 200)}` : ""}`
        : e instanceof SyntaxError
          ? "the answer is not JSON"
          : `no answer (${e instanceof RotatorError ? e.code : e instanceof Error ? e.name : "error"})`;
      return { error: `status API through the API server: ${why}` };
    }
  }

  /** Each live proxy pod's configuration_hash (empty when unreadable), by pod name. */
  async snapshot(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const s of await this.statuses()) {
      if (s.denied) throw s.denied;
      out[s.name] = s.hash ?? "";
    }
    return out;
  }

  /** Each live proxy pod's Status API answer (for doctor: a refusal is reported, not thrown). */
  async statuses(): Promise<{ name: string; hash?: string; error?: string; denied?: RotatorError }[]> {
    const pods = await this.livePods();
    return Promise.all(pods.map(async (p) => ({ name: p.name, ...(await this.hashOf(p)) })));
  }

  // ---------------------------------------------------------------------------------------------
  // KongTarget
  // ---------------------------------------------------------------------------------------------

  /**
   * For `doctor`: may our identity do each call the target makes? Asked with SelfSubjectAccessReview
   * (`kubectl auth can-i`), which writes nothing and which every authenticated identity may call.
   * `get pods/proxy` is asked when the Status API is read through the API server; `list kongvaults` (a
   * ClusterRole: cluster-scoped) with `vaultReference`, whose writes are checked against the KongVault first.
   */
  async checkAccess(opts: { kongVaults?: boolean } = {}): Promise<KicAccessCheck[]> {
    const ns = this.t.namespace;
    const proxyNs = this.t.proxyNamespace ?? ns;
    const wanted: Omit<KicAccessCheck, "allowed">[] = [
      { verb: "get", group: "", resource: "secrets", namespace: ns, name: this.t.secretName, required: true },
      {
        verb: "patch",
        group: "",
        resource: "secrets",
        namespace: ns,
        name: this.t.secretName,
        required: true,
      },
      { verb: "list", group: KONG_GROUP, resource: "kongplugins", namespace: ns, required: true },
      { verb: "list", group: "", resource: "pods", namespace: proxyNs, required: true },
      ...(this.statusAccess === "apiserver"
        ? [
            {
              verb: "get",
              group: "",
              resource: "pods",
              subresource: "proxy",
              namespace: proxyNs,
              required: true,
            },
          ]
        : []),
      { verb: "list", group: "", resource: "events", namespace: proxyNs, required: false },
      ...(opts.kongVaults
        ? [{ verb: "list", group: KONG_GROUP, resource: "kongvaults", namespace: "", required: true }]
        : []),
    ];
    return Promise.all(
      wanted.map(async (w) => {
        const review = await this.call(
          { verb: "create", resource: "selfsubjectaccessreviews", namespace: w.namespace },
          (o) =>
            this.authz.createSelfSubjectAccessReview(
              {
                body: {
                  apiVersion: "authorization.k8s.io/v1",
                  kind: "SelfSubjectAccessReview",
                  spec: {
                    resourceAttributes: {
                      verb: w.verb,
                      group: w.group,
                      resource: w.resource,
                      ...(w.subresource ? { subresource: w.subresource } : {}),
                      namespace: w.namespace,
                      ...(w.name ? { name: w.name } : {}),
                    },
                  },
                },
              },
              o,
            ),
        );
        return { ...w, allowed: review.status?.allowed === true };
      }),
    );
  }

  async diagnose(): Promise<KongDiagnosis> {
    const [{ plugins }, pods] = await Promise.all([this.resolve(), this.livePods()]);
    const tag = pods.map((p) => p.image?.split("@")[0]?.split(":")[1]).find((v) => v !== undefined);
    // KIC runs the proxies DB-less; the Kong version is the proxy image's tag when it is a version.
    const node: KongNodeInfo = {
      database: "off",
      role: "traditional",
      ...(tag && /^\d+\.\d+/.test(tag) ? { version: tag } : {}),
    };
    return {
      kind: "kubernetes",
      node,
      plugins: plugins.map((p) => diagnosePlugin(p, this.opts.clientId, undefined)),
    };
  }

  /**
   * Vault-reference mode, for doctor: the KongVault whose `spec.prefix` is `prefix`, as the vault entity KIC
   * makes of it (`name` = spec.backend, prefix, config: KIC's kongstate translation). KongVault is
   * `configuration.konghq.com/v1alpha1`, `scope: Cluster`, `spec.{backend,prefix,config,description}`
   * (Kong/kubernetes-ingress-controller config/crd/bases/configuration.konghq.com_kongvaults.yaml;
   * https://developer.konghq.com/kubernetes-ingress-controller/reference/custom-resources). Prefixes are
   * unique across KongVaults (KIC's admission webhook refuses a duplicate), so the list names at most one.
   * Listing needs a ClusterRole (`list` on kongvaults); without it the answer is an `error` with the rule.
   */
  async vault(prefix: string): Promise<KongVaultDiagnosis> {
    let list: unknown;
    try {
      list = await this.call({ verb: "list", resource: "kongvaults", namespace: "" }, (o) =>
        this.custom.listClusterCustomObject(
          { group: KONG_GROUP, version: "v1alpha1", plural: "kongvaults" },
          o,
        ),
      );
    } catch (e) {
      // call() throws only RotatorErrors (typed()), with the ClusterRole rule as the hint on a 403.
      if (!(e instanceof RotatorError)) throw e;
      return { prefix, state: "error", error: `${e.code}: ${e.message}`, hint: e.hint };
    }
    const items: unknown[] = isRecord(list) && Array.isArray(list.items) ? list.items : [];
    for (const item of items) {
      if (!isRecord(item) || !isRecord(item.spec) || item.spec.prefix !== prefix) continue;
      const name = isRecord(item.metadata) ? str(item.metadata.name) : undefined;
      const d = parseVaultEntity(
        { name: item.spec.backend, config: item.spec.config },
        prefix,
        name === undefined ? undefined : `KongVault ${name}`,
      );
      if (!d) continue;
      // KIC's Programmed condition (pkg/apis/configuration/v1/conditions.go): True/Programmed once in Kong's
      // config; False/Invalid when it could not be translated or Kong refused it (it is then left out of the
      // config, so Kong has no such vault); Unknown/Pending until KIC has processed it.
      const conditions =
        isRecord(item.status) && Array.isArray(item.status.conditions) ? item.status.conditions : [];
      const programmed = conditions.find((c: unknown) => isRecord(c) && c.type === "Programmed") as
        Record<string, unknown> | undefined;
      const state =
        programmed?.status === "False" ? "refused" : programmed?.status === "Unknown" ? "pending" : undefined;
      if (d.state === "found" && state) {
        const why = [str(programmed?.reason), str(programmed?.message)].filter(Boolean).join(": ");
        d.notApplied = { state, detail: scrubEchoedText(why, 300) };
      }
      return d;
    }
    return { prefix, state: prefix === AZURE_BACKEND ? "env" : "missing" };
  }

  async inspect(): Promise<KongPluginView[]> {
    const { plugins } = await this.resolve();
    return plugins.map((p) => toView(p, clientSlot(p, this.opts.clientId, this.name).index, undefined));
  }

  /**
   * Replace only our entry of the Secret's JWK array (the others' entries kept as read), label the Secret,
   * and read it back. The PATCH is a JSON merge patch carrying the resourceVersion we read, so a concurrent
   * writer makes it fail with 409 and we re-read (at most 3 times) instead of overwriting their change.
   */
  async apply(jwk: KongPrivateJwk): Promise<KongPluginView[] & { receipt: KicApplyReceipt }> {
    const { namespace, secretName: name, secretKey } = this.t;
    for (let attempt = 1; ; attempt++) {
      const { secret, plugins } = await this.resolve();
      const layouts = plugins.map((plugin) => {
        const slot = clientSlot(plugin, this.opts.clientId, this.name);
        checkClientAlg(plugin, slot, this.opts.clientId, this.opts.idp);
        return { plugin, slot, next: placeJwk(plugin, slot, jwk) };
      });
      const [first] = layouts;
      if (!first) throw new Error("resolve() returned no plugin"); // plugins() throws KONG_PLUGIN_NOT_FOUND first
      const text = JSON.stringify(first.next);
      if (layouts.some((l) => JSON.stringify(l.next) !== text))
        throw new RotatorError(
          "KONG_KIC_SHARED_SECRET_LAYOUT",
          `Kong target ${this.name}: KongPlugins ${layouts.map((l) => l.plugin.id).join(", ")} share secret ${name} but list the clients in different orders`,
          "client_jwk is positional: give each KongPlugin its own Secret, or list config.client_id in the same order in all of them.",
        );
      const labels = secret.metadata?.labels ?? {};
      const labelled = Object.entries(SECRET_LABELS).every(([k, v]) => labels[k] === v);
      const held = holdsJwk(this.jwks(secret)[first.slot.index], jwk);
      const before = await this.snapshot();
      if (held && labelled) {
        const views = plugins.map((p) => toView(p, first.slot.index, undefined));
        return Object.assign(views, {
          receipt: this.receipt(secret.metadata?.resourceVersion ?? "", false, before, views),
        });
      }
      // Only the labels are missing: the value (and so Kong's config) stays as it is.
      const body = {
        metadata: {
          resourceVersion: secret.metadata?.resourceVersion,
          labels: { ...SECRET_LABELS },
        },
        ...(held ? {} : { data: { [secretKey]: Buffer.from(text, "utf8").toString("base64") } }),
      };
      let written: V1Secret;
      // When the write happened, by the API server's clock (its `Date` header): Events carry cluster
      // timestamps, so the local clock (skewed, or a test's fake clock) is only the fallback.
      let at = this.clock.now();
      try {
        written = await this.call(
          { verb: "patch", resource: "secrets", name, namespace },
          (o) => this.core.patchNamespacedSecret({ name, namespace, body }, o),
          {
            pre: (ctx) => ctx.setHeaderParam("Content-Type", PatchStrategy.MergePatch),
            post: (headers) => {
              const date = Date.parse(headers.date ?? "");
              if (!Number.isNaN(date)) at = new Date(date);
            },
          },
        );
      } catch (e) {
        if (e instanceof RotatorError && e.code === "KONG_K8S_CONFLICT" && attempt < CONFLICT_ATTEMPTS)
          continue;
        throw e;
      }
      const views = await this.readBack(jwk, first.slot.index, plugins);
      return Object.assign(views, {
        receipt: this.receipt(written.metadata?.resourceVersion ?? "", !held, before, views, at),
      });
    }
  }

  private receipt(
    resourceVersion: string,
    wrote: boolean,
    before: Record<string, string>,
    views: KongPluginView[],
    at: Date = this.clock.now(),
  ): KicApplyReceipt {
    return {
      kind: "kubernetes",
      namespace: this.t.namespace,
      secretName: this.t.secretName,
      resourceVersion,
      wrote,
      writtenAt: at.toISOString(),
      before,
      views: views.map((v) => ({ ...v })),
    };
  }

  private async readBack(
    jwk: KongPrivateJwk,
    index: number,
    plugins: OidcPlugin[],
  ): Promise<KongPluginView[]> {
    const got = this.jwks(await this.readSecret())[index] ?? {};
    checkReadBack(got, jwk, {
      target: this.name,
      where: `secret ${this.t.secretName}, index ${index}`,
      details: { index },
    });
    return plugins.map((p) =>
      toView({ ...p, config: { ...p.config, client_jwk: this.placed(p, index, got) } }, index, undefined),
    );
  }

  private placed(p: OidcPlugin, index: number, entry: JwkEntry): unknown[] {
    const arr = Array.isArray(p.config.client_jwk) ? p.config.client_jwk.slice() : [];
    arr[index] = entry;
    return arr;
  }

  /**
   * One observation of whether the proxies run the key `expect`, after apply() returned `receipt`. Never
   * waits: the caller polls and decides how long a pod may lag.
   * - confirmed: the Secret still holds the key, and every live proxy pod reports one configuration_hash
   *   that differs from its pre-write hash (pods started since report that same hash). When nothing was
   *   written (the Secret already held the key), or no snapshotted pod is left (a rollout replaced them),
   *   every pod reporting one non-zero hash confirms.
   * - failed: the Secret no longer holds the key; no proxy pod matches the selector; or a
   *   KongConfigurationApplyFailed Event newer than the write while some pod has not moved.
   * - pending: otherwise, naming the pods that have not moved.
   */
  async confirm(expect: { kid: string; x5t: string }, receipt: KicApplyReceipt): Promise<KicConfirmation> {
    const { plugins, secret, uids } = await this.resolve();
    const plugin = plugins[0];
    const index = plugin ? clientSlot(plugin, this.opts.clientId, this.name).index : 0;
    const entry = this.jwks(secret)[index];
    if (!entry || entry.kid !== expect.kid || (entry.x5t !== undefined && entry.x5t !== expect.x5t))
      return {
        state: "failed",
        code: "KONG_KIC_SECRET_CHANGED",
        detail: `secret ${this.t.secretName} no longer holds kid ${expect.kid} for our client (it holds ${str(entry?.kid) ?? "nothing"})`,
        lagging: [],
      };
    const pods = await this.livePods();
    if (pods.length === 0)
      return {
        state: "failed",
        code: "KONG_KIC_NO_PROXY_PODS",
        detail: `no ready proxy pod matches ${this.t.proxySelector ?? "app.kubernetes.io/component=app"} with a "${String(this.t.statusPort ?? "status")}" port in namespace ${this.t.proxyNamespace ?? this.t.namespace}`,
        lagging: [],
      };
    const seen = await Promise.all(pods.map(async (p) => ({ pod: p, ...(await this.hashOf(p)) })));
    const denied = seen.find((x) => x.denied)?.denied;
    if (denied) throw denied;
    const moved = new Set<string>();
    for (const s of seen) {
      const before = receipt.before[s.pod.name];
      if (s.hash && before !== undefined && s.hash !== before && s.hash !== ZERO_HASH) moved.add(s.hash);
    }
    const target = moved.size === 1 ? [...moved][0] : undefined;
    // Nothing written, or every snapshotted pod replaced since (a rollout): no "before" to move from, so
    // every pod reporting one non-zero hash is the evidence (weaker; proxyAdmin then checks the kid).
    const byAgreement = !receipt.wrote || !seen.some((s) => receipt.before[s.pod.name] !== undefined);
    const common = seen.find((x) => x.hash)?.hash;
    const lagging: string[] = [];
    const notes: string[] = [];
    for (const s of seen) {
      if (!s.hash) {
        lagging.push(s.pod.name);
        notes.push(`${s.pod.name}: ${s.error ?? "no hash"}`);
        continue;
      }
      const before = receipt.before[s.pod.name];
      const ok = byAgreement
        ? s.hash !== ZERO_HASH && s.hash === common
        : target !== undefined && s.hash === target;
      if (!ok) {
        lagging.push(s.pod.name);
        notes.push(
          `${s.pod.name}: ${before === s.hash ? "configuration_hash unchanged since the write" : "configuration_hash differs from the other pods"}`,
        );
        continue;
      }
      if (this.t.proxyAdmin) {
        const missing = await this.podLacksKid(s.pod, uids, expect.kid);
        if (missing) {
          lagging.push(s.pod.name);
          notes.push(`${s.pod.name}: ${missing}`);
        }
      }
    }
    if (lagging.length === 0) return { state: "confirmed" };
    const failure = await this.applyFailedSince(new Date(receipt.writtenAt));
    if (failure)
      return {
        state: "failed",
        code: "KONG_KIC_APPLY_FAILED",
        detail: `KIC reported KongConfigurationApplyFailed after the write (${failure}); pods not updated: ${lagging.join(", ")}`,
        lagging,
      };
    return { state: "pending", detail: notes.join("; "), lagging };
  }

  /**
   * A `KongConfigurationApplyFailed` Event whose lastTimestamp is after the write's second (Event times have
   * second precision), as a short description. Unreadable Events (RBAC) are no signal, not an error.
   */
  private async applyFailedSince(writtenAt: Date): Promise<string | undefined> {
    const namespace = this.t.proxyNamespace ?? this.t.namespace;
    let events: CoreV1Event[];
    try {
      const list = await this.call({ verb: "list", resource: "events", namespace }, (o) =>
        this.core.listNamespacedEvent({ namespace, fieldSelector: "reason=KongConfigurationApplyFailed" }, o),
      );
      events = list.items;
    } catch (e) {
      if (
        e instanceof RotatorError &&
        (e.code === "KONG_K8S_FORBIDDEN" || e.code === "KONG_K8S_UNAUTHORIZED")
      )
        return undefined;
      throw e;
    }
    const after = Math.floor(writtenAt.getTime() / 1000) * 1000;
    for (const e of events) {
      const last = e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp;
      if (last && new Date(last).getTime() > after)
        return `${e.involvedObject.kind ?? "object"} ${e.involvedObject.name ?? ""}: ${scrubEchoedText(e.message ?? "", 200)}`;
    }
    return undefined;
  }
}
