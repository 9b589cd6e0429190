/**
 * Field rules shared by the configuration schema (./schema.ts) and the identity providers' configuration
 * parts (src/adapters/idp/<kind>/rules.ts), which the schema composes.
 */
import { z } from "zod";
import { parseDuration } from "../duration.js";
import { urlProblem, type UrlRule } from "./rules.js";

export const duration = (what: string) =>
  z
    .string()
    .refine((s) => parseDuration(s) !== undefined, {
      message: `${what} must be an ISO-8601 duration such as PT10M, PT24H or P30D (no years or months)`,
    })
    .transform((s) => parseDuration(s) as number);

/** URL fields, under the one rule the adapters use too (src/config/rules.ts). Trailing '/' removed. */
const urlField = (rule: UrlRule) =>
  z
    .string()
    .superRefine((u, ctx) => {
      const problem = urlProblem(u, rule);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    })
    .transform((u) => u.replace(/\/+$/, ""));
/** Kong Admin API and webhooks: https, or plain http to this machine (tests, tunnels). */
export const localOrHttpsUrl = urlField("loopback-http");
/** Key Vault, Graph, the Entra authority: https only (the Azure SDKs send tokens over TLS only). */
export const httpsUrl = urlField("https");

export const guid = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, {
    message: "must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
  })
  .transform((s) => s.toLowerCase());

export const tenant = z.union([
  guid,
  z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9.-]*\.[a-zA-Z]{2,}$/, {
    message: "must be a tenant GUID or a verified domain such as contoso.onmicrosoft.com",
  }),
]);

export const secretRef = z.union([
  z
    .object({
      env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: "must be an environment variable name" }),
    })
    .strict(),
  z
    .object({
      keyVaultSecret: z
        .string()
        .regex(/^[0-9a-zA-Z-]{1,127}$/, { message: "must be a Key Vault secret name" }),
    })
    .strict(),
]);
