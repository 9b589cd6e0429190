/**
 * `npm run demo` (`-- --idp okta|auth0` for our client at the Okta or Auth0 fake instead of Entra): the
 * whole product on the embedded local stack, with a compressed clock (seconds of overlap instead of a
 * day, IdP propagation of 1–4 s). It drives the real Azure Function handlers and adapters, while the Kong
 * fake's gateway login probe logs in continuously, and prints a timeline:
 *
 *   1. the rotation timer bootstraps the credential (register at the IdP, verify, push to Kong);
 *   2. an operator rotates over HTTP (a reader may not: 403); a second request gets 409;
 *   3. after the overlap the timer retires the old key; the retired key no longer logs in;
 *   4. Kong's Admin API starts refusing the service (a revoked RBAC token): the next rotation cannot
 *      reach Kong, an alert fires to the webhook, and the gateway keeps logging in on the current key;
 *   5. access is restored: the timer completes the rotation and the alert resolves;
 *   6. after the overlap the timer retires the previous key.
 *
 * Exit code 0 when no gateway login failed after bootstrap, the alert fired and resolved, and the
 * retired keys are refused; 1 otherwise.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import azureFunctions, { type Timer } from "@azure/functions";
import { parseConfig } from "../src/config/load.js";
import { createRuntime } from "../src/app/runtime.js";
import { jsonLogger } from "../src/log/logger.js";
import { setFunctionsRuntime } from "../src/functions/runtime.js";
import { rotationTimerHandler } from "../src/functions/rotationTimer.js";
import { rotateHttpHandler } from "../src/functions/rotateHttp.js";
import { rotationWorkHandler } from "../src/functions/rotationQueue.js";
import { WORK_QUEUE } from "../src/adapters/queue/names.js";
import { startQueueHost } from "./queue-host.js";
import { status } from "../src/app/service.js";
import { startLocalStack, idpFromArgs, CREDENTIAL, IDP_KINDS, IDP_LABEL } from "./stack.js";
import { probeLogin } from "./kong/probe.js";
import { APP_SERVICE_AUTH_SETTINGS, principal } from "./app-service-auth.js";
import { stopWhenAsked } from "./common/lifeline.js";

// @azure/functions is CommonJS; its classes are reachable from ESM through the default export only.
const { HttpRequest, InvocationContext } = azureFunctions;
const started = Date.now();
const t = () => `T+${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
const say = (s: string) => console.log(`${t()}  ${s}`);
const OVERLAP_S = 8;

const idp = idpFromArgs(process.argv.slice(2));
if (!idp) {
  console.error(`usage: npm run demo -- [--idp <${IDP_KINDS.join("|")}>] [--kong <mode>]`);
  process.exit(2);
}
const idpName = IDP_LABEL[idp];
say(
  `starting the local stack (Key Vault, Entra login${idp === "entra" ? " + Graph" : `, ${idp} as the IdP`}, Kong Admin API, Azurite, webhook receiver)`,
);
// Ctrl-C, SIGTERM or SIGHUP, or the launcher gone: stop the queue host and the stack, exit 130.
const lifeline = stopWhenAsked(130);
const stack = await startLocalStack({
  idp,
  propagationDelayMs: () => 1000 + Math.round(Math.random() * 3000),
  createDelayMs: 400,
  policy: {
    overlap: `PT${OVERLAP_S}S`,
    verifyInterval: "PT0.5S",
    verifyConsecutive: 3,
    verifyTimeout: "PT1M",
    forceCooldown: "PT0S",
  },
});
lifeline.onStop(() => stack.close());
const logDir = resolve(".local/demo");
mkdirSync(logDir, { recursive: true });
const logLines: string[] = [];
const rt = createRuntime({
  config: parseConfig(stack.config, "demo"),
  env: stack.env,
  logger: jsonLogger((line) => {
    logLines.push(line);
    printStep(line);
  }, "debug"),
});
setFunctionsRuntime(rt);
say(
  `stack up: Kong plugin ${stack.pluginId.slice(0, 8)}… lists clients [partner-portal, ${stack.clientId.slice(0, 8)}…] (${idpName}); our client has no key yet`,
);

// --- the gateway login probe, continuously -----------------------------------------------------------
const probe = {
  attempts: 0,
  failures: 0,
  beforeBootstrap: 0,
  failuresAfterBootstrap: [] as string[],
  live: false,
};
let probing = true;
const probeLoop = (async () => {
  while (probing) {
    const r = await stack.kong.probe(stack.pluginId, stack.clientId);
    if (probe.live) {
      probe.attempts++;
      if (!r.ok) {
        probe.failures++;
        probe.failuresAfterBootstrap.push(`${t()} ${r.error ?? r.status}`);
      }
    } else if (!r.ok) probe.beforeBootstrap++;
    await new Promise((res) => setTimeout(res, 200));
  }
})();

const ctx = (name: string) =>
  new InvocationContext({ functionName: name, invocationId: `demo-${Date.now()}`, logHandler: () => {} });
const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: "", next: "", lastUpdated: "" },
};
// The queue-triggered function, driven as the Functions host would: the timer only enqueues the work.
const worker = await startQueueHost({
  connectionString: stack.env.AzureWebJobsStorage!,
  queueName: WORK_QUEUE,
  maxPollingIntervalMs: 500,
  handler: (message) => rotationWorkHandler(message, ctx("rotationWork")),
});
lifeline.onStop(() => worker.stop());
const runTimer = async (why: string) => {
  say(`rotationTimer fires (${why}); the rotationWork queue function does the enqueued work`);
  await rotationTimerHandler(timer, ctx("rotationTimer"));
  await worker.idle();
};
// As deployed: App Service Authentication signs callers in and the HTTP API checks their app roles. The demo
// plays the platform, setting the principal header of a signed-in caller.
Object.assign(process.env, APP_SERVICE_AUTH_SETTINGS);
const postRotate = async (
  body: Record<string, unknown>,
  caller: string,
  roles: string[] = ["Rotation.Operator"],
) =>
  rotateHttpHandler(
    new HttpRequest({
      method: "POST",
      url: `http://localhost:7071/api/credentials/${CREDENTIAL}/rotate`,
      params: { name: CREDENTIAL },
      headers: {
        "content-type": "application/json",
        "x-ms-client-principal": principal(caller, roles, caller),
      },
      body: { string: JSON.stringify(body) },
    }),
    ctx("rotateCredential"),
  );

/** Print the engine's `RotationStep` events as they are logged (the engine logs each step; no secrets). */
function printStep(line: string) {
  const e = JSON.parse(line) as Record<string, unknown>;
  if (e.event !== "RotationStep") return;
  const mark = e.status === "done" ? "✓" : e.status === "failed" ? "✗" : "-";
  say(
    `   ${mark} ${String(e.action)}${e.target ? ` [${String(e.target)}]` : ""}: ${String(e.detail ?? "")}${e.code ? ` [${String(e.code)}]` : ""}`,
  );
}
const ourKid = () =>
  ((stack.kong.getPlugin(stack.pluginId)?.config.client_jwk as Record<string, unknown>[])[1]?.kid as
    string | undefined) ?? "none";
const appKeys = () =>
  stack
    .idpKeys()
    .map((k) => `${k.kid.slice(0, 10)}…${k.state === "registered" ? "" : ` (${k.state})`}`)
    .join(", ") || "none";
const sleep = (s: number) => new Promise((res) => setTimeout(res, s * 1000));
const problems: string[] = [];

// --- 1. bootstrap by the timer ---------------------------------------------------------------------------
const probeBefore = await stack.kong.probe(stack.pluginId, stack.clientId);
say(
  `gateway login before bootstrap: ${probeBefore.ok ? "ok (unexpected)" : "fails, as expected (no key for our client)"}`,
);
await runTimer("first run: no key generation exists");
probe.live = true;
say(`Kong now holds kid ${ourKid()}; keys at ${idpName}: ${appKeys()}`);

// --- 2. manual rotation over HTTP, and a concurrent request ------------------------------------------------
const gen1Config = structuredClone(stack.kong.getPlugin(stack.pluginId)!.config);
const byReader = await postRotate({ force: true, reason: "demo: not my role" }, "rita@contoso.example", [
  "Rotation.Reader",
]);
say(
  `a Rotation.Reader asks for a forced rotation → HTTP ${byReader.status} ${(byReader.jsonBody as { error?: { code?: string } }).error?.code ?? ""}`,
);
if (byReader.status !== 403) problems.push("a reader was not refused a forced rotation");
say(
  `operator: POST /api/credentials/${CREDENTIAL}/rotate {"force":true,"reason":"demo: quarterly rotation"}`,
);
const first = postRotate({ force: true, reason: "demo: quarterly rotation" }, "alice@contoso.example");
await sleep(0.3);
const second = await postRotate(
  { force: true, reason: "demo: impatient double click" },
  "bob@contoso.example",
);
say(
  `a second request while the first runs → HTTP ${second.status} ${(second.jsonBody as { error?: { code?: string } }).error?.code ?? ""}`,
);
const firstRes = await first;
say(
  `first request → HTTP ${firstRes.status}, outcome ${(firstRes.jsonBody as { outcome?: string }).outcome}`,
);
if (second.status !== 409) problems.push("the concurrent request was not refused with 409");
say(`Kong now holds kid ${ourKid()}; keys at ${idpName}: ${appKeys()} (old key kept for the overlap)`);

// --- 3. overlap passes, the timer retires the old key ----------------------------------------------------
say(`waiting ${OVERLAP_S}s of overlap (a day in production)`);
await sleep(OVERLAP_S + 1);
await runTimer("hourly schedule");
say(`keys at ${idpName}: ${appKeys()}`);
const retired1 = await probeLogin(gen1Config, stack.clientId, stack.ca.certPem);
say(
  `a gateway still configured with the retired key: ${retired1.ok ? "LOGS IN (unexpected)" : `refused (${(retired1.error ?? "").slice(0, 60)}…)`}`,
);
if (retired1.ok) problems.push("the first retired key still logs in");

// --- 4. Kong refuses the service: the sync fails and an alert fires ----------------------------------------
say("someone revokes the rotator's Kong RBAC token: the Admin API now answers 403 to its writes");
stack.kong.faults.add({
  method: "PATCH",
  path: "/plugins/",
  fault: { kind: "status", status: 403, body: { message: "You cannot consume this service" } },
  times: Infinity,
});
const gen2Config = structuredClone(stack.kong.getPlugin(stack.pluginId)!.config);
const failed = await postRotate(
  { force: true, reason: "demo: rotation during a Kong outage" },
  "alice@contoso.example",
);
const failedBody = failed.jsonBody as {
  outcome?: string;
  failedTarget?: string;
  error?: { code?: string; hint?: string };
};
say(
  `→ HTTP ${failed.status}, outcome ${failedBody.outcome}, target ${failedBody.failedTarget ?? "?"}, ${failedBody.error?.code ?? ""}`,
);
say(`   hint: ${failedBody.error?.hint ?? ""}`);
say(`Kong still holds kid ${ourKid()} (the current key, still registered): logins continue`);
await sleep(1);

// --- 5. access restored: the timer finishes the rotation, the alert resolves --------------------------------
say("the Kong RBAC token is restored");
stack.kong.faults.clear();
await runTimer("hourly schedule");
say(`Kong now holds kid ${ourKid()}; keys at ${idpName}: ${appKeys()}`);

// --- 6. the overlap passes again: retire ---------------------------------------------------------------------
say(`waiting ${OVERLAP_S}s of overlap`);
await sleep(OVERLAP_S + 1);
await runTimer("hourly schedule");
say(`keys at ${idpName}: ${appKeys()}`);
const retired2 = await probeLogin(gen2Config, stack.clientId, stack.ca.certPem);
if (retired2.ok) problems.push("the second retired key still logs in");

probing = false;
await probeLoop;

// --- summary ---------------------------------------------------------------------------------------------------
const alerts = stack.webhook.received.map(
  (w) => w.body as { event?: string; status?: string; code?: string; target?: string },
);
console.log("\nalerts received by the webhook:");
for (const a of alerts)
  console.log(
    `  ${String(a.status).padEnd(9)} ${String(a.event).padEnd(21)} ${a.code ?? ""}${a.target ? ` target=${a.target}` : ""}`,
  );
const fired = alerts.some((a) => a.event === "KeyRotationFailed" && a.status === "firing");
const resolvedAlert = alerts.some((a) => a.event === "KeyRotationFailed" && a.status === "resolved");
if (!fired) problems.push("no KeyRotationFailed alert fired");
if (!resolvedAlert) problems.push("the alert did not resolve");
if (probe.failures > 0)
  problems.push(
    `${probe.failures} gateway logins failed after bootstrap: ${probe.failuresAfterBootstrap.slice(0, 3).join("; ")}`,
  );

const generations = (await status(rt, CREDENTIAL))[0]?.generations ?? [];
console.log("\nkey generations in Key Vault:");
for (const g of generations)
  console.log(`  ${g.phase.padEnd(8)} ${g.x5t ?? "?"}  enabled=${g.enabled}  at IdP=${g.atIdp}`);
console.log(
  `\ngateway login probe: ${probe.attempts} logins after bootstrap, ${probe.failures} failed (goal: 0); ${probe.beforeBootstrap} refused before the first key, as expected`,
);
console.log(`retired keys refused at the token endpoint: ${!retired1.ok && !retired2.ok ? "yes" : "NO"}`);
writeFileSync(resolve(logDir, "rotator.log"), logLines.join("\n") + "\n");
console.log(`structured service log (redacted): ${resolve(logDir, "rotator.log")}`);

await worker.stop();
await stack.close();
if (problems.length) {
  console.log(`\nDEMO FAILED:\n  - ${problems.join("\n  - ")}`);
  process.exit(1);
}
console.log("\ndemo complete: full lifecycle with 0 failed gateway logins; the alert fired and resolved");
process.exit(0);
