/**
 * The Kong registry: one entry per kind (docs/architecture.md "The Kong registry"), each in its folder
 * (./<kind>/entry.ts) with its construction, secrets, capabilities and wording. src/app reaches Kong kinds
 * only through this module. Adding a kind: its folder, and one line in KONG_KINDS.
 *
 * Secrets (tokens) are resolved on first use, so a missing token fails that target's first call, not the
 * whole runtime.
 */
import type { KongTargetSpec } from "../../config/load.js";
import type { KongTarget } from "../../ports/engine.js";
import { adminKind } from "./admin/entry.js";
import type { ConfiguredTarget, KindOptions, KongKind, KongKindEntry, KongSecret } from "./common/kind.js";
import { dblessKind } from "./dbless/entry.js";
import { hybridKind } from "./hybrid/entry.js";
import { konnectKind } from "./konnect/entry.js";
import { kubernetesKind } from "./kubernetes/entry.js";

export type { KindOptions, KongKind, KongKindEntry } from "./common/kind.js";
export type { KongReadCache } from "./admin/target.js";

export const KONG_KINDS: Readonly<Record<KongKind, KongKindEntry>> = {
  admin: adminKind,
  hybrid: hybridKind,
  dbless: dblessKind,
  konnect: konnectKind,
  kubernetes: kubernetesKind,
};

/** The entry of a kind a target reported (KongDiagnosis.kind). */
export const kongKind = (kind: KongKind): KongKindEntry => KONG_KINDS[kind];

/** The configured target, by the one key its configuration block has (the config schema allows one). */
function configured(t: KongTargetSpec): ConfiguredTarget & { entry: KongKindEntry } {
  for (const entry of Object.values(KONG_KINDS)) {
    const c = entry.construction.of(t);
    if (c) return { ...c, entry };
  }
  throw new Error(`unreachable: Kong target ${t.name} matches no kind (the config schema requires one)`);
}

/** The secrets a configured target reads. */
export const kongSecretsOf = (t: KongTargetSpec): KongSecret[] => configured(t).secrets;

/** The target's lag budget, known from configuration before the adapter is built. */
export const maxLagOf = (t: KongTargetSpec): number => configured(t).maxLagMs;

export function createTargetOfKind(o: KindOptions & { target: KongTargetSpec }): Promise<KongTarget> {
  return configured(o.target).create(o);
}

/** A KongTarget whose adapter is built on first use. */
export function lazyKongTarget(t: KongTargetSpec, build: () => Promise<KongTarget>): KongTarget {
  let resolved: Promise<KongTarget> | undefined;
  const get = () => (resolved ??= build());
  return {
    name: t.name,
    maxLagMs: maxLagOf(t),
    diagnose: async () => (await get()).diagnose(),
    inspect: async () => (await get()).inspect(),
    vaults: async (prefix) => (await get()).vaults(prefix),
    baseline: async () => (await get()).baseline(),
    apply: async (jwk, options) => (await get()).apply(jwk, options),
    authMigration: configured(t).entry.capabilities.authMigration,
    clientAuth: async () => (await get()).clientAuth(),
    dropSecret: async () => (await get()).dropSecret(),
    confirm: async (expect, since) => (await get()).confirm(expect, since),
    clearTokenCache: async () => (await get()).clearTokenCache(),
  };
}
