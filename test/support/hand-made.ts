/**
 * A key made by hand as the manual guide describes: `openssl req -x509 -newkey rsa:2048`, the certificate's
 * thumbprint, and the private JWK with kid = x5t (what the operator pastes into the plugin).
 */
import { execFileSync } from "node:child_process";
import { X509Certificate, createHash, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface HandMade {
  keyPem: string;
  certPem: string;
  der: Buffer;
  x5t: string;
  /** Public RSA members. */
  n: string;
  e: string;
  /** The private JWK with kid = x5t, x5t, x5t#S256, use sig and the given alg. */
  jwk: Record<string, unknown>;
}

export function handMadeKey(
  dir: string,
  name: string,
  o: { days?: number; alg?: string; bits?: number } = {},
): HandMade {
  const keyPath = join(dir, `${name}.key.pem`);
  const certPath = join(dir, `${name}.cert.pem`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      `rsa:${o.bits ?? 2048}`,
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
    ].concat(["-days", String(o.days ?? 90), "-subj", `/CN=${name}`]),
    { stdio: "ignore" },
  );
  const keyPem = readFileSync(keyPath, "utf8");
  const certPem = readFileSync(certPath, "utf8");
  const der = new X509Certificate(certPem).raw;
  const x5t = createHash("sha1").update(der).digest("base64url");
  const priv = createPrivateKey(keyPem).export({ format: "jwk" });
  const jwk = {
    ...priv,
    kid: x5t,
    alg: o.alg ?? "PS256",
    use: "sig",
    x5t,
    "x5t#S256": createHash("sha256").update(der).digest("base64url"),
  };
  return { keyPem, certPem, der, x5t, n: priv.n ?? "", e: priv.e ?? "", jwk };
}
