/**
 * The hybrid kind: a control plane's Admin API, configured like the Admin API kind (`adminUrl`, built by the
 * same adapter, ../admin/target.ts, which tells the role at runtime), confirmed on its data planes through
 * `GET /clustering/data-planes` (./data-planes.ts). Everything else it declares is the Admin API kind's.
 */
import { adminKind } from "../admin/entry.js";
import type { KongKindEntry } from "../common/kind.js";

export const hybridKind: KongKindEntry = {
  ...adminKind,
  kind: "hybrid",
  capabilities: { ...adminKind.capabilities, confirmation: "data-plane-hashes" },
  wording: {
    ...adminKind.wording,
    permissions: "RBAC on the control plane: read and update on /plugins, read on /clustering/data-planes",
  },
};
