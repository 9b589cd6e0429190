/** Pure adapter logic: client slots over Kong's parallel arrays and the new client_jwk array. */
import { describe, expect, it } from "vitest";
import type { KongPrivateJwk } from "../../src/crypto/keymaterial.js";
import { isRotatorError } from "../../src/errors.js";
import { scrubFields } from "../../src/adapters/kong/common/client.js";
import {
  checkClientAlg,
  clientAuthView,
  clientSlot,
  holdsJwk,
  placeJwk,
  planJwkWrite,
  planSecretDrop,
  SECRET_REMOVED,
  toView,
  type OidcPlugin,
} from "../../src/adapters/kong/common/plugin.js";

const ours: KongPrivateJwk = {
  kty: "RSA",
  use: "sig",
  alg: "PS256",
  kid: "new-kid",
  n: "bmV3LW1vZHVsdXMtdmFsdWUtZm9yLXRlc3Rz",
  e: "AQAB",
  d: "private-d",
  p: "private-p",
  q: "private-q",
  dp: "private-dp",
  dq: "private-dq",
  qi: "private-qi",
  x5t: "new-kid",
  "x5t#S256": "new-s256",
};
const other = (kid: string) => ({ kty: "RSA", kid, n: `n-${kid}`, e: "AQAB", d: `secret-${kid}` });

const plugin = (config: Record<string, unknown>, name = "openid-connect"): OidcPlugin => ({
  id: "6b0c1f0e-0000-4000-8000-000000000001",
  name,
  config,
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isRotatorError(e) ? e.code : "untyped";
  }
  return undefined;
}

describe("kong plugin logic", () => {
  it("finds our slot and checks the plugin type and client_auth (parallel, falling back to the first)", () => {
    const p = plugin({ client_id: ["a", "ours"], client_auth: ["private_key_jwt"] });
    expect(clientSlot(p, "ours", "t")).toEqual({ index: 1, auth: "private_key_jwt", alg: undefined });
    expect(codeOf(() => clientSlot(plugin({}, "rate-limiting"), "ours", "t"))).toBe("KONG_NOT_OIDC");
    expect(codeOf(() => clientSlot(p, "missing", "t"))).toBe("KONG_CLIENT_NOT_FOUND");
    expect(
      codeOf(() =>
        clientSlot(
          plugin({ client_id: ["a", "ours"], client_auth: ["private_key_jwt", "client_secret_post"] }),
          "ours",
          "t",
        ),
      ),
    ).toBe("KONG_NOT_PRIVATE_KEY_JWT");
    expect(codeOf(() => clientSlot(plugin({ client_id: ["ours"], client_auth: null }), "ours", "t"))).toBe(
      "KONG_NOT_PRIVATE_KEY_JWT",
    );
    expect(() => clientSlot(plugin({}, "rate-limiting"), "ours", "t")).toThrow(
      "Kong plugin 6b0c1f0e-0000-4000-8000-000000000001 is not an openid-connect plugin (it is rate-limiting)",
    );
  });

  it("accepts client_alg RS256/PS256 or unset, and refuses algorithms an RSA key cannot serve", () => {
    const p = (algs: unknown) =>
      plugin({ client_id: ["ours"], client_auth: ["private_key_jwt"], client_alg: algs });
    for (const algs of [null, ["RS256"], ["PS256"]])
      expect(
        codeOf(() => checkClientAlg(p(algs), clientSlot(p(algs), "ours", "t"), "ours", "entra")),
      ).toBeUndefined();
    expect(
      codeOf(() => checkClientAlg(p(["ES256"]), clientSlot(p(["ES256"]), "ours", "t"), "ours", "entra")),
    ).toBe("KONG_CLIENT_ALG_INCOMPATIBLE");
  });

  it("replaces only our entry and keeps the others", () => {
    const p = plugin({
      client_id: ["a", "ours", "c"],
      client_auth: ["private_key_jwt"],
      client_jwk: [other("a"), other("old"), other("c")],
    });
    const next = placeJwk(p, clientSlot(p, "ours", "t"), ours);
    expect(next.map((j) => j.kid)).toEqual(["a", "new-kid", "c"]);
    expect(next[0]).toEqual(other("a"));
    expect(next[1]).toEqual(ours);
  });

  it("pads with copies of client_jwk[0] when the array is shorter than our index", () => {
    const p = plugin({
      client_id: ["a", "b", "ours"],
      client_auth: ["private_key_jwt"],
      client_jwk: [other("a")],
    });
    expect(placeJwk(p, clientSlot(p, "ours", "t"), ours).map((j) => j.kid)).toEqual(["a", "a", "new-kid"]);
  });

  it("pins clients that fell back to client_jwk[0] when ours is index 0", () => {
    const p = plugin({
      client_id: ["ours", "b", "c"],
      client_auth: ["private_key_jwt"],
      client_jwk: [other("shared")],
    });
    expect(placeJwk(p, clientSlot(p, "ours", "t"), ours).map((j) => j.kid)).toEqual([
      "new-kid",
      "shared",
      "shared",
    ]);
  });

  it("refuses layouts where other clients' keys cannot be kept", () => {
    const behind = plugin({ client_id: ["a", "ours"], client_auth: ["private_key_jwt"], client_jwk: [] });
    expect(codeOf(() => placeJwk(behind, clientSlot(behind, "ours", "t"), ours))).toBe(
      "KONG_CLIENT_JWK_LAYOUT",
    );
    const first = plugin({ client_id: ["ours", "b"], client_auth: ["private_key_jwt"], client_jwk: null });
    expect(codeOf(() => placeJwk(first, clientSlot(first, "ours", "t"), ours))).toBe(
      "KONG_CLIENT_JWK_LAYOUT",
    );
    const secretUser = plugin({
      client_id: ["ours", "b"],
      client_auth: ["private_key_jwt", "client_secret_post"],
      client_jwk: null,
    });
    expect(placeJwk(secretUser, clientSlot(secretUser, "ours", "t"), ours).map((j) => j.kid)).toEqual([
      "new-kid",
    ]);
  });

  it("recognises an entry that already holds the key, treating Kong's nulls as unset", () => {
    expect(holdsJwk({ ...ours, x5c: null, key_ops: null }, ours)).toBe(true);
    expect(holdsJwk({ ...ours, d: "other" }, ours)).toBe(false);
    expect(holdsJwk(undefined, ours)).toBe(false);
  });

  it("views show public fields only", () => {
    const p = plugin({ client_id: ["ours"], client_auth: ["private_key_jwt"], client_jwk: [ours] });
    const view = toView(p, 0, "team-a");
    expect(view).toEqual({
      pluginId: p.id,
      workspace: "team-a",
      clientIndex: 0,
      kid: "new-kid",
      x5t: "new-kid",
      alg: "PS256",
      modulusPrefix: ours.n.slice(0, 12),
      // Kong's default config.scopes (the schema's default), read with the plugin.
      scopes: ["openid"],
    });
    expect(JSON.stringify(view)).not.toContain("private");
    const scoped = plugin({ ...p.config, scopes: ["kong.gateway", "orders:read"] });
    expect(toView(scoped, 0, undefined).scopes).toEqual(["kong.gateway", "orders:read"]);
  });

  it("scrubs schema-violation fields of anything that could be key material", () => {
    const fields = {
      config: {
        client_jwk: [
          null,
          {
            d: "invalid value: MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
            kty: "required field missing",
          },
        ],
      },
    };
    const scrubbed = JSON.stringify(scrubFields(fields));
    expect(scrubbed).not.toContain("MIIEvQIBADANBgkqhkiG9w0");
    expect(scrubbed).toContain("required field missing");
    expect(scrubbed).toContain('"client_jwk":[null,');
    const enumMessage = "expected one of: private_key_jwt, self_signed_tls_client_auth";
    expect(scrubFields({ config: { client_auth: [enumMessage] } })).toEqual({
      config: { client_auth: [enumMessage] },
    });
  });
});

describe("migration from a client secret: the writes over the parallel arrays", () => {
  const base = {
    client_id: ["partner", "ours", "third"],
    client_auth: ["private_key_jwt", "client_secret_post", "client_secret_basic"],
    client_jwk: [other("partner-kid")],
    client_secret: ["partner-placeholder", "our-secret", "third-secret"],
  };
  const entra = { id: "ours", idp: "entra" as const };

  it("reports our method and the secret's hint, never the secret", () => {
    const v = clientAuthView(plugin(base), "ours", "t", undefined);
    expect(v).toMatchObject({ auth: "client_secret_post", secret: true, secretHint: "our" });
    expect(JSON.stringify(v)).not.toContain("our-secret");
    const ref = plugin({ ...base, client_secret: ["x", "{vault://azure/s/v}", "y"] });
    expect(clientAuthView(ref, "ours", "t", undefined)).toMatchObject({ secret: true });
    expect(clientAuthView(ref, "ours", "t", undefined).secretHint).toBeUndefined();
  });

  it("switches client_auth and client_jwk in one write and leaves every other entry as it was", () => {
    const { write } = planJwkWrite(plugin(base), entra, "t", ours, true);
    expect(write?.client_auth).toEqual(["private_key_jwt", "private_key_jwt", "client_secret_basic"]);
    expect(write?.client_jwk).toEqual([other("partner-kid"), { ...ours }]);
    expect(write?.client_secret).toBeUndefined();
    // Without switchAuth a secret method is refused as before.
    expect(codeOf(() => planJwkWrite(plugin(base), entra, "t", ours))).toBe("KONG_NOT_PRIVATE_KEY_JWT");
    // A method that is neither a secret nor private_key_jwt is not a migration's start.
    const jwt = plugin({ ...base, client_auth: ["private_key_jwt", "client_secret_jwt"] });
    expect(codeOf(() => planJwkWrite(jwt, entra, "t", ours, true))).toBe("MIGRATE_NOT_SECRET_AUTH");
  });

  it("pins the first entry's method for clients past the array's end when ours is index 0", () => {
    const p = plugin({
      client_id: ["ours", "b"],
      client_auth: ["client_secret_post"],
      client_secret: ["s1", "s2"],
    });
    expect(planJwkWrite(p, entra, "t", ours, true).write?.client_auth).toEqual([
      "private_key_jwt",
      "client_secret_post",
    ]);
  });

  it("removes the secret in a form the schema accepts: dropped when last, a marker in the middle, null when alone", () => {
    const switched = { ...base, client_auth: ["private_key_jwt", "private_key_jwt", "client_secret_basic"] };
    expect(planSecretDrop(plugin(switched), "ours", "t").write).toEqual({
      client_secret: ["partner-placeholder", SECRET_REMOVED, "third-secret"],
    });
    const last = { ...switched, client_secret: ["partner-placeholder", "our-secret"] };
    expect(planSecretDrop(plugin(last), "ours", "t").write).toEqual({
      client_secret: ["partner-placeholder"],
    });
    const alone = plugin({ client_id: ["ours"], client_auth: ["private_key_jwt"], client_secret: ["s"] });
    expect(planSecretDrop(alone, "ours", "t").write).toEqual({ client_secret: null });
    expect(
      planSecretDrop(plugin({ ...last, client_secret: ["partner-placeholder"] }), "ours", "t").write,
    ).toBeUndefined();
    // Still on a secret method: the secret is not removed before the switch.
    expect(codeOf(() => planSecretDrop(plugin(base), "ours", "t"))).toBe("KONG_NOT_PRIVATE_KEY_JWT");
  });

  it("refuses to remove client_secret[0] while a client past the array's end falls back to it", () => {
    const p = plugin({
      client_id: ["ours", "b"],
      client_auth: ["private_key_jwt", "client_secret_basic"],
      client_secret: ["shared"],
    });
    expect(codeOf(() => planSecretDrop(p, "ours", "t"))).toBe("KONG_CLIENT_SECRET_SHARED");
  });
});
