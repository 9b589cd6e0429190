/**
 * EntraDirectory over Microsoft Graph v1.0 with @microsoft/microsoft-graph-client.
 *
 * - The application is found by appId with `$filter` (https://learn.microsoft.com/graph/api/application-list),
 *   which also works when Application.ReadWrite.OwnedBy limits the identity to the apps it owns.
 * - addKey/removeKey carry a proof of possession signed by a currently valid key of the app
 *   (https://learn.microsoft.com/graph/api/application-addkey, .../application-removekey); "applications that
 *   don't have any existing valid certificates … won't be able to use this service action", hence the PATCH
 *   fallback, which replaces the whole keyCredentials collection
 *   (https://learn.microsoft.com/graph/api/application-update): existing entries are re-sent as read, without
 *   `key`, and the new one is appended with `key`.
 * - Writes are not idempotent in Graph (no ETags on applications), so a retried write first re-reads the
 *   application and stops if the earlier attempt already took effect.
 */
import { ClientAssertionCredential, type TokenCredential } from "@azure/identity";
import {
  Client,
  RetryHandlerOptions,
  type AuthenticationProvider,
  type GraphRequest,
} from "@microsoft/microsoft-graph-client";
import { z } from "zod";
import { systemClock } from "../../../clock.js";
import type { Clock } from "../../../ports/engine.js";
import { clientAssertion, graphProof, type JwsSigner } from "../../../crypto/jws.js";
import type { SigningAlg } from "../../../crypto/keymaterial.js";
import { isMicrosoftAuthority } from "../../../config/load.js";
import { thumbprints } from "../../../crypto/keymaterial.js";
import { validityAt } from "../../../crypto/validity.js";
import { RotatorError } from "../../../errors.js";
import { defaultRetryPolicy, withRetry, type RetryEvent, type RetryPolicy } from "../../../http/retry.js";
import type { EntraApplication, EntraDirectory, KeyCredential } from "./types.js";
import {
  HINTS,
  classifyGraphError,
  graphFailure,
  identityFailure,
  type GraphOperation,
} from "./graph-errors.js";
import { x5tFromCustomKeyIdentifier } from "./key-identifier.js";

export interface GraphDirectoryOptions {
  credential: TokenCredential;
  /** https://graph.microsoft.com, or the national cloud's Graph (https://learn.microsoft.com/graph/deployments). */
  graphBaseUrl: string;
  clock?: Clock;
  retry?: Partial<RetryPolicy>;
  /** Token scopes; default `<graphBaseUrl>/.default`, which is right for every national cloud. */
  scopes?: string[];
  onRetry?: (event: RetryEvent) => void;
  /**
   * Self-rotation: addKey/removeKey authenticate as the application itself (client credentials with an
   * assertion signed by the same current key that signs the proof), so they need no Graph permission:
   * "An application does not need any specific permission to roll its own keys"
   * (https://learn.microsoft.com/graph/api/application-addkey#permissions). Without it they run as the
   * service identity, which then needs Application.ReadWrite.OwnedBy as an owner of the app.
   */
  selfRotation?: { authorityHost: string; tenantId: string; algorithm: SigningAlg };
}

/** The members keyCredential and passwordCredential share (Graph resource types). */
const credentialFields = {
  keyId: z.string(),
  displayName: z.string().nullish(),
  startDateTime: z.string().nullish(),
  endDateTime: z.string().nullish(),
};
const keyCredentialSchema = z.object({
  ...credentialFields,
  type: z.string(),
  usage: z.string(),
  customKeyIdentifier: z.string().nullish(),
});
const passwordCredentialSchema = z.object({ ...credentialFields, hint: z.string().nullish() });
const applicationSchema = z.object({
  id: z.string(),
  appId: z.string(),
  displayName: z.string().nullish(),
  keyCredentials: z.array(keyCredentialSchema),
  passwordCredentials: z.array(passwordCredentialSchema).nullish(),
});
/** beta appCredentialSignInActivity (only the members read here). */
const credentialSignInListSchema = z.object({
  value: z.array(
    z.object({
      keyId: z.string().nullish(),
      keyType: z.string().nullish(),
      signInActivity: z.object({ lastSignInDateTime: z.string().nullish() }).nullish(),
    }),
  ),
});
const applicationListSchema = z.object({ value: z.array(applicationSchema) });

type RawKeyCredential = z.infer<typeof keyCredentialSchema>;

const SELECT = "id,appId,displayName,keyCredentials,passwordCredentials";
const CERT = { type: "AsymmetricX509Cert", usage: "Verify" } as const;
/** Application permissions that allow PATCH /applications/{id} (https://learn.microsoft.com/graph/api/application-update#permissions). */
const PATCH_ROLES = new Set([
  "Application.ReadWrite.OwnedBy",
  "Application.ReadWrite.All",
  "Directory.ReadWrite.All",
]);

function parse<T>(schema: z.ZodType<T>, body: unknown, op: GraphOperation): T {
  const result = schema.safeParse(body);
  if (!result.success)
    throw new RotatorError(
      "GRAPH_BAD_RESPONSE",
      `Graph ${op} returned JSON of an unexpected shape`,
      "Check that cloud.graphBaseUrl points at Microsoft Graph v1.0.",
      {
        details: { operation: op, issues: result.error.issues.map((i) => i.path.join(".")).slice(0, 5) },
      },
    );
  return result.data;
}

function toKeyCredential(k: RawKeyCredential): KeyCredential {
  const x5t = x5tFromCustomKeyIdentifier(k.customKeyIdentifier);
  return { ...resend(k), ...(x5t ? { x5t } : {}) };
}

function toApplication(a: z.infer<typeof applicationSchema>): EntraApplication {
  return {
    objectId: a.id,
    appId: a.appId,
    displayName: a.displayName ?? "",
    keyCredentials: a.keyCredentials.map(toKeyCredential),
    passwordCredentials: (a.passwordCredentials ?? []).map((p) => ({
      keyId: p.keyId,
      ...(p.hint ? { hint: p.hint } : {}),
      ...(p.displayName ? { displayName: p.displayName } : {}),
      ...(p.endDateTime ? { endDateTime: p.endDateTime } : {}),
    })),
  };
}

/** The entry as PATCH re-sends it: as read, without `key` (and without our derived `x5t`). */
function resend(k: RawKeyCredential): Omit<KeyCredential, "x5t"> {
  return {
    keyId: k.keyId,
    type: k.type,
    usage: k.usage,
    displayName: k.displayName ?? null,
    startDateTime: k.startDateTime ?? null,
    endDateTime: k.endDateTime ?? null,
    customKeyIdentifier: k.customKeyIdentifier ?? null,
  };
}

/** Within its start/end dates at `now`; unknown dates do not rule a key out. */
function isCurrent(k: KeyCredential, now: Date): boolean {
  return validityAt({ notBefore: k.startDateTime, notAfter: k.endDateTime }, now) === "valid";
}

/** A TokenCredential for the application itself, proving possession of `signer`'s key. */
function applicationCredential(
  self: NonNullable<GraphDirectoryOptions["selfRotation"]>,
  appId: string,
  signer: JwsSigner,
  clock: Clock,
): TokenCredential {
  const host = self.authorityHost.replace(/\/+$/, "");
  const tokenEndpoint = `${host}/${self.tenantId}/oauth2/v2.0/token`;
  return new ClientAssertionCredential(
    self.tenantId,
    appId,
    () => clientAssertion(signer, self.algorithm, appId, tokenEndpoint, clock.now()),
    { authorityHost: host, ...(isMicrosoftAuthority(host) ? {} : { disableInstanceDiscovery: true }) },
  );
}

/** Bearer tokens for Graph from a TokenCredential. */
class CredentialAuthProvider implements AuthenticationProvider {
  constructor(
    private readonly credential: TokenCredential,
    private readonly scopes: string[],
  ) {}

  async getAccessToken(): Promise<string> {
    let token: Awaited<ReturnType<TokenCredential["getToken"]>>;
    try {
      token = await this.credential.getToken(this.scopes);
    } catch (e) {
      throw identityFailure(e);
    }
    if (!token) throw identityFailure(new Error("the credential returned no token"));
    return token.token;
  }
}

export function createGraphDirectory(opts: GraphDirectoryOptions): EntraDirectory {
  const clock = opts.clock ?? systemClock;
  const policy: RetryPolicy = { ...defaultRetryPolicy, ...opts.retry };
  const baseUrl = opts.graphBaseUrl.replace(/\/+$/, "");
  const scopes = opts.scopes ?? [`${baseUrl}/.default`];
  const clientFor = (credential: TokenCredential): Client =>
    Client.initWithMiddleware({
      authProvider: new CredentialAuthProvider(credential, scopes),
      baseUrl,
      defaultVersion: "v1.0",
      // The SDK attaches the token only to Graph's own hosts and these (https only).
      customHosts: new Set([new URL(baseUrl).hostname]),
    });
  const client = clientFor(opts.credential);
  const classify = classifyGraphError(clock);

  const request = (c: Client, path: string, signal: AbortSignal): GraphRequest =>
    c
      .api(path)
      .middlewareOptions([new RetryHandlerOptions(0, 0)])
      .option("signal", signal);
  const api = (path: string, signal: AbortSignal): GraphRequest => request(client, path, signal);
  /** The client for the app's own key rolls: as the app (self-rotation) or as the service identity. */
  const rollerFor = (appId: string, signer: JwsSigner): Client =>
    opts.selfRotation ? clientFor(applicationCredential(opts.selfRotation, appId, signer, clock)) : client;

  async function call<T>(
    op: GraphOperation,
    application: string,
    fn: (signal: AbortSignal, attempt: number) => Promise<T>,
  ): Promise<T> {
    try {
      return await withRetry((attempt, signal) => fn(signal, attempt), classify, {
        policy,
        clock,
        ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
      });
    } catch (e) {
      throw graphFailure(e, op, application);
    }
  }

  /** A single application by object id; no `$select`, so that `key` stays null. */
  const read = async (objectId: string, signal: AbortSignal, op: GraphOperation): Promise<EntraApplication> =>
    toApplication(
      parse(applicationSchema, await api(`/applications/${encodeURIComponent(objectId)}`, signal).get(), op),
    );

  return {
    async getApplication(clientId) {
      const filter = `appId eq '${clientId.replace(/'/g, "''")}'`;
      const list = await call("getApplication", clientId, async (signal) =>
        parse(
          applicationListSchema,
          await api("/applications", signal).filter(filter).select(SELECT).get(),
          "getApplication",
        ),
      );
      const found = list.value[0];
      if (!found)
        throw new RotatorError(
          "ENTRA_APP_NOT_FOUND",
          `no application with appId ${clientId} is visible to the service identity`,
          HINTS.notFound,
          { details: { application: clientId } },
        );
      return toApplication(found);
    },

    async addKey(app, certDer, proofSigner, displayName) {
      const { x5t } = thumbprints(certDer);
      const present = app.keyCredentials.find((k) => k.x5t === x5t);
      if (present) return present;
      if (!app.keyCredentials.some((k) => isCurrent(k, clock.now())))
        throw new RotatorError(
          "ENTRA_NO_VALID_KEY",
          `application ${app.appId} has no currently valid certificate, so addKey cannot prove possession`,
          "Register the key with the PATCH fallback (patchKeyCredentials), which needs Application.ReadWrite.OwnedBy with the service identity as an owner of the app, or Application.ReadWrite.All.",
          { details: { application: app.appId, x5t } },
        );
      const body = {
        keyCredential: { ...CERT, key: Buffer.from(certDer).toString("base64"), displayName },
        passwordCredential: null,
      };
      const roller = rollerFor(app.appId, proofSigner);
      return call("addKey", app.appId, async (signal, attempt) => {
        if (attempt > 1) {
          const done = (await read(app.objectId, signal, "addKey")).keyCredentials.find((k) => k.x5t === x5t);
          if (done) return done;
        }
        const proof = await graphProof(proofSigner, app.objectId, clock.now());
        const added = await request(
          roller,
          `/applications/${encodeURIComponent(app.objectId)}/addKey`,
          signal,
        ).post({
          ...body,
          proof,
        });
        return toKeyCredential(parse(keyCredentialSchema, added, "addKey"));
      });
    },

    async removeKey(app, keyId, proofSigner) {
      if (!app.keyCredentials.some((k) => k.keyId === keyId)) return;
      const roller = rollerFor(app.appId, proofSigner);
      await call("removeKey", app.appId, async (signal, attempt) => {
        if (
          attempt > 1 &&
          !(await read(app.objectId, signal, "removeKey")).keyCredentials.some((k) => k.keyId === keyId)
        )
          return;
        const proof = await graphProof(proofSigner, app.objectId, clock.now());
        await request(roller, `/applications/${encodeURIComponent(app.objectId)}/removeKey`, signal).post({
          keyId,
          proof,
        });
      });
    },

    async removePassword(app, keyId) {
      // POST /applications/{id}/removePassword {keyId} answers 204
      // (https://learn.microsoft.com/graph/api/application-removepassword). A retry first reads whether the
      // earlier attempt already took effect.
      await call("removePassword", app.appId, async (signal, attempt) => {
        if (
          attempt > 1 &&
          !(await read(app.objectId, signal, "removePassword")).passwordCredentials.some(
            (p) => p.keyId === keyId,
          )
        )
          return;
        await api(`/applications/${encodeURIComponent(app.objectId)}/removePassword`, signal).post({ keyId });
      });
    },

    async secretSignIns(app) {
      // beta only: GET /reports/appCredentialSignInActivities, filtered by appId
      // (https://learn.microsoft.com/graph/api/reportroot-list-appcredentialsigninactivities?view=graph-rest-beta),
      // AuditLog.Read.All or Directory.Read.All. Advice only: a refusal or an unknown shape reports nothing.
      try {
        const filter = `appId eq '${app.appId.replace(/'/g, "''")}'`;
        const body = await call("secretSignIns", app.appId, (signal) =>
          api("/reports/appCredentialSignInActivities", signal).version("beta").filter(filter).get(),
        );
        const parsed = credentialSignInListSchema.safeParse(body);
        if (!parsed.success) return undefined;
        const out: Record<string, string> = {};
        for (const row of parsed.data.value) {
          const at = row.signInActivity?.lastSignInDateTime;
          if (row.keyId && row.keyType === "clientSecret" && at) out[row.keyId] = at;
        }
        return out;
      } catch {
        return undefined;
      }
    },

    async canPatchKeyCredentials() {
      // App-only Graph tokens are JWTs whose `roles` claim lists the application permissions granted
      // (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference#payload-claims).
      // Clients should not depend on token contents, so this is only a preflight: anything unreadable is
      // "unknown" and the PATCH decides. OwnedBy also needs ownership, which Graph checks on the PATCH.
      let roles: unknown;
      try {
        const token = await opts.credential.getToken(scopes);
        const payload = token?.token.split(".")[1];
        roles = payload
          ? (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { roles?: unknown }).roles
          : undefined;
      } catch {
        return undefined;
      }
      if (!Array.isArray(roles)) return undefined;
      return roles.some((r) => PATCH_ROLES.has(String(r)));
    },

    async patchKeyCredentials(app, change) {
      const adding = change.add ? { ...change.add, x5t: thumbprints(change.add.certDer).x5t } : undefined;
      const removing = new Set(change.removeKeyIds ?? []);
      return call("patchKeyCredentials", app.appId, async (signal) => {
        // Re-read every attempt: the collection is replaced wholesale, so it must be built from what Graph
        // holds now, and an attempt that already took effect must not be repeated.
        const current = await read(app.objectId, signal, "patchKeyCredentials");
        const needsAdd = adding !== undefined && !current.keyCredentials.some((k) => k.x5t === adding.x5t);
        const needsRemove = current.keyCredentials.some((k) => removing.has(k.keyId));
        if (!needsAdd && !needsRemove) return current;
        const keyCredentials = [
          ...current.keyCredentials.filter((k) => !removing.has(k.keyId)).map(resend),
          ...(needsAdd && adding
            ? [
                {
                  ...CERT,
                  key: Buffer.from(adding.certDer).toString("base64"),
                  displayName: adding.displayName,
                },
              ]
            : []),
        ];
        await api(`/applications/${encodeURIComponent(current.objectId)}`, signal).patch({ keyCredentials });
        return read(current.objectId, signal, "patchKeyCredentials");
      });
    },
  };
}
