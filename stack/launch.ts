/**
 * Entry point for `npm run stack`, `npm run demo` and `npm run bench`: makes sure the local CA exists, then runs the real
 * entry in a child Node process that trusts it through NODE_EXTRA_CA_CERTS (Node reads that variable only
 * at start-up, exactly as a deployed Function App would read its own trust settings).
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { ensureCa } from "./common/tls.js";

const entries: Record<string, string> = {
  stack: "stack/main.ts",
  demo: "stack/demo.ts",
  bench: "bench/fleet.ts",
};

const [name, ...args] = process.argv.slice(2);
// `npm run demo -- --kong <konnect|hybrid|dbless>`: the Kong deployment demo (stack/demo-kong.ts).
const entry =
  name === "demo" && args.includes("--kong") ? "stack/demo-kong.ts" : name ? entries[name] : undefined;
if (!entry) {
  console.error(`usage: tsx stack/launch.ts <${Object.keys(entries).join("|")}> [args]`);
  process.exit(2);
}
const ca = await ensureCa(resolve(".local/ca"));
const child = spawn(process.execPath, ["--import", "tsx", entry, ...args], {
  stdio: "inherit",
  env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.certPath },
});
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
