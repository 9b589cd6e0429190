/**
 * Calling the Azure Function handlers the way the Functions host does (outside the host the
 * @azure/functions package runs in test mode and handlers are plain functions), with every response
 * and context log line captured for the hygiene check.
 */
import azureFunctions, { type HttpResponseInit, type Timer } from "@azure/functions";
import type { Capture } from "./capture.js";

// @azure/functions is CommonJS; its classes are reachable from ESM through the default export only.
const { HttpRequest, InvocationContext } = azureFunctions;

export function context(
  name: string,
  capture: Capture,
  lines?: string[],
): InstanceType<typeof InvocationContext> {
  return new InvocationContext({
    functionName: name,
    invocationId: `chaos-${Math.random().toString(36).slice(2, 10)}`,
    logHandler: (_level, ...args) => {
      const line = args.map(String).join(" ");
      capture.add("function-context-log", line);
      lines?.push(line);
    },
  });
}

export function httpRequest(opts: {
  method: string;
  path: string;
  params?: Record<string, string>;
  body?: string;
  headers?: Record<string, string>;
}): InstanceType<typeof HttpRequest> {
  return new HttpRequest({
    method: opts.method,
    url: `http://localhost:7071${opts.path}`,
    params: opts.params ?? {},
    headers: { "content-type": "application/json", ...(opts.headers ?? {}) },
    ...(opts.body !== undefined ? { body: { string: opts.body } } : {}),
  });
}

export function captureResponse(r: HttpResponseInit, capture: Capture): HttpResponseInit {
  capture.add(
    "http-response",
    JSON.stringify({ status: r.status, headers: r.headers, body: r.jsonBody ?? r.body }),
  );
  return r;
}

export const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: "", next: "", lastUpdated: "" },
};

/**
 * An `x-ms-client-principal` value as App Service authentication (Entra provider) sets it: base64 JSON with
 * auth_typ, name_typ, role_typ and the token's claims, app roles as `roles` claims
 * (https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities). The HTTP
 * functions trust it only when WEBSITE_AUTH_ENABLED=True (see withAppServiceAuth).
 */
export function principal(name: string, roles: string[] = []): string {
  return Buffer.from(
    JSON.stringify({
      auth_typ: "aad",
      name_typ: "name",
      role_typ: "roles",
      claims: [
        { typ: "name", val: name },
        { typ: "http://schemas.microsoft.com/identity/claims/objectidentifier", val: "0b1c2d3e" },
        ...roles.map((val) => ({ typ: "roles", val })),
      ],
    }),
  ).toString("base64");
}

/** Run `fn` as if App Service authentication were on (the platform sets WEBSITE_AUTH_ENABLED=True). */
export async function withAppServiceAuth<T>(fn: () => Promise<T>): Promise<T> {
  const before = process.env.WEBSITE_AUTH_ENABLED;
  process.env.WEBSITE_AUTH_ENABLED = "True";
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.WEBSITE_AUTH_ENABLED;
    else process.env.WEBSITE_AUTH_ENABLED = before;
  }
}
