/**
 * The identity-provider port for Entra ID: the app registration's keyCredentials through Microsoft Graph,
 * proven at the tenant's v2.0 token endpoint.
 *
 * - A key is matched by its certificate thumbprint (Entra matches the assertion's x5t header).
 * - register(): with a current key of the app to sign with, `addKey` and its proof of possession, which
 *   needs no Graph permission ("an application does not need any specific permission to roll its own
 *   keys", https://learn.microsoft.com/graph/api/application-addkey). Without one (bootstrap, every key
 *   expired), PATCH keyCredentials, which needs Application.ReadWrite.OwnedBy as an owner of the app, or
 *   .All (https://learn.microsoft.com/graph/api/application-update).
 * - remove(): `removeKey` with a proof signed by a current key (never the key being removed), else PATCH.
 * - A listed key is usable at once: activate() and withdraw() have nothing to do.
 */
import type { JwsSigner } from "../../../crypto/jws.js";
import type { SigningAlg } from "../../../crypto/keymaterial.js";
import { isRotatorError, RotatorError } from "../../../errors.js";
import type {
  IdentityProvider,
  IdpKey,
  IdpSecret,
  PublicKeyMaterial,
  TokenAttempt,
} from "../../../ports/engine.js";
import type { IdpDiagnosisContext, IdpFinding } from "../../../ports/diagnosis.js";
import { ENTRA_RULES } from "./rules.js";
import type { EntraApplication, EntraDirectory, KeyCredential, TokenEndpoint } from "./types.js";

export interface EntraIdpOptions {
  tenantId: string;
  clientId: string;
  directory: EntraDirectory;
  tokens: TokenEndpoint;
}

/** The PATCH fallback is not allowed: refused by Graph (`cause`), or seen beforehand (no cause). */
export function patchForbidden(cause: unknown): RotatorError {
  return new RotatorError(
    "ENTRA_PATCH_FORBIDDEN",
    (cause === undefined
      ? "the service identity's Graph token grants no permission to PATCH /applications"
      : "Graph refused PATCH /applications (403)") +
      ": the app has no valid key of ours, so addKey cannot be used",
    "Grant the service's identity the Microsoft Graph application permission Application.ReadWrite.OwnedBy and add it as an owner of the app " +
      "(or grant Application.ReadWrite.All). Alternatively upload the pending certificate to the app once by hand; later rotations use addKey, which needs no permission.",
    cause === undefined ? {} : { status: 403, cause },
  );
}

function mapPatchError(e: unknown): unknown {
  return isRotatorError(e) && e.status === 403 ? patchForbidden(e) : e;
}

function publishNotListed(x5t: string): RotatorError {
  return new RotatorError(
    "PUBLISH_NOT_LISTED",
    `the app does not list key ${x5t} after the PATCH`,
    "Graph accepted the update but the key is missing; another writer may have replaced keyCredentials. Run again.",
    { retryable: true },
  );
}

const BOOTSTRAP_HINT =
  "Until a key of ours is registered and valid, registration uses PATCH keyCredentials, which needs Application.ReadWrite.OwnedBy with the service identity an owner of the app (or Application.ReadWrite.All). Once the first key is active, addKey/removeKey need no Graph write permission.";

function toKey(k: KeyCredential): IdpKey {
  return {
    id: k.keyId,
    ...(k.x5t ? { x5t: k.x5t, kid: k.x5t } : {}),
    usable: true,
    ...(k.displayName ? { displayName: k.displayName } : {}),
    ...(k.startDateTime ? { notBefore: k.startDateTime } : {}),
    ...(k.endDateTime ? { expiresAt: k.endDateTime } : {}),
  };
}

export class EntraIdentityProvider implements IdentityProvider {
  readonly kind = "entra";
  readonly rules = ENTRA_RULES.rules;
  readonly client: string;
  /** The application as last read: its object id addresses the writes. */
  private app: EntraApplication | undefined;

  constructor(private readonly options: EntraIdpOptions) {
    this.client = `${ENTRA_RULES.clientNoun} ${options.clientId}`;
  }

  private async read(): Promise<EntraApplication> {
    this.app = await this.options.directory.getApplication(this.options.clientId);
    return this.app;
  }

  async listKeys(): Promise<IdpKey[]> {
    return (await this.read()).keyCredentials.map(toKey);
  }

  async register(material: PublicKeyMaterial, current?: JwsSigner): Promise<IdpKey> {
    const app = this.app ?? (await this.read());
    const listed = app.keyCredentials.find((k) => k.x5t === material.x5t);
    if (listed) return toKey(listed);
    const { directory } = this.options;
    if (current) {
      const added = await directory.addKey(app, material.certDer, current, material.displayName);
      const listed = { ...added, x5t: added.x5t ?? material.x5t };
      // The listing this adapter holds includes the key now, so that registering it again is a no-op.
      this.app = { ...app, keyCredentials: [...app.keyCredentials, listed] };
      return toKey(listed);
    }
    let after: EntraApplication;
    try {
      // PATCH replaces the whole collection: start from a fresh read, not from the listing a run began with.
      after = await directory.patchKeyCredentials(await this.read(), {
        add: { certDer: material.certDer, displayName: material.displayName },
      });
    } catch (e) {
      throw mapPatchError(e);
    }
    this.app = after;
    const key = after.keyCredentials.find((k) => k.x5t === material.x5t);
    if (!key) throw publishNotListed(material.x5t);
    return toKey(key);
  }

  async activate(): Promise<void> {
    // A listed keyCredential is accepted at the token endpoint once it has propagated.
  }

  async withdraw(): Promise<void> {
    // Entra has no disabled state for a keyCredential: removal is the withdrawal.
  }

  async remove(key: IdpKey, current?: JwsSigner): Promise<void> {
    const app = this.app ?? (await this.read());
    if (!app.keyCredentials.some((k) => k.keyId === key.id)) return;
    if (current) {
      await this.options.directory.removeKey(app, key.id, current);
      this.app = { ...app, keyCredentials: app.keyCredentials.filter((k) => k.keyId !== key.id) };
      return;
    }
    try {
      this.app = await this.options.directory.patchKeyCredentials(await this.read(), {
        removeKeyIds: [key.id],
      });
    } catch (e) {
      throw mapPatchError(e);
    }
  }

  readonly secretMigration = ENTRA_RULES.secretMigration;

  async listSecrets(): Promise<IdpSecret[]> {
    const app = await this.read();
    const signIns = await this.options.directory.secretSignIns?.(app);
    const now = Date.now();
    return app.passwordCredentials.map((p) => ({
      id: p.keyId,
      ...(p.hint ? { hint: p.hint } : {}),
      ...(p.displayName ? { displayName: p.displayName } : {}),
      ...(p.endDateTime ? { expiresAt: p.endDateTime } : {}),
      ...(signIns?.[p.keyId] ? { lastSignIn: signIns[p.keyId] } : {}),
      usable: p.endDateTime === undefined || Date.parse(p.endDateTime) > now,
    }));
  }

  async switchToKeys(): Promise<void> {
    // Nothing to switch: the app accepts any listed secret or certificate.
  }

  async retireSecret(secret: IdpSecret): Promise<void> {
    const app = await this.read();
    if (!app.passwordCredentials.some((p) => p.keyId === secret.id)) return;
    await this.options.directory.removePassword(app, secret.id);
  }

  verify(signer: JwsSigner, alg: SigningAlg): Promise<TokenAttempt> {
    return this.options.tokens.tryClientAssertion(this.options.tenantId, this.options.clientId, signer, alg);
  }

  async preflightRegister(current: boolean): Promise<RotatorError | undefined> {
    if (current || !this.options.directory.canPatchKeyCredentials) return undefined;
    const app = this.app ?? (await this.read());
    return (await this.options.directory.canPatchKeyCredentials(app)) === false
      ? patchForbidden(undefined)
      : undefined;
  }

  verifyHint(x5t: string): string {
    return (
      "Entra propagates a new key in seconds to minutes with no SLA; the key stays published and the next run verifies again. " +
      `If it keeps failing, check that key ${x5t} is listed under Certificates & secrets of app ${this.options.clientId} and that tenantId and clientId are right.`
    );
  }

  /** Which path the next registration takes: addKey signed by the current key, or the PATCH fallback. */
  async diagnose(context: IdpDiagnosisContext): Promise<IdpFinding[]> {
    if (context.currentKey === undefined) return [];
    return [
      context.currentKey !== null
        ? {
            status: "pass",
            code: "ENTRA_ADDKEY_OK",
            message: `the active key ${context.currentKey} is registered and valid: the next key is added with addKey, signed by it`,
          }
        : {
            status: "warn",
            code: "ENTRA_BOOTSTRAP_PATCH",
            message:
              "the app has no valid key of an active generation: the next registration uses PATCH keyCredentials",
            hint: BOOTSTRAP_HINT,
          },
    ];
  }
}
