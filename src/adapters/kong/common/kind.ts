/**
 * What one Kong kind declares to the registry (../registry.ts): how a configured target of that kind is
 * built, which secrets it reads, how its writes are confirmed, and the words doctor uses for it. Every kind
 * fills every member: a capability one kind lacks is declared as such, never left out.
 */
import type { KongTargetSpec, SecretRef } from "../../../config/load.js";
import type { IdpKind } from "../../../idp-rules.js";
import type { KongDiagnosis } from "../../../ports/diagnosis.js";
import type { Clock, KongTarget } from "../../../ports/engine.js";
import type { PluginLock } from "../../lease/plugin-lock.js";
import type { KongReadCache } from "../admin/target.js";

/** A Kong kind, as KongDiagnosis.kind reports it. */
export type KongKind = KongDiagnosis["kind"];

/** The key of a target's configuration block that selects how it is built (README "Supported Kong deployments"). */
export type KongConfigKey = "adminUrl" | "dbless" | "konnect" | "kubernetes";

/** What construction needs from the composition root (src/app/runtime.ts), the same for every kind. */
export interface KindOptions {
  clientId: string;
  /** The credential's IdP: its rules decide which client_alg can work (idp-rules.ts `clientAlgProblem`). */
  idp: IdpKind;
  clock: Clock;
  /** Read a secret reference of the target (`what` names it in the error when it is missing). */
  secret(target: string, ref: SecretRef | undefined, what: string): Promise<string | undefined>;
  /** One writer per plugin (adapters/lease/plugin-lock.ts); kinds whose writes are whole-object ignore it. */
  pluginLock?: PluginLock;
  /** One sync tick's read cache (adapters/kong/admin/target.ts); kinds without one ignore it. */
  reads?: KongReadCache;
  /** An access token of the service identity for `scope` (e.g. a cluster's Microsoft Entra server app). */
  accessToken?: (scope: string) => Promise<string>;
}

/** A secret a target reads, and what it is, for the error that names a missing one. */
export interface KongSecret {
  ref: SecretRef;
  what: string;
}

/** One configured target of a kind, before its adapter is built. */
export interface ConfiguredTarget {
  /** The secrets the target reads (tokens, kubeconfig): registered with the redactor when they are env vars. */
  secrets: KongSecret[];
  /** The target's lag budget, known from configuration before the adapter is built. */
  maxLagMs: number;
  create(o: KindOptions): Promise<KongTarget>;
}

/** How a kind builds a target from its configuration block. Kinds that share one builder share this object. */
export interface KongConstruction {
  configKey: KongConfigKey;
  /** `t` as a target of this construction, when it is configured with `configKey`; undefined otherwise. */
  of(t: KongTargetSpec): ConfiguredTarget | undefined;
}

/** A doctor line a kind adds in a situation (code, message and hint as doctor prints them). */
export interface KongKindNote {
  code: string;
  message: string;
  hint: string;
}

export interface KongKindEntry {
  kind: KongKind;
  construction: KongConstruction;
  capabilities: {
    /**
     * How a write is confirmed on the gateways: `read-back` (a traditional node serves what its database
     * holds), `data-plane-hashes` (GET /clustering/data-planes of a control plane), `node-config-hash`
     * (each DB-less node's GET /status), `konnect-nodes` (Konnect's node list), `pod-status` (each proxy
     * pod's Status API).
     */
    confirmation: "read-back" | "data-plane-hashes" | "node-config-hash" | "konnect-nodes" | "pod-status";
    /** Where Kong's vault entity lives: one for the target, or one per gateway (each DB-less node). */
    vaultEntities: "one" | "per-gateway";
    /** Do the gateways run one configuration, so that differing hashes mean some lag? */
    oneConfigAcrossGateways: boolean;
    /** Can the target ask the platform what its identity may do (doctor's access review)? */
    accessReview: boolean;
    /** Can a migration from a client secret switch our client in one write (docs/migration.md)? */
    authMigration: KongTarget["authMigration"];
  };
  /** The words doctor and the status use for this kind. */
  wording: {
    /** What one gateway behind the target is called: "data plane", "node", "proxy pod". */
    gateway: string;
    /** The write permission the rotator needs. */
    permissions: string;
    /** Where the permissions are documented. */
    permissionsDoc: string;
    /** A node that reports `database: off` cannot be written this way: the line doctor adds, if any. */
    readOnlyNode: KongKindNote | undefined;
    /** Vault-reference mode: what this kind's hosting cannot do, if anything. */
    vaultReference: KongKindNote | undefined;
  };
}
