/**
 * Settings parity: the settings the code reads (src/), the app settings the infrastructure sets
 * (infra/app/rotator.bicep) and the settings local.settings.example.json documents must agree. A setting
 * the code reads that Azure does not set breaks the deployed app silently (defaults, or a missing lease);
 * a setting Azure sets that nothing reads is dead configuration. Exceptions are listed below, each with
 * its reason.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { bicepAppSettings, bicepRuntime, scanEnvReads, type SourceFile } from "./parity.js";

const ROOT = join(import.meta.dirname, "..", "..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

function sources(dir: string): SourceFile[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => {
      const abs = join(ROOT, dir, f);
      return { path: relative(ROOT, abs), text: readFileSync(abs, "utf8") };
    });
}

type Exception =
  /** Read by the code, documented for local runs, and must NOT be set in Azure. */
  | { kind: "local-only"; why: string }
  /** Not read by the code: consumed by the Functions host, the platform or Node.js itself. */
  | { kind: "host-only"; where: ("infra" | "local")[]; why: string }
  /** Read by the code as an alternative form of a setting infra sets another way; infra must not set both. */
  | { kind: "alternative"; to: string; why: string }
  /** Read through a name the configuration file gives (a dynamic read); infra and the example set the documented name. */
  | { kind: "config-named"; why: string }
  /** Read by the code, set by the platform itself: neither infra nor the local example may set it. */
  | { kind: "platform"; why: string };

const EXCEPTIONS: Record<string, Exception> = {
  // ---- local-only: code paths for running outside Azure ----
  AzureWebJobsStorage: {
    kind: "local-only",
    why: "connection string (Azurite locally); Azure uses the identity-based AzureWebJobsStorage__* settings and the account has no keys",
  },
  AZURE_TENANT_ID: {
    kind: "local-only",
    why: "tenant of a client-secret identity (outside Azure, private authority); a managed identity needs none",
  },
  AZURE_CLIENT_SECRET: {
    kind: "local-only",
    why: "client-secret identity outside Azure; never in Azure, where the managed identity needs no secret",
  },
  ROTATOR_ALLOW_KEY_ONLY_WRITES: {
    kind: "local-only",
    why: "local development only: state-changing HTTP requests with the function key alone; the Bicep never sets it and the code ignores it on App Service",
  },

  AzureWebJobsStorage__accountName: {
    kind: "alternative",
    to: "AzureWebJobsStorage__blobServiceUri",
    why: "identity-based storage by account name, global Azure only; infra sets the blob service URI, which works in every cloud",
  },

  // ---- host-only: the Functions host, the platform, Node.js ----
  FUNCTIONS_WORKER_RUNTIME: {
    kind: "host-only",
    where: ["local"],
    why: "Core Tools needs it locally; on Flex Consumption the runtime is functionAppConfig.runtime and the setting is refused",
  },
  NODE_EXTRA_CA_CERTS: {
    kind: "host-only",
    where: ["local"],
    why: "read by Node.js at startup: the local stack's CA, or a private authority / Kong CA (docs/permissions.md explains adding it in Azure)",
  },
  AzureWebJobsStorage__tableServiceUri: {
    kind: "host-only",
    where: ["infra"],
    why: "host storage with an identity (tables)",
  },
  AzureWebJobsStorage__credential: {
    kind: "host-only",
    where: ["infra"],
    why: "host storage with an identity: managedidentity",
  },
  AzureWebJobsStorage__clientId: {
    kind: "host-only",
    where: ["infra"],
    why: "host storage with the user-assigned identity; the rotator itself uses AZURE_CLIENT_ID (same value)",
  },
  APPLICATION_INSIGHTS_NO_STATSBEAT: {
    kind: "host-only",
    where: ["infra", "local"],
    why: "read by @azure/monitor-opentelemetry-exporter: no statsbeat (its own usage telemetry to Microsoft), no metadata probe at start",
  },

  // ---- set by the platform ----
  WEBSITE_AUTH_ENABLED: {
    kind: "platform",
    why: "App Service says whether its authentication is on; the HTTP functions use it only to refuse (off although ROTATOR_AUTH_REQUIRED is true)",
  },
  WEBSITE_INSTANCE_ID: {
    kind: "platform",
    why: "App Service sets it on every instance; the HTTP functions ignore ROTATOR_ALLOW_KEY_ONLY_WRITES when it is set",
  },

  // ---- named by the configuration file ----
  KONG_ADMIN_TOKEN: {
    kind: "config-named",
    why: "a Kong target's adminToken: { env: KONG_ADMIN_TOKEN } names it; Azure sets it as a Key Vault reference",
  },
};

/** Settings the code reads under a name computed at run time. Each must be explained here. */
const DYNAMIC_READS = [
  {
    path: "src/app/runtime.ts",
    expr: "ref.env",
    why: "adminToken: { env: NAME } in the configuration (see KONG_ADMIN_TOKEN)",
  },
  {
    path: "src/app/runtime.ts",
    expr: "url.env",
    why: "alerts.webhooks[].url: { env: NAME } in the configuration, a webhook URL (an app setting named by the configuration)",
  },
  {
    path: "src/cli/main.ts",
    expr: "name",
    why: "adopt --password-env NAME: an operator's shell variable holding a PFX password, never an app setting",
  },
];

/**
 * Identity-based AzureWebJobsStorage__* settings are documented locally by the AzureWebJobsStorage
 * connection string: when present it wins (src/adapters/storage.ts), so the example uses the emulator's.
 */
const LOCAL_FAMILY_ROOT = { prefix: "AzureWebJobsStorage__", root: "AzureWebJobsStorage" };

/** Settings Flex Consumption refuses or ignores (its runtime and deployment come from functionAppConfig). */
const NOT_ON_FLEX = [
  "FUNCTIONS_WORKER_RUNTIME",
  "FUNCTIONS_EXTENSION_VERSION",
  "FUNCTIONS_WORKER_RUNTIME_VERSION",
  "WEBSITE_NODE_DEFAULT_VERSION",
  "WEBSITE_RUN_FROM_PACKAGE",
  "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
  "WEBSITE_CONTENTSHARE",
];

interface ParityInput {
  code: Map<string, string[]>;
  dynamic: { path: string; expr: string }[];
  infra: string[];
  local: string[];
  docs: string;
}

/** Every disagreement between code, infra and the local example, as human-readable problems. */
function parityProblems(input: ParityInput): string[] {
  const problems: string[] = [];
  const infra = new Set(input.infra);
  const local = new Set(input.local);
  const documentedLocally = (name: string) =>
    local.has(name) || (name.startsWith(LOCAL_FAMILY_ROOT.prefix) && local.has(LOCAL_FAMILY_ROOT.root));

  for (const [name, where] of input.code) {
    const ex = EXCEPTIONS[name];
    const at = where.join(", ");
    if (ex?.kind === "host-only")
      problems.push(`${name} is listed as host-only but the code reads it (${at})`);
    if (ex?.kind === "platform") {
      if (infra.has(name)) problems.push(`${name} is set by the platform but infra sets it`);
      if (local.has(name)) problems.push(`${name} is set by the platform but the local example sets it`);
    } else if (ex?.kind === "local-only") {
      if (infra.has(name)) problems.push(`${name} is local-only but infra sets it`);
    } else if (ex?.kind === "alternative") {
      if (infra.has(name))
        problems.push(`${name} is an alternative to ${ex.to}: infra must set only one of them`);
      if (!infra.has(ex.to)) problems.push(`${name} is an alternative to ${ex.to}, which infra does not set`);
    } else if (!infra.has(name))
      problems.push(`code reads ${name} (${at}) but infra/app/rotator.bicep does not set it`);
    if (ex?.kind !== "platform" && !documentedLocally(name))
      problems.push(`code reads ${name} (${at}) but local.settings.example.json does not document it`);
    if (!input.docs.includes(name))
      problems.push(`code reads ${name} (${at}) but neither README.md nor infra/README.md mentions it`);
  }

  const explained = (name: string, place: "infra" | "local") => {
    const ex = EXCEPTIONS[name];
    return (
      input.code.has(name) ||
      ex?.kind === "config-named" ||
      (ex?.kind === "host-only" && ex.where.includes(place))
    );
  };
  for (const name of infra)
    if (!explained(name, "infra"))
      problems.push(
        `infra sets ${name}, which nothing reads (add it to the exceptions with a reason, or remove it)`,
      );
  for (const name of local)
    if (!explained(name, "local"))
      problems.push(`local.settings.example.json documents ${name}, which nothing reads`);
  for (const name of NOT_ON_FLEX)
    if (infra.has(name))
      problems.push(`infra sets ${name}, which Flex Consumption does not accept (use functionAppConfig)`);

  for (const d of input.dynamic)
    if (!DYNAMIC_READS.some((a) => a.path === d.path && a.expr === d.expr))
      problems.push(
        `${d.path} reads env[${d.expr}], a name computed at run time: explain it in DYNAMIC_READS`,
      );
  for (const a of DYNAMIC_READS)
    if (!input.dynamic.some((d) => d.path === a.path && d.expr === a.expr))
      problems.push(`DYNAMIC_READS lists ${a.path} env[${a.expr}], which the code no longer reads`);

  // Stale exceptions hide future drift: each must still describe something true.
  for (const [name, ex] of Object.entries(EXCEPTIONS)) {
    if (
      (ex.kind === "local-only" || ex.kind === "alternative" || ex.kind === "platform") &&
      !input.code.has(name)
    )
      problems.push(`exception ${name} (${ex.kind}): the code no longer reads it`);
    if (ex.kind === "host-only")
      for (const place of ex.where)
        if (!(place === "infra" ? infra : local).has(name))
          problems.push(`exception ${name} (host-only, ${place}): not set there any more`);
    if (ex.kind === "config-named" && !(infra.has(name) && local.has(name)))
      problems.push(`exception ${name} (config-named): infra and the example must both set it`);
  }
  return problems;
}

function actual(): ParityInput {
  const { reads, dynamic } = scanEnvReads(sources("src"));
  const example = JSON.parse(read("local.settings.example.json")) as { Values: Record<string, string> };
  return {
    code: reads,
    dynamic,
    infra: bicepAppSettings(read("infra/app/rotator.bicep")),
    local: Object.keys(example.Values),
    docs: read("README.md") + read("infra/README.md"),
  };
}

describe("settings parity (code, infra, local example)", () => {
  it("finds the settings the code is known to read", () => {
    const { code } = actual();
    for (const name of [
      "ROTATOR_CONFIG",
      "ROTATION_SCHEDULE",
      "SYNC_CHECK_SCHEDULE",
      "ROTATE_HTTP_BUDGET",
      "AZURE_CLIENT_ID",
      "AZURE_TENANT_ID",
      "AZURE_CLIENT_SECRET",
      "AzureWebJobsStorage",
      "AzureWebJobsStorage__blobServiceUri",
      "AzureWebJobsStorage__accountName",
    ])
      expect([...code.keys()], name).toContain(name);
  });

  it("infra sets every setting the code reads, and nothing else unexplained", () => {
    expect(parityProblems(actual())).toEqual([]);
  });

  it("runs Node.js 22 on Flex Consumption", () => {
    const bicep = read("infra/app/rotator.bicep");
    expect(bicepRuntime(bicep)).toEqual({ name: "node", version: "22" });
    expect(bicep).toMatch(/tier:\s*'FlexConsumption'/);
    expect(bicep).toMatch(/name:\s*'FC1'/);
  });

  it("keeps secrets out of the app settings: no connection string, Kong token by Key Vault reference", () => {
    const bicep = read("infra/app/rotator.bicep");
    expect(bicepAppSettings(bicep)).not.toContain("AzureWebJobsStorage");
    expect(bicep).toMatch(/KONG_ADMIN_TOKEN:\s*'@Microsoft\.KeyVault\(/);
    expect(read("infra/core/storage/storage-account.bicep")).toMatch(/allowSharedKeyAccess:\s*false/);
  });
});

describe("parity checker", () => {
  const base = (): ParityInput => {
    const a = actual();
    return { ...a, code: new Map(a.code), infra: [...a.infra], local: [...a.local], dynamic: [...a.dynamic] };
  };

  it("reports a setting the code reads that infra and the example lack", () => {
    const input = base();
    input.code.set("ROTATOR_NEW_KNOB", ["src/x.ts:1"]);
    expect(parityProblems(input)).toEqual([
      "code reads ROTATOR_NEW_KNOB (src/x.ts:1) but infra/app/rotator.bicep does not set it",
      "code reads ROTATOR_NEW_KNOB (src/x.ts:1) but local.settings.example.json does not document it",
      "code reads ROTATOR_NEW_KNOB (src/x.ts:1) but neither README.md nor infra/README.md mentions it",
    ]);
  });

  it("reports infra settings nothing reads, Flex-refused settings and secrets in Azure", () => {
    const input = base();
    input.infra.push("UNUSED_SETTING", "FUNCTIONS_EXTENSION_VERSION", "AZURE_CLIENT_SECRET");
    expect(parityProblems(input)).toEqual([
      "AZURE_CLIENT_SECRET is local-only but infra sets it",
      "infra sets UNUSED_SETTING, which nothing reads (add it to the exceptions with a reason, or remove it)",
      "infra sets FUNCTIONS_EXTENSION_VERSION, which nothing reads (add it to the exceptions with a reason, or remove it)",
      "infra sets FUNCTIONS_EXTENSION_VERSION, which Flex Consumption does not accept (use functionAppConfig)",
    ]);
  });

  it("reports a platform-set setting that infra or the local example sets", () => {
    const input = base();
    input.infra.push("WEBSITE_AUTH_ENABLED");
    input.local.push("WEBSITE_AUTH_ENABLED");
    expect(parityProblems(input)).toEqual([
      "WEBSITE_AUTH_ENABLED is set by the platform but infra sets it",
      "WEBSITE_AUTH_ENABLED is set by the platform but the local example sets it",
    ]);
  });

  it("reports unexplained dynamic reads and stale exceptions", () => {
    const input = base();
    input.dynamic.push({ path: "src/y.ts", expr: "name" });
    input.infra = input.infra.filter((s) => s !== "AzureWebJobsStorage__credential");
    expect(parityProblems(input)).toEqual([
      "src/y.ts reads env[name], a name computed at run time: explain it in DYNAMIC_READS",
      "exception AzureWebJobsStorage__credential (host-only, infra): not set there any more",
    ]);
  });
});

describe("source and Bicep readers", () => {
  it("finds every read form and ignores comments", () => {
    const text = [
      'const SETTING = "AzureWebJobsStorage";',
      "// process.env.IN_A_COMMENT",
      "/**",
      " * env.IN_JSDOC",
      " */",
      "const a = process.env.PLAIN;",
      "const b = io.env.NESTED;",
      'const c = env["BRACKET"];',
      "const d = env[SETTING];",
      "const e = env[`${SETTING}__blobServiceUri`];",
      "const { DESTRUCTURED: x, OTHER } = env;",
      "const f = env[ref.name];",
    ].join("\n");
    const { reads, dynamic } = scanEnvReads([{ path: "src/t.ts", text }]);
    expect([...reads.keys()].sort()).toEqual([
      "AzureWebJobsStorage",
      "AzureWebJobsStorage__blobServiceUri",
      "BRACKET",
      "DESTRUCTURED",
      "NESTED",
      "OTHER",
      "PLAIN",
    ]);
    expect(reads.get("PLAIN")).toEqual(["src/t.ts:6"]);
    expect(dynamic).toEqual([{ path: "src/t.ts", expr: "ref.name" }]);
  });

  it("reads top-level app settings keys, not nested ones, strings or comments", () => {
    const bicep = [
      "resource s 'Microsoft.Web/sites@2024-04-01' = {",
      "  properties: { NOT_A_SETTING: 'x' }",
      "  resource appSettings 'config' = {",
      "    name: 'appsettings'",
      "    properties: {",
      "      // COMMENTED: 'no'",
      "      ONE: 'a: {b}'",
      "      'TWO': union({ NESTED: 1 }, {})",
      "      THREE: '''",
      "FAKE: 1",
      "'''",
      "    }",
      "  }",
      "}",
    ].join("\n");
    expect(bicepAppSettings(bicep)).toEqual(["ONE", "TWO", "THREE"]);
  });
});
