/**
 * Auth0 `private_key_jwt` client assertions, verified by a real oidc-provider instance
 * (https://github.com/panva/node-oidc-provider), as the Entra fake does. Auth0's rules
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
import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingMessage, ServerResponse } from "node:http";
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import Provider, {
  errors,
  type AdapterPayload,
  type ProviderContext,
  type ProviderError,
} from "oidc-provider";
import { MemoryAdapter } from "../entra/assertions.js";
import type { StoredClient, Tenant } from "./tenant.js";

export const MAX_ASSERTION_LIFETIME_SEC = 300;

export interface AssertionRequest {
  client: StoredClient;
  /** The `audience` form parameter, when sent. */
  audience: string | undefined;
  /** Set by oidc-provider's `grant.error` event when it rejects the assertion. */
  error?: ProviderError;
}

export type TokenReply = (request: AssertionRequest, ctx: ProviderContext) => Promise<void>;

const requests = new AsyncLocalStorage<AssertionRequest>();

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
    return {
      client_id: client.clientId,
      token_endpoint_auth_method: "private_key_jwt",
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
      jwks: { keys },
    };
  }
}

export interface AssertionVerifier {
  handle(request: AssertionRequest, req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export function createAssertionVerifier(opts: {
  /** The tenant URL with trailing slash, like https://example.eu.auth0.com/. */
  issuer: string;
  tokenPath: string;
  tokenEndpoint: string;
  tenant: Tenant;
  reply: TokenReply;
}): AssertionVerifier {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const signingKey = { ...privateKey.export({ format: "jwk" }), kid: randomUUID(), alg: "RS256", use: "sig" };
  const clients = new TenantClients(opts.tenant);
  const stores = new Map<string, MemoryAdapter>();
  const audiences = new Set([opts.issuer, opts.tokenEndpoint]);
  const provider = new Provider(opts.issuer, {
    adapter: (name: string) => {
      if (name === "Client") return clients;
      let store = stores.get(name);
      if (!store) stores.set(name, (store = new MemoryAdapter()));
      return store;
    },
    clients: [],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    features: { devInteractions: { enabled: false }, clientCredentials: { enabled: true } },
    clientAuthMethods: ["private_key_jwt"],
    // "Can be one of RS256, RS384, PS256" (Management API, credential `alg`).
    enabledJWA: { clientAuthSigningAlgValues: ["RS256", "RS384", "PS256"] },
    routes: { token: opts.tokenPath },
    ttl: { ClientCredentials: 86400 },
    assertJwtClientAuthClaimsAndHeader: async (
      _ctx: ProviderContext,
      claims: { aud?: unknown; exp?: unknown; iat?: unknown },
    ) => {
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
  });
  provider.on("grant.error", (_ctx, error) => {
    const request = requests.getStore();
    if (request) request.error = error;
  });
  provider.use(async (ctx, next) => {
    await next();
    const request = requests.getStore();
    if (request && ctx.oidc?.route === "token") await opts.reply(request, ctx);
  });
  const callback = provider.callback();
  return {
    handle: (request, req, res) => requests.run(request, () => callback(req, res)),
  };
}
