/** Vault-reference mode in the engine, against the in-memory world (README "Vault-reference mode"). */
import { describe, expect, it } from "vitest";
import { reconcile } from "../../src/engine/reconcile.js";
import { createWorld } from "../support/memory/world.js";
import { activeVersion, settle, toRenewal, toRetirement } from "../support/scenarios.js";

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
