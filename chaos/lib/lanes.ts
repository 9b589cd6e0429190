/**
 * Lanes: independent credentials on one local stack (own Entra app, own Kong plugin, own Key Vault
 * certificate, own lease blob), so crash points and scenarios run in parallel without sharing state.
 * Lane names have a fixed width so that no name is a prefix of another (requests are routed to lanes
 * by substring).
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { PARTNER_CLIENT_ID, SERVICE_CLIENT_ID, TENANT_ID, type LocalStack } from "../../stack/stack.js";
import { generateRsaJwk } from "../../stack/kong/seed.js";

export interface Lane {
  name: string;
  certName: string;
  appId: string;
  objectId: string;
  pluginId: string;
  /** Configuration document holding this lane's credential only. */
  config: Record<string, unknown>;
  configPath: string;
}

export interface LaneOptions {
  /** Plugin config overrides (bad-input cases). */
  plugin?: { name?: string; config?: (appId: string) => Record<string, unknown> };
  /** Credential overrides merged into the credential entry. */
  credential?: Record<string, unknown>;
  /** Register our client in the plugin (default true). */
  listClient?: boolean;
  /** Create the Entra app (default true); false leaves an unknown client id. */
  createApp?: boolean;
  /** Make the service identity an owner of the app (default true). */
  owner?: boolean;
}

let counter = 0;
const configDir = resolve(".local/chaos/configs");

export function laneName(prefix: string): string {
  counter++;
  return `${prefix}-${String(counter).padStart(3, "0")}`;
}

export function addLane(stack: LocalStack, prefix: string, opts: LaneOptions = {}): Lane {
  const name = laneName(prefix);
  const appId = randomUUID();
  let objectId: string = randomUUID();
  if (opts.createApp !== false) {
    objectId = stack.entra.createApplication({ displayName: `kong-gateway-${name}`, appId }).objectId;
    if (opts.owner !== false) stack.entra.addOwner(appId, SERVICE_CLIENT_ID);
  }
  const partner = generateRsaJwk({ alg: "RS256", kid: `partner-${name}` });
  const { id: pluginId } = stack.kong.addPlugin({
    name: opts.plugin?.name ?? "openid-connect",
    tags: [`rotator:${name}`],
    config: opts.plugin?.config?.(appId) ?? {
      issuer: stack.entra.issuer,
      client_id: opts.listClient === false ? [PARTNER_CLIENT_ID] : [PARTNER_CLIENT_ID, appId],
      client_auth: ["private_key_jwt", "private_key_jwt"],
      client_jwk: [partner],
      scopes: ["https://graph.microsoft.com/.default"],
    },
  });
  const certName = `kong-${name}`;
  const credential = {
    name,
    certificateName: certName,
    entra: { tenantId: TENANT_ID, clientId: appId },
    kong: [
      {
        name: "local",
        adminUrl: stack.kong.url,
        pluginTags: [`rotator:${name}`],
        adminToken: { env: "KONG_ADMIN_TOKEN" },
      },
    ],
    ...(opts.credential ?? {}),
  };
  const config = { ...stack.config, credentials: [credential] };
  mkdirSync(configDir, { recursive: true });
  const configPath = join(configDir, `${name}.yaml`);
  writeFileSync(configPath, stringify(config));
  return { name, certName, appId, objectId, pluginId, config, configPath };
}

/** Write a configuration document next to the lanes' ones (bad-input cases). */
export function writeConfig(name: string, doc: unknown, raw = false): string {
  mkdirSync(configDir, { recursive: true });
  const path = join(configDir, name);
  writeFileSync(path, raw ? String(doc) : stringify(doc));
  return path;
}
