/**
 * Text-level readers for the settings-parity test: which settings the code reads (src/), which app
 * settings the Bicep sets, and which the local settings example documents. No Bicep compiler is needed:
 * the app settings live in one object literal (`name: 'appsettings'` … `properties: { … }`) with one
 * property per line, which a small scanner that knows Bicep strings and comments can read.
 */

export interface SourceFile {
  path: string;
  text: string;
}

export interface EnvReads {
  /** Setting name -> "file:line" of each read. */
  reads: Map<string, string[]>;
  /** Reads whose name is computed at run time (e.g. `env[ref.env]`): file and expression. */
  dynamic: { path: string; expr: string }[];
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/**
 * Blank out full-line `//` comments and block-comment lines (`/*`, ` *`), keeping line numbers. Enough for
 * this codebase's style, and it avoids mistaking a documented example such as `process.env.X` in a JSDoc
 * block for a read.
 */
function withoutCommentLines(text: string): string {
  let inBlock = false;
  return text
    .split("\n")
    .map((line) => {
      const t = line.trim();
      if (inBlock) {
        if (t.includes("*/")) inBlock = false;
        return "";
      }
      if (t.startsWith("/*")) {
        inBlock = !t.includes("*/");
        return "";
      }
      return t.startsWith("//") ? "" : line;
    })
    .join("\n");
}

/** `const NAME = "value"` (or 'value') string constants of one file. */
function stringConstants(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/\bconst\s+([A-Za-z_$][\w$]*)\s*=\s*(["'])([^"'\n]*)\2\s*;/g))
    out.set(m[1]!, m[3]!);
  return out;
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split("\n").length;
}

/** The bracketed expression starting at `open` (the index of `[`), without the brackets. */
function bracketed(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "[") depth++;
    else if (text[i] === "]" && --depth === 0) return text.slice(open + 1, i).trim();
  }
  return text.slice(open + 1).trim();
}

/** Resolve `"X"`, `'X'`, a string constant, or a template of constants; undefined when computed at run time. */
function resolveKey(expr: string, constants: Map<string, string>): string | undefined {
  const literal = /^(["'])([^"']*)\1$/.exec(expr);
  if (literal) return literal[2];
  if (IDENT.test(expr)) return constants.get(expr);
  const template = /^`([^`]*)`$/.exec(expr);
  if (!template) return undefined;
  let unresolved = false;
  const value = template[1]!.replace(/\$\{\s*([^}]*?)\s*\}/g, (_, name: string) => {
    const v = IDENT.test(name) ? constants.get(name) : undefined;
    if (v === undefined) unresolved = true;
    return v ?? "";
  });
  return unresolved ? undefined : value;
}

/**
 * Every environment read in the given TypeScript sources: `process.env.X`, `env.X` (any object named env,
 * e.g. `io.env.X`), `env["X"]`, `env[CONST]`, `` env[`${CONST}__x`] `` and destructuring
 * `const { X, Y: y } = env` / `process.env`.
 */
export function scanEnvReads(files: SourceFile[]): EnvReads {
  const reads = new Map<string, string[]>();
  const dynamic: EnvReads["dynamic"] = [];
  const add = (name: string, file: SourceFile, index: number, text: string) => {
    const where = `${file.path}:${lineOf(text, index)}`;
    reads.set(name, [...(reads.get(name) ?? []), where]);
  };
  for (const file of files) {
    const text = withoutCommentLines(file.text);
    const constants = stringConstants(text);
    for (const m of text.matchAll(/\benv\.([A-Za-z_][\w]*)/g)) add(m[1]!, file, m.index, text);
    for (const m of text.matchAll(/\benv\s*\[/g)) {
      const expr = bracketed(text, m.index + m[0].length - 1);
      const key = resolveKey(expr, constants);
      if (key === undefined) dynamic.push({ path: file.path, expr });
      else add(key, file, m.index, text);
    }
    for (const m of text.matchAll(/\b(?:const|let|var)\s*\{([^}]*)\}\s*=\s*(?:[\w$]+\.)*env\b/g)) {
      for (const part of m[1]!.split(",")) {
        const p = part.trim();
        if (!p) continue;
        if (p.startsWith("...")) dynamic.push({ path: file.path, expr: p });
        else add(p.split(/[:=]/)[0]!.trim(), file, m.index, text);
      }
    }
  }
  return { reads, dynamic };
}

// ---------------------------------------------------------------------------------------------
// Bicep
// ---------------------------------------------------------------------------------------------

/**
 * Mask Bicep comments and string contents with spaces (same length, newlines kept), so that braces and
 * colons inside strings or comments do not count. Handles `'…'` with `\'` escapes, `'''…'''` multi-line
 * strings, `//` and `/* … *\/` comments.
 */
export function maskBicep(text: string): string {
  const out = text.split("");
  const blank = (from: number, to: number) => {
    for (let k = from; k < to && k < out.length; k++) if (out[k] !== "\n") out[k] = " ";
  };
  let i = 0;
  while (i < text.length) {
    if (text.startsWith("'''", i)) {
      const end = text.indexOf("'''", i + 3);
      const stop = end < 0 ? text.length : end + 3;
      blank(i + 3, stop - 3);
      i = stop;
    } else if (text[i] === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== "'") j += text[j] === "\\" ? 2 : 1;
      blank(i + 1, j);
      i = j + 1;
    } else if (text.startsWith("//", i)) {
      const end = text.indexOf("\n", i);
      const stop = end < 0 ? text.length : end;
      blank(i, stop);
      i = stop;
    } else if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? text.length : end + 2;
      blank(i, stop);
      i = stop;
    } else i++;
  }
  return out.join("");
}

/** The body (between the braces) of the object literal whose `{` is at or after `from` in the masked text. */
function objectBody(masked: string, from: number): { start: number; end: number } {
  const open = masked.indexOf("{", from);
  if (open < 0) throw new Error("no object literal found");
  let depth = 0;
  for (let i = open; i < masked.length; i++) {
    if (masked[i] === "{") depth++;
    else if (masked[i] === "}" && --depth === 0) return { start: open + 1, end: i };
  }
  throw new Error("unterminated object literal");
}

/** Top-level property names of an object body (one property per line, as Bicep requires). */
function topLevelKeys(original: string, masked: string, body: { start: number; end: number }): string[] {
  const keys: string[] = [];
  let depth = 0;
  let lineStart = body.start;
  for (let i = body.start; i <= body.end; i++) {
    if (i === body.end || masked[i] === "\n") {
      if (depth === 0) {
        const maskedLine = masked.slice(lineStart, i);
        const m = /^\s*([A-Za-z_]\w*|'\s*')\s*:/.exec(maskedLine);
        if (m) {
          const raw = original.slice(lineStart, i).trim();
          const key = /^'([^']*)'/.exec(raw)?.[1] ?? m[1]!;
          keys.push(key);
        }
      }
      lineStart = i + 1;
    }
    const c = masked[i];
    if (c === "{" || c === "[" || c === "(") depth++;
    else if (c === "}" || c === "]" || c === ")") depth--;
  }
  return keys;
}

/** Keys of every `name: 'appsettings'` config resource's `properties` object in a Bicep file. */
export function bicepAppSettings(text: string): string[] {
  const masked = maskBicep(text);
  const keys: string[] = [];
  for (const m of text.matchAll(/name:\s*'appsettings'/g)) {
    const props = masked.indexOf("properties:", m.index);
    if (props < 0) throw new Error("appsettings resource without properties");
    keys.push(...topLevelKeys(text, masked, objectBody(masked, props)));
  }
  return keys;
}

/** `functionAppConfig.runtime` of a Bicep file (name and version as written). */
export function bicepRuntime(text: string): { name?: string; version?: string } {
  const masked = maskBicep(text);
  const at = masked.search(/\bruntime:\s*\{/);
  if (at < 0) return {};
  const body = objectBody(masked, at);
  const slice = text.slice(body.start, body.end);
  const field = (key: string) => new RegExp(`\\b${key}:\\s*'([^']*)'`).exec(slice)?.[1];
  return { name: field("name"), version: field("version") };
}
