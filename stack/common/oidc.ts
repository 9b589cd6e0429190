/**
 * A real oidc-provider instance (https://github.com/panva/node-oidc-provider) as the verifier of
 * `private_key_jwt` client assertions at a fake IdP's token endpoint (Entra, Auth0). Each fake supplies its
 * clients (rebuilt from its own state on each lookup), its algorithms and claim rules, and turns the
 * provider's verdict into its own response in `reply`. Plumbing shared by the fakes; never imports src/.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingMessage, ServerResponse } from "node:http";
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import Provider, {
  type Adapter,
  type AdapterPayload,
  type ProviderContext,
  type ProviderError,
} from "oidc-provider";
import type { Request } from "./server.js";

/** TTL-bounded in-memory storage for oidc-provider's own models (issued tokens, replay detection). */
export class MemoryAdapter implements Adapter {
  private readonly entries = new Map<string, { payload: AdapterPayload; expiresAt: number }>();

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    this.entries.set(id, {
      payload,
      expiresAt: expiresIn === undefined ? Infinity : Date.now() + expiresIn * 1000,
    });
  }
  async find(id: string): Promise<AdapterPayload | undefined> {
    const e = this.entries.get(id);
    if (!e) return undefined;
    if (e.expiresAt <= Date.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return e.payload;
  }
  async findByUserCode(): Promise<AdapterPayload | undefined> {
    return undefined;
  }
  async findByUid(): Promise<AdapterPayload | undefined> {
    return undefined;
  }
  async consume(id: string): Promise<void> {
    const e = this.entries.get(id);
    if (e) e.payload = { ...e.payload, consumed: Math.floor(Date.now() / 1000) };
  }
  async destroy(id: string): Promise<void> {
    this.entries.delete(id);
  }
  async revokeByGrantId(): Promise<void> {}
}

/** oidc-provider client metadata of a client-credentials client authenticating with `private_key_jwt`. */
export function privateKeyJwtClient(clientId: string, keys: Record<string, unknown>[]): AdapterPayload {
  return {
    client_id: clientId,
    token_endpoint_auth_method: "private_key_jwt",
    grant_types: ["client_credentials"],
    response_types: [],
    redirect_uris: [],
    jwks: { keys },
  };
}

export interface ClientAssertionVerifier<T> {
  /** Let oidc-provider handle one token request; `reply` then turns its outcome into the IdP's response. */
  handle(request: T, req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export function createClientAssertionVerifier<T extends { error?: ProviderError }>(opts: {
  issuer: string;
  tokenPath: string;
  /** The Client model; `current` is the request being handled (for per-request key selection). */
  clients: (current: () => T | undefined) => Adapter;
  algorithms: string[];
  accessTokenTtlSec: number;
  clockTolerance?: number;
  /** Throws errors.InvalidClientAuth for an assertion the IdP refuses beyond oidc-provider's own checks. */
  assertClaims: (claims: Record<string, unknown>) => void;
  reply: (request: T, ctx: ProviderContext) => Promise<void>;
}): ClientAssertionVerifier<T> {
  const requests = new AsyncLocalStorage<T>();
  const provider = new Provider(opts.issuer, {
    ...clientCredentialsProvider(opts.clients(() => requests.getStore())),
    enabledJWA: { clientAuthSigningAlgValues: opts.algorithms },
    routes: { token: opts.tokenPath },
    ttl: { ClientCredentials: opts.accessTokenTtlSec },
    ...(opts.clockTolerance === undefined ? {} : { clockTolerance: opts.clockTolerance }),
    assertJwtClientAuthClaimsAndHeader: async (_ctx: ProviderContext, claims: Record<string, unknown>) =>
      opts.assertClaims(claims),
  });
  return { handle: tokenRoute(provider, requests, opts.reply) };
}

/** The already-read request again as a stream for oidc-provider, optionally with another (form) body. */
export function providerRequest(req: Request, formBody?: string): IncomingMessage {
  const body = formBody === undefined ? req.body : Buffer.from(formBody);
  const headers =
    formBody === undefined
      ? req.raw.headers
      : {
          ...req.raw.headers,
          "content-type": "application/x-www-form-urlencoded",
          "content-length": String(body.length),
        };
  return Object.assign(Readable.from([body]), {
    headers,
    rawHeaders:
      formBody === undefined
        ? req.raw.rawHeaders
        : Object.entries(headers).flatMap(([k, v]) => [k, String(v)]),
    method: req.raw.method,
    url: req.raw.url,
    httpVersion: req.raw.httpVersion,
    httpVersionMajor: req.raw.httpVersionMajor,
    httpVersionMinor: req.raw.httpVersionMinor,
    socket: req.raw.socket,
    connection: req.raw.socket,
  }) as unknown as IncomingMessage;
}

/**
 * The oidc-provider configuration every fake IdP shares: clients from `clients` (rebuilt per request),
 * in-memory storage for the provider's own models, a fresh signing key, and only the client credentials
 * grant with `private_key_jwt`. Each fake adds its IdP's algorithms, routes, lifetimes and claim checks.
 */
export function clientCredentialsProvider(clients: Adapter): Record<string, unknown> {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const stores = new Map<string, MemoryAdapter>();
  return {
    adapter: (name: string) => {
      if (name === "Client") return clients;
      let store = stores.get(name);
      if (!store) stores.set(name, (store = new MemoryAdapter()));
      return store;
    },
    clients: [],
    jwks: {
      keys: [{ ...privateKey.export({ format: "jwk" }), kid: randomUUID(), alg: "RS256", use: "sig" }],
    },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    features: { devInteractions: { enabled: false }, clientCredentials: { enabled: true } },
    clientAuthMethods: ["private_key_jwt"],
  };
}

/**
 * Token requests through `provider`, each with its own request context in `requests` (which the client
 * adapter reads to build the JWKS): oidc-provider's rejection lands in `request.error`, and `reply` turns
 * the verdict into the IdP's own answer.
 */
export function tokenRoute<R extends { error?: ProviderError }>(
  provider: Provider,
  requests: AsyncLocalStorage<R>,
  reply: (request: R, ctx: ProviderContext) => Promise<void>,
): (request: R, req: IncomingMessage, res: ServerResponse) => Promise<void> {
  provider.on("grant.error", (_ctx, error) => {
    const request = requests.getStore();
    if (request) request.error = error;
  });
  provider.use(async (ctx, next) => {
    await next();
    const request = requests.getStore();
    if (request && ctx.oidc?.route === "token") await reply(request, ctx);
  });
  const callback = provider.callback();
  return (request, req, res) => requests.run(request, () => callback(req, res));
}
