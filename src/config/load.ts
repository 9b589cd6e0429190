import { readFile } from "node:fs/promises";
import { parse as parseYaml, YAMLError } from "yaml";
import type { z } from "zod";
import type { LimitOverrides } from "../limits.js";
import { RotatorError } from "../errors.js";
import { defaultAlgorithm, IDP_RULES, idpConfigOf } from "../idp-rules.js";
import { referenceSecretNameProblem } from "./rules.js";
import { configSchema, defaultPolicy, policySchema, type ParsedConfig } from "./schema.js";

export type Policy = z.output<typeof policySchema>;
export type SecretRef = { env: string } | { keyVaultSecret: string };

interface PluginSelector {
  pluginId?: string;
  pluginTags?: string[];
}

/** Vault-reference mode: Kong reads the private JWK members from a Key Vault secret (README). */
export interface VaultReferenceConfig {
  /** The Kong vault entity's prefix (or the backend name `azure`). */
  prefix: string;
  /** Start of each generation's secret name: `<secretPrefix><credential>-<x5t>`. */
  secretPrefix: string;
  /** The Key Vault the reference secrets are written to; absent: the credential's own vault (CredentialConfig.keyVaultUrl). */
  keyVaultUrl?: string;
}

interface TargetCommon {
  name: string;
  vaultReference?: VaultReferenceConfig;
}

/** Admin API target: a traditional node, or a hybrid control plane whose data planes are confirmed. */
export interface KongTargetConfig extends PluginSelector, TargetCommon {
  adminUrl: string;
  workspace?: string;
  adminToken?: SecretRef;
  /** Hybrid confirmation: auto (from GET / configuration.role), always, never; maxLag in ms. */
  dataPlanes?: { confirm: "auto" | "always" | "never"; maxLagMs: number };
}

/** Konnect control plane (Control Planes Config API v2). */
export interface KonnectTargetConfig extends PluginSelector, TargetCommon {
  konnect: { region: string; controlPlaneId: string; token: SecretRef; baseUrl?: string; maxLagMs: number };
}

/** Kong Ingress Controller: the Secret a KongPlugin's configPatches reference. */
export interface KubernetesTargetConfig extends TargetCommon {
  kubernetes: {
    namespace: string;
    secretName: string;
    secretKey: string;
    /** A kubeconfig file (path); absent with neither kubeconfigSecret nor aks: the in-cluster service account. */
    kubeconfig?: string;
    /** A kubeconfig held as a secret: its text is read from Key Vault or the environment. */
    kubeconfigSecret?: SecretRef;
    /** Microsoft Entra authentication to AKS with the service identity (a token for serverAppId). */
    aks?: { server: string; certificateAuthorityData?: string; serverAppId: string };
    maxLagMs: number;
    /** How proxy pods' Status API is read: through the API server's pod proxy (default), or by pod IP. */
    statusAccess: "apiserver" | "direct";
    /** The proxy pods: namespace (default: the target's), label selector, status port name or number, scheme. */
    proxies: { namespace?: string; selector: string; port: string | number; scheme: "http" | "https" };
  };
}

/** DB-less nodes, each written with POST /config. */
export interface DblessTargetConfig extends PluginSelector, TargetCommon {
  dbless: { nodes: string[]; maxLagMs: number };
  adminToken?: SecretRef;
}

export type KongTargetSpec =
  KongTargetConfig | KonnectTargetConfig | KubernetesTargetConfig | DblessTargetConfig;

/** Entra ID: the app registration (client id) in its tenant. */
export interface EntraIdpConfig {
  kind: "entra";
  tenantId: string;
  clientId: string;
}

/** Okta: the OIDC app (its client id is its app id) and the authorization server Kong uses. */
export interface OktaIdpConfig {
  kind: "okta";
  orgUrl: string;
  authorizationServer?: string;
  clientId: string;
  /** API token (SSWS) of an admin who may manage the app's keys. */
  token: SecretRef;
  /** Scopes the proof sends instead of the Kong plugin's config.scopes (an override; default: Kong's). */
  scopes?: string[];
}

/** Auth0: the application Kong authenticates as, and a Management API machine-to-machine client. */
export interface Auth0IdpConfig {
  kind: "auth0";
  domain: string;
  clientId: string;
  management: { clientId: string; clientSecret: SecretRef };
}

/** A credential's identity provider: exactly one (README "Configuration reference"). */
export type IdpConfig = EntraIdpConfig | OktaIdpConfig | Auth0IdpConfig;

export interface CredentialConfig {
  name: string;
  certificateName: string;
  /** The Key Vault holding the certificate: the credential's keyVault.url, else the top-level one. */
  keyVaultUrl: string;
  idp: IdpConfig;
  kong: KongTargetSpec[];
  /** Effective policy: defaults, then the file's `policy`, then the credential's own `policy`. */
  policy: Policy;
}

export interface Config {
  /** The default Key Vault (credentials may name their own: CredentialConfig.keyVaultUrl). */
  keyVault: { url: string };
  cloud: { authorityHost: string; graphBaseUrl: string };
  credentials: CredentialConfig[];
  alerts: {
    /** `url`: the URL itself, or where to read it (an environment variable or a Key Vault secret). */
    webhooks: { url: string | SecretRef; format: "generic" | "teams" | "slack" }[];
    remindEveryMs: number;
    expiryWarningMs: number;
  };
  sync: { reapplyOnDrift: boolean };
  /** Overrides of the documented rate limits (src/limits.ts), per process. */
  limits?: LimitOverrides;
}

export interface ConfigIssue {
  path: string;
  message: string;
}

const PUBLIC_CLOUD = {
  authorityHost: "https://login.microsoftonline.com",
  graphBaseUrl: "https://graph.microsoft.com",
};
const MONTH_MS = 30 * 86_400_000;

export class ConfigError extends RotatorError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[], source: string) {
    super(
      "CONFIG_INVALID",
      `configuration ${source} is invalid:\n` +
        issues.map((i) => `  - ${i.path || "(root)"}: ${i.message}`).join("\n"),
      "Fix the listed fields; nothing external was touched. See README 'Configuration reference'.",
      { details: { issues } },
    );
    this.issues = issues;
  }
}

function pathOf(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
    .join("")
    .replace(/^\./, "");
}

/** Validate an already-parsed document. Throws ConfigError listing every problem with its path. */
export function parseConfig(doc: unknown, source = "(inline)"): Config {
  const result = configSchema.safeParse(doc);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => ({ path: pathOf(i.path), message: i.message })),
      source,
    );
  }
  return resolve(result.data, source);
}

function resolve(cfg: ParsedConfig, source: string): Config {
  const issues: ConfigIssue[] = [];
  const base = { ...policySchema.omit({ algorithm: true }).parse(defaultPolicy), ...(cfg.policy ?? {}) };
  const credentials = cfg.credentials.map((c, i): CredentialConfig => {
    const idp = toIdpConfig(c);
    const where = `credentials[${i}].policy`;
    const algorithm = c.policy?.algorithm ?? cfg.policy?.algorithm ?? defaultAlgorithm(idp.kind);
    const accepted = IDP_RULES[idp.kind].algorithms;
    if (!accepted.includes(algorithm))
      issues.push({
        path: `${c.policy?.algorithm ? where : "policy"}.algorithm`,
        message: `${idp.kind} does not accept ${algorithm} client assertions for credential ${c.name}; use ${accepted.join(" or ")}`,
      });
    const policy: Policy = { ...base, ...(c.policy ?? {}), algorithm } as Policy;
    const validityMs = policy.validityMonths * MONTH_MS;
    if (policy.renewBefore >= validityMs)
      issues.push({
        path: `${where}.renewBefore`,
        message: "renewBefore must be shorter than validityMonths",
      });
    if (policy.overlap >= validityMs - policy.renewBefore)
      issues.push({
        path: `${where}.overlap`,
        message: "overlap must end before the next renewal window (overlap < validity - renewBefore)",
      });
    if (policy.verifyInterval * policy.verifyConsecutive > policy.verifyTimeout)
      issues.push({
        path: `${where}.verifyTimeout`,
        message:
          "verifyTimeout is shorter than verifyConsecutive × verifyInterval; verification could never pass",
      });
    c.kong.forEach((t, j) => {
      if (!t.vaultReference) return;
      const problem = referenceSecretNameProblem(t.vaultReference, c.name);
      if (problem)
        issues.push({ path: `credentials[${i}].kong[${j}].vaultReference.secretPrefix`, message: problem });
    });
    return {
      name: c.name,
      certificateName: c.certificateName,
      keyVaultUrl: c.keyVault?.url ?? cfg.keyVault.url,
      idp,
      kong: c.kong.map(toTargetSpec),
      policy,
    };
  });
  if (issues.length) throw new ConfigError(issues, source);
  return {
    keyVault: cfg.keyVault,
    cloud: {
      authorityHost: cfg.cloud?.authorityHost ?? PUBLIC_CLOUD.authorityHost,
      graphBaseUrl: cfg.cloud?.graphBaseUrl ?? PUBLIC_CLOUD.graphBaseUrl,
    },
    credentials,
    alerts: {
      webhooks: cfg.alerts?.webhooks ?? [],
      remindEveryMs: cfg.alerts?.remindEvery ?? 4 * 3_600_000,
      expiryWarningMs: cfg.alerts?.expiryWarning ?? 14 * 86_400_000,
    },
    sync: { reapplyOnDrift: cfg.sync?.reapplyOnDrift ?? true },
    ...(cfg.limits ? { limits: cfg.limits } : {}),
  };
}

type ParsedCredential = ParsedConfig["credentials"][number];
type ParsedTarget = ParsedCredential["kong"][number];

/** The schema guarantees exactly one IdP per credential (./schema.ts); its entry maps its part. */
function toIdpConfig(c: ParsedCredential): IdpConfig {
  const idp = idpConfigOf(c);
  if (!idp) throw new Error("unreachable: the schema requires exactly one identity provider");
  return idp;
}

/** The schema guarantees exactly one kind per target (./schema.ts). */
function toTargetSpec(t: ParsedTarget): KongTargetSpec {
  const select = {
    ...(t.pluginId !== undefined ? { pluginId: t.pluginId } : {}),
    ...(t.pluginTags !== undefined ? { pluginTags: t.pluginTags } : {}),
  };
  const token = t.adminToken !== undefined ? { adminToken: t.adminToken } : {};
  const ref = t.vaultReference ? { vaultReference: t.vaultReference } : {};
  if (t.konnect) {
    const { maxLag, ...k } = t.konnect;
    return { name: t.name, konnect: { ...k, maxLagMs: maxLag }, ...select, ...ref };
  }
  if (t.kubernetes) {
    const { maxLag, kubeconfig, ...k } = t.kubernetes;
    const credentials =
      kubeconfig === undefined
        ? {}
        : typeof kubeconfig === "string"
          ? { kubeconfig }
          : { kubeconfigSecret: kubeconfig };
    return { name: t.name, kubernetes: { ...k, ...credentials, maxLagMs: maxLag }, ...ref };
  }
  if (t.dbless)
    return {
      name: t.name,
      dbless: { nodes: t.dbless.nodes, maxLagMs: t.dbless.maxLag },
      ...select,
      ...token,
      ...ref,
    };
  return {
    name: t.name,
    adminUrl: t.adminUrl ?? "",
    ...(t.workspace !== undefined ? { workspace: t.workspace } : {}),
    ...(t.dataPlanes ? { dataPlanes: { confirm: t.dataPlanes.confirm, maxLagMs: t.dataPlanes.maxLag } } : {}),
    ...select,
    ...token,
    ...ref,
  };
}

/** Line and column (1-based) of a character offset. */
function lineColumn(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const line = before.split("\n").length;
  return { line, col: before.length - before.lastIndexOf("\n") };
}

/**
 * Where JSON.parse failed. V8 says "at position N" for most errors and names only the offending token,
 * with the text around it, for some: then the shortest prefix that fails for a reason other than ending
 * too early ends at the offending character.
 */
function jsonErrorOffset(text: string, message: string): number {
  const at = /at position (\d+)/.exec(message);
  if (at) return Number(at[1]);
  if (/Unexpected end of JSON input/.test(message)) return text.length;
  const failsInside = (length: number): boolean => {
    try {
      JSON.parse(text.slice(0, length));
      return false;
    } catch (e) {
      const m = (e as Error).message;
      const p = /at position (\d+)/.exec(m);
      return !/Unexpected end of JSON input/.test(m) && !(p && Number(p[1]) >= length);
    }
  };
  let lo = 0;
  let hi = text.length;
  while (lo + 1 < hi) {
    const mid = (lo + hi) >> 1;
    if (failsInside(mid)) hi = mid;
    else lo = mid;
  }
  return hi - 1;
}

/**
 * Why the text is not a document, by position only: the parsers' own messages quote the offending line,
 * and a configuration line can hold a webhook URL or a token, which must not reach doctor's report or the
 * logs.
 */
function syntaxIssue(text: string, source: string, e: unknown): ConfigIssue {
  if (source.endsWith(".json")) {
    const { line, col } = lineColumn(text, jsonErrorOffset(text, (e as Error).message));
    return { path: "", message: `not valid JSON: syntax error at line ${line}, column ${col}` };
  }
  const pos = e instanceof YAMLError ? e.linePos?.[0] : undefined;
  const code = e instanceof YAMLError ? ` (${e.code})` : "";
  return {
    path: "",
    message: `not valid YAML: syntax error${pos ? ` at line ${pos.line}, column ${pos.col}` : ""}${code}`,
  };
}

/** Parse YAML or JSON text (JSON is valid YAML, but JSON errors read better from JSON.parse). */
export function parseConfigText(text: string, source: string): Config {
  let doc: unknown;
  try {
    // logLevel error: warnings are not printed (they quote the document too); errors throw.
    doc = source.endsWith(".json") ? JSON.parse(text) : parseYaml(text, { logLevel: "error" });
  } catch (e) {
    throw new ConfigError([syntaxIssue(text, source, e)], source);
  }
  return parseConfig(doc, source);
}

export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new RotatorError(
      "CONFIG_NOT_FOUND",
      `cannot read configuration file ${path}: ${(e as NodeJS.ErrnoException).code ?? "error"}`,
      "Pass --config <file> or set the ROTATOR_CONFIG app setting to the file's path.",
    );
  }
  return parseConfigText(text, path);
}

/** The named credential; an unknown name is a usage error (exit 2, HTTP 404), raised before any other work. */
export function credentialOf(config: Pick<Config, "credentials">, name: string): CredentialConfig {
  const c = config.credentials.find((x) => x.name === name);
  if (!c)
    throw new RotatorError(
      "UNKNOWN_CREDENTIAL",
      `no credential named "${name}" in the configuration`,
      `Configured credentials: ${config.credentials.map((x) => x.name).join(", ")}.`,
      { status: 404 },
    );
  return c;
}

/** Is this authority one of Microsoft's public-cloud hosts? If not, instance discovery must be off. */
export function isMicrosoftAuthority(authorityHost: string): boolean {
  const host = new URL(authorityHost).hostname;
  return [
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
  ].includes(host);
}
