/**
 * Shared set-up for the Azure Functions handler tests: one local stack per test file, a runtime built
 * from the stack's config and environment (with a capturing logger), injected with setFunctionsRuntime,
 * and helpers to build the host's request/context/timer objects the way the Functions host would.
 * Outside the host @azure/functions runs in test mode: handlers are plain functions.
 */
import { expect } from "vitest";
import { HttpRequest, InvocationContext, type HttpResponseInit, type Timer } from "@azure/functions";
import { startLocalStack, CREDENTIAL, type LocalStack } from "../../stack/stack.js";
import { parseConfig } from "../../src/config/load.js";
import { createRuntime, type Runtime } from "../../src/app/runtime.js";
import { jsonLogger } from "../../src/log/logger.js";
import { setFunctionsRuntime } from "../../src/functions/runtime.js";
import { rotationPoisonHandler, rotationWorkHandler } from "../../src/functions/rotationQueue.js";
import { POISON_QUEUE, WORK_QUEUE } from "../../src/adapters/queue/names.js";
import { startQueueHost, type QueueHost } from "../../stack/queue-host.js";

export const CERT_NAME = `kong-${CREDENTIAL}`;

export interface Harness {
  stack: LocalStack;
  rt: Runtime;
  /** Every line the runtime's logger wrote (JSON lines). */
  logs: string[];
  /** Log lines with the given event name, parsed. */
  events(event: string): Record<string, unknown>[];
  /** Requests to Key Vault, Graph and the Kong Admin API that could change state (non-GET). */
  mutations(): number;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const stack = await startLocalStack({
    policy: {
      verifyInterval: "PT0.2S",
      verifyConsecutive: 2,
      verifyTimeout: "PT30S",
      overlap: "PT2S",
      forceCooldown: "PT0S",
    },
    propagationDelayMs: 500,
  });
  const logs: string[] = [];
  const rt = createRuntime({
    config: parseConfig(stack.config),
    env: stack.env,
    logger: jsonLogger((line) => logs.push(line), "debug"),
  });
  setFunctionsRuntime(rt);
  return {
    stack,
    rt,
    logs,
    events: (event) =>
      logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === event),
    mutations: () =>
      [...stack.keyVault.requests, ...stack.entra.graph.requests, ...stack.kong.requests].filter(
        (r) => r.method !== "GET",
      ).length,
    async close() {
      setFunctionsRuntime(undefined);
      await stack.close();
    },
  };
}

/** An InvocationContext whose context.log lines are captured. */
export function invocation(
  functionName: string,
  invocationId = `inv-${Math.random().toString(36).slice(2, 10)}`,
): {
  context: InvocationContext;
  lines: string[];
} {
  const lines: string[] = [];
  const context = new InvocationContext({
    invocationId,
    functionName,
    logHandler: (_level, ...args) => lines.push(args.map(String).join(" ")),
  });
  return { context, lines };
}

export function timerInfo(isPastDue = false): Timer {
  const now = new Date().toISOString();
  return {
    isPastDue,
    schedule: { adjustForDST: false },
    scheduleStatus: { last: now, next: now, lastUpdated: now },
  };
}

export function httpRequest(init: {
  method: "GET" | "POST";
  route: string;
  params?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
}): HttpRequest {
  return new HttpRequest({
    method: init.method,
    url: `http://localhost:7071/api/${init.route}`,
    params: init.params ?? {},
    headers: init.headers ?? {},
    ...(init.body === undefined ? {} : { body: { string: init.body } }),
  });
}

/** The response body as the host would serialise it. */
export function bodyText(res: HttpResponseInit): string {
  if (res.jsonBody !== undefined) return JSON.stringify(res.jsonBody);
  return typeof res.body === "string" ? res.body : "";
}

/**
 * Secret hygiene: nothing in `texts` holds a private member of any JWK currently in the Kong plugin's
 * client_jwk, the Kong admin token, the service's client secret, a PEM private key or a JWT.
 */
export function expectNoSecrets(stack: LocalStack, texts: string[]): void {
  const jwks = (stack.kong.getPlugin(stack.pluginId)?.config.client_jwk ?? []) as Record<string, unknown>[];
  const privates = jwks
    .flatMap((j) => ["d", "p", "q", "dp", "dq", "qi"].map((m) => j[m]))
    .filter((v): v is string => typeof v === "string");
  expect(privates.length).toBeGreaterThan(0);
  const secrets = [...privates, stack.env.KONG_ADMIN_TOKEN!, stack.env.AZURE_CLIENT_SECRET!];
  for (const text of texts) {
    for (const s of secrets) expect(text.includes(s), "a secret appears in output").toBe(false);
    expect(text).not.toMatch(/PRIVATE KEY|eyJ[A-Za-z0-9_-]{10,}\./);
  }
}

/** App Service authentication's principal header, and running with it on: one implementation, in chaos/lib. */
export {
  principal as clientPrincipal,
  withAppServiceAuth,
  withKeyOnlyWrites,
} from "../../chaos/lib/functions.js";

/**
 * The queue-triggered functions driven as the Functions host would (stack/queue-host.ts) against the
 * stack's Azurite queues: the work queue with rotationWork, its poison queue with rotationPoison.
 * Invocation log lines are collected in `lines`.
 */
export async function startQueueWorkers(
  stack: LocalStack,
  options: { maxDequeueCount?: number; batchSize?: number } = {},
): Promise<{ work: QueueHost; poison: QueueHost; lines: string[]; stop(): Promise<void> }> {
  const lines: string[] = [];
  const invoke =
    (name: string, handler: (m: unknown, c: InvocationContext) => Promise<void>) =>
    async (message: unknown, meta: { id: string; dequeueCount: number }) => {
      const context = new InvocationContext({
        invocationId: meta.id,
        functionName: name,
        triggerMetadata: { dequeueCount: meta.dequeueCount },
        logHandler: (_level, ...args) => lines.push(args.map(String).join(" ")),
      });
      await handler(message, context);
    };
  const common = {
    connectionString: stack.env.AzureWebJobsStorage!,
    maxPollingIntervalMs: 200,
    ...(options.maxDequeueCount ? { maxDequeueCount: options.maxDequeueCount } : {}),
    ...(options.batchSize ? { batchSize: options.batchSize } : {}),
  };
  const work = await startQueueHost({
    ...common,
    queueName: WORK_QUEUE,
    handler: invoke("rotationWork", rotationWorkHandler),
  });
  const poison = await startQueueHost({
    ...common,
    queueName: POISON_QUEUE,
    handler: invoke("rotationPoison", rotationPoisonHandler),
  });
  return {
    work,
    poison,
    lines,
    async stop() {
      await Promise.all([work.stop(), poison.stop()]);
    },
  };
}
