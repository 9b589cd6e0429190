/**
 * Builds each credential's identity provider from its configuration: the adapter for its kind, with its
 * secret (Okta API token, Auth0 Management client secret) resolved on first use from the environment or
 * Key Vault and registered for redaction. Entra's Graph writes go through the fleet's rate limiters.
 */
import type { TokenCredential } from "@azure/identity";
import { Auth0IdentityProvider } from "../adapters/idp/auth0/idp.js";
import { createGraphDirectory } from "../adapters/idp/entra/graph.js";
import { EntraIdentityProvider } from "../adapters/idp/entra/idp.js";
import type { TokenEndpoint } from "../adapters/idp/entra/types.js";
import { OktaIdentityProvider } from "../adapters/idp/okta/index.js";
import type { Clock, IdentityProvider } from "../ports/engine.js";
import type { Config, CredentialConfig, IdpConfig, SecretRef } from "../config/load.js";
import { RotatorError } from "../errors.js";
import { clientLabel, IDP_RULES, SECRET_MIGRATION } from "../idp-rules.js";
import { limitedDirectory, type FleetLimiters } from "./limited.js";

export interface IdpDeps {
  config: Config;
  credential: TokenCredential;
  clock: Clock;
  limiters: FleetLimiters;
  tokens: TokenEndpoint;
  /** Reads a secret reference (environment or Key Vault) and registers it for redaction. */
  secret(ref: SecretRef, missing: (name: string) => RotatorError): Promise<string>;
}

/** Where the client is, for messages before the adapter exists. */
export function describeClient(idp: IdpConfig): string {
  return clientLabel(idp.kind, idp.clientId);
}

function secretMissing(idp: IdpConfig, field: string) {
  return (name: string) =>
    new RotatorError(
      "IDP_SECRET_MISSING",
      `${idp.kind}.${field} for ${describeClient(idp)}: environment variable ${name} is not set`,
      `Set ${name} (an app setting in Azure, ideally a Key Vault reference), or point ${idp.kind}.${field} at a Key Vault secret with { keyVaultSecret }.`,
      { details: { idp: idp.kind, field } },
    );
}

async function build(cred: CredentialConfig, deps: IdpDeps): Promise<IdentityProvider> {
  const idp = cred.idp;
  switch (idp.kind) {
    case "entra":
      return new EntraIdentityProvider({
        tenantId: idp.tenantId,
        clientId: idp.clientId,
        tokens: deps.tokens,
        directory: limitedDirectory(
          createGraphDirectory({
            credential: deps.credential,
            graphBaseUrl: deps.config.cloud.graphBaseUrl,
            clock: deps.clock,
            selfRotation: {
              authorityHost: deps.config.cloud.authorityHost,
              tenantId: idp.tenantId,
              algorithm: cred.policy.algorithm,
            },
          }),
          deps.limiters,
        ),
      });
    case "okta":
      return new OktaIdentityProvider(
        {
          orgUrl: idp.orgUrl,
          clientId: idp.clientId,
          token: await deps.secret(idp.token, secretMissing(idp, "token")),
          ...(idp.authorizationServer ? { authorizationServer: idp.authorizationServer } : {}),
          ...(idp.scopes ? { scopes: idp.scopes } : {}),
        },
        { clock: deps.clock },
      );
    case "auth0":
      return new Auth0IdentityProvider(
        {
          domain: idp.domain,
          clientId: idp.clientId,
          management: {
            clientId: idp.management.clientId,
            clientSecret: await deps.secret(
              idp.management.clientSecret,
              secretMissing(idp, "management.clientSecret"),
            ),
          },
        },
        { clock: deps.clock },
      );
  }
}

/** The credential's identity provider, built on first use (its secret may live in Key Vault). */
export function createIdentityProvider(cred: CredentialConfig, deps: IdpDeps): IdentityProvider {
  let built: IdentityProvider | undefined;
  let resolved: Promise<IdentityProvider> | undefined;
  const get = () => (resolved ??= build(cred, deps).then((p) => (built = p)));
  return {
    kind: cred.idp.kind,
    client: describeClient(cred.idp),
    rules: IDP_RULES[cred.idp.kind],
    listKeys: async () => (await get()).listKeys(),
    register: async (material, current) => (await get()).register(material, current),
    activate: async (key) => (await get()).activate(key),
    withdraw: async (key) => (await get()).withdraw(key),
    remove: async (key, current) => (await get()).remove(key, current),
    verify: async (signer, alg, kong) => (await get()).verify(signer, alg, kong),
    preflightRegister: async (current) => (await get()).preflightRegister?.(current),
    diagnose: async () => (await (await get()).diagnose?.()) ?? [],
    secretMigration: SECRET_MIGRATION[cred.idp.kind],
    listSecrets: async () => (await get()).listSecrets(),
    switchToKeys: async () => (await get()).switchToKeys(),
    retireSecret: async (secret) => (await get()).retireSecret(secret),
    // Asked after verify() ran, so the adapter exists by then.
    verifyHint: (x5t) =>
      built?.verifyHint?.(x5t) ??
      `check that key ${x5t} is registered and active for ${describeClient(cred.idp)}`,
  };
}
