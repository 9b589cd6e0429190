/** Okta's registry entry: the app's JWKs over the management API with its API token (./index.ts). */
import type { OktaIdpConfig } from "../../../config/load.js";
import type { IdpEntry } from "../entry.js";
import { OktaIdentityProvider } from "./index.js";

export const OKTA_ENTRY: IdpEntry<OktaIdpConfig> = {
  create: async (idp, deps) =>
    new OktaIdentityProvider(
      {
        orgUrl: idp.orgUrl,
        clientId: idp.clientId,
        token: await deps.secret("token", idp.token),
        ...(idp.authorizationServer ? { authorizationServer: idp.authorizationServer } : {}),
        ...(idp.scopes ? { scopes: idp.scopes } : {}),
      },
      { clock: deps.clock },
    ),
};
