/**
 * Kubernetes API access for the KIC target (./target.ts): credentials (a kubeconfig file, a kubeconfig held
 * as a secret, AKS with Microsoft Entra, or the in-cluster service account), every call through
 * @kubernetes/client-node with the shared retry rule (src/http/transient.ts) and typed errors, and the
 * access review doctor asks (SelfSubjectAccessReview).
 */
import {
  ApiException,
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  Observable,
  type ConfigurationOptions,
  type RequestContext,
} from "@kubernetes/client-node";
import type { Clock } from "../../../ports/engine.js";
import { systemClock } from "../../../clock.js";
import { RotatorError } from "../../../errors.js";
import { defaultRetryPolicy, parseRetryAfter, withRetry, type RetryPolicy } from "../../../http/retry.js";
import { HttpStatusError, isTransientStatus, retryDecision } from "../../../http/transient.js";
import { registerSecret, scrubEchoedText } from "../../../log/redact.js";

/** The KIC target's settings: the `kubernetes:` block of a Kong target (config/load.ts), plus opt-ins of the adapter. */
export interface KicTargetConfig {
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

export const KONG_GROUP = "configuration.konghq.com";
/** The KIC custom resources the target reads (both in KONG_GROUP). */
const KONG_RESOURCES: ReadonlySet<string> = new Set(["kongplugins", "kongvaults"]);

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

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
export function statusMessage(e: ApiException<unknown>): string | undefined {
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

/** What a Kubernetes call is, for its typed error. */
export interface KubeCall {
  verb: string;
  resource: string;
  name?: string;
  namespace: string;
}

export interface KubernetesApiOptions {
  target: KicTargetConfig;
  credentials?: KubernetesCredentials;
  clock?: Clock;
  retry?: Partial<RetryPolicy>;
  /**
   * Prefix of the in-cluster service-account files (`<prefix>/var/run/secrets/kubernetes.io/serviceaccount`);
   * only for tests (KubeConfig.loadFromCluster's `pathPrefix`).
   */
  inClusterPathPrefix?: string;
}

/** The API server, as the target's identity sees it. */
export class KubernetesApi {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly policy: RetryPolicy;
  readonly clock: Clock;
  private readonly authz: AuthorizationV1Api;
  private readonly name: string;
  private readonly t: KicTargetConfig;

  constructor(opts: KubernetesApiOptions) {
    this.t = opts.target;
    this.name = opts.target.name;
    this.clock = opts.clock ?? systemClock;
    this.policy = { ...defaultRetryPolicy, ...opts.retry };
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

  async call<T>(
    what: KubeCall,
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

  private typed(e: unknown, what: KubeCall): RotatorError {
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

  /** Does the API server grant each call (SelfSubjectAccessReview, `kubectl auth can-i`)? Writes nothing. */
  review(wanted: Omit<KicAccessCheck, "allowed">[]): Promise<KicAccessCheck[]> {
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
}
