/**
 * `doctor`: read-only preflight checks of everything a credential's rotation depends on — Key Vault
 * (reachable, roles, policy), the identity provider (the client's keys, its key limit, for Entra whether
 * addKey can be used), every Kong target (plugin,
 * client slot, JWK, node mode, issuer, session storage) and the storage behind the one-writer lease.
 *
 * Nothing is changed: every call is a read, except the identity's token requests and one Key Vault `sign`
 * with the current generation's key (a POST without side effects, proving the Crypto User role).
 */
import { describeMigration, migrationOf } from "../engine/migration.js";
import type { CredentialConfig, IdpConfig } from "../config/load.js";
import { DEFAULT_LEASE_CONTAINER } from "../adapters/lease/blob.js";
import { storageError } from "../adapters/storage.js";
import { createWebhookSink, webhookSinkNameOf } from "../adapters/alerts/webhook-sink.js";
import { currentGeneration, effectiveActive, keyAtIdp, unmanagedKeys } from "../engine/model.js";
import { parseGeneration, type Generation } from "../engine/tags.js";
import type { Snapshot } from "../engine/types.js";
import { validityAt } from "../crypto/validity.js";
import { clientAlgProblem, registeredIdp } from "../adapters/idp/registry.js";
import { errorCheck, report, type Check, type CheckReport } from "./checks.js";
import { deploymentChecks, readOnlyNodeChecks, vaultReferenceChecks } from "./doctor-kong.js";
import { referenceSecretChecks } from "./doctor-vault.js";
import type { Runtime } from "./runtime.js";
import type { CertificateStore, IdpKey, KongTarget } from "../ports/engine.js";
import type { KongDiagnosis, KongPluginDiagnosis } from "../ports/diagnosis.js";

export type DoctorReport = CheckReport;

export async function doctor(rt: Runtime, name?: string): Promise<DoctorReport> {
  const creds = name ? [rt.credential(name)] : rt.config.credentials;
  const checks: Check[] = [];
  for (const cred of creds) checks.push(...(await credentialChecks(rt, cred)));
  checks.push(...(await storageChecks(rt)), ...(await alertChecks(rt)));
  return report(checks);
}

async function credentialChecks(rt: Runtime, cred: CredentialConfig): Promise<Check[]> {
  const ports = rt.enginePorts(cred);
  const scope = { credential: cred.name };
  const kv = await keyVaultChecks(rt, cred);
  const [idp, kong] = await Promise.all([
    idpChecks(rt, cred, kv.generations),
    Promise.all(
      ports.kong.map((t) =>
        kongChecks(cred, t, kv.generations, { store: ports.store, certificateVault: cred.keyVaultUrl }),
      ),
    ),
  ]);
  return [
    ...kv.checks,
    ...idp,
    ...kong.flatMap((k) => k.checks),
    ...scopeAgreement(
      cred,
      kong.flatMap((k) => (k.diagnosis ? [{ target: k.target, diagnosis: k.diagnosis }] : [])),
    ),
  ].map((c) => ({ ...scope, ...c }));
}

// ---------------------------------------------------------------------------------------------
// Key Vault
// ---------------------------------------------------------------------------------------------

async function keyVaultChecks(
  rt: Runtime,
  cred: CredentialConfig,
): Promise<{ checks: Check[]; generations: Generation[] | undefined }> {
  const { store } = rt.enginePorts(cred);
  const name = cred.certificateName;
  const checks: Check[] = [];
  let generations: Generation[];
  try {
    const versions = await store.listVersions(name);
    generations = versions.map(parseGeneration).filter((g): g is Generation => g !== undefined);
    checks.push({
      status: "pass",
      area: "keyvault",
      code: "KV_REACHABLE",
      message: `Key Vault ${cred.keyVaultUrl}: certificate ${name} has ${versions.length} version(s), ${generations.length} tracked generation(s)`,
    });
  } catch (e) {
    return { checks: [errorCheck("keyvault", e)], generations: undefined };
  }
  const migration = migrationOf(generations);
  if (migration)
    checks.push({
      status: "info",
      area: "keyvault",
      code: "MIGRATION_STATE",
      message: describeMigration(migration.record),
      ...(migration.record.stage === "retired"
        ? {}
        : {
            hint: `Run \`migrate ${cred.name}\` to continue it (the timer continues it until Kong has switched).`,
          }),
    });

  try {
    const policy = await store.getPolicy(name);
    if (!policy)
      checks.push({
        status: "info",
        area: "keyvault",
        code: "KV_NO_CERTIFICATE",
        message: `certificate ${name} does not exist yet; the first run creates it`,
      });
    else if (policy.keyType !== "RSA" || !policy.exportable)
      checks.push({
        status: "fail",
        area: "keyvault",
        code: "KV_POLICY_UNSUITABLE",
        message: `certificate ${name} has a ${policy.exportable ? "exportable" : "non-exportable"} ${policy.keyType} key policy`,
        hint: "Kong needs the private key (exportable: true) and the identity providers take RSA client assertions (keyType RSA, not RSA-HSM or EC): the key of such versions cannot be pushed to Kong. Import or create a version with an exportable RSA policy (see `adopt`).",
      });
    else
      checks.push({
        status: "pass",
        area: "keyvault",
        code: "KV_POLICY_OK",
        message: `certificate ${name} policy: exportable RSA${policy.keySize ? ` ${policy.keySize}` : ""}`,
      });
  } catch (e) {
    checks.push(errorCheck("keyvault", e));
  }

  const current = effectiveActive(generations) ?? generations.find((g) => g.enabled && g.x5t !== undefined);
  if (!current?.x5t) {
    checks.push({
      status: "info",
      area: "keyvault",
      code: "KV_NO_GENERATION",
      message: "no key generation yet: reading the key and signing are checked once one exists",
    });
    return { checks, generations };
  }
  const label = `${name}/${current.version} (${current.phase}, ${current.x5t})`;
  try {
    const secret = await store.secretInfo(name, current.version);
    if (secret.contentType !== "application/x-pem-file" || !secret.hasPrivateKey)
      checks.push({
        status: "fail",
        area: "keyvault",
        code: "KV_SECRET_UNUSABLE",
        message: `the secret of ${label} is ${secret.contentType ?? "untyped"}${secret.hasPrivateKey ? "" : " without a private key"}`,
        hint: "Kong receives the key from the certificate's secret, which must be PEM (contentType application/x-pem-file) with an exportable key.",
      });
    else
      checks.push({
        status: "pass",
        area: "keyvault",
        code: "KV_SECRET_OK",
        message: `the key of ${label} can be read (Key Vault Secrets User)`,
      });
  } catch (e) {
    checks.push(errorCheck("keyvault", e));
  }
  try {
    const signer = store.signer(name, current.version, {
      x5t: current.x5t,
      ...(current.x5tS256 ? { x5tS256: current.x5tS256 } : {}),
    });
    await signer.sign(Buffer.from("kong-key-rotator doctor"), cred.policy.algorithm);
    checks.push({
      status: "pass",
      area: "keyvault",
      code: "KV_SIGN_OK",
      message: `Key Vault signs with the key of ${label} (Key Vault Crypto User)`,
    });
  } catch (e) {
    checks.push(errorCheck("keyvault", e));
  }
  return { checks, generations };
}

// ---------------------------------------------------------------------------------------------
// Identity provider
// ---------------------------------------------------------------------------------------------

async function idpChecks(
  rt: Runtime,
  cred: CredentialConfig,
  generations: Generation[] | undefined,
): Promise<Check[]> {
  const { idp } = rt.enginePorts(cred);
  const area = "idp" as const;
  let keys: IdpKey[];
  try {
    keys = await idp.listKeys();
  } catch (e) {
    return [errorCheck(area, e)];
  }
  const now = rt.clock.now();
  const limit = Number.isFinite(idp.rules.maxKeys) ? ` (at most ${idp.rules.maxKeys})` : "";
  const checks: Check[] = [
    {
      status: "pass",
      area,
      code: "IDP_CLIENT_OK",
      message: `${idp.client} (${idp.kind}) holds ${keys.length} key(s)${limit}`,
    },
  ];
  for (const k of keys) {
    const end = k.expiresAt ? new Date(k.expiresAt) : undefined;
    const expired = validityAt({ notBefore: k.notBefore, notAfter: k.expiresAt }, now) === "expired";
    checks.push({
      status: expired ? "warn" : "info",
      area,
      code: expired ? "IDP_KEY_EXPIRED" : "IDP_KEY",
      message:
        `key ${k.x5t ?? k.kid ?? "(no kid)"} (id ${k.id}${k.displayName ? `, ${k.displayName}` : ""}) ` +
        `${k.usable ? "usable" : "registered, not usable"}; ${expired ? "expired" : "expires"} ${end?.toISOString() ?? "(not kept by the IdP)"}`,
      ...(expired ? { hint: "An expired key no longer signs anything; remove it at the IdP." } : {}),
    });
  }
  // The provider's own findings, with what doctor knows of the current key (unknown without Key Vault).
  const findings = async (currentKey: string | null | undefined) => {
    try {
      for (const f of await idp.diagnose({ currentKey })) checks.push({ area, ...f });
    } catch (e) {
      checks.push(errorCheck(area, e));
    }
    return checks;
  };
  if (!generations) return findings(undefined);
  const snapshot: Snapshot = {
    credential: cred.name,
    certificateName: cred.certificateName,
    policy: cred.policy,
    observedAt: now,
    generations,
    idp: { client: idp.client, rules: idp.rules, keys },
    targets: [],
  };
  const active = effectiveActive(generations);
  const activeKey = active && keyAtIdp(keys, active);
  if (active)
    checks.push(
      activeKey?.usable
        ? {
            status: "pass",
            area,
            code: "IDP_ACTIVE_KEY_OK",
            message: `the active key ${active.x5t ?? active.version} is registered and usable`,
          }
        : {
            status: "fail",
            area,
            code: "IDP_ACTIVE_KEY_MISSING",
            message: `the active key ${active.x5t ?? active.version} is ${activeKey ? "registered but not usable" : "not registered"} at ${idp.client}`,
            hint: "Kong's logins with it fail. The next rotation run registers a new key (trigger KeyMissingAtIdp); run `rotate` now.",
          },
    );
  if (keys.length >= idp.rules.maxKeys) {
    const retiring = generations.find((g) => g.phase === "retiring" && keyAtIdp(keys, g));
    checks.push({
      status: retiring ? "info" : "warn",
      area,
      code: "IDP_KEY_LIMIT",
      message:
        `${idp.client} holds ${keys.length} key(s), the most it allows: the next rotation waits for a free slot` +
        (retiring ? ` (retiring ${retiring.x5t ?? retiring.version} is removed after its overlap)` : ""),
      ...(retiring
        ? {}
        : { hint: "No retiring generation will free a slot: remove a key that nothing uses at the IdP." }),
    });
  }
  const current = currentGeneration(snapshot, now);
  await findings(current ? (current.x5t ?? "") : null);
  for (const u of unmanagedKeys(snapshot))
    checks.push({
      status: "warn",
      area,
      code: "IDP_UNMANAGED_KEY",
      message: `key ${u.x5t ?? u.keyId} at ${idp.client} belongs to no tracked generation; it is left alone`,
      hint: "A key made by hand: adopt it (`kong-key-rotator adopt <name> --cert <file>`) so that rotation retires it, or remove it at the IdP when nothing uses it.",
    });
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Kong
// ---------------------------------------------------------------------------------------------

async function kongChecks(
  cred: CredentialConfig,
  target: KongTarget,
  generations: Generation[] | undefined,
  vault: { store: CertificateStore; certificateVault: string },
): Promise<{ target: string; checks: Check[]; diagnosis?: KongDiagnosis }> {
  const scope = { target: target.name };
  let d: KongDiagnosis;
  try {
    d = await target.diagnose();
  } catch (e) {
    return { target: target.name, checks: [errorCheck("kong", e, scope)] };
  }
  const line = (c: Omit<Check, "area" | "target">): Check => ({ area: "kong", ...scope, ...c });
  const checks: Check[] = [
    line({
      status: "pass",
      code: "KONG_REACHABLE",
      message: `Kong ${d.kind} target ${d.node.version ?? "(version unknown)"} reachable with the configured token (role ${d.node.role ?? "?"}, database ${d.node.database ?? "?"}); ${d.plugins.length} plugin(s)`,
    }),
  ];
  checks.push(...deploymentChecks(d).map(line));
  checks.push(...vaultReferenceChecks(cred, target.name, d, vault.certificateVault).map(line));
  checks.push(
    ...(await referenceSecretChecks(vault.store, cred, target.name, d, vault.certificateVault)).map(line),
  );
  checks.push(...readOnlyNodeChecks(d).map(line));
  const active = generations ? effectiveActive(generations) : undefined;
  for (const p of d.plugins)
    checks.push(
      ...pluginChecks(cred, p, active, generations !== undefined && generations.length > 0).map(line),
    );
  return { target: target.name, checks, diagnosis: d };
}

/** Our client's openid-connect plugins in a target's diagnosis. */
const ourPlugins = (d: KongDiagnosis) =>
  d.plugins.filter((p) => p.name === "openid-connect" && p.clientIndex >= 0 && p.scopes);

/**
 * Where the proof sends Kong's scopes (IdpRules.proofScopes "kong"), it sends those of the first plugin of
 * the first target (engine/model.ts kongTokenRequest): plugins that send other scopes make token requests
 * that no proof made.
 */
function scopeAgreement(
  cred: CredentialConfig,
  targets: { target: string; diagnosis: KongDiagnosis }[],
): Check[] {
  if (registeredIdp(cred.idp).rules.proofScopes !== "kong") return [];
  const seen = targets.flatMap((t) =>
    ourPlugins(t.diagnosis).map((p) => ({
      where: `${t.target}/${p.pluginId}`,
      scopes: (p.scopes ?? []).join(" "),
    })),
  );
  const first = seen[0];
  const others = seen.filter((x) => x.scopes !== first?.scopes);
  if (!first || others.length === 0) return [];
  return [
    {
      status: "warn",
      area: "kong",
      code: "KONG_SCOPES_DIFFER",
      message: `Kong plugins send different scopes to the token endpoint: ${[first, ...others].map((x) => `${x.where}: ${x.scopes || "(none)"}`).join("; ")}; keys are proven with the first (${first.where})`,
      hint: "Give every plugin entry of this client the same config.scopes, so that the proof makes the request every gateway makes; or split them into credentials of their own.",
    },
  ];
}

function pluginChecks(
  cred: CredentialConfig,
  p: KongPluginDiagnosis,
  active: Generation | undefined,
  hasGenerations: boolean,
): Omit<Check, "area" | "target">[] {
  const id = `plugin ${p.pluginId}`;
  if (p.name !== "openid-connect")
    return [
      {
        status: "fail",
        code: "KONG_NOT_OIDC",
        message: `${id} is ${p.name}, not openid-connect`,
        hint: "Point the target at the openid-connect plugin: set pluginId to its id, or tag only that plugin.",
      },
    ];
  const out: Omit<Check, "area" | "target">[] = [];
  if (p.clientIndex < 0)
    return [
      {
        status: "fail",
        code: "KONG_CLIENT_NOT_FOUND",
        message: `${id} has no client_id ${cred.idp.clientId}`,
        hint: "Add the client id to config.client_id (a vault reference there cannot be matched; use the literal id).",
      },
    ];
  const i = p.clientIndex;
  if (p.clientAuth !== "private_key_jwt")
    return [
      {
        status: "fail",
        code: "KONG_NOT_PRIVATE_KEY_JWT",
        message: `${id}: client ${cred.idp.clientId} (index ${i}) uses client_auth ${p.clientAuth ?? "unset"}, not private_key_jwt`,
        hint:
          p.clientAuth === "client_secret_post" || p.clientAuth === "client_secret_basic"
            ? `client_auth[${i}] is a client secret method: \`migrate ${cred.name}\` moves the client to private_key_jwt without an outage (docs/migration.md).`
            : `Set config.client_auth[${i}] to "private_key_jwt" (client_auth is parallel to client_id and falls back to its first entry).`,
      },
    ];
  // The rule activation applies (adapters/kong/common/plugin.ts checkClientAlg), from the credential's IdP rules.
  const algProblem = clientAlgProblem(p.clientAlg, i, cred.idp.kind);
  if (algProblem)
    out.push({
      status: "fail",
      code: "KONG_CLIENT_ALG_INCOMPATIBLE",
      message: `${id}: client ${cred.idp.clientId}: ${algProblem.message}`,
      hint: algProblem.hint,
    });
  else
    out.push({
      status: "pass",
      code: "KONG_CLIENT_OK",
      message: `${id}: openid-connect, client ${cred.idp.clientId} at index ${i} uses private_key_jwt`,
    });
  out.push(...jwkChecks(id, i, p, active, hasGenerations, cred.idp));
  out.push(issuerCheck(id, p, cred.idp));
  const registered = registeredIdp(cred.idp);
  if (registered.rules.proofScopes === "kong" && p.scopes)
    out.push(scopesCheck(id, p.scopes, registered.proofScopeOverride));
  // ID tokens with many claims (Entra's especially) make large sessions; cookie sessions split them over
  // several cookies and hit header limits
  // (https://developer.konghq.com/plugins/openid-connect/, session_storage).
  if (p.sessionStorage === undefined || p.sessionStorage === "cookie")
    out.push({
      status: "warn",
      code: "KONG_SESSION_COOKIE",
      message: `${id}: session_storage is ${p.sessionStorage ?? "unset (cookie)"}`,
      hint: "ID tokens with many claims make large sessions; with cookie storage they are split across cookies and can exceed header limits. Use session_storage: redis (with config.redis).",
    });
  else
    out.push({
      status: "pass",
      code: "KONG_SESSION_OK",
      message: `${id}: session_storage ${p.sessionStorage}`,
    });
  return out;
}

function jwkChecks(
  id: string,
  i: number,
  p: KongPluginDiagnosis,
  active: Generation | undefined,
  hasGenerations: boolean,
  idp: IdpConfig,
): Omit<Check, "area" | "target">[] {
  const jwk = p.jwkIsFallback ? undefined : p.jwk;
  if (!jwk)
    return [
      {
        status: active ? "fail" : "warn",
        code: "KONG_NO_JWK",
        message: `${id}: no client_jwk entry for our client at index ${i}${p.jwkIsFallback ? " (Kong falls back to client_jwk[0], another client's key)" : ""}`,
        hint: active
          ? "The active key is missing from this plugin: `kong-key-rotator sync` re-applies it."
          : "Expected before the first rotation: activation writes our entry.",
      },
    ];
  const out: Omit<Check, "area" | "target">[] = [];
  if (jwk.alg === undefined)
    out.push({
      status: "warn",
      code: "KONG_JWK_NO_ALG",
      message: `${id}: our JWK has no alg`,
      hint: "Kong signs with the JWK's alg and defaults to RS256 when absent; set alg (PS256 or RS256) explicitly.",
    });
  else if (!(registeredIdp(idp).rules.algorithms as readonly string[]).includes(jwk.alg))
    out.push({
      status: "fail",
      code: "KONG_JWK_ALG_UNSUPPORTED",
      message: `${id}: our JWK has alg ${jwk.alg}, which ${idp.kind} does not accept`,
      hint: `Use ${registeredIdp(idp).rules.algorithms.join(" or ")} (policy.algorithm); the next rotation writes it.`,
    });
  if (!jwk.kid || !jwk.x5t || jwk.kid !== jwk.x5t)
    out.push({
      status: "warn",
      code: "KONG_KID_NOT_X5T",
      message: `${id}: our JWK has kid ${jwk.kid ?? "(none)"} and x5t ${jwk.x5t ?? "(none)"}`,
      hint: "Kong puts kid in the assertion header and the provider finds the key by kid or certificate thumbprint: set kid = x5t (base64url SHA-1 of the certificate DER) and include x5t and x5t#S256.",
    });
  if (active?.x5t && jwk.kid !== active.x5t && jwk.x5t !== active.x5t)
    out.push({
      status: "warn",
      code: "KONG_NOT_ON_ACTIVE",
      message: `${id}: our JWK ${jwk.kid ?? "(no kid)"} is not the active key ${active.x5t}`,
      hint: "`kong-key-rotator sync` re-applies the active key (sync.reapplyOnDrift).",
    });
  else if (!active && hasGenerations)
    out.push({
      status: "info",
      code: "KONG_JWK_UNTRACKED",
      message: `${id}: our JWK ${jwk.kid ?? "(no kid)"} is not a tracked active generation`,
    });
  if (!out.some((c) => c.status === "warn" || c.status === "fail"))
    out.unshift({
      status: "pass",
      code: "KONG_JWK_OK",
      message: `${id}: our JWK ${jwk.kid ?? ""} has alg ${jwk.alg ?? ""} and kid = x5t${active ? ", the active key" : ""}`,
    });
  return out;
}

/**
 * The proof should be the request Kong makes: an authorization server refuses a client-credentials
 * request without a scope unless it has default scopes, and a scope the client may not have fails Kong's
 * request even though the key is fine. Verification sends the plugin's config.scopes, or the override.
 */
function scopesCheck(
  id: string,
  kong: string[],
  override: { key: string; scopes: string[] } | undefined,
): Omit<Check, "area" | "target"> {
  const sent = kong.join(" ") || "(none)";
  if (!override) {
    if (kong.some((s) => s.startsWith("{vault://")))
      return {
        status: "warn",
        code: "KONG_SCOPES_REFERENCED",
        message: `${id}: config.scopes holds a vault reference, which the rotator cannot resolve for its proof`,
        hint: "Set the IdP's scopes override in the credential to the scopes the reference resolves to.",
      };
    return {
      status: "pass",
      code: "KONG_SCOPES_OK",
      message: `${id}: keys are proven with the scopes Kong sends (${sent})`,
    };
  }
  const same = kong.length === override.scopes.length && kong.every((s) => override.scopes.includes(s));
  return same
    ? {
        status: "pass",
        code: "KONG_SCOPES_OK",
        message: `${id}: Kong and ${override.key} request scopes ${sent}`,
      }
    : {
        status: "warn",
        code: "KONG_SCOPES_MISMATCH",
        message: `${id}: Kong requests scopes ${sent}, the rotator proves keys with ${override.key}: ${override.scopes.join(" ") || "(none)"}`,
        hint: `Remove ${override.key}, so that keys are proven with the request Kong makes, unless the plugin's scopes serve another grant than client credentials.`,
      };
}

function issuerCheck(id: string, p: KongPluginDiagnosis, idp: IdpConfig): Omit<Check, "area" | "target"> {
  const issuers = [p.issuer, ...(p.issuersAllowed ?? [])].filter((x): x is string => x !== undefined);
  const expected = registeredIdp(idp).issuer;
  if (issuers.some((u) => expected.matches(u)))
    return {
      status: "pass",
      code: "KONG_ISSUER_OK",
      message: `${id}: issuer ${p.issuer ?? ""} is the ${expected.what}`,
    };
  return {
    status: "warn",
    code: "KONG_ISSUER_TENANT",
    message: `${id}: neither issuer (${p.issuer ?? "unset"}) nor issuers_allowed names the ${expected.what}`,
    hint: expected.hint,
  };
}

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

const NO_WRITER_HINT =
  "Without the shared lease the CLI refuses mutating commands unless you pass --no-other-writer; set AzureWebJobsStorage to the Function App's storage.";

async function storageChecks(rt: Runtime): Promise<Check[]> {
  if (!rt.blob)
    return [
      {
        status: "warn",
        area: "storage",
        code: "STORAGE_NOT_CONFIGURED",
        message: "AzureWebJobsStorage is not set: no one-writer lease",
        hint: NO_WRITER_HINT,
      },
    ];
  const container = rt.blob.getContainerClient(DEFAULT_LEASE_CONTAINER);
  try {
    const exists = await container.exists();
    return [
      {
        status: "pass",
        area: "storage",
        code: "STORAGE_OK",
        message: `lease storage ${rt.storage} reachable; container ${DEFAULT_LEASE_CONTAINER} ${exists ? "exists" : "is created on the first run"}`,
      },
    ];
  } catch (e) {
    const err = storageError(e, "LEASE", `read lease container ${DEFAULT_LEASE_CONTAINER}`);
    return [
      {
        status: "warn",
        area: "storage",
        code: err.code,
        message: err.message,
        hint: `${err.hint} ${NO_WRITER_HINT}`,
      },
    ];
  }
}

// ---------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------

const ALERT_DOWN_HINT =
  "Rotation is not affected and alerts still reach the log. Fix the receiver or the URL in alerts.webhooks; the missed notifications are sent with the next alert.";

/** Each webhook can be built, and no sink's last delivery failed (as recorded by the runs). No alert is sent. */
async function alertChecks(rt: Runtime): Promise<Check[]> {
  const checks: Check[] = await Promise.all(
    rt.config.alerts.webhooks.map(async (w, i): Promise<Check> => {
      try {
        const name = webhookSinkNameOf(w.url, w.format);
        const sink = createWebhookSink({ url: await rt.webhookUrl(w.url), format: w.format, name });
        return {
          status: "pass",
          area: "alerts",
          code: "ALERT_SINK_CONFIGURED",
          message: `alerts.webhooks[${i}]: ${sink.name}`,
        };
      } catch (e) {
        const err = errorCheck("alerts", e);
        return { ...err, message: `alerts.webhooks[${i}]: ${err.message}`, hint: ALERT_DOWN_HINT };
      }
    }),
  );
  try {
    for (const h of await rt.alerter.sinkHealth())
      checks.push({
        status: "warn",
        area: "alerts",
        code: h.code,
        message: `alert sink ${h.sink}: ${h.failures} failed deliver${h.failures === 1 ? "y" : "ies"} since ${h.firstFailedAt} (last ${h.lastFailedAt}: ${h.message}); ${h.undelivered} notification(s) waiting`,
        hint: ALERT_DOWN_HINT,
      });
  } catch (e) {
    checks.push(errorCheck("alerts", e, {}, "warn"));
  }
  if (!checks.some((c) => c.status !== "pass"))
    checks.push({
      status: "pass",
      area: "alerts",
      code: "ALERT_DELIVERY_OK",
      message: "no alert sink has undelivered notifications",
    });
  return checks;
}
