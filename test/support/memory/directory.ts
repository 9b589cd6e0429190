/**
 * In-memory EntraDirectory (one app registration) with Graph's rules as documented:
 * - addKey/removeKey need a proof-of-possession JWT signed by a *currently valid* certificate of the app:
 *   RS256, `x5t` header, aud 00000002-0000-0000-c000-000000000000, iss = the app's object id, nbf, and
 *   exp at most 10 minutes after nbf (https://learn.microsoft.com/graph/application-rollkeys-prooftoken,
 *   https://learn.microsoft.com/graph/api/application-addkey, .../application-removekey);
 * - PATCH keyCredentials replaces the whole collection and needs Application.ReadWrite.OwnedBy or .All;
 *   without it Graph answers 403 Authorization_RequestDenied
 *   (https://learn.microsoft.com/graph/api/application-update);
 * - keyCredentials are returned without `key`; customKeyIdentifier is the certificate's SHA-1 thumbprint.
 * The proof is built with the product's graphProof (as the Graph adapter does) and checked here with
 * jose, independently of product code. Not reproduced: throttling, the keyCredentials count limit.
 */
import { createHash, randomUUID, X509Certificate } from "node:crypto";
import { decodeProtectedHeader, importX509, jwtVerify } from "jose";
import { graphProof, type JwsSigner } from "../../../src/crypto/jws.js";
import { RotatorError } from "../../../src/errors.js";
import type {
  EntraApplication,
  EntraDirectory,
  KeyCredential,
} from "../../../src/adapters/idp/entra/types.js";
import type { FakeClock } from "../fake-clock.js";
import type { Calls } from "./calls.js";

export interface StoredKey {
  keyId: string;
  displayName: string;
  der: Buffer;
  x5t: string;
  start: Date;
  end: Date;
  /** When it was registered: the token endpoint accepts it only after propagation. */
  addedAt: Date;
}

export interface ProofRecord {
  op: "addKey" | "removeKey";
  signerX5t: string;
  keyId?: string;
}

const GRAPH_AUD = "00000002-0000-0000-c000-000000000000";

const proofInvalid = (why: string): RotatorError =>
  new RotatorError(
    "GRAPH_PROOF_INVALID",
    `the proof of possession was rejected: ${why}`,
    "Sign the proof with a currently valid key of the app.",
    { status: 400 },
  );

export class MemoryEntraDirectory implements EntraDirectory {
  keys: StoredKey[] = [];
  readonly proofs: ProofRecord[] = [];
  /** The service's identity lacks Application.ReadWrite.OwnedBy: PATCH answers 403. */
  patchForbidden = false;

  constructor(
    private readonly calls: Calls,
    private readonly clock: FakeClock,
    readonly app: { objectId: string; appId: string; displayName: string },
  ) {}

  getApplication(clientId: string): Promise<EntraApplication> {
    return this.calls.run("directory.getApplication", false, () => {
      if (clientId !== this.app.appId)
        throw new RotatorError(
          "ENTRA_APP_NOT_FOUND",
          `no application with appId ${clientId}`,
          "Check entra.clientId.",
          { status: 404 },
        );
      return this.view();
    });
  }

  addKey(
    app: EntraApplication,
    certDer: Uint8Array,
    proofSigner: JwsSigner,
    displayName: string,
  ): Promise<KeyCredential> {
    return this.calls.run("directory.addKey", true, async () => {
      const signerX5t = await this.checkProof(
        await graphProof(proofSigner, app.objectId, this.clock.now()),
        app.objectId,
      );
      this.proofs.push({ op: "addKey", signerX5t });
      const key = this.register(certDer, displayName);
      return this.keyView(key);
    });
  }

  removeKey(app: EntraApplication, keyId: string, proofSigner: JwsSigner): Promise<void> {
    return this.calls.run("directory.removeKey", true, async () => {
      const signerX5t = await this.checkProof(
        await graphProof(proofSigner, app.objectId, this.clock.now()),
        app.objectId,
      );
      if (!this.keys.some((k) => k.keyId === keyId))
        throw new RotatorError(
          "GRAPH_NOT_FOUND",
          `no key credential with keyId ${keyId}`,
          "Refresh the application.",
          { status: 404 },
        );
      this.proofs.push({ op: "removeKey", signerX5t, keyId });
      this.keys = this.keys.filter((k) => k.keyId !== keyId);
    });
  }

  patchKeyCredentials(
    _app: EntraApplication,
    change: { add?: { certDer: Uint8Array; displayName: string }; removeKeyIds?: string[] },
  ): Promise<EntraApplication> {
    return this.calls.run("directory.patchKeyCredentials", true, () => {
      if (this.patchForbidden)
        throw new RotatorError(
          "GRAPH_AUTHORIZATION_DENIED",
          "Insufficient privileges to complete the operation.",
          "Authorization_RequestDenied",
          { status: 403 },
        );
      const remove = new Set(change.removeKeyIds ?? []);
      this.keys = this.keys.filter((k) => !remove.has(k.keyId));
      if (change.add) this.register(change.add.certDer, change.add.displayName);
      return this.view();
    });
  }

  // ---- test helpers (not logged) ----

  /** Register a certificate directly, as an administrator in the portal would. */
  seed(certDer: Uint8Array, displayName = "uploaded by hand", addedAt?: Date): StoredKey {
    const key = this.register(certDer, displayName);
    if (addedAt) key.addedAt = addedAt;
    return key;
  }

  find(x5t: string): StoredKey | undefined {
    return this.keys.find((k) => k.x5t === x5t);
  }

  private register(certDer: Uint8Array, displayName: string): StoredKey {
    const der = Buffer.from(certDer);
    const cert = new X509Certificate(der);
    const key: StoredKey = {
      keyId: randomUUID(),
      displayName,
      der,
      x5t: createHash("sha1").update(der).digest("base64url"),
      start: new Date(cert.validFrom),
      end: new Date(cert.validTo),
      addedAt: this.clock.now(),
    };
    this.keys.push(key);
    return key;
  }

  /** Verify the proof; returns the thumbprint of the key that signed it. */
  private async checkProof(proof: string, objectId: string): Promise<string> {
    const header = decodeProtectedHeader(proof);
    if (header.alg !== "RS256") throw proofInvalid("alg must be RS256");
    const x5t = header.x5t;
    const now = this.clock.now();
    const signer = typeof x5t === "string" ? this.keys.find((k) => k.x5t === x5t) : undefined;
    if (!signer) throw proofInvalid("x5t does not name a key of the app");
    if (signer.start > now || signer.end <= now) throw proofInvalid("the signing key is not currently valid");
    const certPem = `-----BEGIN CERTIFICATE-----\n${signer.der.toString("base64")}\n-----END CERTIFICATE-----`;
    try {
      const { payload } = await jwtVerify(proof, await importX509(certPem, "RS256"), {
        audience: GRAPH_AUD,
        issuer: objectId,
        algorithms: ["RS256"],
        currentDate: now,
        requiredClaims: ["nbf", "exp"],
      });
      if ((payload.exp ?? 0) - (payload.nbf ?? 0) > 600)
        throw proofInvalid("exp is more than 10 minutes after nbf");
    } catch (e) {
      if (e instanceof RotatorError) throw e;
      throw proofInvalid((e as Error).name);
    }
    return signer.x5t;
  }

  private keyView(k: StoredKey): KeyCredential {
    return {
      keyId: k.keyId,
      type: "AsymmetricX509Cert",
      usage: "Verify",
      displayName: k.displayName,
      startDateTime: k.start.toISOString(),
      endDateTime: k.end.toISOString(),
      customKeyIdentifier: Buffer.from(k.x5t, "base64url").toString("base64"),
      x5t: k.x5t,
    };
  }

  /** Client secrets of the app (passwordCredentials): id, hint, expiry; the value is never kept. */
  passwords: { keyId: string; hint: string; endDateTime?: string }[] = [];
  /** Last sign-in by keyId, as the beta report would answer. */
  signIns: Record<string, string> = {};

  removePassword(_app: EntraApplication, keyId: string): Promise<void> {
    return this.calls.run("directory.removePassword", true, () => {
      this.passwords = this.passwords.filter((p) => p.keyId !== keyId);
    });
  }

  secretSignIns(): Promise<Record<string, string> | undefined> {
    return this.calls.run("directory.secretSignIns", false, () => ({ ...this.signIns }));
  }

  private view(): EntraApplication {
    return {
      ...this.app,
      keyCredentials: this.keys.map((k) => this.keyView(k)),
      passwordCredentials: this.passwords.map((p) => ({ ...p })),
    };
  }
}
