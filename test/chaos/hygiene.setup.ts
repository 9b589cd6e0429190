/**
 * Secret hygiene over the WHOLE test suite (issue #4, item 6), part 1 of 2: runs in every test worker
 * before each test file and captures, into one file per worker process:
 * - every console call and every write to process.stdout / process.stderr;
 * - every line the product's JSON logger emits (whatever sink a test gives it), every CLI output written
 *   through `main`'s io, and every HTTP function response built by src/functions/http.ts;
 * - every alert payload the webhook receiver fake accepts;
 * - the OpenTelemetry output (./hygiene-otel.ts): every log record and every span (attributes, status,
 *   events) emitted through the OpenTelemetry API; and every event a JSON logger logs also goes through
 *   the production OpenTelemetry logger (src/log/otel.ts), so that sink is checked on all of them;
 * and records every secret the fakes generate (private JWK members, Kong admin tokens, client secrets).
 * Part 2 (hygiene.global.ts) checks all captures against all secrets after the run and fails it loudly.
 */
import { vi } from "vitest";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addCaptureListener } from "../../stack/common/capture.js";
import { createHygieneProcessors, installHygieneProviders } from "./hygiene-otel.js";

const dir = process.env.ROTATOR_HYGIENE_DIR;

function capture(channel: string, text: unknown): void {
  if (!dir) return;
  const s = typeof text === "string" ? text : Buffer.isBuffer(text) ? text.toString("utf8") : safeJson(text);
  if (s) appendFileSync(join(dir, `${process.pid}.capture`), JSON.stringify({ channel, text: s }) + "\n");
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

type Global = typeof globalThis & { __rotatorHygiene?: boolean };
const g = globalThis as Global;
if (dir && !g.__rotatorHygiene) {
  g.__rotatorHygiene = true;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${process.pid}.ready`), "");
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...a: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      capture(stream === process.stdout ? "stdout" : "stderr", chunk);
      return write(chunk, ...rest);
    }) as typeof stream.write;
  }
  addCaptureListener({
    secret: (kind, value) =>
      appendFileSync(join(dir, `${process.pid}.secrets`), JSON.stringify({ kind, value }) + "\n"),
    output: (channel, text) => capture(channel, text),
  });
}
if (dir) {
  createHygieneProcessors(capture);
  installHygieneProviders();
}
if (dir)
  for (const m of ["log", "info", "warn", "error", "debug"] as const) {
    const orig = console[m].bind(console);
    console[m] = (...args: unknown[]) => {
      capture(
        `console.${m}`,
        args
          .map((a) =>
            typeof a === "string" ? a : a instanceof Error ? `${a.message}\n${a.stack ?? ""}` : safeJson(a),
          )
          .join(" "),
      );
      orig(...args);
    };
  }

vi.mock("../../src/log/logger.js", async (importOriginal) => {
  const mod = await importOriginal<typeof import("../../src/log/logger.js")>();
  const { otelLogger } = await import("../../src/log/otel.js");
  return {
    ...mod,
    jsonLogger: (
      sink?: Parameters<typeof mod.jsonLogger>[0],
      level?: Parameters<typeof mod.jsonLogger>[1],
    ) => {
      const json = mod.jsonLogger((line, lvl) => {
        capture("log", line);
        (sink ?? ((l: string) => process.stderr.write(l + "\n")))(line, lvl);
      }, level);
      // The same event through the logger production uses with Application Insights: its records reach
      // the capture (./hygiene-otel.ts) as they would reach the exporter.
      const otel = otelLogger({
        name: "rotator-hygiene",
        customEvents: new Set(),
        minLevel: level ?? "info",
      });
      return {
        log: (...args: Parameters<typeof json.log>) => {
          json.log(...args);
          otel.log(...args);
        },
      };
    },
  };
});

vi.mock("../../src/cli/main.js", async (importOriginal) => {
  const mod = await importOriginal<typeof import("../../src/cli/main.js")>();
  return {
    ...mod,
    main: (argv: string[], io: Parameters<typeof mod.main>[1]) =>
      mod.main(argv, {
        ...io,
        out: (s) => {
          capture("cli-out", s);
          io.out(s);
        },
        err: (s) => {
          capture("cli-err", s);
          io.err(s);
        },
      }),
  };
});

vi.mock("../../src/functions/http.js", async (importOriginal) => {
  const mod = await importOriginal<Record<string, unknown>>();
  const wrapped: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(mod))
    wrapped[k] =
      typeof v === "function"
        ? (...args: unknown[]) => {
            const r = (v as (...a: unknown[]) => unknown)(...args);
            if (r instanceof Promise) return r.then((x: unknown) => (capture("http-response", x), x));
            capture("http-response", r);
            return r;
          }
        : v;
  return wrapped;
});
