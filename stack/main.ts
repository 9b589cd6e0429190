/**
 * `npm run stack` (`-- --idp okta|auth0` for our client at the Okta or Auth0 fake; `-- --client-secret
 * [client_secret_post|client_secret_basic]` for a gateway that starts from a client secret): start the local
 * stack, print its endpoints, write a ready-made configuration and an env file, and keep running until Ctrl-C.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { startLocalStack, idpFromArgs, secretAuthFromArgs, IDP_KINDS, OKTA, SECRET_AUTHS } from "./stack.js";
import { stopWhenAsked } from "./common/lifeline.js";

const idp = idpFromArgs(process.argv.slice(2));
const secretAuth = secretAuthFromArgs(process.argv.slice(2));
if (!idp || secretAuth === null) {
  console.error(
    `usage: npm run stack -- [--idp <${IDP_KINDS.join("|")}>] [--client-secret [${SECRET_AUTHS.join("|")}]]`,
  );
  process.exit(2);
}
const lifeline = stopWhenAsked(0);
const stack = await startLocalStack({ idp, ...(secretAuth ? { secretAuth } : {}) });
const secretLine = stack.seededSecret
  ? `\n  Kong's entry for ${stack.clientId} authenticates with ${stack.seededSecret.auth} (secret ${stack.seededSecret.hint}…, also at the IdP)`
  : "";
const idpLine = stack.okta
  ? `\n  Okta org                  ${stack.okta.orgUrl}   issuer ${stack.okta.issuer(OKTA.authorizationServer)}   app ${stack.clientId}`
  : stack.auth0
    ? `\n  Auth0 tenant              ${stack.auth0.tenantUrl}   application ${stack.clientId}`
    : "";
// LOCAL_STACK_DIR: where the configuration and env file go (the shutdown test keeps a developer's own apart).
const dir = resolve(process.env.LOCAL_STACK_DIR ?? ".local/stack");
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
  Kong Admin API            ${stack.kong.url}   plugin ${stack.pluginId} (tags rotator:orders-api)${secretLine}
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
Ctrl-C (or SIGTERM / SIGHUP to npm) stops everything.`);

// Ctrl-C, SIGTERM or SIGHUP, or the launcher gone: close every server and Azurite, then exit 0.
lifeline.onStop(async () => {
  await stack.close();
  console.log("local stack stopped");
});
