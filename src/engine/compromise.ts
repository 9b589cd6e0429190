/**
 * The key-compromise response (`rotate <name> --compromised`), as the engine reports it: what was revoked,
 * what the Kong targets did about cached tokens, and what no rotator can undo (tokens already issued).
 * Built from public facts only (thumbprints, key ids, request fields): never a secret.
 *
 * The steps themselves are the ordinary ones (plan.ts): a pending compromise request makes every
 * generation made before it due for retirement at once, and its completion (steps/request.ts) clears the
 * Kong token caches and produces this result.
 */
import type { KongTokenCacheClearing } from "../ports/engine.js";
import { effectiveActive, keyAtIdp, unmanagedKeys } from "./model.js";
import { answers, latestCompromise, type HeldRequest } from "./requests.js";
import type { Snapshot, UnmanagedKey } from "./types.js";

/** Kong keeps tokens too: said wherever the compromise response is reported. */
export const KONG_CACHE_CAVEAT =
  "Kong's openid-connect plugin caches tokens it obtained (cache_tokens, on by default) until they expire unless a target's token cache was cleared";

export interface TokenCacheOutcome {
  target: string;
  state: KongTokenCacheClearing["state"] | "failed";
  detail: string;
}

export interface CompromiseResult {
  request: string;
  state: "pending" | "done";
  requestedAt: string;
  actor?: string;
  reason?: string;
  /** The generation whose key was reported compromised. */
  compromised?: string;
  /** The generation that replaced it, once active. */
  replacement?: string;
  /** Thumbprints of the generations made before the request that are removed from the IdP and disabled. */
  revoked: string[];
  /** Generations made before the request still at the IdP or enabled in Key Vault. */
  remaining: string[];
  /** Keys at the IdP the rotator did not create: kept unless the request said revokeUnmanaged. */
  unmanaged: UnmanagedKey[];
  revokeUnmanaged: boolean;
  /** What each Kong target did about cached tokens (only once the request is done in this run). */
  tokenCaches?: TokenCacheOutcome[];
  /** Tokens already issued: what the IdP and Kong still honour. */
  tokens: string[];
}

/** The newest compromise response of the credential (pending or done), for status and run reports. */
export function compromiseView(
  s: Snapshot,
  tokenCaches?: TokenCacheOutcome[],
  held: HeldRequest | undefined = latestCompromise(s.generations),
): CompromiseResult | undefined {
  if (!held) return undefined;
  const r = held.request;
  const before = s.generations.filter((g) => !answers(g, held));
  const gone = (g: (typeof before)[number]) =>
    g.phase === "retired" && !g.enabled && !keyAtIdp(s.idp.keys, g);
  const active = effectiveActive(s.generations);
  const replacement = active && answers(active, held) ? (active.x5t ?? active.version) : undefined;
  return {
    request: r.id,
    state: r.state === "done" ? "done" : "pending",
    requestedAt: r.requestedAt.toISOString(),
    ...(r.actor ? { actor: r.actor } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
    compromised: held.holder.x5t ?? held.holder.version,
    ...(replacement ? { replacement } : {}),
    revoked: before.filter(gone).map((g) => g.x5t ?? g.version),
    remaining: before.filter((g) => !gone(g)).map((g) => g.x5t ?? g.version),
    unmanaged: unmanagedKeys(s),
    revokeUnmanaged: r.revokeUnmanaged === true,
    ...(tokenCaches ? { tokenCaches } : {}),
    tokens: [s.idp.rules.issuedTokens, KONG_CACHE_CAVEAT],
  };
}

/** The compromise response as lines for people (CLI status and rotate output, the status page). */
export function describeCompromise(c: CompromiseResult): string[] {
  const who = `${c.actor ? ` by ${c.actor}` : ""}${c.reason ? `: "${c.reason}"` : ""}`;
  const lines = [
    c.state === "done"
      ? `key compromise ${c.request} (${c.requestedAt}${who}): ${c.compromised ?? "?"} replaced by ${c.replacement ?? "?"}; revoked ${c.revoked.join(", ") || "(none)"}`
      : `key compromise ${c.request} in progress (${c.requestedAt}${who}): ${c.compromised ?? "?"} is being replaced` +
        (c.remaining.length ? `; still to revoke: ${c.remaining.join(", ")}` : ""),
  ];
  for (const t of c.tokenCaches ?? []) lines.push(`kong ${t.target} token cache: ${t.state} (${t.detail})`);
  for (const u of c.unmanaged)
    lines.push(
      `not managed by the rotator: ${u.x5t ?? u.keyId}${u.displayName ? ` (${u.displayName})` : ""} kept at the IdP` +
        (c.revokeUnmanaged
          ? " (to be removed: revokeUnmanaged)"
          : "; remove it with rotate --compromised --revoke-unmanaged"),
    );
  for (const t of c.tokens) lines.push(`tokens already issued: ${t}`);
  return lines;
}
