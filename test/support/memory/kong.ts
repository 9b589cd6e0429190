/**
 * In-memory Kong target: one or more openid-connect plugins, each holding our client's entry of
 * `config.client_jwk`. `apply` replaces that entry in every plugin and reads it back with the adapters'
 * read-back rule (src/adapters/kong/common/readback.ts), as the port asks of every kind (PATCH /plugins/{id}
 * replaces arrays wholesale; the adapter keeps other clients' entries).
 * Kong signs with the JWK's own `alg` and puts `kid` in the assertion header, so both must be set.
 * Fault hooks: `dropWrites` (the Admin API answers 200 but the plugin keeps its old key, e.g. a concurrent
 * decK sync), `lag` (gateways named there have not taken the key: confirm answers pending; with
 * `maxLagMs` 0 the target confirms by read-back alone). Not reproduced: schema validation beyond required
 * members, workspaces.
 */
import { checkFieldReadBack, checkReadBack } from "../../../src/adapters/kong/common/readback.js";
import { RotatorError } from "../../../src/errors.js";
import type { KongPrivateJwk } from "../../../src/crypto/keymaterial.js";
import type {
  KongApplyOptions,
  KongApplyReceipt,
  KongClientAuthView,
  KongConfirmation,
  KongTokenCacheClearing,
  KongPluginView,
  KongTarget,
} from "../../../src/ports/engine.js";
import type { KongDiagnosis, KongVaultDiagnosis } from "../../../src/ports/diagnosis.js";
import type { Calls } from "./calls.js";
import { MEMORY_VAULT_URL } from "./store.js";

interface Plugin {
  pluginId: string;
  jwk?: Record<string, string>;
  /** Our client's client_auth (private_key_jwt unless startFromSecret). */
  auth?: string;
  /** Our client's client_secret entry, while it holds one. */
  secret?: string;
}

const PRIVATE = ["n", "e", "d", "p", "q", "dp", "dq", "qi"] as const;

export class MemoryKongTarget implements KongTarget {
  readonly plugins: Plugin[];
  dropWrites = false;
  maxLagMs = 0;
  /**
   * Vault entities by prefix, as the gateways see them; a prefix not listed is an azure vault reading the
   * in-memory store's vault.
   */
  readonly vaultEntities = new Map<string, KongVaultDiagnosis[]>();
  /** config.scopes of every plugin, as inspect reports them (Kong's default when unset). */
  scopes: string[] = ["openid"];
  /** Gateways that do not hold the key yet: confirm answers pending naming them until `until` (never when absent). */
  lag: { names: string[]; until?: Date; now: () => Date } | undefined;

  constructor(
    private readonly calls: Calls,
    readonly name: string,
    pluginCount = 1,
  ) {
    this.plugins = Array.from({ length: pluginCount }, (_, i) => ({
      pluginId: `00000000-0000-4000-8000-${name.padEnd(8, "0").slice(0, 8)}${String(i).padStart(4, "0")}`,
    }));
  }

  /** A traditional DB-backed node; each plugin is openid-connect with our client at index 0 using private_key_jwt. */
  diagnose(): Promise<KongDiagnosis> {
    return this.calls.run(`kong[${this.name}].diagnose`, false, () => ({
      kind: "admin" as const,
      node: { database: "postgres", role: "traditional" },
      plugins: this.plugins.map((p) => ({
        pluginId: p.pluginId,
        name: "openid-connect",
        clientIndex: 0,
        clientAuth: "private_key_jwt",
        scopes: [...this.scopes],
        ...(p.jwk
          ? {
              jwk: { kid: p.jwk.kid, x5t: p.jwk.x5t, alg: p.jwk.alg, kty: p.jwk.kty, n: p.jwk.n, e: p.jwk.e },
            }
          : {}),
      })),
    }));
  }

  vaults(prefix: string): Promise<KongVaultDiagnosis[]> {
    return this.calls.run(`kong[${this.name}].vaults`, false, () =>
      structuredClone(
        this.vaultEntities.get(prefix) ?? [
          { prefix, state: "found" as const, backend: "azure", vaultUri: MEMORY_VAULT_URL },
        ],
      ),
    );
  }

  inspect(): Promise<KongPluginView[]> {
    return this.calls.run(`kong[${this.name}].inspect`, false, () => {
      if (this.plugins.some((p) => (p.auth ?? "private_key_jwt") !== "private_key_jwt"))
        throw new RotatorError("KONG_NOT_PRIVATE_KEY_JWT", "client uses a client secret", "migrate it");
      return this.views();
    });
  }

  baseline(): Promise<string | undefined> {
    return this.calls.run(`kong[${this.name}].baseline`, false, () =>
      this.maxLagMs > 0 ? "base" : undefined,
    );
  }

  /** Token caches purged by clearTokenCache (a traditional node's `DELETE /cache`). */
  cacheClears = 0;

  clearTokenCache(): Promise<KongTokenCacheClearing> {
    return this.calls.run(`kong[${this.name}].clearTokenCache`, true, () => {
      this.cacheClears++;
      return { state: "cleared" as const, detail: "token cache purged" };
    });
  }

  confirm(expect: { kid: string }): Promise<KongConfirmation> {
    return this.calls.run(`kong[${this.name}].confirm`, false, (): KongConfirmation => {
      const off = this.plugins.filter((p) => p.jwk?.kid !== expect.kid).map((p) => p.pluginId);
      if (off.length)
        return {
          state: "failed",
          code: "KONG_READBACK_MISMATCH",
          detail: "plugin(s) no longer hold the key",
          lagging: [],
        };
      const lag = this.lag;
      if (lag && (lag.until === undefined || lag.now() < lag.until))
        return { state: "pending", detail: "data planes behind", lagging: [...lag.names] };
      return { state: "confirmed", detail: "read back" };
    });
  }

  readonly authMigration = "one-write" as const;

  /** Our client starts from a client secret with this method, as a migration finds it. */
  startFromSecret(secret: string, auth = "client_secret_post"): void {
    for (const p of this.plugins) Object.assign(p, { auth, secret, jwk: undefined });
  }

  clientAuth(): Promise<KongClientAuthView[]> {
    return this.calls.run(`kong[${this.name}].clientAuth`, false, () =>
      this.plugins.map((p, i) => ({
        ...this.views()[i]!,
        auth: p.auth ?? "private_key_jwt",
        secret: p.secret !== undefined,
        ...(p.secret !== undefined ? { secretHint: p.secret.slice(0, 3) } : {}),
      })),
    );
  }

  dropSecret(): Promise<KongApplyReceipt> {
    return this.calls.run(`kong[${this.name}].dropSecret`, true, () => {
      const wrote = this.plugins.some((p) => p.secret !== undefined);
      if (!this.dropWrites) for (const p of this.plugins) delete p.secret;
      for (const p of this.plugins)
        checkFieldReadBack(p.secret === undefined, "client_secret", {
          target: this.name,
          where: `plugin ${p.pluginId}, client_secret[0]`,
        });
      return { plugins: this.views(), wrote };
    });
  }

  apply(jwk: KongPrivateJwk, options?: KongApplyOptions): Promise<KongApplyReceipt> {
    return this.calls.run(`kong[${this.name}].apply`, true, () => {
      if (
        !options?.switchAuth &&
        this.plugins.some((p) => (p.auth ?? "private_key_jwt") !== "private_key_jwt")
      )
        throw new RotatorError("KONG_NOT_PRIVATE_KEY_JWT", "client uses a client secret", "migrate it");
      const missing = ["kid", "alg", "kty", ...PRIVATE].filter(
        (k) => typeof (jwk as unknown as Record<string, unknown>)[k] !== "string",
      );
      if (missing.length)
        throw new RotatorError(
          "KONG_SCHEMA_VIOLATION",
          `schema violation (client_jwk: missing ${missing.join(", ")})`,
          "Send a complete private JWK.",
          { status: 400 },
        );
      const wrote = this.plugins.some(
        (p) => p.jwk?.kid !== jwk.kid || (p.auth ?? "private_key_jwt") !== "private_key_jwt",
      );
      if (!this.dropWrites)
        for (const p of this.plugins) {
          p.jwk = { ...(jwk as unknown as Record<string, string>) };
          if (options?.switchAuth) p.auth = "private_key_jwt";
        }
      for (const p of this.plugins)
        checkReadBack(p.jwk, jwk, { target: this.name, where: `plugin ${p.pluginId}, client_jwk[0]` });
      return { plugins: this.views(), wrote };
    });
  }

  /** Kids held by the plugins (plugins without a key omitted). */
  kids(): string[] {
    return this.plugins.flatMap((p) => (p.jwk?.kid ? [p.jwk.kid] : []));
  }

  /** Put a JWK into every plugin directly, as an operator or decK would. */
  hold(jwk: Record<string, string>): void {
    for (const p of this.plugins) p.jwk = { ...jwk };
  }

  private views(): KongPluginView[] {
    return this.plugins.map((p) => ({
      pluginId: p.pluginId,
      clientIndex: 0,
      scopes: [...this.scopes],
      ...(p.jwk
        ? { kid: p.jwk.kid, x5t: p.jwk.x5t, alg: p.jwk.alg, modulusPrefix: p.jwk.n?.slice(0, 12) }
        : {}),
    }));
  }
}
