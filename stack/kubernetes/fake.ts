/**
 * Fake Kubernetes API server (HTTPS, bearer tokens, RBAC-like rules) for the resources the KIC target uses,
 * with the Kong Ingress Controller (KIC 3.1+) and its Kong proxy pods simulated behind it.
 *
 * API server behaviours reproduced (kubernetes/kubernetes, staging/src/k8s.io/apimachinery and apiserver):
 * - `GET|PATCH /api/v1/namespaces/{ns}/secrets/{name}`; PATCH with `application/json-patch+json`,
 *   `application/merge-patch+json` or `application/strategic-merge-patch+json` (./patch.ts); any other
 *   Content-Type is 415 UnsupportedMediaType. `metadata.resourceVersion` in the patched object is a
 *   precondition: a stale one is 409 Conflict "the object has been modified; please apply your changes to
 *   the latest version and try again" (apimachinery pkg/api/errors `NewConflict`). Every accepted write
 *   bumps resourceVersion (one counter per server, like etcd's revision). `data` values must be base64.
 * - `GET /api/v1/namespaces/{ns}/events?fieldSelector=` (core/v1 Event field labels:
 *   involvedObject.{kind,namespace,name,uid,apiVersion,resourceVersion,fieldPath}, reason,
 *   reportingComponent, source, type, metadata.{name,namespace}; any other label is 400
 *   "field label not supported: x", pkg/registry/core/event/strategy.go `ToSelectableFields`).
 * - `GET /api/v1/namespaces/{ns}/pods?labelSelector=` (pkg/labels grammar), with status.podIP/podIPs,
 *   phase and the Ready condition.
 * - `GET /api/v1/namespaces/{ns}/pods/{name}/proxy[/{path}]`, the pod proxy subresource (Kubernetes API
 *   operation connectCoreV1GetNamespacedPodProxyWithPath): `{name}` is `[scheme:]pod[:port]`
 *   (apimachinery pkg/util/net `SplitSchemeNamePort`; anything else is 400 `invalid pod request "x"`), the
 *   port defaults to the pod's first container port, and the API server connects to `podIP:port` as given
 *   (pkg/registry/core/pod/strategy.go `ResourceLocation`). RBAC verb `get` on `pods/proxy` (a resource's
 *   subresource is `<resource>/<subresource>` in rules, SelfSubjectAccessReview and the 403 message). Here the
 *   API server "reaches" a proxy pod in-process: its Status API (`/status`, the status port) answers; any
 *   other port is 503 `error trying to reach service: dial tcp <ip>:<port>: connect: connection refused`
 *   (apimachinery pkg/util/proxy/transport.go), as an unreachable pod answers through a real API server.
 *   Pod IPs are loopback addresses where nothing listens (127.80.0.N, the Kong chart's ports 8000, 8100 and
 *   8444), so a client that connects to a pod IP directly fails, as it does from outside a cluster network;
 *   `reachablePods` instead runs a loopback listener per pod for the Status and Admin APIs and advertises it.
 *   A real API server refuses to proxy to an address that is not global unicast ("address not allowed"):
 *   not reproduced, since this fake never hands out an address outside loopback.
 * - `GET /apis/configuration.konghq.com/v1/namespaces/{ns}/kongplugins[/{name}]` (the KongPlugin CRD).
 * - `GET /apis/configuration.konghq.com/v1alpha1/kongvaults[/{name}]` (the cluster-scoped KongVault CRD,
 *   Kong/kubernetes-ingress-controller config/crd/bases/configuration.konghq.com_kongvaults.yaml: `scope:
 *   Cluster`, `spec.{backend,prefix,config,description}`, `status.conditions` of type `Programmed`).
 * - Errors are `Status` bodies `{kind:"Status",apiVersion:"v1",metadata:{},status:"Failure",message,reason,
 *   details,code}`: 401 Unauthorized; 403 Forbidden `secrets "x" is forbidden: User "u" cannot patch
 *   resource "secrets" in API group "" in the namespace "ns"` (apiserver endpoints/handlers/responsewriters/
 *   errors.go `forbiddenMessage` inside apierrors `NewForbidden`); 404 `secrets "x" not found`.
 * - Authentication: a static bearer token (a kubeconfig's `token`), or, with `entra`, a Microsoft Entra
 *   access token for the AKS server application whose `oid` is the user (AKS-managed Entra integration).
 * - RBAC: each token has rules `{verbs, resources, resourceNames?, namespaces?}`. `resourceNames` only ever
 *   matches requests that name one object (get/patch), never list, as in RBAC. A rule with `namespaces` is a
 *   RoleBinding's and never grants a cluster-scoped resource (namespace ""); one without is a
 *   ClusterRoleBinding's. A cluster-scoped refusal ends "at the cluster scope" (`forbiddenMessage`).
 *   SelfSubjectAccessReview answers "can I?" from the same rules (201, `status.allowed`).
 *
 * KIC behaviours simulated (Kong/kubernetes-ingress-controller; docs app/kubernetes-ingress-controller):
 * - A KongPlugin's `configPatches[{path, valueFrom.secretKeyRef{name,key}}]` (3.1.0, #5158/#5208) is an
 *   RFC 6902 "add" of the Secret value, parsed as JSON, onto `config`.
 * - KIC watches every Secret a KongPlugin refers to and pushes the whole config to every proxy pod at most
 *   every `--proxy-sync-seconds` (default 3); each pod applies it after its own lag (or never).
 * - The admission webhook (3.1.0+, #5203) rejects a Secret write that makes a referring plugin invalid:
 *   403 with `admission webhook "secrets.validation.ingress-controller.konghq.com" denied the request: ...`
 *   (apiserver admission/plugin/webhook/errors `ToStatusErr`: code 0 becomes 403, message prefixed), for
 *   Secrets labelled `konghq.com/validate` or `konghq.com/credential` (the chart's objectSelector since 3.2,
 *   unless `webhookFilterSecrets: false`; KIC CHANGELOG 3.2 "Breaking changes"). The
 *   webhook name follows KIC's `<resource>.validation.ingress-controller.konghq.com` pattern; the message
 *   after the prefix follows KIC's `ErrTextPluginConfigInvalid` / `ErrTextPluginConfigViolatesSchema`.
 * - Events on the KIC pod, one per proxy URL and push: `KongConfigurationSucceeded` (Normal) /
 *   `KongConfigurationApplyFailed` (Warning) (internal/dataplane/kong_client.go). They go through client-go's
 *   EventCorrelator (tools/record/events_cache.go): the spam filter is a token bucket per source+object
 *   (burst 25, refill 1 per 300 s) that drops events silently; identical events (same reason+message) update
 *   the existing Event's count and lastTimestamp instead of creating one. Timestamps are RFC 3339 seconds.
 * - Each proxy pod serves Kong's Status API `GET /status` (plain HTTP, the chart's default `status` port):
 *   `configuration_hash` is 32 hex chars, all zeros before any config (kong/api/routes/health.lua).
 *
 * - Each proxy pod's Admin API (port `admin-tls`, HTTPS) answers `GET /plugins?tags=` with the plugins it
 *   runs, tagged as KIC tags them.
 * - `KongVault` (configuration.konghq.com/v1alpha1, cluster-scoped, KIC 3.1+ #5354/#5384; `spec.backend`,
 *   `spec.prefix`, `spec.description`, `spec.config`), seeded with `addKongVault`: KIC translates each into a
 *   vault entity (`name` = backend, prefix, config) pushed with the plugins, and refuses a second KongVault with
 *   the same prefix (admission `ValidateVault`, #5412: `spec.prefix "p" is duplicate with existing KongVault n`).
 *   Each proxy pod resolves the `{vault://…}` references of the config it runs with its own resolver and cache
 *   (../kong/vault.ts) and its own credentials, for Azure the pod's `AZURE_CLIENT_SECRET` env var
 *   (`proxyCredentials`; Kong reads the client secret from the environment only:
 *   https://developer.konghq.com/gateway/entities/vault/azure/); without them every fetch resolves to "".
 *
 * - Every request is validated against the API server's published OpenAPI for the operations used here
 *   (stack/specs/kubernetes/: core/v1 and authorization.k8s.io/v1 from kubernetes/kubernetes, KIC's
 *   KongPlugin and KongVault CRDs; stack/common/openapi.ts). It runs before authentication, so a request
 *   both unauthenticated and malformed is answered as malformed (the API server authenticates first): no such path is 404 NotFound, a method the path lacks 405 MethodNotAllowed, a
 *   body media type the operation does not take 415 UnsupportedMediaType, a bad parameter or body 400
 *   BadRequest. The proxy pods' Admin API and `/status` are validated against Kong's Admin API spec.
 *
 * Not reproduced: watch, list pagination, server-side apply, dryRun, the event aggregator's
 * "(combined from similar events)" rewrite, KongClusterPlugin, KIC's own config translation beyond the
 * patched plugin and the vaults, Admin API mTLS (KIC's client certificate) and every Admin API route but
 * `GET /plugins`, writing KongVaults through the API (they are seeded with `addKongVault`; `invalid` stands
 * for a translation failure or a refusal by Kong), workload identity for the pods.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { decodeJwt } from "jose";
import { bearer } from "../common/auth.js";
import { notePrivateJwk, noteSecret } from "../common/capture.js";
import {
  parseJsonBody,
  startHttpsServer,
  type Reply,
  type Request,
  type RunningServer,
} from "../common/server.js";
import type { ServerTls } from "../common/tls.js";
import type { Rejection, SpecRequest, Validation } from "../common/openapi.js";
import { suite } from "../specs/index.js";
import { probeLogin, type ProbeResult } from "../kong/probe.js";
import { GatewayNode } from "../kong/node-cache.js";
import { azureVaultFromEntity, KongVaults, type AzureNodeCredentials } from "../kong/vault.js";
import {
  PatchError,
  jsonPatch,
  matchesLabels,
  mergePatch,
  parseFieldSelector,
  parseLabelSelector,
} from "./patch.js";

export interface RbacRule {
  verbs: string[];
  /** Plural resource names, e.g. "secrets", "pods", "events", "kongplugins". */
  resources: string[];
  resourceNames?: string[];
  /** Namespaces the rule applies in (a RoleBinding's namespace); all when absent. */
  namespaces?: string[];
}

export interface Identity {
  user: string;
  rules: RbacRule[];
}

export interface KongPluginSpec {
  name: string;
  namespace: string;
  plugin: string;
  config: Record<string, unknown>;
  configPatches?: { path: string; valueFrom: { secretKeyRef: { name: string; key: string } } }[];
}

/** A `KongVault` (configuration.konghq.com/v1alpha1, cluster-scoped): `metadata.name` and its `spec`. */
export interface KongVaultSpec {
  name: string;
  backend: string;
  prefix: string;
  description?: string;
  config: Record<string, unknown>;
  /**
   * KIC cannot translate it, or Kong refuses it (this text is why): KIC leaves it out of the config it pushes
   * and sets `Programmed` `False`/`Invalid` with the text as message.
   */
  invalid?: string;
}

export interface ProxyPodSpec {
  name: string;
  /** Container image (default kong/kong-gateway:3.10.0.16). */
  image?: string;
  /** Delay between KIC's push and the pod reporting the new configuration. */
  lagMs?: number;
  /** The pod never applies pushes (hash frozen), though KIC's push to it "succeeds". */
  stuck?: boolean;
  /**
   * The pod's Admin API refuses pushes: KIC records KongConfigurationApplyFailed. A string is Kong's error
   * message, which KIC puts in the Event (Kong's schema errors can quote a submitted value:
   * kong/db/schema/init.lua `invalid value: %s`).
   */
  rejects?: boolean | string;
  ready?: boolean;
}

export interface KubernetesFakeOptions {
  tls: ServerTls;
  tokens: Record<string, Identity>;
  /** `--proxy-sync-seconds` in ms (default 3000). */
  proxySyncMs?: number;
  /** KIC's admission webhook for Secrets (default on). */
  webhook?: boolean;
  /**
   * The chart's webhook objectSelector since KIC 3.2 (`admissionWebhook.filterSecrets`, default on): only
   * Secrets labelled `konghq.com/credential` or `konghq.com/validate` (old or new object) are checked.
   */
  webhookFilterSecrets?: boolean;
  /** Namespace and labels of the proxy pods; the KIC pod lives in the same namespace. */
  namespace?: string;
  proxyLabels?: Record<string, string>;
  proxyPods?: ProxyPodSpec[];
  /** client-go EventCorrelator spam filter (defaults 25 and 1/300 per second). */
  eventBurst?: number;
  eventQps?: number;
  /** KIC's CRDs are installed (default); without them `kongplugins` is 404 like any unknown resource. */
  kicCrds?: boolean;
  /** Events KIC already emitted on its pod before the test (a long-running controller). */
  priorEvents?: number;
  /** The proxy pods' own Azure credentials for vault references (their AZURE_CLIENT_SECRET); none by default. */
  proxyCredentials?: AzureNodeCredentials;
  /**
   * The proxy pods' Status and Admin APIs listen on 127.0.0.1 and the pods advertise that address and those
   * ports, for a client inside the "cluster network" (`statusAccess: direct`, `proxyAdmin`). Off by default:
   * the pod IPs are loopback addresses where nothing listens.
   */
  reachablePods?: boolean;
  /**
   * Microsoft Entra authentication, as a cluster with AKS-managed Entra integration does it: a bearer token
   * that is a JWT the tenant's authority issued for the AKS server application (`verify`, with
   * `serverAppId` as the audience) names its user by the `oid` claim, the principal's object id, which is
   * what RoleBindings name (Azure/kubelogin README, "the user in rolebinding should be the MSI's AAD Object
   * ID"). `users` holds each object id's RBAC rules, read at every request; a valid token of a principal
   * with no rules is an authenticated user allowed nothing (403), an invalid one is 401.
   */
  entra?: {
    serverAppId: string;
    verify(token: string, audience: string): Promise<boolean>;
    users: Map<string, RbacRule[]>;
  };
}

interface StoredObject {
  [k: string]: unknown;
  metadata: Record<string, unknown> & {
    name: string;
    namespace: string;
    resourceVersion: string;
    uid: string;
  };
}

export interface ProxyPod {
  readonly name: string;
  /** The pod IP and status port it advertises (nothing listens there unless `reachablePods`). */
  readonly ip: string;
  readonly statusPort: number;
  /** The pod's Admin API server (request log, fault injection); only with `reachablePods`. */
  readonly admin: RunningServer | undefined;
  /** configuration_hash the pod reports. */
  readonly hash: string;
  /** The effective openid-connect config the pod runs (with client_jwk), or undefined before any push. */
  pluginConfig(plugin: string): Record<string, unknown> | undefined;
  /** Log in as Kong would with what this pod holds (`cached`: from its token cache when it has a live token). */
  probe(plugin: string, clientId: string, opts?: { cached?: boolean }): Promise<ProbeResult>;
  /** The proxy's caches (tokens, discovery). */
  readonly node: GatewayNode;
  setLag(ms: number): void;
  setStuck(stuck: boolean): void;
  setRejects(rejects: boolean | string): void;
}

export interface KubernetesFake extends RunningServer {
  /** Requests the published API descriptions refused (API server, proxy pods), for conformance tests. */
  readonly rejected: Rejection[];
  readonly kicPod: string;
  readonly pods: ProxyPod[];
  addSecret(
    namespace: string,
    name: string,
    data: Record<string, string>,
    labels?: Record<string, string>,
    immutable?: boolean,
  ): void;
  getSecret(namespace: string, name: string): StoredObject | undefined;
  /** Decoded value of one Secret key. */
  secretValue(namespace: string, name: string, key: string): string | undefined;
  addKongPlugin(spec: KongPluginSpec): void;
  /** A KongVault, pushed to the proxy pods with the next sync. */
  addKongVault(spec: KongVaultSpec): void;
  /** Key Vault reads the proxy pods made to resolve references (cache misses, all pods). */
  vaultFetches(): number;
  /** Events as stored (after the spam filter). */
  events(): StoredObject[];
  /** Run one KIC sync now (tests; the timer also runs every proxySyncMs). */
  syncNow(): void;
  setWebhook(on: boolean): void;
  /** Replace the RBAC rules of the identity named `user` (a Role changed by its owner). */
  setRules(user: string, rules: RbacRule[]): void;
  /**
   * The webhook refuses every write to a Secret a KongPlugin uses, with this text after KIC's prefix (the
   * plugin's validation error as KIC relays it, which can quote a submitted value); undefined: validate.
   */
  setWebhookDenial(text: string | undefined): void;
}

const ZERO_HASH = "0".repeat(32);
const GROUP_KONG = "configuration.konghq.com";
const now = () => new Date();
const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

/** A request the API server's published description refuses, as a `Status`. */
function specRefusal(v: Exclude<Validation, { ok: true }>): Reply {
  if (v.reason === "unknown-path")
    return status(404, "NotFound", "the server could not find the requested resource");
  if (v.reason === "method")
    return status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
  if (v.reason === "media-type")
    return status(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
    );
  return status(400, "BadRequest", v.errors.join("; "));
}

/** A request to a proxy pod's Admin API or status listener that Kong's Admin API spec refuses. */
function kongRefusal(v: Exclude<Validation, { ok: true }>): Reply {
  if (v.reason === "unknown-path") return { status: 404, body: { message: "Not found" } };
  if (v.reason === "method") return { status: 405, body: { message: "Method not allowed" } };
  return { status: 400, body: { message: v.errors.join("; ") } };
}

function status(code: number, reason: string, message: string, details?: Record<string, unknown>): Reply {
  return {
    status: code,
    body: {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      ...(details ? { details } : {}),
      code,
    },
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The plugin's validity under the bits of Kong's openid-connect schema a JWK array touches. */
function checkJwkArray(value: unknown): string | undefined {
  if (!Array.isArray(value)) return "client_jwk: expected an array";
  for (const [i, e] of value.entries()) {
    if (!isRecord(e)) return `client_jwk.${i + 1}: expected a record`;
    if (typeof e.kty !== "string") return `client_jwk.${i + 1}.kty: required field missing`;
    if (e.kty === "RSA" && (typeof e.n !== "string" || typeof e.e !== "string"))
      return `client_jwk.${i + 1}: RSA key needs n and e`;
  }
  return undefined;
}

/**
 * Report the private members of every JWK in a Secret value (hygiene checks, stack/common/capture.ts); a
 * `{vault://…}` reference in their place is no secret.
 */
function noteJwkValue(text: string): void {
  try {
    const v: unknown = JSON.parse(text);
    for (const e of Array.isArray(v) ? v : [v])
      if (isRecord(e))
        notePrivateJwk(Object.fromEntries(Object.entries(e).filter(([, m]) => !KongVaults.isReference(m))));
  } catch {
    // not JSON: nothing to report
  }
}

export async function startKubernetesFake(opts: KubernetesFakeOptions): Promise<KubernetesFake> {
  for (const token of Object.keys(opts.tokens)) noteSecret("admin-token", token);
  /** Identities by token; a copy, so that setRules() changes this server only. */
  const tokens = structuredClone(opts.tokens);
  const ns = opts.namespace ?? "kong";
  const proxySyncMs = opts.proxySyncMs ?? 3000;
  const burst = opts.eventBurst ?? 25;
  const qps = opts.eventQps ?? 1 / 300;
  let webhook = opts.webhook ?? true;
  let webhookDenial: string | undefined;
  let revision = 1000;
  const nextRv = () => String(++revision);

  const secrets = new Map<string, StoredObject>();
  const plugins = new Map<string, StoredObject & KongPluginSpec>();
  /** KongVaults by name, with the metadata the API server gave them (cluster-scoped: no namespace). */
  const kongVaults = new Map<
    string,
    KongVaultSpec & {
      metadata: {
        name: string;
        uid: string;
        resourceVersion: string;
        generation: number;
        creationTimestamp: string;
      };
    }
  >();
  const credentials = opts.proxyCredentials ?? { authorityHost: "https://login.microsoftonline.com" };
  const events: StoredObject[] = [];
  const podObjects = new Map<string, StoredObject>();
  const key = (n: string, name: string) => `${n}/${name}`;

  // ---- client-go EventCorrelator (spam filter + dedup) ----------------------------------------
  const buckets = new Map<string, { tokens: number; at: number }>();
  const kicPodName = `kong-controller-${randomBytes(4).toString("hex")}-kic`;
  const kicPodUid: string = randomUUID();
  const recordEvent = (
    type: "Normal" | "Warning",
    reason: string,
    message: string,
    obj = {
      kind: "Pod",
      name: kicPodName,
      uid: kicPodUid,
      apiVersion: "v1",
    },
  ) => {
    const spamKey = ["kong-client", "", obj.kind, ns, obj.name, obj.uid, obj.apiVersion].join("");
    const t = Date.now();
    const b = buckets.get(spamKey) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * qps);
    b.at = t;
    buckets.set(spamKey, b);
    if (b.tokens < 1) return; // EventSourceObjectSpamFilter.Filter: skipped, nothing written
    b.tokens -= 1;
    const ts = rfc3339(now());
    const existing = events.find(
      (e) =>
        (e.involvedObject as Record<string, unknown>).uid === obj.uid &&
        e.reason === reason &&
        e.message === message &&
        e.type === type,
    );
    if (existing) {
      existing.count = (existing.count as number) + 1;
      existing.lastTimestamp = ts;
      existing.metadata.resourceVersion = nextRv();
      return;
    }
    events.push({
      apiVersion: "v1",
      kind: "Event",
      metadata: {
        name: `${obj.name}.${randomBytes(8).toString("hex")}`,
        namespace: ns,
        uid: randomUUID(),
        resourceVersion: nextRv(),
        creationTimestamp: ts,
      },
      involvedObject: {
        kind: obj.kind,
        namespace: ns,
        name: obj.name,
        uid: obj.uid,
        apiVersion: obj.apiVersion,
      },
      reason,
      message,
      source: { component: "kong-client" },
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
      type,
      eventTime: null,
      reportingComponent: "",
      reportingInstance: "",
    });
  };
  for (let i = 0; i < (opts.priorEvents ?? 0); i++)
    recordEvent(
      "Normal",
      "KongConfigurationSucceeded",
      `successfully applied Kong configuration to https://earlier-${i}:8444`,
    );

  const apiSpec = suite("kubernetes");
  const kongSpec = suite("kong");
  const rejected: Rejection[] = [];

  // ---- proxy pods ------------------------------------------------------------------------------
  interface PodState {
    spec: ProxyPodSpec;
    /** The advertised pod IP and container ports. */
    ip: string;
    statusPort: number;
    adminPort: number;
    /** With `reachablePods`: the loopback listeners behind them. */
    server?: Server;
    sockets: Set<Socket>;
    admin?: RunningServer;
    hash: string;
    config: Map<string, Record<string, unknown>>;
    timers: Set<NodeJS.Timeout>;
    /** The proxy's caches (tokens, discovery); each applied config purges them (stack/kong/node-cache.ts). */
    node: GatewayNode;
    /** The pod's reference resolver, configured from the vault entities it runs with. */
    vaults: KongVaults;
  }
  /**
   * The proxy's Admin API (DB-less, as KIC runs it), read-only: `GET /plugins?tags=` with the tags KIC puts
   * on every entity it generates (`k8s-name:`, `k8s-namespace:`, `k8s-kind:`, `k8s-uid:`, `k8s-group:`,
   * `k8s-version:`; internal/util `GenerateTagsForObject`), `a,b` = AND (kong/api/endpoints.lua).
   */
  const adminHandler =
    (state: PodState) =>
    async (req: Request): Promise<Reply> => {
      const v = kongSpec.check(req, rejected);
      if (!v.ok) return kongRefusal(v);
      if (req.method !== "GET" || req.path !== "/plugins")
        return { status: 404, body: { message: "Not found" } };
      const wanted = (req.url.searchParams.get("tags") ?? "").split(",").filter(Boolean);
      const data = [...state.config.entries()].flatMap(([name, config]) => {
        const p = plugins.get(key(ns, name));
        if (!p) return [];
        const tags = [
          `k8s-name:${p.name}`,
          `k8s-namespace:${p.namespace}`,
          "k8s-kind:KongPlugin",
          `k8s-uid:${p.metadata.uid}`,
          `k8s-group:${GROUP_KONG}`,
          "k8s-version:v1",
        ];
        if (!wanted.every((t) => tags.includes(t))) return [];
        return [{ id: p.metadata.uid, name: p.plugin, config, tags, enabled: true }];
      });
      return { status: 200, body: { data, next: null } };
    };
  /**
   * Kong's Status API (kong/api/routes/health.lua): `GET /status`; anything else is Kong's 404. Requests are
   * validated against Kong's Admin API spec, whose `/status` this is.
   */
  const statusApi = (state: PodState, req: SpecRequest): Reply => {
    const v = kongSpec.check(req, rejected);
    if (!v.ok) return kongRefusal(v);
    return req.method === "GET" && req.url.pathname === "/status"
      ? {
          status: 200,
          body: {
            database: { reachable: true },
            server: { connections_accepted: 1, connections_active: 1, total_requests: 1 },
            configuration_hash: state.hash,
          },
        }
      : { status: 404, body: { message: "Not found" } };
  };
  const podStates: PodState[] = [];
  for (const [i, spec] of (opts.proxyPods ?? [{ name: "kong-gateway-0" }]).entries()) {
    const state: PodState = {
      spec: { ...spec },
      ip: `127.80.0.${i + 1}`,
      statusPort: 8100,
      adminPort: 8444,
      sockets: new Set(),
      hash: ZERO_HASH,
      config: new Map(),
      timers: new Set(),
      vaults: new KongVaults(opts.tls.ca),
      node: new GatewayNode(),
    };
    if (opts.reachablePods) {
      const server = createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://127.0.0.1");
        const r = statusApi(state, {
          method: req.method ?? "GET",
          url,
          headers: req.headers,
          body: Buffer.alloc(0),
        });
        res.writeHead(r.status, { "content-type": "application/json; charset=utf-8" });
        res.end(JSON.stringify(r.body));
      });
      server.on("connection", (sock: Socket) => {
        state.sockets.add(sock);
        sock.on("close", () => state.sockets.delete(sock));
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      state.server = server;
      state.ip = "127.0.0.1";
      state.statusPort = (server.address() as AddressInfo).port;
      state.admin = await startHttpsServer(`kong-admin-${spec.name}`, opts.tls, adminHandler(state));
      state.adminPort = state.admin.port;
    }
    podStates.push(state);
    podObjects.set(spec.name, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: spec.name,
        namespace: ns,
        uid: randomUUID(),
        resourceVersion: nextRv(),
        labels: {
          // The Kong chart's selector labels (charts/kong templates/_helpers.tpl `kong.selectorLabels`).
          ...(opts.proxyLabels ?? {
            "app.kubernetes.io/name": "gateway",
            "app.kubernetes.io/instance": "kong",
            "app.kubernetes.io/component": "app",
          }),
        },
      },
      spec: {
        containers: [
          {
            name: "proxy",
            image: spec.image ?? "kong/kong-gateway:3.10.0.16",
            ports: [
              { name: "proxy", containerPort: 8000, protocol: "TCP" },
              { name: "status", containerPort: state.statusPort, protocol: "TCP" },
              { name: "admin-tls", containerPort: state.adminPort, protocol: "TCP" },
            ],
          },
        ],
      },
      status: {
        phase: "Running",
        podIP: state.ip,
        podIPs: [{ ip: state.ip }],
        conditions: [{ type: "Ready", status: spec.ready === false ? "False" : "True" }],
      },
    });
  }
  podObjects.set(kicPodName, {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: kicPodName,
      namespace: ns,
      uid: kicPodUid,
      resourceVersion: nextRv(),
      labels: {
        "app.kubernetes.io/name": "controller",
        "app.kubernetes.io/instance": "kong",
        "app.kubernetes.io/component": "app",
      },
    },
    spec: { containers: [{ name: "ingress-controller", ports: [] }] },
    status: {
      phase: "Running",
      podIP: "127.80.0.254",
      podIPs: [{ ip: "127.80.0.254" }],
      conditions: [{ type: "Ready", status: "True" }],
    },
  });

  // ---- KIC translation and sync loop --------------------------------------------------------------
  const decoded = (namespace: string, name: string, k: string): string | undefined => {
    const s = secrets.get(key(namespace, name));
    const data = isRecord(s?.data) ? s.data : {};
    const v = data[k];
    return typeof v === "string" ? Buffer.from(v, "base64").toString("utf8") : undefined;
  };

  /** KongPlugin config with its configPatches applied, or the translation error (KIC kongstate). */
  const translate = (
    p: KongPluginSpec,
    override?: { secret: string; data: Record<string, unknown> },
  ): { config?: Record<string, unknown>; error?: string } => {
    let config: unknown = structuredClone(p.config);
    for (const patch of p.configPatches ?? []) {
      const ref = patch.valueFrom.secretKeyRef;
      let raw: string | undefined;
      if (override && override.secret === ref.name) {
        const v = override.data[ref.key];
        raw = typeof v === "string" ? Buffer.from(v, "base64").toString("utf8") : undefined;
      } else raw = decoded(p.namespace, ref.name, ref.key);
      if (raw === undefined)
        return { error: `could not parse plugin configuration: secret ${ref.name} has no key ${ref.key}` };
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        return {
          error: `could not parse plugin configuration: invalid JSON in secret ${ref.name} key ${ref.key}`,
        };
      }
      config = jsonPatch(config, [{ op: "add", path: patch.path, value }]);
    }
    const cfg = config as Record<string, unknown>;
    if (p.plugin === "openid-connect" && cfg.client_jwk !== undefined) {
      const bad = checkJwkArray(cfg.client_jwk);
      if (bad) return { error: `plugin failed schema validation: ${bad}` };
    }
    return { config: cfg };
  };

  /** KIC's translation of the KongVaults: vault entities (`name` = spec.backend). */
  type VaultEntity = { name: string; prefix: string; config: Record<string, unknown> };
  const vaultEntities = (): VaultEntity[] =>
    [...kongVaults.values()]
      .filter((v) => v.invalid === undefined)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((v) => ({ name: v.backend, prefix: v.prefix, config: structuredClone(v.config) }));
  const loadVaults = (pod: PodState, entities: VaultEntity[]) =>
    pod.vaults.configure(entities.flatMap((e) => azureVaultFromEntity(e, credentials) ?? []));

  let lastPushed = "";
  let lastConfigs = new Map<string, Record<string, unknown>>();
  let lastVaults: VaultEntity[] = [];
  /** When KIC first pushed each vault prefix (its KongVault's Programmed transition). */
  const programmedAt = new Map<string, string>();
  let lastFailed = false;
  const sync = () => {
    const configs = new Map<string, Record<string, unknown>>();
    for (const p of plugins.values()) {
      const t = translate(p);
      if (t.error) {
        recordEvent("Warning", "KongConfigurationTranslationFailed", t.error, {
          kind: "KongPlugin",
          name: p.name,
          uid: p.metadata.uid,
          apiVersion: `${GROUP_KONG}/v1`,
        });
        continue;
      }
      if (t.config) configs.set(p.name, t.config);
    }
    // Kong's configuration_hash is an MD5 over the declarative config (kong/db/declarative).
    const vaults = vaultEntities();
    const canonical =
      JSON.stringify([...configs.entries()].sort(([a], [b]) => a.localeCompare(b))) +
      (vaults.length ? JSON.stringify(vaults) : "");
    const hash = createHash("md5").update(canonical).digest("hex");
    if (hash === lastPushed && !lastFailed) return;
    lastPushed = hash;
    lastConfigs = configs;
    lastVaults = vaults;
    for (const v of vaults) if (!programmedAt.has(v.prefix)) programmedAt.set(v.prefix, rfc3339(now()));
    lastFailed = false;
    for (const pod of podStates) {
      const url = `https://${pod.spec.name}:8444`;
      if (pod.spec.rejects) {
        lastFailed = true;
        recordEvent(
          "Warning",
          "KongConfigurationApplyFailed",
          `failed to apply Kong configuration to ${url}: HTTP status 400 (message: "declarative config is invalid${typeof pod.spec.rejects === "string" ? `: ${pod.spec.rejects}` : ""}")`,
        );
        continue;
      }
      recordEvent(
        "Normal",
        "KongConfigurationSucceeded",
        `successfully applied Kong configuration to ${url}`,
      );
      if (pod.spec.stuck) continue;
      const apply = () => {
        pod.hash = hash;
        pod.config = new Map(configs);
        loadVaults(pod, vaults);
        // KIC's POST /config is a declarative reconfiguration: the proxy purges its node cache.
        pod.node.purge();
      };
      const lag = pod.spec.lagMs ?? 0;
      if (lag <= 0) apply();
      else {
        const timer = setTimeout(() => {
          pod.timers.delete(timer);
          if (!pod.spec.stuck) apply();
        }, lag);
        pod.timers.add(timer);
      }
    }
  };
  const ticker = setInterval(sync, proxySyncMs);

  // ---- HTTP API ----------------------------------------------------------------------------------
  const forbidden = (
    user: string,
    verb: string,
    resource: string,
    namespace: string,
    name?: string,
    group = "",
  ) => {
    // The object is named by its resource; the refused "resource" includes a subresource ("pods/proxy").
    const base = `${resource.split("/")[0] ?? resource}${group ? `.${group}` : ""}`;
    return status(
      403,
      "Forbidden",
      `${name ? `${base} "${name}"` : base} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${group}" ${namespace ? `in the namespace "${namespace}"` : "at the cluster scope"}`,
      { ...(name ? { name } : {}), ...(group ? { group } : {}), kind: resource.split("/")[0] ?? resource },
    );
  };

  /** Who sent the request: a static token's identity, or the object id of a valid Entra token. */
  const identities = new WeakMap<Request, Identity>();
  const authenticate = async (req: Request): Promise<void> => {
    const token = bearer(req.headers.authorization);
    if (!token) return;
    const id = tokens[token];
    if (id) return void identities.set(req, id);
    const entra = opts.entra;
    if (!entra || !(await entra.verify(token, entra.serverAppId))) return;
    const oid = decodeJwt(token).oid;
    if (typeof oid === "string") identities.set(req, { user: oid, rules: entra.users.get(oid) ?? [] });
  };

  const authorize = (
    req: Request,
    verb: string,
    resource: string,
    namespace: string,
    name?: string,
    group = "",
  ): Reply | Identity => {
    const id = identities.get(req);
    if (!id) return status(401, "Unauthorized", "Unauthorized");
    return allowed(id, verb, resource, namespace, name)
      ? id
      : forbidden(id.user, verb, resource, namespace, name, group);
  };
  const allowed = (id: Identity, verb: string, resource: string, namespace: string, name?: string) =>
    id.rules.some(
      (r) =>
        (r.verbs.includes(verb) || r.verbs.includes("*")) &&
        (r.resources.includes(resource) || r.resources.includes("*")) &&
        (!r.namespaces || r.namespaces.includes(namespace)) &&
        (!r.resourceNames || (name !== undefined && r.resourceNames.includes(name))),
    );

  /**
   * `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` ("kubectl auth can-i"): any authenticated
   * user may ask about itself (the system:basic-user ClusterRole); the answer echoes the spec with
   * `status.allowed` (and `denied` when refused).
   */
  const accessReview = (req: Request): Reply => {
    const id = identities.get(req);
    if (!id) return status(401, "Unauthorized", "Unauthorized");
    const body = parseJsonBody(req);
    const spec = isRecord(body) && isRecord(body.spec) ? body.spec : {};
    const ra = isRecord(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
    if (!ra)
      return status(
        422,
        "Invalid",
        "SelfSubjectAccessReview.authorization.k8s.io is invalid: spec.resourceAttributes: Required value",
      );
    const str = (v: unknown) => (typeof v === "string" ? v : "");
    const resource = str(ra.subresource) ? `${str(ra.resource)}/${str(ra.subresource)}` : str(ra.resource);
    const ok = allowed(id, str(ra.verb), resource, str(ra.namespace), str(ra.name) || undefined);
    return {
      status: 201,
      body: {
        kind: "SelfSubjectAccessReview",
        apiVersion: "authorization.k8s.io/v1",
        metadata: { creationTimestamp: null },
        spec,
        status: ok
          ? { allowed: true, reason: "RBAC: allowed by the fake's rules" }
          : { allowed: false, denied: false },
      },
    };
  };

  const list = (kind: string, items: StoredObject[]) => ({
    kind: `${kind}List`,
    apiVersion: "v1",
    metadata: { resourceVersion: String(revision) },
    items,
  });

  const EVENT_FIELDS = new Set([
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.name",
    "metadata.namespace",
  ]);
  const eventField = (e: StoredObject, f: string): string => {
    const io = e.involvedObject as Record<string, unknown>;
    if (f.startsWith("involvedObject.")) return String(io[f.slice("involvedObject.".length)] ?? "");
    if (f === "source") return String((e.source as Record<string, unknown>).component ?? "");
    if (f.startsWith("metadata.")) return String(e.metadata[f.slice("metadata.".length)] ?? "");
    return String(e[f] ?? "");
  };

  const patchSecret = (req: Request, namespace: string, name: string): Reply => {
    const current = secrets.get(key(namespace, name));
    if (!current) return status(404, "NotFound", `secrets "${name}" not found`, { name, kind: "secrets" });
    const type = String(req.headers["content-type"] ?? "")
      .split(";")[0]
      ?.trim();
    let body: unknown;
    try {
      body = parseJsonBody(req);
    } catch {
      return status(400, "BadRequest", "error decoding patch: invalid character in JSON");
    }
    let next: unknown;
    try {
      if (type === "application/json-patch+json") next = jsonPatch(current, body);
      else if (type === "application/merge-patch+json" || type === "application/strategic-merge-patch+json")
        next = mergePatch(current, body);
      else
        return status(
          415,
          "UnsupportedMediaType",
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
        );
    } catch (e) {
      if (e instanceof PatchError)
        return status(422, "Invalid", "the server rejected our request due to an error in our request", {
          causes: [{ message: e.message }],
        });
      throw e;
    }
    if (!isRecord(next) || !isRecord(next.metadata))
      return status(422, "Invalid", `Secret "${name}" is invalid: metadata: Required value`);
    const meta = next.metadata;
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== current.metadata.resourceVersion)
      return status(
        409,
        "Conflict",
        `Operation cannot be fulfilled on secrets "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name, kind: "secrets" },
      );
    if (meta.name !== name || meta.namespace !== namespace || meta.uid !== current.metadata.uid)
      return status(
        422,
        "Invalid",
        `Secret "${name}" is invalid: metadata.name: Invalid value: field is immutable`,
      );
    // stringData is write-only and merged into data (pkg/apis/core/v1 conversion of Secret).
    const data: Record<string, unknown> = isRecord(next.data) ? { ...next.data } : {};
    if (isRecord(next.stringData))
      for (const [k, v] of Object.entries(next.stringData))
        data[k] = Buffer.from(String(v), "utf8").toString("base64");
    delete next.stringData;
    for (const [k, v] of Object.entries(data))
      if (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v))
        return status(
          422,
          "Invalid",
          `Secret "${name}" is invalid: data[${k}]: Invalid value: illegal base64 data`,
        );
    next.data = data;
    // pkg/apis/core/validation ValidateSecretUpdate: an immutable Secret's data cannot change.
    if (current.immutable === true && JSON.stringify(data) !== JSON.stringify(current.data ?? {}))
      return status(
        422,
        "Invalid",
        `Secret "${name}" is invalid: data: Forbidden: field is immutable when \`immutable\` is set`,
        { name, kind: "Secret", causes: [{ reason: "FieldValueForbidden", field: "data" }] },
      );
    const labelled = (o: unknown) => {
      const l = isRecord(o) && isRecord(o.metadata) && isRecord(o.metadata.labels) ? o.metadata.labels : {};
      return "konghq.com/credential" in l || "konghq.com/validate" in l;
    };
    if (webhook && (opts.webhookFilterSecrets === false || labelled(current) || labelled(next)))
      for (const p of plugins.values()) {
        if (
          p.namespace !== namespace ||
          !(p.configPatches ?? []).some((c) => c.valueFrom.secretKeyRef.name === name)
        )
          continue;
        const t = translate(p, { secret: name, data });
        if (webhookDenial !== undefined) t.error = webhookDenial;
        if (t.error)
          return status(
            403,
            "",
            `admission webhook "secrets.validation.ingress-controller.konghq.com" denied the request: Change on secret will generate invalid configuration for KongPlugin ${p.name}: ${t.error}`,
            { name, kind: "secrets" },
          );
      }
    for (const v of Object.values(data)) noteJwkValue(Buffer.from(v as string, "base64").toString("utf8"));
    meta.resourceVersion = nextRv();
    const stored = next as StoredObject;
    secrets.set(key(namespace, name), stored);
    return { status: 200, body: stored };
  };

  /**
   * A KongVault as the API server returns it. `status.conditions` holds only `Programmed` (the CRD's one known
   * type): the CRD default `Unknown`/`Pending` "Waiting for controller" until KIC has pushed it with a config,
   * then `True`/`Programmed`; `False`/`Invalid` when KIC could not translate it or Kong refused it
   * (Kong/kubernetes-ingress-controller pkg/apis/configuration/v1/conditions.go: ReasonProgrammed,
   * ReasonInvalid, ReasonPending).
   */
  const kongVaultView = (
    v: KongVaultSpec & { metadata: { generation: number } & Record<string, unknown> },
  ) => {
    const pushed = programmedAt.get(v.prefix);
    const at = { observedGeneration: v.metadata.generation };
    return {
      apiVersion: `${GROUP_KONG}/v1alpha1`,
      kind: "KongVault",
      metadata: v.metadata,
      spec: {
        backend: v.backend,
        prefix: v.prefix,
        ...(v.description !== undefined ? { description: v.description } : {}),
        config: v.config,
      },
      status: {
        conditions: [
          v.invalid !== undefined
            ? {
                type: "Programmed",
                status: "False",
                reason: "Invalid",
                message: v.invalid,
                ...at,
                lastTransitionTime: v.metadata.creationTimestamp,
              }
            : pushed !== undefined
              ? {
                  type: "Programmed",
                  status: "True",
                  reason: "Programmed",
                  message: "",
                  ...at,
                  lastTransitionTime: pushed,
                }
              : {
                  type: "Programmed",
                  status: "Unknown",
                  reason: "Pending",
                  message: "Waiting for controller",
                  lastTransitionTime: "1970-01-01T00:00:00Z",
                },
        ],
      },
    };
  };
  /** GET of a KIC custom resource, one by name or the list (namespace "" for a cluster-scoped one). */
  const kongResource = (
    req: Request,
    r: {
      version: string;
      resource: string;
      kind: string;
      namespace: string;
      name: string | undefined;
      one: (name: string) => unknown;
      all: () => unknown[];
    },
  ): Reply => {
    const auth = authorize(req, r.name ? "get" : "list", r.resource, r.namespace, r.name, GROUP_KONG);
    if (!("rules" in auth)) return auth;
    if (r.name) {
      const found = r.one(r.name);
      return found
        ? { status: 200, body: found }
        : status(404, "NotFound", `${r.resource}.${GROUP_KONG} "${r.name}" not found`, {
            name: r.name,
            group: GROUP_KONG,
            kind: r.resource,
          });
    }
    return {
      status: 200,
      body: {
        apiVersion: `${GROUP_KONG}/${r.version}`,
        kind: `${r.kind}List`,
        metadata: { resourceVersion: String(revision) },
        items: r.all(),
      },
    };
  };
  /**
   * The pod proxy subresource (see the header): `id` is `[scheme:]pod[:port]`; the proxy pods' Status API is
   * reached in-process, every other address is refused as a dial from the API server would be.
   */
  const podProxy = (req: Request, namespace: string, id: string, path: string): Reply => {
    if (req.method !== "GET")
      return status(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
      );
    const split = id.split(":");
    const [scheme, name, port] =
      split.length === 1
        ? ["", split[0] ?? "", ""]
        : split.length === 2
          ? ["", split[0] ?? "", split[1] ?? ""]
          : split.length === 3
            ? [split[0] ?? "", split[1] ?? "", split[2] ?? ""]
            : ["?", "", ""];
    if (!name || !["", "http", "https"].includes(scheme))
      return status(400, "BadRequest", `invalid pod request "${id}"`);
    const auth = authorize(req, "get", "pods/proxy", namespace, name);
    if (!("rules" in auth)) return auth;
    const pod = podObjects.get(name);
    if (!pod || pod.metadata.namespace !== namespace)
      return status(404, "NotFound", `pods "${name}" not found`, { name, kind: "pods" });
    const spec = pod.spec as { containers: { ports?: { containerPort: number }[] }[] };
    const target =
      port || String(spec.containers.find((c) => c.ports?.length)?.ports?.[0]?.containerPort ?? "");
    const ip = String((pod.status as { podIP?: string }).podIP ?? "");
    const state = podStates.find((p) => p.spec.name === name);
    if (!state || target !== String(state.statusPort) || scheme === "https")
      return status(
        503,
        "ServiceUnavailable",
        `error trying to reach service: dial tcp ${ip}:${target || "80"}: connect: connection refused`,
      );
    // The proxied request: the path after `proxy`, with the query string the API server passes on.
    return statusApi(state, { ...req, url: new URL(`${path}${req.url.search}`, "http://127.0.0.1") });
  };

  const handler = async (req: Request): Promise<Reply> => {
    const v = apiSpec.check(req, rejected);
    if (!v.ok) return specRefusal(v);
    const parts = req.path.split("/").filter(Boolean).map(decodeURIComponent);
    const q = req.url.searchParams;
    if (req.method === "POST" && req.path === "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
      return accessReview(req);
    // /api/v1/namespaces/{ns}/pods/{name}/proxy[/{path}]
    if (
      parts[0] === "api" &&
      parts[1] === "v1" &&
      parts[2] === "namespaces" &&
      parts[3] &&
      parts[4] === "pods" &&
      parts[5] &&
      parts[6] === "proxy"
    )
      return podProxy(req, parts[3], parts[5], `/${parts.slice(7).join("/")}`);
    // /api/v1/namespaces/{ns}/{resource}[/{name}]
    if (parts[0] === "api" && parts[1] === "v1" && parts[2] === "namespaces" && parts[3] && parts[4]) {
      const [, , , namespace, resource, name] = parts as [string, string, string, string, string, string?];
      if (resource === "secrets" && name) {
        const verb = req.method === "GET" ? "get" : req.method === "PATCH" ? "patch" : undefined;
        if (!verb)
          return status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
          );
        const auth = authorize(req, verb, "secrets", namespace, name);
        if (!("rules" in auth)) return auth;
        if (verb === "get") {
          const s = secrets.get(key(namespace, name));
          return s
            ? { status: 200, body: s }
            : status(404, "NotFound", `secrets "${name}" not found`, { name, kind: "secrets" });
        }
        return patchSecret(req, namespace, name);
      }
      if ((resource === "events" || resource === "pods") && !name && req.method === "GET") {
        const auth = authorize(req, "list", resource, namespace);
        if (!("rules" in auth)) return auth;
        try {
          if (resource === "pods") {
            const sel = parseLabelSelector(q.get("labelSelector") ?? "");
            const items = [...podObjects.values()].filter(
              (p) =>
                p.metadata.namespace === namespace &&
                matchesLabels(sel, p.metadata.labels as Record<string, string>),
            );
            return { status: 200, body: list("Pod", items) };
          }
          const fields = parseFieldSelector(q.get("fieldSelector") ?? "");
          const bad = fields.find((f) => !EVENT_FIELDS.has(f.key));
          if (bad) return status(400, "BadRequest", `field label not supported: ${bad.key}`);
          const items = events.filter(
            (e) =>
              e.metadata.namespace === namespace &&
              fields.every((f) => (eventField(e, f.key) === f.value) === (f.op === "=")),
          );
          return { status: 200, body: list("Event", items) };
        } catch (e) {
          if (e instanceof PatchError) return status(400, "BadRequest", e.message);
          throw e;
        }
      }
    }
    // /apis/configuration.konghq.com/v1/namespaces/{ns}/kongplugins[/{name}]
    if (
      opts.kicCrds !== false &&
      parts[0] === "apis" &&
      parts[1] === GROUP_KONG &&
      parts[2] === "v1" &&
      parts[3] === "namespaces" &&
      parts[5] === "kongplugins" &&
      req.method === "GET"
    ) {
      const namespace = parts[4] ?? "";
      const view = (p: StoredObject & KongPluginSpec) => ({
        apiVersion: `${GROUP_KONG}/v1`,
        kind: "KongPlugin",
        metadata: p.metadata,
        plugin: p.plugin,
        config: p.config,
        ...(p.configPatches ? { configPatches: p.configPatches } : {}),
      });
      return kongResource(req, {
        version: "v1",
        resource: "kongplugins",
        kind: "KongPlugin",
        namespace,
        name: parts[6],
        one: (name) => {
          const p = plugins.get(key(namespace, name));
          return p && view(p);
        },
        all: () => [...plugins.values()].filter((p) => p.namespace === namespace).map(view),
      });
    }
    // /apis/configuration.konghq.com/v1alpha1/kongvaults[/{name}] (cluster-scoped: namespace "")
    if (
      opts.kicCrds !== false &&
      parts[0] === "apis" &&
      parts[1] === GROUP_KONG &&
      parts[2] === "v1alpha1" &&
      parts[3] === "kongvaults" &&
      parts.length <= 5 &&
      req.method === "GET"
    ) {
      return kongResource(req, {
        version: "v1alpha1",
        resource: "kongvaults",
        kind: "KongVault",
        namespace: "",
        name: parts[4],
        one: (name) => {
          const v = kongVaults.get(name);
          return v && kongVaultView(v);
        },
        all: () => [...kongVaults.values()].map(kongVaultView),
      });
    }
    return status(404, "NotFound", "the server could not find the requested resource");
  };

  const server = await startHttpsServer("kubernetes", opts.tls, async (req) => {
    await authenticate(req);
    return handler(req);
  });

  const pods: ProxyPod[] = podStates.map((s) => ({
    name: s.spec.name,
    ip: s.ip,
    statusPort: s.statusPort,
    admin: s.admin,
    get hash() {
      return s.hash;
    },
    pluginConfig: (plugin: string) => s.config.get(plugin),
    probe: async (plugin: string, clientId: string, probeOpts: { cached?: boolean } = {}) => {
      const config = s.config.get(plugin);
      if (!config) return { ok: false, status: 0, error: "the pod holds no config for this plugin" };
      return probeLogin(config, clientId, opts.tls.ca, s.vaults, {
        node: s.node,
        cached: probeOpts.cached ?? false,
      });
    },
    node: s.node,
    setLag: (ms: number) => void (s.spec.lagMs = ms),
    /** A pod that recovers loads the current config at once, as a restarted pod gets it from KIC. */
    setStuck: (stuck: boolean) => {
      s.spec.stuck = stuck;
      if (!stuck && lastPushed) {
        s.hash = lastPushed;
        s.config = new Map(lastConfigs);
        loadVaults(s, lastVaults);
        s.node.purge();
      }
    },
    setRejects: (rejects: boolean | string) => void (s.spec.rejects = rejects),
  }));

  return {
    ...server,
    rejected,
    kicPod: kicPodName,
    pods,
    addSecret(namespace, name, data, labels, immutable) {
      const encoded: Record<string, string> = {};
      for (const [k, v] of Object.entries(data)) {
        noteJwkValue(v);
        encoded[k] = Buffer.from(v, "utf8").toString("base64");
      }
      secrets.set(key(namespace, name), {
        apiVersion: "v1",
        kind: "Secret",
        type: "Opaque",
        metadata: {
          name,
          namespace,
          uid: randomUUID(),
          resourceVersion: nextRv(),
          creationTimestamp: rfc3339(now()),
          ...(labels ? { labels } : {}),
        },
        data: encoded,
        ...(immutable ? { immutable: true } : {}),
      });
    },
    getSecret: (namespace, name) => secrets.get(key(namespace, name)),
    secretValue: decoded,
    addKongPlugin(spec) {
      plugins.set(key(spec.namespace, spec.name), {
        ...structuredClone(spec),
        metadata: {
          name: spec.name,
          namespace: spec.namespace,
          uid: randomUUID(),
          resourceVersion: nextRv(),
          generation: 1,
        },
      });
    },
    addKongVault(spec) {
      const taken = [...kongVaults.values()].find((v) => v.prefix === spec.prefix && v.name !== spec.name);
      if (taken)
        throw new Error(
          `kubernetes fake: spec.prefix "${spec.prefix}" is duplicate with existing KongVault ${taken.name}`,
        );
      kongVaults.set(spec.name, {
        ...structuredClone(spec),
        metadata: {
          name: spec.name,
          uid: randomUUID(),
          resourceVersion: nextRv(),
          generation: 1,
          creationTimestamp: rfc3339(now()),
        },
      });
    },
    vaultFetches: () => podStates.reduce((n, s) => n + s.vaults.fetches, 0),
    events: () => events,
    syncNow: sync,
    setWebhook: (on) => void (webhook = on),
    setRules(user, rules) {
      const id = Object.values(tokens).find((i) => i.user === user);
      if (!id) throw new Error(`kubernetes fake: no identity ${user}`);
      id.rules = structuredClone(rules);
    },
    setWebhookDenial: (text) => void (webhookDenial = text),
    async close() {
      clearInterval(ticker);
      for (const s of podStates) {
        for (const t of s.timers) clearTimeout(t);
        for (const sock of s.sockets) sock.destroy();
        const server = s.server;
        if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
        await s.admin?.close();
      }
      await server.close();
    },
  };
}
