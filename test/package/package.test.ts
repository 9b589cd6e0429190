/**
 * The deployment package (scripts/package.ts, what azd deploys): built into a temporary folder outside the
 * repository, so that nothing can resolve from the repository's node_modules, then loaded in a separate
 * Node process the way the Functions worker loads it (see load-entry.mjs and functions-core.mjs).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { buildPackage, EXTERNALS, PACKAGE_FILES, type PackageResult } from "../../scripts/package.js";
import { startLocalStack, CREDENTIAL, type LocalStack } from "../../stack/stack.js";

const run = promisify(execFile);
const HERE = resolve("test/package");
const CORE = join(HERE, "functions-core.mjs");
const LOADER = join(HERE, "load-entry.mjs");
const MAX_BYTES = 10 * 1024 * 1024;

interface Loaded {
  /** What the process wrote on stderr (not part of the loader's JSON line). */
  stderr: string;
  importMs: number;
  connections: { kind: string; target: string }[];
  registered: { name: string; bindings: Record<string, Record<string, unknown>> }[];
  invoked?: { status: number; body: unknown; logs: string[] };
}

async function load(
  entry: string,
  opts: { tsx?: boolean; cwd?: string; env?: Record<string, string>; invoke?: [string, string, string] } = {},
): Promise<Loaded> {
  const args = [
    "--import",
    CORE,
    ...(opts.tsx ? ["--import", "tsx"] : []),
    LOADER,
    entry,
    ...(opts.invoke ?? []),
  ];
  const { stdout, stderr } = await run(process.execPath, args, {
    cwd: opts.cwd ?? process.cwd(),
    env: { ...process.env, ...opts.env },
    maxBuffer: 16 * 1024 * 1024,
  });
  const last = stdout.trim().split("\n").at(-1) ?? "";
  return { ...(JSON.parse(last) as Omit<Loaded, "stderr">), stderr };
}

/** What the host indexes: each function's name and bindings (binding names are random per load). */
function indexed(l: Loaded): Record<string, unknown[]> {
  return Object.fromEntries(
    l.registered.map((r) => [
      r.name,
      Object.values(r.bindings)
        .map(({ name: _name, ...b }) => b)
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ]),
  );
}

async function filesUnder(dir: string, prefix = ""): Promise<{ path: string; bytes: number }[]> {
  const out: { path: string; bytes: number }[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(join(dir, e.name), rel)));
    else out.push({ path: rel, bytes: (await stat(join(dir, e.name))).size });
  }
  return out;
}

describe("deployment package", () => {
  let work: string;
  let pkg: PackageResult;
  let entry: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "rotator-package-"));
    pkg = await buildPackage(join(work, "functionapp"));
    const manifest = JSON.parse(await readFile(join(pkg.outDir, "package.json"), "utf8")) as { main: string };
    entry = join(pkg.outDir, manifest.main);
  }, 120_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("holds the bundle, host.json, package.json and the configuration only, and stays under 10 MB", async () => {
    const files = await filesUnder(pkg.outDir);
    const extra = await filesUnder(PACKAGE_FILES).catch(() => []);
    const npmExternals = Object.entries(EXTERNALS).filter(([, e]) => e.npm).length;
    for (const f of files) {
      const allowed =
        /^[\w.-]+\.mjs$/.test(f.path) ||
        ["host.json", "package.json", "rotator.yaml"].includes(f.path) ||
        (npmExternals > 0 && f.path.startsWith("node_modules/")) ||
        extra.some((e) => e.path === f.path);
      expect(allowed, `unexpected file in the package: ${f.path}`).toBe(true);
    }
    expect(files.map((f) => f.path)).toEqual(
      expect.arrayContaining(["host.json", "package.json", "index.mjs"]),
    );
    const total = files.reduce((n, f) => n + f.bytes, 0);
    expect(total).toBeLessThanOrEqual(MAX_BYTES);
    const host = JSON.parse(await readFile(join(pkg.outDir, "host.json"), "utf8")) as { version: string };
    expect(host.version).toBe("2.0");
  });

  it("contains no development dependency and nothing from the stack, tests or tools", async () => {
    const lock = JSON.parse(await readFile("package-lock.json", "utf8")) as {
      packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
    };
    const inputs = Object.keys(pkg.metafile.inputs);
    expect(inputs.length).toBeGreaterThan(0);
    for (const input of inputs) {
      const installed = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (!installed) {
        expect(input, "only the product's sources are bundled").toMatch(/^src\//);
        continue;
      }
      // The lockfile marks a package `dev` when only devDependencies lead to it (npm's package-lock.json v3).
      const entryOf = lock.packages[installed[1]!];
      expect(entryOf, `${installed[1]} is not in package-lock.json`).toBeDefined();
      expect(
        entryOf!.dev ?? entryOf!.devOptional ?? false,
        `${installed[1]} is a development dependency`,
      ).toBe(false);
    }
    for (const name of pkg.copiedPackages) {
      const entryOf = lock.packages[`node_modules/${name}`];
      expect(entryOf?.dev ?? false, `${name} (copied) is a development dependency`).toBe(false);
    }
    expect(pkg.bundledPackages).not.toEqual(
      expect.arrayContaining(["jose", "tsx", "vitest", "esbuild", "azurite"]),
    );
  });

  it("registers every function the sources register, with the same triggers", async () => {
    // Every module in src/functions that registers a function is imported by the entry...
    const index = await readFile("src/functions/index.ts", "utf8");
    for (const file of await readdir("src/functions")) {
      const text = await readFile(join("src/functions", file), "utf8");
      if (file !== "index.ts" && /\bapp\.\w+\(/.test(text))
        expect(index, `src/functions/index.ts does not import ${file}`).toContain(
          `"./${file.replace(/\.ts$/, ".js")}"`,
        );
    }
    // ...and the bundle registers exactly what the sources register.
    const [fromSources, fromPackage] = await Promise.all([
      load("src/functions/index.ts", { tsx: true }),
      load(entry, { cwd: pkg.outDir }),
    ]);
    expect(fromSources.registered.length).toBeGreaterThan(0);
    expect(indexed(fromPackage)).toEqual(indexed(fromSources));
  }, 60_000);

  it("loads no SDK, zod, YAML or undici at import: the composition root and its chunks load on first use", () => {
    // The chunks Node reads when it imports the entry: the entry and every chunk it imports statically.
    const outputs = pkg.metafile.outputs;
    const key = (file: string) => Object.keys(outputs).find((k) => k.endsWith(`/${file}`))!;
    const loaded = new Set<string>();
    const visit = (k: string) => {
      if (loaded.has(k)) return;
      loaded.add(k);
      for (const i of outputs[k]!.imports) if (i.kind === "import-statement" && !i.external) visit(i.path);
    };
    visit(key("index.mjs"));
    const packages = new Set(
      [...loaded].flatMap((k) =>
        Object.keys(outputs[k]!.inputs).flatMap(
          (i) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(i)?.[1] ?? [],
        ),
      ),
    );
    for (const heavy of [
      "zod",
      "yaml",
      "undici",
      "@azure/identity",
      "@azure/msal-node",
      "@azure/keyvault-certificates",
      "@azure/storage-blob",
      "@azure/storage-queue",
      "@microsoft/microsoft-graph-client",
      "@kubernetes/client-node",
      "pkijs",
    ])
      expect(packages, `${heavy} is loaded at import`).not.toContain(heavy);
  });

  it("makes no network call at import", async () => {
    const loaded = await load(entry, { cwd: pkg.outDir });
    expect(loaded.connections).toEqual([]);
  }, 60_000);

  describe("starts: the bundled functions serve requests", () => {
    let stack: LocalStack;
    let env: Record<string, string>;

    beforeAll(async () => {
      stack = await startLocalStack({ propagationDelayMs: 0 });
      const configPath = join(work, "rotator.json");
      await writeFile(configPath, JSON.stringify(stack.config));
      env = { ...stack.env, ROTATOR_CONFIG: configPath };
    }, 60_000);

    afterAll(async () => {
      await stack?.close();
    });

    it("GET /api/credentials reads Key Vault, Entra, Kong and storage through the bundled SDKs", async () => {
      const { invoked } = await load(entry, {
        cwd: pkg.outDir,
        env,
        invoke: ["listCredentials", "GET", "http://localhost:7071/api/credentials"],
      });
      expect(invoked?.status, JSON.stringify(invoked)).toBe(200);
      expect(JSON.stringify(invoked?.body)).toContain(CREDENTIAL);
      expect(stack.keyVault.requests.length).toBeGreaterThan(0);
      expect(stack.kong.requests.length).toBeGreaterThan(0);
    }, 60_000);

    it("with telemetry configured, the bundled OpenTelemetry SDK starts, and nothing connects at import", async () => {
      const telemetryEnv = {
        ...env,
        // As infra/app/rotator.bicep sets them; nothing listens on the ingestion endpoint.
        APPLICATIONINSIGHTS_CONNECTION_STRING:
          "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:9/",
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING:
          "ClientId=11111111-1111-1111-1111-111111111111;Authorization=AAD",
        APPLICATION_INSIGHTS_NO_STATSBEAT: "true",
      };
      const loaded = await load(entry, {
        cwd: pkg.outDir,
        env: telemetryEnv,
        invoke: ["listCredentials", "GET", "http://localhost:7071/api/credentials"],
      });
      expect(loaded.connections).toEqual([]);
      expect(loaded.invoked?.status, JSON.stringify(loaded.invoked)).toBe(200);
      expect(loaded.stderr).not.toContain("telemetry could not start");
    }, 60_000);

    it("GET /api/doctor runs the lazily loaded preflight checks", async () => {
      const { invoked } = await load(entry, {
        cwd: pkg.outDir,
        env,
        invoke: ["doctor", "GET", "http://localhost:7071/api/doctor"],
      });
      expect(invoked?.status, JSON.stringify(invoked)).toBe(200);
      const body = invoked?.body as { checks: { area: string; code: string; status: string }[] };
      for (const area of ["kong", "idp", "keyvault", "storage"])
        expect(
          body.checks.some((c) => c.area === area),
          `doctor reported nothing about ${area}`,
        ).toBe(true);
    }, 60_000);
  });
});
