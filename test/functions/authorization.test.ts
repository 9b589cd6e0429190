/**
 * Who may do what over HTTP (src/functions/auth.ts): the role × action × authentication matrix, first
 * against authorize() in every mode the settings allow, then through the real handlers on the local stack,
 * where a refusal must also leave Key Vault, the IdP and Kong untouched. Plus the per-caller dry-run limit.
 *
 * The expected least role of each action is written out here, independently of ACTION_ROLES: it is the
 * design in docs/permissions.md, and the code must match it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { CREDENTIAL } from "../../stack/stack.js";
import {
  ACTION_ROLES,
  authMode,
  authorize,
  callerOf,
  FUNCTION_KEY_CALLER,
  readAuthLevel,
  type Action,
} from "../../src/functions/auth.js";
import { DRY_RUN_LIMIT, perCallerWindow } from "../../src/functions/caller-limit.js";
import { rotateHttpHandler } from "../../src/functions/rotateHttp.js";
import { statusHttpHandler } from "../../src/functions/statusHttp.js";
import { doctorHttpHandler } from "../../src/functions/doctorHttp.js";
import {
  bodyText,
  clientPrincipal,
  expectNoSecrets,
  httpRequest,
  invocation,
  startHarness,
  withAppServiceAuth,
  withKeyOnlyWrites,
  type Harness,
} from "./harness.js";

type Level = "Reader" | "Operator" | "Admin";
const EXPECTED_ROLE: Record<Action, Level> = {
  status: "Reader",
  page: "Reader",
  doctor: "Reader",
  dryRun: "Operator",
  rotate: "Operator",
  force: "Operator",
  rollback: "Admin",
  cancel: "Admin",
  overrideCooldown: "Admin",
  compromise: "Admin",
};
const ACTIONS = Object.keys(EXPECTED_ROLE) as Action[];

type Who = "anonymous" | "no role" | Level;
const WHO: Who[] = ["anonymous", "no role", "Reader", "Operator", "Admin"];
const RANK: Record<Exclude<Who, "anonymous">, number> = { "no role": 0, Reader: 1, Operator: 2, Admin: 3 };

/** A principal header for `who` (distinct object ids, so per-caller limits keep them apart). */
function headersOf(who: Who, tag = ""): Record<string, string> {
  if (who === "anonymous") return {};
  const roles = who === "no role" ? [] : [`Rotation.${who}`];
  const oid = `${who.replace(" ", "-")}${tag}`;
  return { "x-ms-client-principal": clientPrincipal(`${oid}@contoso.example`, roles, oid) };
}

type Mode = "auth on" | "auth off" | "opt-in" | "opt-in on App Service" | "platform off" | "misspelt";
const ENV: Record<Mode, NodeJS.ProcessEnv> = {
  "auth on": { ROTATOR_AUTH_REQUIRED: "true", WEBSITE_AUTH_ENABLED: "True" },
  "auth off": {},
  "opt-in": { ROTATOR_ALLOW_KEY_ONLY_WRITES: "true" },
  "opt-in on App Service": { ROTATOR_ALLOW_KEY_ONLY_WRITES: "true", WEBSITE_INSTANCE_ID: "a1b2c3" },
  "platform off": { ROTATOR_AUTH_REQUIRED: "true", WEBSITE_AUTH_ENABLED: "False" },
  misspelt: { ROTATOR_AUTH_REQURED: "true", WEBSITE_AUTH_ENABLED: "True" },
};

/** What the design says: "allowed", or the refusal's status and code. */
function expected(mode: Mode, who: Who, action: Action): "allowed" | [number, string] {
  const need = RANK[EXPECTED_ROLE[action]];
  if (mode === "platform off") return [403, "AUTH_PLATFORM_OFF"];
  if (mode === "auth on") {
    if (who === "anonymous") return [401, "AUTHENTICATION_REQUIRED"];
    return RANK[who] >= need ? "allowed" : [403, "ROLE_REQUIRED"];
  }
  // Without platform authentication no principal counts, whatever its header says.
  if (need === RANK.Reader || mode === "opt-in") return "allowed";
  return [403, "AUTH_NOT_CONFIGURED"];
}

const request = (headers: Record<string, string>): HttpRequest =>
  httpRequest({ method: "GET", route: "credentials", headers });
const errorCode = (res: HttpResponseInit) =>
  (JSON.parse(bodyText(res)) as { error?: { code: string } }).error?.code;

describe("the role table", () => {
  it("gives every action the role of the design; the compromise response is Admin only", () => {
    expect(Object.keys(ACTION_ROLES).sort()).toEqual([...ACTIONS].sort());
    for (const a of ACTIONS) expect(ACTION_ROLES[a], a).toBe(`Rotation.${EXPECTED_ROLE[a]}`);
  });
});

describe("authMode", () => {
  it("trusts the Bicep's setting only when it says true, and the platform's flag only to refuse", () => {
    expect(authMode(ENV["auth on"])).toEqual({ required: true, platformOff: false, keyOnlyWrites: false });
    expect(authMode({ ROTATOR_AUTH_REQUIRED: " TRUE " }).required).toBe(true);
    // Absent, misspelt, or any other value: not authenticated (never "allowed").
    for (const env of [ENV["auth off"], ENV.misspelt, { ROTATOR_AUTH_REQUIRED: "yes" }])
      expect(authMode(env).required).toBe(false);
    // The platform's flag cannot turn authentication on, and an absent or unknown value changes nothing.
    expect(authMode({ WEBSITE_AUTH_ENABLED: "True" }).required).toBe(false);
    expect(authMode({ ROTATOR_AUTH_REQUIRED: "true" }).platformOff).toBe(false);
    expect(authMode({ ROTATOR_AUTH_REQUIRED: "true", WEBSITE_AUTH_ENABLED: "weird" }).platformOff).toBe(
      false,
    );
    expect(authMode(ENV["platform off"]).platformOff).toBe(true);
  });

  it("honours the key-only opt-in for local development only", () => {
    expect(authMode(ENV["opt-in"])).toMatchObject({ keyOnlyWrites: true });
    expect(authMode(ENV["opt-in on App Service"])).toMatchObject({
      keyOnlyWrites: false,
      keyOnlyIgnored: "app-service",
    });
    expect(authMode({ ...ENV["auth on"], ROTATOR_ALLOW_KEY_ONLY_WRITES: "true" })).toMatchObject({
      keyOnlyWrites: false,
      keyOnlyIgnored: "auth-required",
    });
  });

  it("serves reads without a function key only behind the platform's sign-in", () => {
    expect(readAuthLevel(ENV["auth on"])).toBe("anonymous");
    for (const mode of ["auth off", "opt-in", "misspelt"] as const)
      expect(readAuthLevel(ENV[mode])).toBe("function");
  });
});

describe("callerOf", () => {
  it("decodes the platform's principal with its app roles and object id only when the platform authenticates", () => {
    const headers = headersOf("Operator");
    expect(callerOf(request(headers), authMode(ENV["auth on"]))).toEqual({
      actor: "Operator@contoso.example",
      id: "Operator",
      authenticated: true,
      roles: ["Rotation.Operator"],
    });
    const anonymous = {
      actor: FUNCTION_KEY_CALLER,
      id: FUNCTION_KEY_CALLER,
      authenticated: false,
      roles: [],
    };
    for (const mode of ["auth off", "opt-in", "platform off", "misspelt"] as const)
      expect(callerOf(request(headers), authMode(ENV[mode])), mode).toEqual(anonymous);
    for (const bad of [
      "%%%not-base64-json",
      Buffer.from("[]").toString("base64"),
      Buffer.from('{"claims":"x"}').toString("base64"),
    ])
      expect(callerOf(request({ "x-ms-client-principal": bad }), authMode(ENV["auth on"]))).toEqual(
        anonymous,
      );
  });
});

describe("role × action × authentication (authorize)", () => {
  for (const mode of Object.keys(ENV) as Mode[])
    it(`${mode}: every caller and action as the design says`, () => {
      const m = authMode(ENV[mode]);
      for (const who of WHO)
        for (const action of ACTIONS) {
          const decision = authorize(callerOf(request(headersOf(who)), m), action, m);
          const want = expected(mode, who, action);
          const got = decision.allowed ? "allowed" : [decision.response.status, errorCode(decision.response)];
          expect(got, `${mode} / ${who} / ${action}`).toEqual(want);
          if (!decision.allowed) expect(bodyText(decision.response)).toMatch(/"hint":"[^"]{20,}/);
        }
    });

  it("grants say how the request got through", () => {
    const grant = (mode: Mode, who: Who, action: Action) => {
      const m = authMode(ENV[mode]);
      const d = authorize(callerOf(request(headersOf(who)), m), action, m);
      return d.allowed ? d.grant : undefined;
    };
    expect(grant("auth on", "Admin", "cancel")).toBe("principal");
    expect(grant("auth off", "anonymous", "status")).toBe("function-key");
    expect(grant("opt-in", "anonymous", "force")).toBe("key-only-opt-in");
  });
});

describe("the per-caller dry-run window", () => {
  it("allows the limit per caller, then answers when the next one fits; callers are counted apart", () => {
    let now = 1_000_000;
    const w = perCallerWindow({ requests: 3, perMs: 60_000 }, () => now);
    for (let i = 0; i < 3; i++) {
      expect(w.take("olga")).toBeUndefined();
      now += 1000;
    }
    expect(w.take("olga")).toEqual(new Date(1_000_000 + 60_000));
    expect(w.take("omar")).toBeUndefined();
    now = 1_000_000 + 60_000;
    expect(w.take("olga")).toBeUndefined();
    expect(w.take("olga")).toEqual(new Date(1_001_000 + 60_000));
  });
});

describe("through the handlers on the local stack", () => {
  let h: Harness;
  const bodies: string[] = [];
  const keep = (res: HttpResponseInit) => {
    bodies.push(bodyText(res));
    return res;
  };
  const NOBODY = "no-such-credential";
  const ROTATE_BODY: Partial<Record<Action, object>> = {
    dryRun: { dryRun: true },
    rotate: {},
    force: { force: true },
    rollback: { rollback: true },
    cancel: { cancel: true },
    overrideCooldown: { force: true, overrideCooldown: true },
    compromise: { compromised: true, revokeUnmanaged: true, reason: "leaked" },
  };
  /** One action by one caller: an unknown credential, so an allowed call ends in 404 having changed nothing. */
  const call = async (action: Action, headers: Record<string, string>, id: string) => {
    const { context } = invocation(
      action === "doctor" ? "doctor" : action in ROTATE_BODY ? "rotateCredential" : "getCredential",
      id,
    );
    if (action === "doctor")
      return keep(
        await doctorHttpHandler(
          httpRequest({ method: "GET", route: `doctor?credential=${NOBODY}`, headers }),
          context,
        ),
      );
    if (action === "status" || action === "page")
      return keep(
        await statusHttpHandler(
          httpRequest({
            method: "GET",
            route: `credentials/${NOBODY}`,
            params: { name: NOBODY },
            headers: { ...headers, ...(action === "page" ? { accept: "text/html" } : {}) },
          }),
          context,
        ),
      );
    return keep(
      await rotateHttpHandler(
        httpRequest({
          method: "POST",
          route: `credentials/${NOBODY}/rotate`,
          params: { name: NOBODY },
          headers,
          body: JSON.stringify(ROTATE_BODY[action]),
        }),
        context,
      ),
    );
  };
  const audit = (id: string) => h.events("ManualRotationAudit").find((e) => e.invocationId === id);

  beforeAll(async () => {
    h = await startHarness();
  }, 60_000);

  afterAll(async () => {
    if (!h) return;
    expectNoSecrets(h.stack, [...bodies, ...h.logs]);
    await h.close();
  });

  const runs: [Mode, (f: () => Promise<void>) => Promise<void>][] = [
    ["auth on", withAppServiceAuth],
    ["auth off", (f) => f()],
    ["opt-in", withKeyOnlyWrites],
  ];
  for (const [mode, around] of runs)
    it(`${mode}: refusals change nothing, allowed calls reach the handler`, async () => {
      const before = h.mutations();
      await around(async () => {
        for (const who of WHO)
          for (const action of ACTIONS) {
            const res = await call(action, headersOf(who, `-${mode}`), `m-${mode}-${who}-${action}`);
            const want = expected(mode, who, action);
            const got = want === "allowed" ? res.status : [res.status, errorCode(res)];
            expect(got, `${mode} / ${who} / ${action}`).toEqual(want === "allowed" ? 404 : want);
          }
      });
      expect(h.mutations()).toBe(before);
    });

  it("an operator's dry run is audited with the principal, its roles and how it got through", async () => {
    const res = await withAppServiceAuth(async () =>
      keep(
        await rotateHttpHandler(
          httpRequest({
            method: "POST",
            route: `credentials/${CREDENTIAL}/rotate`,
            params: { name: CREDENTIAL },
            headers: headersOf("Operator", "-audit"),
            body: JSON.stringify({ dryRun: true, reason: "preview" }),
          }),
          invocation("rotateCredential", "inv-operator").context,
        ),
      ),
    );
    expect(res.status).toBe(202);
    expect(audit("inv-operator")).toMatchObject({
      origin: "api",
      action: "dryRun",
      actor: "Operator-audit@contoso.example",
      authenticated: true,
      roles: ["Rotation.Operator"],
      grant: "principal",
    });
  });

  it("without platform authentication a forged admin header cannot force; the local opt-in can, loudly", async () => {
    const forged = headersOf("Admin", "-forged");
    const force = (id: string) =>
      rotateHttpHandler(
        httpRequest({
          method: "POST",
          route: `credentials/${CREDENTIAL}/rotate`,
          params: { name: CREDENTIAL },
          headers: forged,
          body: JSON.stringify({ dryRun: true, force: true }),
        }),
        invocation("rotateCredential", id).context,
      ).then(keep);
    const refused = await force("inv-forged");
    expect([refused.status, errorCode(refused)]).toEqual([403, "AUTH_NOT_CONFIGURED"]);
    expect(bodyText(refused)).toContain("ROTATOR_ALLOW_KEY_ONLY_WRITES");
    expect(audit("inv-forged")).toBeUndefined();

    const allowed = await withKeyOnlyWrites(() => force("inv-opt-in"));
    expect(allowed.status).toBe(202);
    expect(audit("inv-opt-in")).toMatchObject({ actor: FUNCTION_KEY_CALLER, grant: "key-only-opt-in" });
    expect(h.events("KeyOnlyWriteAllowed").some((e) => e.invocationId === "inv-opt-in")).toBe(true);
  });

  it(`limits dry runs to ${DRY_RUN_LIMIT.requests} per caller per minute, with Retry-After`, async () => {
    await withAppServiceAuth(async () => {
      for (let i = 0; i < DRY_RUN_LIMIT.requests; i++)
        expect((await call("dryRun", headersOf("Operator", "-busy"), `dr-${i}`)).status).toBe(404);
      const limited = await call("dryRun", headersOf("Operator", "-busy"), "dr-over");
      expect([limited.status, errorCode(limited)]).toEqual([429, "DRY_RUN_RATE_LIMITED"]);
      const retryAfter = Number((limited.headers as Record<string, string>)["retry-after"]);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(DRY_RUN_LIMIT.perMs / 1000);
      // Another caller is not held up, and a non-dry-run request by the same caller is not counted.
      expect((await call("dryRun", headersOf("Operator", "-other"), "dr-other")).status).toBe(404);
      expect((await call("force", headersOf("Operator", "-busy"), "dr-force")).status).toBe(404);
    });
  });
});
