/** The Konnect kind: a control plane of the Control Planes Config API v2 (./target.ts). */
import type { KongKindEntry } from "../common/kind.js";
import { createKonnectTarget } from "./target.js";

const TOKEN = "Konnect system-account token";

export const konnectKind: KongKindEntry = {
  kind: "konnect",
  construction: {
    configKey: "konnect",
    of: (t) =>
      "konnect" in t
        ? {
            secrets: [{ ref: t.konnect.token, what: TOKEN }],
            maxLagMs: t.konnect.maxLagMs,
            async create(o) {
              const token = await o.secret(t.name, t.konnect.token, TOKEN);
              return createKonnectTarget({
                target: t,
                clientId: o.clientId,
                idp: o.idp,
                clock: o.clock,
                token: token ?? "",
              });
            },
          }
        : undefined,
  },
  capabilities: {
    confirmation: "konnect-nodes",
    vaultEntities: "one",
    oneConfigAcrossGateways: true,
    accessReview: false,
    authMigration: "one-write",
  },
  wording: {
    gateway: "node",
    permissions:
      "a system-account token whose role can edit plugins and read nodes on this control plane (Control Plane Admin)",
    permissionsDoc: "README 'Supported Kong deployments'",
    readOnlyNode: undefined,
    vaultReference: {
      code: "KONG_VAULT_DEDICATED_CLOUD",
      message:
        "a Konnect Dedicated Cloud Gateway cannot use an Azure Key Vault vault (no client secret env var, no managed identity)",
      hint: "Use vault-reference mode only with self-managed or hybrid data planes that can reach Key Vault with their own identity.",
    },
  },
};
