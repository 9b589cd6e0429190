/**
 * The vendored API descriptions (./README.md), one suite per vendor API, each read the way its service reads
 * requests. A fake validates every request against its suite (stack/common/openapi.ts); the coverage report
 * counts operations per suite.
 */
import { fileURLToPath } from "node:url";
import { loadSpec, type ApiSpec, type SpecOptions } from "../common/openapi.js";

const at = (file: string): string => fileURLToPath(new URL(`./${file}`, import.meta.url));

export const SUITES = {
  keyvault: {
    name: "keyvault",
    files: [
      { path: at("keyvault/certificates.json") },
      { path: at("keyvault/secrets.json") },
      { path: at("keyvault/keys.json") },
    ],
    pagingQuery: ["$skiptoken"],
    optionalLastParams: ["certificate-version", "secret-version", "key-version"],
  },
  graph: {
    name: "graph",
    files: [
      { path: at("graph/applications.json"), basePath: "/v1.0" },
      { path: at("graph/reports-beta.json"), basePath: "/beta" },
    ],
    // Graph binds actions by their qualified name (`microsoft.graph.addKey`) and, as OData 4.01 allows for
    // a service's own namespace, by the bare name its documentation uses (`POST /applications/{id}/addKey`).
    literalAliases: (literal: string) =>
      literal.startsWith("microsoft.graph.") ? [literal.slice("microsoft.graph.".length)] : [],
  },
  kong: {
    name: "kong-admin",
    files: [
      { path: at("kong/admin-api-ee.3.10.json") },
      { path: at("kong/openid-connect-plugin-endpoints.json") },
    ],
    partialPatch: true,
  },
  konnect: {
    name: "konnect",
    files: [{ path: at("konnect/control-planes-config.v2.json"), basePath: "/v2" }],
  },
  okta: {
    name: "okta",
    files: [{ path: at("okta/management.json") }],
  },
  auth0: {
    name: "auth0",
    files: [{ path: at("auth0/management.json"), basePath: "/api/v2" }],
  },
  kubernetes: {
    name: "kubernetes",
    files: [
      { path: at("kubernetes/core-v1.json") },
      { path: at("kubernetes/authorization-v1.json") },
      { path: at("kubernetes/kic-crds.json") },
    ],
    greedyParams: ["path"],
    // The API server hands the proxied request's query string to the pod.
    forwardedQuery: ["connectCoreV1GetNamespacedPodProxy", "connectCoreV1GetNamespacedPodProxyWithPath"],
    // `Patch` is declared `type: object`, but a JSON Patch (RFC 6902) body is an array of operations.
    anyJsonMediaTypes: ["application/json-patch+json"],
  },
} satisfies Record<string, SpecOptions>;

export type SuiteName = keyof typeof SUITES;

/** The suite's validator, built once per process. */
export function suite(name: SuiteName): ApiSpec {
  return loadSpec(SUITES[name]);
}
