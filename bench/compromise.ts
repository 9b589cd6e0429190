/**
 * `npm run bench -- --compromise`: P6, the key-compromise response on the local stack (docs/performance.md,
 * "Key compromise"). Not a test: it measures and prints.
 *
 * Set-up: one credential with one Kong target on the local stack; injected latencies as in the fleet
 * benchmark (Key Vault create 3 s, Entra propagation 5 s, Kong plugin write 200 ms); verification 4 in a
 * row, 2 s apart. Two rotations first, so that the previous generation is still in its overlap when the
 * compromise is reported. A poller signs client assertions with the compromised key (read from Key Vault
 * before the request, signed locally, as someone holding the leaked key would) and sends them to the
 * token endpoint every 100 ms.
 *
 * P6: seconds from the request (`rotate --compromised`, as the CLI and HTTP call it) until the token
 * endpoint refuses the compromised key for good. Critical path: the steps a compromise cannot skip, as the
 * run recorded them: create, register, verify (propagation and the confirmation streak) and activate
 * (Kong confirmation). Goal: P6 ≤ critical path + 5 s.
 */
import { loadavg } from "node:os";
import { parseConfig } from "../src/config/load.js";
import { createRuntime } from "../src/app/runtime.js";
import { rotate } from "../src/app/service.js";
import { localSigner } from "../src/crypto/jws.js";
import { splitPemBundle } from "../src/crypto/keymaterial.js";
import { silentLogger } from "../src/log/logger.js";
import { CREDENTIAL, startLocalStack } from "../stack/stack.js";
import { stopWhenAsked } from "../stack/common/lifeline.js";

const CREATE_MS = 3_000;
const PROPAGATION_MS = 5_000;
const KONG_WRITE_MS = 200;
const VERIFY_INTERVAL_S = 2;
const VERIFY_CONSECUTIVE = 4;
const POLL_MS = 100;

const log = (s: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const lifeline = stopWhenAsked(130);
const stack = await startLocalStack({
  createDelayMs: CREATE_MS,
  propagationDelayMs: PROPAGATION_MS,
  kongWriteLatencyMs: KONG_WRITE_MS,
  policy: {
    overlap: "PT1H",
    verifyInterval: `PT${VERIFY_INTERVAL_S}S`,
    verifyConsecutive: VERIFY_CONSECUTIVE,
    verifyTimeout: "PT10M",
  },
});
lifeline.onStop(() => stack.close());
try {
  const rt = createRuntime({ config: parseConfig(stack.config), env: stack.env, logger: silentLogger });
  const cred = rt.credential(CREDENTIAL);
  const ports = rt.enginePorts(cred);
  for (const force of [false, true]) {
    const r = await rotate(rt, CREDENTIAL, { trigger: "cli", force, overrideCooldown: force });
    if (r.kind !== "done" || r.report.outcome !== "ok")
      throw new Error(`set-up rotation: ${JSON.stringify(r)}`);
  }
  const versions = await ports.store.listVersions(cred.certificateName);
  const leaked = versions.find((v) => v.tags["rotator-phase"] === "active");
  if (!leaked?.x5t) throw new Error("no active generation after set-up");
  const pem = await ports.store.readPem(cred.certificateName, leaked.version);
  const signer = localSigner(splitPemBundle(pem).privateKey, leaked.x5t);
  const alg = cred.policy.algorithm;
  log(`compromised key ${leaked.x5t}; a retiring generation is in its overlap`);

  // The poller: accepted / refused answers of the token endpoint to the compromised key, with their times.
  const answers: { at: number; ok: boolean }[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const attempt = await ports.idp.verify(signer, alg).catch(() => undefined);
      if (attempt) answers.push({ at: Date.now(), ok: attempt.ok });
      await sleep(POLL_MS);
    }
  })();

  const t0 = Date.now();
  const result = await rotate(rt, CREDENTIAL, { trigger: "cli", compromised: true, reason: "bench P6" });
  const runMs = Date.now() - t0;
  await sleep(2_000);
  polling = false;
  await poller;
  if (result.kind !== "done" || result.report.outcome !== "ok")
    throw new Error(`compromise run: ${JSON.stringify(result)}`);

  const lastAccepted = answers.filter((a) => a.ok).at(-1);
  const refused = answers.find((a) => !a.ok && (!lastAccepted || a.at > lastAccepted.at));
  if (!refused) throw new Error("the compromised key was never refused");
  const p6 = refused.at - t0;
  const steps = result.report.steps;
  const stepMs = (action: string) =>
    steps.filter((s) => s.action === action && s.status === "done").reduce((a, s) => a + s.durationMs, 0);
  const critical = ["create", "publish", "verify", "activate"].map((a) => [a, stepMs(a)] as const);
  const criticalMs = critical.reduce((a, [, ms]) => a + ms, 0);
  const revoked = result.report.compromise?.revoked.length ?? 0;
  const [l1, l5, l15] = loadavg().map((x) => x.toFixed(2));

  const rows: [string, string][] = [
    [
      "injected latency",
      `KV create ${CREATE_MS / 1000} s, Entra propagation ${PROPAGATION_MS / 1000} s, Kong write ${KONG_WRITE_MS} ms; verification ${VERIFY_CONSECUTIVE} in a row, ${VERIFY_INTERVAL_S} s apart`,
    ],
    ["critical path (as run)", critical.map(([a, ms]) => `${a} ${(ms / 1000).toFixed(1)} s`).join(" + ")],
    ["critical path total", `${(criticalMs / 1000).toFixed(1)} s`],
    ["P6 request → old key refused", `${(p6 / 1000).toFixed(1)} s (poll every ${POLL_MS} ms)`],
    [
      "P6 − critical path (goal ≤ 5 s)",
      `${((p6 - criticalMs) / 1000).toFixed(1)} s ${p6 - criticalMs <= 5_000 ? "(met)" : "(NOT met)"}`,
    ],
    ["whole run", `${(runMs / 1000).toFixed(1)} s; ${revoked} earlier generation(s) revoked`],
    ["load average (1/5/15 min)", `${l1} / ${l5} / ${l15}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`\n| ${"measure".padEnd(width)} | value |\n|${"-".repeat(width + 2)}|-------|`);
  for (const [k, v] of rows) console.log(`| ${k.padEnd(width)} | ${v} |`);
} finally {
  await stack.close();
}
