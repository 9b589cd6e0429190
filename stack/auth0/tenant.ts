/**
 * The in-memory Auth0 tenant behind the fake: applications (clients), their `public_key` credentials,
 * client grants (which client may get tokens for which API, with which scopes) and issued Management API
 * tokens. Never imports src/.
 *
 * Error bodies follow the Management API v2 shape `{statusCode, error, message, errorCode}`
 * (e.g. https://support.auth0.com/center/s/article/Management-API-Token-from-API-Explorer-Tab-does-not-contain-expected-scopes:
 * `{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: example:scope","errorCode":"insufficient_scope"}`).
 */
import { X509Certificate, createPublicKey, randomBytes, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, type JWK } from "jose";
import { noteSecret } from "../common/capture.js";
import type { Reply } from "../common/server.js";

export type CredentialAlg = "RS256" | "RS384" | "PS256";
export const CREDENTIAL_ALGS: readonly CredentialAlg[] = ["RS256", "RS384", "PS256"];

export interface StoredCredential {
  id: string;
  name: string;
  kid: string;
  alg: CredentialAlg;
  publicKey: KeyObject;
  thumbprintSha256?: string;
  createdAt: Date;
  updatedAt: Date;
  expiresAt?: Date;
}

export interface StoredClient {
  clientId: string;
  name: string;
  clientSecret?: string;
  /** `client_secret_post`, `client_secret_basic`, `none`, or null once client_authentication_methods is set. */
  tokenEndpointAuthMethod: string | null;
  /** Credential ids attached to private_key_jwt; null when client_authentication_methods is not set. */
  attached: string[] | null;
  credentials: StoredCredential[];
  /** Client grants: API identifier (audience) -> scopes. */
  grants: Map<string, string[]>;
  /** `jwt_configuration.alg`: how the client's ID tokens are signed (RS256 for new applications). */
  jwtAlg: string;
}

export interface IssuedToken {
  clientId: string;
  audience: string;
  scopes: string[];
  expiresAt: number;
}

/** "The current application storage limit is two credentials at one time"
 * (https://auth0.com/docs/get-started/applications/rotate-credentials). */
export const MAX_CREDENTIALS = 2;

export function auth0Error(status: number, message: string, errorCode?: string): Reply {
  const error: Record<number, string> = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
  };
  return {
    status,
    body: {
      statusCode: status,
      error: error[status] ?? "Error",
      message,
      ...(errorCode ? { errorCode } : {}),
    },
  };
}

const ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
function randomId(length: number): string {
  return [...randomBytes(length)].map((b) => ALNUM[b % ALNUM.length]).join("");
}

/** 64 URL-safe characters, like the secrets Auth0 generates ("The generated secret is NOT base64 encoded"). */
const generatedSecret = () => randomBytes(48).toString("base64url");

export class Tenant {
  readonly clients = new Map<string, StoredClient>();
  readonly tokens = new Map<string, IssuedToken>();
  /** Plan switch: Private Key JWT "is only available on the Enterprise plan"
   * (https://auth0.com/docs/get-started/applications/configure-private-key-jwt). */
  privateKeyJwt = true;
  defaultAudience: string | undefined;

  createClient(input: {
    name: string;
    clientId?: string;
    clientSecret?: string;
    tokenEndpointAuthMethod?: string;
    jwtAlg?: string;
  }): StoredClient {
    const tokenEndpointAuthMethod = input.tokenEndpointAuthMethod ?? "client_secret_post";
    // "Leave client_secret unspecified to allow the generation of a safe secret" (post-clients): a
    // confidential client always has one.
    const clientSecret =
      input.clientSecret ?? (tokenEndpointAuthMethod === "none" ? undefined : generatedSecret());
    const client: StoredClient = {
      clientId: input.clientId ?? randomId(32),
      name: input.name,
      ...(clientSecret ? { clientSecret } : {}),
      tokenEndpointAuthMethod,
      attached: null,
      credentials: [],
      grants: new Map(),
      jwtAlg: input.jwtAlg ?? "RS256",
    };
    noteSecret("client-secret", clientSecret);
    this.clients.set(client.clientId, client);
    return client;
  }

  /** A new generated secret; the old one stops working at once (post-rotate-secret). */
  rotateSecret(client: StoredClient): void {
    client.clientSecret = generatedSecret();
    noteSecret("client-secret", client.clientSecret);
  }

  client(clientId: string): StoredClient {
    const c = this.clients.get(clientId);
    if (!c) throw new Error(`no client ${clientId}`);
    return c;
  }

  /** The credentials the token endpoint accepts: attached and not expired. */
  usableCredentials(client: StoredClient, now = Date.now()): StoredCredential[] {
    if (!this.privateKeyJwt || !client.attached) return [];
    return client.credentials.filter(
      (c) => client.attached?.includes(c.id) && (!c.expiresAt || c.expiresAt.getTime() > now),
    );
  }

  issueToken(clientId: string, audience: string, scopes: string[], lifetimeSec: number): string {
    const token = randomBytes(32).toString("base64url");
    noteSecret("access-token", token);
    this.tokens.set(token, { clientId, audience, scopes, expiresAt: Date.now() + lifetimeSec * 1000 });
    return token;
  }

  /** Parse and validate a credential create body; an Auth0 400 on bad input. */
  async buildCredential(
    client: StoredClient,
    body: Record<string, unknown>,
  ): Promise<StoredCredential | Reply> {
    const invalid = (m: string) => auth0Error(400, `Payload validation error: ${m}`, "invalid_body");
    if (body.credential_type !== "public_key")
      return invalid("'credential_type' must be one of [public_key, cert_subject_dn, x509_cert].");
    if (typeof body.pem !== "string") return invalid("Missing required property: pem.");
    const alg = body.alg ?? "RS256";
    if (typeof alg !== "string" || !CREDENTIAL_ALGS.includes(alg as CredentialAlg))
      return invalid(`'alg' must be one of [${CREDENTIAL_ALGS.join(", ")}].`);
    if (body.name !== undefined && typeof body.name !== "string") return invalid("'name' must be a string.");
    // "Valid format is [0-9a-zA-Z-_]{10,64}" (Management API reference, PostClientCredentialRequestContent.kid).
    if (body.kid !== undefined && (typeof body.kid !== "string" || !/^[0-9a-zA-Z_-]{10,64}$/.test(body.kid)))
      return invalid("String does not match pattern ^[0-9a-zA-Z-_]{10,64}$ (kid).");
    if (body.expires_at !== undefined && body.parse_expiry_from_cert === true)
      return invalid("expires_at and parse_expiry_from_cert are mutually exclusive.");
    let publicKey: KeyObject;
    let cert: X509Certificate | undefined;
    try {
      // "PEM-formatted public key (SPKI and PKCS1) or X509 certificate."
      cert = body.pem.includes("BEGIN CERTIFICATE") ? new X509Certificate(body.pem) : undefined;
      publicKey = cert ? cert.publicKey : createPublicKey(body.pem);
    } catch {
      return invalid("'pem' is not a valid PEM-formatted public key or certificate.");
    }
    if (publicKey.asymmetricKeyType !== "rsa") return invalid("'pem' must hold an RSA key.");
    let expiresAt: Date | undefined;
    if (body.parse_expiry_from_cert === true) {
      if (!cert) return invalid("parse_expiry_from_cert requires an X509 certificate in 'pem'.");
      expiresAt = new Date(cert.validTo);
    } else if (body.expires_at !== undefined) {
      if (typeof body.expires_at !== "string" || Number.isNaN(Date.parse(body.expires_at)))
        return invalid("'expires_at' must be an ISO 8601 date.");
      expiresAt = new Date(body.expires_at);
    }
    // "If not specified, a kid value will be auto-generated": the RFC 7638 thumbprint of the key
    // (https://auth0.com/docs/get-started/applications/configure-private-key-jwt).
    const kid =
      typeof body.kid === "string"
        ? body.kid
        : await calculateJwkThumbprint(publicKey.export({ format: "jwk" }) as JWK, "sha256");
    if (client.credentials.some((c) => c.kid === kid))
      return auth0Error(409, `A credential with kid ${kid} already exists for this client.`, "conflict");
    const now = new Date();
    return {
      id: `cred_${randomId(22)}`,
      name: typeof body.name === "string" ? body.name : "",
      kid,
      alg: alg as CredentialAlg,
      publicKey,
      ...(cert
        ? {
            thumbprintSha256: Buffer.from(cert.fingerprint256.replace(/:/g, ""), "hex").toString("base64url"),
          }
        : {}),
      createdAt: now,
      updatedAt: now,
      ...(expiresAt ? { expiresAt } : {}),
    };
  }
}

/** A credential as the Management API shows it (never the key itself). */
export function credentialView(c: StoredCredential): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    kid: c.kid,
    alg: c.alg,
    credential_type: "public_key",
    ...(c.thumbprintSha256 ? { thumbprint_sha256: c.thumbprintSha256 } : {}),
    created_at: c.createdAt.toISOString(),
    updated_at: c.updatedAt.toISOString(),
    ...(c.expiresAt ? { expires_at: c.expiresAt.toISOString() } : {}),
  };
}

/**
 * A client as GET /api/v2/clients/{id} shows it (the fields the fake models). `client_secret` only with
 * `withSecret` (a token with read:client_keys) and not once Private Key JWT is configured: "The
 * client_secret parameter will be hidden once the Private Key JWT configuration is complete"
 * (https://auth0.com/docs/get-started/applications/configure-private-key-jwt); it comes back when the client
 * is restored to a client secret method, since the secret itself is kept.
 */
export function clientView(c: StoredClient, withSecret = false): Record<string, unknown> {
  return {
    client_id: c.clientId,
    name: c.name,
    app_type: "non_interactive",
    ...(withSecret && c.clientSecret && !c.attached ? { client_secret: c.clientSecret } : {}),
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    jwt_configuration: { alg: c.jwtAlg },
    ...(c.attached
      ? {
          client_authentication_methods: {
            private_key_jwt: { credentials: c.attached.map((id) => ({ id })) },
          },
        }
      : {}),
  };
}
