/**
 * What one gateway node keeps between requests for the openid-connect plugin, for the login probe
 * (./probe.ts) and the Admin API routes that manage it (./fake.ts):
 *
 * - The token cache. Kong's plugin caches token endpoint responses in the node cache (`kong.cache`, shared
 *   by the node's workers) when `config.cache_tokens` is true, the default, under
 *   `oic:` + base64(SHA-256(`<issuer>#grant_type=<grant>&<credentials>[&<cache_tokens_salt>]`)), unpadded
 *   (kong/plugins/openid-connect/cache.lua `tokens.load`, handler.lua passes `cache_tokens_salt`). An entry
 *   lives until the token's `expires_in` (bounded by `cache_ttl_min`/`cache_ttl_max`; `cache_ttl` when the
 *   response has none) and is used without asking the IdP. The key holds the issuer, the grant's
 *   credentials and the salt, never the client's JWK: changing `client_jwk` (a rotation, a compromise
 *   response) does not touch cached tokens, while a new `cache_tokens_salt` makes every old key unreachable.
 *   The probe caches the gateway client's own login under the client_credentials key with its client id,
 *   its client secret (empty for `private_key_jwt`) and the salt. That key stands in for the keys of the
 *   grants the plugin really caches with the gateway's client authentication (password and refresh_token,
 *   whose keys hold end-user credentials the fake does not have): like them it outlives a key change.
 * - `purge()`: what `DELETE /cache` does on that node ("purging (local) cache", kong/cache/init.lua; the
 *   route purges `kong.cache` and `kong.core_cache`, kong/api/routes/cache.lua), and what every declarative
 *   reconfiguration does (DB-less `POST /config`, a hybrid data plane applying a full config from its control
 *   plane, KIC's pushes: "flushing caches as part of the reconfiguration", kong/runloop/handler.lua;
 *   kong/db/declarative/import.lua `load_into_cache`). Plugin writes on a node with a database only post
 *   entity invalidations, which leave the token cache alone. `invalidate(key)`: `DELETE /cache/{key}`
 *   (`invalidate_local`, this node only).
 * - The discovery cache (`oic_issuers`: in the database, or in memory on DB-less nodes and data planes;
 *   cache.lua `issuers`): one row per issuer with the discovery document and the keys of its `jwks_uri`, kept
 *   until `DELETE /openid-connect/issuers[/{id}]` (./fake.ts). `DELETE /cache` does not remove the rows.
 * - The plugin's own JWKS (`oic_jwks`, `GET`/`DELETE /openid-connect/jwks`): generated on first use, replaced
 *   by a DELETE ("triggering an automatic key rotation"). The probe does not sign with it.
 *
 * Not reproduced: the other `oic:` entries (introspection, user info, token exchange), entity entries of
 * `kong.cache`/`kong.core_cache`, per-worker caches, `cache_ttl_neg`/`cache_ttl_resurrect`, the shadow page
 * of a reconfiguration, `cluster_cache_strategy` (Redis; it shares the introspection cache only).
 */
import { createHash, randomUUID } from "node:crypto";
import { noteSecret } from "../common/capture.js";
import { generateRsaJwk } from "./seed.js";

export interface CachedTokens {
  /** Kong's cache key (`oic:…`). */
  key: string;
  clientId: string;
  /** How the token was obtained: the JWK's kid, or the first characters of the secret. */
  via: { method: string; kid?: string; secretHint?: string };
  /** The token endpoint's response body (holds the access token). */
  tokens: Record<string, unknown>;
  /** `exp` of the cached value, epoch seconds; 0 when the response had no `expires_in`. */
  exp: number;
  cachedAt: number;
  /** When the node cache drops the entry (its TTL). */
  expiresAt: number;
}

export interface IssuerRow {
  id: string;
  issuer: string;
  /** The discovery document, JSON (Kong stores it as a string). */
  configuration: string;
  /** The `jwks_uri` keys, JSON array. */
  keys: string;
  created_at: number;
  updated_at: number;
}

/** `oic:` + base64(SHA-256(issuer#grant_type=client_credentials&id&secret[&salt])), without padding. */
export function tokenCacheKey(issuer: string, clientId: string, secret: string, salt?: string): string {
  const material = `${issuer}#grant_type=client_credentials&${clientId}&${secret}${salt ? `&${salt}` : ""}`;
  return `oic:${createHash("sha256").update(material).digest("base64").replace(/=+$/, "")}`;
}

/** The TTL Kong gives a cached token response (cache.lua `get_expiry_and_cache_ttl`), in seconds. */
export function cacheTtlSeconds(expiresIn: number | undefined, config: Record<string, unknown>): number {
  const num = (v: unknown) => (typeof v === "number" && v > 0 ? v : undefined);
  const max = num(config.cache_ttl_max);
  const min = num(config.cache_ttl_min);
  let fallback = num(config.cache_ttl) ?? 3600;
  if (max && fallback > max) fallback = max;
  if (min && fallback < min) fallback = min;
  if (expiresIn === undefined) return fallback;
  if (max && expiresIn > max) return max;
  if (min && expiresIn < min) return min;
  return expiresIn;
}

export const normalizeIssuer = (issuer: string) => issuer.replace(/\/$/, "");

export class GatewayNode {
  private readonly tokens = new Map<string, CachedTokens>();
  readonly issuers = new Map<string, IssuerRow>();
  private jwks: Record<string, string>[] | undefined;
  /** How many times the node cache was purged (Admin API or reconfiguration). */
  purges = 0;

  /** A live cached token response, or undefined (an expired entry is dropped, as the node cache does). */
  cachedTokens(key: string): CachedTokens | undefined {
    const e = this.tokens.get(key);
    if (!e) return undefined;
    const now = Date.now();
    if (e.expiresAt <= now || (e.exp !== 0 && e.exp * 1000 <= now)) {
      this.tokens.delete(key);
      return undefined;
    }
    return e;
  }

  storeTokens(entry: CachedTokens): void {
    const token = entry.tokens.access_token;
    if (typeof token === "string") noteSecret("access-token", token);
    this.tokens.set(entry.key, entry);
  }

  /** The node's live token entries (tests). */
  tokenEntries(): CachedTokens[] {
    return [...this.tokens.keys()].flatMap((k) => this.cachedTokens(k) ?? []);
  }

  /** `GET /cache/{key}`: the TTL left and the cached value (Kong returns the Lua table {exp, tokens, headers}). */
  probe(key: string): { ttl: number; value: unknown } | undefined {
    const e = this.cachedTokens(key);
    if (!e) return undefined;
    return { ttl: Math.max(0, Math.round((e.expiresAt - Date.now()) / 1000)), value: [e.exp, e.tokens, {}] };
  }

  invalidate(key: string): void {
    this.tokens.delete(key);
  }

  purge(): void {
    this.tokens.clear();
    this.purges++;
  }

  issuerRow(issuer: string): IssuerRow | undefined {
    return this.issuers.get(normalizeIssuer(issuer));
  }

  storeIssuer(issuer: string, configuration: string, keys: string): IssuerRow {
    const t = Math.floor(Date.now() / 1000);
    const row: IssuerRow = {
      id: randomUUID(),
      issuer: normalizeIssuer(issuer),
      configuration,
      keys,
      created_at: t,
      updated_at: t,
    };
    this.issuers.set(row.issuer, row);
    return row;
  }

  /** The plugin's own signing keys, generated on first use. */
  ownJwks(): Record<string, string>[] {
    this.jwks ??= [generateRsaJwk({ alg: "RS256" })];
    return this.jwks;
  }

  rotateOwnJwks(): void {
    this.jwks = [generateRsaJwk({ alg: "RS256" })];
  }
}
