/**
 * A complete in-memory world for one credential: Key Vault, an Entra app (through the real Entra IdP
 * adapter), its token endpoint and Kong
 * targets, sharing one fake clock and one call log. `view()` is the world as the invariant checker sees
 * it; `watchInvariants()` checks it after every mutating call, i.e. at every instant a crash could stop.
 */
import type { CredentialConfig, Policy } from "../../../src/config/load.js";
import { defaultPolicy, policySchema } from "../../../src/config/schema.js";
import { checkInvariants, type Violation, type WorldView } from "../../../src/engine/invariants.js";
import type { EnginePorts } from "../../../src/ports/engine.js";
import { TAG_ACTIVATED_AT, TAG_PHASE } from "../../../src/engine/tags.js";
import { jsonLogger } from "../../../src/log/logger.js";
import { FakeClock } from "../fake-clock.js";
import { Calls } from "./calls.js";
import { EntraIdentityProvider } from "../../../src/adapters/idp/entra/idp.js";
import { MemoryEntraDirectory } from "./directory.js";
import { MemoryKongTarget } from "./kong.js";
import { MemoryCertificateStore } from "./store.js";
import { MemoryTokenEndpoint } from "./tokens.js";

export interface WorldOptions {
  start?: string;
  targets?: { name: string; plugins?: number }[];
  /** Delay before every replica of the token endpoint accepts a new key (default 20 s). */
  propagationMs?: number;
  earlyAcceptEvery?: number;
  policy?: Partial<Policy>;
}

export const TENANT_ID = "11111111-2222-4333-8444-555555555555";
export const CLIENT_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
export const OBJECT_ID = "99999999-8888-4777-8666-555555555555";

/** Fast test policy: poll every 5 s, 3 in a row, give up after 2 min; 30-day renewal window, 1-day overlap. */
export const testPolicy: Policy = {
  ...policySchema.parse({ ...defaultPolicy, algorithm: "PS256" }),
  verifyInterval: 5_000,
  verifyConsecutive: 3,
  verifyTimeout: 120_000,
};

export type World = ReturnType<typeof createWorld>;

export function createWorld(options: WorldOptions = {}) {
  const clock = new FakeClock(options.start);
  const calls = new Calls();
  const store = new MemoryCertificateStore(calls, clock);
  const directory = new MemoryEntraDirectory(calls, clock, {
    objectId: OBJECT_ID,
    appId: CLIENT_ID,
    displayName: "kong-login",
  });
  const tokens = new MemoryTokenEndpoint(calls, clock, directory, {
    tenantId: TENANT_ID,
    propagationMs: options.propagationMs ?? 20_000,
    ...(options.earlyAcceptEvery ? { earlyAcceptEvery: options.earlyAcceptEvery } : {}),
  });
  const targetSpecs = options.targets ?? [{ name: "edge" }, { name: "internal", plugins: 2 }];
  const kong = targetSpecs.map((t) => new MemoryKongTarget(calls, t.name, t.plugins ?? 1));
  const logLines: string[] = [];
  const cred: CredentialConfig = {
    name: "kong-login",
    certificateName: "kong-login",
    keyVaultUrl: "https://kv.example.vault.azure.net",
    idp: { kind: "entra", tenantId: TENANT_ID, clientId: CLIENT_ID },
    kong: targetSpecs.map((t) => ({
      name: t.name,
      adminUrl: `https://${t.name}.kong.example:8444`,
      pluginTags: ["login"],
    })),
    policy: { ...testPolicy, ...options.policy },
  };
  const ports: EnginePorts = {
    store,
    idp: new EntraIdentityProvider({ tenantId: TENANT_ID, clientId: CLIENT_ID, directory, tokens }),
    kong,
    clock,
    logger: jsonLogger((line) => logLines.push(line), "debug"),
  };
  const violations: (Violation & { op: string })[] = [];

  const view = (): WorldView => ({
    generations: store.versions(cred.certificateName).map((v) => ({
      version: v.version,
      ...(v.cert ? { x5t: v.cert.x5t } : {}),
      ...(v.tags[TAG_PHASE] ? { phase: v.tags[TAG_PHASE] } : {}),
      enabled: v.enabled,
      ...(v.tags[TAG_ACTIVATED_AT] ? { activatedAt: v.tags[TAG_ACTIVATED_AT] } : {}),
    })),
    appKeys: directory.keys.map((k) => ({ keyId: k.keyId, x5t: k.x5t })),
    accepted: directory.keys.filter((k) => tokens.accepts(k.x5t)).map((k) => k.x5t),
    kong: kong.map((t) => ({ target: t.name, kids: t.kids() })),
  });

  return {
    clock,
    calls,
    store,
    directory,
    tokens,
    kong,
    cred,
    ports,
    logLines,
    violations,
    view,
    /** Record invariant violations after every mutating call from now on. */
    watchInvariants(): void {
      calls.afterMutation = (op) => violations.push(...checkInvariants(view()).map((v) => ({ ...v, op })));
    },
    /** Phases of the generations, oldest first. */
    phases(): (string | undefined)[] {
      return store.versions(cred.certificateName).map((v) => v.tags[TAG_PHASE]);
    },
  };
}
