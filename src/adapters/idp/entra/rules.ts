/**
 * Entra ID's rules for client keys (the registry entry's data, src/adapters/idp/registry.ts):
 * keyCredentials are matched by the certificate thumbprint (x5t header); PS256 and RS256
 * (https://learn.microsoft.com/entra/identity-platform/certificate-credentials). No documented count limit
 * per app (the manifest's size bounds it), so none is planned for. A key is proven with a resource's
 * `/.default` scope of the rotator's own, which client credentials require, whatever scopes Kong uses.
 */
import { z } from "zod";
import { guid, tenant } from "../../../config/fields.js";
import type { EntraIdpConfig } from "../../../config/load.js";
import type { IdpKindRules } from "../kind.js";

/** `entra:` in a credential: the app registration (client id) in its tenant. */
const part = z.object({ tenantId: tenant, clientId: guid }).strict();

export const ENTRA_RULES: IdpKindRules<EntraIdpConfig, z.output<typeof part>> = {
  kind: "entra",
  config: {
    schema: part,
    toConfig: (p) => ({ kind: "entra", ...p }),
    identity: (p) => ({ at: p.tenantId, clientId: p.clientId, what: "Entra app" }),
    problems: () => [],
  },
  rules: {
    maxKeys: Number.POSITIVE_INFINITY,
    algorithms: ["PS256", "RS256"],
    kid: "x5t",
    staged: false,
    proofOfPossession: true,
    published: "listed on the Entra app",
    proofScopes: "own",
    // https://learn.microsoft.com/entra/identity-platform/access-tokens#token-lifetime
    issuedTokens:
      "access tokens Entra already issued stay valid until they expire (60-90 minutes after issue; Entra cannot revoke them)",
  },
  clientNoun: "app",
  secretMigration: {
    cutover: "none",
    warning:
      "Entra accepts the client secret and certificates side by side: the gateways keep logging in with the secret until Kong switches, so the migration has no failed logins. The secret stays on the app until you run it again with --retire-secret.",
  },
  // Graph's documented application-write limits apply to addKey, removeKey and PATCH (src/limits.ts).
  writeLimits: ["graphWritesPerTenant", "graphWritesPerApp"],
  secrets: () => [],
  issuer: (idp) => ({
    matches: (u) => u.includes(idp.tenantId),
    what: `tenant ${idp.tenantId}`,
    hint: `Set config.issuer to https://login.microsoftonline.com/${idp.tenantId}/v2.0 (or the cloud's authority), so that tokens are requested from and validated against the app's tenant.`,
  }),
  proofScopeOverride: () => undefined,
};
