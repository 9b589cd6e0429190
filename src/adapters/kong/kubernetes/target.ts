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
 *   See ./proxies.ts for the API's rules; `statusAccess: direct` reads `http://<podIP>:<port>/status` instead.
 * - `KongConfigurationApplyFailed` Events on the KIC pod (internal/dataplane/kong_client.go) are only a hint:
 *   client-go's spam filter drops all but 25 + 1 per 5 min per object (tools/record/events_cache.go), so a
 *   change may produce no event at all. A failure event newer than our write fails the step early.
 * - Since 3.1.0 KIC's admission webhook validates a Secret change against the plugins that use it: a bad
 *   JWK fails the PATCH itself with `admission webhook "..." denied the request: ...`.
 *
 * Clients are matched with the same rules as the Admin API adapter (../common/plugin.ts): the KongPlugin's
 * `config.client_id` decides our index in the Secret's array, and only our entry is replaced.
 *
 * The target implements the engine's KongTarget port directly: baseline() is the live proxy pods' distinct
 * configuration_hashes before the write, confirm() judges the pods against it. API access is ./api.ts, the
 * proxy pods ./proxies.ts.
 */
import { PatchStrategy, type CoreV1Event, type V1Secret } from "@kubernetes/client-node";
import type {
  Clock,
  KongApplyOptions,
  KongApplyReceipt,
  KongClientAuthView,
  KongConfirmation,
  KongConfirmBase,
  KongPluginView,
  KongTarget,
  KongTokenCacheClearing,
} from "../../../ports/engine.js";
import type { KongPrivateJwk } from "../../../crypto/keymaterial.js";
import { RotatorError } from "../../../errors.js";
import type { IdpKind } from "../../../idp-rules.js";
import type { RetryPolicy } from "../../../http/retry.js";
import { scrubEchoedText } from "../../../log/redact.js";
import { checkReadBack } from "../common/readback.js";
import {
  checkClientAlg,
  clientSlot,
  diagnosePlugin,
  holdsJwk,
  placeJwk,
  toView,
  type JwkEntry,
  type OidcPlugin,
} from "../common/plugin.js";
import { AZURE_BACKEND } from "../../../engine/vault-entity.js";
import { parseVaultEntity } from "../common/vault.js";
import type { KongDiagnosis, KongNodeInfo, KongVaultDiagnosis } from "../../../ports/diagnosis.js";
import {
  describeAccess,
  isRecord,
  KONG_GROUP,
  KubernetesApi,
  str,
  type KicAccessCheck,
  type KicTargetConfig,
  type KubernetesCredentials,
} from "./api.js";
import { ProxyPods } from "./proxies.js";

export interface KubernetesTargetOptions {
  target: KicTargetConfig;
  /** How long the proxy pods may take to load a written key (ms). */
  maxLagMs: number;
  /** Vault-reference mode: the Kong vault prefix doctor checks (the KongVault with that spec.prefix). */
  vaultPrefix?: string;
  credentials?: KubernetesCredentials;
  /** The credential's client id, as listed in the KongPlugin's config.client_id. */
  clientId: string;
  /** The credential's IdP: its rules decide which client_alg can work (idp-rules.ts `clientAlgProblem`). */
  idp: IdpKind;
  clock?: Clock;
  retry?: Partial<RetryPolicy>;
  /** Per-request timeout of the proxy pods' Status API (default 5000 ms). */
  statusTimeoutMs?: number;
  /** Only for tests: where the in-cluster service-account files are (./api.ts). */
  inClusterPathPrefix?: string;
}

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

const ZERO_HASH = "0".repeat(32);
const CONFLICT_ATTEMPTS = 3;
/** More distinct hashes than this before a write: the pods are not on one config (no baseline, agreement only). */
const MAX_BASELINE_HASHES = 3;

interface KongPluginResource {
  name: string;
  plugin: string;
  config: Record<string, unknown>;
  uid: string;
}

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

export function createKubernetesTarget(opts: KubernetesTargetOptions): KongTarget {
  return new KicTarget(opts);
}

class KicTarget implements KongTarget {
  readonly name: string;
  readonly maxLagMs: number;
  private readonly t: KicTargetConfig;
  private readonly api: KubernetesApi;
  private readonly proxies: ProxyPods;

  constructor(private readonly opts: KubernetesTargetOptions) {
    this.t = opts.target;
    this.name = opts.target.name;
    this.maxLagMs = opts.maxLagMs;
    this.api = new KubernetesApi({
      target: opts.target,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.retry ? { retry: opts.retry } : {}),
      ...(opts.inClusterPathPrefix ? { inClusterPathPrefix: opts.inClusterPathPrefix } : {}),
    });
    this.proxies = new ProxyPods(this.api, opts.target, opts.clientId, opts.statusTimeoutMs ?? 5000);
  }

  private readSecret(): Promise<V1Secret> {
    const { namespace, secretName: name } = this.t;
    return this.api.call({ verb: "get", resource: "secrets", name, namespace }, (o) =>
      this.api.core.readNamespacedSecret({ name, namespace }, o),
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
    const list = await this.api.call({ verb: "list", resource: "kongplugins", namespace }, (o) =>
      this.api.custom.listNamespacedCustomObject(
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
      ...((this.t.statusAccess ?? "apiserver") === "apiserver"
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
    return this.api.review(wanted);
  }

  /** Node info, the plugins, each proxy pod's hash and, as advice, the access review and the KongVault. */
  async diagnose(): Promise<KongDiagnosis> {
    const prefix = this.opts.vaultPrefix;
    const [{ plugins }, pods, statuses, vault, access] = await Promise.all([
      this.resolve(),
      this.proxies.live(),
      this.proxies.statuses(),
      prefix !== undefined ? this.vault(prefix) : undefined,
      // The access review is advice: a cluster that refuses it leaves the other lines standing.
      this.checkAccess({ kongVaults: prefix !== undefined }).catch(() => undefined),
    ]);
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
      gateways: statuses.map((p) => ({
        name: p.name,
        live: true,
        ...(p.hash ? { configHash: p.hash } : { error: p.error ?? "status API unreadable" }),
      })),
      ...(access
        ? {
            access: access.map((a) => ({ ...describeAccess(a), required: a.required, allowed: a.allowed })),
          }
        : {}),
      ...(vault ? { vaults: [vault] } : {}),
    };
  }

  // KIC pushes one config (KongVaults included) to every proxy pod: one vault entity for the target.
  async vaults(prefix: string): Promise<KongVaultDiagnosis[]> {
    return [await this.vault(prefix)];
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
  private async vault(prefix: string): Promise<KongVaultDiagnosis> {
    let list: unknown;
    try {
      list = await this.api.call({ verb: "list", resource: "kongvaults", namespace: "" }, (o) =>
        this.api.custom.listClusterCustomObject(
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

  /** The live proxy pods' distinct configuration_hashes before a write, sorted, at most three. */
  async baseline(): Promise<string | undefined> {
    const hashes = new Set<string>();
    for (const s of await this.proxies.statuses()) {
      if (s.denied) throw s.denied;
      if (s.hash) hashes.add(s.hash);
    }
    const sorted = [...hashes].sort();
    return sorted.length > 0 && sorted.length <= MAX_BASELINE_HASHES ? sorted.join(",") : undefined;
  }

  /**
   * Replace only our entry of the Secret's JWK array (the others' entries kept as read), label the Secret,
   * and read it back. The PATCH is a JSON merge patch carrying the resourceVersion we read, so a concurrent
   * writer makes it fail with 409 and we re-read (at most 3 times) instead of overwriting their change.
   */
  /** KIC posts the new declarative config to every proxy; each purges its cache on the reload. */
  async clearTokenCache(): Promise<KongTokenCacheClearing> {
    return {
      state: "by-activation",
      detail:
        "the ingress controller pushed the new configuration to every proxy pod, and each purged its token cache on the reload",
    };
  }

  readonly authMigration = "unsupported" as const;

  clientAuth(): Promise<KongClientAuthView[]> {
    return Promise.reject(migrationUnsupported(this.name));
  }

  dropSecret(): Promise<KongApplyReceipt> {
    return Promise.reject(migrationUnsupported(this.name));
  }

  async apply(jwk: KongPrivateJwk, options?: KongApplyOptions): Promise<KongApplyReceipt> {
    if (options?.switchAuth) throw migrationUnsupported(this.name);
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
      if (held && labelled)
        return { plugins: plugins.map((p) => toView(p, first.slot.index, undefined)), wrote: false };
      // Only the labels are missing: the value (and so Kong's config) stays as it is.
      const body = {
        metadata: {
          resourceVersion: secret.metadata?.resourceVersion,
          labels: { ...SECRET_LABELS },
        },
        ...(held ? {} : { data: { [secretKey]: Buffer.from(text, "utf8").toString("base64") } }),
      };
      try {
        await this.api.call(
          { verb: "patch", resource: "secrets", name, namespace },
          (o) => this.api.core.patchNamespacedSecret({ name, namespace, body }, o),
          { pre: (ctx) => ctx.setHeaderParam("Content-Type", PatchStrategy.MergePatch) },
        );
      } catch (e) {
        if (e instanceof RotatorError && e.code === "KONG_K8S_CONFLICT" && attempt < CONFLICT_ATTEMPTS)
          continue;
        throw e;
      }
      return { plugins: await this.readBack(jwk, first.slot.index, plugins), wrote: !held };
    }
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
   * One observation of whether the proxies run the key `expect`, from `since` (the pods' hashes before the
   * write, baseline(), and when it happened). Never waits: the engine polls and decides how long a pod may lag.
   * - confirmed: the Secret still holds the key, and every live proxy pod reports one configuration_hash
   *   that is not among the pre-write hashes (pods started since report that same hash). Without a baseline
   *   (the key was already there), or when no pod reports a pre-write hash any more (a rollout replaced
   *   them), every pod reporting one non-zero hash confirms.
   * - failed: the Secret no longer holds the key; no proxy pod matches the selector; or a
   *   KongConfigurationApplyFailed Event newer than the write while some pod has not moved.
   * - pending: otherwise, naming the pods that have not moved.
   */
  async confirm(expect: { kid: string }, since: KongConfirmBase): Promise<KongConfirmation> {
    const { plugins, secret, uids } = await this.resolve();
    const plugin = plugins[0];
    const index = plugin ? clientSlot(plugin, this.opts.clientId, this.name).index : 0;
    const entry = this.jwks(secret)[index];
    // kid = x5t for the keys the engine pushes (src/engine/kong.ts loadJwk).
    if (!entry || entry.kid !== expect.kid || (entry.x5t !== undefined && entry.x5t !== expect.kid))
      return {
        state: "failed",
        code: "KONG_KIC_SECRET_CHANGED",
        detail: `secret ${this.t.secretName} no longer holds kid ${expect.kid} for our client (it holds ${str(entry?.kid) ?? "nothing"})`,
        lagging: [],
      };
    const pods = await this.proxies.live();
    if (pods.length === 0)
      return {
        state: "failed",
        code: "KONG_KIC_NO_PROXY_PODS",
        detail: `no ready proxy pod matches ${this.t.proxySelector ?? "app.kubernetes.io/component=app"} with a "${String(this.t.statusPort ?? "status")}" port in namespace ${this.t.proxyNamespace ?? this.t.namespace}`,
        lagging: [],
      };
    const seen = await Promise.all(pods.map(async (p) => ({ pod: p, ...(await this.proxies.hashOf(p)) })));
    const denied = seen.find((x) => x.denied)?.denied;
    if (denied) throw denied;
    const before = new Set(since.baseline?.split(",").filter(Boolean) ?? []);
    const moved = new Set<string>();
    for (const s of seen) if (s.hash && !before.has(s.hash) && s.hash !== ZERO_HASH) moved.add(s.hash);
    const target = moved.size === 1 ? [...moved][0] : undefined;
    // No baseline, or no pod on a pre-write hash any more (a rollout replaced them): no "before" to move
    // from, so every pod reporting one non-zero hash is the evidence (weaker; proxyAdmin then checks the kid).
    const byAgreement = before.size === 0 || !seen.some((s) => s.hash !== undefined && before.has(s.hash));
    const common = seen.find((x) => x.hash)?.hash;
    const lagging: string[] = [];
    const notes: string[] = [];
    for (const s of seen) {
      if (!s.hash) {
        lagging.push(s.pod.name);
        notes.push(`${s.pod.name}: ${s.error ?? "no hash"}`);
        continue;
      }
      const ok = byAgreement
        ? s.hash !== ZERO_HASH && s.hash === common
        : target !== undefined && s.hash === target;
      if (!ok) {
        lagging.push(s.pod.name);
        notes.push(
          `${s.pod.name}: ${before.has(s.hash) ? "configuration_hash unchanged since the write" : "configuration_hash differs from the other pods"}`,
        );
        continue;
      }
      if (this.t.proxyAdmin) {
        const missing = await this.proxies.podLacksKid(s.pod, uids, expect.kid);
        if (missing) {
          lagging.push(s.pod.name);
          notes.push(`${s.pod.name}: ${missing}`);
        }
      }
    }
    if (lagging.length === 0)
      return { state: "confirmed", detail: `${seen.length} proxy pod(s) on one new configuration_hash` };
    const failure = await this.applyFailedSince(since.appliedAt);
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
      const list = await this.api.call({ verb: "list", resource: "events", namespace }, (o) =>
        this.api.core.listNamespacedEvent(
          { namespace, fieldSelector: "reason=KongConfigurationApplyFailed" },
          o,
        ),
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
