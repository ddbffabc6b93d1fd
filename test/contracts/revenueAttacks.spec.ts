import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionResponse } from "ethers";
import { deployCore, defaultParameters } from "../../deploy/core";
import {
  CLUSTER_PARAMS,
  GIB,
  MONTH,
  NODE_PARAMS,
  RENT,
  USD,
  coreFixture,
  parties,
  type Parties,
} from "../helpers/fixtures";
import { BlacklistToken__factory } from "../../typechain-types";
import type { BlacklistToken, DDCCore, IDDC } from "../../typechain-types";

const EVIDENCE = ethers.id("revenue attack evidence");
const ERA = BigInt(CLUSTER_PARAMS.eraLength);
const SCALE = 10n ** 24n;

// ──────────────────────────────────────────── fixtures ─────────────────────────────────────────────

/** A node of a cluster under test: its provider, its vNodes' tokens and its rent. */
interface NodeSpec {
  provider: HardhatEthersSigner;
  tokens: bigint[];
  rent: bigint;
}

interface Network extends Parties {
  ddc: IDDC;
  core: DDCCore;
  coreAddress: string;
  balanceOf: (account: string) => Promise<bigint>;
  cluster: bigint;
  bucket: bigint;
  /** Node ids, in the order of the specs. */
  nodes: bigint[];
  /** When the month's rent was settled. */
  settledAt: bigint;
  specs: NodeSpec[];
}

/**
 * On a fresh core: `specs` become nodes 1, 2, … of cluster 1 (manager `manager`, replication 2,
 * 100 units reserved per vNode), all added before any allocation so every rent is in force. Owner 1
 * deposits 1,000 tUSD into bucket 1 of 10 units; exactly one month later the month's rent
 * (10 × the price) is settled into the pool.
 */
async function clusterOn(
  p: Parties,
  ddc: IDDC,
  core: DDCCore,
  balanceOf: (account: string) => Promise<bigint>,
  specs: NodeSpec[],
): Promise<Network> {
  await ddc.connect(p.manager).clusterCreate(p.manager.address, CLUSTER_PARAMS, GIB);
  const nodes: bigint[] = [];
  for (const spec of specs) {
    await ddc.connect(spec.provider).nodeCreate(ethers.Wallet.createRandom().address, 1000n, spec.rent, NODE_PARAMS);
    const node = await ddc.nodeCount();
    nodes.push(node);
    await ddc.connect(spec.provider).nodeTrustManager(p.manager.address);
    await ddc.connect(p.manager).clusterAddNode(1n, node, spec.tokens);
  }
  await ddc.connect(p.manager).clusterReserveResource(1n, 100n);
  await ddc.connect(p.owner1).bucketCreate(1n, "");
  await ddc.connect(p.owner1).accountDeposit(1n, 1000n * USD);
  await ddc.connect(p.owner1).bucketAllocIntoCluster(1n, 10n);
  const start = BigInt(await time.latest());
  await time.setNextBlockTimestamp(start + MONTH);
  await ddc.bucketSettlePayment(1n, [1n]);
  const settledAt = start + MONTH;
  const coreAddress = await core.getAddress();
  return { ...p, ddc, core, coreAddress, balanceOf, cluster: 1n, bucket: 1n, nodes, specs, settledAt };
}

interface BlacklistNetwork extends Network {
  token: BlacklistToken;
}

/**
 * A core paid in a blacklisting stablecoin. Nodes 1, 2, 3 of providers 1, 2 and others[0] with 1, 2
 * and 1 vNodes at 1 tUSD: weights 1:2:1 of a 4 tUSD price, a 40 tUSD month in the pool.
 */
async function blacklistFixture(): Promise<BlacklistNetwork> {
  const p = await parties();
  const token = await new BlacklistToken__factory(p.deployer).deploy(p.deployer.address);
  const { ddc, core } = await deployCore(p.deployer, {
    token: await token.getAddress(),
    admin: p.deployer.address,
    parameters: defaultParameters(p.feeDestination.address),
  });
  for (const s of [p.owner1, p.owner2]) {
    await token.mint(s.address, 10_000n * USD);
    await token.connect(s).approve(await core.getAddress(), ethers.MaxUint256);
  }
  const n = await clusterOn(p, ddc, core, (a) => token.balanceOf(a), [
    { provider: p.provider1, tokens: [1n], rent: RENT },
    { provider: p.provider2, tokens: [2n, 3n], rent: RENT },
    { provider: p.others[0], tokens: [4n], rent: RENT },
  ]);
  return { ...n, token };
}

/**
 * The test stablecoin; nodes 1–4 of providers 1, 2, others[0], others[1] with 1, 2, 1, 1 vNodes at
 * 1 tUSD: weights 1:2:1:1 of a 5 tUSD price, a 50 tUSD month in the pool. Replication 2, so at most
 * 4 − 2 = 2 nodes can be named ineligible.
 */
async function fourNodesFixture(): Promise<Network> {
  const f = await coreFixture();
  return clusterOn(f, f.ddc, f.core, (a) => f.token.balanceOf(a), [
    { provider: f.provider1, tokens: [1n], rent: RENT },
    { provider: f.provider2, tokens: [2n, 3n], rent: RENT },
    { provider: f.others[0], tokens: [4n], rent: RENT },
    { provider: f.others[1], tokens: [5n], rent: RENT },
  ]);
}

interface OperatorNetwork extends Network {
  operator: HardhatEthersSigner;
}

/** The four-node cluster with an operator (whose key is about to be stolen). */
async function operatorFixture(): Promise<OperatorNetwork> {
  const n = await fourNodesFixture();
  const operator = n.others[2];
  await n.ddc.connect(n.manager).clusterSetOperator(n.cluster, operator.address, true);
  return { ...n, operator };
}

interface UsageNetwork extends Network {
  operator: HardhatEthersSigner;
  /** Owner 2's buckets: 5 units (cap 40), and 3 units closed before the reports. */
  bucket2: bigint;
  closed: bigint;
  /** Cluster 2 (another manager) and owner 2's bucket in it. */
  cluster2: bigint;
  foreign: bigint;
  /** The pool once everything is set up. */
  pool: bigint;
}

/**
 * The four-node cluster plus owner 2's buckets 2 (5 units, cap 40) and 3 (3 units, then closed),
 * bucket 1's cap raised to 20, an operator, and cluster 2 of another manager with owner 2's bucket 4.
 * Three eras have ended since the month was settled.
 */
async function usageFixture(): Promise<UsageNetwork> {
  const n = await fourNodesFixture();
  const { ddc, manager, owner1, owner2 } = n;
  const operator = n.others[2];
  await ddc.connect(manager).clusterSetOperator(n.cluster, operator.address, true);
  await ddc.connect(owner2).accountDeposit(n.cluster, 500n * USD);
  await ddc.connect(owner2).bucketCreate(n.cluster, "");
  await ddc.connect(owner2).bucketAllocIntoCluster(2n, 5n);
  await ddc.connect(owner2).bucketSetCap(2n, 40n);
  await ddc.connect(owner2).bucketCreate(n.cluster, "");
  await ddc.connect(owner2).bucketAllocIntoCluster(3n, 3n);
  await ddc.connect(owner2).bucketClose(3n);
  await ddc.connect(owner1).bucketSetCap(n.bucket, 20n);
  const manager2 = n.others[3];
  await ddc.connect(manager2).clusterCreate(manager2.address, CLUSTER_PARAMS, GIB);
  await ddc.connect(owner2).bucketCreate(2n, "");
  await time.increase(3n * ERA);
  const pool = (await ddc.getCluster(n.cluster)).revenuePool;
  return { ...n, operator, bucket2: 2n, closed: 3n, cluster2: 2n, foreign: 4n, pool };
}

interface ReplaceNetwork extends Network {
  /** Node 4: its provider (others[1]) does not trust the manager. */
  untrusted: bigint;
  /** Node 5: trusted, but capacity 150 (one vNode of 100 units fits, two do not). */
  small: bigint;
  /** Node 6: trusted, asks 3 tUSD. */
  dear: bigint;
}

/**
 * Nodes 1 and 2 (providers 1, 2) with two vNodes each at 1 tUSD, node 3 (others[0]) with one vNode
 * at 2 tUSD, all in force: price 6 tUSD; 10 units allocated. Outside the cluster: nodes 4, 5, 6.
 */
async function replaceFixture(): Promise<ReplaceNetwork> {
  const f = await coreFixture();
  const n = await clusterOn(f, f.ddc, f.core, (a) => f.token.balanceOf(a), [
    { provider: f.provider1, tokens: [10n, 30n], rent: RENT },
    { provider: f.provider2, tokens: [20n, 40n], rent: RENT },
    { provider: f.others[0], tokens: [50n], rent: 2n * RENT },
  ]);
  const { ddc, manager, others } = n;
  const key = () => ethers.Wallet.createRandom().address;
  await ddc.connect(others[1]).nodeCreate(key(), 1000n, RENT, NODE_PARAMS);
  await ddc.connect(others[2]).nodeCreate(key(), 150n, RENT, NODE_PARAMS);
  await ddc.connect(others[2]).nodeTrustManager(manager.address);
  await ddc.connect(others[3]).nodeCreate(key(), 1000n, 3n * RENT, NODE_PARAMS);
  await ddc.connect(others[3]).nodeTrustManager(manager.address);
  return { ...n, untrusted: 4n, small: 5n, dear: 6n };
}

// ──────────────────────────────────────────── helpers ──────────────────────────────────────────────

/**
 * The core's tokens less everything it owes: ledger balances, pools, reserves, fee balances and
 * nodes' unclaimed revenue. The rest is rounding dust (0 when every division is exact).
 */
async function unaccounted(n: Network, owners: string[] = [n.owner1.address, n.owner2.address]): Promise<bigint> {
  const { ddc } = n;
  let owed = 0n;
  const clusters = await ddc.clusterCount();
  for (let c = 1n; c <= clusters; c++) {
    owed += (await ddc.getCluster(c)).revenuePool + (await ddc.clusterRevenue(c)).reserve;
    for (const owner of owners) owed += (await ddc.getLedger(owner, c)).balance;
  }
  for (const a of [n.feeDestination.address, n.manager.address]) owed += await ddc.accountBalance(a);
  const nodes = await ddc.nodeCount();
  for (let node = 1n; node <= nodes; node++) owed += await ddc.nodeRevenue(node);
  return (await n.balanceOf(n.coreAddress)) - owed;
}

async function revenues(n: Network): Promise<bigint[]> {
  return Promise.all(n.nodes.map((node) => n.ddc.nodeRevenue(node)));
}

/** How many times the core emitted `event` in the transaction. */
async function count(n: Network, tx: ContractTransactionResponse, event: string): Promise<number> {
  const receipt = await tx.wait();
  return (receipt?.logs ?? []).filter((log) => n.ddc.interface.parseLog(log)?.name === event).length;
}

/** The ring as "token:node" pairs, sorted. */
async function ringOf(n: Network): Promise<string[]> {
  const [tokens, nodes] = await n.ddc.clusterRing(n.cluster);
  return tokens.map((t, i) => `${t}:${nodes[i]}`).sort();
}

// ───────────────────────────────────────────── specs ───────────────────────────────────────────────

describe("revenue attacks", function () {
  describe("(a) a payment token that blacklists a provider", function () {
    it("the month is distributed exactly: fees 2 + 4, nodes 8.5 / 17 / 8.5 tUSD, nothing unaccounted", async function () {
      const n = await loadFixture(blacklistFixture);
      await expect(n.ddc.connect(n.manager).clusterDistributeRevenues(n.cluster, 0, [], EVIDENCE))
        .to.emit(n.ddc, "RevenuesDistributed")
        .withArgs(n.cluster, 0, EVIDENCE, 40n * USD, 2n * USD, 4n * USD, 34n * USD, 0n, []);
      expect(await revenues(n)).to.deep.equal([8_500_000n, 17_000_000n, 8_500_000n]);
      expect(await n.token.balanceOf(n.coreAddress)).to.equal(1000n * USD);
      expect(await unaccounted(n)).to.equal(0n);
    });

    it("its claim to itself reverts whole (nothing lost); the others claim; it claims to another address", async function () {
      const n = await loadFixture(blacklistFixture);
      const { ddc, token, manager, deployer, provider1, provider2, others, coreAddress, cluster } = n;
      const [node1, node2, node3] = n.nodes;
      const to = others[5];
      await ddc.connect(manager).clusterDistributeRevenues(cluster, 0, [], EVIDENCE);
      await token.connect(deployer).setBlacklisted(provider2.address, true);

      await expect(ddc.connect(provider2).claim([node2], provider2.address))
        .to.be.revertedWithCustomError(token, "BlacklistedAccount")
        .withArgs(provider2.address);
      expect(await ddc.nodeRevenue(node2), "nothing lost").to.equal(17_000_000n);
      expect(await token.balanceOf(coreAddress)).to.equal(1000n * USD);
      expect(await token.balanceOf(provider2.address)).to.equal(0n);
      expect(await unaccounted(n)).to.equal(0n);

      // The other providers are not held up by it.
      await expect(ddc.connect(provider1).claim([node1], provider1.address))
        .to.emit(ddc, "RevenueClaimed")
        .withArgs(node1, provider1.address, provider1.address, 8_500_000n);
      await ddc.connect(others[0]).claim([node3], others[0].address);
      expect(await token.balanceOf(provider1.address)).to.equal(8_500_000n);
      expect(await token.balanceOf(others[0].address)).to.equal(8_500_000n);
      expect(await token.balanceOf(coreAddress)).to.equal(1000n * USD - 17_000_000n);
      expect(await revenues(n)).to.deep.equal([0n, 17_000_000n, 0n]);
      expect(await unaccounted(n)).to.equal(0n);

      // The blacklisted provider names another address and receives exactly its revenue there.
      await expect(ddc.connect(provider2).claim([node2], to.address))
        .to.emit(ddc, "RevenueClaimed")
        .withArgs(node2, provider2.address, to.address, 17_000_000n);
      expect(await token.balanceOf(to.address)).to.equal(17_000_000n);
      expect(await token.balanceOf(provider2.address)).to.equal(0n);
      expect(await ddc.nodeRevenue(node2)).to.equal(0n);
      expect(await token.balanceOf(coreAddress)).to.equal(1000n * USD - 34_000_000n);
      expect(await unaccounted(n)).to.equal(0n);
      // What is left is exactly the ledger and the fee balances.
      expect((await ddc.getLedger(n.owner1.address, cluster)).balance).to.equal(960n * USD);
      expect(await ddc.accountBalance(n.feeDestination.address)).to.equal(2n * USD);
      expect(await ddc.accountBalance(manager.address)).to.equal(4n * USD);
    });

    it("a blacklisted fee destination and a blacklisted owner take their money out to other addresses", async function () {
      const n = await loadFixture(blacklistFixture);
      const { ddc, token, deployer, manager, feeDestination, owner1, others, coreAddress, cluster, bucket } = n;
      await ddc.connect(manager).clusterDistributeRevenues(cluster, 0, [], EVIDENCE);
      await token.connect(deployer).setBlacklisted(feeDestination.address, true);
      await token.connect(deployer).setBlacklisted(owner1.address, true);

      await expect(ddc.connect(feeDestination).withdrawBalance(2n * USD, feeDestination.address))
        .to.be.revertedWithCustomError(token, "BlacklistedAccount")
        .withArgs(feeDestination.address);
      expect(await ddc.accountBalance(feeDestination.address)).to.equal(2n * USD);
      await ddc.connect(feeDestination).withdrawBalance(2n * USD, others[6].address);
      expect(await token.balanceOf(others[6].address)).to.equal(2n * USD);
      expect(await ddc.accountBalance(feeDestination.address)).to.equal(0n);

      // The owner closes its bucket (settling the rent since the month) and leaves with the rest.
      const t = BigInt(await time.latest()) + 100n;
      await time.setNextBlockTimestamp(t);
      await ddc.connect(owner1).bucketClose(bucket);
      const balance = (await ddc.getLedger(owner1.address, cluster)).balance;
      await ddc.connect(owner1).accountUnlock(cluster, balance);
      await time.increase(8 * 24 * 3600);
      await expect(ddc.connect(owner1).accountWithdraw(cluster, balance, owner1.address))
        .to.be.revertedWithCustomError(token, "BlacklistedAccount")
        .withArgs(owner1.address);
      expect((await ddc.getLedger(owner1.address, cluster)).balance).to.equal(balance);
      await ddc.connect(owner1).accountWithdraw(cluster, balance, others[7].address);
      expect(await token.balanceOf(others[7].address)).to.equal(balance);
      expect((await ddc.getLedger(owner1.address, cluster)).balance).to.equal(0n);
      expect(await token.balanceOf(coreAddress)).to.equal(1000n * USD - 2n * USD - balance);
      expect(await unaccounted(n)).to.equal(0n);
    });
  });

  describe("(b) a stolen operator key", function () {
    it("naming every node ineligible: ClusterTooManyExclusions(cluster, count, nodes − replication)", async function () {
      const n = await loadFixture(operatorFixture);
      const { ddc, operator, cluster } = n;
      for (const ineligible of [
        [1n, 2n, 3n, 4n],
        [1n, 2n, 3n],
      ]) {
        await expect(ddc.connect(operator).clusterDistributeRevenues(cluster, 0, ineligible, EVIDENCE))
          .to.be.revertedWithCustomError(ddc, "ClusterTooManyExclusions")
          .withArgs(cluster, ineligible.length, 2n);
      }
      expect((await ddc.getCluster(cluster)).revenuePool).to.equal(50n * USD);
      expect(await ddc.clusterRevenue(cluster)).to.deep.equal([0n, 0n, 0n]);
    });

    it("naming exactly nodes − replication works: their shares go to the reserve, the others are paid", async function () {
      const n = await loadFixture(operatorFixture);
      const { ddc, operator, cluster } = n;
      // 50 tUSD: 2.5 network fee, 5 management fee, 42.5 over weight 5, so 8.5 tUSD per weight unit;
      // nodes 2 and 3 (weights 2 and 1) are named: 25.5 to the reserve, 17 to nodes 1 and 4.
      await expect(ddc.connect(operator).clusterDistributeRevenues(cluster, 0, [2n, 3n], EVIDENCE))
        .to.emit(ddc, "RevenuesDistributed")
        .withArgs(cluster, 0, EVIDENCE, 50n * USD, 2_500_000n, 5n * USD, 17n * USD, 25_500_000n, [2n, 3n]);
      expect(await revenues(n)).to.deep.equal([8_500_000n, 0n, 0n, 8_500_000n]);
      const [reserve, perWeight, nextEra] = await ddc.clusterRevenue(cluster);
      expect(reserve).to.equal(25_500_000n);
      expect(perWeight).to.equal((42_500_000n * SCALE) / (5n * USD));
      expect(nextEra).to.equal(1n);
      expect(await ddc.accountBalance(n.feeDestination.address)).to.equal(2_500_000n);
      expect(await ddc.accountBalance(n.manager.address)).to.equal(5n * USD);
      expect(await ddc.accountBalance(operator.address), "the operator earns nothing").to.equal(0n);
      expect(await unaccounted(n)).to.equal(0n);
    });

    it("cannot take the reserve, touch the ring or add operators (ClusterNotManager); revoked, it is refused", async function () {
      const n = await loadFixture(operatorFixture);
      const { ddc, operator, manager, cluster } = n;
      await ddc.connect(operator).clusterDistributeRevenues(cluster, 0, [2n, 3n], EVIDENCE);
      const ring = await ringOf(n);
      const held = await n.balanceOf(n.coreAddress);
      const refused: [string, unknown[]][] = [
        ["clusterWithdrawReserve", [cluster, 25_500_000n, operator.address]],
        ["clusterWithdrawReserve", [cluster, 1n, operator.address]],
        ["clusterReplaceNode", [cluster, 2n, [1n, 1n], EVIDENCE]],
        ["clusterReplaceNode", [cluster, 3n, [4n], EVIDENCE]],
        ["clusterRemoveNode", [cluster, 2n]],
        ["clusterSetOperator", [cluster, n.others[3].address, true]],
        ["clusterProposeManager", [cluster, operator.address]],
      ];
      for (const [name, args] of refused) {
        await expect(ddc.connect(operator).getFunction(name)(...args), name)
          .to.be.revertedWithCustomError(ddc, "ClusterNotManager")
          .withArgs(cluster, operator.address);
      }
      await expect(ddc.connect(operator).withdrawBalance(1n, operator.address))
        .to.be.revertedWithCustomError(ddc, "DDCInsufficientBalance")
        .withArgs(operator.address, 0n, 1n);
      expect(await ringOf(n)).to.deep.equal(ring);
      expect((await ddc.clusterRevenue(cluster)).reserve).to.equal(25_500_000n);
      expect(await n.balanceOf(n.coreAddress)).to.equal(held);
      expect(await n.balanceOf(operator.address)).to.equal(0n);

      // The manager revokes the key: from then on it is refused, and the manager runs the cluster.
      await expect(ddc.connect(manager).clusterSetOperator(cluster, operator.address, false))
        .to.emit(ddc, "ClusterOperatorSet")
        .withArgs(cluster, operator.address, false);
      expect(await ddc.isClusterOperator(cluster, operator.address)).to.equal(false);
      expect(await ddc.clusterOperators(cluster)).to.deep.equal([]);
      await time.increase(ERA);
      await expect(ddc.connect(operator).clusterDistributeRevenues(cluster, 1, [], EVIDENCE))
        .to.be.revertedWithCustomError(ddc, "ClusterNotOperator")
        .withArgs(cluster, operator.address);
      await expect(ddc.connect(operator).clusterReportUsage(cluster, 1, [n.bucket], [1n], EVIDENCE))
        .to.be.revertedWithCustomError(ddc, "ClusterNotOperator")
        .withArgs(cluster, operator.address);
      const managerHeld = await n.balanceOf(manager.address);
      await ddc.connect(manager).clusterWithdrawReserve(cluster, 25_500_000n, manager.address);
      expect(await n.balanceOf(manager.address)).to.equal(managerHeld + 25_500_000n);
      expect(await n.balanceOf(n.coreAddress)).to.equal(held - 25_500_000n);
      expect((await ddc.clusterRevenue(cluster)).reserve).to.equal(0n);
      expect(await unaccounted(n)).to.equal(0n);
    });
  });

  describe("(c) stale items in batches", function () {
    it("a usage batch skips a closed and an already-reported bucket (UsageReportSkipped) and records the rest", async function () {
      const n = await loadFixture(usageFixture);
      const { ddc, manager, operator, cluster, bucket, bucket2, closed } = n;
      await ddc.connect(manager).clusterReportUsage(cluster, 1, [bucket2], [7n], EVIDENCE);
      const tx = await ddc
        .connect(operator)
        .clusterReportUsage(cluster, 1, [bucket, closed, bucket2], [12n, 20n, 30n], EVIDENCE);
      await expect(tx).to.emit(ddc, "UsageReportSkipped").withArgs(cluster, 1, closed, true, 0);
      await expect(tx).to.emit(ddc, "UsageReportSkipped").withArgs(cluster, 1, bucket2, false, 2);
      await expect(tx).to.emit(ddc, "UsageReported").withArgs(cluster, 1, EVIDENCE, [bucket], [12n]);
      expect(await count(n, tx, "UsageReportSkipped")).to.equal(2);
      expect(await count(n, tx, "UsageReported")).to.equal(1);
      const billed = await Promise.all([bucket, bucket2, closed].map(async (b) => (await ddc.getBucket(b)).billed));
      expect(billed).to.deep.equal([12n, 7n, 3n]);
      expect((await ddc.getBucket(closed)).closed).to.equal(true);
      expect((await ddc.getCluster(cluster)).allocated).to.equal(12n + 7n);
      expect((await ddc.getLedger(n.owner1.address, cluster)).units).to.equal(12n);
      expect((await ddc.getLedger(n.owner2.address, cluster)).units).to.equal(7n);
    });

    it("a bucket already reported for a later era is skipped with that era", async function () {
      const n = await loadFixture(usageFixture);
      const { ddc, manager, cluster, bucket, bucket2 } = n;
      await ddc.connect(manager).clusterReportUsage(cluster, 2, [bucket2], [9n], EVIDENCE);
      const tx = await ddc.connect(manager).clusterReportUsage(cluster, 1, [bucket2, bucket], [30n, 15n], EVIDENCE);
      await expect(tx).to.emit(ddc, "UsageReportSkipped").withArgs(cluster, 1, bucket2, false, 3);
      await expect(tx).to.emit(ddc, "UsageReported").withArgs(cluster, 1, EVIDENCE, [bucket], [15n]);
      expect((await ddc.getBucket(bucket2)).billed).to.equal(9n);
      expect((await ddc.getBucket(bucket)).billed).to.equal(15n);
    });

    it("a distribution naming a node no longer in the cluster skips it (DistributionNodeSkipped), pays the rest", async function () {
      const n = await loadFixture(fourNodesFixture);
      const { ddc, manager, cluster } = n;
      await ddc.connect(manager).clusterRemoveNode(cluster, 4n);
      expect((await ddc.getCluster(cluster)).price).to.equal(4n * USD);
      // 42.5 tUSD over the weight left (4): 10.625 per weight unit; the removed node gets nothing.
      const tx = await ddc.connect(manager).clusterDistributeRevenues(cluster, 0, [4n], EVIDENCE);
      await expect(tx).to.emit(ddc, "DistributionNodeSkipped").withArgs(cluster, 0, 4n);
      await expect(tx)
        .to.emit(ddc, "RevenuesDistributed")
        .withArgs(cluster, 0, EVIDENCE, 50n * USD, 2_500_000n, 5n * USD, 42_500_000n, 0n, [4n]);
      expect(await count(n, tx, "DistributionNodeSkipped")).to.equal(1);
      expect(await revenues(n)).to.deep.equal([10_625_000n, 21_250_000n, 10_625_000n, 0n]);
      expect((await ddc.clusterRevenue(cluster)).reserve).to.equal(0n);
      expect(await unaccounted(n)).to.equal(0n);
    });

    it("a bucket of another cluster reverts the whole usage batch (BucketNotInCluster)", async function () {
      const n = await loadFixture(usageFixture);
      const { ddc, manager, cluster, bucket, bucket2, foreign } = n;
      for (const batch of [
        [bucket, foreign, bucket2],
        [foreign, bucket],
        [bucket, bucket2, foreign],
      ]) {
        await expect(
          ddc.connect(manager).clusterReportUsage(
            cluster,
            1,
            batch,
            batch.map(() => 15n),
            EVIDENCE,
          ),
        )
          .to.be.revertedWithCustomError(ddc, "BucketNotInCluster")
          .withArgs(foreign, cluster);
      }
      expect((await ddc.getBucket(bucket)).billed).to.equal(10n);
      expect((await ddc.getBucket(bucket2)).billed).to.equal(5n);
      // Nothing of the batches was recorded: the same era is still open to both buckets.
      await expect(ddc.connect(manager).clusterReportUsage(cluster, 1, [bucket, bucket2], [15n, 15n], EVIDENCE))
        .to.emit(ddc, "UsageReported")
        .withArgs(cluster, 1, EVIDENCE, [bucket, bucket2], [15n, 15n]);
    });

    it("a caller without permission: ClusterNotOperator for usage and distribution, nothing recorded", async function () {
      const n = await loadFixture(usageFixture);
      const { ddc, cluster, bucket, cluster2 } = n;
      const manager2 = n.others[3];
      for (const who of [n.stranger, n.owner1, n.provider1, manager2]) {
        await expect(ddc.connect(who).clusterReportUsage(cluster, 1, [bucket], [15n], EVIDENCE))
          .to.be.revertedWithCustomError(ddc, "ClusterNotOperator")
          .withArgs(cluster, who.address);
        await expect(ddc.connect(who).clusterDistributeRevenues(cluster, 1, [], EVIDENCE))
          .to.be.revertedWithCustomError(ddc, "ClusterNotOperator")
          .withArgs(cluster, who.address);
      }
      // Cluster 1's operator is nobody in cluster 2.
      await expect(ddc.connect(n.operator).clusterDistributeRevenues(cluster2, 0, [], EVIDENCE))
        .to.be.revertedWithCustomError(ddc, "ClusterNotOperator")
        .withArgs(cluster2, n.operator.address);
      expect((await ddc.getBucket(bucket)).billed).to.equal(10n);
      expect((await ddc.clusterRevenue(cluster)).nextEra).to.equal(0n);
      expect((await ddc.getCluster(cluster)).revenuePool).to.equal(n.pool);
    });
  });

  describe("(d) replayed eras", function () {
    it("an era distributed again, or an earlier one: ClusterEraAlreadyDistributed; the pool is not paid twice", async function () {
      const n = await loadFixture(operatorFixture);
      const { ddc, manager, operator, cluster } = n;
      await ddc.connect(manager).clusterDistributeRevenues(cluster, 5, [], EVIDENCE);
      // Another day of rent reaches the pool: 10 units × 5 tUSD / 30.
      await time.setNextBlockTimestamp(n.settledAt + 86_400n);
      await ddc.bucketSettlePayment(cluster, [n.bucket]);
      const pool = (await ddc.getCluster(cluster)).revenuePool;
      expect(pool).to.equal((10n * 5n * USD * 86_400n) / MONTH);
      const before = [
        await revenues(n),
        await ddc.accountBalance(manager.address),
        await ddc.accountBalance(n.feeDestination.address),
        await ddc.clusterRevenue(cluster),
      ];
      for (const era of [5n, 4n, 0n]) {
        for (const who of [manager, operator]) {
          await expect(ddc.connect(who).clusterDistributeRevenues(cluster, era, [], EVIDENCE))
            .to.be.revertedWithCustomError(ddc, "ClusterEraAlreadyDistributed")
            .withArgs(cluster, era, 6n);
        }
      }
      expect(
        [
          await revenues(n),
          await ddc.accountBalance(manager.address),
          await ddc.accountBalance(n.feeDestination.address),
          await ddc.clusterRevenue(cluster),
        ],
        "nothing moved",
      ).to.deep.equal(before);
      expect((await ddc.getCluster(cluster)).revenuePool).to.equal(pool);
      await expect(ddc.connect(manager).clusterDistributeRevenues(cluster, 6, [], EVIDENCE))
        .to.emit(ddc, "RevenuesDistributed")
        .withArgs(
          cluster,
          6,
          EVIDENCE,
          pool,
          (pool * 500n) / 10_000n,
          (pool * 1000n) / 10_000n,
          pool - (pool * 500n) / 10_000n - (pool * 1000n) / 10_000n,
          0n,
          [],
        );
      expect((await ddc.clusterRevenue(cluster)).nextEra).to.equal(7n);
    });

    it("an era not yet closed: ClusterEraNotClosed(cluster, era, current)", async function () {
      const n = await loadFixture(operatorFixture);
      const { ddc, manager, cluster } = n;
      const [current] = await ddc.clusterEra(cluster);
      for (const era of [current, current + 1n, current + 1000n]) {
        await expect(ddc.connect(manager).clusterDistributeRevenues(cluster, era, [], EVIDENCE))
          .to.be.revertedWithCustomError(ddc, "ClusterEraNotClosed")
          .withArgs(cluster, era, current);
      }
      expect((await ddc.clusterRevenue(cluster)).nextEra).to.equal(0n);
      expect((await ddc.getCluster(cluster)).revenuePool).to.equal(50n * USD);
      // The last closed era is open to distribution.
      await ddc.connect(manager).clusterDistributeRevenues(cluster, current - 1n, [], EVIDENCE);
      expect((await ddc.clusterRevenue(cluster)).nextEra).to.equal(current);
    });

    it("usage of a bucket reported twice in one era is skipped; the next era records it again", async function () {
      const n = await loadFixture(usageFixture);
      const { ddc, manager, operator, cluster, bucket2 } = n;
      const [current] = await ddc.clusterEra(cluster);
      const era = current - 1n;
      await expect(ddc.connect(manager).clusterReportUsage(cluster, era, [bucket2], [11n], EVIDENCE))
        .to.emit(ddc, "UsageReported")
        .withArgs(cluster, era, EVIDENCE, [bucket2], [11n]);
      for (const who of [manager, operator]) {
        const tx = await ddc.connect(who).clusterReportUsage(cluster, era, [bucket2], [30n], EVIDENCE);
        await expect(tx)
          .to.emit(ddc, "UsageReportSkipped")
          .withArgs(cluster, era, bucket2, false, era + 1n);
        await expect(tx).to.emit(ddc, "UsageReported").withArgs(cluster, era, EVIDENCE, [], []);
      }
      expect((await ddc.getBucket(bucket2)).billed).to.equal(11n);
      await expect(ddc.connect(manager).clusterReportUsage(cluster, current, [bucket2], [30n], EVIDENCE))
        .to.be.revertedWithCustomError(ddc, "ClusterEraNotClosed")
        .withArgs(cluster, current, current);
      await time.increase(ERA);
      await expect(ddc.connect(operator).clusterReportUsage(cluster, current, [bucket2], [30n], EVIDENCE))
        .to.emit(ddc, "UsageReported")
        .withArgs(cluster, current, EVIDENCE, [bucket2], [30n]);
      const b = await ddc.getBucket(bucket2);
      expect([b.measured, b.billed]).to.deep.equal([30n, 30n]);
      expect((await ddc.getLedger(n.owner2.address, cluster)).units).to.equal(30n);
    });
  });

  describe("(e) node replacement abuse", function () {
    it("refuses every abuse with its error, and leaves the ring, the price and the reservations as they were", async function () {
      const n = await loadFixture(replaceFixture);
      const { ddc, manager, stranger, cluster, untrusted, small } = n;
      const operator = n.others[4];
      await ddc.connect(manager).clusterSetOperator(cluster, operator.address, true);
      const ring = await ringOf(n);
      const price = (await ddc.getCluster(cluster)).price;
      expect(price).to.equal(6n * USD);
      const reserved = async () =>
        Promise.all([1n, 2n, 3n, 4n, 5n, 6n].map(async (x) => (await ddc.getNode(x)).reserved));
      const reservedBefore = await reserved();
      expect(reservedBefore).to.deep.equal([200n, 200n, 100n, 0n, 0n, 0n]);

      for (const who of [stranger, operator, n.provider1]) {
        await expect(ddc.connect(who).clusterReplaceNode(cluster, 1n, [2n, 2n], EVIDENCE))
          .to.be.revertedWithCustomError(ddc, "ClusterNotManager")
          .withArgs(cluster, who.address);
      }
      const m = ddc.connect(manager);
      await expect(m.clusterReplaceNode(cluster, 1n, [untrusted, untrusted], EVIDENCE))
        .to.be.revertedWithCustomError(ddc, "NodeManagerNotTrusted")
        .withArgs(untrusted, n.others[1].address, manager.address);
      for (const replacements of [
        [1n, 1n],
        [2n, 1n],
      ]) {
        await expect(m.clusterReplaceNode(cluster, 1n, replacements, EVIDENCE))
          .to.be.revertedWithCustomError(ddc, "ClusterReplacementInvalid")
          .withArgs(cluster, 1n, 1n);
      }
      // Node 3 is charged 2 tUSD per vNode: handing it node 1's vNodes (1 tUSD each) raises the price.
      await expect(m.clusterReplaceNode(cluster, 1n, [3n, 3n], EVIDENCE))
        .to.be.revertedWithCustomError(ddc, "ClusterReplacementRaisesPrice")
        .withArgs(cluster, 6n * USD, 8n * USD);
      await expect(m.clusterReplaceNode(cluster, 1n, [2n, 3n], EVIDENCE))
        .to.be.revertedWithCustomError(ddc, "ClusterReplacementRaisesPrice")
        .withArgs(cluster, 6n * USD, 7n * USD);
      // Node 5 holds 150 units: one vNode of 100 fits, the second needs 200.
      await expect(m.clusterReplaceNode(cluster, 1n, [small, small], EVIDENCE))
        .to.be.revertedWithCustomError(ddc, "NodeCapacityExceeded")
        .withArgs(small, 150n, 200n);
      for (const replacements of [[2n], [2n, 2n, 2n], []]) {
        await expect(m.clusterReplaceNode(cluster, 1n, replacements, EVIDENCE))
          .to.be.revertedWithCustomError(ddc, "DDCLengthMismatch")
          .withArgs(replacements.length, 2n);
      }
      await expect(m.clusterReplaceNode(cluster, small, [2n], EVIDENCE))
        .to.be.revertedWithCustomError(ddc, "ClusterNodeNotMember")
        .withArgs(cluster, small);

      expect(await ringOf(n)).to.deep.equal(ring);
      expect((await ddc.getCluster(cluster)).price).to.equal(price);
      expect(await ddc.clusterNodes(cluster)).to.deep.equal([1n, 2n, 3n]);
      expect(await reserved()).to.deep.equal(reservedBefore);
    });

    it("refuses a member that is offline or leaving as a replacement (ClusterReplacementInvalid)", async function () {
      const n = await loadFixture(replaceFixture);
      const { ddc, manager, cluster } = n;
      await ddc.connect(manager).clusterSetNodeStatus(cluster, 2n, 2);
      await expect(ddc.connect(manager).clusterReplaceNode(cluster, 1n, [2n, 2n], EVIDENCE))
        .to.be.revertedWithCustomError(ddc, "ClusterReplacementInvalid")
        .withArgs(cluster, 1n, 2n);
      await ddc.connect(manager).clusterSetNodeStatus(cluster, 2n, 1);
      await ddc.connect(n.provider2).nodeRequestLeave(2n, cluster);
      await expect(ddc.connect(manager).clusterReplaceNode(cluster, 1n, [2n, 2n], EVIDENCE))
        .to.be.revertedWithCustomError(ddc, "ClusterReplacementInvalid")
        .withArgs(cluster, 1n, 2n);
      expect(await ddc.clusterNodes(cluster)).to.deep.equal([1n, 2n, 3n]);
    });

    it("controls: a dearer newcomer is charged the leaving rent until the notice; with nothing allocated, any raise goes", async function () {
      const n = await loadFixture(replaceFixture);
      const { ddc, manager, cluster, dear } = n;
      const m = ddc.connect(manager);
      // Node 6 asks 3 tUSD: it takes node 1's two vNodes at 1 tUSD each now, at 3 after the notice.
      const tx = await m.clusterReplaceNode(cluster, 1n, [dear, dear], EVIDENCE);
      await expect(tx).to.emit(ddc, "ClusterNodeReplaced").withArgs(cluster, 1n, [10n, 30n], [dear, dear], EVIDENCE);
      const at = BigInt((await ethers.provider.getBlock(tx.blockNumber ?? "latest"))?.timestamp ?? 0);
      const c = await ddc.getCluster(cluster);
      expect([c.price, c.pendingPrice, c.pendingPriceAt]).to.deep.equal([6n * USD, 10n * USD, at + 14n * 86_400n]);
      expect(await ddc.clusterNodeTerms(cluster, dear)).to.deep.equal([RENT, 0n]);
      expect(await ringOf(n)).to.deep.equal(["10:6", "20:2", "30:6", "40:2", "50:3"]);
      expect((await ddc.getNode(1n)).reserved).to.equal(0n);
      expect((await ddc.getNode(dear)).reserved).to.equal(200n);

      // With the only bucket closed, the replacement that raised the price now goes through, at once.
      await ddc.connect(n.owner1).bucketClose(n.bucket);
      await m.clusterReplaceNode(cluster, 2n, [3n, 3n], EVIDENCE);
      const after = await ddc.getCluster(cluster);
      expect([after.price, after.pendingPrice]).to.deep.equal([12n * USD, 0n]);
      expect(await ddc.clusterNodes(cluster)).to.deep.equal([3n, dear]);
    });
  });
});
