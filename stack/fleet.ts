/**
 * A fleet on the local stack: N Entra apps (each owned by the service, as the stack's own app), each with
 * its own certificate name and its Kong targets, as configuration entries for the rotator. Used by the
 * fleet tests and `npm run bench`.
 * - `targetsPerCredential` targets per credential, each an openid-connect plugin on the stack's Kong;
 * - with `sharedPlugins`, the first target of every credential is one of that many plugins, shared
 *   round-robin: the plugin's client_id array lists every client that uses it (a common setup; the
 *   manual guide's has two clients in one plugin). client_jwk is positional, so a shared plugin starts
 *   with one hand-pasted placeholder key per client, as a hand-made setup would have.
 */
import { randomUUID } from "node:crypto";
import { generateRsaJwk } from "./kong/seed.js";
import type { LocalStack } from "./stack.js";
import { SERVICE_CLIENT_ID, TENANT_ID } from "./stack.js";

export interface FleetOptions {
  credentials: number;
  targetsPerCredential?: number;
  sharedPlugins?: number;
  prefix?: string;
}

export interface SeededFleet {
  /** Configuration entries (`credentials:`) for the rotator. */
  credentials: Record<string, unknown>[];
  /** Per credential: its client id and the plugin ids of its targets, in order. */
  members: { name: string; clientId: string; plugins: string[] }[];
}

export function seedFleet(stack: LocalStack, opts: FleetOptions): SeededFleet {
  const prefix = opts.prefix ?? "app";
  const perCred = opts.targetsPerCredential ?? 2;
  const members = Array.from({ length: opts.credentials }, (_, i) => {
    const name = `${prefix}-${String(i + 1).padStart(4, "0")}`;
    const app = stack.entra.createApplication({ displayName: `kong-${name}`, appId: randomUUID() });
    stack.entra.addOwner(app.appId, SERVICE_CLIENT_ID);
    return { name, clientId: app.appId, plugins: [] as string[] };
  });
  let placeholder: Record<string, unknown> | undefined;
  const plugin = (clients: string[], tag: string): string =>
    stack.kong.addPlugin({
      name: "openid-connect",
      tags: [tag],
      config: {
        issuer: stack.entra.issuer,
        client_id: clients,
        client_auth: clients.map(() => "private_key_jwt"),
        ...(clients.length > 1
          ? {
              client_jwk: clients.map(
                () => (placeholder ??= generateRsaJwk({ alg: "PS256", kid: "hand-pasted" })),
              ),
            }
          : {}),
        scopes: ["https://graph.microsoft.com/.default"],
      },
    }).id;
  const shared = opts.sharedPlugins
    ? Array.from({ length: opts.sharedPlugins }, (_, p) =>
        plugin(
          members.filter((_, i) => i % (opts.sharedPlugins ?? 1) === p).map((m) => m.clientId),
          `${prefix}-shared-${p}`,
        ),
      )
    : [];
  members.forEach((m, i) => {
    for (let t = 0; t < perCred; t++)
      m.plugins.push(
        t === 0 && shared.length ? shared[i % shared.length]! : plugin([m.clientId], `${m.name}-${t}`),
      );
  });
  const credentials = members.map((m) => ({
    name: m.name,
    certificateName: `kong-${m.name}`,
    entra: { tenantId: TENANT_ID, clientId: m.clientId },
    kong: m.plugins.map((pluginId, t) => ({
      name: `kong-${t}`,
      adminUrl: stack.kong.url,
      pluginId,
      adminToken: { env: "KONG_ADMIN_TOKEN" },
    })),
  }));
  return { credentials, members };
}
