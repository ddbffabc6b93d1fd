import { ethers, network } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { DeploymentBook } from "../../deploy/record";
import { loadParameters, type NetworkParameters } from "../../deploy/parameters";
import { deploySystem, type SystemDeployment } from "../../deploy/system";
import { contractNetworks } from "../../deploy/safe";
import {
  createSafeTransaction,
  executeSafeTransaction,
  safeFor,
  signSafeTransaction,
  type SafeConnection,
} from "../../governance/safe";
import { operationArgs, proposeArgs, type Proposal } from "../../governance/dao";
import { TestStablecoin__factory, type TestStablecoin } from "../../typechain-types";
import { CLUSTER_PARAMS, GIB, NODE_PARAMS, RENT, USD } from "./fixtures";

export interface SystemFixture {
  system: SystemDeployment;
  params: NetworkParameters;
  token: TestStablecoin;
  deployer: HardhatEthersSigner;
  /** The guardian Safe's owners (accounts 1–3, as in deploy/parameters/hardhat.json). */
  guardians: HardhatEthersSigner[];
  voters: HardhatEthersSigner[];
  providers: HardhatEthersSigner[];
  owner: HardhatEthersSigner;
  manager: HardhatEthersSigner;
  stranger: HardhatEthersSigner;
  /** protocol-kit's view of this chain's Safe contracts. */
  safeConnection: (safeAddress: string) => SafeConnection;
}

/**
 * The whole system as `npm run deploy` deploys it on the in-process network (parameters from
 * deploy/parameters/hardhat.json), and voting power spread over three voters who delegated to
 * themselves (the deployer keeps and delegates nothing).
 */
export async function systemFixture(): Promise<SystemFixture> {
  const signers = await ethers.getSigners();
  const [deployer, g1, g2, g3, v1, v2, v3, p1, p2, owner, manager, stranger] = signers;
  const params = loadParameters("hardhat");
  const { chainId } = await ethers.provider.getNetwork();
  const book = new DeploymentBook(ethers.provider, undefined, Number(chainId), undefined);
  const system = await deploySystem(deployer, params, book, { local: true });
  const voters = [v1, v2, v3];
  for (const [i, voter] of voters.entries()) {
    await system.governanceToken.transfer(voter.address, ethers.parseEther(["100000", "50000", "30000"][i]));
    await system.governanceToken.connect(voter).delegate(voter.address);
  }
  const token = TestStablecoin__factory.connect(system.paymentToken, deployer);
  const coreAddress = await system.core.getAddress();
  await token.mint(owner.address, 100_000n * USD);
  await token.connect(owner).approve(coreAddress, ethers.MaxUint256);
  const networks = contractNetworks(chainId, system.safe);
  return {
    system,
    params,
    token,
    deployer,
    guardians: [g1, g2, g3],
    voters,
    providers: [p1, p2],
    owner,
    manager,
    stranger,
    safeConnection: (safeAddress) => ({
      provider: network.provider,
      safeAddress,
      contractNetworks: networks,
    }),
  };
}

/**
 * A cluster built by `manager` (an EOA): two providers with two nodes each (node ids `first` …
 * `first + 3`, one vNode each), replication 2, 100 units reserved per vNode, and the owner's bucket
 * of 10 units with a 1,000 tUSD deposit. Providers trust `alsoTrust` (future managers) too.
 */
export async function buildCluster(
  f: SystemFixture,
  alsoTrust: string[] = [],
): Promise<{ cluster: bigint; nodes: bigint[]; bucket: bigint }> {
  const ddc = f.system.ddc;
  await ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
  const cluster = await ddc.clusterCount();
  const nodes: bigint[] = [];
  for (const [i, provider] of f.providers.entries()) {
    for (const trusted of [f.manager.address, ...alsoTrust]) await ddc.connect(provider).nodeTrustManager(trusted);
    for (let k = 0; k < 2; k++) {
      await ddc.connect(provider).nodeCreate(ethers.Wallet.createRandom().address, 1000n, RENT, NODE_PARAMS);
      const node = await ddc.nodeCount();
      nodes.push(node);
      if (!(i === 1 && k === 1)) await ddc.connect(f.manager).clusterAddNode(cluster, node, [node << 40n]);
    }
  }
  await ddc.connect(f.manager).clusterReserveResource(cluster, 100n);
  await ddc.connect(f.owner).bucketCreate(cluster, "");
  const bucket = await ddc.bucketCount();
  await ddc.connect(f.owner).accountDeposit(cluster, 1000n * USD);
  await ddc.connect(f.owner).bucketAllocIntoCluster(bucket, 10n);
  return { cluster, nodes, bucket };
}

/** Proposes `p`, waits for the vote to open, has every voter vote `support` (1 for, 0 against), and
 * waits for the vote to end. Returns the proposal id. */
export async function voteOn(
  f: SystemFixture,
  p: Proposal,
  support: number,
  proposer: HardhatEthersSigner = f.voters[0],
): Promise<bigint> {
  const governor = f.system.governor;
  await governor.connect(proposer).propose(...proposeArgs(p));
  const proposalId = await governor.hashProposal(...operationArgs(p));
  await time.increase(f.params.governance.votingDelay + 1);
  for (const voter of f.voters) await governor.connect(voter).castVote(proposalId, support);
  await time.increase(f.params.governance.votingPeriod);
  return proposalId;
}

/** The whole life of a proposal the voters pass: propose, vote, queue, wait the Timelock, execute. */
export async function passProposal(f: SystemFixture, p: Proposal, proposer?: HardhatEthersSigner): Promise<bigint> {
  const proposalId = await voteOn(f, p, 1, proposer);
  await f.system.governor.queue(...operationArgs(p));
  await time.increase(f.params.governance.timelockDelay);
  await f.system.governor.execute(...operationArgs(p));
  return proposalId;
}

/** A Safe transaction of `calls`, signed by the first two guardians (the Safe's owners) and executed. */
export async function bySafe(f: SystemFixture, safe: string, calls: { to: string; data: string }[]): Promise<string> {
  const connection = f.safeConnection(safe);
  let tx = await createSafeTransaction(await safeFor(connection, f.guardians[0].address), calls);
  for (const g of f.guardians.slice(0, 2)) tx = await signSafeTransaction(connection, g.address, tx);
  return executeSafeTransaction(connection, f.guardians[0].address, tx);
}

/** A cluster built by an EOA, handed to the DAO: the Timelock accepts, and names the bot its operator. */
export async function daoClusterFixture() {
  return daoCluster([]);
}

/** The DAO-managed cluster, with `validators` named by the DAO in the proposal that accepts it. */
export async function daoCluster(validators: string[]) {
  const f = await systemFixture();
  const bot = (await ethers.getSigners())[12];
  // The bot proposes replacements: it holds votes above the proposal threshold, as in the demo.
  await f.system.governanceToken.transfer(bot.address, ethers.parseEther("2000"));
  await f.system.governanceToken.connect(bot).delegate(bot.address);
  const timelock = await f.system.timelock.getAddress();
  const built = await buildCluster(f, [timelock]);
  const ddc = f.system.ddc;
  const core = await ddc.getAddress();
  await ddc.connect(f.manager).clusterProposeManager(built.cluster, timelock);
  const accept: Proposal = {
    actions: [
      { target: core, data: ddc.interface.encodeFunctionData("clusterAcceptManager", [built.cluster]) },
      {
        target: core,
        data: ddc.interface.encodeFunctionData("clusterSetOperator", [built.cluster, bot.address, true]),
      },
      // A handover clears the validators: the new manager names those it answers for.
      ...validators.map((v) => ({
        target: core,
        data: ddc.interface.encodeFunctionData("clusterSetValidator", [built.cluster, v, true]),
      })),
    ],
    description: `# Accept cluster ${built.cluster}\n\nThe DAO manages the cluster; the bot runs routine work.`,
  };
  await passProposal(f, accept);
  // The validators count from the first era that ends after the DAO named them.
  if (validators.length > 0) {
    const [, , end] = await ddc.clusterEra(built.cluster);
    await time.increaseTo(end);
  }
  return { ...f, ...built, bot, timelock, core };
}
