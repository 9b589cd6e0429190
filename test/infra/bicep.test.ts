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
 * - app/alerts.bicep, evaluated by a small evaluator of the Bicep it uses (./bicep-eval.ts), builds exactly
 *   one scheduled query rule per definition of app/alert-rules.json, with that definition's values, and
 *   writes none of its own: no event, table, field, filter value, query text, window or threshold.
 * Not checked elsewhere: expressions, property names and types inside resource bodies. infra/README.md
 * says so.
 */
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { evaluateBicep, numberLiterals, stringLiterals } from "./bicep-eval.js";
import { loadAlertDefinitions, type AlertDefinitions } from "../support/alert-rules.js";

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

const ALERTS = join(INFRA, "app", "alerts.bicep");
const DEPLOYMENT = {
  location: "westeurope",
  tags: {},
  actionGroupName: "ag-rotator",
  actionGroupShortName: "keyrotator",
  alertEmail: "oncall@example.com",
  applicationInsightsId: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Insights/components/appi",
  logAnalyticsWorkspaceId:
    "/subscriptions/s/resourceGroups/g/providers/Microsoft.OperationalInsights/workspaces/log",
  rotatorPrincipalId: "7c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e",
  namePrefix: "func-rotator",
  rotationIntervalHours: 2,
  runbookBaseUrl: "https://example.com/runbooks",
};

interface RuleResource {
  name: string;
  kind: string;
  properties: {
    displayName: string;
    description: string;
    severity: number;
    scopes: string[];
    evaluationFrequency: string;
    windowSize: string;
    overrideQueryTimeRange: string | null;
    criteria: {
      allOf: {
        query: string;
        timeAggregation: string;
        operator: string;
        threshold: number;
        dimensions: { name: string; operator: string; values: string[] }[];
      }[];
    };
    autoMitigate: boolean;
    actions: { customProperties: { runbook?: string } };
  };
}

const balanced = (q: string) => {
  const stack: string[] = [];
  let quote: string | undefined;
  for (const c of q) {
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if ("([".includes(c)) stack.push(c);
    else if (")]".includes(c) && stack.pop() !== (c === ")" ? "(" : "[")) return false;
  }
  return stack.length === 0 && quote === undefined;
};

/** Words of the definitions that the Bicep must only read, never write: what makes one rule differ from another. */
function vocabulary(defs: AlertDefinitions): string[] {
  const words = new Set<string>();
  for (const source of Object.values(defs.sources)) {
    words.add(source.table);
    for (const [field, path] of Object.entries(source.fields)) words.add(field).add(path);
  }
  for (const r of defs.rules) {
    words.add(r.key).add(r.event).add(r.runbook).add(r.displayName);
    for (const w of r.where) w.values.forEach((v) => words.add(v));
    r.aggregation.values.forEach((v) => words.add(v));
  }
  for (const template of [...Object.values(defs.queries), ...Object.values(defs.filters)])
    for (const kw of ["summarize", "where", "extend", "mv-expand", "project", "ago(", "dynamic(", "| "])
      if (template.includes(kw)) words.add(kw);
  return [...words].filter((w) => w.length > 2);
}

/** Literals of alerts.bicep that spell a word of the definitions. */
function hardCoded(source: string, defs: AlertDefinitions): string[] {
  const words = vocabulary(defs);
  return stringLiterals(source).flatMap((lit) =>
    words
      .filter((w) => lit.split("\u0000").some((part) => part.includes(w)))
      .map((w) => `'${lit}' spells ${w}`),
  );
}

describe("infra/app/alerts.bicep builds every rule of infra/app/alert-rules.json", () => {
  const defs = loadAlertDefinitions(join(INFRA, "app", "alert-rules.json"));
  const source = readFileSync(ALERTS, "utf8");
  const built = evaluateBicep(ALERTS, DEPLOYMENT).resource("rule") as RuleResource[];

  it("reads the definitions with loadJsonContent, and declares one rule resource over all of them", () => {
    expect(source).toMatch(/^var definitions = loadJsonContent\('alert-rules\.json'\)$/m);
    const model = evaluateBicep(ALERTS, DEPLOYMENT);
    expect(
      [...model.resources.values()].filter((t) => t.startsWith("Microsoft.Insights/scheduledQueryRules@")),
    ).toHaveLength(1);
    expect(built.map((r) => r.name)).toEqual(defs.rules.map((d) => `${DEPLOYMENT.namePrefix}-${d.key}`));
    expect(new Set(defs.rules.map((d) => d.key)).size).toBe(defs.rules.length);
  });

  it("gives each rule its definition's name, severity, scope, schedule, window, threshold, dimensions and runbook", () => {
    for (const [i, d] of defs.rules.entries()) {
      const r = built[i]!;
      const c = r.properties.criteria.allOf[0]!;
      const scope = defs.sources[d.source]!.scope;
      expect(r.kind, d.key).toBe("LogAlert");
      expect(r.properties, d.key).toMatchObject({
        displayName: d.displayName,
        description: d.description,
        severity: d.severity,
        scopes: [
          scope === "logAnalytics" ? DEPLOYMENT.logAnalyticsWorkspaceId : DEPLOYMENT.applicationInsightsId,
        ],
        evaluationFrequency: `PT${d.everyMinutes}M`,
        windowSize:
          d.window.rotationIntervals > 0
            ? `PT${d.window.rotationIntervals * DEPLOYMENT.rotationIntervalHours}H`
            : `PT${d.window.minutes}M`,
        overrideQueryTimeRange: d.lookbackHours > 0 ? `PT${d.lookbackHours}H` : null,
        autoMitigate: true,
      });
      expect(c, d.key).toMatchObject({
        timeAggregation: "Count",
        operator: d.operator,
        threshold: d.threshold,
      });
      expect(
        c.dimensions.map((x) => x.name),
        d.key,
      ).toEqual(d.splitBy);
      expect(r.properties.actions.customProperties.runbook).toBe(`${DEPLOYMENT.runbookBaseUrl}/${d.runbook}`);
      expect(existsSync(join("docs", "runbooks", d.runbook)), `docs/runbooks/${d.runbook}`).toBe(true);
      expect(d.description, d.key).toContain(`docs/runbooks/${d.runbook}`);
    }
  });

  it("builds each query from its definition: source, event, every filter, the aggregation, no placeholder left", () => {
    for (const [i, d] of defs.rules.entries()) {
      const query = built[i]!.properties.criteria.allOf[0]!.query;
      const src = defs.sources[d.source]!;
      expect(balanced(query), `${d.key}: balanced brackets and quotes\n${query}`).toBe(true);
      expect(query, d.key).not.toMatch(/\{[A-Za-z]+\}/);
      const lines = query.split("\n");
      expect(lines[0]).toBe(src.table);
      expect(lines[1]).toBe(`| where ${src.event} == '${d.event}'`);
      for (const [field, path] of Object.entries(src.fields))
        expect(query).toContain(`${field} = tostring(${path})`);
      for (const w of d.where) {
        const values = w.values.map((v) =>
          v.replaceAll("{rotatorPrincipalId}", DEPLOYMENT.rotatorPrincipalId),
        );
        expect(query, d.key).toContain(
          defs.filters[w.op]!.replace("{field}", w.field).replace("{values}", JSON.stringify(values)),
        );
      }
      if (d.aggregation.kind === "latest")
        expect(query).toContain(`| summarize arg_max(${src.time}, *) by ${d.aggregation.by.join(", ")}`);
      if (d.aggregation.kind !== "rows") {
        expect(query, d.key).toContain(`dynamic(${JSON.stringify(d.aggregation.values)})`);
        expect(query, d.key).toContain(d.aggregation.field);
      }
      for (const column of d.splitBy) expect(query, `${d.key} produces ${column}`).toContain(column);
    }
    const kv = built.find((r) => r.name.endsWith("keyvault-certificate-update"))!;
    expect(kv.properties.criteria.allOf[0]!.query).toContain(DEPLOYMENT.rotatorPrincipalId);
  });

  it("keeps every window inside its rule's range at the largest rotation interval the Bicep accepts", () => {
    const max = Number(/@maxValue\((\d+)\)\nparam rotationIntervalHours int/.exec(source)?.[1]);
    expect(max).toBeGreaterThan(0);
    const widest = evaluateBicep(ALERTS, { ...DEPLOYMENT, rotationIntervalHours: max }).resource(
      "rule",
    ) as RuleResource[];
    const hours = (iso: string) => {
      const m = /^PT(?:(\d+)H)?(?:(\d+)M)?$/.exec(iso)!;
      return Number(m[1] ?? 0) + Number(m[2] ?? 0) / 60;
    };
    for (const r of widest) {
      const range = r.properties.overrideQueryTimeRange;
      // A missing-ticks rule needs rows older than its window in range to know the deployment was alive.
      if (range) expect(hours(r.properties.windowSize), r.name).toBeLessThan(hours(range));
      expect(hours(range ?? r.properties.windowSize), r.name).toBeLessThanOrEqual(48);
    }
  });

  it("writes nothing of its own: no event, table, field, value or query text, and no number but 0 and 1", () => {
    expect(hardCoded(source, defs)).toEqual([]);
    expect(new Set(numberLiterals(source))).toEqual(new Set([0, 1]));
  });

  it("catches what it claims to: a hard-coded event, a broken placeholder, a dropped rule", () => {
    const hard = source.replace("event: d.event", "event: 'KeyRotationFailed'");
    expect(hard).not.toBe(source);
    expect(hardCoded(hard, defs)).toEqual(["'KeyRotationFailed' spells KeyRotationFailed"]);
    const broken = source.replace("eventColumn: definitions", "eventColum: definitions");
    const q = (evaluateBicep(ALERTS, DEPLOYMENT, broken).resource("rule") as RuleResource[])[0]!.properties
      .criteria.allOf[0]!.query;
    expect(q).toMatch(/\{eventColumn\}/);
    const dropped = source.replace("range(0, length(definitions.rules))", "range(0, 2)");
    expect((evaluateBicep(ALERTS, DEPLOYMENT, dropped).resource("rule") as RuleResource[]).length).toBe(2);
  });
});
