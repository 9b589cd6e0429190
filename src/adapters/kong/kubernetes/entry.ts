/**
 * The Kubernetes kind: Kong Ingress Controller, whose KongPlugin takes client_jwk from a Secret the rotator
 * writes (./target.ts), confirmed on each proxy pod's Status API (./proxies.ts).
 */
import type { KubernetesTargetConfig } from "../../../config/load.js";
import type { KindOptions, KongKindEntry } from "../common/kind.js";
import type { KubernetesCredentials } from "./api.js";
import { createKubernetesTarget } from "./target.js";

const KUBECONFIG = "kubeconfig of the cluster running KIC";

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
  const kubeconfig = await o.secret(t.name, kubeconfigSecret, KUBECONFIG);
  return kubeconfig === undefined ? {} : { kubeconfig };
}

export const kubernetesKind: KongKindEntry = {
  kind: "kubernetes",
  construction: {
    configKey: "kubernetes",
    of: (t) =>
      "kubernetes" in t
        ? {
            secrets: t.kubernetes.kubeconfigSecret
              ? [{ ref: t.kubernetes.kubeconfigSecret, what: KUBECONFIG }]
              : [],
            maxLagMs: t.kubernetes.maxLagMs,
            create: async (o) => {
              const k = t.kubernetes;
              return createKubernetesTarget({
                target: {
                  name: t.name,
                  namespace: k.namespace,
                  secretName: k.secretName,
                  secretKey: k.secretKey,
                  ...(k.kubeconfig ? { kubeconfig: k.kubeconfig } : {}),
                  statusAccess: k.statusAccess,
                  proxySelector: k.proxies.selector,
                  ...(k.proxies.namespace ? { proxyNamespace: k.proxies.namespace } : {}),
                  statusPort: k.proxies.port,
                  statusScheme: k.proxies.scheme,
                },
                maxLagMs: k.maxLagMs,
                ...(t.vaultReference ? { vaultPrefix: t.vaultReference.prefix } : {}),
                clientId: o.clientId,
                idp: o.idp,
                clock: o.clock,
                credentials: await kubernetesCredentials(t, o),
              });
            },
          }
        : undefined,
  },
  capabilities: {
    confirmation: "pod-status",
    vaultEntities: "one",
    oneConfigAcrossGateways: true,
    accessReview: true,
    authMigration: "unsupported",
  },
  wording: {
    gateway: "proxy pod",
    permissions:
      "Kubernetes RBAC: get and patch on the Secret, list on Pods, Events and KongPlugins in the namespace, get on pods/proxy where the proxies run (statusAccess apiserver; docs/kong-kubernetes.md)",
    permissionsDoc: 'docs/kong-kubernetes.md "Kubernetes RBAC"',
    readOnlyNode: undefined,
    vaultReference: undefined,
  },
};
