/**
 * One KongTarget per configured kind (README "Supported Kong deployments"): adminUrl (traditional or
 * hybrid control plane), konnect, dbless and kubernetes. Secrets (tokens) are resolved on first use, so
 * a missing token fails that target's first call, not the whole runtime.
 */
import type { IdpKind } from "../../idp-rules.js";
import type { KongTargetSpec, KubernetesTargetConfig, SecretRef } from "../../config/load.js";
import type { PluginLock } from "../lease/plugin-lock.js";
import { createKongTarget, DEFAULT_MAX_LAG_MS, type KongReadCache } from "./admin/target.js";
import { createDblessTarget } from "./dbless/target.js";
import { createKonnectTarget } from "./konnect/target.js";
import { createKubernetesTarget } from "./kubernetes/target.js";
import type { KubernetesCredentials } from "./kubernetes/kic.js";
import type { Clock, KongTarget } from "../../ports/engine.js";

export interface KindOptions {
  target: KongTargetSpec;
  clientId: string;
  /** The credential's IdP: its rules decide which client_alg can work (idp-rules.ts `clientAlgProblem`). */
  idp: IdpKind;
  clock: Clock;
  secret(target: string, ref: SecretRef | undefined, what: string): Promise<string | undefined>;
  /** One writer per plugin for Admin API targets (adapters/lease/plugin-lock.ts). */
  pluginLock?: PluginLock;
  /** One sync tick's read cache for Admin API targets (adapters/kong/admin.ts). */
  reads?: KongReadCache;
  /** An access token of the service identity for `scope` (AKS with Microsoft Entra). */
  accessToken?: (scope: string) => Promise<string>;
}

export async function createTargetOfKind(o: KindOptions): Promise<KongTarget> {
  const t = o.target;
  const client = { clientId: o.clientId, idp: o.idp, clock: o.clock };
  if ("konnect" in t) {
    const token = await o.secret(t.name, t.konnect.token, "Konnect system-account token");
    return createKonnectTarget({ target: t, ...client, token: token ?? "" });
  }
  if ("dbless" in t) {
    const adminToken = await o.secret(t.name, t.adminToken, "Kong RBAC token of the DB-less nodes");
    return createDblessTarget({ target: t, ...client, ...(adminToken ? { adminToken } : {}) });
  }
  if ("kubernetes" in t)
    return createKubernetesTarget({ target: t, ...client, credentials: await kubernetesCredentials(t, o) });
  const adminToken = await o.secret(t.name, t.adminToken, "Kong RBAC token");
  return createKongTarget({
    target: t,
    ...client,
    ...(adminToken ? { adminToken } : {}),
    ...(o.pluginLock ? { pluginLock: o.pluginLock } : {}),
    ...(o.reads ? { reads: o.reads } : {}),
  });
}

/**
 * How a Kubernetes target authenticates beyond a kubeconfig file or the in-cluster service account: a
 * kubeconfig read from its secret, or a token for the AKS server application from the service identity.
 */
async function kubernetesCredentials(
  t: KubernetesTargetConfig,
  o: KindOptions,
): Promise<KubernetesCredentials> {
  const { aks, kubeconfigSecret } = t.kubernetes;
  if (aks) {
    const { accessToken } = o;
    if (!accessToken) throw new Error("kubernetes.aks needs the service identity (KindOptions.accessToken)");
    return {
      aks: {
        server: aks.server,
        ...(aks.certificateAuthorityData ? { certificateAuthorityData: aks.certificateAuthorityData } : {}),
        token: () => accessToken(`${aks.serverAppId}/.default`),
      },
    };
  }
  if (!kubeconfigSecret) return {};
  const kubeconfig = await o.secret(t.name, kubeconfigSecret, "kubeconfig of the cluster running KIC");
  return kubeconfig === undefined ? {} : { kubeconfig };
}

/** The target's lag budget, known from configuration before the adapter is built. */
export function maxLagOf(t: KongTargetSpec): number {
  if ("konnect" in t) return t.konnect.maxLagMs;
  if ("dbless" in t) return t.dbless.maxLagMs;
  if ("kubernetes" in t) return t.kubernetes.maxLagMs;
  return t.dataPlanes?.confirm === "never" ? 0 : (t.dataPlanes?.maxLagMs ?? DEFAULT_MAX_LAG_MS);
}

/** Whether the kind can switch a client from a secret in one write (KongTarget.authMigration). */
export function authMigrationOf(t: KongTargetSpec): KongTarget["authMigration"] {
  return "kubernetes" in t ? "unsupported" : "one-write";
}

/** A KongTarget whose adapter is built on first use. */
export function lazyKongTarget(t: KongTargetSpec, build: () => Promise<KongTarget>): KongTarget {
  let resolved: Promise<KongTarget> | undefined;
  const get = () => (resolved ??= build());
  return {
    name: t.name,
    maxLagMs: maxLagOf(t),
    diagnose: async () => (await get()).diagnose(),
    inspect: async () => (await get()).inspect(),
    vaults: async (prefix) => (await get()).vaults(prefix),
    baseline: async () => (await get()).baseline(),
    apply: async (jwk, options) => (await get()).apply(jwk, options),
    authMigration: authMigrationOf(t),
    clientAuth: async () => (await get()).clientAuth(),
    dropSecret: async () => (await get()).dropSecret(),
    confirm: async (expect, since) => (await get()).confirm(expect, since),
    clearTokenCache: async () => (await get()).clearTokenCache(),
  };
}
