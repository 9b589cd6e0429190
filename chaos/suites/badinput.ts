/**
 * 5. Bad input, and 7. the HTTP surface. Every case must end in a clear error with a stable code and a
 * hint, and cause no external mutation (checked against the fakes' request logs: Key Vault create/PATCH,
 * any Graph or Kong write). CLI cases run the CLI's `main` in this process with the stack's environment;
 * HTTP cases call the Azure Function handlers as the host would.
 */
import { main } from "../../src/cli/main.js";
import { setFunctionsRuntime } from "../../src/functions/runtime.js";
import { rotateHttpHandler } from "../../src/functions/rotateHttp.js";
import { statusHttpHandler } from "../../src/functions/statusHttp.js";
import { PARTNER_CLIENT_ID, SERVICE_CLIENT_ID } from "../../stack/stack.js";
import type { Fault, RunningServer } from "../../stack/common/server.js";
import { addLane, writeConfig, type Lane } from "../lib/lanes.js";
import { captureResponse, context, httpRequest, principal, withAppServiceAuth } from "../lib/functions.js";
import { functionRegistrations } from "../lib/registrations.js";
import type { ChaosStack } from "../lib/stack.js";
import type { Runtime } from "../../src/app/runtime.js";

export interface BadInputResult {
  area: string;
  name: string;
  code: string;
  hint: boolean;
  mutations: number;
  ok: boolean;
  detail?: string;
}

export interface HttpSurfaceReport {
  httpFunctions: { name: string; authLevel?: string }[];
  /**
   * Without platform authentication every HTTP function needs its function key; behind the platform's
   * sign-in (ROTATOR_AUTH_REQUIRED=true) the reads need the sign-in only, and rotateCredential keeps its key.
   */
  keysAsDesigned: boolean;
  sizeLimitBytes: number;
  oversizedRefused: boolean;
  internalErrorOpaque: boolean;
  secretNotEchoed: boolean;
  manualRequests: number;
  auditLines: number;
  cliRotateAudited: boolean;
}

interface Outcome {
  code?: string;
  hint?: string;
  detail?: string;
}

function mutationCount(cs: ChaosStack): number {
  const kv = cs.stack.keyVault.requests.filter(
    (r) =>
      r.method === "PATCH" ||
      r.method === "PUT" ||
      r.method === "DELETE" ||
      (r.method === "POST" && /\/create(\?|$)/.test(r.path)),
  ).length;
  const writes = (s: RunningServer) => s.requests.filter((r) => r.method !== "GET").length;
  return kv + writes(cs.stack.entra.graph) + writes(cs.stack.kong);
}

/** The CLI in this process; the error code and hint from its JSON output (or its text error line). */
async function cli(
  cs: ChaosStack,
  argv: string[],
  env: Record<string, string | undefined> = cs.stack.env,
): Promise<Outcome> {
  const out: string[] = [];
  const err: string[] = [];
  const exit = await main([...argv, "--json"], { out: (s) => out.push(s), err: (s) => err.push(s), env });
  cs.capture.add("cli-stdout", out.join("\n"));
  cs.capture.add("cli-stderr", err.join("\n"));
  const found = findError([...out, ...err].join("\n"));
  return { ...found, detail: `exit ${exit}` };
}

/** The first {code, hint} error object in JSON output, else `error CODE: ...` / `hint: ...` text. */
function findError(text: string): Outcome {
  const codeMatch =
    /"code":\s*"([A-Z][A-Z0-9_]+)"[^{}]*?"hint":\s*"([^"]*)"/s.exec(text) ??
    /"hint":\s*"([^"]*)"[^{}]*?"code":\s*"([A-Z][A-Z0-9_]+)"/s.exec(text);
  if (codeMatch)
    return /^"hint/.test(codeMatch[0])
      ? { code: codeMatch[2]!, hint: codeMatch[1]! }
      : { code: codeMatch[1]!, hint: codeMatch[2]! };
  const code = /error ([A-Z][A-Z0-9_]+):/.exec(text)?.[1];
  const hint = /hint: (.+)/.exec(text)?.[1];
  return { ...(code ? { code } : {}), ...(hint ? { hint } : {}) };
}

function withFault(
  server: RunningServer,
  rule: { method?: string; path: string | RegExp },
  fault: Fault,
  run: () => Promise<Outcome>,
): () => Promise<Outcome> {
  return async () => {
    server.faults.add({ ...rule, fault, times: Infinity });
    try {
      return await run();
    } finally {
      server.faults.clear();
    }
  };
}

async function http(
  cs: ChaosStack,
  rt: Runtime,
  lane: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<Outcome & { status: number; text: string }> {
  setFunctionsRuntime(rt);
  try {
    // As deployed: the platform signs callers in; without a principal of its own the caller is an admin,
    // so that every refusal below is about the input.
    const r = captureResponse(
      await withAppServiceAuth(() =>
        rotateHttpHandler(
          httpRequest({
            method: "POST",
            path: `/api/credentials/${lane}/rotate`,
            params: { name: lane },
            body,
            headers: {
              "x-ms-client-principal": principal("chaos-admin@example.test", ["Rotation.Admin"]),
              ...headers,
            },
          }),
          context("rotateCredential", cs.capture),
        ),
      ),
      cs.capture,
    );
    const text = JSON.stringify(r.jsonBody ?? r.body ?? "");
    return { ...findError(text), status: r.status ?? 200, text };
  } finally {
    setFunctionsRuntime(undefined);
  }
}

export async function badInput(
  cs: ChaosStack,
): Promise<{ cases: BadInputResult[]; surface: HttpSurfaceReport }> {
  const { stack } = cs;
  const ok = addLane(stack, "badok");
  const base = ok.config as {
    credentials: Record<string, unknown>[];
    policy: Record<string, unknown>;
  } & Record<string, unknown>;
  const cred = base.credentials[0]!;
  const cfg = (name: string, doc: unknown) => ["run", "--config", writeConfig(name, doc)];
  const lane = (opts: Parameters<typeof addLane>[2]): Lane => addLane(stack, "bad", opts);
  const rotateLane = (l: Lane, env?: Record<string, string | undefined>) => () =>
    cli(cs, ["rotate", l.name, "--force", "--config", l.configPath], env ?? stack.env);

  const notOidc = lane({ plugin: { name: "key-auth", config: () => ({}) } });
  const secretPost = lane({
    plugin: {
      config: (appId) => ({
        issuer: stack.entra.issuer,
        client_id: [PARTNER_CLIENT_ID, appId],
        client_auth: ["client_secret_post", "client_secret_post"],
        client_secret: ["partner-secret-value", "our-secret-value"],
      }),
    },
  });
  const noClient = lane({ listClient: false });
  const dbless = lane({});
  const unknownApp = lane({ createApp: false });
  const noPermission = lane({});
  const missingPlugin = lane({
    credential: {
      kong: [
        {
          name: "local",
          adminUrl: stack.kong.url,
          pluginId: "0b9f0a5e-0000-4000-8000-000000000000",
          adminToken: { env: "KONG_ADMIN_TOKEN" },
        },
      ],
    },
  });
  const garbage = lane({});
  const env = (over: Record<string, string | undefined>) => ({ ...stack.env, ...over });

  const cases: { area: string; name: string; expect: RegExp; run: () => Promise<Outcome> }[] = [
    {
      area: "config",
      name: "policy.algorithm ES256 (Entra accepts RSA only)",
      expect: /^CONFIG_INVALID$/,
      run: () => cli(cs, cfg("alg.yaml", { ...base, policy: { algorithm: "ES256" } })),
    },
    {
      area: "config",
      name: "policy.keySize 1024",
      expect: /^CONFIG_INVALID$/,
      run: () => cli(cs, cfg("keysize.yaml", { ...base, policy: { keySize: 1024 } })),
    },
    {
      area: "config",
      name: "policy.renewBefore in years (P1Y)",
      expect: /^CONFIG_INVALID$/,
      run: () => cli(cs, cfg("years.yaml", { ...base, policy: { renewBefore: "P1Y" } })),
    },
    {
      area: "config",
      name: "policy.verifyConsecutive 0",
      expect: /^CONFIG_INVALID$/,
      run: () => cli(cs, cfg("consec.yaml", { ...base, policy: { verifyConsecutive: 0 } })),
    },
    {
      area: "config",
      name: "credential name with upper case and '_'",
      expect: /^CONFIG_INVALID$/,
      run: () => cli(cs, cfg("name.yaml", { ...base, credentials: [{ ...cred, name: "Orders_API" }] })),
    },
    {
      area: "config",
      name: "keyVault.url not a URL",
      expect: /^CONFIG_INVALID$/,
      run: () => cli(cs, cfg("kvurl.yaml", { ...base, keyVault: { url: "vault" } })),
    },
    {
      area: "config",
      name: "duplicate credential names",
      expect: /^CONFIG_INVALID$/,
      run: () => cli(cs, cfg("dup.yaml", { ...base, credentials: [cred, cred] })),
    },
    {
      area: "config",
      name: "Kong target with neither pluginId nor pluginTags",
      expect: /^CONFIG_INVALID$/,
      run: () =>
        cli(
          cs,
          cfg("target.yaml", {
            ...base,
            credentials: [{ ...cred, kong: [{ name: "local", adminUrl: stack.kong.url }] }],
          }),
        ),
    },
    {
      area: "config",
      name: "unknown alert webhook format",
      expect: /^CONFIG_INVALID$/,
      run: () =>
        cli(
          cs,
          cfg("format.yaml", {
            ...base,
            alerts: { webhooks: [{ url: "https://127.0.0.1:9/x", format: "pagerduty" }] },
          }),
        ),
    },
    {
      area: "config",
      name: "misspelt top-level field",
      expect: /^CONFIG_INVALID$/,
      run: () => cli(cs, cfg("typo.yaml", { ...base, polcy: {} })),
    },
    {
      area: "config",
      name: "configuration file missing",
      expect: /^CONFIG_NOT_FOUND$/,
      run: () => cli(cs, ["run", "--config", "/nonexistent/rotator.yaml"]),
    },
    {
      area: "config",
      name: "configuration file is not YAML/JSON",
      expect: /^CONFIG_/,
      run: () =>
        cli(cs, ["run", "--config", writeConfig("garbage.yaml", "keyVault: [unclosed\n  - : :\n\t{", true)]),
    },
    {
      area: "config",
      name: "truncated JSON configuration",
      expect: /^CONFIG_/,
      run: () =>
        cli(cs, ["run", "--config", writeConfig("truncated.json", JSON.stringify(base).slice(0, 80), true)]),
    },
    {
      area: "config",
      name: "unknown credential",
      expect: /^UNKNOWN_CREDENTIAL$/,
      run: () => cli(cs, ["rotate", "no-such-credential", "--force", "--config", ok.configPath]),
    },
    {
      area: "environment",
      name: "Kong admin token variable unset",
      expect: /^KONG_TOKEN_MISSING$/,
      run: rotateLane(ok, env({ KONG_ADMIN_TOKEN: undefined })),
    },
    {
      area: "environment",
      name: "no storage for the lease",
      expect: /^STORAGE_NOT_CONFIGURED$/,
      run: rotateLane(ok, env({ AzureWebJobsStorage: undefined })),
    },
    {
      area: "environment",
      name: "no identity for a non-Microsoft authority",
      expect: /^IDENTITY_NOT_CONFIGURED$/,
      run: rotateLane(ok, env({ AZURE_CLIENT_SECRET: undefined })),
    },
    {
      area: "environment",
      name: "wrong Kong admin token (401)",
      expect: /^KONG_UNAUTHORIZED$/,
      run: rotateLane(ok, env({ KONG_ADMIN_TOKEN: "kong-rbac-wrong" })),
    },
    {
      area: "kong",
      name: "plugin is not openid-connect",
      expect: /^KONG_NOT_OIDC$/,
      run: rotateLane(notOidc),
    },
    {
      area: "kong",
      name: "client_auth without private_key_jwt",
      expect: /^KONG_NOT_PRIVATE_KEY_JWT$/,
      run: rotateLane(secretPost),
    },
    {
      area: "kong",
      name: "our client_id missing from the plugin",
      expect: /^KONG_CLIENT_NOT_FOUND$/,
      run: rotateLane(noClient),
    },
    {
      area: "kong",
      name: "DB-less Kong (405 on writes)",
      expect: /^KONG_DBLESS$/,
      run: async () => {
        stack.kong.setDbless(true);
        try {
          return await rotateLane(dbless)();
        } finally {
          stack.kong.setDbless(false);
        }
      },
    },
    {
      area: "kong",
      name: "pluginId that does not exist",
      expect: /^KONG_(PLUGIN_)?NOT_FOUND$/,
      run: rotateLane(missingPlugin),
    },
    {
      area: "idp",
      name: "unknown Entra app (clientId)",
      expect: /^ENTRA_APP_NOT_FOUND$/,
      run: rotateLane(unknownApp),
    },
    {
      area: "idp",
      name: "no valid key and no permission for the PATCH fallback",
      expect: /^ENTRA_PATCH_FORBIDDEN$/,
      run: async () => {
        stack.entra.setAppRoles(SERVICE_CLIENT_ID, ["Application.Read.All"]);
        try {
          return await rotateLane(noPermission)();
        } finally {
          stack.entra.setAppRoles(SERVICE_CLIENT_ID, ["Application.ReadWrite.OwnedBy"]);
        }
      },
    },
    {
      area: "garbage",
      name: "Key Vault answers truncated JSON",
      expect: /^KV_BAD_RESPONSE$/,
      run: withFault(
        stack.keyVault,
        { method: "GET", path: `/certificates/${garbage.certName}/versions` },
        { kind: "garbage" },
        rotateLane(garbage),
      ),
    },
    {
      area: "garbage",
      name: "Key Vault answers an HTML error page",
      expect: /^KV_/,
      run: withFault(
        stack.keyVault,
        { method: "GET", path: `/certificates/${garbage.certName}/versions` },
        { kind: "garbage", status: 502, body: "<html><body>Bad Gateway</body></html>" },
        rotateLane(garbage),
      ),
    },
    {
      area: "garbage",
      name: "Graph answers truncated JSON",
      expect: /^GRAPH_BAD_RESPONSE$/,
      run: withFault(
        stack.entra.graph,
        { method: "GET", path: "/applications" },
        { kind: "garbage" },
        rotateLane(garbage),
      ),
    },
    {
      area: "garbage",
      name: "Kong answers truncated JSON",
      expect: /^KONG_BAD_RESPONSE$/,
      run: withFault(
        stack.kong,
        { method: "GET", path: "/plugins" },
        { kind: "garbage" },
        rotateLane(garbage),
      ),
    },
    {
      area: "garbage",
      name: "token endpoint answers truncated JSON",
      expect: /^[A-Z_]+$/,
      run: withFault(
        stack.entra.login,
        { method: "POST", path: "/oauth2/v2.0/token" },
        { kind: "garbage" },
        rotateLane(garbage),
      ),
    },
  ];

  // The HTTP trigger, with a runtime on a healthy credential.
  const rt = cs.runtime(ok);
  const big = JSON.stringify({ force: true, reason: "x".repeat(20 * 1024) });
  const httpCases: {
    name: string;
    expect: RegExp;
    status: number;
    body: string;
    headers?: Record<string, string>;
  }[] = [
    { name: "oversized body (20 KiB)", expect: /^BODY_TOO_LARGE$/, status: 413, body: big },
    {
      name: "declared Content-Length over the limit",
      expect: /^BODY_TOO_LARGE$/,
      status: 413,
      body: "{}",
      headers: { "content-length": String(10 * 1024 * 1024) },
    },
    { name: "malformed JSON body", expect: /^BODY_NOT_JSON$/, status: 400, body: '{"force": tru' },
    {
      name: "unknown field in the body",
      expect: /^INVALID_BODY$/,
      status: 400,
      body: '{"force": true, "admin": true}',
    },
    { name: 'wrong type (force: "yes")', expect: /^INVALID_BODY$/, status: 400, body: '{"force": "yes"}' },
    {
      name: "reason longer than 500 characters",
      expect: /^INVALID_BODY$/,
      status: 400,
      body: JSON.stringify({ reason: "r".repeat(501) }),
    },
    { name: "a JSON array instead of an object", expect: /^INVALID_BODY$/, status: 400, body: "[1,2,3]" },
  ];

  const results: BadInputResult[] = [];
  const record = (
    area: string,
    name: string,
    expect: RegExp,
    o: Outcome,
    mutations: number,
    extra = true,
  ) => {
    const code = o.code ?? "(none)";
    results.push({
      area,
      name,
      code,
      hint: Boolean(o.hint && o.hint.length > 10),
      mutations,
      ok: expect.test(code) && Boolean(o.hint && o.hint.length > 10) && mutations === 0 && extra,
      ...(o.detail ? { detail: o.detail } : {}),
    });
  };
  for (const c of cases) {
    const before = mutationCount(cs);
    const o = await c.run();
    record(c.area, c.name, c.expect, o, mutationCount(cs) - before);
  }
  for (const c of httpCases) {
    const before = mutationCount(cs);
    const o = await http(cs, rt, ok.name, c.body, c.headers);
    record(
      "http",
      c.name,
      c.expect,
      { ...o, detail: `HTTP ${o.status}` },
      mutationCount(cs) - before,
      o.status === c.status,
    );
  }
  {
    const before = mutationCount(cs);
    const o = await http(cs, rt, "no-such-credential", "{}");
    record(
      "http",
      "POST rotate for an unknown credential",
      /^UNKNOWN_CREDENTIAL$/,
      { ...o, detail: `HTTP ${o.status}` },
      mutationCount(cs) - before,
      o.status === 404,
    );
    setFunctionsRuntime(rt);
    const s = captureResponse(
      await statusHttpHandler(
        httpRequest({ method: "GET", path: "/api/credentials/no-such", params: { name: "no-such" } }),
        context("getCredential", cs.capture),
      ),
      cs.capture,
    );
    setFunctionsRuntime(undefined);
    record(
      "http",
      "GET status of an unknown credential",
      /^UNKNOWN_CREDENTIAL$/,
      { ...findError(JSON.stringify(s.jsonBody)), detail: `HTTP ${s.status}` },
      mutationCount(cs) - before,
      s.status === 404,
    );
  }

  // 7. The HTTP surface.
  const regs = functionRegistrations({ ROTATOR_AUTH_REQUIRED: undefined }).filter((r) => r.kind === "http");
  const signedIn = functionRegistrations({ ROTATOR_AUTH_REQUIRED: "true" }).filter((r) => r.kind === "http");
  const secret = stack.env.KONG_ADMIN_TOKEN!;
  const echoed = await http(cs, rt, ok.name, `{"reason": "${secret}", "force": tru`);
  const broken = {
    ...rt,
    credential: () => {
      throw new Error(`internal detail /srv/secret/path ${secret}`);
    },
  } as Runtime;
  const internal = await http(cs, broken, ok.name, "{}");
  // The signed-in principal is audited on every manual request.
  for (const reason of ["chaos audit 1", "chaos audit 2", "chaos audit 3"])
    await http(cs, rt, ok.name, JSON.stringify({ dryRun: true, reason }), {
      "x-ms-client-principal": principal("auditor@example.test", ["Rotation.Operator"]),
    });
  const auditLines = cs.capture.count(
    "log",
    /"event":"ManualRotationAudit"[^\n]*"actor":"auditor@example.test"/,
  );
  const cliAudit = await (async () => {
    const err: string[] = [];
    await main(
      ["plan", ok.name, "--config", ok.configPath, "--reason", "chaos cli audit", "--log-format", "json"],
      {
        out: () => {},
        err: (s) => err.push(s),
        env: stack.env,
      },
    );
    cs.capture.add("cli-stderr", err.join("\n"));
    return err.some((l) => /RotationRequested|Audit/.test(l));
  })();
  const surface: HttpSurfaceReport = {
    httpFunctions: regs.map((r) => ({ name: r.name, ...(r.authLevel ? { authLevel: r.authLevel } : {}) })),
    keysAsDesigned:
      regs.length > 0 &&
      regs.every((r) => r.authLevel === "function") &&
      signedIn.length === regs.length &&
      signedIn.every((r) => r.authLevel === (r.name === "rotateCredential" ? "function" : "anonymous")),
    sizeLimitBytes: 16 * 1024,
    oversizedRefused: results.filter((r) => /oversized|Content-Length/.test(r.name)).every((r) => r.ok),
    internalErrorOpaque:
      internal.status === 500 &&
      internal.code === "INTERNAL" &&
      !internal.text.includes("/srv/secret") &&
      !internal.text.includes(secret),
    secretNotEchoed: echoed.status === 400 && !echoed.text.includes(secret),
    manualRequests: 3,
    auditLines,
    cliRotateAudited: cliAudit,
  };
  return { cases: results, surface };
}
