import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Secret hygiene: the last line of defence before anything leaves the process (logs, alerts, HTTP
 * responses, CLI output). Code must not put secrets into messages in the first place; this scrubber
 * catches what slips through.
 *
 * It removes:
 * - PEM private key blocks;
 * - compact JWS/JWE (tokens, client assertions, proofs): `eyJ...` with two or more dots;
 * - `Bearer <token>` and `Kong-Admin-Token` header values;
 * - values of private JWK members (`d p q dp dq qi k oth r t`) in JSON text;
 * - any value registered with `registerSecret` (admin tokens read from env or Key Vault) in the current
 *   secret scope.
 *
 * Registered values live only as long as the run that read them: each function invocation and CLI command
 * runs in `withSecretScope`, registrations go to that scope (AsyncLocalStorage, so concurrent invocations
 * do not see each other's values) and are dropped when it ends. Outside any scope a registration goes to a
 * small bounded set (the most recent UNSCOPED_LIMIT values), so the registry never grows with the number
 * of runs or of values rotated through Key Vault. Values the process holds for its whole life, read once
 * from its own environment (a storage account key in AzureWebJobsStorage), are registered with
 * `registerProcessSecret`: there are as many as the environment has, whatever the number of runs.
 */
interface SecretScope {
  values: Set<string>;
  parent?: SecretScope;
}

const scopes = new AsyncLocalStorage<SecretScope>();
const UNSCOPED_LIMIT = 16;
const unscoped = new Set<string>();
const processWide = new Set<string>();

export function registerProcessSecret(value: string | undefined): void {
  if (value && value.length >= 6) processWide.add(value);
}

export function registerSecret(value: string | undefined): void {
  if (!value || value.length < 6) return;
  const scope = scopes.getStore();
  if (scope) {
    scope.values.add(value);
    return;
  }
  unscoped.delete(value);
  unscoped.add(value);
  if (unscoped.size > UNSCOPED_LIMIT) unscoped.delete(unscoped.values().next().value as string);
}

/** Run `fn` with its own secret registrations (nested scopes also redact the outer scopes' values). */
export async function withSecretScope<T>(fn: () => Promise<T>): Promise<T> {
  const parent = scopes.getStore();
  const scope: SecretScope = { values: new Set(), ...(parent ? { parent } : {}) };
  try {
    return await scopes.run(scope, fn);
  } finally {
    scope.values.clear();
  }
}

/** How many values the redactor holds for the caller's context (tests prove it does not grow). */
export function registeredSecretCount(): number {
  let n = unscoped.size + processWide.size;
  for (let s = scopes.getStore(); s; s = s.parent) n += s.values.size;
  return n;
}

function* registered(): Generator<string> {
  for (let s = scopes.getStore(); s; s = s.parent) yield* s.values;
  yield* unscoped;
  yield* processWide;
}

const PEM_PRIVATE = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g;
const COMPACT_JWT =
  /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?/g;
const BEARER = /\b(Bearer)\s+[A-Za-z0-9._~+/=-]+/gi;
const PRIVATE_MEMBER = /("(?:d|p|q|dp|dq|qi|k|oth|r|t)"\s*:\s*)("(?:[^"\\]|\\.)*"|\[[^\]]*\])/g;

export const REDACTED = "[REDACTED]";

export function redactText(text: string): string {
  let out = text
    .replace(PEM_PRIVATE, REDACTED)
    .replace(COMPACT_JWT, REDACTED)
    .replace(BEARER, `$1 ${REDACTED}`)
    .replace(PRIVATE_MEMBER, `$1"${REDACTED}"`);
  for (const s of registered()) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

const PRIVATE_KEYS = new Set(["d", "p", "q", "dp", "dq", "qi", "k", "oth", "r", "t"]);
const SECRET_FIELD =
  /^(?:authorization|kong-admin-token|access_token|refresh_token|id_token|client_secret|client_assertion|proof|password|secret|token|value|pem|privateKey)$/i;

/**
 * Deep copy of a value with secrets removed, for structured logging. A value reached twice through
 * different branches (a shared array or object) is copied each time; only a value that contains itself
 * (a true cycle, found on the current path from the root) becomes `[Circular]`.
 */
export function redact<T>(value: T): T {
  return walk(value, new Set()) as T;
}

function walk(v: unknown, path: Set<object>): unknown {
  if (typeof v === "string") return redactText(v);
  if (v === null || typeof v !== "object") return v;
  if (path.has(v)) return "[Circular]";
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return `[${v.byteLength} bytes]`;
  path.add(v);
  try {
    if (v instanceof Error) {
      const withJson = v as Error & { toJSON?: () => unknown };
      if (typeof withJson.toJSON === "function") return walk(withJson.toJSON(), path);
      return { name: v.name, message: redactText(v.message) };
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, path));
    const out: Record<string, unknown> = {};
    const isJwk = "kty" in v;
    for (const [k, x] of Object.entries(v)) {
      if ((isJwk && PRIVATE_KEYS.has(k)) || (SECRET_FIELD.test(k) && typeof x === "string"))
        out[k] = REDACTED;
      else out[k] = walk(x, path);
    }
    return out;
  } finally {
    path.delete(v);
  }
}

/**
 * Long base64/base64url runs (key material, tokens) are removed from text a remote service echoes back;
 * runs without digits or capitals are identifiers such as "self_signed_tls_client_auth" and are kept.
 */
const LONG_OPAQUE = /[A-Za-z0-9_\-+/=]{24,}/g;

/**
 * Text another system wrote that may quote what we sent it (Kong's Admin API errors, KIC's admission
 * webhook, Kubernetes Events, KongVault conditions): the redactor's patterns and registered values, then
 * every long opaque run, cut to `maxLength`. The one scrub for echoed messages, before they reach an
 * error, an alert, the page or the history.
 */
export function scrubEchoedText(text: string, maxLength = 300): string {
  return redactText(text)
    .replace(LONG_OPAQUE, (run) => (/[0-9A-Z]/.test(run) ? REDACTED : run))
    .slice(0, maxLength);
}
