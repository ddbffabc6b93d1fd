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

/**
 * A cluster's settings in the examples, the demo world and the CLI's defaults: replication 2,
 * hourly eras, a QoS threshold of 90 %, a 10 % management fee, 14 days' notice of a price increase.
 */
export const DEFAULT_CLUSTER_PARAMS = {
  replicationFactor: 2,
  eraLength: 3600,
  qosThreshold: 9000,
  managementFeeBps: 1000,
  priceNotice: 14 * DAY,
};

export function defaultParameters(feeDestination: string): CoreParameters {
  return { networkFeeBps: 500, feeDestination, unlockDelay: 7 * DAY, gracePeriod: 7 * DAY };
}

export async function deployed<T extends { waitForDeployment(): Promise<unknown>; getAddress(): Promise<string> }>(
  pending: Promise<T>,
): Promise<{ contract: T; address: string }> {
  const contract = await pending;
  await contract.waitForDeployment();
  return { contract, address: await contract.getAddress() };
}

/**
 * How a deployment step runs: `deploy` makes the contract `name` and returns its address. The
 * default always deploys; a deployment record (see deploy/record.ts) skips what is already on
 * chain, unless one of `dependsOn` was deployed anew in the same run.
 */
export type Ensure = (name: string, deploy: () => Promise<string>, dependsOn?: string[]) => Promise<string>;

export const alwaysDeploy: Ensure = (_name, deploy) => deploy();

/**
 * Deploys the core: its logic libraries, the views extension, the core linked to them, and the
 * lens. `admin` receives the role-admin role (governance grants the parameter role from it and
 * then renounces it).
 */
export async function deployCore(
  deployer: Signer,
  options: { token: string; admin: string; parameters: CoreParameters },
  ensure: Ensure = alwaysDeploy,
): Promise<CoreDeployment> {
  const make = async (f: {
    deploy(): Promise<{ waitForDeployment(): Promise<unknown>; getAddress(): Promise<string> }>;
  }) => (await deployed(f.deploy())).address;
  const nodeLogic = await ensure("NodeLogic", () => make(new NodeLogic__factory(deployer)));
  const clusterLogic = await ensure("ClusterLogic", () => make(new ClusterLogic__factory(deployer)));
  const bucketLogic = await ensure("BucketLogic", () => make(new BucketLogic__factory(deployer)));
  const usageLogic = await ensure("UsageLogic", () => make(new UsageLogic__factory(deployer)));
  const revenueLogic = await ensure("RevenueLogic", () => make(new RevenueLogic__factory(deployer)));
  const libraries = {
    "contracts/core/logic/NodeLogic.sol:NodeLogic": nodeLogic,
    "contracts/core/logic/ClusterLogic.sol:ClusterLogic": clusterLogic,
    "contracts/core/logic/BucketLogic.sol:BucketLogic": bucketLogic,
    "contracts/core/logic/RevenueLogic.sol:RevenueLogic": revenueLogic,
  };
  const logic = ["NodeLogic", "ClusterLogic", "BucketLogic", "RevenueLogic"];
  const views = await ensure("DDCViews", () => make(new DDCViews__factory(libraries, deployer)), logic);
  // Kept when deployed here, so that callers see its deployment transaction.
  let fresh: DDCCore | undefined;
  const core = await ensure(
    "DDCCore",
    async () => {
      const made = await deployed(
        new DDCCore__factory(
          { ...libraries, "contracts/core/logic/UsageLogic.sol:UsageLogic": usageLogic },
          deployer,
        ).deploy(options.token, options.admin, options.parameters, views),
      );
      fresh = made.contract;
      return made.address;
    },
    [...logic, "UsageLogic", "DDCViews", "PaymentToken"],
  );
  const lens = await ensure(
    "DDCLens",
    async () => (await deployed(new DDCLens__factory(deployer).deploy(core))).address,
    ["DDCCore"],
  );
  return {
    ddc: IDDC__factory.connect(core, deployer),
    core: fresh ?? DDCCore__factory.connect(core, deployer),
    lens: DDCLens__factory.connect(lens, deployer),
    addresses: {
      DDCCore: core,
      DDCViews: views,
      DDCLens: lens,
      NodeLogic: nodeLogic,
      ClusterLogic: clusterLogic,
      BucketLogic: bucketLogic,
      UsageLogic: usageLogic,
      RevenueLogic: revenueLogic,
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
