/**
 * Builds the Function App's deployment package: `dist/functionapp/` (or `--out DIR`), the folder azd zips
 * and deploys (azure.yaml `dist: dist/functionapp`, `remoteBuild: false`). Run by `npm run build`, which is
 * the step azd runs to package a Node.js service.
 *
 * Contents:
 * - `index.mjs`: the function entry (package.json `main`), bundled by esbuild as ESM for Node 22; it holds
 *   what the host needs to index the functions (@azure/functions, the function modules, the engine).
 * - `*-[hash].mjs`: chunks split at the dynamic imports in src/functions (the composition root with the
 *   Azure SDKs, MSAL and undici, doctor, the config loader). They load on the first invocation, not at
 *   import: a single file measured 3x slower to import, because Node parses the whole file (docs/performance.md).
 * - `host.json`, a generated `package.json` (type module, main, no dependencies unless an external needs
 *   one), `rotator.yaml` when it exists (ROTATOR_CONFIG=./rotator.yaml), and the contents of
 *   `package-files/` when it exists (for example a private CA's PEM for NODE_EXTRA_CA_CERTS).
 * - `node_modules/` only for EXTERNALS that are npm packages, copied with their production dependencies.
 *
 * Also writes `<out>.meta.json`: esbuild's metafile (every bundled input), read by the package test and
 * `npm run bench:startup`.
 */
import { build, type BuildOptions, type Metafile } from "esbuild";
import { cp, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Modules left out of the bundle, each with the reason. An entry with `npm: true` is copied into the
 * package's node_modules with its production dependencies (for example an OpenTelemetry instrumentation,
 * which patches a module as Node loads it and so cannot work on bundled code); the others must be
 * provided at run time.
 */
export const EXTERNALS: Record<string, { npm: boolean; why: string }> = {
  "@azure/functions-core": {
    npm: false,
    why: "provided by the Azure Functions Node.js worker at run time (it answers require('@azure/functions-core')); not an npm package",
  },
  "supports-color": {
    npm: false,
    why: "not a production dependency: `debug` (under the Azure SDKs' proxy agents) requires it inside a try/catch for coloured terminal output and does without it; bundling it would ship whatever development tooling happened to install",
  },
};

/** A folder whose contents are copied, as they are, into the package's root. */
export const PACKAGE_FILES = "package-files";

export interface PackageResult {
  outDir: string;
  metafile: Metafile;
  /** Packages (node_modules names) whose code is in the bundle. */
  bundledPackages: string[];
  /** Packages copied into the package's node_modules. */
  copiedPackages: string[];
}

interface PackageJson {
  name: string;
  version: string;
  description?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const readJson = async <T>(path: string): Promise<T> => JSON.parse(await readFile(path, "utf8")) as T;

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** The node_modules package a bundled input belongs to (the innermost one), if any. */
export function packageOf(input: string): string | undefined {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*\/node_modules\/)/.exec(input);
  return m?.[1];
}

/** Node's resolution of `name` from `fromDir`, by directory walk (packages need not export package.json). */
async function packageDir(name: string, fromDir: string): Promise<string> {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (await exists(join(candidate, "package.json"))) return candidate;
    if (dirname(dir) === dir) throw new Error(`external ${name} is not installed (from ${fromDir})`);
  }
}

/** Copy an npm external and its production dependencies, flattened, into `<out>/node_modules`. */
async function copyWithDependencies(
  name: string,
  outDir: string,
  copied: Map<string, string>,
): Promise<void> {
  const queue: { name: string; from: string }[] = [{ name, from: ROOT }];
  while (queue.length > 0) {
    const next = queue.shift()!;
    const dir = await packageDir(next.name, next.from);
    const pkg = await readJson<PackageJson>(join(dir, "package.json"));
    const have = copied.get(next.name);
    if (have === pkg.version) continue;
    // The copy is flat (one version per name); two versions would need the nested layout npm made.
    if (have) throw new Error(`externals need ${next.name}@${have} and @${pkg.version}: not supported`);
    copied.set(next.name, pkg.version);
    await cp(dir, join(outDir, "node_modules", next.name), {
      recursive: true,
      dereference: true,
      filter: (src) => !src.slice(dir.length).includes("/node_modules/"),
    });
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }))
      queue.push({ name: dep, from: dir });
  }
}

/**
 * How the package's code is bundled, also used by `npm run bench` for its worker processes, so that they run
 * the code as deployed (bench/fleet.ts).
 */
export const BUNDLE_OPTIONS = {
  absWorkingDir: ROOT,
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node22",
  outExtension: { ".js": ".mjs" },
  chunkNames: "[name]-[hash]",
  external: Object.keys(EXTERNALS),
  // Whitespace and syntax only: identifiers stay, so stack traces keep function and class names.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: "eof",
  // Bundled CommonJS code calls require() (Node built-ins, @azure/functions-core); ESM has none, so each
  // output file gets one bound to its own URL.
  banner: {
    js: 'import { createRequire as __rotatorCreateRequire } from "node:module"; const require = __rotatorCreateRequire(import.meta.url);',
  },
  metafile: true,
  logLevel: "warning",
} as const satisfies BuildOptions;

export async function buildPackage(outDir = join(ROOT, "dist", "functionapp")): Promise<PackageResult> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const result = await build({
    ...BUNDLE_OPTIONS,
    entryPoints: { index: "src/functions/index.ts" },
    outdir: outDir,
  });

  const root = await readJson<PackageJson>(join(ROOT, "package.json"));
  const copied = new Map<string, string>();
  for (const [name, e] of Object.entries(EXTERNALS))
    if (e.npm) await copyWithDependencies(name, outDir, copied);
  const manifest = {
    name: `${root.name}-functionapp`,
    version: root.version,
    description: `${root.description ?? root.name} (deployment package, built by scripts/package.ts)`,
    private: true,
    type: "module",
    main: "index.mjs",
    engines: { node: ">=22" },
    dependencies: Object.fromEntries(
      Object.entries(EXTERNALS)
        .filter(([, e]) => e.npm)
        .map(([name]) => [name, copied.get(name)!]),
    ),
  };
  await writeFile(join(outDir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  await cp(join(ROOT, "host.json"), join(outDir, "host.json"));
  // The configuration travels in the package (infra/README.md); azd's prepackage hook refuses without it.
  if (await exists(join(ROOT, "rotator.yaml")))
    await cp(join(ROOT, "rotator.yaml"), join(outDir, "rotator.yaml"));
  // Anything else the app reads from its own folder, such as a private CA's PEM for NODE_EXTRA_CA_CERTS.
  if (await exists(join(ROOT, PACKAGE_FILES)))
    await cp(join(ROOT, PACKAGE_FILES), outDir, { recursive: true, dereference: true });
  await writeFile(`${outDir}.meta.json`, JSON.stringify(result.metafile));

  const bundled = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const p = packageOf(input);
    if (p) bundled.add(p);
  }
  return {
    outDir,
    metafile: result.metafile,
    bundledPackages: [...bundled].sort(),
    copiedPackages: [...copied.keys()].sort(),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--out");
  const out = i > 0 ? process.argv[i + 1] : undefined;
  const r = await buildPackage(out ? resolve(out) : undefined);
  console.error(
    `package: ${r.outDir} (${r.bundledPackages.length} packages bundled, ${r.copiedPackages.length} copied)`,
  );
}
