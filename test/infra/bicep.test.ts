/**
 * Static checks of the Bicep in infra/, standing in for a compiler: no Bicep compiler installs from the
 * registries this project can reach (the CLI is a .NET binary downloaded from GitHub releases, also by the
 * npm package bicep-node and by `az bicep install`; neither the npm registry nor Debian ship it).
 *
 * What is checked (each is a class of error `bicep build` would report):
 * - every resource type and API version is in the reviewed list infra/resource-types.json, and every
 *   entry of the list is used (child resources are checked under their full type);
 * - every module path exists; a module call passes only parameters the module declares, and every
 *   parameter without a default; `<module>.outputs.<name>` names an output the module declares;
 * - infra/main.parameters.json names only parameters of main.bicep.
 * Not checked: expressions, property names and types inside resource bodies. infra/README.md says so.
 */
import { describe, expect, it } from "vitest";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";

const INFRA = "infra";

interface Resource {
  symbol: string;
  type: string;
  version: string;
  line: number;
}
interface ModuleCall {
  symbol: string;
  path: string;
  params: string[];
  line: number;
}
interface BicepFile {
  path: string;
  resources: Resource[];
  modules: ModuleCall[];
  /** Declared parameters: name -> has a default (or is nullable). */
  params: Map<string, boolean>;
  outputs: Set<string>;
  /** `symbol.outputs.name` references. */
  outputRefs: { symbol: string; output: string }[];
}

/** The text with comments blanked out (strings kept), so braces and keys can be scanned. */
function stripComments(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    if (text.startsWith("'''", i)) {
      const end = text.indexOf("'''", i + 3);
      const stop = end < 0 ? text.length : end + 3;
      out += text.slice(i, stop);
      i = stop;
    } else if (text[i] === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== "'") j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (text.startsWith("//", i)) {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
    } else out += text[i++];
  }
  return out;
}

/** Brace depth change of a line, ignoring braces inside strings. */
function braceDelta(line: string): number {
  let d = 0;
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === "'") inString = false;
    } else if (c === "'") inString = true;
    else if (c === "{") d++;
    else if (c === "}") d--;
  }
  return d;
}

function parse(path: string, source: string): BicepFile {
  const lines = stripComments(source).split("\n");
  const file: BicepFile = {
    path,
    resources: [],
    modules: [],
    params: new Map(),
    outputs: new Set(),
    outputRefs: [],
  };
  const parents: { type: string; version: string; bodyDepth: number }[] = [];
  let module: { call: ModuleCall; bodyDepth: number; paramsDepth?: number } | undefined;
  let depth = 0;
  lines.forEach((line, n) => {
    while (parents.length > 0 && depth < parents.at(-1)!.bodyDepth) parents.pop();
    if (module && depth < module.bodyDepth) module = undefined;

    const res = /^\s*resource\s+(\w+)\s+'([^'@]+)(?:@([^']+))?'/.exec(line);
    if (res) {
      const parent = parents.at(-1);
      const type = res[3] ? res[2]! : `${parent?.type ?? "?"}/${res[2]}`;
      const version = res[3] ?? parent?.version ?? "?";
      file.resources.push({ symbol: res[1]!, type, version, line: n + 1 });
      parents.push({ type, version, bodyDepth: depth + 1 });
    }
    const mod = /^module\s+(\w+)\s+'([^']+)'/.exec(line);
    if (mod) {
      const call = { symbol: mod[1]!, path: mod[2]!, params: [], line: n + 1 };
      file.modules.push(call);
      module = { call, bodyDepth: depth + 1 };
    }
    if (module && module.paramsDepth !== undefined && depth === module.paramsDepth) {
      const key = /^\s*(\w+)\s*:/.exec(line);
      if (key) module.call.params.push(key[1]!);
    }
    if (module && depth === module.bodyDepth && /^\s*params\s*:\s*\{/.test(line))
      module.paramsDepth = depth + 1;
    if (module && module.paramsDepth !== undefined && depth + braceDelta(line) < module.paramsDepth)
      module.paramsDepth = undefined;

    const param = /^param\s+(\w+)\s+([^=]+?)\s*(=.*)?$/.exec(line);
    if (param) file.params.set(param[1]!, param[3] !== undefined || param[2]!.trim().endsWith("?"));
    const output = /^output\s+(\w+)\s/.exec(line);
    if (output) file.outputs.add(output[1]!);
    for (const m of line.matchAll(/\b(\w+)\.outputs\.(\w+)/g))
      file.outputRefs.push({ symbol: m[1]!, output: m[2]! });

    depth += braceDelta(line);
  });
  return file;
}

async function bicepFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await bicepFiles(p)));
    else if (e.name.endsWith(".bicep")) out.push(p);
  }
  return out.sort();
}

async function loadAll(): Promise<Map<string, BicepFile>> {
  const files = new Map<string, BicepFile>();
  for (const p of await bicepFiles(INFRA)) files.set(p, parse(p, await readFile(p, "utf8")));
  return files;
}

describe("infra/*.bicep (static checks; not compiled)", () => {
  it("declares only reviewed resource types and API versions, and the list has no stale entry", async () => {
    const files = await loadAll();
    const list = JSON.parse(await readFile(join(INFRA, "resource-types.json"), "utf8")) as {
      types: Record<string, string[]>;
    };
    const used = new Set<string>();
    const resources = [...files.values()].flatMap((f) => f.resources.map((r) => ({ ...r, path: f.path })));
    expect(resources.length).toBeGreaterThan(10);
    for (const r of resources) {
      used.add(`${r.type}@${r.version}`);
      expect(
        list.types[r.type]?.includes(r.version),
        `${r.path}:${r.line} ${r.symbol} '${r.type}@${r.version}' is not in infra/resource-types.json`,
      ).toBe(true);
    }
    for (const [type, versions] of Object.entries(list.types))
      for (const v of versions)
        expect(
          used.has(`${type}@${v}`),
          `infra/resource-types.json lists ${type}@${v}, which nothing declares`,
        ).toBe(true);
  });

  it("calls modules that exist with parameters they declare, and reads outputs they declare", async () => {
    const files = await loadAll();
    let calls = 0;
    for (const file of files.values()) {
      const modules = new Map(file.modules.map((m) => [m.symbol, m]));
      for (const call of file.modules) {
        calls++;
        const target = files.get(join(dirname(file.path), call.path));
        expect(
          target,
          `${file.path}:${call.line} module ${call.symbol}: ${call.path} not found`,
        ).toBeDefined();
        const where = `${file.path}:${call.line} module ${call.symbol} (${relative(INFRA, target!.path)})`;
        for (const p of call.params)
          expect(target!.params.has(p), `${where} passes undeclared param ${p}`).toBe(true);
        for (const [p, optional] of target!.params)
          if (!optional) expect(call.params, `${where} misses required param ${p}`).toContain(p);
      }
      for (const ref of file.outputRefs) {
        const call = modules.get(ref.symbol);
        if (!call) continue; // a resource's `outputs` property, not a module's
        const target = files.get(join(dirname(file.path), call.path))!;
        expect(
          target.outputs.has(ref.output),
          `${file.path}: ${ref.symbol}.outputs.${ref.output} is not an output of ${call.path}`,
        ).toBe(true);
      }
    }
    expect(calls).toBeGreaterThan(5);
  });

  it("main.parameters.json names only parameters of main.bicep", async () => {
    const main = parse("main.bicep", await readFile(join(INFRA, "main.bicep"), "utf8"));
    const params = JSON.parse(await readFile(join(INFRA, "main.parameters.json"), "utf8")) as {
      parameters: Record<string, unknown>;
    };
    for (const name of Object.keys(params.parameters))
      expect(main.params.has(name), `main.parameters.json sets ${name}, not a param of main.bicep`).toBe(
        true,
      );
  });

  it("catches the errors it claims to: an unknown version, an undeclared module param, a missing output", () => {
    const mod = parse("infra/m.bicep", "param a string\nparam b int = 1\noutput x string = a\n");
    const main = parse(
      "infra/main.bicep",
      [
        "resource s 'Microsoft.Storage/storageAccounts@2099-01-01' = {",
        "  name: 'x'",
        "  resource blob 'blobServices' = {",
        "    name: 'default'",
        "  }",
        "}",
        "module m 'm.bicep' = {",
        "  name: 'm'",
        "  params: {",
        "    c: { d: 1 }",
        "  }",
        "}",
        "output y string = m.outputs.z",
      ].join("\n"),
    );
    expect(main.resources.map((r) => `${r.type}@${r.version}`)).toEqual([
      "Microsoft.Storage/storageAccounts@2099-01-01",
      "Microsoft.Storage/storageAccounts/blobServices@2099-01-01",
    ]);
    expect(main.modules[0]!.params).toEqual(["c"]);
    expect(mod.params).toEqual(
      new Map([
        ["a", false],
        ["b", true],
      ]),
    );
    expect(main.outputRefs).toEqual([{ symbol: "m", output: "z" }]);
    expect(mod.outputs.has("z")).toBe(false);
  });
});
