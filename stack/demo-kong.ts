/**
 * `npm run demo -- --kong konnect` (or `hybrid`, `dbless`, `kubernetes`; add `--idp okta|auth0` for our client
 * at the Okta or Auth0 fake): a rotation confirmed on lagging data planes.
 * The local stack runs Kong as the chosen deployment with three gateways: dp-1 takes a new config at once,
 * dp-2 six seconds later, and dp-retired is a disconnected node whose stale record must be ignored. The CLI
 * (same entry point as the bin) bootstraps the credential and then rotates it, while the gateway login
 * probe signs continuously with what the gateways hold. The timeline shows activation waiting for dp-2.
 *
 * Exit code 0 when no login failed after bootstrap and activation waited for the lagging gateway; 1 otherwise.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { stringify } from "yaml";
import { main } from "../src/cli/main.js";
import { startLocalStack, idpFromArgs, CREDENTIAL, IDP_KINDS, IDP_LABEL, type KongMode } from "./stack.js";
import { stopWhenAsked } from "./common/lifeline.js";

const modeArg = process.argv[process.argv.indexOf("--kong") + 1];
const modes: KongMode[] = ["konnect", "hybrid", "dbless", "kubernetes"];
const idp = idpFromArgs(process.argv.slice(2));
if (!modes.includes(modeArg as KongMode) || !idp) {
  console.error(`usage: npm run demo -- --kong <${modes.join("|")}> [--idp <${IDP_KINDS.join("|")}>]`);
  process.exit(2);
}
const mode = modeArg as KongMode;
/** The lagging gateway (dp-2); DB-less nodes both load a new config at once, so nothing lags there. */
const LAG_MS = 6_000;
const started = Date.now();
const t = () => `T+${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
const say = (s: string) => console.log(`${t()}  ${s}`);

say(
  `starting the local stack with Kong as ${mode} and our client at ${IDP_LABEL[idp]}: ${mode === "dbless" ? "two DB-less nodes" : `dp-1 in sync at once, dp-2 ${LAG_MS / 1000} s behind, dp-retired disconnected`}`,
);
const lifeline = stopWhenAsked(130);
const stack = await startLocalStack({
  propagationDelayMs: () => 1000 + Math.round(Math.random() * 2000),
  createDelayMs: 300,
  kongMode: mode,
  idp,
  maxLag: "PT1M",
  dataPlanes:
    mode === "dbless"
      ? undefined
      : [
          { hostname: "dp-1" },
          { hostname: "dp-2", lagMs: LAG_MS },
          { hostname: "dp-retired", disconnected: true },
        ],
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
const configPath = resolve(dir, `rotator-${mode}${idp === "entra" ? "" : `-${idp}`}.yaml`);
writeFileSync(configPath, stringify(stack.config));

const cli = async (...argv: string[]): Promise<number> =>
  main([...argv, "--config", configPath], {
    out: (s) => s.split("\n").forEach((l) => l.trim() && say(`  │ ${l}`)),
    err: (s) => s.split("\n").forEach((l) => l.trim() && say(`  │ ${l}`)),
    env: stack.env,
  });
const kids = () =>
  Object.entries(stack.gatewayKids())
    .map(([name, kid]) => `${name}=${kid ? `${kid.slice(0, 8)}…` : "none"}`)
    .join("  ");

let failures = 0;
let attempts = 0;
let probing = false;
let running = true;
const loop = (async () => {
  while (running) {
    if (probing) {
      const r = await stack.probe();
      attempts++;
      if (!r.ok) {
        failures++;
        say(`  ✗ login failed: ${r.error ?? r.status}`);
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
})();

let code = 1;
try {
  say(`1. bootstrap: create, register at ${IDP_LABEL[idp]}, verify, push and confirm on every live gateway`);
  if ((await cli("rotate", CREDENTIAL)) !== 0) throw new Error("bootstrap failed");
  say(`   gateways: ${kids()}`);
  probing = true;

  say(
    mode === "dbless"
      ? "2. rotate: every DB-less node takes the key; activation follows once all of them hold it"
      : "2. rotate: the control plane takes the key at once; activation waits until dp-2 holds it too",
  );
  const t0 = Date.now();
  const rc = await cli("rotate", CREDENTIAL, "--force", "--reason", "demo");
  const waited = Date.now() - t0;
  say(`   gateways: ${kids()}`);
  say(`3. status`);
  await cli("status");
  const lagMs = mode === "dbless" ? 0 : LAG_MS;
  const ok = rc === 0 && failures === 0 && waited >= lagMs;
  say(
    `${ok ? "OK" : "FAILED"}: rotation took ${(waited / 1000).toFixed(1)} s (lag ${lagMs / 1000} s); ${attempts} gateway logins after bootstrap, ${failures} failed`,
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
