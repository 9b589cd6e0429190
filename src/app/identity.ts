import { ClientSecretCredential, DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { isMicrosoftAuthority } from "../config/load.js";
import { RotatorError } from "../errors.js";

/**
 * The service's own identity. In Azure: DefaultAzureCredential (managed identity, with AZURE_CLIENT_ID
 * selecting the user-assigned one). Elsewhere: AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET.
 *
 * When the authority is not a Microsoft host (a private or local authority), only the explicit client
 * secret credential is used, with instance discovery off: nothing is sent to the public cloud or to the
 * instance metadata endpoint. TLS trust for such an authority comes from NODE_EXTRA_CA_CERTS.
 */
export function serviceCredential(authorityHost: string, env: NodeJS.ProcessEnv): TokenCredential {
  if (isMicrosoftAuthority(authorityHost)) {
    return new DefaultAzureCredential({
      authorityHost,
      ...(env.AZURE_CLIENT_ID ? { managedIdentityClientId: env.AZURE_CLIENT_ID } : {}),
    });
  }
  const { AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: clientId, AZURE_CLIENT_SECRET: secret } = env;
  if (!tenant || !clientId || !secret) {
    throw new RotatorError(
      "IDENTITY_NOT_CONFIGURED",
      `cloud.authorityHost ${authorityHost} is not a Microsoft authority, and AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET are not all set`,
      "Against a private or local authority the service authenticates with a client secret only; set the three AZURE_* variables.",
    );
  }
  return new ClientSecretCredential(tenant, clientId, secret, {
    authorityHost,
    disableInstanceDiscovery: true,
  });
}
