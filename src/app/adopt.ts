/**
 * `adopt`: take over a hand-made setup (BRIEF, "Set up by hand") by importing its certificate and key into
 * Key Vault as the credential's first generation, tagged `active`, so that the engine rotates away from it
 * and later retires it like any generation of its own.
 *
 * Before anything changes, every precondition is checked and every mismatch reported:
 * - the key is RSA (Entra accepts PS256/RS256 only) and belongs to the certificate;
 * - the certificate is within its validity;
 * - the credential has no generation yet (never adopt over a managed one);
 * - the Entra app lists the certificate (by thumbprint): the engine's addKey proof will be signed by it;
 * - every Kong target's plugin holds this key for our client (same modulus, kid = x5t): after adoption the
 *   engine's view "Kong holds the active key" must be true, or sync would push a key nobody tested.
 * The import happens under the credential's one-writer lease.
 */
import { X509Certificate, createPublicKey, randomUUID, type KeyObject } from "node:crypto";
import type { CredentialConfig } from "../config/load.js";
import { RotatorError } from "../errors.js";
import { thumbprints } from "../crypto/keymaterial.js";
import { validityAt } from "../crypto/validity.js";
import {
  phaseTags,
  mergeTags,
  parseGeneration,
  TAG_ACTIVATED_AT,
  TAG_IDP_KEY_ID,
  type Generation,
} from "../engine/tags.js";
import type { CertificateStore, CertificateVersion, IdpKey, KongTarget } from "../ports/engine.js";
import { keyAtIdp } from "../engine/model.js";
import { adoptReferenceLines } from "./doctor-vault.js";
import { registeredIdp } from "../adapters/idp/registry.js";
import { errorCheck, report, type Check, type CheckReport } from "./checks.js";
import type { CertificateInput } from "./cert-input.js";
import type { Runtime } from "./runtime.js";

export interface AdoptedCertificate {
  x5t: string;
  x5tS256: string;
  subject: string;
  notBefore: string;
  notAfter: string;
}

export interface AdoptReport extends CheckReport {
  credential: string;
  certificate?: AdoptedCertificate;
  /** What --yes does (dry run), or did. */
  actions: string[];
  /** True when the version was imported. */
  applied: boolean;
  /** Another writer holds the credential's lease; nothing was done. */
  busy?: boolean;
  version?: string;
}

const MONTH_MS = 30 * 86_400_000;
/**
 * The smallest RSA key adopt takes over: the smallest policy.keySize the rotator itself issues, and the
 * minimum NIST SP 800-131A Rev. 2 allows for RSA signatures (112-bit security).
 */
export const MIN_RSA_BITS = 2048;
const b64u = (s: string | undefined) => s ?? "";

/** The certificate in the input that belongs to the key, else the first one (the mismatch is reported). */
function leafFor(input: CertificateInput): { der: Buffer; cert: X509Certificate; chain: Buffer[] } {
  const spki = createPublicKey(input.privateKey).export({ format: "der", type: "spki" });
  const parsed = input.certificates.map((der) => ({ der, cert: new X509Certificate(der) }));
  const leaf =
    parsed.find((p) => p.cert.publicKey.export({ format: "der", type: "spki" }).equals(spki)) ?? parsed[0];
  if (!leaf)
    throw new RotatorError(
      "CERT_INPUT_INVALID",
      "no certificate in the input",
      "Pass the certificate with its key.",
    );
  return { der: leaf.der, cert: leaf.cert, chain: input.certificates.filter((d) => d !== leaf.der) };
}

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n$/, "")}\n-----END ${label}-----\n`;
}

/** PKCS#8 key then the leaf and chain certificates: the PEM layout Key Vault itself uses for exportable secrets. */
function importPem(key: KeyObject, leaf: Buffer, chain: Buffer[]): string {
  return (
    key.export({ format: "pem", type: "pkcs8" }).toString() +
    [leaf, ...chain].map((d) => pem("CERTIFICATE", d)).join("")
  );
}

export async function adopt(
  rt: Runtime,
  name: string,
  input: CertificateInput,
  options: { apply: boolean; holder?: string },
): Promise<AdoptReport> {
  const cred = rt.credential(name);
  if (!options.apply) return checkAndPlan(rt, cred, input, false);
  const lease = await rt.leases.tryAcquire(
    cred.name,
    options.holder ?? `adopt:${process.pid}:${randomUUID().slice(0, 8)}`,
  );
  if (!lease) return { credential: cred.name, ...report([]), actions: [], applied: false, busy: true };
  try {
    return await checkAndPlan(rt, cred, input, true);
  } finally {
    await lease.release();
  }
}

async function checkAndPlan(
  rt: Runtime,
  cred: CredentialConfig,
  input: CertificateInput,
  apply: boolean,
): Promise<AdoptReport> {
  const now = rt.clock.now();
  const scope = { credential: cred.name };
  const { der, cert, chain } = leafFor(input);
  const t = thumbprints(der);
  const certificate: AdoptedCertificate = {
    x5t: t.x5t,
    x5tS256: t.x5tS256,
    subject: cert.subject,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
  };
  const modulus =
    cert.publicKey.asymmetricKeyType === "rsa" ? b64u(cert.publicKey.export({ format: "jwk" }).n) : undefined;

  const checks: Check[] = [...certificateChecks(input.privateKey, cert, der, cred, now)];
  const ports = rt.enginePorts(cred);
  const [kv, idp, kong] = await Promise.all([
    generationCheck(rt, cred),
    idpCheck(rt, cred, t.x5t, now),
    Promise.all(
      ports.kong.map((target) =>
        kongCheck(target, cred, t.x5t, modulus, {
          store: ports.store,
          certificateVault: cred.keyVaultUrl,
        }),
      ),
    ),
  ]);
  checks.push(...kv, ...idp.checks, ...kong.flat());
  const scoped = checks.map((c) => ({ ...scope, ...c }));
  const r = report(scoped);
  const keyId = idp.key?.id ?? "<the IdP's id of the registered key>";
  const tagList = `rotator-phase=active, ${TAG_IDP_KEY_ID}=${keyId}, ${TAG_ACTIVATED_AT}=<now>`;
  const actions = [
    `import ${t.x5t} (${cert.subject}) into Key Vault certificate ${cred.certificateName} as a new version: exportable RSA, PEM, tagged ${tagList}`,
    `the engine then treats it as the active generation: the next rotation registers a new key at ${ports.idp.client} (signed by this key where the IdP asks for a proof), activates it on every Kong target, and retires this key after policy.overlap`,
  ];
  const base: AdoptReport = { credential: cred.name, ...r, certificate, actions, applied: false };
  if (!apply || !r.ok || !idp.key) return base;

  const tags = mergeTags(
    {},
    phaseTags("active", { [TAG_IDP_KEY_ID]: idp.key.id, [TAG_ACTIVATED_AT]: now.toISOString() }),
  );
  const imported: CertificateVersion = await ports.store.importVersion(
    cred.certificateName,
    { pem: importPem(input.privateKey, der, chain) },
    tags,
  );
  if (imported.x5t !== t.x5t)
    throw new RotatorError(
      "ADOPT_IMPORT_MISMATCH",
      `Key Vault reports thumbprint ${imported.x5t ?? "(none)"} for the imported version ${imported.version}, not ${t.x5t}`,
      "Check the certificate version in Key Vault; disable it before running the rotator.",
    );
  rt.logger.log("info", "CredentialAdopted", {
    credential: cred.name,
    version: imported.version,
    x5t: t.x5t,
    idpKeyId: idp.key.id,
  });
  return { ...base, applied: true, version: imported.version };
}

function certificateChecks(
  key: KeyObject,
  cert: X509Certificate,
  der: Buffer,
  cred: CredentialConfig,
  now: Date,
): Check[] {
  const out: Check[] = [];
  const area = "certificate" as const;
  if (key.asymmetricKeyType !== "rsa")
    out.push({
      status: "fail",
      area,
      code: "CERT_NOT_RSA",
      message: `the key is ${key.asymmetricKeyType ?? "unknown"}, not RSA`,
      hint: `Client assertions at ${registeredIdp(cred.idp).client} must be ${registeredIdp(cred.idp).rules.algorithms.join(" or ")}: only an RSA key can be adopted.`,
    });
  else {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    out.push(
      bits >= MIN_RSA_BITS
        ? { status: "pass", area, code: "CERT_RSA", message: `the key is RSA ${bits}` }
        : {
            status: "fail",
            area,
            code: "CERT_KEY_TOO_SMALL",
            message: `the key is RSA ${bits} bits; at least ${MIN_RSA_BITS} are required`,
            hint: `A key this short must not be taken over: let the rotator bootstrap a new key (policy.keySize ${MIN_RSA_BITS} or more) instead of adopting this one.`,
          },
    );
  }
  const matches = createPublicKey(key)
    .export({ format: "der", type: "spki" })
    .equals(cert.publicKey.export({ format: "der", type: "spki" }));
  out.push(
    matches
      ? {
          status: "pass",
          area,
          code: "CERT_KEY_MATCH",
          message: `the key belongs to certificate ${thumbprints(der).x5t}`,
        }
      : {
          status: "fail",
          area,
          code: "CERT_KEY_MISMATCH",
          message: `the private key does not belong to certificate ${thumbprints(der).x5t}`,
          hint: "Pass the key that was generated with this certificate (openssl req -x509 -newkey ... -keyout).",
        },
  );
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  const validity = validityAt({ notBefore: from, notAfter: to }, now);
  if (validity === "expired")
    out.push({
      status: "fail",
      area,
      code: "CERT_EXPIRED",
      message: `the certificate expired at ${to.toISOString()}`,
      hint: "An expired certificate cannot sign anything the identity provider accepts; let the rotator bootstrap a new key instead of adopting.",
    });
  else if (validity === "not-yet-valid")
    out.push({
      status: "fail",
      area,
      code: "CERT_NOT_YET_VALID",
      message: `the certificate is valid only from ${from.toISOString()}`,
      hint: "Adopt it once it is valid.",
    });
  else
    out.push({
      status: "pass",
      area,
      code: "CERT_VALID",
      message: `the certificate is valid until ${to.toISOString()}`,
    });
  if (to.getTime() > now.getTime() + cred.policy.validityMonths * MONTH_MS)
    out.push({
      status: "warn",
      area,
      code: "CERT_OUTLIVES_POLICY",
      message: `the certificate expires after a new generation would (policy.validityMonths ${cred.policy.validityMonths})`,
      hint: "The engine refuses to activate a key that expires before the active one (ACTIVATE_SHORTER_LIFETIME): renewal waits until this key is within policy.renewBefore of expiry, and a forced rotation needs a larger policy.validityMonths.",
    });
  return out;
}

async function generationCheck(rt: Runtime, cred: CredentialConfig): Promise<Check[]> {
  const area = "keyvault" as const;
  try {
    const versions = await rt.enginePorts(cred).store.listVersions(cred.certificateName);
    const tracked = versions.map(parseGeneration).filter((g): g is Generation => g !== undefined);
    if (tracked.length > 0)
      return [
        {
          status: "fail",
          area,
          code: "ADOPT_GENERATION_EXISTS",
          message: `certificate ${cred.certificateName} already has ${tracked.length} managed generation(s) (${tracked.map((g) => `${g.phase} ${g.x5t ?? g.version}`).join(", ")})`,
          hint: "Adoption only takes over a credential the rotator does not manage yet; this one rotates already (`kong-key-rotator status`).",
        },
      ];
    return [
      {
        status: "pass",
        area,
        code: "ADOPT_NO_GENERATION",
        message: versions.length
          ? `certificate ${cred.certificateName} has ${versions.length} untracked version(s) and no managed generation`
          : `certificate ${cred.certificateName} does not exist yet`,
      },
    ];
  } catch (e) {
    return [errorCheck(area, e)];
  }
}

async function idpCheck(
  rt: Runtime,
  cred: CredentialConfig,
  x5t: string,
  now: Date,
): Promise<{ checks: Check[]; key?: IdpKey }> {
  const area = "idp" as const;
  const { idp } = rt.enginePorts(cred);
  const fail = (code: string, message: string, hint: string) => ({
    checks: [{ status: "fail" as const, area, code, message, hint }],
  });
  try {
    const key = keyAtIdp(await idp.listKeys(), { x5t });
    if (!key)
      return fail(
        "ADOPT_NOT_AT_IDP",
        `${idp.client} does not list certificate ${x5t}`,
        "Adopt the key the IdP holds for the client (kid or thumbprint = the certificate's x5t), or register this one there first.",
      );
    if (validityAt({ notBefore: key.notBefore, notAfter: key.expiresAt }, now) === "expired")
      return fail(
        "ADOPT_IDP_KEY_EXPIRED",
        `the IdP's entry for ${x5t} (id ${key.id}) has expired`,
        "An expired registration signs nothing; let the rotator bootstrap instead.",
      );
    if (!key.usable)
      return fail(
        "ADOPT_IDP_KEY_NOT_USABLE",
        `${idp.client} holds ${x5t} (id ${key.id}) but it is not usable (inactive or detached)`,
        "Adopt the key Kong logs in with now; activate it at the IdP first if it is that one.",
      );
    return {
      checks: [
        {
          status: "pass",
          area,
          code: "ADOPT_AT_IDP",
          message: `${idp.client} lists certificate ${x5t} as key ${key.id}, usable`,
        },
      ],
      key,
    };
  } catch (e) {
    return { checks: [errorCheck(area, e)] };
  }
}

async function kongCheck(
  target: KongTarget,
  cred: CredentialConfig,
  x5t: string,
  modulus: string | undefined,
  vault: { store: CertificateStore; certificateVault: string },
): Promise<Check[]> {
  const line = (c: Omit<Check, "area" | "target">): Check => ({ area: "kong", target: target.name, ...c });
  try {
    const d = await target.diagnose();
    // Vault-reference entries (private members as {vault://...}) are adopted as they are (./doctor-vault.ts).
    const references = await adoptReferenceLines(
      vault.store,
      cred,
      target.name,
      d,
      modulus,
      vault.certificateVault,
    );
    const lines = d.plugins.map((p) => {
      const id = `plugin ${p.pluginId}`;
      if (p.name !== "openid-connect")
        return line({
          status: "fail",
          code: "KONG_NOT_OIDC",
          message: `${id} is ${p.name}, not openid-connect`,
          hint: "Point the target at the openid-connect plugin.",
        });
      if (p.clientIndex < 0)
        return line({
          status: "fail",
          code: "KONG_CLIENT_NOT_FOUND",
          message: `${id} has no client_id ${cred.idp.clientId}`,
          hint: "Add the app's client id to config.client_id.",
        });
      const jwk = p.jwkIsFallback ? undefined : p.jwk;
      if (!jwk)
        return line({
          status: "fail",
          code: "ADOPT_KONG_NO_JWK",
          message: `${id} has no client_jwk entry for our client (index ${p.clientIndex})`,
          hint: "Adopt the key the gateway uses; a plugin without our key is not a hand-made setup to take over.",
        });
      const problems: string[] = [];
      if (modulus === undefined || jwk.n !== modulus)
        problems.push("its modulus n differs from the certificate's key");
      if (jwk.kid !== x5t)
        problems.push(`its kid is ${jwk.kid ?? "(none)"}, not the certificate's x5t ${x5t}`);
      if (jwk.x5t !== undefined && jwk.x5t !== x5t) problems.push(`its x5t is ${jwk.x5t}`);
      if (problems.length)
        return line({
          status: "fail",
          code: "ADOPT_KONG_MISMATCH",
          message: `${id}: our client's JWK is not this certificate: ${problems.join("; ")}`,
          hint: "Adopt the certificate whose key the plugin holds (kid = x5t of its DER), or fix the plugin's JWK first.",
        });
      return line({
        status: "pass",
        code: "ADOPT_KONG_MATCH",
        message: `${id}: our client's JWK is this certificate's key (n and kid = ${x5t})`,
      });
    });
    return [...lines, ...references.map(line)];
  } catch (e) {
    return [errorCheck("kong", e, { target: target.name })];
  }
}
