/**
 * The Entra adapter's own ports: the Graph application directory and the v2.0 token endpoint. The engine
 * never sees them; src/adapters/idp/entra/idp.ts puts them behind the identity-provider port.
 */
import type { JwsSigner } from "../../../crypto/jws.js";
import type { SigningAlg } from "../../../crypto/keymaterial.js";
import type { TokenAttempt } from "../../../ports/engine.js";

export interface KeyCredential {
  keyId: string;
  type: string;
  usage: string;
  displayName?: string | null;
  startDateTime?: string | null;
  endDateTime?: string | null;
  /** As Graph returns it (base64 Edm.Binary). */
  customKeyIdentifier?: string | null;
  /** base64url SHA-1 thumbprint derived from customKeyIdentifier, when it is one. */
  x5t?: string;
}

/** A client secret of the app (passwordCredential), as Graph lists it: never its value. */
export interface PasswordCredential {
  keyId: string;
  /** Its first three characters. */
  hint?: string;
  displayName?: string;
  endDateTime?: string;
}

export interface EntraApplication {
  objectId: string;
  appId: string;
  displayName: string;
  keyCredentials: KeyCredential[];
  passwordCredentials: PasswordCredential[];
}

export interface EntraDirectory {
  /** Resolve the application by appId (client id); throws ENTRA_APP_NOT_FOUND. */
  getApplication(clientId: string): Promise<EntraApplication>;
  /** addKey with a proof signed by a currently valid key of the app. */
  addKey(
    app: EntraApplication,
    certDer: Uint8Array,
    proofSigner: JwsSigner,
    displayName: string,
  ): Promise<KeyCredential>;
  /** removeKey with a proof signed by a currently valid key of the app (not the key being removed). */
  removeKey(app: EntraApplication, keyId: string, proofSigner: JwsSigner): Promise<void>;
  /** removePassword; resolves when the secret is already gone. Needs Application.ReadWrite.OwnedBy (owner) or .All. */
  removePassword(app: EntraApplication, keyId: string): Promise<void>;
  /**
   * The last sign-in of each client secret of the app by keyId (beta appCredentialSignInActivities);
   * undefined where Graph does not report it (no AuditLog.Read.All, a national cloud).
   */
  secretSignIns?(app: EntraApplication): Promise<Record<string, string> | undefined>;
  /**
   * Preflight for the PATCH fallback, without writing: may the service identity PATCH this app's
   * keyCredentials? `undefined` when it cannot tell (the PATCH itself then decides).
   */
  canPatchKeyCredentials?(app: EntraApplication): Promise<boolean | undefined>;
  /**
   * Fallback when the app has no valid key: PATCH keyCredentials, re-sending existing entries and adding
   * `add` / dropping `removeKeyIds`. Needs Application.ReadWrite.OwnedBy (owner) or .All.
   */
  patchKeyCredentials(
    app: EntraApplication,
    change: { add?: { certDer: Uint8Array; displayName: string }; removeKeyIds?: string[] },
  ): Promise<EntraApplication>;
}

export interface TokenEndpoint {
  /** One client-credentials request with an assertion signed by `signer`. Never returns the token. */
  tryClientAssertion(
    tenantId: string,
    clientId: string,
    signer: JwsSigner,
    alg: SigningAlg,
  ): Promise<TokenAttempt>;
}
