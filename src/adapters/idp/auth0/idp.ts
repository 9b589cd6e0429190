/**
 * IdentityProvider (src/ports/engine.ts) for Auth0: the key lifecycle of the rotated application, over the
 * Management API session (./management.ts), proven at the Authentication API's token endpoint
 * (./token-endpoint.ts), with its errors (./errors.ts). undici, no SDK.
 *
 * - Credentials: `POST /api/v2/clients/{id}/credentials` {credential_type: "public_key", name, pem, alg,
 *   kid, parse_expiry_from_cert}, `GET …/credentials`, `DELETE …/credentials/{credential_id}`
 *   (https://auth0.com/docs/api/management/v2/clients/post-credentials). `kid` "should match" the JWT
 *   header's kid; without one Auth0 assigns the RFC 7638 thumbprint.
 * - Attach/detach: `PATCH /api/v2/clients/{id}` with `client_authentication_methods.private_key_jwt.credentials`
 *   sent whole; the first attach sets `token_endpoint_auth_method: null` in the same PATCH, as the example
 *   in https://auth0.com/docs/get-started/applications/configure-private-key-jwt does (the two are mutually
 *   exclusive).
 * - "The current application storage limit is two credentials at one time"; a credential is disabled
 *   (detached) before it is deleted (https://auth0.com/docs/get-started/applications/rotate-credentials).
 */
import { createHash } from "node:crypto";
import type { JwsSigner } from "../../../crypto/jws.js";
import type { SigningAlg } from "../../../crypto/keymaterial.js";
import { RotatorError } from "../../../errors.js";
import type { IdpFinding } from "../../../ports/diagnosis.js";
import { secretStillUsable } from "../../../idp-rules.js";
import type {
  IdentityProvider,
  IdpKey,
  IdpRules,
  IdpSecret,
  PublicKeyMaterial,
  TokenAttempt,
} from "../../../ports/engine.js";
import { HINTS } from "./errors.js";
import {
  Auth0ManagementSession,
  type Auth0SessionOptions,
  type ClientJson,
  type CredentialJson,
} from "./management.js";
import { AUTH0_RULES } from "./rules.js";
import { proveAuth0Key } from "./token-endpoint.js";

export interface Auth0IdpConfig {
  /** The tenant's canonical domain, like example.eu.auth0.com (the Management API audience is derived from it). */
  domain?: string;
  /** Overrides `https://<domain>` (tests, the local stack). */
  baseUrl?: string;
  /** The application whose credentials are rotated (the client Kong authenticates as). */
  clientId: string;
  /** A Machine-to-Machine application authorized for the Management API; the secret already resolved. */
  management: { clientId: string; clientSecret: string };
  /** Sent as `audience` by verify(); unset, like Kong, so the tenant's default audience applies. */
  audience?: string;
}

export type Auth0IdpOptions = Auth0SessionOptions;

/** "Valid format is [0-9a-zA-Z-_]{10,64}" (PostClientCredentialRequestContent.kid). */
const KID_FORMAT = /^[0-9a-zA-Z_-]{10,64}$/;

/**
 * "To configure `client_authentication_methods`, the property `jwt_configuration.alg` must be set to RS256"
 * (https://auth0.com/docs/api/management/v2/clients/patch-clients-by-id).
 */
function jwtAlgProblem(client: ClientJson, clientId: string): RotatorError | undefined {
  const alg = client.jwt_configuration?.alg;
  if (alg === undefined || alg === "RS256") return undefined;
  return new RotatorError(
    "AUTH0_JWT_ALG",
    `Auth0 client ${clientId} signs its ID tokens with ${alg}; Private Key JWT can only be configured with RS256`,
    HINTS.jwtAlg,
    { details: { alg } },
  );
}

/** RFC 7638 JWK thumbprint of an RSA key: Auth0's default kid. */
export function rsaThumbprint(jwk: { n: string; e: string }): string {
  return createHash("sha256")
    .update(JSON.stringify({ e: jwk.e, kty: "RSA", n: jwk.n }))
    .digest("base64url");
}

const attachedIds = (client: ClientJson): string[] | null => {
  const pk = client.client_authentication_methods?.private_key_jwt as { credentials?: unknown } | undefined;
  if (!pk || !Array.isArray(pk.credentials)) return null;
  return pk.credentials
    .map((c: unknown) => (c && typeof c === "object" ? (c as { id?: unknown }).id : undefined))
    .filter((id): id is string => typeof id === "string");
};

export class Auth0IdentityProvider implements IdentityProvider {
  readonly kind = "auth0";
  readonly rules: IdpRules = AUTH0_RULES.rules;
  readonly client: string;
  private readonly session: Auth0ManagementSession;

  constructor(
    private readonly config: Auth0IdpConfig,
    options: Auth0IdpOptions = {},
  ) {
    const base = config.baseUrl ?? (config.domain ? `https://${config.domain}` : undefined);
    if (!base)
      throw new RotatorError(
        "AUTH0_CONFIG_INVALID",
        "The Auth0 credential needs a domain",
        "Set auth0.domain, like example.eu.auth0.com.",
      );
    this.client = `${AUTH0_RULES.clientNoun} ${config.clientId}`;
    this.session = new Auth0ManagementSession(
      { base: base.replace(/\/+$/, ""), clientId: config.clientId, management: config.management },
      options,
    );
  }

  get tokenEndpoint(): string {
    return this.session.tokenEndpoint;
  }

  async listKeys(): Promise<IdpKey[]> {
    const [client, credentials] = await Promise.all([
      this.session.readClient(),
      this.session.listCredentials(),
    ]);
    const attached = attachedIds(client) ?? [];
    return credentials.map((c) => this.toKey(c, attached));
  }

  async register(material: PublicKeyMaterial): Promise<IdpKey> {
    if (!this.rules.algorithms.includes(material.alg))
      throw new RotatorError("AUTH0_ALG_UNSUPPORTED", `Auth0 does not take ${material.alg} here`, HINTS.alg);
    const kid = KID_FORMAT.test(material.kid) ? material.kid : undefined;
    const { found: existing, credentials: current } = await this.findRegistered(material, kid);
    if (existing) return existing;
    if (current.length >= this.rules.maxKeys)
      throw new RotatorError(
        "AUTH0_CREDENTIAL_LIMIT",
        `Client ${this.config.clientId} already holds ${current.length} credentials (at most ${this.rules.maxKeys})`,
        HINTS.limit,
        { details: { credentialIds: current.map((c) => c.id) } },
      );
    const body = {
      credential_type: "public_key",
      name: material.displayName.slice(0, 128),
      pem: material.certPem,
      alg: material.alg,
      parse_expiry_from_cert: true,
      ...(kid ? { kid } : {}),
    };
    try {
      const created = (await this.session.call(
        "create-credential",
        "POST",
        `/credentials`,
        body,
        `a credential for client ${this.config.clientId}`,
      )) as CredentialJson;
      return this.toKey(created, []);
    } catch (e) {
      // A POST whose answer was lost may have taken effect: a retry then meets the kid (409), or the
      // retries ran out. Return the credential if it is registered.
      if (e instanceof RotatorError && (e.status === 409 || e.retryable)) {
        const again = await this.findRegistered(material, kid).catch(() => undefined);
        if (again?.found) return again.found;
      }
      throw e;
    }
  }

  async activate(key: IdpKey): Promise<void> {
    const client = await this.session.readClient();
    const attached = attachedIds(client);
    if (attached?.includes(key.id)) return;
    const problem = jwtAlgProblem(client, this.config.clientId);
    if (problem) throw problem;
    await this.patchAttached(client, [...(attached ?? []), key.id]);
  }

  readonly secretMigration = AUTH0_RULES.secretMigration;

  /** The client's one secret, usable while token_endpoint_auth_method is a secret method (never its value). */
  async listSecrets(): Promise<IdpSecret[]> {
    const method = (await this.session.readClient()).token_endpoint_auth_method;
    return [
      {
        id: "client_secret",
        usable: method === "client_secret_post" || method === "client_secret_basic",
      },
    ];
  }

  async switchToKeys(): Promise<void> {
    // Attaching the first credential (publish) already switched the client.
  }

  async retireSecret(secret: IdpSecret): Promise<void> {
    if ((await this.listSecrets()).some((s) => s.id === secret.id && s.usable))
      throw secretStillUsable(this.client, secret.id);
  }

  async diagnose(): Promise<IdpFinding[]> {
    const client = await this.session.readClient();
    const problem = jwtAlgProblem(client, this.config.clientId);
    const out: IdpFinding[] = [
      problem
        ? { status: "fail", code: problem.code, message: problem.message, hint: problem.hint }
        : {
            status: "pass",
            code: "AUTH0_JWT_ALG_OK",
            message: `Auth0 client ${this.config.clientId}: jwt_configuration.alg allows Private Key JWT`,
          },
    ];
    if (client.token_endpoint_auth_method)
      out.push({
        status: "warn",
        code: "AUTH0_SECRET_AUTH",
        message: `Auth0 client ${this.config.clientId} authenticates with ${client.token_endpoint_auth_method}; the first key the rotator attaches switches it to Private Key JWT`,
        hint: "client_authentication_methods and token_endpoint_auth_method are mutually exclusive: once a credential is attached the client secret no longer authenticates. Move every user of the secret to private_key_jwt first.",
      });
    return out;
  }

  /** Registration needs no proof of possession at Auth0 (IdpRules.proofOfPossession): nothing to foresee. */
  async preflightRegister(): Promise<RotatorError | undefined> {
    return undefined;
  }

  verifyHint(x5t: string): string {
    return `check that key ${x5t} is registered and active for ${this.client}`;
  }

  async withdraw(key: IdpKey): Promise<void> {
    const client = await this.session.readClient();
    const attached = attachedIds(client);
    if (!attached?.includes(key.id)) return;
    const rest = attached.filter((id) => id !== key.id);
    if (rest.length === 0)
      throw new RotatorError(
        "AUTH0_LAST_CREDENTIAL",
        `Credential ${key.id} is the only one attached to client ${this.config.clientId}`,
        HINTS.lastCredential,
      );
    await this.patchAttached(client, rest);
  }

  async remove(key: IdpKey): Promise<void> {
    const client = await this.session.readClient();
    if (attachedIds(client)?.includes(key.id))
      throw new RotatorError(
        "AUTH0_CREDENTIAL_ATTACHED",
        `Credential ${key.id} is attached to client ${this.config.clientId}; it can't be deleted`,
        HINTS.attached,
      );
    try {
      await this.session.call(
        "delete-credential",
        "DELETE",
        `/credentials/${encodeURIComponent(key.id)}`,
        undefined,
        `credential ${key.id}`,
      );
    } catch (e) {
      if (e instanceof RotatorError && e.code === "AUTH0_NOT_FOUND") return; // already gone
      throw e;
    }
  }

  verify(signer: JwsSigner, alg: SigningAlg): Promise<TokenAttempt> {
    return proveAuth0Key(
      {
        tokenEndpoint: this.tokenEndpoint,
        clientId: this.config.clientId,
        ...(this.config.audience ? { audience: this.config.audience } : {}),
      },
      signer,
      alg,
      this.session.retry,
    );
  }

  private toKey(c: CredentialJson, attached: string[]): IdpKey {
    return {
      id: c.id,
      ...(c.kid ? { kid: c.kid } : {}),
      usable: attached.includes(c.id),
      ...(c.name ? { displayName: c.name } : {}),
      ...(c.expires_at ? { expiresAt: c.expires_at } : {}),
    };
  }

  /** The credential already registered for this key: same kid, or Auth0's default kid for its public key. */
  private async findRegistered(
    material: PublicKeyMaterial,
    kid: string | undefined,
  ): Promise<{ found: IdpKey | undefined; credentials: CredentialJson[] }> {
    const thumbprint = rsaThumbprint(material.jwk);
    const [client, credentials] = await Promise.all([
      this.session.readClient(),
      this.session.listCredentials(),
    ]);
    const found = credentials.find((c) => (kid !== undefined && c.kid === kid) || c.kid === thumbprint);
    return { found: found ? this.toKey(found, attachedIds(client) ?? []) : undefined, credentials };
  }

  /** PATCH the whole attached list; the first attach also clears token_endpoint_auth_method. */
  private async patchAttached(client: ClientJson, ids: string[]): Promise<void> {
    const body = {
      client_authentication_methods: {
        ...(client.client_authentication_methods ?? {}),
        private_key_jwt: { credentials: ids.map((id) => ({ id })) },
      },
      ...(client.token_endpoint_auth_method !== null ? { token_endpoint_auth_method: null } : {}),
    };
    await this.session.call("update-client", "PATCH", "", body, `client ${this.config.clientId}`);
  }
}
