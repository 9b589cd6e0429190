/** Vault-reference mode in the engine, against the in-memory world (README "Vault-reference mode"). */
import { describe, expect, it } from "vitest";
import { reconcile } from "../../src/engine/reconcile.js";
import { submitRequest } from "../../src/engine/manual.js";
import type { KongVaultDiagnosis } from "../../src/ports/diagnosis.js";
import { MEMORY_VAULT_URL } from "../support/memory/store.js";
import { createWorld } from "../support/memory/world.js";
import { activeVersion, settle, toRenewal, toRetirement, versionsByPhase } from "../support/scenarios.js";

const MEMBERS = ["d", "p", "q", "dp", "dq", "qi"];

function vaultWorld() {
  const w = createWorld({ targets: [{ name: "edge" }] });
  w.cred.kong[0]!.vaultReference = { prefix: "azure-kv", secretPrefix: "kong-jwk-" };
  return w;
}
const secretOf = (x5t: string) => `kong-jwk-kong-login-${x5t.replace(/[^0-9a-zA-Z-]/g, "-")}`;

describe("vault-reference mode (engine)", () => {
  it("writes the secret, reads it back, then writes the plugin once with references only", async () => {
    const w = vaultWorld();
    w.watchInvariants();
    await settle(w);
    const x5t = activeVersion(w).cert!.x5t;
    const ops = w.calls.log.map((e) => e.op).filter((op) => /secrets|apply/.test(op));
    expect(ops).toEqual(["store.secrets.get", "store.secrets.set", "store.secrets.get", "kong[edge].apply"]);
    const jwk = w.kong[0]!.plugins[0]!.jwk!;
    expect(jwk.kid).toBe(x5t);
    for (const m of MEMBERS) expect(jwk[m]).toBe(`{vault://azure-kv/${secretOf(x5t)}/${m}}`);
    const stored = w.store.plain.get(secretOf(x5t))!;
    expect(stored.contentType).toBe("application/json");
    const members = JSON.parse(stored.value) as Record<string, string>;
    expect(Object.keys(members).sort()).toEqual([...MEMBERS].sort());
    for (const m of MEMBERS) expect(Object.values(jwk)).not.toContain(members[m]);
    expect(w.violations).toEqual([]);
  });

  it("does not write the plugin when the secret cannot be written or read back", async () => {
    const w = vaultWorld();
    w.calls.failNext("store.secrets.get", 1);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("failed");
    expect(w.calls.count("kong[edge].apply")).toBe(0);
    expect(w.kong[0]!.kids()).toEqual([]);
  });

  it("re-uses a secret that already holds the members (a resumed run writes no new version)", async () => {
    const w = vaultWorld();
    w.calls.failNext("kong[edge].apply", 1);
    expect((await reconcile(w.cred, w.ports)).outcome).toBe("failed");
    expect(w.calls.count("store.secrets.set")).toBe(1);
    await settle(w);
    expect(w.calls.count("store.secrets.set")).toBe(1);
    expect(w.kong[0]!.kids()).toHaveLength(1);
  });

  it("disables a generation's secret when it retires, and keeps the active one", async () => {
    const w = vaultWorld();
    await settle(w);
    const first = activeVersion(w).cert!.x5t;
    toRenewal(w);
    await settle(w);
    const second = activeVersion(w).cert!.x5t;
    expect(w.store.plain.get(secretOf(first))!.enabled).toBe(true);
    toRetirement(w);
    await settle(w);
    expect(w.store.plain.get(secretOf(first))!.enabled).toBe(false);
    expect(w.store.plain.get(secretOf(second))!.enabled).toBe(true);
  });

  it("with keyVaultUrl, writes, reads back and retires the secrets in that vault only", async () => {
    const w = vaultWorld();
    const url = "https://kong-refs.vault.azure.net";
    w.cred.kong[0]!.vaultReference!.keyVaultUrl = url;
    w.kong[0]!.vaultEntities.set("azure-kv", [
      { prefix: "azure-kv", state: "found", backend: "azure", vaultUri: url },
    ]);
    await settle(w);
    const first = activeVersion(w).cert!.x5t;
    const ops = w.calls.log.map((e) => e.op).filter((op) => /secrets|apply/.test(op));
    expect(ops).toEqual([
      `store.secretsAt[${url}].get`,
      `store.secretsAt[${url}].set`,
      `store.secretsAt[${url}].get`,
      "kong[edge].apply",
    ]);
    expect(w.store.plain.size).toBe(0);
    toRenewal(w);
    await settle(w);
    toRetirement(w);
    await settle(w);
    expect(w.store.plainAt.get(url)!.get(secretOf(first))!.enabled).toBe(false);
    expect(w.store.plainAt.get(url)!.get(secretOf(activeVersion(w).cert!.x5t))!.enabled).toBe(true);
  });
});

describe("vault-reference mode: Kong's vault entity is checked before every write of references", () => {
  const FOUND = { prefix: "azure-kv", state: "found" as const, backend: "azure", vaultUri: MEMORY_VAULT_URL };
  async function active() {
    const w = vaultWorld();
    await settle(w);
    w.calls.reset();
    return w;
  }
  const writes = (w: ReturnType<typeof vaultWorld>) =>
    w.calls.count("kong[edge].apply") + w.calls.count("store.secrets.set");

  it("activation: no vault entity with the prefix refuses before any write; the old key stays; fixed, the next run completes", async () => {
    const w = await active();
    w.watchInvariants();
    const before = activeVersion(w);
    w.kong[0]!.vaultEntities.set("azure-kv", [{ prefix: "azure-kv", state: "missing" }]);
    toRenewal(w);
    const r = await reconcile(w.cred, w.ports);
    expect(r.outcome).toBe("failed");
    expect(r.error?.code).toBe("KONG_VAULT_ENTITY_MISSING");
    expect(r.error?.message).toContain("Nothing was written to Kong");
    expect(r.steps.map((s) => `${s.action}:${s.status}`).at(-1)).toBe("activate:failed");
    expect(writes(w)).toBe(0);
    expect(activeVersion(w).version).toBe(before.version);
    expect(w.kong[0]!.kids()).toEqual([before.cert!.x5t]);
    w.kong[0]!.vaultEntities.clear();
    await settle(w);
    expect(activeVersion(w).version).not.toBe(before.version);
    expect(w.violations).toEqual([]);
  });

  it.each([
    ["another vault", [{ ...FOUND, vaultUri: "https://other.vault.azure.net" }], "KONG_VAULT_URI_MISMATCH"],
    ["another backend", [{ ...FOUND, backend: "hcv" }], "KONG_VAULT_BACKEND"],
    [
      "no vault_uri",
      [{ prefix: "azure-kv", state: "found" as const, backend: "azure" }],
      "KONG_VAULT_URI_UNSET",
    ],
    [
      "a KongVault not Programmed yet",
      [{ ...FOUND, notApplied: { state: "pending" as const, detail: "Pending" } }],
      "KONG_VAULT_NOT_APPLIED",
    ],
    [
      "an unreadable entity",
      [{ prefix: "azure-kv", state: "error" as const, error: "KONG_FORBIDDEN" }],
      "KONG_VAULT_UNREADABLE",
    ],
    [
      "one DB-less node of two without it",
      [
        { ...FOUND, where: "edge-1" },
        { prefix: "azure-kv", state: "missing" as const, where: "edge-2" },
      ],
      "KONG_VAULT_ENTITY_MISSING",
    ],
  ] as const)("%s: refused (%s), nothing written", async (_what, entities, code) => {
    const w = await active();
    w.kong[0]!.vaultEntities.set("azure-kv", structuredClone(entities) as unknown as KongVaultDiagnosis[]);
    toRenewal(w);
    const r = await reconcile(w.cred, w.ports);
    expect(r.error?.code).toBe(code);
    expect(writes(w)).toBe(0);
  });

  it("the prefix azure without an entity (the node's environment) cannot be read and is allowed", async () => {
    const w = vaultWorld();
    w.cred.kong[0]!.vaultReference!.prefix = "azure";
    w.kong[0]!.vaultEntities.set("azure", [{ prefix: "azure", state: "env" }]);
    await settle(w);
    expect(w.kong[0]!.kids()).toEqual([activeVersion(w).cert!.x5t]);
  });

  it("a sync re-apply and a rollback are checked the same way", async () => {
    const w = await active();
    toRenewal(w);
    await settle(w);
    const current = activeVersion(w);
    const previous = versionsByPhase(w, "retiring")[0]!;
    w.kong[0]!.vaultEntities.set("azure-kv", [{ prefix: "azure-kv", state: "missing" }]);
    // Drift: someone put the previous key back; the sync re-apply would write references.
    w.kong[0]!.hold(w.store.privateJwk(w.cred.certificateName, previous.version));
    w.calls.reset();
    const sync = await reconcile(w.cred, w.ports);
    expect(sync.steps.map((s) => `${s.action}:${s.status}`)).toEqual(["sync:failed"]);
    expect(sync.error?.code).toBe("KONG_VAULT_ENTITY_MISSING");
    expect(w.calls.count("kong[edge].apply")).toBe(0);
    w.kong[0]!.hold(w.store.privateJwk(w.cred.certificateName, current.version));
    await submitRequest(w.cred, w.ports, { kind: "rollback" });
    const rollback = await reconcile(w.cred, w.ports);
    expect(rollback.error?.code).toBe("KONG_VAULT_ENTITY_MISSING");
    expect(w.calls.count("kong[edge].apply")).toBe(0);
    expect(activeVersion(w).version).toBe(current.version);
  });
});
