import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "../../lib/root";

export { ROOT };

const run = promisify(execFile);

/** How a `ddc` process ended. */
export interface DdcResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `node <root>/bin/ddc <args>` as a separate process with exactly `env`, run from `root`, to its
 * end: a non-zero exit is a result (its code and both outputs), not an error.
 */
export async function runDdc(args: string[], env: NodeJS.ProcessEnv, root = ROOT): Promise<DdcResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(root, "bin", "ddc"), ...args], { cwd: root, env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
