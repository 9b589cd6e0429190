/**
 * The directory behind the Entra fake: application objects with their keyCredentials, the service's own
 * identity (a service principal with a client secret and Graph application roles), and ownership.
 *
 * A key credential keeps the certificate (DER) and the public key taken from it. Two clocks matter:
 * - the credential's own validity (startDateTime..endDateTime), which both the token endpoint and Graph's
 *   proof-of-possession check honour;
 * - propagation: the token endpoint accepts a newly added key only after `visibleAt` (BRIEF, "Propagation":
 *   seconds to minutes, no SLA). Graph itself reads its own writes at once.
 */
import { X509Certificate, createHash, randomUUID, type KeyObject } from "node:crypto";
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

export interface StoredApp {
  objectId: string;
  appId: string;
  displayName: string;
  createdAt: Date;
  /** Object ids of owning service principals. */
  owners: Set<string>;
  keys: StoredKey[];
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

export class InvalidCertificateError extends Error {
  override readonly name = "InvalidCertificateError";
}

const sha = (alg: "sha1" | "sha256", der: Buffer) => createHash(alg).update(der).digest();

export class Directory {
  private readonly apps = new Map<string, StoredApp>();
  private readonly principals = new Map<string, ServicePrincipal>();

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

  /** Within startDateTime..endDateTime right now. */
  isCurrent(key: StoredKey): boolean {
    const t = Date.now();
    return key.start.getTime() <= t && t < key.end.getTime();
  }

  /** Keys the token endpoint accepts right now: propagated and within their dates. */
  acceptedKeys(app: StoredApp): StoredKey[] {
    const t = Date.now();
    return app.keys.filter((k) => k.visibleAt <= t && this.isCurrent(k));
  }
}
