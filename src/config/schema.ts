import { z } from "zod";
import { IDP_CONFIG_PARTS, IDP_KINDS, idpIdentityOf, idpPartProblems } from "../idp-rules.js";
import { duration, guid, httpsUrl, localOrHttpsUrl, secretRef } from "./fields.js";
import { kongTagsProblem, vaultKey } from "./rules.js";

/**
 * The configuration file (YAML or JSON). Every field is validated before anything external is touched.
 * Durations are ISO-8601 (`P30D`, `PT24H`). See README "Configuration reference".
 */
export const policySchema = z
  .object({
    algorithm: z.enum(["PS256", "RS256"], {
      message: "the rotator issues RSA keys: PS256 or RS256 (each IdP accepts a subset, checked at load)",
    }),
    keySize: z.union([z.literal(2048), z.literal(3072), z.literal(4096)], {
      message: "keySize must be 2048, 3072 or 4096",
    }),
    validityMonths: z.number().int().min(1).max(120),
    renewBefore: duration("renewBefore"),
    overlap: duration("overlap"),
    verifyTimeout: duration("verifyTimeout"),
    verifyInterval: duration("verifyInterval"),
    /** Consecutive accepted assertions required before a key counts as propagated (BRIEF: replicas lag). */
    verifyConsecutive: z.number().int().min(1).max(50),
    /** A forced rotation this soon after the newest generation is refused (429) unless overridden. */
    forceCooldown: duration("forceCooldown"),
    subject: z.string().min(3).optional(),
  })
  .strict();

/** `algorithm` has no default here: it defaults per IdP (src/idp-rules.ts) when no policy sets it. */
export const defaultPolicy = {
  keySize: 2048,
  validityMonths: 6,
  renewBefore: "P30D",
  overlap: "PT24H",
  verifyTimeout: "PT10M",
  verifyInterval: "PT5S",
  verifyConsecutive: 5,
  forceCooldown: "PT10M",
} as const;

/**
 * A secret that may also be given literally (a webhook URL): a string under `literal`'s rule, or a
 * reference. A refused value is explained by the form it was written in, not as "Invalid input".
 */
const literalOrRef = (literal: z.ZodType<string, string>) =>
  z.union([literal, secretRef], {
    error: (iss) => {
      if (iss.code !== "invalid_union") return undefined;
      const form = typeof iss.input === "string" ? 0 : 1;
      return iss.errors[form]?.[0]?.message;
    },
  });

const targetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-_.]{0,62}$/i, { message: "must be 1-63 letters, digits, '-', '_' or '.'" });

/**
 * The AKS server application every AKS-managed Microsoft Entra integration issues tokens for (the `--server-id`
 * kubelogin passes): https://learn.microsoft.com/azure/aks/kubelogin-authentication.
 */
export const AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630";

/** Kubernetes object names: DNS-1123 subdomain (namespaces: DNS-1123 label). */
const dns1123 = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, {
  message: "must be a Kubernetes object name (lower case, digits, '-', '.')",
});

/** Konnect regions (servers of the Control Planes Config API v2 spec: https://{region}.api.konghq.com/v2). */
export const KONNECT_REGIONS = ["us", "eu", "au", "me", "in", "sg"] as const;

/**
 * Vault-reference mode (README "Vault-reference mode"): Kong reads the private JWK members from a Key Vault
 * secret through its vault entity `prefix`. Kong's vault schema matches prefixes with
 * `^[a-z][a-z%d-]-[a-z%d]+$` (kong/db/schema/entities/vaults.lua); `azure` (the backend name) also works.
 * Key Vault object names are 1-127 of `[0-9a-zA-Z-]`
 * (https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#objects-identifiers-and-versioning);
 * the whole secret name's length is checked at load, where the credential name is known. `keyVaultUrl`: the
 * vault the reference secrets go to (default: the credential's vault). A vault of their own lets Kong's identity hold
 * Key Vault Secrets User on that vault only, not on the one whose certificates' backing secrets are every
 * credential's private key (docs/permissions.md "Vault-reference mode").
 */
const vaultReference = z
  .object({
    prefix: z.string().regex(/^[a-z][a-z0-9-]*[a-z0-9]$/, {
      message: "must be a Kong vault prefix (lower-case letters, digits, '-'; e.g. azure-kv) or azure",
    }),
    secretPrefix: z.string().regex(/^[0-9a-zA-Z-]{0,100}$/, {
      message: "must be letters, digits and '-' (it starts Key Vault secret names)",
    }),
    keyVaultUrl: httpsUrl.optional(),
  })
  .strict();

/**
 * One Kong target: exactly one of adminUrl (traditional or hybrid control plane), konnect, kubernetes
 * (KIC) or dbless. See README "Supported Kong deployments".
 */
const kongTarget = z
  .object({
    name: targetName,
    adminUrl: localOrHttpsUrl.optional(),
    dataPlanes: z
      .object({
        confirm: z.enum(["auto", "always", "never"]).default("auto"),
        maxLag: duration("dataPlanes.maxLag").default(120_000),
      })
      .strict()
      .optional(),
    konnect: z
      .object({
        region: z.enum(KONNECT_REGIONS, { message: `must be one of ${KONNECT_REGIONS.join(", ")}` }),
        controlPlaneId: z.string().uuid({ message: "must be the control plane's UUID" }),
        token: secretRef,
        baseUrl: localOrHttpsUrl.optional(),
        maxLag: duration("konnect.maxLag").default(120_000),
      })
      .strict()
      .optional(),
    kubernetes: z
      .object({
        namespace: dns1123,
        secretName: dns1123,
        secretKey: z.string().regex(/^[-._a-zA-Z0-9]{1,253}$/, { message: "must be a valid Secret key" }),
        // A kubeconfig file shipped in the package, or one held as a secret: { keyVaultSecret } or { env }.
        kubeconfig: literalOrRef(z.string().min(1)).optional(),
        /**
         * Microsoft Entra authentication to AKS with the service identity: a token for the AKS server
         * application, no kubeconfig and no cluster credential (docs/kong-kubernetes.md "AKS with Entra").
         */
        aks: z
          .object({
            server: httpsUrl,
            certificateAuthorityData: z
              .string()
              .regex(/^[A-Za-z0-9+/]+={0,2}$/, {
                message:
                  "must be the cluster CA in base64 (certificate-authority-data of the cluster's kubeconfig)",
              })
              .optional(),
            serverAppId: guid.default(AKS_SERVER_APP_ID),
          })
          .strict()
          .optional(),
        maxLag: duration("kubernetes.maxLag").default(120_000),
        /**
         * How the rotator reads each proxy pod's Status API: `apiserver` (default) through the API server's
         * pod proxy subresource, which works from outside the cluster network; `direct` to the pod IP, only
         * for a rotator that runs inside the cluster network (docs/kong-kubernetes.md).
         */
        statusAccess: z.enum(["apiserver", "direct"]).default("apiserver"),
        /** The Kong proxy pods (the Kong chart's defaults): where they run, their labels, their status port. */
        proxies: z
          .object({
            namespace: dns1123.optional(),
            selector: z.string().min(1).default("app.kubernetes.io/component=app"),
            port: z
              .union([
                z.string().regex(/^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/, {
                  message: "must be a container port name (IANA_SVC_NAME, at most 15 characters)",
                }),
                z.number().int().min(1).max(65535),
              ])
              .default("status"),
            scheme: z.enum(["http", "https"]).default("http"),
          })
          .strict()
          .default({ selector: "app.kubernetes.io/component=app", port: "status", scheme: "http" }),
      })
      .strict()
      .optional(),
    dbless: z
      .object({
        nodes: z.array(localOrHttpsUrl).min(1, { message: "at least one DB-less node Admin API URL" }),
        maxLag: duration("dbless.maxLag").default(60_000),
      })
      .strict()
      .optional(),
    workspace: z.string().min(1).optional(),
    pluginId: z.string().uuid({ message: "must be the plugin's UUID" }).optional(),
    pluginTags: z
      .array(z.string().min(1))
      .superRefine((tags, ctx) => {
        const problem = kongTagsProblem(tags);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .optional(),
    adminToken: secretRef.optional(),
    vaultReference: vaultReference.optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const kinds = (["adminUrl", "konnect", "kubernetes", "dbless"] as const).filter(
      (k) => t[k] !== undefined,
    );
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: "custom",
        path: ["adminUrl"],
        message:
          kinds.length === 0
            ? "set one of adminUrl, konnect, kubernetes or dbless"
            : `a target has exactly one kind; found ${kinds.join(" and ")}`,
      });
      return;
    }
    const kind = kinds[0];
    if (kind === "kubernetes") {
      if (t.kubernetes?.aks && t.kubernetes.kubeconfig !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["kubernetes", "aks"],
          message: "set either kubernetes.aks (Entra authentication) or kubernetes.kubeconfig, not both",
        });
      for (const k of ["pluginId", "pluginTags", "workspace", "adminToken", "dataPlanes"] as const)
        if (t[k] !== undefined)
          ctx.addIssue({
            code: "custom",
            path: [k],
            message: `${k} does not apply to a kubernetes target (the rotator writes only the Secret the KongPlugin references)`,
          });
      return;
    }
    if ((t.pluginId === undefined) === (t.pluginTags === undefined))
      ctx.addIssue({
        code: "custom",
        path: ["pluginId"],
        message: "set exactly one of pluginId or pluginTags",
      });
    if (t.dataPlanes !== undefined && kind !== "adminUrl")
      ctx.addIssue({
        code: "custom",
        path: ["dataPlanes"],
        message: "dataPlanes applies only to an adminUrl target",
      });
    if (kind === "konnect")
      for (const k of ["workspace", "adminToken"] as const)
        if (t[k] !== undefined)
          ctx.addIssue({
            code: "custom",
            path: [k],
            message: `${k} does not apply to a konnect target (use konnect.token)`,
          });
    if (kind === "dbless" && t.workspace !== undefined)
      ctx.addIssue({ code: "custom", path: ["workspace"], message: "DB-less nodes have no workspaces" });
  });

const credential = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, {
      message: "must be lower-case letters, digits and '-' (it is used in URLs and lease names)",
    }),
    certificateName: z.string().regex(/^[0-9a-zA-Z-]{1,127}$/, {
      message: "must be a valid Key Vault certificate name (letters, digits, '-')",
    }),
    /**
     * The Key Vault that holds this credential's certificate (default: the top-level keyVault). Each vault
     * has its own rate limits (src/limits.ts): a fleet spread over several vaults rotates that much faster.
     */
    keyVault: z.object({ url: httpsUrl }).strict().optional(),
    ...IDP_CONFIG_PARTS,
    kong: z.array(kongTarget).min(1, { message: "at least one Kong target is required" }),
    policy: policySchema.partial().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const { kind, path, message } of idpPartProblems(c))
      ctx.addIssue({ code: "custom", path: [kind, ...path], message });
    const idps = IDP_KINDS.filter((k) => c[k] !== undefined);
    if (idps.length !== 1)
      ctx.addIssue({
        code: "custom",
        path: ["entra"],
        message:
          idps.length === 0
            ? `set the credential's identity provider: one of ${IDP_KINDS.slice(0, -1).join(", ")} or ${IDP_KINDS.at(-1)}`
            : `a credential has exactly one identity provider; found ${idps.join(" and ")}`,
      });
  });

export const configSchema = z
  .object({
    keyVault: z.object({ url: httpsUrl }).strict(),
    cloud: z
      .object({ authorityHost: httpsUrl.optional(), graphBaseUrl: httpsUrl.optional() })
      .strict()
      .optional(),
    policy: policySchema.partial().optional(),
    credentials: z.array(credential).min(1, { message: "at least one credential is required" }),
    alerts: z
      .object({
        webhooks: z
          .array(
            z
              .object({
                // A webhook URL is a credential (Slack, Teams): a reference keeps it out of the package.
                url: literalOrRef(localOrHttpsUrl),
                format: z.enum(["generic", "teams", "slack"]).default("generic"),
              })
              .strict(),
          )
          .default([]),
        // The Azure Monitor rules read each condition's latest row 2 days back (infra/app/alerts.bicep):
        // a longer cadence would let a condition that is still failing fall out of range and resolve there.
        remindEvery: duration("remindEvery")
          .refine((ms) => ms > 0 && ms < 2 * 86_400_000, {
            message: "remindEvery must be more than 0 and less than P2D (the alert rules look back 2 days)",
          })
          .optional(),
        expiryWarning: duration("expiryWarning").optional(),
      })
      .strict()
      .optional(),
    sync: z
      .object({ reapplyOnDrift: z.boolean().default(true) })
      .strict()
      .optional(),
    /** Rate limits to plan for, per process (src/limits.ts has the documented values). */
    limits: z
      .object({
        keyVaultCreates: z.number().int().min(1).optional(),
        keyVaultOther: z.number().int().min(1).optional(),
        graphWritesPerApp: z.number().int().min(1).optional(),
        graphWritesPerTenant: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.credentials.forEach((c, i) => {
      if (seen.has(c.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["credentials", i, "name"],
          message: `duplicate credential name "${c.name}"`,
        });
      }
      seen.set(c.name, i);
      const targets = new Set<string>();
      c.kong.forEach((t, j) => {
        if (targets.has(t.name))
          ctx.addIssue({
            code: "custom",
            path: ["credentials", i, "kong", j, "name"],
            message: `duplicate Kong target "${t.name}"`,
          });
        targets.add(t.name);
      });
    });
    const apps = new Map<string, number>();
    cfg.credentials.forEach((c, i) => {
      const idp = idpIdentityOf(c);
      if (!idp) return;
      const key = `${idp.kind}/${idp.at.toLowerCase()}/${idp.clientId}`;
      if (apps.has(key))
        ctx.addIssue({
          code: "custom",
          path: ["credentials", i, idp.kind, "clientId"],
          message: `${idp.what} ${idp.clientId} is already rotated by credential #${apps.get(key)}: one credential per client (two would race on its keys)`,
        });
      apps.set(key, i);
    });
    // Per vault: Key Vault object names are case-insensitive.
    const certs = new Map<string, number>();
    cfg.credentials.forEach((c, i) => {
      const key = `${vaultKey(c.keyVault?.url ?? cfg.keyVault.url)}|${c.certificateName.toLowerCase()}`;
      if (certs.has(key))
        ctx.addIssue({
          code: "custom",
          path: ["credentials", i, "certificateName"],
          message: `certificate "${c.certificateName}" is already used by credential #${certs.get(key)} in the same Key Vault`,
        });
      certs.set(key, i);
    });
  });

export type RawConfig = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
