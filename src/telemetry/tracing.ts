/**
 * Spans around the calls the rotator makes to Key Vault, the identity provider (its key management API
 * and token endpoint; `rotator.idp` names which) and Kong, through the OpenTelemetry API only (no-op
 * without a registered TracerProvider).
 *
 * The ports are wrapped, not the adapters: a span's attributes are only the dependency, the operation
 * (the port method's name), the credential, the Kong target's configured name and, on failure, the
 * RotatorError code. Never arguments, URLs, headers, bodies, tokens or error messages: nothing a caller
 * passes can reach an attribute, so nothing secret can.
 */
import { SpanKind, SpanStatusCode, trace, type Attributes } from "@opentelemetry/api";
import type { JwsSigner } from "../crypto/jws.js";
import type { EnginePorts, CertificateStore, IdentityProvider, KongTarget } from "../ports/engine.js";
import { isRotatorError } from "../errors.js";
import { INSTRUMENTATION_NAME } from "./metrics.js";

export type Dependency = "keyvault" | "idp" | "kong";

export async function traced<T>(
  dependency: Dependency,
  operation: string,
  attributes: Attributes,
  fn: () => Promise<T>,
): Promise<T> {
  const tracer = trace.getTracer(INSTRUMENTATION_NAME);
  return tracer.startActiveSpan(
    `${dependency} ${operation}`,
    {
      kind: SpanKind.CLIENT,
      attributes: { "rotator.dependency": dependency, "rotator.operation": operation, ...attributes },
    },
    async (span) => {
      try {
        return await fn();
      } catch (e) {
        const code = isRotatorError(e) ? e.code : "INTERNAL";
        span.setAttribute("rotator.error.code", code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: code });
        throw e;
      } finally {
        span.end();
      }
    },
  );
}

type AsyncMethods<T> = {
  [K in keyof T]-?: T[K] extends ((...args: never[]) => Promise<unknown>) | undefined ? K : never;
}[keyof T];

/** A copy of `target` whose listed async methods run inside a span; everything else is passed through. */
function wrap<T extends object>(
  target: T,
  dependency: Dependency,
  methods: readonly AsyncMethods<T>[],
  attributes: Attributes,
): T {
  const out = Object.create(target) as T;
  for (const m of methods) {
    const fn = target[m] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (typeof fn !== "function") continue;
    Object.defineProperty(out, m, {
      value: (...args: unknown[]) => traced(dependency, String(m), attributes, () => fn.apply(target, args)),
    });
  }
  return out;
}

const STORE_METHODS = [
  "createVersion",
  "awaitPendingCreate",
  "listVersions",
  "getPolicy",
  "getCertificateDer",
  "importVersion",
  "secretInfo",
  "readPem",
  "updateVersion",
] as const satisfies readonly AsyncMethods<CertificateStore>[];

const IDP_METHODS = [
  "listKeys",
  "register",
  "activate",
  "withdraw",
  "remove",
  "verify",
  "preflightRegister",
  "diagnose",
] as const satisfies readonly AsyncMethods<IdentityProvider>[];

function tracedStore(store: CertificateStore, attributes: Attributes): CertificateStore {
  const out = wrap(store, "keyvault", STORE_METHODS, attributes);
  // The signer signs inside the vault (keys/sign): one Key Vault call per signature.
  Object.defineProperty(out, "signer", {
    value: (...args: Parameters<CertificateStore["signer"]>): JwsSigner =>
      wrap(store.signer(...args), "keyvault", ["sign"], attributes),
  });
  return out;
}

/** The engine's ports with every external call in a span. */
export function tracedPorts(ports: EnginePorts, credential: string): EnginePorts {
  const attributes = { "rotator.credential": credential };
  return {
    ...ports,
    store: tracedStore(ports.store, attributes),
    idp: wrap(ports.idp, "idp", IDP_METHODS, { ...attributes, "rotator.idp": ports.idp.kind }),
    kong: ports.kong.map((k) =>
      wrap<KongTarget>(k, "kong", ["diagnose", "inspect", "vaults", "apply"], {
        ...attributes,
        "rotator.target": k.name,
      }),
    ),
  };
}
