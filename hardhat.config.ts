import { subtask, task } from "hardhat/config";
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } from "hardhat/builtin-tasks/task-names";
import type { HardhatUserConfig } from "hardhat/types";
import "@nomicfoundation/hardhat-ethers";
import "@nomicfoundation/hardhat-chai-matchers";
import "@typechain/hardhat";

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

task("deploy", "Deploys whatever is missing of the whole system and writes deployments/<network>.json")
  .addFlag("demo", "also build the demo world (local networks only)")
  .setAction(async (args: { demo: boolean }, hre) => {
    await hre.run("compile", { quiet: true });
    const { runDeploy } = await import("./deploy/run");
    await runDeploy(hre, { demo: args.demo });
  });

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
  mocha: {
    timeout: 600_000,
  },
};

export default config;
