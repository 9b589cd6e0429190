/**
 * The engine and its ports name roles, never a vendor's identity provider: no import of an adapter, and
 * no identifier or string literal naming Entra, Graph, Microsoft, Okta or Auth0. Read with the TypeScript
 * scanner, so comments (which may cite a provider's documentation as an example) are not code.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const VENDOR = /entra|okta|auth0|graph|microsoft/i;
/** Read as a fallback for generations tagged before the port existed (src/engine/tags.ts). */
const ALLOWED = new Set(['"rotator-entraKeyId"']);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Identifiers, string and template literals of a file (comments and trivia skipped). */
function codeTokens(text: string): string[] {
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, text);
  const out: string[] = [];
  for (let kind = scanner.scan(); kind !== ts.SyntaxKind.EndOfFileToken; kind = scanner.scan())
    if (
      kind === ts.SyntaxKind.Identifier ||
      kind === ts.SyntaxKind.StringLiteral ||
      kind === ts.SyntaxKind.NoSubstitutionTemplateLiteral ||
      kind === ts.SyntaxKind.TemplateHead ||
      kind === ts.SyntaxKind.TemplateMiddle ||
      kind === ts.SyntaxKind.TemplateTail
    )
      out.push(scanner.getTokenText());
  return out;
}

const checked = [...files("src/engine"), ...files("src/ports")];

describe("the engine and its ports are vendor-neutral", () => {
  it("checks a real set of files", () => {
    expect(checked.length).toBeGreaterThan(20);
  });

  it.each(checked.map((f) => [relative(".", f)]))("%s names no identity provider in code", (file) => {
    const text = readFileSync(file, "utf8");
    const imports = [...text.matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1] ?? "");
    expect(imports.filter((p) => p.includes("/adapters/"))).toEqual([]);
    expect(codeTokens(text).filter((t) => VENDOR.test(t) && !ALLOWED.has(t))).toEqual([]);
  });

  it("would catch a vendor name in code but not in a comment", () => {
    const sample = '// Entra matches x5t\nconst viaGraph = "okta";\n';
    expect(codeTokens(sample).filter((t) => VENDOR.test(t))).toEqual(["viaGraph", '"okta"']);
  });
});
