/**
 * The directory behind the Entra fake: application objects with their keyCredentials and passwordCredentials
 * (client secrets), the service's own identity (a service principal with a client secret and Graph
 * application roles), ownership, and the sign-in activity the token endpoint records for the reports API
 * (./reports.ts).
 *
 * A key credential keeps the certificate (DER) and the public key taken from it. Two clocks matter:
 * - the credential's own validity (startDateTime..endDateTime), which both the token endpoint and Graph's
 *   proof-of-possession check honour;
 * - propagation: the token endpoint accepts a newly added key only after `visibleAt` (BRIEF, "Propagation":
 *   seconds to minutes, no SLA). Graph itself reads its own writes at once.
 */
import { X509Certificate, createHash, randomBytes, randomUUID, type KeyObject } from "node:crypto";
import { secretEquals } from "../common/auth.js";
import { noteSecret } from "../common/capture.js";

export interface StoredKey {
  keyId: string;
  type: string;
  usage: string;
  displayName: string | null;
  /** base64 Edm.Binary, exactly as Graph returns it. */
  customKeyIdentifier: string | null;
  start: Date;
  end: Date;
  der: Buffer;
  publicKey: KeyObject;
  /** base64url SHA-1 / SHA-256 of the DER (JWS `x5t` / `x5t#S256`). */
  x5t: string;
  x5tS256: string;
  addedAt: number;
  /** When the token endpoint starts accepting assertions signed with this key. */
  visibleAt: number;
}

/**
 * A passwordCredential (client secret, https://learn.microsoft.com/graph/api/resources/passwordcredential):
 * the secret itself is kept only to check logins; Graph returns it once, in the addPassword response.
 */
export interface StoredPassword {
  keyId: string;
  displayName: string | null;
  /** "Contains the first three characters of the password." */
  hint: string;
  secret: string;
  start: Date;
  end: Date;
  addedAt: number;
  /** When the token endpoint starts accepting the secret (the same propagation as keys). */
  visibleAt: number;
}

/** The last sign-in of one kind, as the reports API shows it (signInActivity). */
export interface SignIn {
  at: Date;
  requestId: string;
}

/** A successful client-credentials sign-in of an application, by the credential it used. */
export interface CredentialSignIn extends SignIn {
  keyId: string;
  keyType: "clientSecret" | "certificate";
  appId: string;
  /** The resource the token was issued for (its URI, as requested in the scope). */
  resource: string;
}

export interface StoredApp {
  objectId: string;
  appId: string;
  displayName: string;
  createdAt: Date;
  /** Object ids of owning service principals. */
  owners: Set<string>;
  keys: StoredKey[];
  passwords: StoredPassword[];
  /** The object id of the app's service principal in this tenant (the reports API names it). */
  servicePrincipalObjectId: string;
}

export interface ServicePrincipal {
  objectId: string;
  clientId: string;
  clientSecret: string;
  appRoles: string[];
}

export interface NewKey {
  der: Buffer;
  keyId?: string;
  type?: string;
  usage?: string;
  displayName?: string | null;
  customKeyIdentifier?: string | null;
  start?: Date;
  end?: Date;
}

export type PropagationDelay = number | (() => number);

export interface NewPassword {
  displayName?: string | null;
  start?: Date;
  end?: Date;
  /** Only for seeding a hand-made setup; Graph's addPassword always generates the secret. */
  secret?: string;
}

/** What the token endpoint makes of a client secret sent for an application. */
export type PasswordCheck =
  | { outcome: "accepted"; password: StoredPassword }
  | { outcome: "expired"; password: StoredPassword }
  | { outcome: "invalid" };

/** Secret characters: Entra's generated secrets use letters, digits and `~ . _ -` (URL-safe, never encoded). */
const SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-";
const SECRET_LENGTH = 40;
const TWO_YEARS_MS = 2 * 365 * 86_400_000;

export class InvalidCertificateError extends Error {
  override readonly name = "InvalidCertificateError";
}

const sha = (alg: "sha1" | "sha256", der: Buffer) => createHash(alg).update(der).digest();

export class Directory {
  private readonly apps = new Map<string, StoredApp>();
  private readonly principals = new Map<string, ServicePrincipal>();
  /** Last client sign-in per appId (servicePrincipalSignInActivity). */
  readonly appSignIns = new Map<string, SignIn>();
  /** Last sign-in per application credential keyId (appCredentialSignInActivity). */
  readonly credentialSignIns = new Map<string, CredentialSignIn>();

  constructor(
    readonly tenantId: string,
    private readonly propagationDelay: PropagationDelay = 0,
  ) {}

  createApplication(input: { displayName: string; appId?: string; owners?: string[] }): StoredApp {
    const app: StoredApp = {
      objectId: randomUUID(),
      appId: input.appId ?? randomUUID(),
      displayName: input.displayName,
      createdAt: new Date(),
      owners: new Set(),
      keys: [],
      passwords: [],
      servicePrincipalObjectId: randomUUID(),
    };
    if (this.appByAppId(app.appId)) throw new Error(`an application with appId ${app.appId} already exists`);
    this.apps.set(app.objectId, app);
    for (const owner of input.owners ?? []) this.addOwner(app.appId, owner);
    return app;
  }

  addServicePrincipal(input: {
    clientId: string;
    clientSecret: string;
    appRoles: string[];
  }): ServicePrincipal {
    if (this.principalByClientId(input.clientId))
      throw new Error(`a service principal for ${input.clientId} already exists`);
    const sp: ServicePrincipal = { objectId: randomUUID(), ...input, appRoles: [...input.appRoles] };
    noteSecret("client-secret", input.clientSecret);
    this.principals.set(sp.objectId, sp);
    return sp;
  }

  /** Replace a service principal's Graph application roles (an admin granting or revoking consent). */
  setAppRoles(clientId: string, appRoles: string[]): void {
    const sp = this.principalByClientId(clientId);
    if (!sp) throw new Error(`no service principal ${clientId}`);
    sp.appRoles = [...appRoles];
  }

  /** Make a service principal (by client id or object id) an owner of an application (by appId or object id). */
  addOwner(application: string, principal: string): void {
    const app = this.appByAppId(application) ?? this.apps.get(application);
    const sp = this.principalByClientId(principal) ?? this.principals.get(principal);
    if (!app) throw new Error(`no application ${application}`);
    if (!sp) throw new Error(`no service principal ${principal}`);
    app.owners.add(sp.objectId);
  }

  app(objectId: string): StoredApp | undefined {
    return this.apps.get(objectId);
  }

  appByAppId(appId: string): StoredApp | undefined {
    const wanted = appId.toLowerCase();
    for (const a of this.apps.values()) if (a.appId.toLowerCase() === wanted) return a;
    return undefined;
  }

  allApps(): StoredApp[] {
    return [...this.apps.values()];
  }

  principalByClientId(clientId: string): ServicePrincipal | undefined {
    for (const sp of this.principals.values()) if (sp.clientId === clientId) return sp;
    return undefined;
  }

  /**
   * Build a key credential from a certificate. Dates default to the certificate's validity, and
   * customKeyIdentifier to the base64 of the SHA-1 thumbprint ("When not provided in the payload, defaults
   * to the thumbprint of the certificate", https://learn.microsoft.com/graph/api/resources/keycredential).
   * `visible` false applies the propagation delay; seeded keys of a hand-made setup are visible at once.
   */
  buildKey(input: NewKey, visible: boolean): StoredKey {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(input.der);
    } catch (e) {
      throw new InvalidCertificateError("the key is not a DER X.509 certificate", { cause: e });
    }
    const addedAt = Date.now();
    const delay =
      typeof this.propagationDelay === "function" ? this.propagationDelay() : this.propagationDelay;
    const sha1 = sha("sha1", input.der);
    return {
      keyId: input.keyId ?? randomUUID(),
      type: input.type ?? "AsymmetricX509Cert",
      usage: input.usage ?? "Verify",
      displayName: input.displayName ?? null,
      customKeyIdentifier: input.customKeyIdentifier ?? sha1.toString("base64"),
      start: input.start ?? new Date(cert.validFrom),
      end: input.end ?? new Date(cert.validTo),
      der: Buffer.from(input.der),
      publicKey: cert.publicKey,
      x5t: sha1.toString("base64url"),
      x5tS256: sha("sha256", input.der).toString("base64url"),
      addedAt,
      visibleAt: visible ? addedAt : addedAt + Math.max(0, delay),
    };
  }

  /**
   * Build a passwordCredential as addPassword does: a generated 40-character secret (Graph: "strong
   * passwords … 16-64 characters in length"), `hint` its first three characters, `startDateTime` now and
   * `endDateTime` two years later unless given (https://learn.microsoft.com/graph/api/application-addpassword).
   * `visible` false applies the propagation delay, as for keys.
   */
  buildPassword(input: NewPassword, visible: boolean): StoredPassword {
    const secret =
      input.secret ??
      Array.from(randomBytes(SECRET_LENGTH), (b) => SECRET_ALPHABET[b % SECRET_ALPHABET.length]).join("");
    noteSecret("client-secret", secret);
    const start = input.start ?? new Date();
    const addedAt = Date.now();
    const delay =
      typeof this.propagationDelay === "function" ? this.propagationDelay() : this.propagationDelay;
    return {
      keyId: randomUUID(),
      displayName: input.displayName ?? null,
      hint: secret.slice(0, 3),
      secret,
      start,
      end: input.end ?? new Date(start.getTime() + TWO_YEARS_MS),
      addedAt,
      visibleAt: visible ? addedAt : addedAt + Math.max(0, delay),
    };
  }

  /**
   * A client secret sent for `app`: accepted when it equals a propagated password within its dates; a
   * match of an expired password is reported as such (AADSTS7000222); anything else is invalid
   * (AADSTS7000215), including a secret that was removed or has not propagated yet.
   */
  checkPassword(app: StoredApp, given: string): PasswordCheck {
    const t = Date.now();
    const match = app.passwords.find((p) => secretEquals(p.secret, given));
    if (!match || match.visibleAt > t || match.start.getTime() > t) return { outcome: "invalid" };
    if (match.end.getTime() <= t) return { outcome: "expired", password: match };
    return { outcome: "accepted", password: match };
  }

  /** Record a successful client sign-in (the reports API, ./reports.ts). */
  recordSignIn(
    appId: string,
    credential: { keyId: string; keyType: CredentialSignIn["keyType"] } | undefined,
    resource: string,
    requestId: string,
  ): void {
    const at = new Date();
    this.appSignIns.set(appId, { at, requestId });
    if (credential)
      this.credentialSignIns.set(credential.keyId, { ...credential, appId, resource, at, requestId });
  }

  /** Within startDateTime..endDateTime right now. */
  isCurrent(key: StoredKey): boolean {
    const t = Date.now();
    return key.start.getTime() <= t && t < key.end.getTime();
  }

  /**
   * End the propagation of every key and secret still propagating: the token endpoint accepts them from now
   * on. Tests use it to end propagation on an event of theirs rather than after a wall-clock delay.
   */
  propagateNow(): void {
    const t = Date.now();
    for (const app of this.apps.values())
      for (const c of [...app.keys, ...app.passwords]) c.visibleAt = Math.min(c.visibleAt, t);
  }

  /** Keys the token endpoint accepts right now: propagated and within their dates. */
  acceptedKeys(app: StoredApp): StoredKey[] {
    const t = Date.now();
    return app.keys.filter((k) => k.visibleAt <= t && this.isCurrent(k));
  }
}
