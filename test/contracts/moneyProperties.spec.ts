/**
 * The design's money and topology properties, each tried the way an attacker would: a manager who
 * wants owners' deposits, an owner who wants storage without rent, an operator who games the
 * usage reports. One `describe` per property; each `it` names the behaviour that protects it.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { CLUSTER_PARAMS, GIB, NODE_PARAMS, RENT, USD, exampleFixture, type ExampleFixture } from "../helpers/fixtures";
import { EXAMPLE_PRICE, runway } from "../helpers/rent";

const EVIDENCE = ethers.id("evidence");
const ERA = BigInt(CLUSTER_PARAMS.eraLength);
const DAY = 86_400n;
/** The example's notice: the cluster's price notice (14 days), longer than the unlock delay. */
const NOTICE = BigInt(CLUSTER_PARAMS.priceNotice);
/** A rent a manager's own node could ask: 10,000 tUSD per unit-month. */
const ABSURD_RENT = 10_000n * USD;

interface PayPerUseFixture extends ExampleFixture {
  /** Owner 2's pay-per-use bucket: reservation 0, cap 100. */
  ppu: bigint;
  operator: ExampleFixture["stranger"];
  /** The manager's own node, not in the cluster yet. */
  managerNode: bigint;
}

/**
 * The example network where owner 1 has closed its bucket, and owner 2 holds the only billable
 * bucket: pay-per-use (reservation 0, cap 100), so the cluster allocates nothing until a report.
 */
async function payPerUseFixture(): Promise<PayPerUseFixture> {
  const f = await exampleFixture();
  await f.ddc.connect(f.owner1).bucketClose(f.bucket);
  const operator = f.others[3];
  await f.ddc.connect(f.manager).clusterSetOperator(f.cluster, operator.address, true);
  await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 1_000n * USD);
  await f.ddc.connect(f.owner2).bucketCreate(f.cluster, "");
  const ppu = 2n;
  await f.ddc.connect(f.owner2).bucketSetCap(ppu, 100n);
  await f.ddc.connect(f.manager).nodeCreate(f.others[4].address, 1_000n, ABSURD_RENT, NODE_PARAMS);
  await f.ddc.connect(f.manager).nodeTrustManager(f.manager.address);
  return { ...f, ppu, operator, managerNode: 3n };
}

async function nextBlockTime(): Promise<bigint> {
  return BigInt(await time.latest()) + 1n;
}

describe("money properties", function () {
  describe("an owner never pays a price that was not announced with the notice", function () {
    it("keeps a price increase waiting its notice while a pay-per-use bucket (nothing allocated) is open", async function () {
      const f = await loadFixture(payPerUseFixture);
      expect((await f.ddc.getCluster(f.cluster)).allocated).to.equal(0n);
      expect((await f.ddc.getCluster(f.cluster)).billableBuckets).to.equal(1n);
      const at = await nextBlockTime();
      await time.setNextBlockTimestamp(at);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.managerNode, [7n]))
        .to.emit(f.ddc, "ClusterPriceScheduled")
        .withArgs(f.cluster, EXAMPLE_PRICE, EXAMPLE_PRICE + ABSURD_RENT, at + NOTICE);
      const view = await f.ddc.getCluster(f.cluster);
      expect(view.price).to.equal(EXAMPLE_PRICE);
      expect(view.pendingPrice).to.equal(EXAMPLE_PRICE + ABSURD_RENT);
    });

    it("bills measured units at the announced price only: a report and a settlement right after an increase move no more than the old price", async function () {
      const f = await loadFixture(payPerUseFixture);
      await f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.managerNode, [7n]);
      const [era] = await f.ddc.clusterEra(f.cluster);
      await time.increase(ERA);
      await f.ddc.connect(f.operator).clusterReportUsage(f.cluster, era, [f.ppu], [100n], EVIDENCE);
      const reportedAt = BigInt(await time.latest());
      await time.increase(DAY);
      const settle = f.ddc.bucketSettlePayment(f.cluster, [f.ppu]);
      await settle;
      const settledAt = BigInt(await time.latest());
      const ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      // 100 units for (settledAt − reportedAt) seconds at the old price, the remainder carried.
      const paid = (100n * EXAMPLE_PRICE * (settledAt - reportedAt)) / (30n * DAY);
      expect(ledger.balance).to.equal(1_000n * USD - paid);
    });

    it("keeps the notice when an operator reports a bucket at 0 for an era before the manager accepts an increase", async function () {
      const f = await loadFixture(payPerUseFixture);
      const [era] = await f.ddc.clusterEra(f.cluster);
      await time.increase(ERA);
      await f.ddc.connect(f.operator).clusterReportUsage(f.cluster, era, [f.ppu], [50n], EVIDENCE);
      await time.increase(ERA);
      await f.ddc.connect(f.operator).clusterReportUsage(f.cluster, era + 1n, [f.ppu], [0n], EVIDENCE);
      expect((await f.ddc.getCluster(f.cluster)).allocated).to.equal(0n);
      await f.ddc.connect(f.provider1).nodeChangeRent(f.node1, ABSURD_RENT);
      const at = await nextBlockTime();
      await time.setNextBlockTimestamp(at);
      await expect(f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, f.node1))
        .to.emit(f.ddc, "ClusterPriceScheduled")
        .withArgs(f.cluster, EXAMPLE_PRICE, EXAMPLE_PRICE + 2n * (ABSURD_RENT - RENT), at + NOTICE);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(EXAMPLE_PRICE);
    });

    it("applies an increase at once when no open bucket can be billed (cap 0, or closed)", async function () {
      const f = await loadFixture(payPerUseFixture);
      await f.ddc.connect(f.owner2).bucketSetCap(f.ppu, 0n);
      await f.ddc.connect(f.owner2).bucketCreate(f.cluster, ""); // cap 0: not billable
      expect((await f.ddc.getCluster(f.cluster)).billableBuckets).to.equal(0n);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.managerNode, [7n]))
        .to.emit(f.ddc, "ClusterPriceChanged")
        .and.not.to.emit(f.ddc, "ClusterPriceScheduled");
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(EXAMPLE_PRICE + ABSURD_RENT);
    });

    it("refuses a first cap above the owner's price limit when a manager raises an empty cluster's price in front of it", async function () {
      const f = await loadFixture(payPerUseFixture);
      await f.ddc.connect(f.owner2).bucketSetCap(f.ppu, 0n);
      // Nothing billable: the manager's increase applies at once, right before the owner's cap.
      await f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.managerNode, [7n]);
      await expect(f.ddc.connect(f.owner2).bucketSetCapWithMaxPrice(f.ppu, 100n, EXAMPLE_PRICE))
        .to.be.revertedWithCustomError(f.ddc, "LedgerPriceAboveLimit")
        .withArgs(f.cluster, EXAMPLE_PRICE + ABSURD_RENT, EXAMPLE_PRICE);
      // An owner who accepts the new price may cap at it (with the runway it needs).
      await f.ddc.connect(f.owner2).accountDeposit(f.cluster, 2_000n * USD);
      await expect(f.ddc.connect(f.owner2).bucketSetCapWithMaxPrice(f.ppu, 1n, EXAMPLE_PRICE + ABSURD_RENT))
        .to.emit(f.ddc, "BucketAllocated")
        .withArgs(f.ppu, 0n, 1n, 0n);
    });

    it("keeps a replacement from raising the price in force while only a pay-per-use bucket is open", async function () {
      const f = await loadFixture(payPerUseFixture);
      await expect(
        f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, f.node1, [f.managerNode, f.managerNode], EVIDENCE),
      ).to.emit(f.ddc, "ClusterPriceScheduled");
      // The new member is charged the leaving node's rent until the notice has passed.
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(EXAMPLE_PRICE);
      expect((await f.ddc.clusterNodeTerms(f.cluster, f.managerNode)).rentInForce).to.equal(RENT);
    });
  });

  describe("measured units stay billed until a report measures less", function () {
    it("refuses a cap below what the last report measured with BucketCapBelowMeasured", async function () {
      const f = await loadFixture(payPerUseFixture);
      const [era] = await f.ddc.clusterEra(f.cluster);
      await time.increase(ERA);
      await f.ddc.connect(f.operator).clusterReportUsage(f.cluster, era, [f.ppu], [60n], EVIDENCE);
      for (const cap of [0n, 59n]) {
        await expect(f.ddc.connect(f.owner2).bucketSetCap(f.ppu, cap))
          .to.be.revertedWithCustomError(f.ddc, "BucketCapBelowMeasured")
          .withArgs(f.ppu, cap, 60n);
      }
      await f.ddc.connect(f.owner2).bucketSetCap(f.ppu, 60n);
      expect((await f.ddc.getBucket(f.ppu)).billed).to.equal(60n);
      // A later report measures less: the cap may follow it down.
      await time.increase(ERA);
      await f.ddc.connect(f.operator).clusterReportUsage(f.cluster, era + 1n, [f.ppu], [20n], EVIDENCE);
      await f.ddc.connect(f.owner2).bucketSetCap(f.ppu, 20n);
      expect((await f.ddc.getBucket(f.ppu)).billed).to.equal(20n);
    });

    it("keeps the floor at the cap the units were measured under, so a cap can still rise", async function () {
      const f = await loadFixture(payPerUseFixture);
      const [era] = await f.ddc.clusterEra(f.cluster);
      await time.increase(ERA);
      await f.ddc.connect(f.operator).clusterReportUsage(f.cluster, era, [f.ppu], [150n], EVIDENCE);
      expect((await f.ddc.getBucket(f.ppu)).billed).to.equal(100n); // capped
      await expect(f.ddc.connect(f.owner2).bucketSetCap(f.ppu, 99n))
        .to.be.revertedWithCustomError(f.ddc, "BucketCapBelowMeasured")
        .withArgs(f.ppu, 99n, 100n);
      await f.ddc.connect(f.manager).clusterReserveResource(f.cluster, 200n);
      await f.ddc.connect(f.owner2).bucketSetCap(f.ppu, 120n);
      expect((await f.ddc.getBucket(f.ppu)).billed).to.equal(120n);
    });
  });

  describe("a ledger keeps the runway of everything its buckets can be billed for", function () {
    it("refuses a cap the ledger keeps no runway for, from an address with no deposit", async function () {
      const f = await loadFixture(payPerUseFixture);
      const fresh = f.others[5];
      await f.ddc.connect(fresh).bucketCreate(f.cluster, "");
      await expect(f.ddc.connect(fresh).bucketSetCap(3n, 1_000n))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientRunway")
        .withArgs(fresh.address, f.cluster, 0n, runway(1_000n));
    });

    it("keeps the runway of an open cap at unlock and at withdrawal, even with nothing billed", async function () {
      const f = await loadFixture(payPerUseFixture);
      const keep = runway(100n);
      const ledger = await f.ddc.getLedger(f.owner2.address, f.cluster);
      expect([ledger.units, ledger.capUnits, ledger.runway]).to.deep.equal([0n, 100n, keep]);
      await expect(f.ddc.connect(f.owner2).accountUnlock(f.cluster, 1_000n * USD))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientFree")
        .withArgs(f.owner2.address, f.cluster, 1_000n * USD - keep, 1_000n * USD);
      await f.ddc.connect(f.owner2).accountUnlock(f.cluster, 1_000n * USD - keep);
      // A cap raised during the wait raises the runway: the withdrawal checks again.
      await f.ddc.connect(f.owner2).bucketSetCap(f.ppu, 200n);
      await time.increase(8n * DAY);
      await expect(f.ddc.connect(f.owner2).accountWithdraw(f.cluster, 1_000n * USD - keep, f.owner2.address))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientFree")
        .withArgs(f.owner2.address, f.cluster, 1_000n * USD - runway(200n), 1_000n * USD - keep);
      await f.ddc.connect(f.owner2).bucketSetCap(f.ppu, 100n);
      await f.ddc.connect(f.owner2).accountWithdraw(f.cluster, 1_000n * USD - keep, f.owner2.address);
      // Closing the bucket frees the runway.
      await f.ddc.connect(f.owner2).bucketClose(f.ppu);
      expect((await f.ddc.getLedger(f.owner2.address, f.cluster)).runway).to.equal(0n);
    });

    it("checks the runway again when billed units grow within a cap after the price rose", async function () {
      const f = await loadFixture(payPerUseFixture);
      // Owner 2's 1,000 tUSD covers the runway of cap 100 at 4 tUSD, not at 4 + 10,000.
      await f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.managerNode, [7n]);
      await time.increase(NOTICE);
      await expect(f.ddc.connect(f.owner2).bucketAllocIntoCluster(f.ppu, 50n))
        .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientRunway")
        .withArgs(f.owner2.address, f.cluster, 1_000n * USD, runway(100n, EXAMPLE_PRICE + ABSURD_RENT));
    });
  });

  describe("a distribution excludes at most nodes − replication factor, with the factor in force", function () {
    it("refuses to lower the replication factor while a bucket can be billed, with ClusterReplicationInUse", async function () {
      const f = await loadFixture(payPerUseFixture);
      await expect(f.ddc.connect(f.manager).clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, replicationFactor: 1 }))
        .to.be.revertedWithCustomError(f.ddc, "ClusterReplicationInUse")
        .withArgs(f.cluster, 2n, 1n);
      // Raising it needs the nodes to hold the replicas.
      await expect(f.ddc.connect(f.manager).clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, replicationFactor: 3 }))
        .to.be.revertedWithCustomError(f.ddc, "ClusterBelowReplication")
        .withArgs(f.cluster, 2n, 3n);
    });

    it("caps the exclusions of the next distribution with the largest factor since the last one", async function () {
      const f = await loadFixture(exampleFixture);
      // Revenue in the pool, then no billable bucket: the factor may be lowered.
      await time.increase(ERA);
      await f.ddc.bucketSettlePayment(f.cluster, [f.bucket]);
      await f.ddc.connect(f.owner1).bucketClose(f.bucket);
      await f.ddc.connect(f.manager).clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, replicationFactor: 1 });
      const [era] = await f.ddc.clusterEra(f.cluster);
      // Two nodes, factor 2 in force during the era: no node may be excluded.
      await expect(f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, era - 1n, [f.node1], EVIDENCE))
        .to.be.revertedWithCustomError(f.ddc, "ClusterTooManyExclusions")
        .withArgs(f.cluster, 1n, 0n);
      expect((await f.ddc.getCluster(f.cluster)).exclusionFactor).to.equal(2n);
      await f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, era - 1n, [], EVIDENCE);
      // From then on the lowered factor is the one in force.
      expect((await f.ddc.getCluster(f.cluster)).exclusionFactor).to.equal(1n);
      await time.increase(ERA);
      await f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, era, [f.node1], EVIDENCE);
    });

    it("keeps the largest factor when the factor is lowered and raised back before a distribution", async function () {
      const f = await loadFixture(exampleFixture);
      await time.increase(ERA);
      await f.ddc.connect(f.owner1).bucketClose(f.bucket);
      const m = f.ddc.connect(f.manager);
      await m.clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, replicationFactor: 1 });
      const [era] = await f.ddc.clusterEra(f.cluster);
      await m.clusterDistributeRevenues(f.cluster, era - 1n, [], EVIDENCE);
      // Factor 1 in force now; raised to 2 and lowered again before the next distribution.
      await m.clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, replicationFactor: 2 });
      await m.clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, replicationFactor: 1 });
      await time.increase(ERA);
      await expect(m.clusterDistributeRevenues(f.cluster, era, [f.node1], EVIDENCE))
        .to.be.revertedWithCustomError(f.ddc, "ClusterTooManyExclusions")
        .withArgs(f.cluster, 1n, 0n);
    });
  });

  describe("a cluster that cannot hold the replicas takes no new billing", function () {
    async function underReplicatedFixture() {
      const f = await exampleFixture();
      await f.ddc.connect(f.owner1).bucketClose(f.bucket);
      await f.ddc.connect(f.manager).clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, replicationFactor: 3 });
      await f.ddc.connect(f.owner1).bucketCreate(f.cluster, "");
      return { ...f, fresh: 2n };
    }

    it("refuses a cap or a reservation in a cluster with fewer nodes than its factor", async function () {
      const f = await loadFixture(underReplicatedFixture);
      await expect(f.ddc.connect(f.owner1).bucketSetCap(f.fresh, 10n))
        .to.be.revertedWithCustomError(f.ddc, "ClusterBelowReplication")
        .withArgs(f.cluster, 2n, 3n);
      await expect(f.ddc.connect(f.owner1).bucketAllocIntoCluster(f.fresh, 10n))
        .to.be.revertedWithCustomError(f.ddc, "ClusterBelowReplication")
        .withArgs(f.cluster, 2n, 3n);
    });

    it("lets a cluster at its factor replace a node one for one, and refuses a replacement that drops a node", async function () {
      const f = await loadFixture(payPerUseFixture);
      await f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, f.node1, [f.managerNode, f.managerNode], EVIDENCE);
      // Handing node 3's vNodes to node 2 (a member) would leave one node for a factor of 2.
      await expect(f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, f.managerNode, [f.node2, f.node2], EVIDENCE))
        .to.be.revertedWithCustomError(f.ddc, "ClusterBelowReplication")
        .withArgs(f.cluster, 1n, 2n);
      await expect(f.ddc.connect(f.manager).clusterRemoveNode(f.cluster, f.node2))
        .to.be.revertedWithCustomError(f.ddc, "ClusterBelowReplication")
        .withArgs(f.cluster, 1n, 2n);
    });
  });

  describe("a cluster's settlement scan costs what its own buckets cost", function () {
    it("pages a cluster's buckets from its own index, whatever other clusters hold", async function () {
      const f = await loadFixture(exampleFixture);
      const page = () => f.lens.settlementPage.estimateGas(f.cluster, 0);
      const before = await page();
      await f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
      const spam = f.ddc.connect(f.stranger);
      for (let i = 0; i < 400; i++) await spam.bucketCreate(2n, "");
      const [items, next] = await f.lens.settlementPage(f.cluster, 0);
      expect(items.map((i) => i.bucket)).to.deep.equal([f.bucket]);
      expect(next).to.equal(0n);
      expect(await page()).to.equal(before);
      expect(await f.ddc.clusterBuckets(f.cluster, 0, 10)).to.deep.equal([[f.bucket], 1n]);
      const [spamPage, total] = await f.ddc.clusterBuckets(2n, 390, 100);
      expect([spamPage.length, total]).to.deep.equal([10, 400n]);
      // The spammed cluster pages its own 400 buckets: two calls.
      const [first, cursor] = await f.lens.settlementPage(2n, 0);
      expect([first.length, cursor]).to.deep.equal([300, 301n]);
      expect((await f.lens.settlementPage(2n, cursor))[1]).to.equal(0n);
    });
  });

  describe("a manager handover clears the validators", function () {
    it("starts the new manager with no validators, as with operators", async function () {
      const f = await loadFixture(exampleFixture);
      const [v1, v2, next] = [f.others[0], f.others[1], f.others[2]];
      await f.ddc.connect(f.manager).clusterSetValidator(f.cluster, v1.address, true);
      await f.ddc.connect(f.manager).clusterSetValidator(f.cluster, v2.address, true);
      await f.ddc.connect(f.manager).clusterProposeManager(f.cluster, next.address);
      await f.ddc.connect(next).clusterAcceptManager(f.cluster);
      expect(await f.ddc.clusterValidators(f.cluster)).to.deep.equal([]);
      await expect(f.ddc.connect(next).clusterSetValidator(f.cluster, v2.address, true))
        .to.emit(f.ddc, "ClusterValidatorSet")
        .withArgs(f.cluster, v2.address, true);
      expect(await f.ddc.clusterValidators(f.cluster)).to.deep.equal([v2.address]);
    });
  });
});
