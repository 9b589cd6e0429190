/**
 * The HTTP API's side of the infrastructure (docs/permissions.md, "The HTTP API"): the app roles of the
 * registration manifest are the code's roles; the Bicep deploys App Service authentication and the
 * "auth required" setting on one condition and requires a sign-in; no key is an output and no document
 * puts a key in a URL or hands out a host key; the operator's Key Vault roles cannot write tags.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ROLES } from "../../src/functions/auth.js";

const ROOT = join(import.meta.dirname, "..", "..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

interface AppRole {
  allowedMemberTypes: string[];
  description: string;
  displayName: string;
  id: string;
  isEnabled: boolean;
  value: string;
}

describe("the registration manifest (infra/auth/app-roles.json)", () => {
  const roles = JSON.parse(read("infra/auth/app-roles.json")) as AppRole[];

  it("declares exactly the code's roles, enabled, for users and applications, with fixed distinct ids", () => {
    expect(roles.map((r) => r.value)).toEqual([...ROLES]);
    for (const r of roles) {
      expect(r.isEnabled, r.value).toBe(true);
      expect([...r.allowedMemberTypes].sort(), r.value).toEqual(["Application", "User"]);
      expect(r.id, r.value).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(r.description.length, r.value).toBeGreaterThan(10);
    }
    expect(new Set(roles.map((r) => r.id)).size).toBe(roles.length);
  });
});

describe("the registration in Bicep (infra/auth/app-registration.bicep)", () => {
  const code = read("infra/auth/app-registration.bicep").replace(/\/\/.*$/gm, "");

  it("declares the app roles from the manifest, v2 access tokens, and role assignment required", () => {
    expect(code).toMatch(/^extension microsoftGraphV1$/m);
    expect(code).toMatch(/resource api 'Microsoft\.Graph\/applications@v1\.0'/);
    expect(code).toMatch(/appRoles: loadJsonContent\('app-roles\.json'\)/);
    expect(code).toMatch(/requestedAccessTokenVersion: 2/);
    expect(code).toMatch(/signInAudience: 'AzureADMyOrg'/);
    expect(code).toMatch(/'\$\{functionAppUrl\}\/\.auth\/login\/aad\/callback'/);
    const principal = code.slice(code.indexOf("'Microsoft.Graph/servicePrincipals@v1.0'"));
    expect(principal).toMatch(/appId: api\.appId/);
    expect(principal).toMatch(/appRoleAssignmentRequired: true/);
    expect(code).toMatch(/output AUTH_CLIENT_ID string = api\.appId/);
  });

  it("pins the Graph extension's version beside it, and main.bicep does not deploy it", () => {
    const config = JSON.parse(read("infra/auth/bicepconfig.json")) as { extensions: Record<string, string> };
    expect(config.extensions.microsoftGraphV1).toMatch(
      /^br:mcr\.microsoft\.com\/bicep\/extensions\/microsoftgraph\/v1\.0:\d+\.\d+\.\d+$/,
    );
    expect(read("infra/main.bicep")).not.toMatch(/app-registration\.bicep/);
  });
});

describe("App Service authentication in infra/app/rotator.bicep", () => {
  const bicep = read("infra/app/rotator.bicep");
  const code = bicep.replace(/\/\/.*$/gm, "");

  it("sets ROTATOR_AUTH_REQUIRED on the very condition that deploys authsettingsV2", () => {
    expect(code).toMatch(/var authRequired = !empty\(authClientId\)/);
    expect(code).toMatch(/ROTATOR_AUTH_REQUIRED: authRequired \? 'true' : 'false'/);
    expect(code).toMatch(/resource auth 'config' = if \(authRequired\) \{\s*name: 'authsettingsV2'/);
    // Nothing else decides either of them.
    expect(code.match(/ROTATOR_AUTH_REQUIRED/g)).toHaveLength(1);
    expect(code.match(/authsettingsV2/g)).toHaveLength(1);
  });

  it("requires a sign-in for every request and sends browsers to Entra", () => {
    const auth = code.slice(code.indexOf("name: 'authsettingsV2'"));
    expect(auth).toMatch(/requireAuthentication: true/);
    expect(auth).toMatch(/unauthenticatedClientAction: 'RedirectToLoginPage'/);
    expect(auth).toMatch(/redirectToProvider: 'azureactivedirectory'/);
    expect(auth).not.toMatch(/AllowAnonymous/);
  });

  it("never sets the local-development opt-in anywhere in infra/", () => {
    for (const f of readdirSync(join(ROOT, "infra"), { recursive: true, encoding: "utf8" }))
      if (/\.(bicep|json|sh)$/.test(f))
        expect(read(join("infra", f)).replace(/(\/\/|#).*$/gm, ""), f).not.toMatch(/KEY_ONLY_WRITES/);
  });
});

describe("keys", () => {
  it("no Bicep output is a key, and the rotate function's name is the one the code registers", () => {
    const main = read("infra/main.bicep");
    const outputs = main.split("\n").filter((l) => l.startsWith("output "));
    for (const o of outputs)
      expect(o, o).not.toMatch(/listKeys|listkeys|functionKeys|masterKey|host\/default/i);
    expect(main).toMatch(/^output ROTATOR_ROTATE_FUNCTION string = 'rotateCredential'$/m);
    expect(read("src/functions/rotateHttp.ts")).toMatch(/app\.http\("rotateCredential",/);
  });

  it("no document puts a key in a URL or hands out a host key", () => {
    const docs = [
      "README.md",
      ...["docs", "infra"].flatMap((d) =>
        readdirSync(join(ROOT, d), { recursive: true, encoding: "utf8" })
          .filter((f) => f.endsWith(".md"))
          .map((f) => relative(ROOT, join(ROOT, d, f))),
      ),
    ];
    expect(docs.length).toBeGreaterThan(10);
    for (const doc of docs) {
      const text = read(doc);
      expect(text, doc).not.toMatch(/[?&]code=/);
      expect(text, doc).not.toMatch(
        /az functionapp keys list|functionKeys\.default|\/host\/default\/listkeys/i,
      );
    }
  });
});

describe("the operator's Key Vault roles (infra/app/rbac.bicep)", () => {
  const rbac = read("infra/app/rbac.bicep");
  const roleIds = Object.fromEntries(
    [...rbac.matchAll(/^\s+(\w+): '([0-9a-f-]{36})'/gm)].map((m) => [m[1]!, m[2]!]),
  );
  const operatorRoles = /var operatorVaultRoles = \[([^\]]*)\]/
    .exec(rbac)![1]!
    .trim()
    .split(/\s+/)
    .map((r) => roleIds[r.replace(/^roles\./, "")]);

  it("read metadata, and neither write tags nor sign", () => {
    // Built-in role ids: https://learn.microsoft.com/azure/key-vault/general/rbac-guide
    const READER = "21090545-7ca7-4776-b22c-e363652d74d2";
    const CERTIFICATES_OFFICER = "a4417e6f-fecd-4de8-b567-7b0420556985";
    const CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424";
    const ADMINISTRATOR = "00482a5a-887f-4fb3-b363-3b7fe8e74483";
    expect(operatorRoles).toContain(READER);
    for (const forbidden of [CERTIFICATES_OFFICER, CRYPTO_USER, ADMINISTRATOR])
      expect(operatorRoles).not.toContain(forbidden);
    expect(operatorRoles.every((r) => r !== undefined)).toBe(true);
  });
});
