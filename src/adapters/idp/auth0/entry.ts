/**
 * Auth0's registry entry: the application's credentials over the Management API, with a machine-to-machine
 * client's secret (./idp.ts).
 */
import type { Auth0IdpConfig } from "../../../config/load.js";
import type { IdpEntry } from "../entry.js";
import { Auth0IdentityProvider } from "./idp.js";

export const AUTH0_ENTRY: IdpEntry<Auth0IdpConfig> = {
  create: async (idp, deps) =>
    new Auth0IdentityProvider(
      {
        domain: idp.domain,
        clientId: idp.clientId,
        management: {
          clientId: idp.management.clientId,
          clientSecret: await deps.secret("management.clientSecret", idp.management.clientSecret),
        },
      },
      { clock: deps.clock },
    ),
};
