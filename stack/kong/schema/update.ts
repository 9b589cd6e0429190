/**
 * Regenerate the committed schema subsets from Kong's published schemas:
 *   npx tsx stack/kong/schema/update.ts [fixtureDir]   (default ../shared/fixtures/kong)
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";
import { SCHEMA_VERSIONS, extractOidcSchemaSubset, fixtureFileName, subsetPath } from "../schema.js";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const fixtureDir = resolve(repoRoot, process.argv[2] ?? "../shared/fixtures/kong");

for (const version of SCHEMA_VERSIONS) {
  const file = join(fixtureDir, fixtureFileName(version));
  const subset = extractOidcSchemaSubset(
    JSON.parse(readFileSync(file, "utf8")),
    version,
    `../shared/fixtures/kong/${fixtureFileName(version)}`,
  );
  const out = fileURLToPath(subsetPath(version));
  const options = (await resolveConfig(out)) ?? {};
  writeFileSync(out, await format(JSON.stringify(subset), { ...options, parser: "json" }));
  console.log(`wrote ${out} (${Object.keys(subset.fields).length} fields)`);
}
