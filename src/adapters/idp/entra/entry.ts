/**
 * Entra ID's registry entry: the app registration's keyCredentials through Microsoft Graph (./graph.ts),
 * its writes throttled under Graph's documented application-write limits, proven at the tenant's v2.0 token
 * endpoint (./token-endpoint.ts) with a Graph `/.default` scope.
 */
import type { EntraIdpConfig } from "../../../config/load.js";
import type { IdpEntry } from "../entry.js";
import { createGraphDirectory } from "./graph.js";
import { EntraIdentityProvider } from "./idp.js";
import { createTokenEndpoint } from "./token-endpoint.js";
import type { EntraDirectory } from "./types.js";

/** Graph writes (addKey, removeKey, PATCH keyCredentials, removePassword) each take a slot first; reads do not. */
export function throttledDirectory(directory: EntraDirectory, slot: () => Promise<void>): EntraDirectory {
  const write = async <T>(call: () => Promise<T>): Promise<T> => {
    await slot();
    return call();
  };
  return {
    getApplication: (...a) => directory.getApplication(...a),
    addKey: (...a) => write(() => directory.addKey(...a)),
    removeKey: (...a) => write(() => directory.removeKey(...a)),
    patchKeyCredentials: (...a) => write(() => directory.patchKeyCredentials(...a)),
    removePassword: (...a) => write(() => directory.removePassword(...a)),
    ...(directory.secretSignIns ? { secretSignIns: (app) => directory.secretSignIns!(app) } : {}),
    ...(directory.canPatchKeyCredentials
      ? { canPatchKeyCredentials: (app) => directory.canPatchKeyCredentials!(app) }
      : {}),
  };
}

export const ENTRA_ENTRY: IdpEntry<EntraIdpConfig> = {
  create: async (idp, deps) =>
    new EntraIdentityProvider({
      tenantId: idp.tenantId,
      clientId: idp.clientId,
      tokens: createTokenEndpoint({
        authorityHost: deps.cloud.authorityHost,
        scope: `${deps.cloud.graphBaseUrl}/.default`,
        clock: deps.clock,
      }),
      directory: throttledDirectory(
        createGraphDirectory({
          credential: deps.credential,
          graphBaseUrl: deps.cloud.graphBaseUrl,
          clock: deps.clock,
          selfRotation: {
            authorityHost: deps.cloud.authorityHost,
            tenantId: idp.tenantId,
            algorithm: deps.policy.algorithm,
          },
        }),
        deps.writeSlot,
      ),
    }),
};
