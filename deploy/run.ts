import { join } from "node:path";
import type { Signer } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { loadParameters } from "./parameters";
import { DeploymentBook, readRecord, type DeploymentRecord } from "./record";
import { deploySystem, type SystemDeployment } from "./system";
import { deployDemoWorld } from "./demo";

/** Networks whose accounts are the well-known development accounts (unlocked on the node). */
const LOCAL_NETWORKS = new Set(["hardhat", "localhost"]);

export interface DeployOptions {
  demo: boolean;
  /** Where `<network>.json` is written (default `deployments/`, or DDC_DEPLOYMENTS_DIR). */
  recordsDir?: string;
  log?: (line: string) => void;
}

export interface DeployResult {
  system: SystemDeployment;
  record: DeploymentRecord;
  file: string;
  /** The contracts deployed by this run (empty when everything was already there). */
  deployed: string[];
}

/**
 * `npm run deploy -- --network <name> [--demo]`: deploys what is missing of the whole system on the
 * network, with the parameters of `deploy/parameters/<name>.json`, and writes
 * `deployments/<name>.json`. With `--demo` (local networks only) it adds the demo world.
 */
export async function runDeploy(hre: HardhatRuntimeEnvironment, options: DeployOptions): Promise<DeployResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const name = hre.network.name;
  const local = LOCAL_NETWORKS.has(name);
  if (options.demo && !local) throw new Error(`--demo is for local networks (hardhat, localhost), not ${name}`);
  const params = loadParameters(name);
  const signers = await hre.ethers.getSigners();
  const deployer: Signer | undefined = signers[0];
  if (deployer === undefined) throw new Error(`network ${name} has no account: set DDC_DEPLOYER_KEY`);
  const provider = hre.ethers.provider;
  let chainId: bigint;
  try {
    chainId = (await provider.getNetwork()).chainId;
  } catch (error) {
    throw new Error(`cannot reach network ${name}: ${(error as Error).message}`);
  }
  const dir = options.recordsDir ?? process.env.DDC_DEPLOYMENTS_DIR ?? join(hre.config.paths.root, "deployments");
  const file = join(dir, `${name}.json`);
  const book = new DeploymentBook(provider, file, Number(chainId), readRecord(file), log);
  log(`deploying to ${name} (chain ${chainId}) as ${await deployer.getAddress()}; record: ${file}`);
  const startBlock = (await provider.getBlockNumber()) + 1;
  const system = await deploySystem(deployer, params, book, { local, log });
  if (book.deployedNow.includes("DDCCore")) book.record.block = startBlock;
  book.record.parameters = params;
  book.save();
  if (options.demo) {
    const demo = await deployDemoWorld(hre, system, log);
    if (book.record.contracts.DemoOperationsSafe !== demo.opsSafe) book.set("DemoOperationsSafe", demo.opsSafe);
  }
  log(
    book.deployedNow.length === 0
      ? "nothing to deploy: every contract is in place"
      : `deployed ${book.deployedNow.length}: ${book.deployedNow.join(", ")}`,
  );
  return { system, record: book.record, file, deployed: [...book.deployedNow] };
}
