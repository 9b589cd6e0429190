/**
 * Calling the Azure Function handlers the way the Functions host does (outside the host the
 * @azure/functions package runs in test mode and handlers are plain functions), with every response
 * and context log line captured for the hygiene check.
 */
import azureFunctions, { type HttpResponseInit, type Timer } from "@azure/functions";
import type { Capture } from "./capture.js";
import { APP_SERVICE_AUTH_SETTINGS } from "../../stack/app-service-auth.js";

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

/** App Service authentication's principal header (the local stack's stand-in for the platform). */
export { principal } from "../../stack/app-service-auth.js";

/** Run `fn` with these environment variables, restoring them afterwards. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(before))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

/**
 * Run `fn` as deployed by infra/app/rotator.bicep with App Service authentication: ROTATOR_AUTH_REQUIRED
 * (the Bicep's setting) and WEBSITE_AUTH_ENABLED=True (the platform's).
 */
export function withAppServiceAuth<T>(fn: () => Promise<T>): Promise<T> {
  return withEnv(APP_SERVICE_AUTH_SETTINGS, fn);
}

/** Run `fn` as a local development setup does: no platform authentication, the key-only opt-in set. */
export function withKeyOnlyWrites<T>(fn: () => Promise<T>): Promise<T> {
  return withEnv({ ROTATOR_ALLOW_KEY_ONLY_WRITES: "true" }, fn);
}
