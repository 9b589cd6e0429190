/**
 * Every configuration example in README.md and docs/**\/*.md is valid: fenced yaml/json blocks whose
 * top-level keys are all configuration keys are extracted, their `<placeholders>` filled with fixed
 * values by field name, and the result validated by the same parseConfig the CLI and functions use.
 * A fragment (e.g. only `alerts:`) is validated inside a minimal complete configuration.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseConfig } from "../../src/config/load.js";

const ROOT = join(import.meta.dirname, "..", "..");
const CONFIG_KEYS = new Set(["keyVault", "cloud", "policy", "credentials", "alerts", "sync"]);

/** Fixed values for the placeholders the docs use, by the field they stand in. */
const PLACEHOLDERS: Record<string, string> = {
  tenantId: "11111111-2222-4333-8444-555555555555",
  clientId: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
  pluginId: "6b0c7f3e-4a6f-4a8e-9d1b-2c3d4e5f6a7b",
  controlPlaneId: "9524ec7d-36d9-465d-a8c5-83a3c9390458",
};

const BASE = {
  keyVault: { url: "https://example.vault.azure.net" },
  credentials: [
    {
      name: "docs-example",
      certificateName: "kong-docs-example",
      entra: { tenantId: PLACEHOLDERS.tenantId, clientId: PLACEHOLDERS.clientId },
      kong: [{ name: "k", adminUrl: "https://kong-admin.example:8444", pluginTags: ["rotator:docs"] }],
    },
  ],
};

function markdownFiles(): string[] {
  const out = [join(ROOT, "README.md")];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith(".md")) out.push(join(dir, e.name));
  };
  walk(join(ROOT, "docs"));
  return out;
}

interface Example {
  where: string;
  doc: Record<string, unknown>;
}

function examples(): Example[] {
  const found: Example[] = [];
  for (const file of markdownFiles()) {
    const text = readFileSync(file, "utf8");
    const fence = /^([ \t]*)```(ya?ml|json)[^\n]*\n([\s\S]*?)^\1```/gm;
    for (const m of text.matchAll(fence)) {
      const indent = m[1] ?? "";
      const body = (m[3] ?? "")
        .split("\n")
        .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
        .join("\n");
      // A YAML block may hold several documents (Kubernetes manifests): each is looked at on its own.
      const docs: unknown[] =
        m[2] === "json" ? [JSON.parse(body)] : parseAllDocuments(body).map((d) => d.toJS() as unknown);
      const line = text.slice(0, m.index).split("\n").length;
      for (const doc of docs) {
        if (doc === null || typeof doc !== "object" || Array.isArray(doc)) continue;
        const keys = Object.keys(doc);
        if (keys.length === 0 || !keys.every((k) => CONFIG_KEYS.has(k))) continue;
        found.push({ where: `${relative(ROOT, file)}:${line}`, doc: doc as Record<string, unknown> });
      }
    }
  }
  return found;
}

/** Replace every "<...>" string by its field's fixed value; an unknown placeholder fails the test. */
function fill(v: unknown, field: string, where: string): unknown {
  if (typeof v === "string" && /^<.*>$/.test(v)) {
    const value = PLACEHOLDERS[field];
    if (!value) throw new Error(`${where}: no fixed value for placeholder ${v} in field ${field}`);
    return value;
  }
  if (Array.isArray(v)) return v.map((x) => fill(x, field, where));
  if (v && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x, k, where)]));
  return v;
}

describe("configuration examples in README and docs", () => {
  const all = examples();

  it("finds the examples (README's configuration reference and the alert docs)", () => {
    const files = new Set(all.map((e) => e.where.split(":")[0]));
    expect(files).toContain("README.md");
    expect([...files].some((f) => f?.startsWith("docs/"))).toBe(true);
  });

  it.each(all.map((e) => [e.where, e] as const))("%s is valid", (where, e) => {
    const filled = fill(e.doc, "", where) as Record<string, unknown>;
    const complete = { ...BASE, ...filled };
    expect(() => parseConfig(complete, where)).not.toThrow();
  });
});
