import { subtask, task } from "hardhat/config";
import {
  TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD,
  TASK_COMPILE_SOLIDITY_LOG_COMPILATION_ERRORS,
  TASK_COMPILE_SOLIDITY_RUN_SOLCJS,
  TASK_TEST_RUN_MOCHA_TESTS,
} from "hardhat/builtin-tasks/task-names";
import type { HardhatUserConfig } from "hardhat/types";
import "@nomicfoundation/hardhat-ethers";
import "@nomicfoundation/hardhat-chai-matchers";
import "@typechain/hardhat";
import "solidity-docgen";
import { DOCGEN_CONFIG } from "./scripts/docs";

/** The one Solidity compiler of the project, taken from the npm `solc` package (no download). */
const SOLC_VERSION = "0.8.30";

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args: { solcVersion: string }, _hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) return runSuper(args);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const solc = require("solc") as { version(): string };
  const longVersion = solc.version();
  if (!longVersion.startsWith(`${SOLC_VERSION}+`)) {
    throw new Error(`the installed npm package solc is ${longVersion}, the project pins ${SOLC_VERSION}: run npm ci`);
  }
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: SOLC_VERSION,
    longVersion,
  };
});

// Compiling the contracts takes about 2 minutes on 2 cores (the IR pipeline), and `hardhat run`
// compiles quietly: say so before it starts, so that a first `npm start` is not silent.
subtask(TASK_COMPILE_SOLIDITY_RUN_SOLCJS, async (args, _hre, runSuper) => {
  console.log("Compiling the contracts (first run only, until they change: about 2 minutes on 2 cores)…");
  const started = Date.now();
  const output: unknown = await runSuper(args);
  console.log(`Compiled the contracts in ${Math.round((Date.now() - started) / 1000)} s`);
  return output;
});

interface SolcMessage {
  errorCode?: string;
  severity: string;
  sourceLocation?: { file: string };
}

/**
 * The one known third-party warning: solc warns (2394) wherever `tstore` appears, and
 * OpenZeppelin's TransientSlot (under ReentrancyGuardTransient) is where it does. OpenZeppelin
 * clears the slot at the end of each call, which the warning itself calls safe. Any other warning,
 * and this one in the project's own contracts, is printed as usual.
 */
export function isKnownThirdPartyWarning(m: SolcMessage): boolean {
  return (
    m.severity === "warning" &&
    m.errorCode === "2394" &&
    m.sourceLocation?.file === "@openzeppelin/contracts/utils/TransientSlot.sol"
  );
}

subtask(
  TASK_COMPILE_SOLIDITY_LOG_COMPILATION_ERRORS,
  async (args: { output?: { errors?: SolcMessage[] }; quiet: boolean }, _hre, runSuper) => {
    const errors = args.output?.errors?.filter((m) => !isKnownThirdPartyWarning(m));
    return runSuper({ ...args, output: args.output && { ...args.output, errors } });
  },
);

// Tests run `bin/ddc` as separate processes, which run dist/: rebuild it first when a source is
// newer (after the contracts compiled, since the typings are among its sources), so that they test
// the compiled code users run. If it cannot be rebuilt, bin/ddc falls back to the sources.
subtask(TASK_TEST_RUN_MOCHA_TESTS, async (args, _hre, runSuper) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dist = require("./scripts/dist.cjs") as { staleness(): string | undefined; build(): void };
  const stale = dist.staleness();
  if (stale !== undefined) {
    console.log(`Compiling the TypeScript into dist/ (${stale})…`);
    try {
      dist.build();
    } catch (error) {
      console.error(`${(error as Error).message}: bin/ddc runs the TypeScript sources instead`);
    }
  }
  return runSuper(args);
});

task("deploy", "Deploys whatever is missing of the whole system and writes deployments/<network>.json")
  .addFlag("demo", "also build the demo world (local networks only)")
  .setAction(async (args: { demo: boolean }, hre) => {
    await hre.run("compile", { quiet: true });
    const { runDeploy } = await import("./deploy/run");
    await runDeploy(hre, { demo: args.demo });
  });

// The contracts reference (docs/contracts) is solidity-docgen's output, formatted like the rest of
// the repository so that `npm run format` leaves it as generated.
task("docgen", "Generates the contracts reference (docs/contracts) from the NatSpec").setAction(
  async (args, hre, runSuper) => {
    await runSuper(args);
    const { formatReference } = await import("./scripts/docs");
    await formatReference(hre.config.paths.root, hre.config.docgen.outputDir ?? "docs/contracts");
  },
);

task("docs:check", "Fails if docs/contracts is not what the NatSpec generates, lacks NatSpec, or links out").setAction(
  async (_args, hre) => {
    const { checkReference, coverageTable, natspecCoverage } = await import("./scripts/docs");
    const problems = await checkReference(hre);
    console.log(coverageTable(await natspecCoverage(hre)));
    if (problems.length === 0) {
      console.log("docs/contracts is current, every item of the spec is documented, and no link leaves the repository");
      return;
    }
    for (const p of problems) console.error(`  ${p}`);
    console.error(`${problems.length} problem(s): run npm run docs, complete the NatSpec, or fix the links`);
    process.exitCode = 1;
  },
);

task("docs:coverage", "Counts the documented functions, errors and events of the interfaces and the lens").setAction(
  async (_args, hre) => {
    await hre.run("compile", { quiet: true });
    const { coverageTable, natspecCoverage } = await import("./scripts/docs");
    const rows = await natspecCoverage(hre);
    console.log(coverageTable(rows));
    for (const row of rows) for (const m of row.missing) console.log(`  ${row.contract}: ${m}`);
  },
);

const config: HardhatUserConfig = {
  solidity: {
    version: SOLC_VERSION,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      viaIR: true,
    },
  },
  networks: {
    hardhat: {
      allowUnlimitedContractSize: false,
    },
    localhost: {
      url: process.env.DDC_LOCAL_RPC ?? "http://127.0.0.1:8545",
    },
    // A live chain: any EVM RPC endpoint and a deployer key, both from the environment.
    live: {
      url: process.env.DDC_RPC_URL ?? "http://127.0.0.1:8545",
      accounts: process.env.DDC_DEPLOYER_KEY ? [process.env.DDC_DEPLOYER_KEY] : [],
    },
  },
  typechain: {
    outDir: "typechain-types",
    target: "ethers-v6",
  },
  docgen: DOCGEN_CONFIG,
  mocha: {
    timeout: 600_000,
  },
};

export default config;
