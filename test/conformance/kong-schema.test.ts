/**
 * Conformance of the Kong fake with Kong's published openid-connect schemas
 * (../shared/fixtures/kong/openid-connect.config-schema.{3.4,3.10,3.15}.json):
 * 1. the schema subsets committed under stack/kong/schema/ are exactly what ./schema.ts derives from them;
 * 2. every plugin entity the fake accepted while seeding and serving the adapter's writes validates
 *    against the published schema of the fake's Kong version (ajv, strict mode);
 * 3. on configs the JSON schema can express, ajv and the fake agree on rejection.
 *
 * Light pre-processing, because Kong's export is not pure JSON Schema:
 * - vendor keywords are dropped: every `x-*` key (x-referenceable, x-encrypted, x-supported-partials) and
 *   `shorthand_fields` (3.4: Kong's deprecated aliases, not a JSON Schema keyword);
 * - empty `required: []` on non-object item schemas is dropped (ajv strict mode rejects it, it means nothing);
 * - a schema node with `properties` but no `type` (the document root) gets `type: "object"`;
 * - `minLength`/`maxLength` on arrays (redis `cluster_nodes`, "the minimum length of the array is 1
 *   element") become `minItems`/`maxItems`, which is what Kong means;
 * - in the data, null values are removed before validation: Kong's Admin API returns unset fields as null
 *   (`nulls = true`), while the published schema types them without null.
 * The fake is deliberately stricter than the schema (unknown fields, JWK kty/n/e/alg); those rejections are
 * not expected from ajv.
 *
 * Under CI=true the fixtures are required and a missing one fails the run; elsewhere, without ../shared,
 * the suite is skipped and says so.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv, type ValidateFunction } from "ajv";
import { request } from "undici";
import { describe, expect, it } from "vitest";
import { createKongTarget } from "../../src/adapters/kong/admin/target.js";
import { ensureCa, issueServerTls } from "../../stack/common/tls.js";
import { startKongFake, type KongFake } from "../../stack/kong/fake.js";
import {
  SCHEMA_VERSIONS,
  extractOidcSchemaSubset,
  fixtureFileName,
  loadOidcSchemaSubset,
  type SchemaVersion,
} from "../../stack/kong/schema.js";
import { generateRsaJwk } from "../../stack/kong/seed.js";
import { kongJwk } from "../support/kong-jwk.js";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const fixtureDir = resolve(repoRoot, "../shared/fixtures/kong");
const missing = SCHEMA_VERSIONS.map(fixtureFileName).filter((f) => !existsSync(join(fixtureDir, f)));
const ci = process.env.CI === "true";
const CLIENT = "11111111-2222-4333-8444-555555555555";

function readFixture(version: SchemaVersion): unknown {
  return JSON.parse(readFileSync(join(fixtureDir, fixtureFileName(version)), "utf8"));
}

function preprocess(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(preprocess);
  if (typeof v !== "object" || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith("x-") || k === "shorthand_fields") continue;
    if (k === "required" && Array.isArray(x) && x.length === 0) continue;
    out[k] = preprocess(x);
  }
  if ("properties" in out && !("type" in out)) out.type = "object";
  if (out.type === "array")
    for (const [from, to] of [
      ["minLength", "minItems"],
      ["maxLength", "maxItems"],
    ] as const) {
      if (from in out) {
        out[to] = out[from];
        delete out[from];
      }
    }
  return out;
}

function stripNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (typeof v !== "object" || v === null) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([, x]) => x !== null)
      .map(([k, x]) => [k, stripNulls(x)]),
  );
}

function compile(version: SchemaVersion): ValidateFunction {
  const ajv = new Ajv({ strict: true, allErrors: true });
  return ajv.compile(preprocess(readFixture(version)) as object);
}

/** Seeds and adapter writes covering the shapes the tests use: parallel arrays, padding, workspaces, tags, PUT. */
async function exercise(kong: KongFake): Promise<void> {
  const a = generateRsaJwk({ kid: "kid-a" });
  const b = generateRsaJwk({ kid: "kid-b", alg: "RS256" });
  const issuer = "https://login.microsoftonline.com/tenant/v2.0";
  const single = kong.addPlugin({
    name: "openid-connect",
    config: { issuer, client_id: [CLIENT], client_auth: ["private_key_jwt"], client_jwk: [a] },
  }).id;
  const multi = kong.addPlugin({
    name: "openid-connect",
    workspace: "team-a",
    tags: ["rotator", "eu"],
    config: {
      issuer,
      client_id: ["client-a", CLIENT, "client-c"],
      client_auth: ["private_key_jwt", "private_key_jwt", "client_secret_post"],
      client_secret: ["unused-by-a", "unused-by-b", "secret"],
      client_alg: ["PS256", "PS256", "RS256"],
      client_jwk: [a, b],
      scopes: ["api://kong/.default"],
      cache_ttl: 600,
      auth_methods: ["client_credentials", "bearer"],
    },
  }).id;
  const padded = kong.addPlugin({
    name: "openid-connect",
    config: {
      issuer,
      client_id: ["client-a", "client-b", CLIENT],
      client_auth: ["private_key_jwt"],
      client_jwk: [a],
    },
  }).id;
  const target = (over: { pluginId?: string; pluginTags?: string[]; workspace?: string }) =>
    createKongTarget({
      target: { name: "conformance", adminUrl: kong.url, ...over },
      clientId: CLIENT,
      idp: "entra",
      pageSize: 1,
    });
  await target({ pluginId: single }).apply(kongJwk("gen-1"));
  await target({ pluginTags: ["rotator", "eu"], workspace: "team-a" }).apply(kongJwk("gen-2"));
  await target({ pluginId: padded }).apply(kongJwk("gen-3"));
  const res = await request(`${kong.url}/team-a/plugins/${multi}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      name: "openid-connect",
      tags: ["rotator"],
      config: {
        issuer,
        client_id: [CLIENT],
        client_auth: ["private_key_jwt"],
        client_jwk: [kongJwk("gen-4")],
      },
    }),
  });
  await res.body.text();
  expect(res.statusCode).toBe(200);
}

const skip = missing.length > 0 && !ci;
if (skip)
  console.warn(
    `kong schema conformance SKIPPED: ${fixtureDir} lacks ${missing.join(", ")} (set CI=true to require the fixtures)`,
  );

(skip ? describe.skip : describe)(
  skip
    ? "kong schema conformance (SKIPPED: ../shared/fixtures/kong not found; required under CI=true)"
    : "kong schema conformance",
  () => {
    it("has Kong's published schemas", () => {
      expect(missing).toEqual([]);
    });

    for (const version of SCHEMA_VERSIONS) {
      it(`the committed ${version} subset is what the published schema yields`, () => {
        expect(loadOidcSchemaSubset(version)).toEqual(
          extractOidcSchemaSubset(
            readFixture(version),
            version,
            `../shared/fixtures/kong/${fixtureFileName(version)}`,
          ),
        );
      });

      it(`every entity the fake accepted validates against the published ${version} schema`, async () => {
        const validate = compile(version);
        const tls = await issueServerTls(await ensureCa(resolve(repoRoot, ".local/ca")));
        const kong = await startKongFake({ tls, version: `${version}.0.0` });
        try {
          await exercise(kong);
          expect(kong.accepted.length).toBeGreaterThanOrEqual(7);
          const failures = kong.accepted.flatMap((entity) =>
            validate(stripNulls(entity)) ? [] : [{ id: entity.id, errors: validate.errors }],
          );
          expect(failures).toEqual([]);
        } finally {
          await kong.close();
        }
      });

      it(`ajv and the fake both reject what the ${version} schema forbids`, async () => {
        const validate = compile(version);
        const tls = await issueServerTls(await ensureCa(resolve(repoRoot, ".local/ca")));
        const kong = await startKongFake({ tls, version: `${version}.0.0` });
        try {
          const base = {
            issuer: "https://idp.example.test",
            client_id: [CLIENT],
            client_auth: ["private_key_jwt"],
            client_jwk: [generateRsaJwk()],
          };
          const { id } = kong.addPlugin({ name: "openid-connect", config: base });
          const bad: Record<string, unknown>[] = [
            { client_auth: ["magic"] },
            { client_id: "not-an-array" },
            { client_jwk: ["not-a-record"] },
            { cache_ttl: "soon" },
            { client_alg: ["XS256"] },
          ];
          for (const change of bad) {
            expect(validate({ config: { ...base, ...change } })).toBe(false);
            const res = await request(`${kong.url}/plugins/${id}`, {
              method: "PATCH",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ config: change }),
            });
            await res.body.text();
            expect(res.statusCode).toBe(400);
          }
          expect(validate({ config: base })).toBe(true);
        } finally {
          await kong.close();
        }
      });
    }
  },
);
