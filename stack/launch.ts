/**
 * Entry point for `npm run stack`, `npm run demo` and `npm run bench`: makes sure the local CA exists, then runs the real
 * entry in a child Node process that trusts it through NODE_EXTRA_CA_CERTS (Node reads that variable only
 * at start-up, exactly as a deployed Function App would read its own trust settings). The npm scripts run it
 * as `node --import tsx stack/launch.ts`, without the tsx command in between, so that nothing stands between
 * npm's script shell and the process that watches it.
 */
import { resolve } from "node:path";
import { superviseChild } from "./common/lifeline.js";
import { ensureCa } from "./common/tls.js";

const entries: Record<string, string> = {
  stack: "stack/main.ts",
  demo: "stack/demo.ts",
  bench: "bench/fleet.ts",
};

const [name, ...args] = process.argv.slice(2);
// `npm run demo -- --kong <konnect|hybrid|dbless>`: the Kong deployment demo (stack/demo-kong.ts);
// `npm run demo -- --migrate`: the migration from a client secret (stack/demo-migrate.ts);
// `npm run bench -- --compromise`: P6, the key-compromise response (bench/compromise.ts).
const entry =
  name === "demo" && args.includes("--kong")
    ? "stack/demo-kong.ts"
    : name === "demo" && args.includes("--migrate")
      ? "stack/demo-migrate.ts"
      : name === "bench" && args.includes("--compromise")
        ? "bench/compromise.ts"
        : name
          ? entries[name]
          : undefined;
if (!entry) {
  console.error(`usage: tsx stack/launch.ts <${Object.keys(entries).join("|")}> [args]`);
  process.exit(2);
}
const ca = await ensureCa(resolve(".local/ca"));
// The child stops with this launcher's parent, whichever signal (or none) reaches it: common/lifeline.ts.
superviseChild(["--import", "tsx", entry, ...args], { ...process.env, NODE_EXTRA_CA_CERTS: ca.certPath });
