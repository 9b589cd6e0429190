/**
 * Drift check between rotations: is every Kong target on the active key, does the IdP still list that
 * key, and is it about to expire? Findings carry stable codes for alerting. With `reapply`, a drifting
 * target is put back on the active key (only when the IdP lists it: pushing an unregistered key would
 * break logins). Re-applying writes to Kong, so callers hold the credential's lease as for a rotation.
 */
import type { CredentialConfig } from "../config/load.js";
import { toRotatorError } from "../errors.js";
import type { KongPrivateJwk } from "../crypto/keymaterial.js";
import { redact } from "../log/redact.js";
import { forgetConfirmations, loadJwk, pushAndConfirm } from "./kong.js";
import { TagBook } from "./tag-book.js";
import { effectiveActive, keyAtIdp, targetHolds } from "./model.js";
import type { SafeError } from "./types.js";
import type { EnginePorts } from "../ports/engine.js";
import { observe } from "./observe.js";
import { credentialStatus, type CredentialStatus } from "./status.js";

export type SyncFindingCode = "KONG_DRIFT" | "KONG_UNREACHABLE" | "ACTIVE_KEY_NOT_AT_IDP" | "KEY_EXPIRING";

export interface SyncFinding {
  code: SyncFindingCode;
  message: string;
  hint: string;
  target?: string;
  x5t?: string;
  /** For KONG_DRIFT: the active key was re-applied and read back. */
  reapplied?: boolean;
  /** For KONG_DRIFT: why re-applying failed; for KONG_UNREACHABLE: the inspection error. */
  error?: SafeError;
}

export interface SyncOptions {
  reapply: boolean;
  expiryWarningMs: number;
}

export interface SyncReport {
  credential: string;
  findings: SyncFinding[];
  /** As observed before any re-apply. */
  status: CredentialStatus;
}

/** Observation failures (Key Vault or the IdP unreachable) reject with a RotatorError. */
export async function checkSync(
  cred: CredentialConfig,
  ports: EnginePorts,
  options: SyncOptions,
): Promise<SyncReport> {
  const s = await observe(cred, ports);
  const now = ports.clock.now();
  const findings: SyncFinding[] = [];
  const active = effectiveActive(s.generations);
  if (active?.x5t) {
    const x5t = active.x5t;
    const atIdp = keyAtIdp(s.idp.keys, active)?.usable === true;
    if (!atIdp)
      findings.push({
        code: "ACTIVE_KEY_NOT_AT_IDP",
        x5t,
        message: `the active key ${x5t} is not ${keyAtIdp(s.idp.keys, active) ? "usable" : "registered"} at ${s.idp.client}`,
        hint: "Someone removed or deactivated it at the IdP: Kong's logins fail. Run a forced rotation to register a new key.",
      });
    const left = (active.expiresOn?.getTime() ?? 0) - now.getTime();
    if (left <= options.expiryWarningMs)
      findings.push({
        code: "KEY_EXPIRING",
        x5t,
        message: `the active key ${x5t} expires at ${active.expiresOn?.toISOString() ?? "?"}`,
        hint: "Rotation should have renewed it (policy.renewBefore); check the last rotation runs' errors.",
      });
    let jwk: Promise<KongPrivateJwk> | undefined;
    const verifiedInFlight = s.generations.flatMap((g) => (g.phase === "verified" && g.x5t ? [g.x5t] : []));
    for (const t of s.targets) {
      if (t.error) {
        findings.push({
          code: "KONG_UNREACHABLE",
          target: t.name,
          message: `Kong target ${t.name} could not be inspected: ${t.error.code}`,
          hint: t.error.hint,
          error: t.error,
        });
        continue;
      }
      if (targetHolds(t, x5t)) continue;
      // Mid-activation (a failed activation already reached this target): it holds a verified key the IdP
      // accepts, and the next rotation run finishes the activation. Re-applying the old key would only churn.
      if (verifiedInFlight.some((v) => targetHolds(t, v))) continue;
      const finding: SyncFinding = {
        code: "KONG_DRIFT",
        target: t.name,
        x5t,
        message: `Kong target ${t.name} holds ${t.plugins.map((p) => p.kid ?? "(no key)").join(", ")} instead of the active key ${x5t}`,
        hint: "Another writer (decK, an operator) changed client_jwk. Re-apply with sync, and keep client_jwk out of declarative config.",
        reapplied: false,
      };
      const target = ports.kong.find((k) => k.name === t.name);
      if (options.reapply && atIdp && target) {
        try {
          jwk ??= loadJwk(ports.store, cred, active);
          const tags = new TagBook(ports.store, cred.certificateName);
          // No wait budget: the sync tick confirms within the target's window, or reports the drift.
          const ctx = { cred, tags, ports, snapshot: s, progress: () => undefined };
          await pushAndConfirm(ctx, active, [target], await jwk);
          await forgetConfirmations(ctx, active, [target]);
          finding.reapplied = true;
        } catch (e) {
          finding.error = redact(toRotatorError(e).toJSON());
        }
      }
      findings.push(finding);
    }
  }
  for (const f of findings)
    ports.logger.log("warn", "KeySyncFinding", {
      credential: cred.name,
      code: f.code,
      target: f.target,
      x5t: f.x5t,
      reapplied: f.reapplied,
    });
  return { credential: cred.name, findings, status: credentialStatus(s, now) };
}
