/**
 * The identity-provider port, named for its role: where a client's public keys are registered and where
 * a client assertion is proven. Entra ID (Graph keyCredentials), Okta (app JWKS) and Auth0 (client
 * credentials) each sit behind it; the engine will use it without knowing which one.
 *
 * Status: the Okta and Auth0 adapters implement this port; the engine still uses the Entra-shaped
 * `EntraDirectory` + `TokenEndpoint` ports until issue "Beyond Entra" moves it here (README status).
 */
import type { JwsSigner } from "./crypto/jws.js";
import type { SigningAlg } from "./crypto/keymaterial.js";
import type { TokenAttempt } from "./ports.js";

/** One key registered for the client at the IdP (public facts only). */
export interface IdpKey {
  /** The provider's own id of the key: Entra keyId, Okta JWK id, Auth0 credential id. */
  id: string;
  /** The key id assertions are matched on (Okta and Auth0 `kid`); Entra matches the x5t thumbprint. */
  kid?: string;
  /** base64url SHA-1 thumbprint of the certificate, when the provider keeps the certificate. */
  x5t?: string;
  /** Usable for client authentication now: Okta ACTIVE, Auth0 attached to the client, Entra listed. */
  usable: boolean;
  displayName?: string;
  /** ISO 8601. */
  expiresAt?: string;
}

/** What the provider allows, so that the planner can stay within it instead of failing at the API. */
export interface IdpRules {
  /** The most keys the client may hold at once (Okta 50, Auth0 2). */
  maxKeys: number;
  /** JWS algorithms the token endpoint accepts for client assertions (Okta: no PS256). */
  algorithms: readonly SigningAlg[];
  /**
   * The `kid` Kong must put in the JWK: the x5t thumbprint (Entra), the kid registered with the key
   * (Okta: required and unique), or any/none (Auth0 matches the registered kid when present).
   */
  kid: "x5t" | "registered" | "optional";
  /** A registered key must be made usable in a separate call (Okta staged INACTIVE, Auth0 attach). */
  staged: boolean;
}

/** The public half of a key generation, as the provider needs it to register the key. */
export interface PublicKeyMaterial {
  /** DER of the self-signed certificate. */
  certDer: Uint8Array;
  /** PEM of the certificate (Auth0 takes PEM). */
  certPem: string;
  /** Public RSA JWK members. */
  jwk: { kty: "RSA"; n: string; e: string };
  /** The kid Kong will send (see IdpRules.kid). */
  kid: string;
  x5t: string;
  alg: SigningAlg;
  notAfter: Date;
  displayName: string;
}

export interface IdentityProvider {
  readonly rules: IdpRules;
  /** Every key registered for the client, usable or not. */
  listKeys(): Promise<IdpKey[]>;
  /**
   * Register the key; idempotent: a key already registered (same kid or thumbprint) is returned as is.
   * `current` signs a proof of possession with a currently valid key, where the provider asks for one.
   */
  register(material: PublicKeyMaterial, current?: JwsSigner): Promise<IdpKey>;
  /** Make a registered key usable (no-op where registration already does). */
  activate(key: IdpKey): Promise<void>;
  /** Stop a key being usable without deleting it (deactivate, detach); no-op where not applicable. */
  withdraw(key: IdpKey): Promise<void>;
  /** Delete the key (after withdraw where the provider requires it). */
  remove(key: IdpKey, current?: JwsSigner): Promise<void>;
  /** One token request with a client assertion signed by `signer`. Never returns the token. */
  verify(signer: JwsSigner, alg: SigningAlg): Promise<TokenAttempt>;
}
