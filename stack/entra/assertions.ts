/**
 * `private_key_jwt` client assertions of Entra applications, verified by a real oidc-provider instance
 * (https://github.com/panva/node-oidc-provider): signature, `iss` = `sub` = client id, `exp`/`nbf`, a
 * `jti` that is not replayed, RSA algorithms only (BRIEF: "RSA only: PS256 or RS256").
 *
 * Entra identifies the certificate by the `x5t` (or `x5t#S256`) header
 * (https://learn.microsoft.com/entra/identity-platform/certificate-credentials#header). Kong's plugin puts
 * the JWK's `kid` in the header, and the configuration known to work against Entra sets that `kid` to the
 * certificate's x5t thumbprint (BRIEF, "How the plugin signs"), so a `kid` equal to a registered key's
 * base64url SHA-1 thumbprint identifies it too when no x5t header is present. oidc-provider
 * selects verification keys by `kid`, so the client's JWKS is built per request from the assertion's
 * header: it holds only the application key whose thumbprint the header names, under the header's `kid`.
 * The client lives in the provider's adapter, not its static client list, so it is rebuilt from the
 * directory on every request and follows keyCredential changes (additions after their propagation
 * delay, removals and expiry at once).
 * Stricter than Entra may be: a replayed `jti` is refused (oidc-provider's replay detection); Microsoft does
 * not document replay checks for client assertions.
 */
import { MemoryAdapter, clientCredentialsProvider, tokenRoute } from "../common/oidc.js";
import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingMessage, ServerResponse } from "node:http";
import Provider, {
  errors,
  type AdapterPayload,
  type ProviderContext,
  type ProviderError,
} from "oidc-provider";
import type { Directory, StoredApp, StoredKey } from "./directory.js";

export interface AssertionHeader {
  alg?: string;
  kid?: string;
  x5t?: string;
  x5tS256?: string;
}

/** What the token endpoint learned about one request before handing it to oidc-provider. */
export interface AssertionRequest {
  app: StoredApp;
  header: AssertionHeader;
  claims: Record<string, unknown>;
  resource: string;
  /** Set by oidc-provider's `grant.error` event when it rejects the assertion. */
  error?: ProviderError;
}

export type TokenReply = (request: AssertionRequest, ctx: ProviderContext) => Promise<void>;

const requests = new AsyncLocalStorage<AssertionRequest>();

export function matchesHeader(key: StoredKey, header: AssertionHeader): boolean {
  if (!header.x5t && !header.x5tS256) return header.kid !== undefined && header.kid === key.x5t;
  return (!header.x5t || header.x5t === key.x5t) && (!header.x5tS256 || header.x5tS256 === key.x5tS256);
}

export { MemoryAdapter };

/** Entra applications as oidc-provider clients, rebuilt from the directory on each lookup. */
class ApplicationClients extends MemoryAdapter {
  constructor(private readonly directory: Directory) {
    super();
  }

  override async find(id: string): Promise<AdapterPayload | undefined> {
    const app = this.directory.appByAppId(id);
    if (!app) return undefined;
    const request = requests.getStore();
    const keys =
      request?.app === app
        ? this.directory
            .acceptedKeys(app)
            .filter((k) => matchesHeader(k, request.header))
            .map((k) => ({
              ...k.publicKey.export({ format: "jwk" }),
              use: "sig",
              ...(request.header.kid ? { kid: request.header.kid } : {}),
            }))
        : [];
    return {
      client_id: app.appId,
      token_endpoint_auth_method: "private_key_jwt",
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
      jwks: { keys },
    };
  }
}

export interface AssertionVerifier {
  /** Let oidc-provider handle one token request; `reply` then turns its outcome into Entra's response. */
  handle(request: AssertionRequest, req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export function createAssertionVerifier(opts: {
  issuer: string;
  tokenPath: string;
  tokenEndpoint: string;
  directory: Directory;
  reply: TokenReply;
}): AssertionVerifier {
  const provider = new Provider(opts.issuer, {
    ...clientCredentialsProvider(new ApplicationClients(opts.directory)),
    enabledJWA: { clientAuthSigningAlgValues: ["PS256", "RS256"] },
    routes: { token: opts.tokenPath },
    // Entra's app-only access tokens live about an hour (expires_in 3599).
    ttl: { ClientCredentials: 3599 },
    // Entra validates with Microsoft.IdentityModel's default 5-minute clock skew
    // (https://learn.microsoft.com/dotnet/api/microsoft.identitymodel.tokens.tokenvalidationparameters.clockskew).
    clockTolerance: 300,
    // Entra: "aud: Must be https://login.microsoftonline.com/{tenantId}/oauth2/v2.0/token"
    // (https://learn.microsoft.com/entra/identity-platform/certificate-credentials#claims-payload);
    // oidc-provider alone would also accept its issuer identifier.
    assertJwtClientAuthClaimsAndHeader: async (_ctx: ProviderContext, claims: { aud?: unknown }) => {
      const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!aud.includes(opts.tokenEndpoint))
        throw new errors.InvalidClientAuth(`audience (aud) must be the token endpoint ${opts.tokenEndpoint}`);
    },
  });
  return { handle: tokenRoute(provider, requests, opts.reply) };
}
