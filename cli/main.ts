import { Command } from "commander";
import { makeContext, type Context, type GlobalOptions } from "./context";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { explain } from "./errors";
import { DryRunStop, type DryRunStep } from "./guard";
import { print, reportFailure } from "./output";
import { registerProvider } from "./commands/provider";
import { registerOwner } from "./commands/owner";
import { registerManager } from "./commands/manager";
import { registerGov } from "./commands/gov";
import { registerSafe } from "./commands/safe";
import { registerVerify } from "./commands/verify";
import { registerBot } from "./commands/bot";
import { registerValidator } from "./commands/validator";
import { registerToken } from "./commands/token";
import { registerNodeService } from "./commands/node";

// Commander passes each action its positional arguments and options, untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Action = (ctx: Context, ...args: any[]) => Promise<void>;
export type Runner = (fn: Action) => (...args: unknown[]) => Promise<void>;

/** What `ddc --help` says about the environment: keys never go on the command line. */
export const ENVIRONMENT = `
Environment:
  DDC_PRIVATE_KEY          the signing key (hex); or DDC_KEYSTORE + DDC_KEYSTORE_PASSWORD
  DDC_KEYSTORE             an encrypted keystore file (same as --keystore)
  DDC_KEYSTORE_PASSWORD    the keystore's password
  DDC_NETWORK              the network (same as --network; default localhost)
  DDC_RPC_URL              the RPC endpoint of a network other than localhost
  DDC_LOCAL_RPC            the localhost endpoint (default http://127.0.0.1:8545)
  DDC_DEPLOYMENTS_DIR      where deployment records are (default deployments/)
  DDC_SAFE_STORE           the Safe signature store: \`safe\`, a signature server's URL or a directory
                           (default: \`safe\` where Safe's Transaction Service runs, else
                           deployments/<network>.signatures)
  DDC_SAFE_API_KEY         the API key of Safe's Transaction Service

Transaction commands simulate first (a revert is reported before anything is sent), show
the decoded call and ask before sending on a terminal; --yes skips the question, --dry-run
sends nothing.`;

function packageVersion(): string {
  // The package file is two levels up from cli/ in the sources and from dist/cli/ when compiled.
  for (const up of ["..", "../.."]) {
    try {
      return (JSON.parse(readFileSync(join(__dirname, up, "package.json"), "utf8")) as { version: string }).version;
    } catch {
      // try the next place
    }
  }
  return "unknown";
}

/** A dry run's plan: the decoded call, its gas, what it returns; nothing was sent. */
async function printDryRun(ctx: Context, plan: DryRunStep): Promise<void> {
  const lines = [
    "dry run: nothing was sent",
    `  from ${plan.from}`,
    `  ${plan.call}`,
    ...(plan.gas > 0n ? [`  simulated: succeeds, gas ${plan.gas}`] : []),
    ...(plan.returned !== "0x" ? [`  returns ${plan.returned}`] : []),
    ...plan.warnings.map((w) => `  warning: ${w}`),
    "  (a command of several transactions stops at its first; the next ones depend on it)",
  ];
  print(ctx, { dryRun: true, ...plan }, lines);
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
    .option("--json", "print results as JSON")
    .option("--network <name>", "the network of deployments/<name>.json (default localhost, or DDC_NETWORK)")
    .option("--rpc <url>", "the RPC endpoint (default: localhost 127.0.0.1:8545, live DDC_RPC_URL)")
    .option("--deployment <file>", "the deployment record (default deployments/<network>.json)")
    .option("--keystore <file>", "an encrypted keystore file (password in DDC_KEYSTORE_PASSWORD)")
    .option("--quiet", "no progress lines on stderr")
    .option("--dry-run", "simulate the command's transaction, print it decoded, send nothing")
    .option("-y, --yes", "do not ask for confirmation on a terminal")
    .version(packageVersion(), "-V, --version", "print the version")
    .addHelpText("afterAll", ENVIRONMENT)
    .showHelpAfterError();

  const run: Runner =
    (fn) =>
    async (...args) => {
      const command = args[args.length - 1] as Command;
      const globals = command.optsWithGlobals<GlobalOptions>();
      let ctx: Context | undefined;
      try {
        ctx = await makeContext(globals);
        await fn(ctx, ...args.slice(0, -1));
      } catch (error) {
        if (error instanceof DryRunStop && ctx !== undefined) {
          await printDryRun(ctx, error.plan);
          return;
        }
        reportFailure(error, globals.json === true, ctx === undefined ? {} : await ctx.valueFormat());
      }
    };

  registerProvider(program, run);
  registerOwner(program, run);
  registerToken(program, run);
  registerManager(program, run);
  registerGov(program, run);
  registerSafe(program, run);
  registerVerify(program, run);
  registerBot(program);
  registerValidator(program, run);
  registerNodeService(program);
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
