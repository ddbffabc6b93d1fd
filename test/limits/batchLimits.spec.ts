import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { CLUSTER_PARAMS, GIB, NODE_PARAMS, RENT, coreFixture } from "../helpers/fixtures";
import { addManyNodes, buildPopulation } from "../helpers/population";

/** EIP-7825: no transaction may use more gas than this (Hardhat's default hardfork enforces it). */
const GAS_CAP = 16_777_216n;
const MAX_SETTLE_BATCH = 1200;
const MAX_NODES = 512;
const MAX_VNODES = 2048;

describe("batch maxima fit the per-transaction gas cap", function () {
  describe("bucketSettlePayment", function () {
    async function settled() {
      const f = await coreFixture();
      const pop = await buildPopulation(f, { owners: MAX_SETTLE_BATCH });
      return { ...f, ...pop };
    }

    it(`settles ${MAX_SETTLE_BATCH} ledgers of distinct owners that all go into arrears`, async function () {
      const f = await loadFixture(settled);
      await time.increase(120 * 86_400);
      const receipt = await (await f.ddc.bucketSettlePayment(f.cluster, f.buckets, { gasLimit: GAS_CAP })).wait();
      expect(receipt?.gasUsed).to.be.lessThan(GAS_CAP);
      for (const owner of [f.owners[0], f.owners[MAX_SETTLE_BATCH - 1]]) {
        expect((await f.ddc.getLedger(owner, f.cluster)).debt).to.be.greaterThan(0n);
      }
    });

    it(`settles ${MAX_SETTLE_BATCH} ledgers of distinct owners that all pay in full`, async function () {
      const f = await loadFixture(settled);
      await time.increase(86_400);
      const receipt = await (await f.ddc.bucketSettlePayment(f.cluster, f.buckets, { gasLimit: GAS_CAP })).wait();
      expect(receipt?.gasUsed).to.be.lessThan(GAS_CAP);
      const last = await f.ddc.getLedger(f.owners[MAX_SETTLE_BATCH - 1], f.cluster);
      expect(last.debt).to.equal(0n);
      expect(last.owed).to.equal(0n);
      expect((await f.ddc.getCluster(f.cluster)).revenuePool).to.be.greaterThan(0n);
    });

    it("refuses a batch one longer than the maximum", async function () {
      const f = await loadFixture(settled);
      const tooMany = [...f.buckets, f.buckets[0]];
      await expect(f.ddc.bucketSettlePayment(f.cluster, tooMany))
        .to.be.revertedWithCustomError(f.ddc, "DDCBatchTooLarge")
        .withArgs(MAX_SETTLE_BATCH + 1, MAX_SETTLE_BATCH);
    });
  });

  describe("clusterReportUsage", function () {
    const MAX_USAGE_BATCH = 300;

    it(`records ${MAX_USAGE_BATCH} buckets of distinct owners whose billed units all change`, async function () {
      const f = await coreFixture();
      const pop = await buildPopulation(f, { owners: MAX_USAGE_BATCH, capEach: 5n });
      await time.increase(2 * 3600);
      const measured = pop.buckets.map(() => 3n);
      const receipt = await (
        await f.ddc
          .connect(f.manager)
          .clusterReportUsage(pop.cluster, 0, pop.buckets, measured, ethers.ZeroHash, { gasLimit: GAS_CAP })
      ).wait();
      expect(receipt?.gasUsed).to.be.lessThan(GAS_CAP);
      expect((await f.ddc.getBucket(pop.buckets[MAX_USAGE_BATCH - 1])).billed).to.equal(3n);
      expect((await f.ddc.getCluster(pop.cluster)).allocated).to.equal(3n * BigInt(MAX_USAGE_BATCH));
    });
  });

  describe("a cluster at its node and vNode maxima", function () {
    async function fullCluster() {
      const f = await coreFixture();
      await f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
      const cluster = await f.ddc.clusterCount();
      await addManyNodes(f, cluster, MAX_NODES, { vNodes: MAX_VNODES / MAX_NODES });
      return { ...f, cluster };
    }

    it(`reserves resources over ${MAX_NODES} nodes in one transaction`, async function () {
      const f = await loadFixture(fullCluster);
      const view = await f.ddc.getCluster(f.cluster);
      expect(view.nodeCount).to.equal(MAX_NODES);
      expect(view.vNodeCount).to.equal(MAX_VNODES);
      const receipt = await (
        await f.ddc.connect(f.manager).clusterReserveResource(f.cluster, 1000n, { gasLimit: GAS_CAP })
      ).wait();
      expect(receipt?.gasUsed).to.be.lessThan(GAS_CAP);
      expect((await f.ddc.getNode(1n)).reserved).to.equal(4000n);
    });

    it("refuses a node beyond the maximum", async function () {
      const f = await loadFixture(fullCluster);
      const extra = f.others[0];
      await f.ddc.connect(extra).nodeCreate(ethers.Wallet.createRandom().address, 10n, RENT, NODE_PARAMS);
      await f.ddc.connect(extra).nodeTrustManager(f.manager.address);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, await f.ddc.nodeCount(), [1n]))
        .to.be.revertedWithCustomError(f.ddc, "ClusterTooManyNodes")
        .withArgs(f.cluster, MAX_NODES);
    });

    it("answers the ring and key placement views over the largest ring", async function () {
      const f = await loadFixture(fullCluster);
      const [tokens, nodes] = await f.lens.ring(f.cluster);
      expect(tokens.length).to.equal(MAX_VNODES);
      for (let i = 1; i < tokens.length; i++) expect(tokens[i]).to.be.greaterThan(tokens[i - 1]);
      expect(nodes[0]).to.equal(1n);
      const holders = await f.lens.nodesForKey(f.cluster, ethers.toUtf8Bytes("a key"));
      expect(holders.length).to.equal(CLUSTER_PARAMS.replicationFactor);
      expect(holders[0]).to.not.equal(holders[1]);
    });
  });
});
