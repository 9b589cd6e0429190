/**
 * Access tokens for the service's own identity, issued by the local authority and checked by the Key Vault
 * and Graph fakes, the way the real services check Entra-issued tokens: RS256 signature, `aud` = the
 * resource, `exp`, and `tid`. Fakes use `jose` directly; they never import the product's code.
 */
import { SignJWT, jwtVerify, generateKeyPair, exportJWK, type JWK, type CryptoKey } from "jose";
import { randomUUID, timingSafeEqual } from "node:crypto";

export interface AccessTokenClaims {
  aud: string;
  sub: string;
  /** The principal's object id; in an app-only token the same as `sub`. */
  oid?: string;
  appid: string;
  tid: string;
  roles?: string[];
}

export class LocalTokenIssuer {
  private constructor(
    private readonly privateKey: CryptoKey,
    private readonly publicKey: CryptoKey,
    readonly kid: string,
    readonly publicJwk: JWK,
    readonly issuerFor: (tenant: string) => string,
  ) {}

  static async create(issuerFor: (tenant: string) => string): Promise<LocalTokenIssuer> {
    const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
    const kid = randomUUID();
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
    return new LocalTokenIssuer(privateKey, publicKey, kid, publicJwk, issuerFor);
  }

  async issue(claims: AccessTokenClaims, lifetimeSec = 3600): Promise<{ token: string; expiresIn: number }> {
    const token = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: "RS256", kid: this.kid, typ: "JWT" })
      .setIssuer(this.issuerFor(claims.tid))
      .setIssuedAt()
      .setNotBefore("0s")
      .setExpirationTime(`${lifetimeSec}s`)
      .setJti(randomUUID())
      .sign(this.privateKey);
    return { token, expiresIn: lifetimeSec };
  }

  /** Verify a bearer token for `resource`; accepts `aud` with or without a trailing slash. */
  async verify(token: string, resource: string | string[]): Promise<AccessTokenClaims | undefined> {
    const audiences = (Array.isArray(resource) ? resource : [resource]).flatMap((r) => [
      r,
      r.replace(/\/$/, ""),
      r.replace(/\/?$/, "/"),
    ]);
    try {
      const { payload } = await jwtVerify(token, this.publicKey, {
        audience: audiences,
        algorithms: ["RS256"],
      });
      return payload as unknown as AccessTokenClaims;
    } catch {
      return undefined;
    }
  }
}

/** Extract a bearer token from an Authorization header. */
export function bearer(header: string | string[] | undefined): string | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m?.[1];
}

/**
 * `Authorization: Basic` client credentials (RFC 6749 §2.3.1: id and secret form-urlencoded, then joined
 * with ":" and base64-encoded). Kong's openid-connect plugin does not form-urlencode them
 * (kong/openid-connect/codec.lua `credentials.encode`); for the URL-safe characters of generated secrets
 * both forms are the same. Undefined without a Basic header; null when it is malformed.
 */
export function basicCredentials(
  header: string | string[] | undefined,
): { clientId: string; clientSecret: string } | undefined | null {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h || !/^Basic\s/i.test(h)) return undefined;
  const m = /^Basic\s+(\S+)$/i.exec(h);
  if (!m?.[1]) return null;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 1) return null;
  const unescape = (v: string) => {
    try {
      return decodeURIComponent(v.replace(/\+/g, " "));
    } catch {
      return v;
    }
  };
  return { clientId: unescape(decoded.slice(0, colon)), clientSecret: unescape(decoded.slice(colon + 1)) };
}

/** A secret compared in constant time (the fakes' client secret checks). */
export function secretEquals(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
