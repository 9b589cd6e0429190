/**
 * Vault-reference mode, the part doctor and adopt check with the rotator's own identity: the Key Vault
 * secret(s) our plugin entry references exist, are enabled, are JSON and hold the six private members as
 * strings whose primes match the public modulus Kong advertises. Values are never returned or printed.
 *
 * What the rotator cannot check: that Kong's identity may read them (it cannot authenticate as Kong; Azure
 * role assignments live in ARM, which the rotator has no role on). doctor-kong.ts explains that role
 * (KONG_VAULT_READER); a gateway login through the references is the proof.
 */
import type { CredentialConfig } from "../config/load.js";
import { isRotatorError } from "../errors.js";
import { privateMembersProblem, referenceSecrets, SECRET_CONTENT_TYPE } from "../engine/vault-ref.js";
import type { CertificateStore, PlainSecrets } from "../ports/engine.js";
import type { KongDiagnosis } from "../ports/diagnosis.js";
import type { Check } from "./checks.js";
import { referenceVault } from "./doctor-kong.js";

type Line = Omit<Check, "area" | "target">;

/** A `KongPluginDiagnosis.jwkReferences` entry, `<vault prefix>/<secret name>`. */
function splitReference(r: string): { prefix: string; secret: string } | undefined {
  const [prefix, secret, ...rest] = r.split("/");
  return prefix && secret && rest.length === 0 ? { prefix, secret } : undefined;
}

/** One line about one referenced secret, read with the rotator's identity. `n`: the key's public modulus. */
export async function referencedSecretLine(
  secrets: PlainSecrets,
  vault: string,
  name: string,
  n: string | undefined,
): Promise<Line> {
  const what = `Key Vault secret ${name} in ${vault}`;
  let got: { value: string; contentType?: string };
  try {
    got = await secrets.get(name);
  } catch (e) {
    if (isRotatorError(e) && (e.code === "KV_NOT_FOUND" || e.code === "KV_VERSION_DISABLED"))
      return {
        status: "fail",
        code: "KONG_VAULT_SECRET_MISSING",
        message: `${what} is ${e.code === "KV_NOT_FOUND" ? "absent" : "disabled"}, but our plugin entry references it: Kong resolves it to "" on its next fetch (restart, new node, cache miss) and logins fail`,
        hint: "Restore or re-enable the secret (Key Vault soft delete), or run `rotate --force` to write a new generation's secret and references.",
      };
    if (isRotatorError(e) && e.code === "KV_FORBIDDEN")
      return {
        status: "fail",
        code: "KONG_VAULT_SECRET_FORBIDDEN",
        message: `the rotator may not read ${what}`,
        hint: "Give the rotator's identity Key Vault Secrets Officer on the reference vault (it writes, reads back and disables these secrets).",
      };
    const err = isRotatorError(e) ? e.code : "unreadable";
    return {
      status: "warn",
      code: "KONG_VAULT_SECRET_UNREADABLE",
      message: `${what} could not be read (${err})`,
      hint: "Check the reference vault's URL, network access and availability.",
    };
  }
  const problem = privateMembersProblem(got.value, n);
  if (problem)
    return {
      status: "fail",
      code: "KONG_VAULT_SECRET_INVALID",
      message: `${what} cannot serve our references: ${problem}`,
      hint: "Run `rotate --force`: the next generation's secret is written and read back before the plugin changes.",
    };
  if (got.contentType !== SECRET_CONTENT_TYPE)
    return {
      status: "warn",
      code: "KONG_VAULT_SECRET_CONTENT_TYPE",
      message: `${what} holds the private members but has content type ${got.contentType ?? "(none)"}, not ${SECRET_CONTENT_TYPE}`,
      hint: "Kong parses the value regardless; the rotator writes application/json on the next generation.",
    };
  return {
    status: "pass",
    code: "KONG_VAULT_SECRET",
    message: `${what} is enabled, ${SECRET_CONTENT_TYPE}, and holds the six private members of the key in the plugin (p·q = n)`,
  };
}

/**
 * doctor: check every secret our entries reference (with the target's reference vault). Entries still
 * inline have nothing to check (KONG_JWK_INLINE says so).
 */
export async function referenceSecretChecks(
  store: Pick<CertificateStore, "secrets" | "secretsAt">,
  cred: CredentialConfig,
  target: string,
  d: KongDiagnosis,
  certificateVault: string,
): Promise<Line[]> {
  const ref = cred.kong.find((t) => t.name === target)?.vaultReference;
  if (!ref) return [];
  const secrets = referenceSecrets(store, ref);
  const vault = referenceVault(ref, certificateVault);
  const out: Line[] = [];
  const seen = new Set<string>();
  for (const p of d.plugins) {
    if (p.clientIndex < 0 || p.jwkIsFallback || p.jwkPrivate !== "reference") continue;
    for (const r of p.jwkReferences ?? []) {
      const parsed = splitReference(r);
      if (!parsed || seen.has(r)) continue;
      seen.add(r);
      if (parsed.prefix !== ref.prefix) {
        out.push({
          status: "warn",
          code: "KONG_VAULT_PREFIX_OTHER",
          message: `plugin ${p.pluginId} references vault '${parsed.prefix}', not the configured '${ref.prefix}'; doctor does not check that vault's secret`,
          hint: "The next activation writes references through the configured prefix; check the other vault by hand until then.",
        });
        continue;
      }
      if (secrets) out.push(await referencedSecretLine(secrets, vault, parsed.secret, p.jwk?.n));
    }
  }
  return out;
}

/**
 * adopt: an entry whose private members are already vault references is taken over as it is (adoption
 * changes nothing in Kong). Say so, say what the next activation writes, and check each referenced secret
 * against the adopted certificate's modulus where the rotator can read it. Never a failure: Kong keeps
 * serving what it resolved, and doctor reports a broken secret as a failure.
 */
export async function adoptReferenceLines(
  store: Pick<CertificateStore, "secrets" | "secretsAt">,
  cred: CredentialConfig,
  target: string,
  d: KongDiagnosis,
  modulus: string | undefined,
  certificateVault: string,
): Promise<Line[]> {
  const ref = cred.kong.find((t) => t.name === target)?.vaultReference;
  const out: Line[] = [];
  for (const p of d.plugins) {
    if (p.clientIndex < 0 || p.jwkIsFallback || p.jwkPrivate !== "reference") continue;
    const names = p.jwkReferences ?? [];
    out.push(
      ref
        ? {
            status: "info",
            code: "ADOPT_KONG_REFERENCES",
            message: `plugin ${p.pluginId}: our entry holds its private members as vault references (${names.join(", ")}); adopted as they are, and the next activation writes secret ${ref.secretPrefix}${cred.name}-<x5t> and references through '${ref.prefix}'`,
            hint: "A hand-made secret is not the rotator's: delete it yourself once the adopted key is retired.",
          }
        : {
            status: "warn",
            code: "ADOPT_KONG_REFERENCES_NOT_CONFIGURED",
            message: `plugin ${p.pluginId}: our entry holds its private members as vault references (${names.join(", ")}), but target ${target} has no vaultReference: the next activation would write the private key inline`,
            hint: "Add vaultReference (prefix, secretPrefix) to the target before the next rotation (README 'Vault-reference mode').",
          },
    );
    if (!ref) continue;
    const secrets = referenceSecrets(store, ref);
    for (const r of names) {
      const parsed = splitReference(r);
      if (!parsed || parsed.prefix !== ref.prefix || !secrets) continue;
      const l = await referencedSecretLine(
        secrets,
        referenceVault(ref, certificateVault),
        parsed.secret,
        modulus,
      );
      out.push(l.status === "fail" ? { ...l, status: "warn" } : l);
    }
  }
  return out;
}
