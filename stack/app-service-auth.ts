/**
 * The local stand-in for App Service Authentication (Easy Auth): the `x-ms-client-principal` header the
 * platform sets for a signed-in caller, base64 JSON {auth_typ, name_typ, role_typ, claims[{typ, val}]}
 * with the token's app roles as `roles` claims
 * (https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities), and the app
 * settings of a deployment that has it: ROTATOR_AUTH_REQUIRED=true (set by infra/app/rotator.bicep) and
 * WEBSITE_AUTH_ENABLED=True (set by the platform).
 */
export function principal(name: string, roles: string[] = [], objectId = "0b1c2d3e"): string {
  return Buffer.from(
    JSON.stringify({
      auth_typ: "aad",
      name_typ: "name",
      role_typ: "roles",
      claims: [
        { typ: "name", val: name },
        { typ: "http://schemas.microsoft.com/identity/claims/objectidentifier", val: objectId },
        ...roles.map((val) => ({ typ: "roles", val })),
      ],
    }),
  ).toString("base64");
}

export const APP_SERVICE_AUTH_SETTINGS = { ROTATOR_AUTH_REQUIRED: "true", WEBSITE_AUTH_ENABLED: "True" };
