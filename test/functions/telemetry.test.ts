/**
 * Telemetry with in-memory exporters in place of Azure Monitor: a forced rotation over HTTP, a drift check
 * and a status read on the local stack must produce the metrics, the spans of the Key Vault, Graph, token
 * endpoint and Kong calls, and the structured log records / custom events, none of them holding a secret.
 * Without a connection string telemetry starts nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { context, metrics, trace } from "@opentelemetry/api";
import { logs } from "@opentelemetry/api-logs";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from "@opentelemetry/sdk-metrics";
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import { CREDENTIAL } from "../../stack/stack.js";
import { hygieneProcessors, installHygieneProviders } from "../chaos/hygiene-otel.js";
import { generateRsaJwk } from "../../stack/kong/seed.js";
import { createRuntime } from "../../src/app/runtime.js";
import { parseConfig } from "../../src/config/load.js";
import { otelLogger } from "../../src/log/otel.js";
import { CUSTOM_EVENTS, parseAuthenticationString, startAzureMonitor } from "../../src/telemetry/azure.js";
import { INSTRUMENTATION_NAME, resetMetricState } from "../../src/telemetry/metrics.js";
import { setFunctionsRuntime } from "../../src/functions/runtime.js";
import { rotateHttpHandler } from "../../src/functions/rotateHttp.js";
import { statusHttpHandler } from "../../src/functions/statusHttp.js";
import { syncCheckTimerHandler } from "../../src/functions/syncCheckTimer.js";
import {
  clientPrincipal,
  expectNoSecrets,
  httpRequest,
  invocation,
  startHarness,
  timerInfo,
  withAppServiceAuth,
  type Harness,
} from "./harness.js";

let h: Harness;
const spans = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({
  exporter: metricExporter,
  exportIntervalMillis: 3_600_000,
});
const logRecords = new InMemoryLogRecordExporter();

beforeAll(async () => {
  // In place of the secret-hygiene capture's providers, with its processors kept (test/chaos/hygiene-otel.ts).
  const hygiene = hygieneProcessors();
  trace.disable();
  logs.disable();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans), ...hygiene.spans] }),
  );
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  logs.setGlobalLoggerProvider(
    new LoggerProvider({
      processors: [new SimpleLogRecordProcessor({ exporter: logRecords }), ...hygiene.logs],
    }),
  );
  resetMetricState();
  h = await startHarness();
  // The runtime as the Functions build it with telemetry on: log records instead of JSON lines. Drift is
  // reported, not re-applied, so that the drift gauge has something to show.
  setFunctionsRuntime(
    createRuntime({
      config: parseConfig({ ...h.stack.config, sync: { reapplyOnDrift: false } }),
      env: h.stack.env,
      logger: otelLogger({ name: INSTRUMENTATION_NAME, customEvents: CUSTOM_EVENTS }),
    }),
  );
}, 60_000);

afterAll(async () => {
  await h.close();
  trace.disable();
  metrics.disable();
  logs.disable();
  context.disable();
  resetMetricState();
  installHygieneProviders();
});

async function collected(): Promise<MetricData[]> {
  await reader.forceFlush();
  const all = metricExporter.getMetrics();
  return all.at(-1)?.scopeMetrics.flatMap((s) => s.metrics) ?? [];
}

const points = (ms: MetricData[], name: string) =>
  ms
    .find((m) => m.descriptor.name === name)
    ?.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value })) ?? [];

describe("telemetry on the local stack", () => {
  it("a forced rotation, a drift check and a status read produce metrics, spans and events without secrets", async () => {
    const rotate = await withAppServiceAuth(() =>
      rotateHttpHandler(
        httpRequest({
          method: "POST",
          route: `credentials/${CREDENTIAL}/rotate`,
          params: { name: CREDENTIAL },
          headers: {
            "x-ms-client-principal": clientPrincipal("olga@contoso.example", ["Rotation.Operator"]),
          },
          body: JSON.stringify({ force: true, reason: "telemetry test" }),
        }),
        invocation("rotateCredential").context,
      ),
    );
    expect(rotate.status).toBe(202);
    expect((rotate.jsonBody as { outcome: string }).outcome).toBe("ok");

    // Another writer replaces our client's JWK in Kong; the drift check sees it.
    const [partner] = h.stack.kong.getPlugin(h.stack.pluginId)!.config.client_jwk as Record<
      string,
      unknown
    >[];
    const patched = await fetch(`${h.stack.kong.url}/plugins/${h.stack.pluginId}`, {
      method: "PATCH",
      headers: { "content-type": "application/json", "kong-admin-token": h.stack.env.KONG_ADMIN_TOKEN! },
      body: JSON.stringify({
        config: { client_jwk: [partner, generateRsaJwk({ alg: "PS256", kid: "hand-pasted-key" })] },
      }),
    });
    expect(patched.status).toBe(200);
    await syncCheckTimerHandler(timerInfo(), invocation("syncCheckTimer").context);
    const status = await statusHttpHandler(
      httpRequest({ method: "GET", route: "credentials" }),
      invocation("listCredentials").context,
    );
    expect(status.status).toBe(200);

    // ---- metrics ----
    const ms = await collected();
    expect(points(ms, "rotator.rotations")).toContainEqual({
      attributes: { credential: CREDENTIAL, outcome: "ok", trigger: "http" },
      value: 1,
    });
    const steps = ms.find((m) => m.descriptor.name === "rotator.step.duration");
    expect(steps?.descriptor.unit).toBe("ms");
    expect(steps?.dataPoints.map((p) => p.attributes.action)).toEqual(
      expect.arrayContaining(["create", "publish", "verify", "activate"]),
    );
    const days = points(ms, "rotator.key.days_to_expiry");
    expect(days).toHaveLength(1);
    expect(days[0]!.attributes).toEqual({ credential: CREDENTIAL });
    // The stack's policy issues certificates valid for months; the fresh key is days from expiry, not past it.
    expect(days[0]!.value as number).toBeGreaterThan(1);
    const targets = h.rt.config.credentials[0]!.kong.map((k) => k.name);
    expect(targets).toHaveLength(1);
    expect(points(ms, "rotator.target.drift")).toEqual([
      { attributes: { credential: CREDENTIAL, target: targets[0] }, value: 1 },
    ]);
    expect(points(ms, "rotator.requests.pending")).toEqual([
      { attributes: { credential: CREDENTIAL }, value: 0 },
    ]);

    // ---- spans ----
    const finished = spans.getFinishedSpans();
    const ops = new Set(
      finished.map(
        (s) => `${String(s.attributes["rotator.dependency"])} ${String(s.attributes["rotator.operation"])}`,
      ),
    );
    for (const op of [
      "keyvault createVersion",
      "keyvault listVersions",
      "keyvault readPem",
      "keyvault updateVersion",
      "keyvault sign",
      "idp listKeys",
      "idp verify",
      "kong inspect",
      "kong apply",
    ])
      expect(ops, op).toContain(op);
    expect(
      finished.some(
        (s) =>
          s.attributes["rotator.dependency"] === "idp" &&
          s.attributes["rotator.idp"] === "entra" &&
          s.attributes["rotator.operation"] === "register",
      ),
    ).toBe(true);
    for (const s of finished) {
      expect(s.attributes["rotator.credential"]).toBe(CREDENTIAL);
      for (const v of Object.values(s.attributes)) expect(String(v)).not.toMatch(/https?:|\/\//);
    }

    // ---- log records: structured, the run and alert outcomes as custom events ----
    const records = logRecords.getFinishedLogRecords();
    const run = records.find((r) => r.attributes.event === "RotationRun" && r.attributes.outcome === "ok");
    expect(run?.attributes).toMatchObject({
      credential: CREDENTIAL,
      "microsoft.custom_event.name": "RotationRun",
    });
    const drift = records.find(
      (r) => r.attributes.event === "KeySyncDrift" && r.attributes.status === "firing",
    );
    expect(drift?.attributes).toMatchObject({
      credential: CREDENTIAL,
      target: targets[0],
      code: "KONG_DRIFT",
      "microsoft.custom_event.name": "KeySyncDrift",
    });
    const step = records.find((r) => r.attributes.event === "RotationStep");
    expect(step?.attributes["microsoft.custom_event.name"]).toBeUndefined();
    expect(typeof step?.attributes.durationMs).toBe("number");

    // ---- nothing secret anywhere ----
    expectNoSecrets(h.stack, [
      JSON.stringify(
        finished.map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events })),
      ),
      JSON.stringify(metricExporter.getMetrics()),
      JSON.stringify(records.map((r) => ({ body: r.body, attributes: r.attributes }))),
    ]);
  });

  it("reports a pending manual request when the status carries one", async () => {
    const { recordStatus } = await import("../../src/telemetry/metrics.js");
    recordStatus(
      { credential: "other", generations: [], targets: [], request: { at: new Date().toISOString() } },
      new Date(),
    );
    expect(points(await collected(), "rotator.requests.pending")).toContainEqual({
      attributes: { credential: "other" },
      value: 1,
    });
  });
});

describe("telemetry configuration", () => {
  it("starts nothing without APPLICATIONINSIGHTS_CONNECTION_STRING", async () => {
    expect(await startAzureMonitor({})).toBeUndefined();
    expect(
      await startAzureMonitor({ APPLICATIONINSIGHTS_AUTHENTICATION_STRING: "Authorization=AAD" }),
    ).toBeUndefined();
  });

  it("reads the Entra authentication string the host uses", () => {
    expect(parseAuthenticationString("ClientId=1234;Authorization=AAD")).toEqual({ clientId: "1234" });
    expect(parseAuthenticationString("Authorization=AAD")).toEqual({});
    expect(parseAuthenticationString(undefined)).toBeUndefined();
    expect(parseAuthenticationString("Authorization=None")).toBeUndefined();
  });
});
