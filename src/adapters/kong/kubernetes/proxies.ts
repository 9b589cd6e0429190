/**
 * The Kong proxy pods behind a KIC target: which are live (the pod list and its label selector), and what
 * each one runs: its Status API `GET /status` -> `configuration_hash` (kong/api/routes/health.lua), read
 * through the API server's pod proxy subresource (`statusAccess: apiserver`, the default: the rotator runs
 * outside the cluster network, where pod IPs are not routable) or by pod IP (`statusAccess: direct`), and,
 * as an opt-in (`proxyAdmin`), each pod's Admin API, to see our kid in the plugins KIC made.
 */
import { ApiException, type V1Pod } from "@kubernetes/client-node";
import { readFileSync } from "node:fs";
import { Agent, fetch } from "undici";
import { RotatorError } from "../../../errors.js";
import { scrubEchoedText } from "../../../log/redact.js";
import { clientSlot, effectiveJwk, parsePlugin } from "../common/plugin.js";
import { isRecord, statusMessage, str, type KicTargetConfig, type KubernetesApi } from "./api.js";

/** Codes that say our identity may not read the Status API through the API server: not a pod that lags. */
const DENIED: ReadonlySet<string> = new Set(["KONG_K8S_FORBIDDEN", "KONG_K8S_UNAUTHORIZED"]);

export interface LivePod {
  name: string;
  /** The Status API by pod IP (`statusAccess: direct`). */
  url: string;
  /** The status container port's number (the pod proxy subresource takes a number, not a port name). */
  port: number;
  adminUrl?: string;
  image?: string;
}

/** One live pod's Status API answer; `denied` when the API server refuses our identity the pod proxy. */
export interface PodStatus {
  name: string;
  hash?: string;
  error?: string;
  denied?: RotatorError;
}

export class ProxyPods {
  private readonly name: string;
  private readonly statusAccess: "apiserver" | "direct";
  private readonly adminDispatcher: Agent | undefined;

  constructor(
    private readonly api: KubernetesApi,
    private readonly t: KicTargetConfig,
    private readonly clientId: string,
    private readonly statusTimeoutMs: number,
  ) {
    this.name = t.name;
    this.statusAccess = t.statusAccess ?? "apiserver";
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
  }

  /** Namespace of the proxy pods. */
  get namespace(): string {
    return this.t.proxyNamespace ?? this.t.namespace;
  }

  async live(): Promise<LivePod[]> {
    const namespace = this.t.proxyNamespace ?? this.t.namespace;
    const labelSelector = this.t.proxySelector ?? "app.kubernetes.io/component=app";
    const list = await this.api.call({ verb: "list", resource: "pods", namespace }, (o) =>
      this.api.core.listNamespacedPod({ namespace, labelSelector }, o),
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
  async podLacksKid(pod: LivePod, uids: string[], kid: string): Promise<string | undefined> {
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
        const held = effectiveJwk(p, clientSlot(p, this.clientId, this.name).index);
        if (held?.kid !== kid) return `plugin ${p.id} still holds kid ${str(held?.kid) ?? "(none)"}`;
      }
    }
    return undefined;
  }

  /**
   * `GET /status` → configuration_hash, or an error string; `denied` when the API server refuses our identity
   * the pod proxy (RBAC, credentials): a configuration problem to report at once, not a pod that lags.
   */
  async hashOf(pod: LivePod): Promise<{ hash?: string; error?: string; denied?: RotatorError }> {
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
      const text: unknown = await this.api.call(
        { verb: "get", resource: "pods/proxy", namespace },
        (o) =>
          this.api.core
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
            ...this.api.policy,
            maxAttempts: 1,
            attemptTimeoutMs: Math.min(this.api.policy.attemptTimeoutMs, this.statusTimeoutMs),
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

  /** Each live proxy pod's Status API answer (for doctor: a refusal is reported, not thrown). */
  async statuses(): Promise<PodStatus[]> {
    const pods = await this.live();
    return Promise.all(pods.map(async (p) => ({ name: p.name, ...(await this.hashOf(p)) })));
  }
}
