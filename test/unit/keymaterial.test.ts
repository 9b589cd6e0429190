/**
 * PEM -> Kong JWK and thumbprints, checked against certificates and fingerprints made by the openssl CLI
 * (the manual procedure the product automates), and against jose as a stand-in for Kong's signing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT, decodeProtectedHeader, importJWK, importX509, jwtVerify } from "jose";
import {
  describeCertificate,
  pemToKongJwk,
  thumbprints,
  type SigningAlg,
} from "../../src/crypto/keymaterial.js";

let dir: string;

/** `openssl req -x509` with a fresh key; returns the key and certificate PEM. */
function opensslCert(name: string, keyArgs: string[]): { key: string; cert: string } {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.crt`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      ...keyArgs,
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "30",
      "-subj",
      `/CN=${name}`,
    ],
    { stdio: "pipe" },
  );
  return { key: readFileSync(keyPath, "utf8"), cert: readFileSync(certPath, "utf8") };
}

/** openssl's fingerprint of a certificate ("SHA1 Fingerprint=AB:CD:...") as bytes. */
function opensslFingerprint(certPem: string, digest: "-sha1" | "-sha256"): Buffer {
  const out = execFileSync("openssl", ["x509", "-noout", "-fingerprint", digest], {
    input: certPem,
    encoding: "utf8",
  });
  const hex = out.trim().split("=")[1] ?? "";
  return Buffer.from(hex.replace(/:/g, ""), "hex");
}

const der = (certPem: string): Buffer => new X509Certificate(certPem).raw;

let rsa: { key: string; cert: string };
let other: { key: string; cert: string };
let ec: { key: string; cert: string };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keymaterial-"));
  rsa = opensslCert("kong-unit", ["-newkey", "rsa:2048"]);
  other = opensslCert("kong-other", ["-newkey", "rsa:2048"]);
  ec = opensslCert("kong-ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("thumbprints", () => {
  it("x5t is openssl's SHA-1 fingerprint and x5t#S256 its SHA-256 fingerprint, base64url without padding", () => {
    const sha1 = opensslFingerprint(rsa.cert, "-sha1");
    const sha256 = opensslFingerprint(rsa.cert, "-sha256");
    expect(sha1).toHaveLength(20);
    const t = thumbprints(der(rsa.cert));
    expect(t.x5t).toBe(sha1.toString("base64url"));
    expect(t.x5tS256).toBe(sha256.toString("base64url"));
    expect(t.sha1Hex).toBe(sha1.toString("hex").toUpperCase());
    expect(t.x5t).not.toMatch(/[=+/]/);
    const info = describeCertificate(der(rsa.cert));
    expect(info.x5t).toBe(t.x5t);
    expect(info.subject).toBe("CN=kong-unit");
    expect(info.notAfter.getTime() - info.notBefore.getTime()).toBe(30 * 86_400_000);
  });
});

describe("pemToKongJwk", () => {
  it("builds the private JWK Kong needs, with kid = x5t and both thumbprints", () => {
    const { jwk, certificate } = pemToKongJwk(rsa.key + rsa.cert, "PS256");
    expect(Object.keys(jwk).sort()).toEqual(
      ["alg", "d", "dp", "dq", "e", "kid", "kty", "n", "p", "q", "qi", "use", "x5t", "x5t#S256"].sort(),
    );
    const t = thumbprints(der(rsa.cert));
    expect(jwk).toMatchObject({
      kty: "RSA",
      use: "sig",
      alg: "PS256",
      kid: t.x5t,
      x5t: t.x5t,
      "x5t#S256": t.x5tS256,
    });
    const certJwk = new X509Certificate(rsa.cert).publicKey.export({ format: "jwk" });
    expect([jwk.n, jwk.e]).toEqual([certJwk.n, certJwk.e]);
    for (const m of ["d", "p", "q", "dp", "dq", "qi"] as const) expect(jwk[m]).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(certificate.x5t).toBe(t.x5t);
  });

  it("accepts the certificate before the key, as some tools write the bundle", () => {
    expect(pemToKongJwk(rsa.cert + rsa.key, "RS256").jwk.kid).toBe(thumbprints(der(rsa.cert)).x5t);
  });

  it.each(["PS256", "RS256"] as const)(
    "round-trips: an assertion signed the way Kong does (%s) verifies with the certificate",
    async (alg: SigningAlg) => {
      const { jwk } = pemToKongJwk(rsa.key + rsa.cert, alg);
      // Kong signs with the JWK's own alg, puts its kid in the header and gives the assertion 60 s.
      const key = await importJWK(jwk, jwk.alg);
      const now = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({ jti: "kong-assertion-1" })
        .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid, typ: "JWT" })
        .setIssuer("client-id")
        .setSubject("client-id")
        .setAudience("https://login.microsoftonline.com/tenant/oauth2/v2.0/token")
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(key);
      const { payload, protectedHeader } = await jwtVerify(assertion, await importX509(rsa.cert, alg), {
        audience: "https://login.microsoftonline.com/tenant/oauth2/v2.0/token",
        issuer: "client-id",
      });
      expect(payload.sub).toBe("client-id");
      expect(protectedHeader).toMatchObject({ alg, kid: thumbprints(der(rsa.cert)).x5t });
      expect(decodeProtectedHeader(assertion).kid).toBe(
        opensslFingerprint(rsa.cert, "-sha1").toString("base64url"),
      );
      // A certificate that is not the key's does not verify it.
      await expect(jwtVerify(assertion, await importX509(other.cert, alg))).rejects.toThrow();
    },
  );

  it("refuses an EC key: Entra client assertions are RSA only", () => {
    expect(() => pemToKongJwk(ec.key + ec.cert, "PS256")).toThrow(
      expect.objectContaining({ code: "CERT_NOT_RSA" }),
    );
  });

  it("refuses a key that does not belong to the certificate", () => {
    expect(() => pemToKongJwk(other.key + rsa.cert, "PS256")).toThrow(
      expect.objectContaining({ code: "CERT_KEY_MISMATCH" }),
    );
  });

  it("refuses a PEM without a private key, as Key Vault returns for a non-exportable certificate", () => {
    const e = (() => {
      try {
        pemToKongJwk(rsa.cert, "PS256");
      } catch (x) {
        return x;
      }
      return undefined;
    })();
    expect(e).toMatchObject({ code: "CERT_NO_PRIVATE_KEY" });
    expect(JSON.stringify(e)).not.toContain("BEGIN");
  });
});
