/**
 * Watches every request the fakes receive, routes it to a lane, labels the external MUTATING calls
 * (Key Vault create and tag/enabled updates, Graph addKey/removeKey/PATCH, Kong PATCH/PUT), checks the
 * invariants after the effect of every mutating call, and can kill the lane's CLI child process with
 * SIGKILL immediately before a mutating call (the effect never happens) or immediately after it (the
 * effect happened, the answer is never received). The fakes run in this process, the CLI in the child.
 */
import type { ChildProcess } from "node:child_process";
import { checkInvariants, type Violation } from "../../src/engine/invariants.js";
import type { Request, RunningServer } from "../../stack/common/server.js";
import type { LocalStack } from "../../stack/stack.js";
import type { Lane } from "./lanes.js";
import { laneWorld } from "./world.js";

export type Service = "keyvault" | "graph" | "kong" | "login";
export type Stage = "before" | "after";

export interface Mutation {
  index: number;
  service: Service;
  label: string;
}

export interface LaneState {
  lane: Lane;
  /** Every request routed to the lane (reads and writes), per service. */
  calls: Record<Service, number>;
  mutations: Mutation[];
  violations: (Violation & { at: string })[];
  /** Number of invariant checks made (one after every mutating call, plus the caller's own). */
  checks: number;
  kill?: { index: number; stage: Stage };
  killed?: { at: number; mutation: Mutation; stage: Stage };
  child?: ChildProcess;
}

const segment = (path: string, kind: string) =>
  new RegExp(`^/${kind}/([^/]+)`).exec(path)?.[1]?.toLowerCase();

export class Interceptor {
  private readonly byKey = new Map<string, LaneState>();
  private readonly states: LaneState[] = [];
  private readonly index = new WeakMap<Request, number>();

  constructor(private readonly stack: LocalStack) {
    const servers: [Service, RunningServer][] = [
      ["keyvault", stack.keyVault],
      ["graph", stack.entra.graph],
      ["kong", stack.kong],
      ["login", stack.entra.login],
    ];
    for (const [service, server] of servers)
      server.hook.set((stage, req) => this.onRequest(service, stage, req));
  }

  track(lane: Lane): LaneState {
    const st: LaneState = {
      lane,
      calls: { keyvault: 0, graph: 0, kong: 0, login: 0 },
      mutations: [],
      violations: [],
      checks: 0,
    };
    for (const k of [
      lane.certName.toLowerCase(),
      lane.appId,
      lane.objectId,
      lane.pluginId,
      `rotator:${lane.name}`,
    ])
      this.byKey.set(k, st);
    this.states.push(st);
    return st;
  }

  /** Check the lane's invariants now; `settled` between runs (exactly one active generation). */
  check(st: LaneState, at: string, settled = false): void {
    st.checks++;
    for (const v of checkInvariants(laneWorld(this.stack, st.lane), { settled }))
      st.violations.push({ ...v, at });
  }

  close(): void {
    for (const s of [this.stack.keyVault, this.stack.entra.graph, this.stack.kong, this.stack.entra.login])
      s.hook.set(undefined);
  }

  private route(service: Service, req: Request): LaneState | undefined {
    switch (service) {
      case "keyvault": {
        const name =
          segment(req.path, "certificates") ?? segment(req.path, "secrets") ?? segment(req.path, "keys");
        return name ? this.byKey.get(name) : undefined;
      }
      case "graph":
      case "kong": {
        const text = decodeURIComponent(req.url.pathname + req.url.search);
        for (const found of text.matchAll(
          /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|rotator:[a-z]+-\d{3}/g,
        )) {
          const st = this.byKey.get(found[0]);
          if (st) return st;
        }
        return undefined;
      }
      case "login": {
        const form = new URLSearchParams(req.body.toString("utf8"));
        const assertion = form.get("client_assertion");
        let client = form.get("client_id") ?? undefined;
        if (assertion) {
          try {
            const payload = JSON.parse(
              Buffer.from(assertion.split(".")[1] ?? "", "base64url").toString("utf8"),
            ) as { iss?: unknown };
            if (typeof payload.iss === "string") client = payload.iss;
          } catch {
            return undefined;
          }
        }
        return client ? this.byKey.get(client) : undefined;
      }
    }
  }

  private async onRequest(service: Service, stage: Stage, req: Request): Promise<"drop" | undefined> {
    const st = this.route(service, req);
    if (!st) return undefined;
    if (stage === "before") st.calls[service]++;
    const label = mutationLabel(service, req);
    if (!label) return undefined;
    if (stage === "before") {
      const mutation = { index: st.mutations.length + 1, service, label };
      st.mutations.push(mutation);
      this.index.set(req, mutation.index);
      if (st.kill?.index === mutation.index && st.kill.stage === "before")
        return this.killChild(st, mutation, "before");
      return undefined;
    }
    const index = this.index.get(req) ?? 0;
    const mutation = st.mutations[index - 1]!;
    this.check(st, `after mutating call #${index} (${label})`);
    if (st.kill?.index === index && st.kill.stage === "after") return this.killChild(st, mutation, "after");
    return undefined;
  }

  private async killChild(st: LaneState, mutation: Mutation, stage: Stage): Promise<"drop" | undefined> {
    const child = st.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return undefined;
    const gone = new Promise<void>((res) => child.once("exit", () => res()));
    child.kill("SIGKILL");
    await gone;
    st.killed = { at: performance.now(), mutation, stage };
    st.kill = undefined;
    return "drop";
  }
}

/** The mutating calls of a lifecycle; reads, token requests and signing are not mutations. */
export function mutationLabel(service: Service, req: Request): string | undefined {
  const m = req.method.toUpperCase();
  switch (service) {
    case "keyvault": {
      if (!req.headers.authorization) return undefined;
      if (m === "POST" && /^\/certificates\/[^/]+\/create$/.test(req.path)) return "Key Vault create version";
      if (m === "PATCH" && /^\/certificates\/[^/]+\/[^/]+$/.test(req.path)) {
        let body: { tags?: Record<string, string>; attributes?: { enabled?: boolean } } = {};
        try {
          body = JSON.parse(req.body.toString("utf8")) as typeof body;
        } catch {
          return "Key Vault update version";
        }
        const phase = body.tags?.["rotator-phase"] ?? "?";
        return body.attributes?.enabled === false
          ? `Key Vault disable + tag ${phase}`
          : `Key Vault tag ${phase}`;
      }
      return undefined;
    }
    case "graph":
      if (m === "POST" && req.path.endsWith("/addKey")) return "Graph addKey";
      if (m === "POST" && req.path.endsWith("/removeKey")) return "Graph removeKey";
      if (m === "PATCH" && req.path.includes("/applications")) return "Graph PATCH keyCredentials";
      return undefined;
    case "kong":
      return (m === "PATCH" || m === "PUT") && req.path.includes("/plugins/")
        ? `Kong ${m} plugin`
        : undefined;
    case "login":
      return undefined;
  }
}
