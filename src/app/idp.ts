/**
 * Builds each credential's identity provider through the registry (src/adapters/idp/registry.ts): the
 * entry for its kind, with its secrets resolved on first use from the environment or Key Vault and
 * registered for redaction, and its key writes taking slots of the fleet's limiters its entry names.
 */
import type { TokenCredential } from "@azure/identity";
import type { Clock, IdentityProvider } from "../ports/engine.js";
import type { Config, CredentialConfig, IdpConfig, SecretRef } from "../config/load.js";
import { RotatorError } from "../errors.js";
import { registeredIdp } from "../adapters/idp/registry.js";
import { writeSlot, type FleetLimiters } from "./limited.js";

export interface IdpDeps {
  config: Config;
  credential: TokenCredential;
  clock: Clock;
  limiters: FleetLimiters;
  /** Reads a secret reference (environment or Key Vault) and registers it for redaction. */
  secret(ref: SecretRef, missing: (name: string) => RotatorError): Promise<string>;
}

function secretMissing(idp: IdpConfig, field: string) {
  return (name: string) =>
    new RotatorError(
      "IDP_SECRET_MISSING",
      `${idp.kind}.${field} for ${registeredIdp(idp).client}: environment variable ${name} is not set`,
      `Set ${name} (an app setting in Azure, ideally a Key Vault reference), or point ${idp.kind}.${field} at a Key Vault secret with { keyVaultSecret }.`,
      { details: { idp: idp.kind, field } },
    );
}

/** The credential's identity provider, built on first use (its secret may live in Key Vault). */
export function createIdentityProvider(cred: CredentialConfig, deps: IdpDeps): IdentityProvider {
  const registered = registeredIdp(cred.idp);
  let built: IdentityProvider | undefined;
  let resolved: Promise<IdentityProvider> | undefined;
  const build = () =>
    registered.create({
      cloud: deps.config.cloud,
      credential: deps.credential,
      clock: deps.clock,
      policy: cred.policy,
      writeSlot: writeSlot(deps.limiters, registered.writeLimits),
      secret: (field, ref) => deps.secret(ref, secretMissing(cred.idp, field)),
    });
  const get = () => (resolved ??= build().then((p) => (built = p)));
  return {
    kind: registered.kind,
    client: registered.client,
    rules: registered.rules,
    listKeys: async () => (await get()).listKeys(),
    register: async (material, current) => (await get()).register(material, current),
    activate: async (key) => (await get()).activate(key),
    withdraw: async (key) => (await get()).withdraw(key),
    remove: async (key, current) => (await get()).remove(key, current),
    verify: async (signer, alg, kong) => (await get()).verify(signer, alg, kong),
    preflightRegister: async (current) => (await get()).preflightRegister(current),
    diagnose: async (context) => (await get()).diagnose(context),
    secretMigration: registered.secretMigration,
    listSecrets: async () => (await get()).listSecrets(),
    switchToKeys: async () => (await get()).switchToKeys(),
    retireSecret: async (secret) => (await get()).retireSecret(secret),
    // Asked after verify() ran, so the adapter exists by then.
    verifyHint: (x5t) =>
      built?.verifyHint(x5t) ?? `check that key ${x5t} is registered and active for ${registered.client}`,
  };
}
