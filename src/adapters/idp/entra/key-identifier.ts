/**
 * The certificate thumbprint behind a keyCredential's `customKeyIdentifier`.
 *
 * Graph types it as Edm.Binary (base64 in JSON), "a 40-character binary type … When not provided in the
 * payload, defaults to the thumbprint of the certificate"
 * (https://learn.microsoft.com/graph/api/resources/keycredential). Two spellings occur in practice:
 * - base64 of the 20 SHA-1 bytes, the manifest's `$base64Thumbprint`
 *   (https://learn.microsoft.com/entra/identity-platform/certificate-credentials);
 * - the 40-character upper-case hex thumbprint string, as the portal and Microsoft's own PATCH example
 *   store it (https://learn.microsoft.com/graph/applications-how-to-add-certificate,
 *   https://github.com/hashicorp/terraform-provider-azuread/issues/1305).
 * Anything else (a name set by another tool) identifies no certificate.
 */
const HEX_SHA1 = /^[0-9A-Fa-f]{40}$/;
const BASE64_SHA1 = /^[A-Za-z0-9+/]{27}=$/;

/** base64url SHA-1 thumbprint (`x5t`) from a customKeyIdentifier, when it holds one. */
export function x5tFromCustomKeyIdentifier(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  if (HEX_SHA1.test(value)) return Buffer.from(value, "hex").toString("base64url");
  if (BASE64_SHA1.test(value)) return Buffer.from(value, "base64").toString("base64url");
  return undefined;
}
