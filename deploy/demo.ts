import { Wallet, parseEther } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { operationArgs, proposeArgs, type Proposal } from "../governance/dao";
import { createSafeTransaction, executeSafeTransaction, safeFor, signSafeTransaction } from "../governance/safe";
import { TestStablecoin__factory } from "../typechain-types";
import { DEFAULT_CLUSTER_PARAMS } from "./core";
import { contractNetworks, createSafe } from "./safe";
import type { SystemDeployment } from "./system";

const USD = 1_000_000n;
const RENT = 1n * USD;
/** The bot's voting power: enough to propose (the threshold), far from enough to pass anything alone. */
const BOT_VOTES = parseEther("2000");

/**
 * The demo world on a local network (the node's development accounts sign):
 * - voting power: 100k, 50k and 30k governance tokens to accounts 4–6, each delegated to itself,
 *   and 2k to the manager bot's key (account 13), delegated to itself: above the Governor's
 *   proposal threshold (1k in the local parameters), so that the bot can propose;
 * - an operations Safe, 2-of-4 of accounts 1–3 and the manager bot's key (account 13): the bot
 *   signs what it proposes as one owner, and any one of the three people completes it;
 * - providers (accounts 7, 8) with two nodes each, trusting the Timelock and the Safe;
 * - cluster 1, managed by the DAO (the Timelock accepted it by a proposal the voters passed), and
 *   cluster 2, managed by the Safe (accepted by a Safe transaction two owners signed), each with
 *   one node of each provider, replication 2, 100 units reserved per vNode, validators
 *   (accounts 11, 12) and the manager bot's key (account 13) as operator;
 * - owners (accounts 9, 10) with 10,000 tUSD, a deposit and a 10-unit bucket in each cluster.
 * Passing the DAO's proposal moves the local chain's clock forward by the voting delay, the voting
 * period and the Timelock's delay. Run twice, it finds the world there and adds nothing.
 */
export async function deployDemoWorld(
  hre: HardhatRuntimeEnvironment,
  system: SystemDeployment,
  log: (line: string) => void,
): Promise<{ daoCluster: bigint; safeCluster: bigint; opsSafe: string }> {
  const s = await hre.ethers.getSigners();
  if (s.length < 14) throw new Error(`the demo world needs 14 unlocked accounts, the network has ${s.length}`);
  const [deployer, g1, g2, g3, v1, v2, v3, p1, p2, o1, o2, val1, val2, bot] = s;
  const { ddc, governor, governanceToken } = system;
  const core = await ddc.getAddress();
  const timelock = await system.timelock.getAddress();
  const { chainId } = await hre.ethers.provider.getNetwork();
  const opsSafe = await createSafe(deployer, system.safe, [g1.address, g2.address, g3.address, bot.address], 2, 1n);
  if ((await ddc.clusterCount()) >= 2n) {
    log("demo world: already there (clusters 1 and 2)");
    return { daoCluster: 1n, safeCluster: 2n, opsSafe };
  }
  log("demo world");

  const shares = ["100000", "50000", "30000"];
  for (const [i, voter] of [v1, v2, v3].entries()) {
    await (await governanceToken.connect(deployer).transfer(voter.address, parseEther(shares[i]))).wait();
    await (await governanceToken.connect(voter).delegate(voter.address)).wait();
  }
  // The bot proposes: it needs votes above the proposal threshold (checked at the block before).
  await (await governanceToken.connect(deployer).transfer(bot.address, BOT_VOTES)).wait();
  await (await governanceToken.connect(bot).delegate(bot.address)).wait();
  log(`  voting power delegated: ${v1.address} 100k, ${v2.address} 50k, ${v3.address} 30k, the bot ${bot.address} 2k`);

  const nodes: bigint[] = [];
  for (const [i, provider] of [p1, p2].entries()) {
    for (const manager of [deployer.address, timelock, opsSafe]) {
      await (await ddc.connect(provider).nodeTrustManager(manager)).wait();
    }
    for (let k = 0; k < 2; k++) {
      const params = {
        engine: "ddc-storage",
        version: "1.0.0",
        urls: [`https://node-${i + 1}-${k + 1}.demo.example`],
        metadata: "demo node",
      };
      await (await ddc.connect(provider).nodeCreate(Wallet.createRandom().address, 1000n, RENT, params)).wait();
      nodes.push(await ddc.nodeCount());
    }
  }
  log(`  providers ${p1.address}, ${p2.address}: nodes ${nodes.join(", ")}`);

  const clusters: bigint[] = [];
  for (const [c, members] of [
    [nodes[0], nodes[2]],
    [nodes[1], nodes[3]],
  ].entries()) {
    await (await ddc.connect(deployer).clusterCreate(deployer.address, DEFAULT_CLUSTER_PARAMS, 1n << 30n)).wait();
    const cluster = await ddc.clusterCount();
    clusters.push(cluster);
    for (const node of members) {
      await (await ddc.connect(deployer).clusterAddNode(cluster, node, [(node << 40n) + BigInt(c)])).wait();
    }
    await (await ddc.connect(deployer).clusterReserveResource(cluster, 100n)).wait();
    await (await ddc.connect(deployer).clusterProposeManager(cluster, c === 0 ? timelock : opsSafe)).wait();
  }

  const token = TestStablecoin__factory.connect(system.paymentToken, deployer);
  for (const owner of [o1, o2]) {
    await (await token.mint(owner.address, 10_000n * USD)).wait();
    await (await token.connect(owner).approve(core, 2n ** 256n - 1n)).wait();
    for (const cluster of clusters) {
      await (await ddc.connect(owner).accountDeposit(cluster, 1_000n * USD)).wait();
      await (await ddc.connect(owner).bucketCreate(cluster, '{"engine":"ddc-storage"}')).wait();
      await (await ddc.connect(owner).bucketAllocIntoCluster(await ddc.bucketCount(), 10n)).wait();
    }
  }
  log(`  owners ${o1.address}, ${o2.address}: a 10-unit bucket and 1,000 tUSD in each cluster`);

  // The Safe accepts cluster 2, names the bot its operator and names the validators (a handover
  // clears both): one Safe transaction, two signatures.
  const accept = (cluster: bigint) => [
    { to: core, data: ddc.interface.encodeFunctionData("clusterAcceptManager", [cluster]) },
    { to: core, data: ddc.interface.encodeFunctionData("clusterSetOperator", [cluster, bot.address, true]) },
    ...[val1, val2].map((v) => ({
      to: core,
      data: ddc.interface.encodeFunctionData("clusterSetValidator", [cluster, v.address, true]),
    })),
  ];
  const connection = {
    provider: hre.network.provider,
    safeAddress: opsSafe,
    contractNetworks: contractNetworks(chainId, system.safe),
  };
  let tx = await createSafeTransaction(await safeFor(connection, g1.address), accept(clusters[1]));
  for (const owner of [g1, g2]) tx = await signSafeTransaction(connection, owner.address, tx);
  await executeSafeTransaction(connection, g1.address, tx);
  log(`  cluster ${clusters[1]}: managed by the operations Safe ${opsSafe} (2 of 4: accounts 1–3 and the bot)`);

  // The DAO accepts cluster 1 by a proposal the voters pass.
  const proposal: Proposal = {
    actions: accept(clusters[0]).map((a) => ({ target: a.to, data: a.data })),
    description: `# Accept cluster ${clusters[0]}\n\nThe DAO manages it; the manager bot runs routine work.`,
  };
  const travel = async (seconds: bigint) => {
    await hre.network.provider.send("evm_increaseTime", [Number(seconds)]);
    await hre.network.provider.send("evm_mine", []);
  };
  // Votes count from the second after their delegation (the threshold reads the clock minus one);
  // a node that mines several blocks in one second needs the clock moved.
  await travel(1n);
  await (await governor.connect(v1).propose(...proposeArgs(proposal))).wait();
  const proposalId = await governor.hashProposal(...operationArgs(proposal));
  await travel((await governor.votingDelay()) + 1n);
  for (const voter of [v1, v2, v3]) await (await governor.connect(voter).castVote(proposalId, 1)).wait();
  await travel(await governor.votingPeriod());
  await (await governor.queue(...operationArgs(proposal))).wait();
  await travel(await system.timelock.getMinDelay());
  await (await governor.execute(...operationArgs(proposal))).wait();
  log(`  cluster ${clusters[0]}: managed by the DAO (Timelock ${timelock}), by proposal ${proposalId}`);
  return { daoCluster: clusters[0], safeCluster: clusters[1], opsSafe };
}
