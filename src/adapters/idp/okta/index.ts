/**
 * IdentityProvider for Okta over its REST APIs with undici (no SDK).
 *
 * Keys: the app's OAuth 2.0 client JSON Web Keys (okta/okta-management-openapi-spec,
 * dist/current/management-oneOfInheritance.yaml, tag ApplicationSSOPublicKeys):
 * - `GET /api/v1/apps/{appId}/credentials/jwks` lists them (a plain array; the spec's example wraps it in
 *   `jwks.keys`, so both are read). For an OIDC app the app id is its client id.
 * - `POST …/jwks` adds one; without `status` it is ACTIVE at once, so register() sends `status: INACTIVE`
 *   and the key becomes usable only through activate() (`POST …/jwks/{keyId}/lifecycle/activate`).
 * - withdraw() is `…/lifecycle/deactivate` (refused for the only active key of a private_key_jwt client);
 *   remove() is `DELETE …/jwks/{keyId}` (refused for an active key).
 * - At most 50 keys, unique `kid`s, RSA >= 2048 bits.
 * Auth: `Authorization: SSWS <API token>` (spec securitySchemes.apiToken).
 *
 * Proof: one client credentials request with a `private_key_jwt` assertion at
 * `<orgUrl>/oauth2/<authorizationServer>/v1/token` (or `/oauth2/v1/token`, the org authorization server),
 * `aud` = that URL (https://developer.okta.com/docs/guides/build-self-signed-jwt/java/main/), with the
 * scopes Kong sends: the `config.scopes` of the plugin entry the credential updates (read with the plugin),
 * unless `okta.scopes` overrides them. A custom authorization server refuses a client credentials request
 * without `scope` unless it has default scopes ("scope must be at least one custom scope",
 * https://developer.okta.com/docs/guides/implement-grant-type/clientcreds/main/; default scopes:
 * https://developer.okta.com/docs/guides/customize-authz-server/main/#create-scopes), and grants only
 * scopes its access policy allows, so a key is proven with the request Kong makes. Which refusals are
 * final is decided by the shared rule (src/http/token-request.ts `tokenRefusal`).
 *
 * Throttling: Okta answers 429 with `X-Rate-Limit-Reset` (UTC epoch seconds) rather than Retry-After
 * (https://developer.okta.com/docs/reference/rl-best-practices/); the wait is measured against the
 * response's `Date` header when present, so a skewed local clock does not shorten it. Okta sends the header
 * on every response, so only a 429's is a wait the server asks for. Which answers are retried is the shared
 * rule's (src/http/transient.ts); the proof is the shared one (src/http/token-request.ts).
 */
import type { Dispatcher } from "undici";
import { z } from "zod";
import { systemClock } from "../../../clock.js";
import type { JwsSigner } from "../../../crypto/jws.js";
import type { SigningAlg } from "../../../crypto/keymaterial.js";
import { RotatorError } from "../../../errors.js";
import {
  defaultRetryPolicy,
  parseRetryAfter,
  transportReason,
  withRetry,
  type RetryEvent,
  type RetryPolicy,
} from "../../../http/retry.js";
import { exchangeText, headerValue, HttpStatusError, retryDecision } from "../../../http/transient.js";
import { proveAtTokenEndpoint } from "../../../http/token-request.js";
import { secretStillUsable } from "../../../idp-rules.js";
import { OKTA_RULES } from "./rules.js";
import { oktaFailure, oktaRuleError, parseOktaError, type OktaOperation } from "./errors.js";
import type {
  Clock,
  IdentityProvider,
  IdpKey,
  IdpRules,
  IdpSecret,
  KongTokenRequest,
  PublicKeyMaterial,
  TokenAttempt,
} from "../../../ports/engine.js";
import type { IdpFinding } from "../../../ports/diagnosis.js";

export interface OktaIdpConfig {
  /** https://<your-org>.okta.com (or a custom domain). */
  orgUrl: string;
  /** Custom authorization server id (e.g. "default"); omitted for the org authorization server. */
  authorizationServer?: string;
  /** The OIDC app's client id, which is also its app id. */
  clientId: string;
  /** The resolved API token (SSWS). Never logged or returned. */
  token: string;
  /** Scopes for the proof request instead of the Kong plugin's `config.scopes` (an override). */
  scopes?: string[];
}

export interface OktaIdpOptions {
  clock?: Clock;
  retry?: Partial<RetryPolicy>;
  onRetry?: (event: RetryEvent) => void;
}

const jwkSchema = z.object({
  id: z.string(),
  kid: z.string().nullish(),
  kty: z.string(),
  use: z.string().nullish(),
  n: z.string().nullish(),
  status: z.string(),
});
const listSchema = z.union([z.array(jwkSchema), z.object({ jwks: z.object({ keys: z.array(jwkSchema) }) })]);
type RawJwk = z.infer<typeof jwkSchema>;

/**
 * Okta's wait: `X-Rate-Limit-Reset` against the server's `Date`, else Retry-After. A reset already past
 * (clock skew, a window that just turned) gives no server wait, so the policy's backoff applies instead
 * of an immediate retry.
 */
export function oktaRetryAfter(headers: Dispatcher.ResponseData["headers"], now: Date): number | undefined {
  const reset = Number(headerValue(headers, "x-rate-limit-reset"));
  if (Number.isFinite(reset) && reset > 0) {
    const date = Date.parse(headerValue(headers, "date") ?? "");
    const wait = reset * 1000 - (Number.isNaN(date) ? now.getTime() : date);
    return wait > 0 ? wait : undefined;
  }
  return parseRetryAfter(headerValue(headers, "retry-after"), now);
}

/** The wait a transient answer asks for: the reset of a 429, Retry-After otherwise. */
function oktaWait(
  status: number,
  headers: Dispatcher.ResponseData["headers"],
  now: Date,
): number | undefined {
  return status === 429
    ? oktaRetryAfter(headers, now)
    : parseRetryAfter(headerValue(headers, "retry-after"), now);
}

const toIdpKey = (k: RawJwk): IdpKey => ({
  id: k.id,
  ...(k.kid ? { kid: k.kid } : {}),
  usable: k.status === "ACTIVE",
});

export class OktaIdentityProvider implements IdentityProvider {
  readonly kind = "okta";
  readonly rules: IdpRules = OKTA_RULES.rules;
  readonly client: string;
  private readonly orgUrl: string;
  private readonly tokenEndpoint: string;
  private readonly clock: Clock;
  private readonly policy: RetryPolicy;

  constructor(
    private readonly config: OktaIdpConfig,
    private readonly options: OktaIdpOptions = {},
  ) {
    const bad = (field: string, why: string) =>
      new RotatorError(
        "OKTA_CONFIG_INVALID",
        `okta.${field} ${why}`,
        `Set okta.${field} in the credential's configuration.`,
        {
          details: { field },
        },
      );
    let url: URL;
    try {
      url = new URL(config.orgUrl);
    } catch {
      throw bad("orgUrl", "is not a URL");
    }
    if (url.protocol !== "https:") throw bad("orgUrl", "must be an https URL");
    if (!config.clientId) throw bad("clientId", "is empty");
    if (!config.token) throw bad("token", "resolved to an empty secret");
    if (config.authorizationServer !== undefined && !/^[A-Za-z0-9_-]+$/.test(config.authorizationServer))
      throw bad("authorizationServer", "must be an authorization server id such as `default`");
    this.orgUrl = url.origin;
    this.tokenEndpoint =
      config.authorizationServer === undefined
        ? `${this.orgUrl}/oauth2/v1/token`
        : `${this.orgUrl}/oauth2/${config.authorizationServer}/v1/token`;
    this.clock = options.clock ?? systemClock;
    this.policy = { ...defaultRetryPolicy, ...options.retry };
    this.client = `${OKTA_RULES.clientNoun} ${config.clientId}`;
  }

  private retryOptions(): { policy: RetryPolicy; clock: Clock; onRetry?: (event: RetryEvent) => void } {
    return {
      policy: this.policy,
      clock: this.clock,
      ...(this.options.onRetry ? { onRetry: this.options.onRetry } : {}),
    };
  }

  private jwksPath(keyId?: string, action?: "activate" | "deactivate"): string {
    const base = `/api/v1/apps/${encodeURIComponent(this.config.clientId)}/credentials/jwks`;
    if (keyId === undefined) return base;
    return `${base}/${encodeURIComponent(keyId)}${action ? `/lifecycle/${action}` : ""}`;
  }

  /** One management call with the shared retry policy; a final non-2xx becomes a typed error. */
  private async call(
    op: OktaOperation,
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }> {
    let result: { status: number; text: string };
    try {
      result = await withRetry(
        (_attempt, signal) =>
          exchangeText(
            this.orgUrl + path,
            {
              method,
              headers: {
                authorization: `SSWS ${this.config.token}`,
                accept: "application/json",
                ...(body === undefined ? {} : { "content-type": "application/json" }),
              },
              ...(body === undefined ? {} : { body: JSON.stringify(body) }),
              signal,
            },
            (status, headers) => oktaWait(status, headers, this.clock.now()),
          ),
        (e) => retryDecision(e),
        this.retryOptions(),
      );
    } catch (e) {
      if (e instanceof HttpStatusError) throw oktaFailure(op, e.status, parseOktaError(e.answer ?? ""));
      throw new RotatorError(
        "OKTA_UNREACHABLE",
        `Okta did not answer ${op} (${transportReason(e)})`,
        "Check okta.orgUrl and the network path to Okta.",
        {
          retryable: true,
          details: { operation: op },
        },
      );
    }
    if (result.status >= 300) throw oktaFailure(op, result.status, parseOktaError(result.text));
    if (!result.text) return { status: result.status, json: undefined };
    try {
      return { status: result.status, json: JSON.parse(result.text) as unknown };
    } catch {
      throw new RotatorError(
        "OKTA_BAD_RESPONSE",
        `Okta answered ${op} with a body that is not JSON`,
        "Check that okta.orgUrl points at the Okta org.",
        {
          details: { operation: op },
        },
      );
    }
  }

  private async rawKeys(): Promise<RawJwk[]> {
    const { json } = await this.call("listKeys", "GET", this.jwksPath());
    const parsed = listSchema.safeParse(json);
    if (!parsed.success)
      throw new RotatorError(
        "OKTA_BAD_RESPONSE",
        "Okta listed the app's keys in an unexpected shape",
        "Check that okta.orgUrl points at the Okta org.",
        {
          details: {
            operation: "listKeys",
            issues: parsed.error.issues.map((i) => i.path.join(".")).slice(0, 5),
          },
        },
      );
    const keys = Array.isArray(parsed.data) ? parsed.data : parsed.data.jwks.keys;
    // Signing keys only: encryption keys (`use: enc`) are not client authentication keys.
    return keys.filter((k) => k.use !== "enc");
  }

  async listKeys(): Promise<IdpKey[]> {
    return (await this.rawKeys()).map(toIdpKey);
  }

  async register(material: PublicKeyMaterial): Promise<IdpKey> {
    if (!this.rules.algorithms.includes(material.alg))
      throw new RotatorError(
        "OKTA_ALG_UNSUPPORTED",
        `Okta does not accept ${material.alg} client assertions`,
        `Use one of ${this.rules.algorithms.join(", ")} for Okta credentials (Kong's JWK alg).`,
        { details: { alg: material.alg } },
      );
    const same = (keys: RawJwk[]) => keys.find((k) => k.kid === material.kid);
    const existingOrConflict = (k: RawJwk): IdpKey => {
      if (k.n === material.jwk.n) return toIdpKey(k);
      throw new RotatorError(
        "OKTA_KID_CONFLICT",
        "the Okta app already holds a different key with this kid",
        "A kid must identify one key; remove the other key or use a new certificate.",
        {
          details: { kid: material.kid, keyId: k.id },
        },
      );
    };
    const keys = await this.rawKeys();
    const found = same(keys);
    if (found) return existingOrConflict(found);
    if (keys.length >= this.rules.maxKeys)
      throw oktaRuleError("OKTA_KEY_LIMIT", { keys: keys.length, maxKeys: this.rules.maxKeys });
    try {
      const { json } = await this.call("addKey", "POST", this.jwksPath(), {
        kty: "RSA",
        kid: material.kid,
        alg: material.alg,
        use: "sig",
        e: material.jwk.e,
        n: material.jwk.n,
        // Staged: without `status` Okta activates the key at once (spec: default ACTIVE).
        status: "INACTIVE",
      });
      const parsed = jwkSchema.safeParse(json);
      if (parsed.success) return toIdpKey(parsed.data);
    } catch (e) {
      // A retried POST whose first attempt landed is refused as a duplicate kid: the key is there.
      if (!(e instanceof RotatorError && e.code === "OKTA_KID_CONFLICT")) throw e;
      const landed = same(await this.rawKeys());
      if (landed) return existingOrConflict(landed);
      throw e;
    }
    const again = same(await this.rawKeys());
    if (again) return existingOrConflict(again);
    throw new RotatorError(
      "OKTA_BAD_RESPONSE",
      "Okta accepted the key but does not list it",
      "Retry; if it persists, check the app's keys in the Okta Admin Console.",
      {
        details: { kid: material.kid },
      },
    );
  }

  async activate(key: IdpKey): Promise<void> {
    await this.call("activateKey", "POST", this.jwksPath(key.id, "activate"));
  }

  async withdraw(key: IdpKey): Promise<void> {
    await this.call("deactivateKey", "POST", this.jwksPath(key.id, "deactivate"));
  }

  async remove(key: IdpKey): Promise<void> {
    try {
      await this.call("deleteKey", "DELETE", this.jwksPath(key.id));
    } catch (e) {
      // Already gone (a retried DELETE whose first attempt landed): the outcome asked for.
      if (!(e instanceof RotatorError && e.code === "OKTA_KEY_NOT_FOUND")) throw e;
    }
  }

  readonly secretMigration = OKTA_RULES.secretMigration;

  private appPath(): string {
    return `/api/v1/apps/${encodeURIComponent(this.config.clientId)}`;
  }

  /**
   * The app's client secrets (GET /api/v1/apps/{appId}/credentials/secrets, okta.apps.read). Okta returns
   * each secret in full; only its id, status, first three characters and dates are kept.
   */
  async listSecrets(): Promise<IdpSecret[]> {
    const { json } = await this.call("listSecrets", "GET", `${this.appPath()}/credentials/secrets`);
    const rows = Array.isArray(json) ? json : [];
    return rows.flatMap((r): IdpSecret[] => {
      if (typeof r !== "object" || r === null) return [];
      const row = r as Record<string, unknown>;
      if (typeof row.id !== "string") return [];
      const value = typeof row.client_secret === "string" ? row.client_secret : undefined;
      return [
        {
          id: row.id,
          ...(value ? { hint: value.slice(0, 3) } : {}),
          usable: row.status === "ACTIVE",
        },
      ];
    });
  }

  /**
   * Switch the app's token_endpoint_auth_method to private_key_jwt: GET the app and PUT it back whole
   * (replaceApplication) with only the method changed. Okta then deletes the app's client secrets and
   * requires at least one ACTIVE key, which publish has registered. Idempotent.
   */
  async switchToKeys(): Promise<void> {
    const { json } = await this.call("getApp", "GET", this.appPath());
    const app = typeof json === "object" && json !== null ? (json as Record<string, unknown>) : {};
    const credentials = (app.credentials ?? {}) as Record<string, unknown>;
    const oauthClient = (credentials.oauthClient ?? {}) as Record<string, unknown>;
    if (oauthClient.token_endpoint_auth_method === "private_key_jwt") return;
    // A client secret in the body is refused with private_key_jwt, and must not travel anyway.
    const { client_secret: _dropped, ...rest } = oauthClient;
    await this.call("replaceApp", "PUT", this.appPath(), {
      ...app,
      credentials: {
        ...credentials,
        oauthClient: { ...rest, token_endpoint_auth_method: "private_key_jwt" },
      },
    });
  }

  async retireSecret(secret: IdpSecret): Promise<void> {
    const still = (await this.listSecrets()).find((s) => s.id === secret.id && s.usable);
    if (still) throw secretStillUsable(this.client, secret.id);
  }

  async verify(signer: JwsSigner, alg: SigningAlg, kong?: KongTokenRequest): Promise<TokenAttempt> {
    const scopes = this.proofScopes(kong);
    if ("unusable" in scopes) return scopes.unusable;
    // The assertion's `kid` is the signer's x5t: the kid registered for the key.
    return proveAtTokenEndpoint(
      {
        endpoint: this.tokenEndpoint,
        clientId: this.config.clientId,
        signer,
        alg,
        params: scopes.sent.length ? { scope: scopes.sent.join(" ") } : {},
        refusal: {
          algorithmAllowed: this.rules.algorithms.includes(alg),
          scopes,
          scopeOverride: "okta.scopes",
        },
        retryAfter: oktaWait,
      },
      this.retryOptions(),
    );
  }

  /** Registration needs no proof of possession at Okta (IdpRules.proofOfPossession): nothing to foresee. */
  async preflightRegister(): Promise<RotatorError | undefined> {
    return undefined;
  }

  verifyHint(x5t: string): string {
    return `check that key ${x5t} is registered and active for ${this.client}`;
  }

  /** The app's settings rotation depends on are checked by its calls; the scopes Kong sends, by doctor. */
  async diagnose(): Promise<IdpFinding[]> {
    return [];
  }

  /**
   * The scopes the proof sends and where they come from: `okta.scopes` when set, else the Kong plugin's
   * `config.scopes`. Unknown when no Kong target could be read (a retryable attempt: Kong may be back on
   * the next probe); a vault reference among them cannot be resolved by the rotator (final).
   */
  private proofScopes(
    kong: KongTokenRequest | undefined,
  ): { sent: string[]; from: string; kong: boolean } | { unusable: TokenAttempt } {
    if (this.config.scopes) return { sent: this.config.scopes, from: "okta.scopes", kong: false };
    if (!kong?.scopes)
      return {
        unusable: {
          ok: false,
          code: "KONG_SCOPES_UNKNOWN",
          description: "no Kong target could be read, so the scopes Kong sends to Okta are unknown",
          retryable: true,
        },
      };
    const from = `config.scopes of ${kong.source ?? "the Kong plugin"}`;
    if (kong.scopes.some((x) => x.startsWith("{vault://")))
      return {
        unusable: {
          ok: false,
          code: "KONG_SCOPES_REFERENCED",
          description: `${from} holds a vault reference, which the rotator cannot resolve`,
          retryable: false,
          hint: "Set okta.scopes to the scopes the reference resolves to, so that keys are proven with the request Kong makes.",
        },
      };
    return { sent: kong.scopes, from, kong: true };
  }
}
