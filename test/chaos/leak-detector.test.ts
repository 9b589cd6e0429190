/** The secret detector used by the hygiene checks must actually find leaks (and not flag redacted output). */
import { generateKeyPairSync } from "node:crypto";
import { expect, it } from "vitest";
import { findLeaks } from "../../chaos/lib/capture.js";
import { redact, redactText } from "../../src/log/redact.js";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = privateKey.export({ format: "jwk" });
const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaGFvcy10ZXN0In0.c2lnbmF0dXJlLWJ5dGVz";
const admin = "kong-rbac-0123456789abcdef01234567";
const secrets = new Map([
  [jwk.d!, "private-jwk-member"],
  [admin, "admin-token"],
]);

it("finds a PEM private key, a JWT, a bearer token, private JWK members and registered secrets", () => {
  expect(findLeaks("t", pem, secrets).map((l) => l.what)).toContain("PEM private key");
  expect(findLeaks("t", `token ${jwt}`, secrets).map((l) => l.what)).toContain(
    "JWT (access token, assertion or proof)",
  );
  expect(findLeaks("t", "Authorization: Bearer abcdefghijklmnop0123", secrets).map((l) => l.what)).toContain(
    "bearer token",
  );
  expect(findLeaks("t", JSON.stringify(jwk), secrets).map((l) => l.what)).toEqual(
    expect.arrayContaining(["private JWK member", "private-jwk-member"]),
  );
  expect(findLeaks("t", `header ${admin}`, secrets).map((l) => l.what)).toEqual(["admin-token"]);
  // The report never repeats the secret it found.
  expect(JSON.stringify(findLeaks("t", `header ${admin}`, secrets))).not.toContain(admin);
});

it("does not flag output the product redacted", () => {
  const line = redactText(JSON.stringify(redact({ jwk, pem, auth: `Bearer ${jwt}` })));
  expect(findLeaks("t", line, new Map())).toEqual([]);
});
