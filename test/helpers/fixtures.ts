import { ethers } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { DAY, DEFAULT_CLUSTER_PARAMS, deployCore, deployTestStablecoin, type CoreParameters } from "../../deploy/core";
import type { DDCCore, DDCLens, IDDC, TestStablecoin } from "../../typechain-types";

/** One token unit of the 6-decimal test stablecoin. */
export const USD = 1_000_000n;
export const MONTH = 30n * 24n * 60n * 60n;
export const GIB = 1n << 30n;

/** Rent per vNode per month per unit used by the example network: 1 tUSD. */
export const RENT = 1n * USD;

export const CLUSTER_PARAMS = DEFAULT_CLUSTER_PARAMS;

export const NODE_PARAMS = {
  engine: "ddc-storage",
  version: "1.0.0",
  urls: ["https://node.example:8080"],
  metadata: "a storage node",
};

export interface Parties {
  deployer: HardhatEthersSigner;
  governor: HardhatEthersSigner;
  pauser: HardhatEthersSigner;
  feeDestination: HardhatEthersSigner;
  provider1: HardhatEthersSigner;
  provider2: HardhatEthersSigner;
  manager: HardhatEthersSigner;
  owner1: HardhatEthersSigner;
  owner2: HardhatEthersSigner;
  stranger: HardhatEthersSigner;
  nodeKey1: HardhatEthersSigner;
  nodeKey2: HardhatEthersSigner;
  others: HardhatEthersSigner[];
}

export interface CoreFixture extends Parties {
  ddc: IDDC;
  core: DDCCore;
  lens: DDCLens;
  token: TestStablecoin;
  coreAddress: string;
  parameters: CoreParameters;
}

export async function parties(): Promise<Parties> {
  const [
    deployer,
    governor,
    pauser,
    feeDestination,
    provider1,
    provider2,
    manager,
    owner1,
    owner2,
    stranger,
    nodeKey1,
    nodeKey2,
    ...others
  ] = await ethers.getSigners();
  return {
    deployer,
    governor,
    pauser,
    feeDestination,
    provider1,
    provider2,
    manager,
    owner1,
    owner2,
    stranger,
    nodeKey1,
    nodeKey2,
    others,
  };
}

/** The core on a fresh chain: roles handed to `governor` and `pauser`, owners funded with tUSD. */
export async function coreFixture(): Promise<CoreFixture> {
  const p = await parties();
  const token = await deployTestStablecoin(p.deployer);
  const parameters: CoreParameters = {
    networkFeeBps: 500,
    feeDestination: p.feeDestination.address,
    unlockDelay: 7 * DAY,
    gracePeriod: 7 * DAY,
  };
  const { ddc, core, lens } = await deployCore(p.deployer, {
    token: await token.getAddress(),
    admin: p.deployer.address,
    parameters,
  });
  await core.grantRole(await core.PARAMETERS_ROLE(), p.governor.address);
  await core.grantRole(await core.PAUSER_ROLE(), p.pauser.address);
  const coreAddress = await core.getAddress();
  for (const owner of [p.owner1, p.owner2, p.stranger]) {
    await token.mint(owner.address, 1_000_000n * USD);
    await token.connect(owner).approve(coreAddress, ethers.MaxUint256);
  }
  return { ...p, ddc, core, lens, token, coreAddress, parameters };
}

export interface ExampleFixture extends CoreFixture {
  cluster: bigint;
  node1: bigint;
  node2: bigint;
  bucket: bigint;
  /** Units the owner reserved. */
  units: bigint;
  /** The owner's deposit. */
  deposit: bigint;
}

/**
 * The seed's example network: providers 1 and 2 with a node each, a cluster of four vNodes
 * alternating between them (tokens 0, 2^62, 2^63, 3·2^62), and owner 1 with a 10-unit bucket and a
 * 1,000 tUSD deposit.
 */
export async function exampleFixture(): Promise<ExampleFixture> {
  const f = await coreFixture();
  const { ddc, provider1, provider2, manager, owner1, nodeKey1, nodeKey2 } = f;
  await ddc.connect(provider1).nodeCreate(nodeKey1.address, 1000n, RENT, NODE_PARAMS);
  await ddc.connect(provider2).nodeCreate(nodeKey2.address, 1000n, RENT, NODE_PARAMS);
  const node1 = 1n;
  const node2 = 2n;
  await ddc.connect(provider1).nodeTrustManager(manager.address);
  await ddc.connect(provider2).nodeTrustManager(manager.address);
  await ddc.connect(manager).clusterCreate(manager.address, CLUSTER_PARAMS, GIB);
  const cluster = 1n;
  const q = 1n << 62n;
  await ddc.connect(manager).clusterAddNode(cluster, node1, [0n, 2n * q]);
  await ddc.connect(manager).clusterAddNode(cluster, node2, [q, 3n * q]);
  await ddc.connect(manager).clusterReserveResource(cluster, 100n);
  await ddc.connect(owner1).bucketCreate(cluster, '{"engine":"ddc-storage"}');
  const bucket = 1n;
  const deposit = 1000n * USD;
  await ddc.connect(owner1).accountDeposit(cluster, deposit);
  const units = 10n;
  await ddc.connect(owner1).bucketAllocIntoCluster(bucket, units);
  return { ...f, cluster, node1, node2, bucket, units, deposit };
}
