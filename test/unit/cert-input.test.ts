/**
 * PFX / PKCS#12 input of `adopt`, against files written by the `openssl` CLI (OpenSSL 3 defaults, legacy
 * algorithms, no MAC, tampered bytes) and a file whose MAC iteration count is rewritten with the
 * @peculiar/asn1-pfx schemas.
 */
import { execFileSync } from "node:child_process";
import { createPublicKey, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import * as asn1js from "asn1js";
import { PFX } from "@peculiar/asn1-pfx";
import {
  MAX_PFX_ITERATIONS,
  MAX_PFX_TOTAL_ITERATIONS,
  readCertificateInput,
  type CertificateInput,
} from "../../src/app/cert-input.js";
import { RotatorError } from "../../src/errors.js";

let dir: string;
let keyPath: string;
let certPath: string;
let certDer: Buffer;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "pfx-"));
  keyPath = join(dir, "key.pem");
  certPath = join(dir, "cert.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", certPath].concat([
      "-days",
      "30",
      "-subj",
      "/CN=pfx-input-test",
    ]),
    { stdio: "ignore" },
  );
  certDer = Buffer.from(new X509Certificate(readFileSync(certPath)).raw);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** `openssl pkcs12 -export` of the test key and certificate with extra options; the file's bytes. */
function exportPfx(password: string, ...extra: string[]): Buffer {
  const out = join(dir, `${n++}.pfx`);
  execFileSync(
    "openssl",
    [
      "pkcs12",
      "-export",
      "-inkey",
      keyPath,
      "-in",
      certPath,
      "-out",
      out,
      "-passout",
      `pass:${password}`,
    ].concat(extra),
    { stdio: "ignore" },
  );
  return readFileSync(out);
}

function expectTheTestPair(input: CertificateInput): void {
  expect(input.certificates).toEqual([certDer]);
  expect(createPublicKey(input.privateKey).export({ format: "der", type: "spki" })).toEqual(
    new X509Certificate(certDer).publicKey.export({ format: "der", type: "spki" }),
  );
}

async function errorOf(p: Promise<unknown>): Promise<RotatorError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RotatorError);
  return e as RotatorError;
}

describe("PFX input", () => {
  it("reads a PFX with OpenSSL 3 defaults (PBES2 AES-256, HMAC-SHA256 MAC)", async () => {
    expectTheTestPair(await readCertificateInput(exportPfx("s3cret"), "s3cret"));
  });

  it("reads OpenSSL 1.x-style key encryption (PKCS#12 PBE 3DES, SHA-1 MAC) with plain certificates", async () => {
    const pfx = exportPfx("s3cret", "-keypbe", "PBE-SHA1-3DES", "-certpbe", "NONE", "-macalg", "sha1");
    expectTheTestPair(await readCertificateInput(pfx, "s3cret"));
  });

  it("reads an unencrypted key bag and an empty password without --password", async () => {
    expectTheTestPair(await readCertificateInput(exportPfx("", "-keypbe", "NONE", "-certpbe", "NONE")));
  });

  it("reads BER: the authenticated safe as a constructed OCTET STRING of chunks, definite or indefinite length", async () => {
    for (const isIndefiniteForm of [false, true]) {
      const pfx = AsnConvert.parse(exportPfx("s3cret"), PFX);
      const inner = new Uint8Array(AsnConvert.parse(pfx.authSafe.content, OctetString).buffer);
      const chunks = [inner.slice(0, 100), inner.slice(100, 1000), inner.slice(1000)].map(
        (valueHex) => new asn1js.OctetString({ valueHex }),
      );
      pfx.authSafe.content = new asn1js.OctetString({
        idBlock: { isConstructed: true },
        lenBlock: { isIndefiniteForm },
        value: chunks,
      } as ConstructorParameters<typeof asn1js.OctetString>[0]).toBER();
      const ber = Buffer.from(AsnConvert.serialize(pfx));
      expect(ber.includes(Buffer.from(inner))).toBe(false);
      expectTheTestPair(await readCertificateInput(ber, "s3cret"));
    }
  });

  it("refuses `openssl pkcs12 -legacy` (RC2-encrypted certificates) with a hint to convert", async () => {
    const e = await errorOf(readCertificateInput(exportPfx("s3cret", "-legacy"), "s3cret"));
    expect(e.code).toBe("CERT_INPUT_INVALID");
    expect(e.message).toMatch(/legacy algorithm/);
    expect(e.hint).toMatch(/openssl pkcs12/);
  });

  it("a wrong password fails the MAC with a typed error", async () => {
    const e = await errorOf(readCertificateInput(exportPfx("s3cret"), "not-the-password"));
    expect(e.code).toBe("PFX_MAC_INVALID");
    expect(e.hint).toMatch(/--password/);
  });

  it("no password on a password-protected PFX asks for --password", async () => {
    const e = await errorOf(readCertificateInput(exportPfx("s3cret")));
    expect(e.code).toBe("CERT_INPUT_INVALID");
    expect(e.hint).toMatch(/--password/);
  });

  it("a changed certificate fails the MAC, even though nothing in it is encrypted", async () => {
    const pfx = exportPfx("s3cret", "-certpbe", "NONE");
    const at = pfx.indexOf("pfx-input-test");
    expect(at).toBeGreaterThan(0);
    pfx[at] = "P".charCodeAt(0);
    const e = await errorOf(readCertificateInput(pfx, "s3cret"));
    expect(e.code).toBe("PFX_MAC_INVALID");
  });

  it("a PFX without a MAC is refused: stripping the MAC must not skip the check", async () => {
    const e = await errorOf(readCertificateInput(exportPfx("s3cret", "-nomac"), "s3cret"));
    expect(e.code).toBe("CERT_INPUT_INVALID");
    expect(e.message).toMatch(/no integrity MAC/);
  });

  it("refuses an absurd MAC iteration count before deriving anything", async () => {
    const pfx = AsnConvert.parse(exportPfx("s3cret"), PFX);
    pfx.macData.iterations = 2_000_000_000;
    // Deriving 2e9 iterations would outlast the test timeout: the refusal comes first.
    const e = await errorOf(readCertificateInput(Buffer.from(AsnConvert.serialize(pfx)), "s3cret"));
    expect(e.code).toBe("PFX_ITERATIONS_EXCESSIVE");
    expect(e.details).toEqual({ what: "MAC key derivation", max: MAX_PFX_ITERATIONS });
  });

  it("refuses a PBKDF2 iteration count above the bound, for certificates and for the key", async () => {
    const over = String(MAX_PFX_ITERATIONS + 1);
    const certs = exportPfx("s3cret", "-iter", over, "-nomaciter");
    expect((await errorOf(readCertificateInput(certs, "s3cret"))).details).toMatchObject({
      what: "PBKDF2 key derivation",
    });
    const key = exportPfx("s3cret", "-iter", over, "-nomaciter", "-certpbe", "NONE");
    const e = await errorOf(readCertificateInput(key, "s3cret"));
    expect(e.code).toBe("PFX_ITERATIONS_EXCESSIVE");
    expect(e.details).toMatchObject({ what: "key encryption" });
  });

  it("caps the work of the whole file, not only each derivation: the total is checked before each one runs", async () => {
    // `openssl pkcs12 -iter` applies to the MAC, the certificates' encryption and the key's: 3 × 3000.
    const pfx = exportPfx("s3cret", "-iter", "3000");
    expectTheTestPair(await readCertificateInput(pfx, "s3cret", { maxTotalIterations: 9000 }));
    const e = await errorOf(readCertificateInput(pfx, "s3cret", { maxTotalIterations: 8999 }));
    expect(e.code).toBe("PFX_WORK_EXCESSIVE");
    // The MAC and the certificates were derived; the key's derivation was refused before it ran.
    expect(e.details).toEqual({ what: "key encryption", spent: 6000, max: 8999 });
    expect(e.hint).toMatch(/openssl pkcs12 -export/);
    // The default admits the three derivations of a file exported with the highest counts in common use.
    expect(MAX_PFX_TOTAL_ITERATIONS).toBeGreaterThanOrEqual(3 * 600_000);
    expect(MAX_PFX_TOTAL_ITERATIONS).toBeLessThan(3 * MAX_PFX_ITERATIONS);
  });

  it("refuses bytes that are neither PEM nor PFX", async () => {
    const e = await errorOf(readCertificateInput(Buffer.from([0x30, 0x82, 0xff, 0xff, 1, 2, 3])));
    expect(e.code).toBe("CERT_INPUT_INVALID");
  });
});
