/**
 * The vendored API descriptions (stack/specs/) are what stack/specs/README.md and sources.ts say they are:
 * - every file in sources.ts exists, names its source in `info.x-source`, and holds exactly the listed
 *   operations (no more: the subset is the product's and the fakes' own);
 * - the Kong Admin API, openid-connect plugin endpoints and Konnect files are the trim of their fixtures in ../shared/fixtures/kong, byte for
 *   byte (under CI=true ../shared is always there and a missing fixture fails; elsewhere it is skipped);
 * - the KIC custom resource file is generated from the CRDs, one list and one read per served version.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SOURCES } from "../../stack/specs/sources.js";
import { readDocument, render, SPECS_DIR, trimDocument } from "../../stack/specs/trim.js";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const fixtureDir =
  ["../shared", "../../shared"]
    .map((d) => resolve(repoRoot, d, "fixtures/kong"))
    .find((d) => existsSync(d)) ?? "";

type Json = Record<string, unknown>;
const METHODS = ["get", "put", "post", "patch", "delete"];

function operationsOf(doc: Json): string[] {
  const paths = (doc.paths ?? {}) as Record<string, Json>;
  return Object.entries(paths).flatMap(([template, item]) =>
    METHODS.filter((m) => item[m] !== undefined).map((m) => `${m.toUpperCase()} ${template}`),
  );
}

describe("vendored API descriptions", () => {
  for (const spec of SOURCES)
    it(`${spec.file} is the listed subset of ${spec.repository}`, () => {
      const doc = JSON.parse(readFileSync(`${SPECS_DIR}${spec.file}`, "utf8")) as Json;
      const info = doc.info as Json;
      expect(info["x-source"]).toMatchObject({
        repository: spec.repository,
        path: spec.path,
        commit: spec.commit,
        date: spec.date,
      });
      if (spec.kind === "crds") expect(operationsOf(doc).length).toBeGreaterThan(0);
      else expect(operationsOf(doc).sort()).toEqual([...spec.operations].sort());
    });

  for (const [file, fixture] of [
    ["kong/admin-api-ee.3.10.json", "admin-api-ee.3.10.openapi.yaml"],
    ["konnect/control-planes-config.v2.json", "konnect-control-planes-config.v2.openapi.yaml"],
    ["kong/openid-connect-plugin-endpoints.json", "openid-connect-plugin-endpoints.openapi.yaml"],
  ] as const)
    it.skipIf(!fixtureDir && process.env.CI !== "true")(`${file} is the trim of its fixture`, () => {
      expect(fixtureDir, "../shared/fixtures/kong is missing").not.toBe("");
      const spec = SOURCES.find((s) => s.file === file);
      if (!spec) throw new Error(`${file} is not in sources.ts`);
      const trimmed = render(trimDocument(readDocument(resolve(fixtureDir, fixture)), spec));
      expect(readFileSync(`${SPECS_DIR}${file}`, "utf8")).toBe(trimmed);
    });

  it("the KIC custom resources are listed and read as the API server publishes them", () => {
    const doc = JSON.parse(readFileSync(`${SPECS_DIR}kubernetes/kic-crds.json`, "utf8")) as Json;
    expect(operationsOf(doc)).toEqual(
      expect.arrayContaining([
        "GET /apis/configuration.konghq.com/v1/namespaces/{namespace}/kongplugins",
        "GET /apis/configuration.konghq.com/v1/namespaces/{namespace}/kongplugins/{name}",
        "GET /apis/configuration.konghq.com/v1alpha1/kongvaults",
        "GET /apis/configuration.konghq.com/v1alpha1/kongvaults/{name}",
      ]),
    );
  });
});
