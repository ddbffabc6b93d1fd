import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { CLUSTER_PARAMS, GIB, MONTH, NODE_PARAMS, RENT, USD } from "../helpers/fixtures";
import { EVIDENCE, accounted, revenueFixture } from "../helpers/revenue";

describe("revenue", function () {
  describe("clusterDistributeRevenues", function () {
    it("pays fees to balances and the rest to the nodes by weight, and empties the pool", async function () {
      const f = await loadFixture(revenueFixture);
      const pool = (await f.ddc.getCluster(f.cluster)).revenuePool;
      expect(pool).to.equal(40n * USD);
      await expect(f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 0, [], EVIDENCE))
        .to.emit(f.ddc, "RevenuesDistributed")
        .withArgs(f.cluster, 0, EVIDENCE, pool, 2n * USD, 4n * USD, 34n * USD, 0n, []);
      expect((await f.ddc.getCluster(f.cluster)).revenuePool).to.equal(0n);
      expect(await f.ddc.accountBalance(f.feeDestination.address)).to.equal(2n * USD); // 5 %
      expect(await f.ddc.accountBalance(f.manager.address)).to.equal(4n * USD); // 10 %
      // Weights 1:2:1 of 34 tUSD (rounded down, at most one unit each).
      expect(await f.ddc.nodeRevenue(1n)).to.be.closeTo(8_500_000n, 1n);
      expect(await f.ddc.nodeRevenue(2n)).to.be.closeTo(17_000_000n, 1n);
      expect(await f.ddc.nodeRevenue(3n)).to.be.closeTo(8_500_000n, 1n);
      const dust = (await f.token.balanceOf(f.coreAddress)) - (await accounted(f));
      expect(dust).to.be.within(0n, 3n);
    });

    it("sends ineligible nodes' shares to the reserve, and they earn nothing from that era", async function () {
      const f = await loadFixture(revenueFixture);
      await expect(f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 0, [2n], EVIDENCE))
        .to.emit(f.ddc, "RevenuesDistributed")
        .withArgs(f.cluster, 0, EVIDENCE, 40n * USD, 2n * USD, 4n * USD, 17n * USD, 17n * USD, [2n]);
      expect(await f.ddc.nodeRevenue(2n)).to.equal(0n);
      expect((await f.ddc.clusterRevenue(f.cluster)).reserve).to.equal(17n * USD);
      expect(await f.ddc.nodeRevenue(1n)).to.be.closeTo(8_500_000n, 1n);
    });

    it("reverts with ClusterTooManyExclusions past nodes − replicationFactor", async function () {
      const f = await loadFixture(revenueFixture);
      await expect(f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 0, [1n, 2n], EVIDENCE))
        .to.be.revertedWithCustomError(f.ddc, "ClusterTooManyExclusions")
        .withArgs(f.cluster, 2n, 1n);
    });

    it("counts only members against the cap: a stale id does not use up the allowance", async function () {
      const f = await loadFixture(revenueFixture);
      // Node 9 does not exist; 2 is the one failing member (cap 1 with 3 nodes and replication 2).
      await expect(f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 0, [2n, 9n], EVIDENCE))
        .to.emit(f.ddc, "DistributionNodeSkipped")
        .withArgs(f.cluster, 0, 9n)
        .and.to.emit(f.ddc, "RevenuesDistributed")
        .withArgs(f.cluster, 0, EVIDENCE, 40n * USD, 2n * USD, 4n * USD, 17n * USD, 17n * USD, [2n, 9n]);
      await expect(
        f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 1, [...Array(513).keys()].map(BigInt), EVIDENCE),
      )
        .to.be.revertedWithCustomError(f.ddc, "DDCBatchTooLarge")
        .withArgs(513n, 512n);
    });

    it("reverts with ClusterIneligibleNotIncreasing and skips a non-member with an event", async function () {
      const f = await loadFixture(revenueFixture);
      await expect(f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 0, [2n, 1n], EVIDENCE))
        .to.be.revertedWithCustomError(f.ddc, "ClusterIneligibleNotIncreasing")
        .withArgs(f.cluster, 1n);
      await expect(f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 0, [1n, 1n], EVIDENCE))
        .to.be.revertedWithCustomError(f.ddc, "ClusterIneligibleNotIncreasing")
        .withArgs(f.cluster, 1n);
      await expect(f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 0, [1n, 9n], EVIDENCE))
        .to.emit(f.ddc, "DistributionNodeSkipped")
        .withArgs(f.cluster, 0, 9n);
    });

    it("distributes each era once, in increasing order, only once it has ended", async function () {
      const f = await loadFixture(revenueFixture);
      const m = f.ddc.connect(f.manager);
      const [current] = await f.ddc.clusterEra(f.cluster);
      await expect(m.clusterDistributeRevenues(f.cluster, current, [], EVIDENCE))
        .to.be.revertedWithCustomError(f.ddc, "ClusterEraNotClosed")
        .withArgs(f.cluster, current, current);
      await m.clusterDistributeRevenues(f.cluster, 5, [], EVIDENCE); // eras 0..4 skipped: their revenue went here
      for (const era of [5, 3]) {
        await expect(m.clusterDistributeRevenues(f.cluster, era, [], EVIDENCE))
          .to.be.revertedWithCustomError(f.ddc, "ClusterEraAlreadyDistributed")
          .withArgs(f.cluster, era, 6n);
      }
      expect((await f.ddc.clusterRevenue(f.cluster)).nextEra).to.equal(6n);
      await m.clusterDistributeRevenues(f.cluster, 6, [], EVIDENCE);
    });

    it("reverts with ClusterNotOperator for anyone but the manager and its operators", async function () {
      const f = await loadFixture(revenueFixture);
      await expect(f.ddc.connect(f.stranger).clusterDistributeRevenues(f.cluster, 0, [], EVIDENCE))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotOperator")
        .withArgs(f.cluster, f.stranger.address);
      await f.ddc.connect(f.manager).clusterSetOperator(f.cluster, f.stranger.address, true);
      await f.ddc.connect(f.stranger).clusterDistributeRevenues(f.cluster, 0, [], EVIDENCE);
    });
  });

  describe("claim", function () {
    it("pays a provider's nodes to `to` and leaves nothing to claim twice", async function () {
      const f = await loadFixture(revenueFixture);
      await f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 0, [], EVIDENCE);
      const owed = await f.ddc.nodeRevenue(2n);
      expect(owed).to.be.greaterThan(0n);
      const first = f.ddc.connect(f.provider2).claim([2n], f.stranger.address);
      await expect(first).to.changeTokenBalances(f.token, [f.stranger, f.core], [owed, -owed]);
      await expect(first).to.emit(f.ddc, "RevenueClaimed").withArgs(2n, f.provider2.address, f.stranger.address, owed);
      expect(await f.ddc.nodeRevenue(2n)).to.equal(0n);
      await expect(f.ddc.connect(f.provider2).claim([2n], f.stranger.address))
        .to.emit(f.ddc, "RevenueClaimed")
        .withArgs(2n, f.provider2.address, f.stranger.address, 0n);
    });

    it("reverts with NodeNotProvider for someone else's node and DDCZeroAddress for `to`", async function () {
      const f = await loadFixture(revenueFixture);
      await expect(f.ddc.connect(f.provider1).claim([2n], f.provider1.address))
        .to.be.revertedWithCustomError(f.ddc, "NodeNotProvider")
        .withArgs(2n, f.provider1.address);
      await expect(f.ddc.connect(f.provider2).claim([2n], ethers.ZeroAddress))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(ethers.encodeBytes32String("to"));
    });

    it("gives a node that joins after a distribution nothing from it", async function () {
      const f = await loadFixture(revenueFixture);
      await f.ddc.connect(f.others[1]).nodeCreate(ethers.Wallet.createRandom().address, 1000n, RENT, NODE_PARAMS);
      await f.ddc.connect(f.others[1]).nodeTrustManager(f.manager.address);
      await f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 0, [], EVIDENCE);
      await f.ddc.connect(f.manager).clusterAddNode(f.cluster, 4n, [9n]);
      expect(await f.ddc.nodeRevenue(4n)).to.equal(0n);
    });

    it("lets a removed node keep exactly what it had accrued, and earn nothing after", async function () {
      const f = await loadFixture(revenueFixture);
      await f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 0, [], EVIDENCE);
      const owed = await f.ddc.nodeRevenue(3n);
      await f.ddc.connect(f.manager).clusterRemoveNode(f.cluster, 3n);
      await time.increase(MONTH);
      await f.ddc.bucketSettlePayment(f.cluster, [f.bucket]);
      await f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 1, [], EVIDENCE);
      expect(await f.ddc.nodeRevenue(3n)).to.equal(owed);
      await expect(f.ddc.connect(f.others[0]).nodeRemove(3n))
        .to.be.revertedWithCustomError(f.ddc, "NodeHasRevenue")
        .withArgs(3n, owed);
      await f.ddc.connect(f.others[0]).claim([3n], f.others[0].address);
      await f.ddc.connect(f.others[0]).nodeRemove(3n);
    });
  });

  describe("withdrawBalance and clusterWithdrawReserve", function () {
    it("pays out fee balances and the reserve, and refuses more than there is", async function () {
      const f = await loadFixture(revenueFixture);
      await f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 0, [2n], EVIDENCE);
      await expect(f.ddc.connect(f.feeDestination).withdrawBalance(2n * USD, f.feeDestination.address))
        .to.emit(f.ddc, "BalanceWithdrawn")
        .withArgs(f.feeDestination.address, f.feeDestination.address, 2n * USD);
      await expect(f.ddc.connect(f.manager).withdrawBalance(5n * USD, f.manager.address))
        .to.be.revertedWithCustomError(f.ddc, "DDCInsufficientBalance")
        .withArgs(f.manager.address, 4n * USD, 5n * USD);
      await expect(f.ddc.connect(f.manager).clusterWithdrawReserve(f.cluster, 18n * USD, f.manager.address))
        .to.be.revertedWithCustomError(f.ddc, "ClusterReserveInsufficient")
        .withArgs(f.cluster, 17n * USD, 18n * USD);
      await expect(
        f.ddc.connect(f.manager).clusterWithdrawReserve(f.cluster, 17n * USD, f.stranger.address),
      ).to.changeTokenBalances(f.token, [f.stranger], [17n * USD]);
      await expect(f.ddc.connect(f.stranger).clusterWithdrawReserve(f.cluster, 0n, f.stranger.address))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotManager")
        .withArgs(f.cluster, f.stranger.address);
    });
  });

  describe("limits", function () {
    it("reverts with NodeTooManyClusters past 8 clusters for one node", async function () {
      const f = await loadFixture(revenueFixture);
      for (let i = 0; i < 7; i++) {
        await f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
        await f.ddc.connect(f.manager).clusterAddNode(BigInt(i + 2), 1n, [1n]);
      }
      await f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
      await expect(f.ddc.connect(f.manager).clusterAddNode(9n, 1n, [1n]))
        .to.be.revertedWithCustomError(f.ddc, "NodeTooManyClusters")
        .withArgs(1n, 8n);
    });
  });
});
