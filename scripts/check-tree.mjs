/* global process, console */
// Part of `npm run lint`: what eslint and prettier do not read. A merge must not leave conflict markers in
// any tracked file (a marker in .ci/run once failed CI with a shell syntax error), and every tracked shell
// script must parse (`bash -n`). Prints one line per problem and exits 1 if there is any.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const files = execFileSync("git", ["ls-files", "-z"], { encoding: "utf8" }).split("\0").filter(Boolean);
const marker = /^(<{7}|>{7}) |^={7}$/m;
const problems = [];
for (const file of files) {
  let text;
  try {
    text = readFileSync(file);
  } catch {
    continue;
  }
  if (text.includes(0)) continue;
  const source = text.toString("utf8");
  const hit = marker.exec(source);
  if (hit) {
    const line = source.slice(0, hit.index).split("\n").length;
    problems.push(`${file}:${line}: merge conflict marker`);
  }
  if (file.endsWith(".sh") || file === ".ci/run") {
    try {
      execFileSync("bash", ["-n", file], { stdio: ["ignore", "ignore", "pipe"] });
    } catch (error) {
      problems.push(`${file}: bash -n: ${String(error.stderr ?? error).trim()}`);
    }
  }
}
for (const problem of problems) console.error(problem);
process.exit(problems.length > 0 ? 1 : 0);
