/**
 * `migrate <name>`: move a credential from a client secret to private_key_jwt (src/engine/migration.ts,
 * docs/migration.md), under the credential's one-writer lease like every change. A dry run takes no lease
 * and changes nothing. The migration's record lives in Key Vault tags, so the timer continues a migration
 * this call started (src/engine/reconcile.ts delegates to it) and running it again resumes it.
 */
import { randomUUID } from "node:crypto";
import { migrate, type MigrateOptions, type MigrationReport } from "../engine/migration.js";
import type { Runtime } from "./runtime.js";

export type MigrateResult =
  { credential: string; kind: "done"; report: MigrationReport } | { credential: string; kind: "busy" };

export async function migrateCredential(
  rt: Runtime,
  name: string,
  options: Omit<MigrateOptions, "signal"> & { actor?: string },
): Promise<MigrateResult> {
  const cred = rt.credential(name);
  const { actor, ...engineOptions } = options;
  rt.logger.log("info", "MigrationRequested", {
    credential: name,
    actor,
    dryRun: options.dryRun === true,
    acceptCutover: options.acceptCutover === true,
    retireSecret: options.retireSecret === true,
    allSecrets: options.allSecrets === true,
  });
  if (options.dryRun)
    return {
      credential: name,
      kind: "done",
      report: await migrate(cred, rt.enginePorts(cred), engineOptions),
    };
  const lease = await rt.leases.tryAcquire(name, `cli-migrate:${process.pid}:${randomUUID().slice(0, 8)}`);
  if (!lease) return { credential: name, kind: "busy" };
  try {
    const report = await migrate(cred, rt.enginePorts(cred), { ...engineOptions, signal: lease.signal });
    return { credential: name, kind: "done", report };
  } finally {
    await lease.release();
  }
}
