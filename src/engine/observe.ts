/**
 * Read the whole world for one credential: certificate versions with their phase tags, the keys the
 * identity provider lists for the client, and what each Kong target holds. Read-only.
 */
import type { CredentialConfig } from "../config/load.js";
import { RotatorError, toRotatorError } from "../errors.js";
import { redact } from "../log/redact.js";
import type { CertificateVersion, EnginePorts } from "../ports/engine.js";
import type { Snapshot, TargetObservation } from "./types.js";
import { KV_CREATE_PENDING } from "./wait.js";
import { parseGeneration, type Generation } from "./tags.js";

export interface ObserveOptions {
  /** Wait at most this long for a pending Key Vault creation; past it the snapshot says `creating`. */
  maxWaitMs?: number;
}

export async function observe(
  cred: CredentialConfig,
  ports: Pick<EnginePorts, "store" | "idp" | "kong" | "clock">,
  options: ObserveOptions = {},
): Promise<Snapshot> {
  const [{ versions, creating }, keys, targets] = await Promise.all([
    listCompletedVersions(cred.certificateName, ports, options),
    ports.idp.listKeys(),
    // One failing target must not hide the others: each inspection's error is kept per target.
    Promise.all(
      ports.kong.map(async (t): Promise<TargetObservation> => {
        try {
          return { name: t.name, plugins: await t.inspect() };
        } catch (e) {
          return { name: t.name, error: redact(toRotatorError(e, "KONG_INSPECT_FAILED").toJSON()) };
        }
      }),
    ),
  ]);
  return {
    credential: cred.name,
    certificateName: cred.certificateName,
    policy: cred.policy,
    observedAt: ports.clock.now(),
    generations: versions.map(parseGeneration).filter((g): g is Generation => g !== undefined),
    idp: { client: ports.idp.client, rules: ports.idp.rules, keys },
    targets,
    ...(creating ? { creating } : {}),
  };
}

/**
 * A version without a thumbprint is a creation still in progress, e.g. after a run crashed while Key
 * Vault was issuing the certificate (the operation continues server-side). Wait for it, then list again.
 * When it is still in progress after `maxWaitMs`, the newest such version is left out and `creating`
 * tells the caller to come back later (reconcile ends the run `waiting`).
 */
async function listCompletedVersions(
  name: string,
  ports: Pick<EnginePorts, "store">,
  options: ObserveOptions,
): Promise<{ versions: CertificateVersion[]; creating?: string }> {
  const versions = await ports.store.listVersions(name);
  if (versions.every((v) => v.x5t !== undefined)) return { versions };
  try {
    await ports.store.awaitPendingCreate(
      name,
      options.maxWaitMs === undefined ? {} : { maxWaitMs: options.maxWaitMs },
    );
  } catch (e) {
    if (!(e instanceof RotatorError && e.code === KV_CREATE_PENDING)) throw e;
    const pending = versions.find((v) => v.x5t === undefined);
    return {
      versions: versions.filter((v) => v !== pending),
      creating: pending?.version ?? "(unknown version)",
    };
  }
  return { versions: await ports.store.listVersions(name) };
}
