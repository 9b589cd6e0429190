/**
 * Auth0's rules for client keys (the registry entry's data, src/adapters/idp/registry.ts): "The current
 * application storage limit is two credentials at one time"
 * (https://auth0.com/docs/get-started/applications/rotate-credentials); RS256 or PS256; a credential is
 * usable once attached to the client (client_authentication_methods.private_key_jwt). A key is proven with
 * no scope, the tenant's default audience, whatever scopes Kong's plugin uses.
 */
import { z } from "zod";
import { secretRef } from "../../../config/fields.js";
import type { Auth0IdpConfig } from "../../../config/load.js";
import type { IdpKindRules } from "../kind.js";

/** `auth0:` in a credential: the application Kong authenticates as, and a Management API M2M client. */
const part = z
  .object({
    domain: z
      .string()
      .regex(
        /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]{1,5})?$/,
        {
          message: "must be the tenant's domain (like example.eu.auth0.com), without https:// or a path",
        },
      ),
    clientId: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, { message: "must be the application's client id" }),
    management: z.object({ clientId: z.string().min(1), clientSecret: secretRef }).strict(),
  })
  .strict();

const trim = (u: string) => u.replace(/\/+$/, "");

export const AUTH0_RULES: IdpKindRules<Auth0IdpConfig, z.output<typeof part>> = {
  kind: "auth0",
  config: {
    schema: part,
    toConfig: (p) => ({ kind: "auth0", ...p }),
    identity: (p) => ({ at: p.domain, clientId: p.clientId, what: "Auth0 application" }),
    // The first attach switches the rotated application to Private Key JWT, which ends its client secret:
    // a management client that is the rotated application would lock itself out after one rotation.
    problems: (p) =>
      p.management.clientId === p.clientId
        ? [
            {
              path: ["management", "clientId"],
              message:
                "must be a Machine-to-Machine application of its own, not the rotated application (its secret stops working once a key is attached)",
            },
          ]
        : [],
  },
  rules: {
    maxKeys: 2,
    algorithms: ["RS256", "PS256"],
    kid: "optional",
    staged: true,
    proofOfPossession: false,
    published: "attached to the Auth0 application",
    proofScopes: "own",
    // https://auth0.com/docs/secure/tokens/access-tokens/update-access-token-lifetime (86400 s by default)
    issuedTokens:
      "access tokens Auth0 already issued stay valid until they expire (the API's token lifetime, 24 hours by default)",
  },
  clientNoun: "Auth0 client",
  secretMigration: {
    cutover: "attach",
    warning:
      "Auth0's client_authentication_methods and token_endpoint_auth_method are exclusive: attaching the new credential (publish) ends the client secret. " +
      "From the attach until Kong holds the key, the gateways' secret logins fail: the window is the key's verification at the token endpoint plus Kong's confirmation.",
  },
  writeLimits: [],
  secrets: (idp) => [{ field: "management.clientSecret", ref: idp.management.clientSecret }],
  // Auth0's issuer is https://<domain>/ (with the trailing slash).
  issuer: (idp) => ({
    matches: (u) => trim(u) === `https://${idp.domain}`,
    what: `Auth0 tenant https://${idp.domain}/`,
    hint: `Set config.issuer to https://${idp.domain}/.`,
  }),
  proofScopeOverride: () => undefined,
};
