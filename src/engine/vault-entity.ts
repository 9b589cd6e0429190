/**
 * Vault-reference mode: is Kong's vault entity, where the gateways will look for it, one that resolves our
 * references? One rule, used by the engine before every write that puts `{vault://…}` references into a
 * plugin (activation, rollback, sync; ./kong.ts) and by `doctor` (src/app/doctor-kong.ts).
 *
 * Why it matters: Kong resolves a reference it cannot fetch to "" (changelog 3.4.1/3.5.0, "fallback to empty
 * string"; /work/shared/facts/kong-modes-vaults-idps.md §5), so a prefix Kong has no vault for, a vault
 * reading another Key Vault, or a KIC KongVault that is not Programmed turns a write into an outage of every
 * gateway login at once. The check runs before anything is written to Kong; a refusal keeps the old key.
 *
 * Facts (src/adapters/kong/common/vault.ts reads the entity): the Azure Key Vault backend's `name` is `azure`, and
 * its `config.vault_uri` names the vault (https://developer.konghq.com/gateway/entities/vault/azure/); the
 * prefix `azure` without an entity means the node's KONG_VAULT_AZURE_* environment, which no API returns.
 */
import type { VaultReferenceConfig } from "../config/load.js";
import { RotatorError } from "../errors.js";
import type { CertificateStore, KongTarget } from "../ports/engine.js";
import type { KongVaultDiagnosis } from "../ports/diagnosis.js";
import { vaultSecretUnsupported } from "./errors.js";
import { referenceSecrets } from "./vault-ref.js";

/** The Azure Key Vault backend's name (Kong: "The vault `name` must be `azure`"). */
export const AZURE_BACKEND = "azure";

/** A Key Vault URL compared as Kong would reach it: lower-case, without trailing '/'. */
export const sameVault = (a: string, b: string): boolean =>
  a.replace(/\/+$/, "").toLowerCase() === b.replace(/\/+$/, "").toLowerCase();

/**
 * One finding about a vault entity. `refuse`: no write may put references to it (doctor reports a failure);
 * the others are for doctor only.
 */
export interface VaultEntityFinding {
  verdict: "refuse" | "warn" | "info" | "pass";
  code: string;
  message: string;
  hint?: string;
  /** A refusal that may clear by itself (a read that failed, a controller that has not caught up). */
  transient?: boolean;
}

/**
 * The rule: what Kong's vault entity `v` means for references to secrets in Key Vault `expected` (the vault
 * that holds them). Refused: no entity with the prefix, a read that failed, another backend, an entity its
 * controller has not applied (KIC `Programmed` False or Unknown), no `vault_uri`, or another vault. The
 * prefix `azure` without an entity (the node's environment) cannot be read by any API: allowed, said.
 */
export function judgeVaultEntity(v: KongVaultDiagnosis, expected: string): VaultEntityFinding[] {
  const at = v.where ? ` on ${v.where}` : "";
  const name = `vault '${v.prefix}'${at}`;
  switch (v.state) {
    case "missing":
      return [
        {
          verdict: "refuse",
          code: "KONG_VAULT_ENTITY_MISSING",
          message: `Kong has no vault entity with prefix '${v.prefix}'${at}: Kong would resolve our references to "" and logins would fail`,
          hint: `Add an azure vault entity with prefix '${v.prefix}' and config.vault_uri ${expected} (docs/migration.md "Inline keys to vault references"), or set vaultReference.prefix to the existing one.`,
        },
      ];
    case "env":
      return [
        {
          verdict: "info",
          code: "KONG_VAULT_ENV",
          message: `the prefix 'azure' is the backend name: Kong${at} uses the node's KONG_VAULT_AZURE_* environment, which no API shows`,
          hint: `Check on every node that KONG_VAULT_AZURE_VAULT_URI is ${expected} (and TENANT_ID/CLIENT_ID are Kong's identity), or use a vault entity with a prefix of its own so that it can be checked.`,
        },
      ];
    case "error":
      return [
        {
          verdict: "refuse",
          code: "KONG_VAULT_UNREADABLE",
          message: `${name} could not be read (${v.error}): whether Kong can resolve our references is unknown`,
          hint:
            v.hint ??
            "Give the rotator's Kong credential read access to the vault entities (RBAC on /vaults), or check the gateway's connection.",
          transient: true,
        },
      ];
    case "found": {
      if (v.backend !== AZURE_BACKEND)
        return [
          {
            verdict: "refuse",
            code: "KONG_VAULT_BACKEND",
            message: `${name} uses the ${v.backend} backend, not azure: it cannot read our Key Vault secrets`,
            hint: `Point vaultReference.prefix at an azure vault entity whose config.vault_uri is ${expected}.`,
          },
        ];
      const out: VaultEntityFinding[] = [];
      if (v.notApplied?.state === "refused")
        out.push({
          verdict: "refuse",
          code: "KONG_VAULT_NOT_APPLIED",
          message: `${name} was refused by its controller (${v.notApplied.detail}): Kong has no such vault and would resolve our references to ""`,
          hint: "Fix the resource (kubectl describe kongvault <name>, and the controller's logs).",
        });
      else if (v.notApplied?.state === "pending")
        out.push({
          verdict: "refuse",
          code: "KONG_VAULT_NOT_APPLIED",
          message: `${name} is not applied to Kong yet (${v.notApplied.detail}): until it is, Kong would resolve our references to ""`,
          hint: "Its controller has not processed it: check that the Kong Ingress Controller (3.1+) runs and watches KongVaults. The next run checks again.",
          transient: true,
        });
      if (v.vaultUri === undefined)
        out.push({
          verdict: "refuse",
          code: "KONG_VAULT_URI_UNSET",
          message: `${name} has no config.vault_uri: the node's KONG_VAULT_AZURE_VAULT_URI applies, which no API shows, so it may read another vault`,
          hint: `Set config.vault_uri to ${expected} on the vault entity.`,
        });
      else if (!sameVault(v.vaultUri, expected))
        out.push({
          verdict: "refuse",
          code: "KONG_VAULT_URI_MISMATCH",
          message: `${name} reads ${v.vaultUri}, but our reference secrets are in ${expected}: Kong would resolve our references to ""`,
          hint: "Set the vault entity's config.vault_uri to the reference vault, or set vaultReference.keyVaultUrl / keyVault.url to the vault Kong reads.",
        });
      else if (!out.some((f) => f.verdict === "refuse"))
        out.push({
          verdict: "pass",
          code: "KONG_VAULT_ENTITY",
          message: `${name} is an azure vault reading ${v.vaultUri}${v.clientId ? ` as client ${v.clientId}` : ""}`,
        });
      // Kong re-reads a cached value only when its ttl is due (kong/pdk/vault.lua); our references never
      // change value (a new generation is a new secret name), so a ttl only costs Key Vault reads.
      if ((v.ttl ?? 0) > 0)
        out.push({
          verdict: "info",
          code: "KONG_VAULT_TTL",
          message: `${name} has ttl ${v.ttl ?? 0} s: harmless, each generation has its own secret name and a value never changes under a reference; the ttl only makes Kong re-read the same value`,
        });
      return out;
    }
  }
}

/** Where the references of a target point: its vaultReference and the vault holding the secrets. */
function referencesOf(
  store: Pick<CertificateStore, "secrets" | "secretsAt">,
  target: string,
  ref: VaultReferenceConfig,
): string {
  const secrets = referenceSecrets(store, ref);
  if (!secrets) throw vaultSecretUnsupported(target);
  return secrets.vaultUrl;
}

/**
 * Before a write that puts references into `target`'s plugins: read Kong's vault entity where its gateways
 * look and refuse (KONG_VAULT_* with the rule's hint) unless every one resolves references to the vault that
 * holds our secrets. Nothing is written anywhere before or by this check.
 */
export async function checkVaultEntity(
  store: Pick<CertificateStore, "secrets" | "secretsAt">,
  target: KongTarget,
  ref: VaultReferenceConfig,
): Promise<void> {
  const expected = referencesOf(store, target.name, ref);
  for (const v of await target.vaults(ref.prefix)) {
    const refusal = judgeVaultEntity(v, expected).find((f) => f.verdict === "refuse");
    if (refusal)
      throw new RotatorError(
        refusal.code,
        `Kong target ${target.name}: ${refusal.message}. Nothing was written to Kong; the gateways keep the current key`,
        refusal.hint ?? "Fix the vault entity, then run again.",
        {
          retryable: refusal.transient === true,
          details: { target: target.name, prefix: ref.prefix, ...(v.where ? { where: v.where } : {}) },
        },
      );
  }
}
