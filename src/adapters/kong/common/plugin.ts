/**
 * Pure logic over an openid-connect plugin as the Admin API returns it: which client slot is ours, whether
 * it can use our key, and the new `client_jwk` array that replaces only our entry.
 *
 * Kong reads the client arrays in parallel, each falling back to its first entry
 * (`client.jwk = jwks[client_index] or jwks[1]`, same for client_auth and client_alg;
 * kong/plugins/openid-connect/clients.lua in github.com/Kong/kong). Errors name plugins and clients only,
 * never config values: the config holds other clients' private keys.
 */
import { PRIVATE_JWK_MEMBERS, publicView, type KongPrivateJwk } from "../../../crypto/keymaterial.js";
import { referencedSecret } from "../../../engine/vault-ref.js";
import { RotatorError } from "../../../errors.js";
import { clientAlgProblem, type IdpKind } from "../../../idp-rules.js";
import { checkFieldReadBack, checkReadBack } from "./readback.js";
import type {
  KongApplyOptions,
  KongClientAuthView,
  KongConfirmation,
  KongPluginView,
} from "../../../ports/engine.js";
import type { KongPluginDiagnosis } from "../../../ports/diagnosis.js";

export type JwkEntry = Record<string, unknown>;

export interface OidcPlugin {
  id: string;
  name: string;
  config: Record<string, unknown>;
}

export interface ClientSlot {
  /** Index of our client in config.client_id. */
  index: number;
  /** Effective client_auth (ours or the first). */
  auth: unknown;
  /** Effective client_alg (ours or the first), when set. */
  alg: unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const arrayOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const parallel = (arr: unknown[], i: number): unknown => arr[i] ?? arr[0];

export function parsePlugin(body: unknown, target: string, where: string): OidcPlugin {
  if (
    !isRecord(body) ||
    typeof body.id !== "string" ||
    typeof body.name !== "string" ||
    !isRecord(body.config)
  )
    throw new RotatorError(
      "KONG_BAD_RESPONSE",
      `Kong target ${target}: ${where} did not return a plugin entity`,
      "Check that adminUrl points at the Kong Admin API.",
    );
  return { id: body.id, name: body.name, config: body.config };
}

/** Our client's position in config.client_id; throws for a plugin that is not openid-connect or lacks it. */
function clientIndex(plugin: OidcPlugin, clientId: string, target: string): number {
  if (plugin.name !== "openid-connect")
    throw new RotatorError(
      "KONG_NOT_OIDC",
      `Kong plugin ${plugin.id} is not an openid-connect plugin (it is ${plugin.name})`,
      `Point target ${target} at the openid-connect plugin: set pluginId to its id, or tag only that plugin.`,
    );
  const index = arrayOf(plugin.config.client_id).indexOf(clientId);
  if (index < 0)
    throw new RotatorError(
      "KONG_CLIENT_NOT_FOUND",
      `Kong plugin ${plugin.id} has no client_id ${clientId}`,
      "Add the client id to config.client_id (a vault reference there cannot be matched; use the literal id).",
    );
  return index;
}

export function clientSlot(plugin: OidcPlugin, clientId: string, target: string): ClientSlot {
  const index = clientIndex(plugin, clientId, target);
  const auth = parallel(arrayOf(plugin.config.client_auth), index);
  if (auth !== "private_key_jwt")
    throw new RotatorError(
      "KONG_NOT_PRIVATE_KEY_JWT",
      `Kong plugin ${plugin.id}: client ${clientId} uses client_auth ${typeof auth === "string" ? auth : "unset"}, not private_key_jwt`,
      `Set config.client_auth[${index}] to "private_key_jwt" (client_auth is parallel to client_id and falls back to its first entry).`,
    );
  return { index, auth, alg: parallel(arrayOf(plugin.config.client_alg), index) };
}

/** client_alg, when set, must be an algorithm the credential's IdP accepts (the shared rule, `clientAlgProblem`). */
export function checkClientAlg(plugin: OidcPlugin, slot: ClientSlot, clientId: string, idp: IdpKind): void {
  const problem = clientAlgProblem(slot.alg, slot.index, idp);
  if (problem)
    throw new RotatorError(
      "KONG_CLIENT_ALG_INCOMPATIBLE",
      `Kong plugin ${plugin.id}: client ${clientId}: ${problem.message}`,
      problem.hint,
    );
}

/**
 * The whole new client_jwk array (PATCH replaces arrays wholesale): ours at `index`, every other client's
 * effective key unchanged. Slots before ours that relied on the fallback to client_jwk[0] get a copy of it;
 * when ours is index 0, clients beyond the array's end (which fell back to [0]) are pinned to the old [0].
 */
export function placeJwk(plugin: OidcPlugin, slot: ClientSlot, jwk: KongPrivateJwk): JwkEntry[] {
  const clients = arrayOf(plugin.config.client_id);
  const auths = arrayOf(plugin.config.client_auth);
  const old = arrayOf(plugin.config.client_jwk).map((e) => (isRecord(e) ? e : {}));
  const first = old[0];
  const next = old.slice();
  const layout = (why: string) =>
    new RotatorError(
      "KONG_CLIENT_JWK_LAYOUT",
      `Kong plugin ${plugin.id}: cannot place our key at client_jwk[${slot.index}]: ${why}`,
      "client_jwk is positional (parallel to client_id): add client_jwk entries for the clients before ours, or move our client_id to the first position.",
    );
  for (let j = next.length; j < slot.index; j++) {
    if (!first) throw layout("client_jwk is empty, so the clients before ours have no key to keep");
    next.push(structuredClone(first));
  }
  next[slot.index] = { ...jwk };
  if (slot.index === 0) {
    for (let j = Math.max(old.length, 1); j < clients.length; j++) {
      if (first) next[j] = structuredClone(first);
      else if (parallel(auths, j) === "private_key_jwt")
        throw layout(`client ${j} uses private_key_jwt with the fallback key and would switch to ours`);
    }
  }
  return next;
}

/** Our effective entry: client_jwk[index], else client_jwk[0]. */
export function effectiveJwk(plugin: OidcPlugin, index: number): JwkEntry | undefined {
  const e = parallel(arrayOf(plugin.config.client_jwk), index);
  return isRecord(e) ? e : undefined;
}

/** Our own entry, client_jwk[index], without the fallback (what a write to our slot changes). */
export function ownJwk(plugin: OidcPlugin, index: number): unknown {
  return arrayOf(plugin.config.client_jwk)[index];
}

/** Does the stored entry already hold exactly this key? Kong returns unset record members as null. */
export function holdsJwk(entry: JwkEntry | undefined, jwk: KongPrivateJwk): boolean {
  if (!entry) return false;
  const keys = new Set([...Object.keys(entry), ...Object.keys(jwk)]);
  const sent = jwk as unknown as Record<string, unknown>;
  for (const k of keys) if ((entry[k] ?? null) !== (sent[k] ?? null)) return false;
  return true;
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/**
 * The scopes Kong sends to the token endpoint: config.scopes, ["openid"] when unset (the plugin schema's
 * default; "The scopes passed to the authorization and token endpoints", openid-connect config schema).
 */
export function pluginScopes(config: Record<string, unknown>): string[] {
  return Array.isArray(config.scopes)
    ? config.scopes.filter((x): x is string => typeof x === "string")
    : ["openid"];
}

export function toView(plugin: OidcPlugin, index: number, workspace: string | undefined): KongPluginView {
  const e = effectiveJwk(plugin, index);
  const pub = e ? publicView({ kid: str(e.kid), x5t: str(e.x5t), alg: str(e.alg), n: str(e.n) }) : {};
  const view: KongPluginView = {
    pluginId: plugin.id,
    clientIndex: index,
    scopes: pluginScopes(plugin.config),
  };
  if (workspace !== undefined) view.workspace = workspace;
  if (pub.kid !== undefined) view.kid = pub.kid;
  if (pub.x5t !== undefined) view.x5t = pub.x5t;
  if (pub.alg !== undefined) view.alg = pub.alg;
  if (pub.modulusPrefix !== undefined) view.modulusPrefix = pub.modulusPrefix;
  return view;
}

/** Public facts about a plugin for our client, without judging them (doctor and adopt judge). */
export function diagnosePlugin(
  plugin: OidcPlugin,
  clientId: string,
  workspace: string | undefined,
): KongPluginDiagnosis {
  const c = plugin.config;
  const index = arrayOf(c.client_id).indexOf(clientId);
  const d: KongPluginDiagnosis = {
    pluginId: plugin.id,
    name: plugin.name,
    clientIndex: index,
    clients: arrayOf(c.client_id).length,
  };
  if (workspace !== undefined) d.workspace = workspace;
  const set = <K extends keyof KongPluginDiagnosis>(k: K, v: KongPluginDiagnosis[K] | undefined) => {
    if (v !== undefined) d[k] = v;
  };
  set("issuer", str(c.issuer));
  const allowed = arrayOf(c.issuers_allowed).filter((x): x is string => typeof x === "string");
  if (allowed.length) d.issuersAllowed = allowed;
  set("sessionStorage", str(c.session_storage));
  d.scopes = pluginScopes(c);
  if (index < 0) return d;
  set("clientAuth", str(parallel(arrayOf(c.client_auth), index)));
  set("clientAlg", str(parallel(arrayOf(c.client_alg), index)));
  const own = ownJwk(plugin, index);
  const e = effectiveJwk(plugin, index);
  if (e && !isRecord(own)) d.jwkIsFallback = true;
  if (e) {
    const jwk: NonNullable<KongPluginDiagnosis["jwk"]> = {};
    for (const k of ["kid", "x5t", "alg", "kty", "n", "e"] as const) {
      const v = str(e[k]);
      if (v !== undefined) jwk[k] = v;
    }
    const s256 = str(e["x5t#S256"]);
    if (s256 !== undefined) jwk.x5tS256 = s256;
    d.jwk = jwk;
    const priv = PRIVATE_JWK_MEMBERS.map((m) => str(e[m])).filter((v) => v !== undefined && v !== "");
    d.jwkPrivate =
      priv.length === 0 ? "none" : priv.every((v) => /^\{vault:\/\/.+\}$/.test(v!)) ? "reference" : "inline";
    if (d.jwkPrivate === "reference") {
      const names = priv.map((v) => referencedSecret(v!)).map((r) => (r ? `${r.prefix}/${r.secret}` : "?"));
      d.jwkReferences = [...new Set(names)];
    }
  }
  return d;
}

/** The fields of `config` a write replaces (PATCH replaces arrays wholesale, so each is sent whole). */
export type ConfigWrite = Partial<Record<"client_jwk" | "client_auth" | "client_secret", unknown[] | null>>;

/**
 * Check that our client can take the key and compute the new client_jwk array; `write` is absent when
 * our entry already holds exactly this key (re-runs converge without writes).
 *
 * `switchAuth` (a migration from a client secret, docs/migration.md): our client may still use a client
 * secret method, and the same write also sets client_auth[i] = private_key_jwt, so that Kong never holds
 * private_key_jwt without our key, nor our key without the method that uses it.
 */
export function planJwkWrite(
  plugin: OidcPlugin,
  client: { id: string; idp: IdpKind },
  target: string,
  jwk: KongPrivateJwk,
  switchAuth = false,
): { slot: ClientSlot; write?: ConfigWrite } {
  const slot = switchAuth ? migrationSlot(plugin, client.id, target) : clientSlot(plugin, client.id, target);
  checkClientAlg(plugin, slot, client.id, client.idp);
  const current = ownJwk(plugin, slot.index);
  const write: ConfigWrite = {};
  if (!holdsJwk(isRecord(current) ? current : undefined, jwk)) write.client_jwk = placeJwk(plugin, slot, jwk);
  if (switchAuth && arrayOf(plugin.config.client_auth)[slot.index] !== "private_key_jwt")
    write.client_auth = placeAuth(plugin, slot);
  return Object.keys(write).length ? { slot, write } : { slot };
}

/** The write planners every kind applies: apply() (the key, with the method when switching) and dropSecret(). */
export function clientEdits(client: { id: string; idp: IdpKind }, target: string) {
  return {
    key:
      (jwk: KongPrivateJwk, options?: KongApplyOptions) =>
      (plugin: OidcPlugin): { slot: ClientSlot; write?: ConfigWrite } =>
        planJwkWrite(plugin, client, target, jwk, options?.switchAuth === true),
    dropSecret: (plugin: OidcPlugin): { slot: ClientSlot; write?: ConfigWrite } =>
      planSecretDrop(plugin, client.id, target),
  };
}

/** The client secret methods a migration starts from (client_auth values that send client_secret[i]). */
export const SECRET_METHODS: readonly string[] = ["client_secret_post", "client_secret_basic"];

/** Our slot for a migration: a client secret method, or private_key_jwt when the switch is already done. */
function migrationSlot(plugin: OidcPlugin, clientId: string, target: string): ClientSlot {
  const index = clientIndex(plugin, clientId, target);
  const auth = parallel(arrayOf(plugin.config.client_auth), index);
  if (auth !== "private_key_jwt" && !SECRET_METHODS.includes(String(auth)))
    throw new RotatorError(
      "MIGRATE_NOT_SECRET_AUTH",
      `Kong plugin ${plugin.id}: client ${clientId} uses client_auth ${typeof auth === "string" ? auth : "unset"}, neither a client secret method nor private_key_jwt`,
      `A migration starts from client_auth[${index}] = client_secret_post or client_secret_basic with client_secret[${index}] set.`,
    );
  return { index, auth, alg: parallel(arrayOf(plugin.config.client_alg), index) };
}

/**
 * The new client_auth array with ours set to private_key_jwt and every other client's effective method
 * unchanged (the same positional rule as placeJwk: slots before ours get the fallback value they used,
 * and when ours is index 0, clients beyond the array's end are pinned to the old first value).
 */
function placeAuth(plugin: OidcPlugin, slot: ClientSlot): unknown[] {
  const clients = arrayOf(plugin.config.client_id);
  const old = arrayOf(plugin.config.client_auth);
  const next = old.slice();
  for (let j = next.length; j < slot.index; j++) next.push(old[0] ?? "client_secret_basic");
  next[slot.index] = "private_key_jwt";
  if (slot.index === 0 && old[0] !== undefined)
    for (let j = Math.max(old.length, 1); j < clients.length; j++) next[j] = old[0];
  return next;
}

/**
 * Kong refuses empty strings in client_secret ("length must be at least 1", len_min 1 by default), so an
 * entry that must keep its position for the clients after ours holds this marker instead of the secret.
 * It is not a secret and no IdP issues it.
 */
export const SECRET_REMOVED = "removed-by-kong-key-rotator";

/** Our client's own client_secret entry, without the fallback. */
export function ownSecret(plugin: OidcPlugin, index: number): unknown {
  return arrayOf(plugin.config.client_secret)[index];
}

/** Does our own client_secret entry still hold a secret (not absent, not the removal marker)? */
export function holdsSecret(plugin: OidcPlugin, index: number): boolean {
  const v = ownSecret(plugin, index);
  return typeof v === "string" && v !== "" && v !== SECRET_REMOVED;
}

/**
 * The write that takes our secret out of client_secret, once our client uses private_key_jwt: the entry is
 * dropped when it is the last one (the array becomes null when nothing is left), else replaced by
 * SECRET_REMOVED. Refused (KONG_CLIENT_SECRET_SHARED) when ours is client_secret[0] and a client past the
 * array's end authenticates with a secret: it falls back to ours and would lose it.
 */
export function planSecretDrop(
  plugin: OidcPlugin,
  clientId: string,
  target: string,
): { slot: ClientSlot; write?: ConfigWrite } {
  const slot = clientSlot(plugin, clientId, target);
  if (!holdsSecret(plugin, slot.index)) return { slot };
  const secrets = arrayOf(plugin.config.client_secret);
  const auths = arrayOf(plugin.config.client_auth);
  const clients = arrayOf(plugin.config.client_id);
  if (slot.index === 0)
    for (let j = secrets.length; j < clients.length; j++)
      if (SECRET_METHODS.includes(String(parallel(auths, j))) || parallel(auths, j) === "client_secret_jwt")
        throw new RotatorError(
          "KONG_CLIENT_SECRET_SHARED",
          `Kong plugin ${plugin.id}: client ${String(clients[j])} has no client_secret entry of its own and falls back to ours (client_secret[0])`,
          `Give client ${String(clients[j])} its own client_secret[${j}] first; the rotator removes ours only when no other client uses it.`,
        );
  const next = secrets.slice();
  if (slot.index === next.length - 1) next.length = slot.index;
  else next[slot.index] = SECRET_REMOVED;
  return { slot, write: { client_secret: next.length ? next : null } };
}

/**
 * Our client's authentication as configured (a migration's view): never throws for a secret method, only
 * for a plugin that is not openid-connect or lacks our client. The secret's hint is its first three
 * characters, what Microsoft Graph lists as `hint` (passwordCredential); a vault reference has none.
 */
export function clientAuthView(
  plugin: OidcPlugin,
  clientId: string,
  target: string,
  workspace: string | undefined,
): KongClientAuthView {
  const index = clientIndex(plugin, clientId, target);
  const auth = str(parallel(arrayOf(plugin.config.client_auth), index));
  const own = ownSecret(plugin, index);
  const secret = holdsSecret(plugin, index);
  const hint =
    secret && typeof own === "string" && !/^\{vault:\/\/.+\}$/.test(own) ? own.slice(0, 3) : undefined;
  return {
    ...toView(plugin, index, workspace),
    ...(auth !== undefined ? { auth } : {}),
    secret,
    ...(hint !== undefined ? { secretHint: hint } : {}),
  };
}

/**
 * The read-back of a write planned by planJwkWrite or planSecretDrop (./readback.ts, one rule for every
 * kind): the key, and the method or the secret's removal when the write changed them.
 */
export function checkWriteReadBack(
  after: OidcPlugin,
  slot: ClientSlot,
  write: ConfigWrite,
  jwk: KongPrivateJwk | undefined,
  at: { target: string; where: string; details?: Record<string, unknown> },
): void {
  if (jwk && write.client_jwk)
    checkReadBack(ownJwk(after, slot.index), jwk, { ...at, where: `${at.where}, client_jwk[${slot.index}]` });
  if (write.client_auth)
    checkFieldReadBack(arrayOf(after.config.client_auth)[slot.index] === "private_key_jwt", "client_auth", {
      ...at,
      where: `${at.where}, client_auth[${slot.index}]`,
    });
  if (write.client_secret !== undefined)
    checkFieldReadBack(!holdsSecret(after, slot.index), "client_secret", {
      ...at,
      where: `${at.where}, client_secret[${slot.index}]`,
    });
}

/** Plugins whose effective entry for our client does not carry `kid` (a concurrent writer reverted it). */
export function pluginsOff(plugins: OidcPlugin[], clientId: string, target: string, kid: string): string[] {
  return plugins
    .filter((p) => toView(p, clientSlot(p, clientId, target).index, undefined).kid !== kid)
    .map((p) => p.id);
}

export function revertedConfirmation(off: string[], kid: string): KongConfirmation {
  return {
    state: "failed",
    code: "KONG_READBACK_MISMATCH",
    detail: `plugin(s) ${off.join(", ")} no longer hold ${kid} (a concurrent writer?)`,
    lagging: [],
  };
}
