/**
 * The Admin API kind: a traditional node (or a shared database's nodes) written through its Admin API, the
 * write confirmed by its read-back. A control plane configured the same way (`adminUrl`) is the hybrid kind
 * (../hybrid/entry.ts): which one a target is, GET / `configuration.role` tells at runtime.
 */
import type { KongConstruction, KongKindEntry, KongKindNote } from "../common/kind.js";
import { createKongTarget, DBLESS_HINT, DEFAULT_MAX_LAG_MS } from "./target.js";

const ADMIN_CONSTRUCTION: KongConstruction = {
  configKey: "adminUrl",
  of: (t) =>
    "adminUrl" in t
      ? {
          secrets: t.adminToken ? [{ ref: t.adminToken, what: "Kong RBAC token" }] : [],
          maxLagMs: t.dataPlanes?.confirm === "never" ? 0 : (t.dataPlanes?.maxLagMs ?? DEFAULT_MAX_LAG_MS),
          async create(o) {
            const adminToken = await o.secret(t.name, t.adminToken, "Kong RBAC token");
            return createKongTarget({
              target: t,
              clientId: o.clientId,
              idp: o.idp,
              clock: o.clock,
              ...(adminToken ? { adminToken } : {}),
              ...(o.pluginLock ? { pluginLock: o.pluginLock } : {}),
              ...(o.reads ? { reads: o.reads } : {}),
            });
          },
        }
      : undefined,
};

/** DB-less Kong answers Admin API writes with 405 (https://developer.konghq.com/gateway/db-less-mode/). */
const READ_ONLY_NODE: KongKindNote = {
  code: "KONG_DBLESS",
  message: "Kong runs DB-less (configuration.database is off): the Admin API cannot be written",
  hint: DBLESS_HINT,
};

export const adminKind: KongKindEntry = {
  kind: "admin",
  construction: ADMIN_CONSTRUCTION,
  capabilities: {
    confirmation: "read-back",
    vaultEntities: "one",
    oneConfigAcrossGateways: true,
    accessReview: false,
    authMigration: "one-write",
  },
  wording: {
    gateway: "data plane",
    permissions: "RBAC: read and update on /plugins (in the target's workspace)",
    permissionsDoc: "README 'Supported Kong deployments'",
    readOnlyNode: READ_ONLY_NODE,
    vaultReference: undefined,
  },
};
