/**
 * Entry point for `npm run chaos`: makes sure the local CA exists, then runs the suite in a child Node
 * process that trusts it through NODE_EXTRA_CA_CERTS (read only at start-up, as in stack/launch.ts).
 */
import { resolve } from "node:path";
import { superviseChild } from "../stack/common/lifeline.js";
import { ensureCa } from "../stack/common/tls.js";

const ca = await ensureCa(resolve(".local/ca"));
superviseChild(["--import", "tsx", "chaos/main.ts", ...process.argv.slice(2)], {
  ...process.env,
  NODE_EXTRA_CA_CERTS: ca.certPath,
});
