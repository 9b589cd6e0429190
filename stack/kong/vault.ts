/**
 * Kong vault references for the gateway fakes: `{vault://<prefix>/<secret>/<json-key>}` in referenceable
 * fields, resolved through an Azure Key Vault vault entity with Kong's own identity. Used by the Kong fake
 * (vaults added with `addVault`), the Konnect fake's nodes (the control plane's vault entities plus each
 * node's own credentials) and the Kubernetes fake's proxy pods (`KongVault` resources plus the pods'
 * credentials): `azureVaultFromEntity` joins an entity configured elsewhere with the gateway's own
 * `AZURE_CLIENT_SECRET`, which no entity field holds.
 *
 * Real behaviours reproduced (sources: kong/pdk/vault.lua in github.com/Kong/kong; Kong's Azure vault docs
 * app/gateway/vault/azure.md; /work/shared/facts/kong-modes-vaults-idps.md §5):
 * - Reference form `{vault://<prefix-or-name>/<resource>/<key>}`; `<key>` is looked up in the secret's
 *   value parsed as a flat JSON object and must be a string (`extract_key_from_json_string`).
 * - The vault entity is found by its prefix, or by the backend name `azure`.
 * - The Azure backend reads `GET {vault_uri}/secrets/{name}` with a token for https://vault.azure.net from
 *   the client-credentials flow (`AZURE_CLIENT_SECRET` + client_id + tenant_id; lua-resty-azure
 *   ClientCredentials).
 * - The cache is keyed by the reference string; with `ttl` 0 (the Azure default) a cached value is never
 *   re-read, so a changed value under the same reference is not picked up, and a new reference string is a
 *   cache miss fetched at once.
 * - A failed fetch resolves the field to "" (changelog 3.4.1/3.5.0 "fallback to empty string"), so the
 *   gateway signs with no usable key and logins fail.
 *
 * - Each vault is also a Vault entity as the Admin API returns it (`entity()`, served by `GET /vaults` and
 *   `GET /vaults/{id or prefix}` in ./fake.ts): `{id, name: "azure", prefix, description, config, tags,
 *   created_at, updated_at}` (Admin API EE spec, schema Vault); `config` carries the Azure backend's fields
 *   (https://developer.konghq.com/gateway/entities/vault/azure/), unset ones as null, and never the client
 *   secret, which Kong reads from the AZURE_CLIENT_SECRET env var only.
 *
 * Not reproduced: `ttl` > 0 / the rotation timer, `neg_ttl` (a failure is not cached), `resurrect_ttl`,
 * `#version` fragments, per-reference `?ttl=` options, writing vaults through the Admin API (they are added
 * with `addVault`), other backends, managed or workload identity (a gateway without a client secret fails
 * every fetch), the node's KONG_VAULT_AZURE_* env config for references that name the backend `azure`
 * without an entity of that prefix.
 */
import { randomUUID } from "node:crypto";
import { send } from "./probe.js";
import { isRecord } from "./validate.js";

export interface AzureVaultSpec {
  /** The vault entity's prefix (references may also use the backend name `azure`). */
  prefix: string;
  vaultUri: string;
  tenantId: string;
  clientId: string;
  /** Kong's AZURE_CLIENT_SECRET; without it the node has no credential and every fetch fails. */
  clientSecret?: string;
  /** Where the Azure backend gets tokens (login.microsoftonline.com in Azure). */
  authorityHost: string;
  ttl?: number;
}

/**
 * What a gateway node brings to a vault entity configured elsewhere (a Konnect control plane, a `KongVault`
 * resource): the client secret from its own environment (`AZURE_CLIENT_SECRET`, the only place Kong reads it
 * from) and where its Azure client gets tokens.
 */
export interface AzureNodeCredentials {
  clientSecret?: string;
  authorityHost: string;
}

/** The Azure backend's `config` as a Vault entity carries it (unset fields null, never the client secret). */
export function azureVaultConfig(v: {
  vaultUri: string;
  tenantId: string;
  clientId: string;
  ttl?: number;
}): Record<string, unknown> {
  return {
    vault_uri: v.vaultUri,
    tenant_id: v.tenantId,
    client_id: v.clientId,
    location: null,
    type: "secrets",
    ttl: v.ttl ?? null,
    neg_ttl: null,
    resurrect_ttl: null,
  };
}

/**
 * A node's resolver spec for a vault entity it received (`name` is the backend; KIC's `spec.backend`) with
 * the node's own credentials; undefined for another backend or a config without the Azure fields.
 */
export function azureVaultFromEntity(
  entity: { name: string; prefix: string; config: Record<string, unknown> },
  credentials: AzureNodeCredentials,
): AzureVaultSpec | undefined {
  const c = entity.config;
  if (entity.name !== "azure") return undefined;
  if (typeof c.vault_uri !== "string" || typeof c.tenant_id !== "string" || typeof c.client_id !== "string")
    return undefined;
  return {
    prefix: entity.prefix,
    vaultUri: c.vault_uri,
    tenantId: c.tenant_id,
    clientId: c.client_id,
    authorityHost: credentials.authorityHost,
    ...(credentials.clientSecret !== undefined ? { clientSecret: credentials.clientSecret } : {}),
    ...(typeof c.ttl === "number" ? { ttl: c.ttl } : {}),
  };
}

export type VaultEntity = Record<string, unknown> & { id: string; prefix: string };

const REFERENCE = /^\{vault:\/\/([^/{}]+)\/([^/{}]+)\/([^/{}#?]+)\}$/;
const KEY_VAULT_SCOPE = "https://vault.azure.net/.default";

export class KongVaults {
  private readonly vaults: (AzureVaultSpec & { id: string; createdAt: number })[] = [];
  private readonly cache = new Map<string, string>();
  private configured = "[]";
  /** Key Vault reads made (one per cache miss), for tests. */
  fetches = 0;

  constructor(private readonly ca: string) {}

  add(spec: AzureVaultSpec): void {
    if ((spec.ttl ?? 0) !== 0) throw new Error("kong fake: only vault ttl 0 is reproduced");
    this.vaults.push({ ...spec, id: randomUUID(), createdAt: Math.floor(Date.now() / 1000) });
  }

  /** The vault entities, as `GET /vaults/{id or prefix}` returns them. */
  entities(): VaultEntity[] {
    return this.vaults.map((v) => ({
      id: v.id,
      name: "azure",
      prefix: v.prefix,
      description: null,
      config: azureVaultConfig(v),
      tags: null,
      created_at: v.createdAt,
      updated_at: v.createdAt,
    }));
  }

  /**
   * Replace the vault entities, as a node does when it receives a config with another set; a changed set
   * starts an empty cache (Kong's shared cache is keyed by the vault's config as well as the reference).
   */
  configure(specs: AzureVaultSpec[]): void {
    const key = JSON.stringify(specs);
    if (key === this.configured) return;
    this.configured = key;
    this.vaults.length = 0;
    this.cache.clear();
    for (const spec of specs) this.add(spec);
  }

  static isReference(v: unknown): v is string {
    return typeof v === "string" && REFERENCE.test(v);
  }

  /** The value Kong uses for a field: the resolved reference, "" when it cannot be fetched. */
  async resolve(reference: string): Promise<string> {
    const cached = this.cache.get(reference);
    if (cached !== undefined) return cached;
    const m = REFERENCE.exec(reference);
    const vault = m && this.vaults.find((v) => v.prefix === m[1] || m[1] === "azure");
    if (!m || !vault) return "";
    const value = await this.fetch(vault, m[2] ?? "", m[3] ?? "").catch(() => undefined);
    if (value === undefined) return "";
    this.cache.set(reference, value);
    return value;
  }

  /** A copy of a client_jwk entry with every reference resolved. */
  async resolveEntry(entry: Record<string, unknown>): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(entry))
      out[k] = KongVaults.isReference(v) ? await this.resolve(v) : v;
    return out;
  }

  private async fetch(vault: AzureVaultSpec, secret: string, key: string): Promise<string | undefined> {
    // No AZURE_CLIENT_SECRET: the credential chain's next links (workload, managed identity) are not reproduced.
    if (vault.clientSecret === undefined) return undefined;
    this.fetches++;
    const token = await send(
      `${vault.authorityHost.replace(/\/+$/, "")}/${vault.tenantId}/oauth2/v2.0/token`,
      this.ca,
      10_000,
      {
        grant_type: "client_credentials",
        client_id: vault.clientId,
        client_secret: vault.clientSecret,
        scope: KEY_VAULT_SCOPE,
      },
    );
    const accessToken = isRecord(token.body) ? token.body.access_token : undefined;
    if (token.status !== 200 || typeof accessToken !== "string") return undefined;
    const res = await send(
      `${vault.vaultUri.replace(/\/+$/, "")}/secrets/${encodeURIComponent(secret)}?api-version=7.4`,
      this.ca,
      10_000,
      undefined,
      { authorization: `Bearer ${accessToken}` },
    );
    const value = isRecord(res.body) ? res.body.value : undefined;
    if (res.status !== 200 || typeof value !== "string") return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      return undefined;
    }
    const member = isRecord(parsed) ? parsed[key] : undefined;
    return typeof member === "string" ? member : undefined;
  }
}
