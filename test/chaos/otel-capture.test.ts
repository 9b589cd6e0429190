/**
 * The hygiene suite's OpenTelemetry capture (./hygiene-otel.ts) sees what an exporter would send: span
 * attributes, status and events, and log records. And the production logger for Application Insights
 * (src/log/otel.ts) leaks nothing the JSON logger would not: a JWK-shaped object without `kty` is redacted
 * by the final text redaction, as in every sink.
 */
import { generateKeyPairSync } from "node:crypto";
import { expect, it } from "vitest";
import { LoggerProvider } from "@opentelemetry/sdk-logs";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { logs } from "@opentelemetry/api-logs";
import { findLeaks } from "../../chaos/lib/capture.js";
import { otelLogger } from "../../src/log/otel.js";
import { hygieneProcessors, installHygieneProviders, logProcessor, spanProcessor } from "./hygiene-otel.js";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = privateKey.export({ format: "jwk" });
const secrets = new Map([[jwk.d!, "private-jwk-member"]]);

it("captures span attributes, status and events, and log records", () => {
  const seen: { channel: string; text: string }[] = [];
  const capture = (channel: string, text: string) => void seen.push({ channel, text });
  const tracer = new BasicTracerProvider({ spanProcessors: [spanProcessor(capture)] }).getTracer("t");
  const span = tracer.startSpan("kong apply", { attributes: { "rotator.target": "local" } });
  span.addEvent("retry", { "leaked.in.event": jwk.d! });
  span.setStatus({ code: 2, message: "KONG_UNAVAILABLE" });
  span.end();
  new LoggerProvider({ processors: [logProcessor(capture)] })
    .getLogger("t")
    .emit({ body: "RotationStep", attributes: { step: "create", planted: jwk.d! } });

  expect(seen.map((s) => s.channel)).toEqual(["otel-span", "otel-log"]);
  expect(JSON.parse(seen[0]!.text)).toMatchObject({
    name: "kong apply",
    attributes: { "rotator.target": "local" },
    status: { code: 2, message: "KONG_UNAVAILABLE" },
    events: [{ name: "retry" }],
  });
  // A secret planted in a span event or a log attribute is found by the suite's detector.
  for (const s of seen) expect(findLeaks(s.channel, s.text, secrets).length).toBeGreaterThan(0);
});

it("the production OpenTelemetry logger redacts a JWK-shaped object without kty", () => {
  const seen: string[] = [];
  logs.disable();
  logs.setGlobalLoggerProvider(
    new LoggerProvider({
      processors: [logProcessor((_c, text) => void seen.push(text)), ...hygieneProcessors().logs],
    }),
  );
  try {
    const log = otelLogger({ name: "t", customEvents: new Set() });
    const { d, p, q, dp, dq, qi, n } = jwk;
    log.log("error", "KongReadBack", { entry: { n, d, p, q, dp, dq, qi }, list: [{ d }] });
  } finally {
    installHygieneProviders();
  }
  expect(seen).toHaveLength(1);
  expect(findLeaks("otel-log", seen[0]!, secrets)).toEqual([]);
  expect(seen[0]).toContain(jwk.n!);
});
