/** One KongTarget per configured kind, built on first use. */
import { describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import { createTargetOfKind, lazyKongTarget, maxLagOf } from "../../src/adapters/kong/registry.js";
import type { KongTargetSpec } from "../../src/config/load.js";

const secret = async () => "token";

describe("Kong target kinds", () => {
  it("maxLag per kind: 0 for a target whose data planes are never confirmed", () => {
    expect(
      maxLagOf({ name: "a", adminUrl: "https://a", dataPlanes: { confirm: "never", maxLagMs: 9 } }),
    ).toBe(0);
    expect(maxLagOf({ name: "a", adminUrl: "https://a" })).toBe(120_000);
    expect(maxLagOf({ name: "d", dbless: { nodes: ["https://n"], maxLagMs: 5 } })).toBe(5);
  });

  it("a kubernetes target without a kubeconfig outside a cluster fails with a typed error on first use", async () => {
    const t: KongTargetSpec = {
      name: "aks",
      kubernetes: {
        namespace: "kong",
        secretName: "s",
        secretKey: "k",
        maxLagMs: 1000,
        statusAccess: "apiserver",
        proxies: { selector: "app.kubernetes.io/component=app", port: "status", scheme: "http" },
      },
    };
    const target = lazyKongTarget(t, () =>
      createTargetOfKind({ target: t, clientId: "c", idp: "entra", clock: systemClock, secret }),
    );
    expect(target.maxLagMs).toBe(1000);
    await expect(target.inspect()).rejects.toMatchObject({ code: "KONG_K8S_UNREACHABLE" });
  });

  it("builds the Konnect and DB-less adapters", async () => {
    const konnect = await createTargetOfKind({
      target: {
        name: "k",
        konnect: { region: "eu", controlPlaneId: "x", token: { env: "T" }, maxLagMs: 7 },
        pluginTags: ["t"],
      },
      clientId: "c",
      idp: "entra",
      clock: systemClock,
      secret,
    });
    expect([konnect.name, konnect.maxLagMs]).toEqual(["k", 7]);
    const dbless = await createTargetOfKind({
      target: { name: "d", dbless: { nodes: ["https://127.0.0.1:1"], maxLagMs: 3 }, pluginId: "p" },
      clientId: "c",
      idp: "entra",
      clock: systemClock,
      secret,
    });
    expect([dbless.name, dbless.maxLagMs]).toEqual(["d", 3]);
  });
});
