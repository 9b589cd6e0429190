/**
 * The Function App entry's telemetry start-up, configured as in Azure (connection string, Entra
 * authentication string, statsbeat off as infra/app/rotator.bicep sets it): it registers the SDK providers
 * and makes no network connection while doing so. Its own file: it registers the global providers.
 */
import net from "node:net";
import { afterAll, describe, expect, it, vi } from "vitest";
import { context, metrics, trace } from "@opentelemetry/api";
import { logs } from "@opentelemetry/api-logs";
import { installHygieneProviders } from "../chaos/hygiene-otel.js";

const ENV = {
  APPLICATIONINSIGHTS_CONNECTION_STRING:
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:9/",
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING:
    "ClientId=11111111-1111-1111-1111-111111111111;Authorization=AAD",
  APPLICATION_INSIGHTS_NO_STATSBEAT: "true",
};

afterAll(() => {
  vi.unstubAllEnvs();
  trace.disable();
  metrics.disable();
  logs.disable();
  context.disable();
  installHygieneProviders();
});

describe("telemetry start-up in the Function App", () => {
  it("registers the OpenTelemetry providers without any network connection", async () => {
    for (const [k, v] of Object.entries(ENV)) vi.stubEnv(k, v);
    // The start-up registers the global providers itself: none may be registered before it.
    trace.disable();
    logs.disable();
    const connect = vi.spyOn(net.Socket.prototype, "connect");
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    try {
      const { telemetry } = await import("../../src/functions/telemetry.js");
      expect(await telemetry).toBeDefined();
      expect(metrics.getMeterProvider().constructor.name).toBe("MeterProvider");
      trace.getTracer("startup-test").startSpan("probe").end();
      expect(connect).not.toHaveBeenCalled();
    } finally {
      connect.mockRestore();
      log.mockRestore();
    }
  });
});
