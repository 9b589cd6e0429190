/**
 * The engine's own error codes. Messages carry identifiers only (versions, thumbprints, target names);
 * never key material or upstream response bodies.
 */
import { isRotatorError, RotatorError } from "../errors.js";

/** A programming error in the engine (a plan that does not fit its snapshot): thrown, never reported as a run outcome. */
export class EngineBug extends Error {
  override readonly name = "EngineBug";
}

export function verifyTimeout(
  x5t: string,
  timeoutMs: number,
  consecutive: number,
  lastFailure: string | undefined,
  idpHint: string | undefined,
): RotatorError {
  return new RotatorError(
    "VERIFY_TIMEOUT",
    `the token endpoint did not accept ${consecutive} consecutive assertions signed with key ${x5t} within ${Math.round(timeoutMs / 1000)} s` +
      (lastFailure ? ` (last answer: ${lastFailure})` : ""),
    idpHint ??
      `The key stays registered and the next run verifies again. If it keeps failing, check that key ${x5t} is registered and active for the client at the IdP.`,
    { retryable: true, details: { x5t, ...(lastFailure ? { lastFailure } : {}) } },
  );
}

/** The token endpoint refused the key for a reason that waiting does not fix (TokenAttempt.retryable false). */
export function verifyRefused(
  x5t: string,
  code: string,
  description: string,
  hint: string | undefined,
): RotatorError {
  return new RotatorError(
    "VERIFY_REFUSED",
    `the token endpoint refused the assertion signed with key ${x5t}: ${code}: ${description}`,
    (hint ? `${hint} ` : "") +
      "Verification stopped at once: this refusal is not a key still propagating. The key stays registered and unused; the next run verifies again.",
    { details: { x5t, error: code } },
  );
}

export function activateNotVerified(x5t: string | undefined, phase: string): RotatorError {
  return new RotatorError(
    "ACTIVATE_NOT_VERIFIED",
    `generation ${x5t ?? "?"} is ${phase}, not verified and usable at the IdP; it will not be pushed to Kong`,
    "A key goes to Kong only after the token endpoint accepted it consistently (no outage). Run again: the engine verifies first.",
    { details: { x5t, phase } },
  );
}

export function activateShorterLifetime(
  x5t: string | undefined,
  expiresOn: Date | undefined,
  activeExpiresOn: Date | undefined,
): RotatorError {
  return new RotatorError(
    "ACTIVATE_SHORTER_LIFETIME",
    `generation ${x5t ?? "?"} expires at ${expiresOn?.toISOString() ?? "?"}, before the active key (${activeExpiresOn?.toISOString() ?? "?"})`,
    "Activating it would shorten the credential's life. Raise policy.validityMonths, or tag the new certificate version rotator-phase=retiring to discard it.",
    { details: { x5t } },
  );
}

export function certMismatch(version: string, expected: string | undefined, actual: string): RotatorError {
  return new RotatorError(
    "CERT_MISMATCH",
    `the PEM of version ${version} holds certificate ${actual}, but Key Vault reports ${expected ?? "no thumbprint"}`,
    "The certificate's backing secret does not match the version; check the Key Vault certificate.",
  );
}

export function runAborted(): RotatorError {
  return new RotatorError(
    "RUN_ABORTED",
    "the run stopped because its lease was lost",
    "Another writer may hold the credential now; the next run resumes from the persisted phase.",
    { retryable: true },
  );
}

export function noProgress(description: string): RotatorError {
  return new RotatorError(
    "ENGINE_NO_PROGRESS",
    `"${description}" completed but the observed state did not change`,
    "An adapter reported success without effect, or another writer reverted it; check the target named in the step.",
  );
}

/** Attach the Kong target's name to an adapter error, keeping its code and hint. */
export function atTarget(e: unknown, target: string): RotatorError {
  const base = isRotatorError(e) ? e : undefined;
  return new RotatorError(
    base?.code ?? "KONG_APPLY_FAILED",
    base?.message.startsWith(`Kong target ${target}`)
      ? base.message
      : `Kong target ${target}: ${base?.message ?? "apply failed"}`,
    base?.hint ?? "Check the target's Admin API URL, token and plugin.",
    {
      status: base?.status,
      retryable: base?.retryable,
      details: { ...(base?.details ?? {}), target },
      cause: e,
    },
  );
}

export function rollbackRefused(why: string, requestId: string | undefined): RotatorError {
  return new RotatorError(
    "ROLLBACK_REFUSED",
    why,
    "A rollback needs the previous generation still registered and valid at the IdP and not retired. " +
      "Withdraw the request with 'rotate <name> --cancel', then rotate forward with 'rotate <name> --force' if the active key is bad.",
    { details: requestId ? { request: requestId } : {} },
  );
}

/** The generation a rollback would return to was reported compromised: it never comes back. */
export function rollbackCompromised(generation: string, at: Date | undefined): RotatorError {
  return new RotatorError(
    "ROLLBACK_COMPROMISED",
    `rollback refused: the previous generation ${generation} was reported compromised` +
      (at ? ` at ${at.toISOString()}` : "") +
      "; a compromised key is never rolled back to or activated again",
    "If the active key is bad, rotate forward instead: 'rotate <name> --force' (or --compromised if it leaked). " +
      "docs/runbooks/key-compromise.md explains the compromise response.",
    { details: { generation } },
  );
}

/** A target's gateways stayed behind past its maxLag: the key was written but is not everywhere yet. */
export function kongNotConfirmed(
  target: string,
  kid: string,
  lagging: string[],
  detail: string,
  maxLagMs: number,
): RotatorError {
  const who = lagging.length ? lagging.join(", ") : "its gateways";
  return new RotatorError(
    "KONG_NOT_CONFIRMED",
    `Kong target ${target}: ${who} did not confirm key ${kid} within ${Math.round(maxLagMs / 1000)} s (${detail})`,
    "The control plane holds the new key but these gateways do not yet: the generation stays verified and the old key stays registered at the IdP. " +
      `Check that the named data planes/nodes are connected and syncing; the next run gives them a new window of ${Math.round(maxLagMs / 1000)} s (writing the key again if the control plane lost it), reports waiting meanwhile, and activates once they hold the key.`,
    { retryable: true, details: { target, lagging } },
  );
}

/** A target reported that its gateways cannot take the key (not a lag). */
export function kongConfirmFailed(
  target: string,
  code: string,
  detail: string,
  lagging: string[],
): RotatorError {
  return new RotatorError(
    code,
    `Kong target ${target}: confirmation failed${lagging.length ? ` on ${lagging.join(", ")}` : ""} (${detail})`,
    "The gateways named did not take the new configuration; the generation stays verified and the old key stays registered at the IdP.",
    { details: { target, lagging } },
  );
}

export function vaultSecretUnsupported(target: string): RotatorError {
  return new RotatorError(
    "VAULT_SECRETS_UNSUPPORTED",
    `Kong target ${target} uses vaultReference, but the certificate store cannot write plain secrets`,
    "Vault-reference mode needs the Key Vault store; remove vaultReference or run with Key Vault.",
    { details: { target } },
  );
}

export function vaultSecretMismatch(target: string, secret: string): RotatorError {
  return new RotatorError(
    "VAULT_SECRET_MISMATCH",
    `Kong target ${target}: Key Vault secret ${secret} does not hold this key's private members (application/json) after writing it`,
    "Another writer may be changing the secret; the plugin was not changed. Check the secret's versions in Key Vault.",
    { details: { target, secret } },
  );
}
