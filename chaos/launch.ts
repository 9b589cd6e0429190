/**
 * Entry point for `npm run chaos`: makes sure the local CA exists, then runs the suite in a child Node
 * process that trusts it through NODE_EXTRA_CA_CERTS (read only at start-up, as in stack/launch.ts).
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { ensureCa } from "../stack/common/tls.js";

const ca = await ensureCa(resolve(".local/ca"));
const child = spawn(process.execPath, ["--import", "tsx", "chaos/main.ts", ...process.argv.slice(2)], {
  stdio: "inherit",
  env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.certPath },
});
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
