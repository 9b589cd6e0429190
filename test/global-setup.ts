import { ensureCa } from "../stack/common/tls.js";
import { resolve } from "node:path";

/** Create (or reuse) the local CA and make forked test workers trust it. */
export default async function setup(): Promise<void> {
  const ca = await ensureCa(resolve(".local/ca"));
  process.env.NODE_EXTRA_CA_CERTS = ca.certPath;
}
