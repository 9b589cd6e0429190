/**
 * The hybrid kind: a control plane's Admin API, configured like the Admin API kind (`adminUrl`, built by the
 * same adapter, ../admin/target.ts, which tells the role at runtime), confirmed on its data planes through
 * `GET /clustering/data-planes` (./data-planes.ts).
 */
import { ADMIN_CONSTRUCTION, READ_ONLY_NODE } from "../admin/entry.js";
import type { KongKindEntry } from "../common/kind.js";

export const hybridKind: KongKindEntry = {
  kind: "hybrid",
  construction: ADMIN_CONSTRUCTION,
  capabilities: {
    confirmation: "data-plane-hashes",
    vaultEntities: "one",
    oneConfigAcrossGateways: true,
    accessReview: false,
    authMigration: "one-write",
  },
  wording: {
    gateway: "data plane",
    permissions: "RBAC on the control plane: read and update on /plugins, read on /clustering/data-planes",
    permissionsDoc: "README 'Supported Kong deployments'",
    readOnlyNode: READ_ONLY_NODE,
    vaultReference: undefined,
  },
};
