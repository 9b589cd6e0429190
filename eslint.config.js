import js from "@eslint/js";
import tseslint from "typescript-eslint";
import importX, { createNodeResolver } from "eslint-plugin-import-x";

/**
 * The layering (docs/architecture.md, "Layers"): functions/cli → app → engine → ports ← adapters.
 * Each zone forbids a layer (`target`) to import from the modules in `from`, type imports included.
 */
const layers = [
  {
    target: "./src/engine",
    from: ["./src/adapters", "./src/app", "./src/functions", "./src/cli"],
    message:
      "The engine is pure: it reaches services only through src/ports (no adapter, app, functions or cli).",
  },
  {
    target: "./src/ports",
    from: "./src",
    except: ["./ports", "./crypto", "./errors.ts"],
    message:
      "src/ports holds interfaces only: it imports types from src/crypto and src/errors.ts, nothing else.",
  },
  {
    target: "./src/config",
    from: ["./src/engine", "./src/adapters", "./src/app", "./src/functions", "./src/cli"],
    message:
      "Configuration rules live in src/config (rules.ts); the layers above import them, not the reverse.",
  },
  {
    target: "./src/adapters",
    from: ["./src/app", "./src/functions", "./src/cli"],
    message: "Adapters implement src/ports; the app composes them, not the reverse.",
  },
  {
    target: "./src/app",
    from: ["./src/functions", "./src/cli"],
    message: "src/app serves the Functions host and the CLI; it imports neither.",
  },
  // src/app reaches providers (IdPs, Kong kinds) only through the provider registries (issue 20).
  {
    target: ["./src/app", "./src/functions", "./src/cli"],
    from: "./src/adapters/idp",
    except: ["./registry.ts"],
    message:
      'src/app reaches identity providers only through src/adapters/idp/registry.ts (docs/architecture.md, "Identity-provider registry").',
  },
  {
    target: ["./src/app", "./src/functions", "./src/cli"],
    from: "./src/idp-rules.ts",
    message: "src/app reaches the identity providers' rules through src/adapters/idp/registry.ts.",
  },
  {
    target: ["./src/app", "./src/functions", "./src/cli"],
    from: "./src/adapters/kong",
    except: ["./registry.ts"],
    message:
      'src/app reaches Kong kinds only through src/adapters/kong/registry.ts (docs/architecture.md, "The Kong registry").',
  },
];

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".local/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "off",
    },
  },
  {
    files: ["src/**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      // ESM TypeScript: `./x.js` in an import names `./x.ts`.
      "import-x/resolver-next": [
        createNodeResolver({
          extensions: [".ts", ".js", ".json"],
          extensionAlias: { ".js": [".ts", ".js"] },
        }),
      ],
    },
    rules: {
      // Value imports only: the plugin does not follow `import type` (erased at compile time).
      "import-x/no-cycle": "error",
      "import-x/no-restricted-paths": ["error", { zones: layers }],
    },
  },
  {
    files: ["src/ports/**/*.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: "ImportDeclaration[importKind!='type']",
          message: "src/ports imports types only (`import type`).",
        },
        {
          selector: "ImportDeclaration[source.value!=/^\\.\\.?\\//]",
          message: "src/ports imports nothing from packages.",
        },
        {
          selector: "ExportAllDeclaration, ExportNamedDeclaration[source]",
          message: "src/ports re-exports nothing: imports name the file that declares what they need.",
        },
        { selector: "ImportExpression", message: "src/ports imports types only." },
      ],
    },
  },
);
