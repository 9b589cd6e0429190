/**
 * The KIC target (./kic.ts, which keeps its own receipt) behind the engine's KongTarget port:
 * - baseline(): the live proxy pods' distinct `configuration_hash`es before the write (their `/status`),
 *   sorted, at most three (more means the pods are not on one config: no baseline, agreement only);
 * - apply(): the Secret write, reporting whether anything was written;
 * - confirm(): KIC's confirmation with a receipt rebuilt from the baseline: a pod whose hash is still one
 *   of the pre-write hashes has not moved; the others must agree on one new hash. Without a baseline (the
 *   key was already there) every pod reporting one non-zero hash confirms.
 */
import type { KubernetesTargetConfig as KubernetesTargetSpec } from "../../../config/load.js";
import type { IdpKind } from "../../../idp-rules.js";
import {
  describeAccess,
  KubernetesKongTarget,
  type KicApplyReceipt,
  type KubernetesCredentials,
} from "./kic.js";
import { RotatorError } from "../../../errors.js";
import type { Clock, KongConfirmation, KongTarget, KongTokenCacheClearing } from "../../../ports/engine.js";

const MAX_BASELINE_HASHES = 3;

/**
 * KIC keeps client_auth in the KongPlugin and the JWK and the secret in Secrets patched in by
 * configPatches: the switch would be two or three writes KIC may push apart, never the one write a
 * migration needs (docs/migration.md).
 */
function migrationUnsupported(target: string): RotatorError {
  return new RotatorError(
    "KONG_MIGRATION_UNSUPPORTED",
    `Kong target ${target}: a Kubernetes (KIC) target cannot switch a client from a secret in one write`,
    "Switch the KongPlugin to private_key_jwt by hand (client_auth and a configPatches entry for /client_jwk in one apply), then let the rotator manage the key; or migrate through a traditional, hybrid, DB-less or Konnect target.",
  );
}

export function createKubernetesTarget(opts: {
  target: KubernetesTargetSpec;
  clientId: string;
  /** The credential's IdP (whose rules decide which client_alg can work). */
  idp: IdpKind;
  clock?: Clock;
  /** A kubeconfig read from its secret, or AKS Entra authentication (./kic.ts). */
  credentials?: KubernetesCredentials;
}): KongTarget {
  const k = opts.target.kubernetes;
  const kic = new KubernetesKongTarget({
    target: {
      name: opts.target.name,
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
    clientId: opts.clientId,
    idp: opts.idp,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
  });
  return {
    name: opts.target.name,
    maxLagMs: k.maxLagMs,
    diagnose: async () => {
      const ref = opts.target.vaultReference;
      const [d, pods, vault, access] = await Promise.all([
        kic.diagnose(),
        kic.statuses(),
        ref ? kic.vault(ref.prefix) : undefined,
        // The access review is advice: a cluster that refuses it leaves the other lines standing.
        kic.checkAccess({ kongVaults: ref !== undefined }).catch(() => undefined),
      ]);
      return {
        ...d,
        kind: "kubernetes",
        gateways: pods.map((p) => ({
          name: p.name,
          live: true,
          ...(p.hash ? { configHash: p.hash } : { error: p.error ?? "status API unreadable" }),
        })),
        ...(access
          ? {
              access: access.map((a) => ({
                ...describeAccess(a),
                required: a.required,
                allowed: a.allowed,
              })),
            }
          : {}),
        ...(vault ? { vaults: [vault] } : {}),
      };
    },
    // KIC pushes one config (KongVaults included) to every proxy pod: one vault entity for the target.
    vaults: async (prefix) => [await kic.vault(prefix)],
    inspect: () => kic.inspect(),
    async baseline() {
      const hashes = [...new Set(Object.values(await kic.snapshot()).filter(Boolean))].sort();
      return hashes.length > 0 && hashes.length <= MAX_BASELINE_HASHES ? hashes.join(",") : undefined;
    },
    authMigration: "unsupported",
    clientAuth: () => Promise.reject(migrationUnsupported(opts.target.name)),
    dropSecret: () => Promise.reject(migrationUnsupported(opts.target.name)),
    async apply(jwk, options) {
      if (options?.switchAuth) throw migrationUnsupported(opts.target.name);
      const r = await kic.apply(jwk);
      return { plugins: r.slice(), wrote: r.receipt.wrote };
    },
    async confirm(expect, since): Promise<KongConfirmation> {
      const before = since.baseline?.split(",") ?? [];
      const now = await kic.snapshot();
      const receipt: KicApplyReceipt = {
        kind: "kubernetes",
        namespace: k.namespace,
        secretName: k.secretName,
        resourceVersion: "",
        wrote: before.length > 0,
        writtenAt: since.appliedAt.toISOString(),
        // A pod still on a pre-write hash has "before" = its hash (not moved); any other pod moved from one.
        before: Object.fromEntries(
          Object.entries(now).map(([pod, hash]) => [pod, before.includes(hash) ? hash : (before[0] ?? "")]),
        ),
        views: [],
      };
      // kid = x5t for the keys the engine pushes (src/engine/kong.ts loadJwk).
      const c = await kic.confirm({ kid: expect.kid, x5t: expect.kid }, receipt);
      return c.state === "confirmed"
        ? {
            state: "confirmed",
            detail: `${Object.keys(now).length} proxy pod(s) on one new configuration_hash`,
          }
        : c;
    },
    /** KIC posts the new declarative config to every proxy; each purges its cache on the reload. */
    async clearTokenCache(): Promise<KongTokenCacheClearing> {
      return {
        state: "by-activation",
        detail:
          "the ingress controller pushed the new configuration to every proxy pod, and each purged its token cache on the reload",
      };
    },
  };
}
