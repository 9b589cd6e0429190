/**
 * `npm run demo -- --migrate` (add `--idp okta|auth0` for a provider with a cutover): a migration from a
 * client secret to private_key_jwt. The local stack starts with Kong's entry for our client on
 * `client_secret_post` and the secret registered at the IdP (Entra: a password credential). The CLI (same
 * entry point as the bin) shows the dry run, migrates, shows status with the secret's metadata, and retires
 * the secret with --retire-secret, while the gateway login probe logs in continuously.
 *
 * Exit code 0 when every step succeeded and (Entra) no gateway login failed; 1 otherwise. For Okta and
 * Auth0 the failed logins of the cutover are counted and printed next to the window the rotator measured.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { stringify } from "yaml";
import { main } from "../src/cli/main.js";
import { startLocalStack, idpFromArgs, CREDENTIAL, IDP_KINDS, IDP_LABEL } from "./stack.js";
import { stopWhenAsked } from "./common/lifeline.js";

const idp = idpFromArgs(process.argv.slice(2));
if (!idp) {
  console.error(`usage: npm run demo -- --migrate [--idp <${IDP_KINDS.join("|")}>]`);
  process.exit(2);
}
const started = Date.now();
const t = () => `T+${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
const say = (s: string) => console.log(`${t()}  ${s}`);

say(
  `starting the local stack: Kong's entry for our client at ${IDP_LABEL[idp]} logs in with client_secret_post`,
);
const lifeline = stopWhenAsked(130);
const stack = await startLocalStack({
  idp,
  secretAuth: "client_secret_post",
  propagationDelayMs: () => 1000 + Math.round(Math.random() * 2000),
  createDelayMs: 300,
  policy: {
    overlap: "PT1H",
    verifyInterval: "PT0.5S",
    verifyConsecutive: 3,
    verifyTimeout: "PT1M",
    forceCooldown: "PT0S",
  },
});
lifeline.onStop(() => stack.close());
const dir = resolve(".local/demo");
mkdirSync(dir, { recursive: true });
const configPath = resolve(dir, `rotator-migrate${idp === "entra" ? "" : `-${idp}`}.yaml`);
writeFileSync(configPath, stringify(stack.config));

const cli = async (...argv: string[]): Promise<number> =>
  main([...argv, "--config", configPath], {
    out: (s) => s.split("\n").forEach((l) => l.trim() && say(`  │ ${l}`)),
    err: (s) => s.split("\n").forEach((l) => l.trim() && say(`  │ ${l}`)),
    env: stack.env,
  });
const entry = () => {
  const c = stack.kong.getPlugin(stack.pluginId)!.config;
  const secrets = (c.client_secret as string[] | null) ?? [];
  const kid = (c.client_jwk as { kid?: string }[] | null)?.[1]?.kid;
  return `client_auth[1]=${(c.client_auth as string[])[1]}, client_jwk[1]=${kid ? `${kid.slice(0, 8)}…` : "none"}, client_secret[1] ${secrets[1] === stack.seededSecret?.secret ? "holds the secret" : "no longer holds the secret"}`;
};

let failures = 0;
let attempts = 0;
let running = true;
const loop = (async () => {
  while (running) {
    const r = await stack.probe();
    attempts++;
    if (!r.ok) {
      failures++;
      say(`  ✗ login failed: ${r.error ?? r.status}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
})();

let code = 1;
try {
  say(`Kong: ${entry()}; IdP secrets: ${JSON.stringify(stack.idpSecrets())}`);
  say("1. migrate --dry-run: the steps and the IdP's warning; nothing changes");
  if ((await cli("migrate", CREDENTIAL, "--dry-run")) !== 0) throw new Error("dry run failed");
  say(
    "2. migrate: new key, registered, verified; Kong switched in one write per plugin; the secret removed from Kong",
  );
  const rc = await cli("migrate", CREDENTIAL, ...(idp === "entra" ? [] : ["--accept-cutover"]));
  if (rc !== 0) throw new Error("migrate failed");
  say(`   Kong: ${entry()}`);
  say(
    "3. status: the migration's stage and the secret's metadata at the IdP (id, hint, expiry, last sign-in)",
  );
  await cli("status", CREDENTIAL);
  say("4. migrate --retire-secret: the secret leaves the IdP, now that no Kong target holds it");
  if ((await cli("migrate", CREDENTIAL, "--retire-secret")) !== 0) throw new Error("retire failed");
  say(`   IdP secrets: ${JSON.stringify(stack.idpSecrets())}`);
  const ok = idp !== "entra" || failures === 0;
  say(
    `${ok ? "OK" : "FAILED"}: ${attempts} gateway logins during the migration, ${failures} failed` +
      (idp === "entra" ? " (Entra: secret and key side by side, none expected)" : " (the cutover window)"),
  );
  code = ok ? 0 : 1;
} catch (e) {
  say(`FAILED: ${(e as Error).message}`);
} finally {
  running = false;
  await loop;
  await stack.close();
}
process.exit(code);
