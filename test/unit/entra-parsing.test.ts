import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { x5tFromCustomKeyIdentifier } from "../../src/adapters/idp/entra/key-identifier.js";
import {
  DEFAULT_PROOF_SCOPE,
  entraRefusal,
  readEntraTokenError,
} from "../../src/adapters/idp/entra/token-endpoint.js";
import { judgeTokenAnswer } from "../../src/http/token-request.js";

/** An Entra refusal as the shared proof classifies it, for a PS256 proof with the default scope. */
const parseTokenError = (status: number, text: string) =>
  judgeTokenAnswer(
    { status, text },
    { ...entraRefusal("PS256", DEFAULT_PROOF_SCOPE), alg: "PS256" },
    readEntraTokenError,
  );

describe("x5t from a keyCredential's customKeyIdentifier", () => {
  const sha1 = createHash("sha1").update("a certificate").digest();

  it("reads base64 of the SHA-1 bytes and the hex thumbprint string", () => {
    expect(x5tFromCustomKeyIdentifier(sha1.toString("base64"))).toBe(sha1.toString("base64url"));
    expect(x5tFromCustomKeyIdentifier(sha1.toString("hex").toUpperCase())).toBe(sha1.toString("base64url"));
    expect(x5tFromCustomKeyIdentifier(sha1.toString("hex"))).toBe(sha1.toString("base64url"));
  });

  it("finds no thumbprint in other identifiers", () => {
    for (const other of [
      null,
      undefined,
      "",
      Buffer.from("my key name").toString("base64"),
      createHash("sha256").update("x").digest("base64"),
    ])
      expect(x5tFromCustomKeyIdentifier(other)).toBeUndefined();
  });
});

describe("token endpoint error bodies", () => {
  const entra = (code: number, text: string) =>
    JSON.stringify({
      error: "invalid_client",
      error_description: `AADSTS${code}: ${text} Trace ID: 0f4c Correlation ID: 9a1b Timestamp: 2026-03-01 00:00:00Z`,
      error_codes: [code],
      timestamp: "2026-03-01 00:00:00Z",
    });

  it("takes the AADSTS code from error_codes and drops the trace part", () => {
    expect(parseTokenError(401, entra(700027, "Client assertion contains an invalid signature."))).toEqual({
      ok: false,
      code: "AADSTS700027",
      description: "AADSTS700027: Client assertion contains an invalid signature.",
      retryable: true,
    });
    // invalid_client without a word about the algorithm: polled again until verifyTimeout.
    expect(
      parseTokenError(401, entra(700024, "Client assertion is not within its valid time range.")),
    ).toMatchObject({ code: "AADSTS700024", retryable: true });
  });

  it("stops at once on a refusal that waiting does not fix, with a hint", () => {
    const body = (error: string, code: number, text: string) =>
      JSON.stringify({ error, error_description: `AADSTS${code}: ${text}`, error_codes: [code] });
    expect(
      parseTokenError(
        400,
        body("invalid_scope", 1002012, "The provided value for scope openid is not valid."),
      ),
    ).toMatchObject({ code: "AADSTS1002012", retryable: false, hint: expect.stringMatching(/scope/) });
    expect(
      parseTokenError(
        400,
        body("unauthorized_client", 700016, "Application with identifier 'x' was not found."),
      ),
    ).toMatchObject({ code: "AADSTS700016", retryable: false, hint: expect.stringMatching(/client id/) });
    expect(
      parseTokenError(401, body("invalid_client", 5002730, "Invalid JWT token. Unsupported algorithm.")),
    ).toMatchObject({ code: "AADSTS5002730", retryable: false, hint: expect.stringMatching(/PS256/) });
  });

  it("falls back to the description, the error field, then the status", () => {
    expect(
      parseTokenError(
        400,
        JSON.stringify({ error: "invalid_request", error_description: "AADSTS900144: missing" }),
      ),
    ).toMatchObject({ code: "AADSTS900144" });
    expect(parseTokenError(400, JSON.stringify({ error: "invalid_request" }))).toMatchObject({
      code: "invalid_request",
    });
    expect(parseTokenError(404, "<html>not found</html>")).toMatchObject({
      code: "HTTP_404",
      description: "the token endpoint answered 404",
      retryable: true,
    });
  });
});
