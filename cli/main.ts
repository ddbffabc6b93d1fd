import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { ROOT } from "../lib/root";
import { makeContext, type Context, type GlobalOptions } from "./context";
import { explain } from "./errors";
import { reportFailure } from "./output";
import { registerProvider } from "./commands/provider";
import { registerOwner } from "./commands/owner";
import { registerManager } from "./commands/manager";
import { registerGov } from "./commands/gov";
import { registerSafe } from "./commands/safe";
import { registerVerify } from "./commands/verify";
import { registerBot } from "./commands/bot";
import { registerValidator } from "./commands/validator";

// Commander passes each action its positional arguments and options, untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Action = (ctx: Context, ...args: any[]) => Promise<void>;
export type Runner = (fn: Action) => (...args: unknown[]) => Promise<void>;

/** The version in package.json (read at run time: the compiled code in dist/ has no copy of it). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
}

/**
 * `ddc`: the DDC command line, for every party. Keys come from the environment
 * (DDC_PRIVATE_KEY) or an encrypted keystore file (--keystore, DDC_KEYSTORE_PASSWORD), never from
 * the command line. Every failure prints the reason (a custom error decoded with its arguments)
 * and a hint, and exits 1.
 */
export function buildProgram(): Command {
  const program = new Command("ddc")
    .description("DDC, the decentralized data cloud: providers, owners, managers, DAO members and Safe owners")
    .version(packageVersion(), "-V, --version", "print the version of ddc (package.json)")
    .option("--json", "print results as JSON")
    .option("--network <name>", "the network of deployments/<name>.json (default localhost, or DDC_NETWORK)")
    .option("--rpc <url>", "the RPC endpoint (default: localhost 127.0.0.1:8545, live DDC_RPC_URL)")
    .option("--deployment <file>", "the deployment record (default deployments/<network>.json)")
    .option("--keystore <file>", "an encrypted keystore file (password in DDC_KEYSTORE_PASSWORD)")
    .option("--quiet", "no progress lines on stderr")
    .showHelpAfterError();

  const run: Runner =
    (fn) =>
    async (...args) => {
      const command = args[args.length - 1] as Command;
      const globals = command.optsWithGlobals<GlobalOptions>();
      try {
        const ctx = await makeContext(globals);
        await fn(ctx, ...args.slice(0, -1));
      } catch (error) {
        reportFailure(error, globals.json === true);
      }
    };

  registerProvider(program, run);
  registerOwner(program, run);
  registerManager(program, run);
  registerGov(program, run);
  registerSafe(program, run);
  registerVerify(program, run);
  registerBot(program);
  registerValidator(program, run);
  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      console.error(`error: ${explain(error).message}`);
      process.exitCode = 1;
    });
}
