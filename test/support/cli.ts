/** Run the CLI's `main()` in-process with a configuration file and an environment, capturing its output. */
import { main } from "../../src/cli/main.js";

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export async function runCli(
  argv: string[],
  configPath: string,
  env: Record<string, string>,
  stdin?: string,
): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...argv, "--config", configPath], {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    env: { ...env },
    ...(stdin === undefined ? {} : { stdin: async () => stdin }),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}
