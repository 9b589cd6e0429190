import { describe, expect, it } from "vitest";
import { referenceSecretName } from "../../src/config/rules.js";
import { holdsPrivateMembers, privateMembersJson, referencedJwk } from "../../src/engine/vault-ref.js";
import type { KongPrivateJwk } from "../../src/crypto/keymaterial.js";

const jwk: KongPrivateJwk = {
  kty: "RSA",
  use: "sig",
  alg: "PS256",
  kid: "ab_c-D",
  n: "n0",
  e: "AQAB",
  d: "d0",
  p: "p0",
  q: "q0",
  dp: "dp0",
  dq: "dq0",
  qi: "qi0",
  x5t: "ab_c-D",
  "x5t#S256": "s256",
};
const ref = { prefix: "azure-kv", secretPrefix: "kong-jwk-" };

describe("vault-reference helpers", () => {
  it("names a generation's secret with the x5t reduced to Key Vault's alphabet", () => {
    expect(referenceSecretName(ref, "orders-api", "ab_c-D+/")).toBe("kong-jwk-orders-api-ab-c-D--");
  });

  it("references exactly the private members and keeps the public ones literal", () => {
    const out = referencedJwk(jwk, ref, "kong-jwk-orders-api-ab-c-D");
    expect(out).toEqual({
      ...jwk,
      d: "{vault://azure-kv/kong-jwk-orders-api-ab-c-D/d}",
      p: "{vault://azure-kv/kong-jwk-orders-api-ab-c-D/p}",
      q: "{vault://azure-kv/kong-jwk-orders-api-ab-c-D/q}",
      dp: "{vault://azure-kv/kong-jwk-orders-api-ab-c-D/dp}",
      dq: "{vault://azure-kv/kong-jwk-orders-api-ab-c-D/dq}",
      qi: "{vault://azure-kv/kong-jwk-orders-api-ab-c-D/qi}",
    });
  });

  it("stores a flat JSON object of the private members and recognises it on read-back only when exact", () => {
    const value = privateMembersJson(jwk);
    expect(JSON.parse(value)).toEqual({ d: "d0", p: "p0", q: "q0", dp: "dp0", dq: "dq0", qi: "qi0" });
    expect(holdsPrivateMembers(value, jwk)).toBe(true);
    expect(holdsPrivateMembers(value.replace("d0", "dX"), jwk)).toBe(false);
    expect(holdsPrivateMembers(JSON.stringify({ ...JSON.parse(value), n: "n0" }), jwk)).toBe(false);
    expect(holdsPrivateMembers("not json", jwk)).toBe(false);
  });
});
