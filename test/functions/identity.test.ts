/**
 * Identity on the HTTP functions, through the exported handlers on the local stack: the caller's
 * principal is trusted only when App Service authentication is on (WEBSITE_AUTH_ENABLED=True, set by the
 * platform), and then a manual rotation needs the Rotation.Operator app role.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HttpResponseInit } from "@azure/functions";
import { CREDENTIAL } from "../../stack/stack.js";
import { callerOf, FUNCTION_KEY_CALLER } from "../../src/functions/http.js";
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
  type Harness,
} from "./harness.js";

let h: Harness;
const bodies: string[] = [];

beforeAll(async () => {
  h = await startHarness();
}, 60_000);

afterAll(async () => {
  expectNoSecrets(h.stack, [...bodies, ...h.logs]);
  await h.close();
});

const keep = (res: HttpResponseInit): HttpResponseInit => {
  bodies.push(bodyText(res));
  return res;
};

const dryRun = async (headers: Record<string, string>, id: string) =>
  keep(
    await rotateHttpHandler(
      httpRequest({
        method: "POST",
        route: `credentials/${CREDENTIAL}/rotate`,
        params: { name: CREDENTIAL },
        headers,
        body: JSON.stringify({ dryRun: true, reason: "identity test" }),
      }),
      invocation("rotateCredential", id).context,
    ),
  );

const list = async (headers: Record<string, string>) =>
  keep(
    await statusHttpHandler(
      httpRequest({ method: "GET", route: "credentials", headers }),
      invocation("listCredentials").context,
    ),
  );

const errorCode = (res: HttpResponseInit) =>
  (JSON.parse(bodyText(res)) as { error?: { code: string } }).error?.code;

const auditActor = (id: string) => h.events("ManualRotationAudit").find((e) => e.invocationId === id)?.actor;

describe("callerOf", () => {
  const req = (headers: Record<string, string>) =>
    httpRequest({ method: "GET", route: "credentials", headers });

  it("ignores every principal header unless App Service authentication is enabled", () => {
    const headers = {
      "x-ms-client-principal": clientPrincipal("alice@contoso.example", ["Rotation.Operator"]),
      "x-ms-client-principal-name": "alice@contoso.example",
    };
    for (const env of [{}, { WEBSITE_AUTH_ENABLED: "False" }, { WEBSITE_AUTH_ENABLED: "" }])
      expect(callerOf(req(headers), env)).toEqual({
        actor: FUNCTION_KEY_CALLER,
        authenticated: false,
        roles: [],
        authEnabled: env.WEBSITE_AUTH_ENABLED === "True",
      });
  });

  it("decodes the platform's principal with its app roles when authentication is enabled", () => {
    const env = { WEBSITE_AUTH_ENABLED: "True" };
    expect(
      callerOf(
        req({ "x-ms-client-principal": clientPrincipal("alice@contoso.example", ["Rotation.Operator"]) }),
        env,
      ),
    ).toEqual({
      actor: "alice@contoso.example",
      authenticated: true,
      roles: ["Rotation.Operator"],
      authEnabled: true,
    });
    // A header that does not decode to a principal with claims is no identity.
    for (const bad of [
      "%%%not-base64-json",
      Buffer.from("[]").toString("base64"),
      Buffer.from('{"claims":"x"}').toString("base64"),
    ])
      expect(callerOf(req({ "x-ms-client-principal": bad }), env).authenticated).toBe(false);
  });
});

describe("with App Service authentication enabled", () => {
  it("refuses a manual rotation without a signed-in caller (401) or without the operator role (403)", async () => {
    const before = h.mutations();
    await withAppServiceAuth(async () => {
      const anonymous = await dryRun({}, "inv-anon");
      expect(anonymous.status).toBe(401);
      expect(errorCode(anonymous)).toBe("AUTHENTICATION_REQUIRED");

      const garbled = await dryRun({ "x-ms-client-principal": "%%%garbled" }, "inv-garbled");
      expect(garbled.status).toBe(401);

      const reader = await dryRun(
        { "x-ms-client-principal": clientPrincipal("rita@contoso.example", ["Rotation.Reader"]) },
        "inv-reader",
      );
      expect(reader.status).toBe(403);
      expect(errorCode(reader)).toBe("ROLE_REQUIRED");
      expect(bodyText(reader)).toContain("Rotation.Operator");
    });
    expect(h.mutations()).toBe(before);
    for (const id of ["inv-anon", "inv-garbled", "inv-reader"]) expect(auditActor(id)).toBeUndefined();
  });

  it("lets an operator rotate and audits the principal's name", async () => {
    const res = await withAppServiceAuth(() =>
      dryRun(
        { "x-ms-client-principal": clientPrincipal("olga@contoso.example", ["Rotation.Operator"]) },
        "inv-operator",
      ),
    );
    expect(res.status).toBe(202);
    expect(h.events("ManualRotationAudit").find((e) => e.invocationId === "inv-operator")).toMatchObject({
      actor: "olga@contoso.example",
      authenticated: true,
    });
  });

  it("reads need the function key only, or a reader/operator role when a principal is present", async () => {
    await withAppServiceAuth(async () => {
      expect((await list({})).status).toBe(200);
      expect(
        (
          await list({
            "x-ms-client-principal": clientPrincipal("rita@contoso.example", ["Rotation.Reader"]),
          })
        ).status,
      ).toBe(200);
      const noRole = await list({ "x-ms-client-principal": clientPrincipal("nobody@contoso.example") });
      expect(noRole.status).toBe(403);
      expect(errorCode(noRole)).toBe("ROLE_REQUIRED");
      const doctor = keep(
        await doctorHttpHandler(
          httpRequest({
            method: "GET",
            route: "doctor",
            headers: { "x-ms-client-principal": clientPrincipal("nobody@contoso.example") },
          }),
          invocation("doctor").context,
        ),
      );
      expect(doctor.status).toBe(403);
    });
  });
});
