import type { ContractRunner, Signer } from "ethers";
import {
  BucketLogic__factory,
  ClusterLogic__factory,
  DDCCore__factory,
  DDCLens__factory,
  DDCViews__factory,
  IDDC__factory,
  NodeLogic__factory,
  RevenueLogic__factory,
  TestStablecoin__factory,
  UsageLogic__factory,
} from "../typechain-types";
import type { DDCCore, DDCLens, IDDC, TestStablecoin } from "../typechain-types";

/** The global parameters the core starts with (governance moves them later, within code caps). */
export interface CoreParameters {
  /** Network fee in basis points (≤ 1,000). */
  networkFeeBps: number;
  /** Where the network fee goes. */
  feeDestination: string;
  /** Seconds between an unlock request and the withdrawal (≤ 30 days). */
  unlockDelay: number;
  /** Seconds a ledger may stay in arrears before its buckets are suspended (1 hour to 90 days). */
  gracePeriod: number;
}

export interface CoreDeployment {
  /** The core, with its views, at one address. */
  ddc: IDDC;
  /** The same address, typed with the core's own functions (roles, pause). */
  core: DDCCore;
  lens: DDCLens;
  addresses: {
    DDCCore: string;
    DDCViews: string;
    DDCLens: string;
    NodeLogic: string;
    ClusterLogic: string;
    BucketLogic: string;
    UsageLogic: string;
    RevenueLogic: string;
  };
}

export const DAY = 24 * 60 * 60;

export function defaultParameters(feeDestination: string): CoreParameters {
  return { networkFeeBps: 500, feeDestination, unlockDelay: 7 * DAY, gracePeriod: 7 * DAY };
}

async function deployed<T extends { waitForDeployment(): Promise<unknown>; getAddress(): Promise<string> }>(
  pending: Promise<T>,
): Promise<{ contract: T; address: string }> {
  const contract = await pending;
  await contract.waitForDeployment();
  return { contract, address: await contract.getAddress() };
}

/**
 * Deploys the core: its three logic libraries, the views extension, the core linked to them, and
 * the lens. `admin` receives the role-admin role (governance grants the parameter role from it and
 * then renounces it).
 */
export async function deployCore(
  deployer: Signer,
  options: { token: string; admin: string; parameters: CoreParameters },
): Promise<CoreDeployment> {
  const nodeLogic = await deployed(new NodeLogic__factory(deployer).deploy());
  const clusterLogic = await deployed(new ClusterLogic__factory(deployer).deploy());
  const bucketLogic = await deployed(new BucketLogic__factory(deployer).deploy());
  const usageLogic = await deployed(new UsageLogic__factory(deployer).deploy());
  const revenueLogic = await deployed(new RevenueLogic__factory(deployer).deploy());
  const libraries = {
    "contracts/core/logic/NodeLogic.sol:NodeLogic": nodeLogic.address,
    "contracts/core/logic/ClusterLogic.sol:ClusterLogic": clusterLogic.address,
    "contracts/core/logic/BucketLogic.sol:BucketLogic": bucketLogic.address,
    "contracts/core/logic/RevenueLogic.sol:RevenueLogic": revenueLogic.address,
  };
  const views = await deployed(new DDCViews__factory(libraries, deployer).deploy());
  const core = await deployed(
    new DDCCore__factory(
      { ...libraries, "contracts/core/logic/UsageLogic.sol:UsageLogic": usageLogic.address },
      deployer,
    ).deploy(options.token, options.admin, options.parameters, views.address),
  );
  const lens = await deployed(new DDCLens__factory(deployer).deploy(core.address));
  return {
    ddc: IDDC__factory.connect(core.address, deployer),
    core: core.contract,
    lens: lens.contract,
    addresses: {
      DDCCore: core.address,
      DDCViews: views.address,
      DDCLens: lens.address,
      NodeLogic: nodeLogic.address,
      ClusterLogic: clusterLogic.address,
      BucketLogic: bucketLogic.address,
      UsageLogic: usageLogic.address,
      RevenueLogic: revenueLogic.address,
    },
  };
}

/** Deploys the local networks' payment token, owned (mintable) by `deployer`. */
export async function deployTestStablecoin(deployer: Signer): Promise<TestStablecoin> {
  const { contract } = await deployed(new TestStablecoin__factory(deployer).deploy(await deployer.getAddress()));
  return contract;
}

/** The core at `address`, with its views. */
export function attachCore(address: string, runner: ContractRunner): IDDC {
  return IDDC__factory.connect(address, runner);
}
