/**
 * The HTTP functions (POST /api/credentials/{name}/rotate, GET /api/credentials[/{name}]) called the way
 * the Functions host calls them, on the local stack: real adapters over HTTPS to the fakes, Azurite for
 * the one-writer lease and run history.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { BlobServiceClient } from "@azure/storage-blob";
import type { HttpResponseInit } from "@azure/functions";
import { APP_CLIENT_ID, CREDENTIAL } from "../../stack/stack.js";
import { createBlobLeaseManager } from "../../src/adapters/lease/blob.js";
import { createRuntime } from "../../src/app/runtime.js";
import { parseConfig } from "../../src/config/load.js";
import { RotatorError } from "../../src/errors.js";
import { silentLogger } from "../../src/log/logger.js";
import { rotateHttpHandler } from "../../src/functions/rotateHttp.js";
import { statusHttpHandler } from "../../src/functions/statusHttp.js";
import { rotationTimerHandler } from "../../src/functions/rotationTimer.js";
import { doctorHttpHandler } from "../../src/functions/doctorHttp.js";
import { errorResponse, MAX_BODY_BYTES } from "../../src/functions/http.js";
import { functionsRuntime, setFunctionsRuntime } from "../../src/functions/runtime.js";
import {
  bodyText,
  CERT_NAME,
  clientPrincipal,
  expectNoSecrets,
  httpRequest,
  invocation,
  startHarness,
  timerInfo,
  type Harness,
} from "./harness.js";

interface ErrorBody {
  error: { code: string; message: string; hint: string };
}
interface Step {
  action: string;
  status: string;
  x5t?: string;
}
interface RotateBody {
  credential: string;
  outcome: string;
  continuing: boolean;
  plan: { kind: string }[];
  steps: Step[];
  error?: { code: string; hint: string };
  status: { active?: string; generations: { phase: string; x5t?: string }[] };
}
interface View {
  credential: string;
  active?: string;
  generations: {
    version: string;
    phase: string;
    enabled: boolean;
    x5t?: string;
    notBefore?: string;
    expiresOn?: string;
    activatedAt?: string;
    retireAfter?: string;
    atIdp: boolean;
  }[];
  targets: { name: string; inSync: boolean; plugins: { pluginId: string; kid?: string }[] }[];
  lastSuccess?: { at: string; outcome: string; trigger: string };
  lastFailure?: { at: string; outcome: string; trigger: string; code?: string };
}

let h: Harness;
/** Every response body of the suite, for the secret-hygiene check at the end. */
const bodies: string[] = [];
/** Everything handlers wrote through context.log/error. */
const contextLines: string[] = [];

const record = (res: HttpResponseInit): HttpResponseInit => {
  bodies.push(bodyText(res));
  return res;
};

/**
 * The handlers run as deployed (App Service authentication in front, ROTATOR_AUTH_REQUIRED set: see
 * beforeAll); a request without its own principal header comes from a signed-in admin. Who may do what is
 * authorization.test.ts.
 */
const ADMIN = { "x-ms-client-principal": clientPrincipal("ada@contoso.example", ["Rotation.Admin"], "ada") };
const signedIn = (headers: Record<string, string>) =>
  "x-ms-client-principal" in headers ? headers : { ...ADMIN, ...headers };

function post(
  name: string,
  body?: string | object,
  headers: Record<string, string> = {},
  invocationId?: string,
): Promise<HttpResponseInit> {
  const { context, lines } = invocation("rotateCredential", invocationId);
  const request = httpRequest({
    method: "POST",
    route: `credentials/${name}/rotate`,
    params: { name },
    headers: signedIn(headers),
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  return rotateHttpHandler(request, context)
    .then(record)
    .finally(() => contextLines.push(...lines));
}

function get(name?: string, headers: Record<string, string> = {}): Promise<HttpResponseInit> {
  const { context, lines } = invocation(name === undefined ? "listCredentials" : "getCredential");
  const request = httpRequest({
    method: "GET",
    route: name === undefined ? "credentials" : `credentials/${name}`,
    ...(name === undefined ? {} : { params: { name } }),
    headers: signedIn(headers),
  });
  return statusHttpHandler(request, context)
    .then(record)
    .finally(() => contextLines.push(...lines));
}

const errorOf = (res: HttpResponseInit) => (res.jsonBody as ErrorBody).error;
const rotateBody = (res: HttpResponseInit) => res.jsonBody as RotateBody;
const ourKid = () =>
  (h.stack.kong.getPlugin(h.stack.pluginId)!.config.client_jwk as Record<string, unknown>[])[1]?.kid as
    string | undefined;
const versions = () => h.stack.keyVault.versions(CERT_NAME);

const deployed = { ROTATOR_AUTH_REQUIRED: "true", WEBSITE_AUTH_ENABLED: "True" };
beforeAll(async () => {
  Object.assign(process.env, deployed);
  h = await startHarness();
}, 60_000);

afterAll(async () => {
  for (const k of Object.keys(deployed)) delete process.env[k];
  await h?.close();
});

describe("POST /api/credentials/{name}/rotate: input validation", () => {
  it("refuses a body that is not JSON with 400 BODY_NOT_JSON and a hint", async () => {
    const before = h.mutations();
    const res = await post(CREDENTIAL, "{force: true");
    expect(res.status).toBe(400);
    expect(errorOf(res)).toMatchObject({ code: "BODY_NOT_JSON", hint: expect.stringMatching(/force/) });
    expect(h.mutations()).toBe(before);
  });

  it("refuses unknown fields with 400 INVALID_BODY naming the field", async () => {
    const res = await post(CREDENTIAL, { force: true, rotateEverything: true });
    expect(res.status).toBe(400);
    const error = errorOf(res);
    expect(error.code).toBe("INVALID_BODY");
    expect(error.message).toMatch(/rotateEverything/);
    expect(error.hint).toMatch(/"force"\?: boolean/);
  });

  it("refuses wrong types with 400 INVALID_BODY naming the field", async () => {
    const res = await post(CREDENTIAL, { force: "yes" });
    expect(res.status).toBe(400);
    expect(errorOf(res)).toMatchObject({ code: "INVALID_BODY", message: expect.stringMatching(/^force: /) });
    for (const body of [
      "[]",
      "null",
      '"rotate"',
      JSON.stringify({ reason: "x".repeat(501) }),
      JSON.stringify({ dryRun: 1 }),
    ]) {
      const r = await post(CREDENTIAL, body);
      expect(r.status, body.slice(0, 20)).toBe(400);
      expect(errorOf(r).code).toBe("INVALID_BODY");
    }
  });

  it("refuses compromise combinations that make no sense with 400 INVALID_BODY, changing nothing", async () => {
    const before = h.mutations();
    for (const [body, why] of [
      [{ compromised: true, rollback: true }, /only one of force \(or compromised\), rollback and cancel/],
      [{ compromised: true, cancel: true }, /only one of/],
      [{ revokeUnmanaged: true }, /revokeUnmanaged goes with compromised/],
      [{ force: true, revokeUnmanaged: true }, /revokeUnmanaged goes with compromised/],
      [{ compromised: true, dryRun: true }, /compromised has no dry run/],
      [{ compromised: "yes" }, /^compromised: /],
    ] as const) {
      const r = await post(CREDENTIAL, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(errorOf(r)).toMatchObject({ code: "INVALID_BODY", message: expect.stringMatching(why) });
      expect(errorOf(r).hint).toMatch(/"compromised"\?: boolean/);
    }
    expect(h.mutations()).toBe(before);
  });

  it("refuses a body over 16 KiB with 413, by declared content-length and by actual size", async () => {
    const before = h.mutations();
    const declared = await post(CREDENTIAL, "{}", { "content-length": String(MAX_BODY_BYTES + 1) });
    expect(declared.status).toBe(413);
    expect(errorOf(declared).code).toBe("BODY_TOO_LARGE");
    const big = JSON.stringify({ reason: "r".repeat(MAX_BODY_BYTES) });
    const actual = await post(CREDENTIAL, big);
    expect(actual.status).toBe(413);
    // Under the limit in characters, over it in UTF-8 bytes.
    const multibyte = JSON.stringify({ reason: "é".repeat(MAX_BODY_BYTES / 2 + 8) });
    expect(multibyte.length).toBeLessThan(MAX_BODY_BYTES + 16);
    expect((await post(CREDENTIAL, multibyte)).status).toBe(413);
    // A lying content-length does not get a large body past the check.
    expect((await post(CREDENTIAL, big, { "content-length": "2" })).status).toBe(413);
    expect(h.mutations()).toBe(before);
  });

  it("answers 404 UNKNOWN_CREDENTIAL for a credential that is not configured", async () => {
    const before = h.mutations();
    const res = await post("no-such-credential", { force: true });
    expect(res.status).toBe(404);
    expect(errorOf(res)).toMatchObject({
      code: "UNKNOWN_CREDENTIAL",
      hint: expect.stringMatching(/GET \/api\/credentials/),
    });
    expect(h.mutations()).toBe(before);
  });
});

describe("POST rotate: behaviour on the stack", () => {
  it("dryRun answers 202 with the bootstrap plan, outcome planned, and changes nothing", async () => {
    const before = h.mutations();
    const res = await post(CREDENTIAL, { dryRun: true, force: true, reason: "preview" });
    expect(res.status).toBe(202);
    const body = rotateBody(res);
    expect(body.outcome).toBe("planned");
    expect(body.plan.map((a) => a.kind)).toEqual(["create", "publish", "verify", "activate"]);
    expect(body.steps).toEqual([]);
    expect(body.status.generations).toEqual([]);
    expect(h.mutations()).toBe(before);
    expect(versions()).toEqual([]);
  });

  it("answers 409 BUSY while another writer holds the credential's lease, and changes nothing", async () => {
    const leases = createBlobLeaseManager({
      blob: BlobServiceClient.fromConnectionString(h.stack.env.AzureWebJobsStorage!),
    });
    const lease = await leases.tryAcquire(CREDENTIAL, "another-writer");
    expect(lease).toBeDefined();
    const before = h.mutations();
    try {
      const res = await post(CREDENTIAL, { force: true });
      expect(res.status).toBe(409);
      expect(errorOf(res)).toMatchObject({ code: "BUSY", hint: expect.stringMatching(/lease/) });
    } finally {
      await lease!.release();
    }
    expect(h.mutations()).toBe(before);
    expect(versions()).toEqual([]);
  });

  it("20 concurrent requests and a timer run on one credential: exactly one rotation", async () => {
    const timer = invocation("rotationTimer");
    const requests = Array.from({ length: 20 }, (_, i) => post(CREDENTIAL, { reason: `race ${i}` }));
    const timerRun = rotationTimerHandler(timerInfo(), timer.context);
    const responses = await Promise.all(requests);
    await timerRun;

    // One certificate version: without the lease, each run would have created its own.
    expect(versions()).toHaveLength(1);
    const rotatedByHttp = responses.filter(
      (r) =>
        r.status === 202 && rotateBody(r).steps.some((s) => s.action === "create" && s.status === "done"),
    );
    // The timer only enqueues work (app/fleet.ts); the rotation itself is the HTTP winner's.
    expect(rotatedByHttp.length).toBe(1);
    const busy = responses.filter((r) => r.status === 409);
    expect(busy.length).toBeGreaterThan(0);
    for (const r of busy) expect(errorOf(r).code).toBe("BUSY");
    // Anyone who got the lease after the winner released it found nothing to do.
    for (const r of responses.filter((x) => x.status !== 409 && !rotatedByHttp.includes(x))) {
      expect(r.status).toBe(202);
      expect(rotateBody(r).outcome).toBe("noop");
    }
    expect(timer.lines[0]).toMatch(/^[01] of 1 credential\(s\) enqueued \(1 Key Vault list call\(s\)\)$/);

    const x5t = versions()[0]!.x5t!;
    expect(ourKid()).toBe(x5t);
    expect(await h.stack.kong.probe(h.stack.pluginId, APP_CLIENT_ID)).toMatchObject({ ok: true, kid: x5t });
    if (rotatedByHttp[0]) {
      const body = rotateBody(rotatedByHttp[0]);
      expect(body).toMatchObject({ credential: CREDENTIAL, outcome: "ok", continuing: false });
      expect(body.plan.map((a) => a.kind)).toEqual(["create", "publish", "verify", "activate"]);
      expect(body.status.active).toBe(x5t);
    }
  });

  it("a forced rotation answers 202 with plan, steps and status, and is audited with the caller and reason", async () => {
    const old = ourKid()!;
    const res = await post(
      CREDENTIAL,
      { force: true, reason: "quarterly drill" },
      { "x-ms-client-principal": clientPrincipal("alice@contoso.example", ["Rotation.Operator"]) },
      "inv-forced-1",
    );
    expect(res.status).toBe(202);
    expect(res.headers).toMatchObject({ "cache-control": "no-store" });
    const body = rotateBody(res);
    expect(body.outcome).toBe("ok");
    expect(body.plan[0]!.kind).toBe("create");
    expect(body.steps.filter((s) => s.status === "done").map((s) => s.action)).toEqual(
      expect.arrayContaining(["create", "publish", "verify", "activate"]),
    );
    const fresh = body.status.active!;
    expect(fresh).not.toBe(old);
    expect(body.status.generations.map((g) => [g.x5t, g.phase])).toEqual(
      expect.arrayContaining([
        [fresh, "active"],
        [old, "retiring"],
      ]),
    );
    expect(ourKid()).toBe(fresh);
    expect(versions()).toHaveLength(2);

    const audit = h.events("ManualRotationAudit").find((e) => e.invocationId === "inv-forced-1");
    expect(audit).toMatchObject({
      credential: CREDENTIAL,
      actor: "alice@contoso.example",
      reason: "quarterly drill",
      force: true,
      dryRun: false,
    });
  });

  it("a failed run reports its error code and hint; status then shows the last failure", async () => {
    h.stack.keyVault.deny("Microsoft.KeyVault/vaults/certificates/create");
    let res: HttpResponseInit;
    try {
      res = await post(CREDENTIAL, { force: true, reason: "denied" });
    } finally {
      h.stack.keyVault.allowAll();
    }
    expect(res.status).toBe(202);
    const body = rotateBody(res);
    expect(body.outcome).toBe("failed");
    expect(body.error).toMatchObject({ code: "KV_FORBIDDEN", hint: expect.any(String) });
    expect(versions()).toHaveLength(2);
  });
});

describe("GET /api/credentials", () => {
  it("lists every credential with generations, targets and the last success and failure", async () => {
    const res = await get();
    expect(res.status).toBe(200);
    const { credentials } = res.jsonBody as { credentials: View[] };
    expect(credentials.map((c) => c.credential)).toEqual([CREDENTIAL]);
    const view = credentials[0]!;
    const active = versions().at(-1)!.x5t!;
    expect(view.active).toBe(active);
    const phases = view.generations.map((g) => [g.x5t, g.phase]);
    expect(phases).toContainEqual([active, "active"]);
    expect(phases).toContainEqual([versions()[0]!.x5t, expect.stringMatching(/^(retiring|retired)$/)]);
    for (const g of view.generations) {
      expect(g.x5t).toMatch(/^[A-Za-z0-9_-]{27}$/);
      expect(new Date(g.notBefore!).toISOString()).toBe(g.notBefore);
      expect(new Date(g.expiresOn!).getTime()).toBeGreaterThan(Date.now());
    }
    expect(view.generations.find((g) => g.phase === "active")!.activatedAt).toEqual(expect.any(String));
    expect(view.targets).toEqual([
      { name: "local", inSync: true, plugins: [{ pluginId: h.stack.pluginId, kid: active }] },
    ]);
    expect(view.lastSuccess).toMatchObject({ outcome: "ok", trigger: "http" });
    expect(view.lastFailure).toMatchObject({ outcome: "failed", trigger: "http", code: "KV_FORBIDDEN" });
    expect(Date.parse(view.lastFailure!.at)).toBeGreaterThanOrEqual(Date.parse(view.lastSuccess!.at));
  });

  it("shows one credential by name, and 404 for an unknown name", async () => {
    const one = await get(CREDENTIAL);
    expect(one.status).toBe(200);
    const view = one.jsonBody as View;
    expect(view.credential).toBe(CREDENTIAL);
    expect(view.targets[0]!.inSync).toBe(true);
    expect(view.targets[0]!.plugins[0]!.kid).toBe(ourKid());

    const unknown = await get("no-such-credential");
    expect(unknown.status).toBe(404);
    expect(errorOf(unknown).code).toBe("UNKNOWN_CREDENTIAL");
  });
});

describe("POST rotate: durable requests", () => {
  it("cancel withdraws the request left pending by a failed forced run; a second cancel answers 409", async () => {
    const pending = rotateBody(await get(CREDENTIAL)) as unknown as { request?: { force: boolean } };
    expect(pending.request).toMatchObject({ force: true });
    const res = await post(CREDENTIAL, { cancel: true, reason: "drill over" }, {}, "inv-cancel");
    expect(res.status).toBe(200);
    expect(res.jsonBody).toMatchObject({
      credential: CREDENTIAL,
      kind: "rotate",
      cancelled: expect.any(String),
    });
    expect(h.events("ManualRotationAudit").find((e) => e.invocationId === "inv-cancel")).toMatchObject({
      cancel: true,
      reason: "drill over",
    });
    const again = await post(CREDENTIAL, { cancel: true });
    expect(again.status).toBe(409);
    expect(errorOf(again).code).toBe("NO_PENDING_REQUEST");
  });

  it("a forced rotation within the cooldown answers 429 with Retry-After; overrideCooldown is audited and rotates", async () => {
    const rt = await functionsRuntime();
    const policy = rt.credential(CREDENTIAL).policy;
    policy.forceCooldown = 600_000;
    try {
      const before = versions().length;
      const res = await post(CREDENTIAL, { force: true });
      expect(res.status).toBe(429);
      expect(errorOf(res).code).toBe("ROTATE_COOLDOWN");
      expect(Number((res.headers as Record<string, string>)["retry-after"])).toBeGreaterThan(0);
      expect(versions()).toHaveLength(before);
      const forced = await post(CREDENTIAL, { force: true, overrideCooldown: true }, {}, "inv-override");
      expect(forced.status).toBe(202);
      expect(rotateBody(forced).outcome).toBe("ok");
      expect(versions()).toHaveLength(before + 1);
      expect(h.events("ManualRotationAudit").find((e) => e.invocationId === "inv-override")).toMatchObject({
        force: true,
        overrideCooldown: true,
      });
    } finally {
      policy.forceCooldown = 0;
    }
  });

  it("refuses contradictory requests with 400", async () => {
    for (const body of [
      { force: true, rollback: true },
      { cancel: true, force: true },
      { overrideCooldown: true },
    ])
      expect((await post(CREDENTIAL, body)).status).toBe(400);
  });
});

describe("GET /api/credentials as the status page", () => {
  const BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

  it("answers a browser with the HTML status page drawn from the same views as the JSON", async () => {
    const { credentials } = (await get()).jsonBody as { credentials: (View & { alerts?: unknown[] })[] };
    const view = credentials[0]!;
    expect(view.alerts).toEqual(expect.any(Array));

    const res = await get(undefined, { accept: BROWSER });
    expect(res.status).toBe(200);
    expect(res.jsonBody).toBeUndefined();
    expect(res.headers).toMatchObject({
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": expect.stringContaining("default-src 'none'"),
      "x-content-type-options": "nosniff",
    });
    const page = bodyText(res);
    mkdirSync("test-artifacts", { recursive: true });
    writeFileSync("test-artifacts/status-page-stack.html", page);
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain(`data-credential="${CREDENTIAL}"`);
    for (const g of view.generations) expect(page).toContain(`data-x5t="${g.x5t}"`);
    expect(page).toContain(`data-target="local" data-sync="in-sync"`);
    expect(page).toContain(view.active!);

    const one = await get(CREDENTIAL, { accept: "text/html" });
    expect(bodyText(one)).toContain(`data-credential="${CREDENTIAL}"`);
  });

  it("answers JSON to API clients: no Accept, */*, or JSON preferred", async () => {
    for (const accept of [undefined, "*/*", "application/json", "application/json, text/html;q=0.5"]) {
      const res = await get(undefined, accept === undefined ? {} : { accept });
      expect(res.jsonBody, accept).toMatchObject({ credentials: [{ credential: CREDENTIAL }] });
    }
  });
});

describe("errors", () => {
  it("a misconfigured Function App answers 500 with the configuration error, on the first request", async () => {
    const saved = process.env.ROTATOR_CONFIG;
    try {
      setFunctionsRuntime(undefined);
      delete process.env.ROTATOR_CONFIG;
      const rotate = await post(CREDENTIAL, {});
      expect(rotate.status).toBe(500);
      expect(errorOf(rotate)).toMatchObject({
        code: "CONFIG_NOT_SET",
        hint: expect.stringMatching(/ROTATOR_CONFIG/),
      });
      const status = await get();
      expect(status.status).toBe(500);

      const bad = join(mkdtempSync(join(tmpdir(), "rotator-fn-")), "rotator.yaml");
      writeFileSync(bad, stringify({ ...h.stack.config, policy: { algorithm: "ES256" } }));
      process.env.ROTATOR_CONFIG = bad;
      const invalid = await post(CREDENTIAL, {});
      expect(invalid.status).toBe(500);
      expect(errorOf(invalid)).toMatchObject({
        code: "CONFIG_INVALID",
        message: expect.stringMatching(/policy\.algorithm/),
      });
    } finally {
      if (saved === undefined) delete process.env.ROTATOR_CONFIG;
      else process.env.ROTATOR_CONFIG = saved;
      setFunctionsRuntime(h.rt);
    }
  });

  it("a YAML syntax error is reported by position in GET /api/doctor, the error response and the logs, never by content", async () => {
    const saved = process.env.ROTATOR_CONFIG;
    const hook = "https://hooks.slack.com/services/T000/B000/yamlS3cr3tT0k3n";
    try {
      setFunctionsRuntime(undefined);
      const bad = join(mkdtempSync(join(tmpdir(), "rotator-fn-")), "rotator.yaml");
      // An unterminated quote: the parser's own message would quote this line.
      writeFileSync(bad, `${stringify(h.stack.config)}alerts:\n  webhooks:\n    - url: "${hook}\n`);
      process.env.ROTATOR_CONFIG = bad;
      const { context, lines } = invocation("doctor");
      const doctor = record(
        await doctorHttpHandler(httpRequest({ method: "GET", route: "doctor", headers: ADMIN }), context),
      );
      contextLines.push(...lines);
      expect(doctor.status).toBe(200);
      const report = doctor.jsonBody as {
        ok: boolean;
        checks: { status: string; code: string; message: string }[];
      };
      expect(report.ok).toBe(false);
      expect(report.checks).toContainEqual(
        expect.objectContaining({
          status: "fail",
          code: "CONFIG_INVALID",
          message: expect.stringMatching(/not valid YAML: syntax error at line \d+, column \d+/),
        }),
      );
      const status = await get();
      expect(status.status).toBe(500);
      expect(errorOf(status).message).toMatch(/syntax error at line \d+, column \d+/);
      for (const text of [bodyText(doctor), bodyText(status), ...lines, ...contextLines])
        expect(text).not.toContain("yamlS3cr3t");
    } finally {
      if (saved === undefined) delete process.env.ROTATOR_CONFIG;
      else process.env.ROTATOR_CONFIG = saved;
      setFunctionsRuntime(h.rt);
    }
  });

  it("a storage failure answers 503 with the storage code, without the account key or upstream details", async () => {
    const key = /AccountKey=([^;]+)/.exec(h.stack.env.AzureWebJobsStorage!)![1]!;
    const wrongKey = Buffer.from("not-the-azurite-account-key-0123456789").toString("base64");
    const env = {
      ...h.stack.env,
      AzureWebJobsStorage: h.stack.env.AzureWebJobsStorage!.replace(key, wrongKey),
    };
    setFunctionsRuntime(createRuntime({ config: parseConfig(h.stack.config), env, logger: silentLogger }));
    try {
      const before = h.mutations();
      const res = await post(CREDENTIAL, { force: true });
      // The run could not start (no lease): nothing ran, and the caller may try again later.
      expect(res.status).toBe(503);
      const error = errorOf(res);
      expect(error.code).toMatch(/^LEASE_STORAGE_(AUTH|FORBIDDEN)$/);
      expect(Object.keys(error).sort()).toEqual(["code", "hint", "message"]);
      const text = bodyText(res);
      expect(text).not.toContain(key);
      expect(text).not.toContain(wrongKey);
      expect(h.mutations()).toBe(before);
    } finally {
      setFunctionsRuntime(h.rt);
    }
  });

  it("an unexpected failure answers 500 INTERNAL without its message, and logs it by invocation id, redacted", async () => {
    const token = h.stack.env.KONG_ADMIN_TOKEN!;
    setFunctionsRuntime({
      ...h.rt,
      leases: {
        tryAcquire: () =>
          Promise.reject(new TypeError(`cannot read properties of undefined (token ${token})`)),
      },
    });
    const { context, lines } = invocation("rotateCredential", "inv-internal");
    try {
      const res = record(
        await rotateHttpHandler(
          httpRequest({
            method: "POST",
            route: `credentials/${CREDENTIAL}/rotate`,
            params: { name: CREDENTIAL },
            headers: ADMIN,
            body: "{}",
          }),
          context,
        ),
      );
      expect(res.status).toBe(500);
      expect(errorOf(res)).toEqual({
        code: "INTERNAL",
        message: "internal error",
        hint: "See the function logs for invocation inv-internal.",
      });
      const logged = lines.join("\n");
      expect(logged).toMatch(/HttpFunctionFailed/);
      expect(logged).toMatch(/inv-internal/);
      expect(logged).toMatch(/cannot read properties of undefined/);
      expect(logged).not.toContain(token);
    } finally {
      setFunctionsRuntime(h.rt);
    }
  });

  it("maps errors by code, not by the upstream call's HTTP status", () => {
    const { context } = invocation("rotateCredential");
    const upstream404 = new RotatorError(
      "LEASE_STORAGE_ERROR",
      "acquire lease for orders-api: 404 ContainerNotFound",
      "see the storage code",
      { status: 404 },
    );
    expect(errorResponse(upstream404, context).status).toBe(502);
    const throttled = new RotatorError("KV_THROTTLED", "Key Vault answered 429", "retry later", {
      status: 429,
      retryable: true,
    });
    expect(errorResponse(throttled, context).status).toBe(503);
    const unknown = new RotatorError("UNKNOWN_CREDENTIAL", "no credential", "list them", { status: 404 });
    expect(errorResponse(unknown, context).status).toBe(404);
    const noStorage = new RotatorError("STORAGE_NOT_CONFIGURED", "no storage", "set AzureWebJobsStorage");
    expect(errorResponse(noStorage, context).status).toBe(500);
  });
});

describe("secret hygiene", () => {
  it("no response body of this suite holds key material, tokens, the admin token or the client secret", async () => {
    await get();
    await get(CREDENTIAL);
    expect(bodies.length).toBeGreaterThan(30);
    expectNoSecrets(h.stack, bodies);
  });

  it("neither do the runtime's logs nor the handlers' context logs", () => {
    expect(h.logs.length).toBeGreaterThan(0);
    expectNoSecrets(h.stack, [...h.logs, ...contextLines]);
  });
});
