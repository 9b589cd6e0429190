/**
 * Auth0 `private_key_jwt` client assertions, verified by a real oidc-provider instance
 * (stack/common/oidc.ts), as the Entra fake does. Auth0's rules
 * (https://auth0.com/docs/get-started/authentication-and-authorization-flow/authenticate-with-private-key-jwt):
 * - the key is one of the client's credentials ATTACHED to `client_authentication_methods.private_key_jwt`
 *   and not expired; `alg` must be the credential's algorithm; `kid` is optional and, when present, must
 *   be a credential's kid (oidc-provider selects keys by `kid` and `alg`, and tries every match without one);
 * - `iss` = `sub` = client id; `jti` required (oidc-provider requires it and refuses replays);
 * - `aud` = the tenant URL with its trailing slash (the docs), or the token endpoint URL (what Kong sends;
 *   Auth0's support article "How to Get Access Token with Private Key JWT" uses it);
 * - "Auth0 supports a maximum token lifetime of 5 minutes": `exp` - (`iat` or now) <= 300 s.
 * The size limit (2048 bytes) is checked by the token endpoint before it gets here.
 */
import { errors, type AdapterPayload, type ProviderContext, type ProviderError } from "oidc-provider";
import {
  MemoryAdapter,
  createClientAssertionVerifier,
  privateKeyJwtClient,
  type ClientAssertionVerifier,
} from "../common/oidc.js";
import type { StoredClient, Tenant } from "./tenant.js";

export const MAX_ASSERTION_LIFETIME_SEC = 300;

export interface AssertionRequest {
  client: StoredClient;
  /** The `audience` form parameter, when sent. */
  audience: string | undefined;
  /** Set by oidc-provider's `grant.error` event when it rejects the assertion. */
  error?: ProviderError;
}

/** Auth0 clients as oidc-provider clients, rebuilt from the tenant on each lookup. */
class TenantClients extends MemoryAdapter {
  constructor(private readonly tenant: Tenant) {
    super();
  }

  override async find(id: string): Promise<AdapterPayload | undefined> {
    const client = this.tenant.clients.get(id);
    if (!client) return undefined;
    const keys = this.tenant.usableCredentials(client).map((c) => ({
      ...c.publicKey.export({ format: "jwk" }),
      kid: c.kid,
      alg: c.alg,
      use: "sig",
    }));
    return privateKeyJwtClient(client.clientId, keys);
  }
}

export function createAssertionVerifier(opts: {
  /** The tenant URL with trailing slash, like https://example.eu.auth0.com/. */
  issuer: string;
  tokenPath: string;
  tokenEndpoint: string;
  tenant: Tenant;
  reply: (request: AssertionRequest, ctx: ProviderContext) => Promise<void>;
}): ClientAssertionVerifier<AssertionRequest> {
  const audiences = new Set([opts.issuer, opts.tokenEndpoint]);
  return createClientAssertionVerifier<AssertionRequest>({
    issuer: opts.issuer,
    tokenPath: opts.tokenPath,
    clients: () => new TenantClients(opts.tenant),
    // "Can be one of RS256, RS384, PS256" (Management API, credential `alg`).
    algorithms: ["RS256", "RS384", "PS256"],
    // Auth0's access tokens default to 86400 s.
    accessTokenTtlSec: 86400,
    assertClaims: (claims) => {
      const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!aud.some((a) => typeof a === "string" && audiences.has(a)))
        throw new errors.InvalidClientAuth(
          `audience (aud) must be ${opts.issuer} (with its trailing slash) or ${opts.tokenEndpoint}`,
        );
      const start = typeof claims.iat === "number" ? claims.iat : Math.floor(Date.now() / 1000);
      if (typeof claims.exp === "number" && claims.exp - start > MAX_ASSERTION_LIFETIME_SEC)
        throw new errors.InvalidClientAuth(
          `the client assertion lifetime exceeds the maximum of ${MAX_ASSERTION_LIFETIME_SEC} seconds`,
        );
    },
    reply: opts.reply,
  });
}
