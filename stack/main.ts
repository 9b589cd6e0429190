/**
 * `npm run stack` (`-- --idp okta|auth0` for our client at the Okta or Auth0 fake): start the local stack,
 * print its endpoints, write a ready-made configuration and an env file, and keep running until Ctrl-C.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { startLocalStack, idpFromArgs, IDP_KINDS, OKTA } from "./stack.js";

const idp = idpFromArgs(process.argv.slice(2));
if (!idp) {
  console.error(`usage: npm run stack -- [--idp <${IDP_KINDS.join("|")}>]`);
  process.exit(2);
}
const stack = await startLocalStack({ idp });
const idpLine = stack.okta
  ? `\n  Okta org                  ${stack.okta.orgUrl}   issuer ${stack.okta.issuer(OKTA.authorizationServer)}   app ${stack.clientId}`
  : stack.auth0
    ? `\n  Auth0 tenant              ${stack.auth0.tenantUrl}   application ${stack.clientId}`
    : "";
const dir = resolve(".local/stack");
mkdirSync(dir, { recursive: true });
const configPath = resolve(dir, "rotator.yaml");
const envPath = resolve(dir, "env.sh");
writeFileSync(configPath, stack.configYaml());
writeFileSync(
  envPath,
  Object.entries(stack.env)
    .map(([k, v]) => `export ${k}='${v}'`)
    .join("\n") + "\n",
  { mode: 0o600 },
);

console.log(`local stack is up (all on 127.0.0.1):
  Entra login (authority)   ${stack.entra.authorityHost}   tenant ${stack.entra.tenantId}
  Microsoft Graph           ${stack.entra.graphBaseUrl}${idpLine}
  Key Vault                 ${stack.keyVault.url}
  Kong Admin API            ${stack.kong.url}   plugin ${stack.pluginId} (tags rotator:orders-api)
  Azurite blob              ${stack.azurite.blobEndpoint}
  webhook receiver          ${stack.webhook.url}/alerts
  CA certificate            ${stack.ca.certPath}

configuration: ${configPath}
environment:   ${envPath}   (identity secret, Kong RBAC token, IdP management secret, storage: local values only)

try, in another shell:
  . ${envPath}
  npx tsx src/cli/main.ts plan --config ${configPath}
  npx tsx src/cli/main.ts rotate orders-api --config ${configPath}
  npx tsx src/cli/main.ts status --config ${configPath}

--- ${configPath} ---
${stack.configYaml()}
Ctrl-C stops everything.`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await stack.close();
  console.log("local stack stopped");
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
