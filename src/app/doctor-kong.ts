/**
 * doctor lines about how a Kong target is deployed: its kind, the gateways behind it (data planes, DB-less
 * nodes, Konnect nodes) and their sync state, what write permission the rotator needs, and the Kong version
 * against the multi-client JWK signing fix. Pure: built from a KongDiagnosis (public facts only).
 */
import { kongKind } from "../adapters/kong/registry.js";
import type { CredentialConfig, VaultReferenceConfig } from "../config/load.js";
import { judgeVaultEntity, sameVault } from "../engine/vault-entity.js";
import type { KongDiagnosis, KongVaultDiagnosis } from "../ports/diagnosis.js";
import type { Check } from "./checks.js";

type Line = Omit<Check, "area" | "target">;

/**
 * "switching clients within a single request (via client_arg) failed to use the matching client's JWK" is
 * fixed in 3.10.0.16, 3.12.0.9, 3.13.0.8, 3.14.0.9 and 3.15.0.1 (openid-connect changelog,
 * shared/facts/kong-modes-vaults-idps.md §9). A minor line absent here (3.11, < 3.10) has no fixed release.
 */
const MULTI_CLIENT_FIX: Record<string, string> = {
  "3.10": "3.10.0.16",
  "3.12": "3.12.0.9",
  "3.13": "3.13.0.8",
  "3.14": "3.14.0.9",
  "3.15": "3.15.0.1",
};

const parts = (v: string): number[] => (/^\d+(?:\.\d+)*/.exec(v)?.[0] ?? "").split(".").map((x) => Number(x));

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Does this Kong (Enterprise) version sign with the matching client's JWK when a plugin has several clients? */
export function hasMultiClientFix(version: string): boolean | undefined {
  const v = parts(version);
  if (v.length < 2 || v.some((x) => Number.isNaN(x))) return undefined;
  const minor = `${v[0]}.${v[1]}`;
  const fix = MULTI_CLIENT_FIX[minor];
  if (fix) return compare(v, parts(fix)) >= 0;
  return compare(v, [3, 15]) > 0;
}

/** The access review, when the target could ask the platform (KongDiagnosis.access). */
function accessChecks(d: KongDiagnosis): Line[] {
  if (!d.access) return [];
  const doc = kongKind(d.kind).wording.permissionsDoc;
  const denied = d.access.filter((a) => a.required && !a.allowed);
  const optional = d.access.filter((a) => !a.required && !a.allowed);
  const out: Line[] = [];
  if (denied.length)
    out.push({
      status: "fail",
      code: "KONG_ACCESS_DENIED",
      message: `the rotator's identity may not ${denied.map((a) => a.permission).join("; ")}`,
      hint: `Grant ${denied.map((a) => a.grant).join("; and ")} (${doc}).`,
    });
  if (optional.length)
    out.push({
      status: "warn",
      code: "KONG_ACCESS_OPTIONAL",
      message: `the rotator's identity may not ${optional.map((a) => a.permission).join("; ")}; rotations work without it`,
      hint: `Grant ${optional.map((a) => a.grant).join("; and ")} to sharpen confirmation (failures seen at once).`,
    });
  if (!denied.length)
    out.push({
      status: "pass",
      code: "KONG_ACCESS",
      message: `the platform grants every permission the target needs: ${d.access
        .filter((a) => a.allowed)
        .map((a) => a.permission)
        .join("; ")}`,
    });
  return out;
}

export function deploymentChecks(d: KongDiagnosis): Line[] {
  const { wording, capabilities } = kongKind(d.kind);
  const out: Line[] = [];
  out.push({
    status: "info",
    code: "KONG_WRITE_PERMISSION",
    message: `the rotator writes this ${d.kind} target with ${wording.permissions}; reads passed, the first apply proves the write`,
    hint: "doctor never writes Kong. See README 'Supported Kong deployments' for the permissions per kind.",
  });
  out.push(...accessChecks(d));
  if (d.gateways) {
    const live = d.gateways.filter((g) => g.live && !g.error);
    const what = wording.gateway;
    const stale = d.gateways.filter((g) => !g.live && !g.error).map((g) => g.name);
    const broken = d.gateways.filter((g) => g.error);
    const hashes = new Set(live.map((g) => g.configHash ?? ""));
    const behind = live.filter((g) => g.inSync === false).map((g) => g.name);
    out.push({
      status: live.length === 0 || broken.length ? "warn" : "pass",
      code: "KONG_GATEWAYS",
      message:
        `${live.length} live ${what}(s): ${live.map((g) => `${g.name}${g.version ? ` (${g.version})` : ""}`).join(", ") || "none"}` +
        (stale.length ? `; ignored (not seen recently): ${stale.join(", ")}` : "") +
        (broken.length
          ? `; unreadable: ${broken.map((g) => `${g.name} (${g.error ?? "?"})`).join(", ")}`
          : ""),
      ...(live.length === 0 || broken.length
        ? {
            hint:
              live.length === 0
                ? `No live ${what}: nothing would serve the key. A rotation confirms vacuously; check the ${what}s' connection.`
                : "Fix the unreadable nodes' URLs or tokens: the rotator writes and confirms every node.",
          }
        : {}),
    });
    if (behind.length || (capabilities.oneConfigAcrossGateways && hashes.size > 1))
      out.push({
        status: "warn",
        code: "KONG_GATEWAYS_OUT_OF_SYNC",
        message: `${what}(s) not on one config: ${(behind.length ? behind : live.map((g) => `${g.name}=${(g.configHash ?? "?").slice(0, 8)}`)).join(", ")}`,
        hint: "A rotation waits for every live gateway to take the new config (up to maxLag); check why these lag before rotating.",
      });
  }
  const versions = [
    ...new Set(
      [d.node.version, ...(d.gateways ?? []).filter((g) => g.live).map((g) => g.version)].filter(
        (v): v is string => v !== undefined,
      ),
    ),
  ];
  const multi = d.plugins.filter((p) => (p.clients ?? 0) > 1);
  if (multi.length) {
    const old = versions.filter((v) => hasMultiClientFix(v) === false);
    if (old.length)
      out.push({
        status: "warn",
        code: "KONG_MULTI_CLIENT_JWK",
        message: `plugin(s) ${multi.map((p) => p.pluginId).join(", ")} list several clients, and Kong ${old.join(", ")} may sign with another client's JWK when a request switches clients`,
        hint: "Fixed in Kong Gateway 3.10.0.16, 3.12.0.9, 3.13.0.8, 3.14.0.9 and 3.15.0.1: upgrade, or give our client its own plugin.",
      });
  }
  return out;
}

/** The line a kind adds when its node cannot be written the way it is configured (a DB-less node behind adminUrl). */
export function readOnlyNodeChecks(d: KongDiagnosis): Line[] {
  const note = kongKind(d.kind).wording.readOnlyNode;
  return d.node.database === "off" && note ? [{ status: "fail", ...note }] : [];
}

/** The Key Vault a target's reference secrets go to: vaultReference.keyVaultUrl, else the credential's certificate vault. */
export function referenceVault(ref: VaultReferenceConfig, certificateVault: string): string {
  return ref.keyVaultUrl ?? certificateVault;
}

/**
 * Doctor lines about Kong's vault entity (or entities, one per DB-less node) for the target's prefix: the
 * engine's rule (src/engine/vault-entity.ts), so that doctor fails exactly where a write of references would
 * be refused.
 */
function vaultEntityLines(v: KongVaultDiagnosis, expected: string): Line[] {
  return judgeVaultEntity(v, expected).map(({ verdict, code, message, hint }) => ({
    status: verdict === "refuse" ? "fail" : verdict,
    code,
    message: verdict === "refuse" ? `${message}; activation refuses to write references to it` : message,
    ...(hint ? { hint } : {}),
  }));
}

/**
 * Vault-reference mode (README "Vault-reference mode"): the mode, Kong's vault entity, where Kong's identity
 * needs which role, and whether our entry still holds the private key inline. `certificateVault` is the
 * credential's Key Vault (its certificate's vault).
 */
export function vaultReferenceChecks(
  cred: CredentialConfig,
  target: string,
  d: KongDiagnosis,
  certificateVault: string,
): Line[] {
  const ref = cred.kong.find((t) => t.name === target)?.vaultReference;
  if (!ref) return [];
  const vault = referenceVault(ref, certificateVault);
  const out: Line[] = [
    {
      status: "info",
      code: "KONG_VAULT_REFERENCE",
      message: `private JWK members go to Key Vault secrets ${ref.secretPrefix}${cred.name}-<x5t> in ${vault}, referenced through Kong vault '${ref.prefix}'`,
      hint: "See docs/permissions.md 'Vault-reference mode'.",
    },
    // Kong authenticates with its own identity (client secret env var, managed or workload identity); the
    // rotator cannot act as it. Successful gateway logins (KONG_DRIFT-free sync, the verify step) are the
    // evidence that Kong resolves the references.
    {
      status: "info",
      code: "KONG_VAULT_READER",
      message: `Kong's identity needs Key Vault Secrets User (get secret) on ${vault}; doctor cannot act as Kong's identity, so it checks the secret with its own and the entity's vault_uri`,
      hint: "Assign Key Vault Secrets User to Kong's identity on the reference vault only (infra parameter kongPrincipalId). A gateway login through the references is the proof.",
    },
  ];
  if (sameVault(vault, certificateVault))
    out.push({
      status: "warn",
      code: "KONG_VAULT_SHARES_CERTIFICATES",
      message: `the reference secrets share ${vault} with the certificates: Key Vault Secrets User there lets Kong's identity read every certificate's backing secret, i.e. every credential's private key`,
      hint: "Set vaultReference.keyVaultUrl to a vault that holds only the reference secrets. Per-secret role assignments do not fit, since each generation has a new secret name.",
    });
  for (const v of d.vaults ?? []) out.push(...vaultEntityLines(v, vault));
  const caveat = kongKind(d.kind).wording.vaultReference;
  if (caveat) out.push({ status: "warn", ...caveat });
  const inline = d.plugins.filter((p) => p.clientIndex >= 0 && !p.jwkIsFallback && p.jwkPrivate === "inline");
  if (inline.length)
    out.push({
      status: "warn",
      code: "KONG_JWK_INLINE",
      message: `plugin(s) ${inline.map((p) => p.pluginId).join(", ")} hold our private key inline; the next activation replaces it with references`,
      hint: "Rotate (rotate --force) to move the key into Key Vault; until then the private key sits in Kong's configuration (docs/migration.md).",
    });
  return out;
}
