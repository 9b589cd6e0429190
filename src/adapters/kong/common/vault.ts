/**
 * Vault-reference mode: read Kong's vault entity for a target's configured prefix, for doctor.
 *
 * - Admin API: `GET /vaults/{VaultIdOrPrefix}` and `/{workspace}/vaults/{VaultIdOrPrefix}` ("Get a Vault
 *   using ID or prefix", operationId get-vault; 200 Vault, 404 "Resource does not exist") in the Admin API EE
 *   spec (shared/fixtures/kong/admin-api-ee.3.10.openapi.yaml). Reads work on a DB-less node too (only
 *   writes answer 405).
 * - Konnect: `GET /control-planes/{controlPlaneId}/core-entities/vaults/{VaultId}`, described as "Get a Vault
 *   using ID or prefix" (stack/konnect/fixtures/konnect-control-planes-config.v2.openapi.yaml).
 * - The Vault entity is `{id, name, prefix, config, description, tags, ...}`; `name` is the backend, which is
 *   `azure` for Azure Key Vault, whose config holds `vault_uri, tenant_id, client_id, location, type, ttl,
 *   neg_ttl, resurrect_ttl` (https://developer.konghq.com/gateway/entities/vault/azure/; the client secret has
 *   no entity field, it is the node's AZURE_CLIENT_SECRET env var).
 * - A reference may name the backend itself (`{vault://azure/...}`): without an entity of that prefix, the
 *   node's `KONG_VAULT_AZURE_*` env config applies, which no API returns.
 */
import { AZURE_BACKEND } from "../../../engine/vault-entity.js";
import { isRotatorError } from "../../../errors.js";
import type { KongVaultDiagnosis } from "../../../ports/diagnosis.js";

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** Public facts of a Vault entity body; undefined when the body is not one. */
export function parseVaultEntity(
  body: unknown,
  prefix: string,
  where?: string,
): KongVaultDiagnosis | undefined {
  if (!isRecord(body) || typeof body.name !== "string") return undefined;
  const c = isRecord(body.config) ? body.config : {};
  const d: KongVaultDiagnosis = { prefix, state: "found", backend: body.name };
  if (where !== undefined) d.where = where;
  const uri = str(c.vault_uri);
  if (uri !== undefined) d.vaultUri = uri;
  const tenant = str(c.tenant_id);
  if (tenant !== undefined) d.tenantId = tenant;
  const client = str(c.client_id);
  if (client !== undefined) d.clientId = client;
  if (typeof c.ttl === "number") d.ttl = c.ttl;
  return d;
}

/**
 * Read the vault entity at `path` (already prefixed with the workspace or control plane). Never throws:
 * a failure is a diagnosis (doctor reports it next to the other lines).
 */
export async function readVaultEntity(
  get: (path: string) => Promise<unknown>,
  path: string,
  prefix: string,
  where?: string,
): Promise<KongVaultDiagnosis> {
  const at = where === undefined ? {} : { where };
  try {
    const parsed = parseVaultEntity(await get(path), prefix, where);
    return parsed ?? { prefix, ...at, state: "error", error: `GET ${path} did not return a vault entity` };
  } catch (e) {
    if (isRotatorError(e) && e.code === "KONG_NOT_FOUND")
      return { prefix, ...at, state: prefix === AZURE_BACKEND ? "env" : "missing" };
    const err = isRotatorError(e) ? `${e.code}: ${e.message}` : "unreadable";
    return { prefix, ...at, state: "error", error: err };
  }
}

/** The path segment of the vault entity for a prefix. */
export const vaultPath = (prefix: string): string => `vaults/${encodeURIComponent(prefix)}`;
