/** The DB-less kind: nodes written one by one with POST /config (./target.ts), each confirmed by its hash. */
import type { KongKindEntry } from "../common/kind.js";
import { createDblessTarget } from "./target.js";

const TOKEN = "Kong RBAC token of the DB-less nodes";

export const dblessKind: KongKindEntry = {
  kind: "dbless",
  construction: {
    configKey: "dbless",
    of: (t) =>
      "dbless" in t
        ? {
            secrets: t.adminToken ? [{ ref: t.adminToken, what: TOKEN }] : [],
            maxLagMs: t.dbless.maxLagMs,
            async create(o) {
              const adminToken = await o.secret(t.name, t.adminToken, TOKEN);
              return createDblessTarget({
                target: t,
                clientId: o.clientId,
                idp: o.idp,
                clock: o.clock,
                ...(adminToken ? { adminToken } : {}),
              });
            },
          }
        : undefined,
  },
  capabilities: {
    confirmation: "node-config-hash",
    vaultEntities: "per-gateway",
    // Each node holds its own declarative config: their hashes may differ and still be current.
    oneConfigAcrossGateways: false,
    accessReview: false,
    authMigration: "one-write",
  },
  wording: {
    gateway: "node",
    permissions: "on every node: read GET /config and /status, and POST /config (RBAC token where enabled)",
    permissionsDoc: "README 'Supported Kong deployments'",
    readOnlyNode: undefined,
    vaultReference: undefined,
  },
};
