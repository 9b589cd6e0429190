/**
 * The engine's shared types: what it knows about one credential at one instant (the snapshot). Its
 * ports are in src/ports/engine.ts.
 */
import type { IdpKey, IdpRules, KongPluginView } from "../ports/engine.js";
import type { Policy } from "../config/load.js";
import type { RotatorError } from "../errors.js";
import type { Generation } from "./tags.js";

/** The serialisable, secret-free view of a RotatorError. */
export type SafeError = ReturnType<RotatorError["toJSON"]>;

export type TargetObservation =
  | { name: string; plugins: KongPluginView[]; error?: undefined }
  | { name: string; plugins?: undefined; error: SafeError };

export interface Snapshot {
  credential: string;
  certificateName: string;
  policy: Policy;
  observedAt: Date;
  /** Tracked generations (versions with a rotator-phase tag), newest first. */
  generations: Generation[];
  /** The identity provider: the client (for messages), its rules, and every key it lists for the client. */
  idp: { client: string; rules: IdpRules; keys: IdpKey[] };
  /** One entry per configured Kong target, in configuration order. */
  targets: TargetObservation[];
  /** A Key Vault creation (this version) is still in progress; it is not in `generations` yet. */
  creating?: string;
}

export interface UnmanagedKey {
  keyId: string;
  x5t?: string;
  displayName?: string | null;
}
