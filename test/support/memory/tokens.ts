/**
 * In-memory token endpoint (client credentials with a certificate assertion) reproducing what Entra
 * documents and what tools observed:
 * - the assertion: aud = https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token, iss = sub =
 *   client id, exp in the future, header x5t naming a registered certificate; PS256 or RS256
 *   (https://learn.microsoft.com/entra/identity-platform/certificate-credentials);
 * - an unknown/unpropagated key answers AADSTS700027, a bad time window AADSTS700024, an unknown
 *   client AADSTS700016;
 * - a new key is accepted only after a propagation delay (seconds to minutes, no SLA) on the fake
 *   clock; optionally some replicas accept it early (every Nth attempt), so a single success before
 *   propagation is a false positive, as reported in the field.
 * The assertion is built with the product's clientAssertion (as the adapter does) and verified with jose.
 * Not reproduced: throttling, token issuance (no token is ever returned), jti replay detection.
 */
import { decodeProtectedHeader, importX509, jwtVerify } from "jose";
import { clientAssertion, type JwsSigner } from "../../../src/crypto/jws.js";
import type { SigningAlg } from "../../../src/crypto/keymaterial.js";
import type { TokenAttempt } from "../../../src/ports/engine.js";
import type { TokenEndpoint } from "../../../src/adapters/idp/entra/types.js";
import type { FakeClock } from "../fake-clock.js";
import type { Calls } from "./calls.js";
import type { MemoryEntraDirectory } from "./directory.js";

export interface TokenEndpointOptions {
  tenantId: string;
  propagationMs: number;
  /** Before propagation, every Nth attempt is answered by a replica that already has the key. */
  earlyAcceptEvery?: number;
}

/**
 * Entra's answers as the adapter reports them: AADSTS700016 is `unauthorized_client` (final, verification
 * stops at once); the others are `invalid_client`/`invalid_request`, polled again until the timeout.
 */
const reject = (code: string, description: string): TokenAttempt => ({
  ok: false,
  code,
  description,
  retryable: code !== "AADSTS700016",
  ...(code === "AADSTS700016" ? { hint: "check the client id" } : {}),
});

export class MemoryTokenEndpoint implements TokenEndpoint {
  private attempts = 0;

  constructor(
    private readonly calls: Calls,
    private readonly clock: FakeClock,
    private readonly directory: MemoryEntraDirectory,
    readonly options: TokenEndpointOptions,
  ) {}

  tryClientAssertion(
    tenantId: string,
    clientId: string,
    signer: JwsSigner,
    alg: SigningAlg,
  ): Promise<TokenAttempt> {
    return this.calls.run("tokens.tryClientAssertion", false, async () => {
      const audience = `https://login.microsoftonline.com/${tenantId}/oauth2/v2.0/token`;
      const assertion = await clientAssertion(signer, alg, clientId, audience, this.clock.now());
      if (tenantId !== this.options.tenantId) return reject("AADSTS90002", "Tenant not found.");
      if (clientId !== this.directory.app.appId)
        return reject("AADSTS700016", "Application not found in the directory.");
      const x5t = decodeProtectedHeader(assertion).x5t;
      const key = typeof x5t === "string" ? this.directory.find(x5t) : undefined;
      const early =
        this.options.earlyAcceptEvery !== undefined && ++this.attempts % this.options.earlyAcceptEvery === 0;
      if (!key || !(this.accepts(key.x5t) || (early && this.valid(key.x5t))))
        return reject(
          "AADSTS700027",
          "Client assertion contains an invalid signature or the key was not found.",
        );
      try {
        await jwtVerify(
          assertion,
          await importX509(
            `-----BEGIN CERTIFICATE-----\n${key.der.toString("base64")}\n-----END CERTIFICATE-----`,
            alg,
          ),
          {
            audience,
            issuer: clientId,
            subject: clientId,
            algorithms: ["PS256", "RS256"],
            currentDate: this.clock.now(),
            requiredClaims: ["exp", "jti"],
          },
        );
      } catch (e) {
        const timing =
          (e as { code?: string }).code === "ERR_JWT_EXPIRED" || (e as { claim?: string }).claim === "nbf";
        return timing
          ? reject("AADSTS700024", "Client assertion is not within its valid time range.")
          : reject("AADSTS700027", "Invalid signature.");
      }
      return { ok: true };
    });
  }

  /** Does every replica accept this key now (registered, within its dates, propagated)? */
  accepts(x5t: string): boolean {
    const key = this.directory.find(x5t);
    return (
      key !== undefined &&
      this.valid(x5t) &&
      this.clock.now().getTime() >= key.addedAt.getTime() + this.options.propagationMs
    );
  }

  private valid(x5t: string): boolean {
    const key = this.directory.find(x5t);
    const now = this.clock.now();
    return key !== undefined && key.start <= now && now < key.end;
  }
}
