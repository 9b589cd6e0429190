/**
 * Conformance of the Konnect fake with the published Control Planes Config API v2 spec (the vendored copy,
 * stack/specs/konnect/, is checked against its fixture by spec-files.test.ts):
 * 1. the fake refuses requests the spec does not allow (no PATCH, unknown or ill-typed parameters, bodies
 *    that do not match the Plugin schema), so a client that passes against it sends only spec-valid requests;
 * 2. everything the Konnect adapter sends in a rotation is accepted (the fake records no rejection).
 */
import { resolve } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKonnectTarget } from "../../src/adapters/kong/konnect/target.js";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import { startKonnectFake, type KonnectFake } from "../../stack/konnect/fake.js";
import { generateRsaJwk } from "../../stack/kong/seed.js";
import { kongJwk } from "../support/kong-jwk.js";

const TOKEN = "spat_conformance";
const CLIENT = "11111111-2222-4333-8444-555555555555";

let k: KonnectFake;
let ca: string;
let pluginId: string;

async function send(method: string, path: string, body?: unknown): Promise<number> {
  const res = await request(`${k.url}${path}`, {
    method: method as "GET",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  await res.body.text();
  return res.statusCode;
}

beforeAll(async () => {
  const localCa = await ensureCa(resolve(".local/ca"));
  ca = localCa.certPem;
  k = await startKonnectFake({
    tls: await issueServerTls(localCa),
    token: TOKEN,
    nodes: [{ hostname: "dp-1" }],
  });
  pluginId = k.addPlugin({
    name: "openid-connect",
    tags: ["rotator"],
    config: {
      issuer: "https://login.microsoftonline.com/t/v2.0",
      client_id: [CLIENT],
      client_auth: ["private_key_jwt"],
      client_jwk: [generateRsaJwk({ kid: "old" })],
    },
  }).id;
  expect(ca).toBeTruthy();
});

afterAll(async () => {
  await k?.close();
});

describe("Konnect fake vs the published spec", () => {
  it("refuses what the spec does not allow", async () => {
    const cp = `/v2/control-planes/${k.controlPlaneId}`;
    const plugin = `${cp}/core-entities/plugins/${pluginId}`;
    const before = k.rejected.length;
    expect(await send("PATCH", plugin, { config: {} })).toBe(405);
    expect(await send("GET", `${cp}/nodes?size=10`)).toBe(400);
    expect(await send("GET", `${cp}/nodes?page[size]=ten`)).toBe(400);
    expect(await send("PUT", plugin, { config: {} })).toBe(400);
    expect(await send("PUT", plugin, { name: "openid-connect", protocols: ["carrier-pigeon"] })).toBe(400);
    expect(await send("GET", `/v2/control-planes/not-a-uuid/expected-config-hash`)).toBe(400);
    expect(await send("GET", `${cp}/no-such-thing`)).toBe(404);
    expect(await send("GET", `${cp}/expected-config-hash`, { unexpected: true })).toBe(400);
    expect(k.rejected.length - before).toBe(8);
    expect(await send("GET", plugin)).toBe(200);
    expect(await send("GET", `${cp}/nodes?page[size]=10`)).toBe(200);
  });

  it("accepts every request the adapter sends during a rotation", async () => {
    const before = k.rejected.length;
    const t = createKonnectTarget({
      target: {
        name: "konnect",
        konnect: {
          region: "us",
          controlPlaneId: k.controlPlaneId,
          token: { env: "T" },
          baseUrl: k.url,
          maxLagMs: 1000,
        },
        pluginTags: ["rotator"],
      },
      clientId: CLIENT,
      idp: "entra",
      token: TOKEN,
    });
    const jwk = kongJwk();
    await t.diagnose();
    await t.inspect();
    const baseline = await t.baseline();
    await t.apply(jwk);
    await new Promise((r) => setTimeout(r, 50));
    expect(
      await t.confirm({ kid: jwk.kid }, { appliedAt: new Date(), ...(baseline ? { baseline } : {}) }),
    ).toMatchObject({
      state: "confirmed",
    });
    expect(k.rejected.slice(before)).toEqual([]);
  });
});
