import { execFileSync } from "node:child_process";
import { resolve } from "node:path";

export interface Registration {
  kind: string;
  name: string;
  authLevel?: string;
  route?: string;
  methods?: string[];
}

/**
 * Every function the Functions entry point registers, read in a child process (registration happens at
 * import) with these app settings on top of this process's environment.
 */
export function functionRegistrations(settings: Record<string, string | undefined> = {}): Registration[] {
  const out = execFileSync(process.execPath, ["--import", "tsx", resolve("chaos/registrations.child.ts")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
    env: { ...process.env, ...settings },
  });
  return JSON.parse(out) as Registration[];
}
