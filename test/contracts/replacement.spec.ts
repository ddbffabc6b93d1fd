import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { anyValue } from "@nomicfoundation/hardhat-chai-matchers/withArgs";
import { DAY } from "../../deploy/core";
import { NODE_PARAMS, RENT, USD } from "../helpers/fixtures";
import { EVIDENCE, accounted, revenueFixture, type RevenueFixture } from "../helpers/revenue";

const ACC_SCALE = 10n ** 24n;
const OFFLINE = 2;
const NOTICE = 14n * BigInt(DAY); // the cluster's price notice (longer than the 7-day unlock delay)

interface ReplacementFixture extends RevenueFixture {
  /** Providers of nodes 4 and 5, fresh nodes (not in the cluster) whose providers trust the manager. */
  provider4: RevenueFixture["provider1"];
  provider5: RevenueFixture["provider1"];
}

/**
 * The revenue fixture (cluster 1: node 1 with token 1, node 2 with tokens 2 and 3, node 3 with
 * token 4, all at 1 tUSD, replication 2, 100 units reserved per vNode, a month of rent for 10 units
 * in the pool) and two fresh nodes, 4 and 5, able to replace.
 */
async function replacementFixture(): Promise<ReplacementFixture> {
  const f = await revenueFixture();
  const [provider4, provider5] = [f.others[1], f.others[2]];
  for (const p of [provider4, provider5]) {
    await f.ddc.connect(p).nodeCreate(ethers.Wallet.createRandom().address, 1000n, RENT, NODE_PARAMS);
    await f.ddc.connect(p).nodeTrustManager(f.manager.address);
  }
  return { ...f, provider4, provider5 };
}

/** token → node, from the ring view. */
async function ringOf(f: RevenueFixture): Promise<Map<bigint, bigint>> {
  const [tokens, nodes] = await f.ddc.clusterRing(f.cluster);
  return new Map(tokens.map((t, i) => [t, nodes[i]]));
}

/** Settles a month of rent into the pool and returns the last closed era. */
async function anotherMonth(f: RevenueFixture): Promise<bigint> {
  await time.increase(30 * 24 * 3600);
  await f.ddc.bucketSettlePayment(f.cluster, [f.bucket]);
  return (await f.ddc.clusterEra(f.cluster)).era - 1n;
}

/** What the nodes' part of a distribution is, from its event. */
async function toNodesOf(tx: Promise<{ wait(): Promise<unknown> }>, f: RevenueFixture): Promise<bigint> {
  const receipt = (await (await tx).wait()) as { logs: { topics: string[]; data: string }[] };
  for (const log of receipt.logs) {
    const parsed = f.ddc.interface.parseLog(log);
    if (parsed?.name === "RevenuesDistributed") return parsed.args.toNodes as bigint;
  }
  throw new Error("no RevenuesDistributed");
}

describe("node replacement and leaving", function () {
  describe("clusterReplaceNode", function () {
    it("hands every vNode to its replacement in one transaction, with the evidence hash", async function () {
      const f = await loadFixture(replacementFixture);
      const before = await ringOf(f);
      await expect(f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, 2n, [4n, 1n], EVIDENCE))
        .to.emit(f.ddc, "ClusterNodeReplaced")
        .withArgs(f.cluster, 2n, [2n, 3n], [4n, 1n], EVIDENCE);
      const after = await ringOf(f);
      // The same tokens, no hole: only the two of node 2 changed hands.
      expect([...after.keys()].sort()).to.deep.equal([...before.keys()].sort());
      expect(Object.fromEntries(after)).to.deep.equal(Object.fromEntries(new Map([...before, [2n, 4n], [3n, 1n]])));
      expect([...(await f.ddc.clusterNodes(f.cluster))].sort()).to.deep.equal([1n, 3n, 4n]);
      expect((await f.ddc.clusterNodeInfo(f.cluster, 1n)).tokens).to.deep.equal([1n, 3n]);
      expect((await f.ddc.clusterNodeInfo(f.cluster, 4n)).tokens).to.deep.equal([2n]);
      await expect(f.ddc.clusterNodeInfo(f.cluster, 2n))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNodeNotMember")
        .withArgs(f.cluster, 2n);
      // Reservations follow the vNodes (100 units each); the price is unchanged (same rents).
      expect((await f.ddc.getNode(2n)).reserved).to.equal(0n);
      expect((await f.ddc.getNode(2n)).clusterCount).to.equal(0n);
      expect((await f.ddc.getNode(1n)).reserved).to.equal(200n);
      expect((await f.ddc.getNode(4n)).reserved).to.equal(100n);
      expect((await f.ddc.getNode(4n)).clusterCount).to.equal(1n);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(4n * RENT);
      expect((await f.ddc.getCluster(f.cluster)).nodeCount).to.equal(3n);
    });

    it("the replaced node keeps what it accrued; members are synced before their weight changes", async function () {
      const f = await loadFixture(replacementFixture);
      // Era 0: 34 tUSD to the nodes at weights 1:2:1.
      await f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 0, [], EVIDENCE);
      expect(await f.ddc.nodeRevenue(2n)).to.equal(17n * USD);
      await f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, 2n, [4n, 1n], EVIDENCE);
      expect(await f.ddc.nodeRevenue(2n)).to.equal(17n * USD);
      expect(await f.ddc.nodeRevenue(4n)).to.equal(0n); // nothing from before it joined
      expect(await f.ddc.nodeRevenue(1n)).to.equal(8_500_000n); // its era-0 share at weight 1
      // A later distribution at weights 2 (node 1) : 1 (node 3) : 1 (node 4); nothing to node 2.
      const era = await anotherMonth(f);
      const toNodes = await toNodesOf(
        f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, era, [], EVIDENCE),
        f,
      );
      const inc = (toNodes * ACC_SCALE) / (4n * RENT);
      expect(await f.ddc.nodeRevenue(2n)).to.equal(17n * USD);
      expect(await f.ddc.nodeRevenue(4n)).to.equal((RENT * inc) / ACC_SCALE);
      expect(await f.ddc.nodeRevenue(1n)).to.equal(8_500_000n + (2n * RENT * inc) / ACC_SCALE);
      expect(await f.ddc.nodeRevenue(3n)).to.equal(8_500_000n + (RENT * inc) / ACC_SCALE);
      // The replaced node's provider claims what it accrued, then may remove the node.
      await expect(f.ddc.connect(f.provider2).claim([2n], f.provider2.address)).to.changeTokenBalance(
        f.token,
        f.provider2,
        17n * USD,
      );
      await expect(f.ddc.connect(f.provider2).nodeRemove(2n)).to.emit(f.ddc, "NodeRemoved");
      expect(await f.token.balanceOf(f.coreAddress)).to.be.greaterThanOrEqual(await accounted(f));
    });

    it("a new member with a higher rent is charged the leaving node's rent until the notice passes", async function () {
      const f = await loadFixture(replacementFixture);
      await f.ddc.connect(f.provider5).nodeChangeRent(5n, 3n * RENT);
      const tx = await f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, 3n, [5n], EVIDENCE);
      await expect(tx).to.not.emit(f.ddc, "ClusterPriceChanged");
      const at = BigInt(await time.latest()) + NOTICE;
      await expect(tx)
        .to.emit(f.ddc, "ClusterPriceScheduled")
        .withArgs(f.cluster, 4n * RENT, 6n * RENT, at);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(4n * RENT);
      expect(await f.ddc.clusterNodeTerms(f.cluster, 5n)).to.deep.equal([RENT, 0n]);
      await time.increaseTo(at - 1n);
      expect(await f.ddc.clusterNodeTerms(f.cluster, 5n)).to.deep.equal([RENT, 0n]);
      await time.increaseTo(at);
      expect(await f.ddc.clusterNodeTerms(f.cluster, 5n)).to.deep.equal([3n * RENT, 0n]);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(6n * RENT);
    });

    it("a cheaper replacement lowers the price at once", async function () {
      const f = await loadFixture(replacementFixture);
      await f.ddc.connect(f.provider5).nodeChangeRent(5n, RENT / 2n);
      await expect(f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, 3n, [5n], EVIDENCE))
        .to.emit(f.ddc, "ClusterPriceChanged")
        .withArgs(f.cluster, 4n * RENT, (7n * RENT) / 2n, anyValue);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal((7n * RENT) / 2n);
      expect(await f.ddc.clusterNodeTerms(f.cluster, 5n)).to.deep.equal([RENT / 2n, 0n]);
    });

    it("refuses to raise the price in force through a member charged more (ClusterReplacementRaisesPrice)", async function () {
      const f = await loadFixture(replacementFixture);
      await f.ddc.connect(f.provider1).nodeChangeRent(1n, 2n * RENT);
      await f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, 1n);
      await time.increase(NOTICE);
      expect(await f.ddc.clusterNodeTerms(f.cluster, 1n)).to.deep.equal([2n * RENT, 0n]);
      await f.ddc.bucketSettlePayment(f.cluster, [f.bucket]); // writes the increase down
      const before = await ringOf(f);
      await expect(f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, 3n, [1n], EVIDENCE))
        .to.be.revertedWithCustomError(f.ddc, "ClusterReplacementRaisesPrice")
        .withArgs(f.cluster, 5n * RENT, 6n * RENT);
      expect(await ringOf(f)).to.deep.equal(before);
      // A member charged no more than the leaving node, or a new node, is fine.
      await f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, 3n, [2n], EVIDENCE);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(5n * RENT);
    });

    it("with nothing allocated, the replacement's rent applies at once", async function () {
      const f = await loadFixture(replacementFixture);
      await f.ddc.connect(f.owner1).bucketClose(f.bucket);
      await f.ddc.connect(f.provider5).nodeChangeRent(5n, 3n * RENT);
      await f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, 3n, [5n], EVIDENCE);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(6n * RENT);
      expect(await f.ddc.clusterNodeTerms(f.cluster, 5n)).to.deep.equal([3n * RENT, 0n]);
      expect((await f.ddc.getCluster(f.cluster)).pendingPriceAt).to.equal(0n);
    });

    describe("refusals (nothing changes)", function () {
      const cases: {
        name: string;
        setup?: (f: ReplacementFixture) => Promise<unknown>;
        node: bigint;
        replacements: bigint[];
        error: string;
        args: (f: ReplacementFixture) => unknown[];
      }[] = [
        {
          name: "one replacement per vNode",
          node: 2n,
          replacements: [4n],
          error: "DDCLengthMismatch",
          args: () => [1n, 2n],
        },
        {
          name: "the node itself",
          node: 2n,
          replacements: [2n, 4n],
          error: "ClusterReplacementInvalid",
          args: (f) => [f.cluster, 2n, 2n],
        },
        {
          name: "an offline member",
          setup: (f) => f.ddc.connect(f.manager).clusterSetNodeStatus(f.cluster, 3n, OFFLINE),
          node: 2n,
          replacements: [4n, 3n],
          error: "ClusterReplacementInvalid",
          args: (f) => [f.cluster, 2n, 3n],
        },
        {
          name: "a member that is leaving",
          setup: (f) => f.ddc.connect(f.others[0]).nodeRequestLeave(3n, f.cluster),
          node: 2n,
          replacements: [3n, 4n],
          error: "ClusterReplacementInvalid",
          args: (f) => [f.cluster, 2n, 3n],
        },
        {
          name: "a member still charged less than the rent it was accepted at",
          setup: async (f) => {
            await f.ddc.connect(f.others[0]).nodeChangeRent(3n, 2n * RENT);
            await f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, 3n); // in force in 14 days
          },
          node: 2n,
          replacements: [4n, 3n],
          error: "ClusterReplacementInvalid",
          args: (f) => [f.cluster, 2n, 3n],
        },
        {
          name: "a node whose provider does not trust the manager",
          setup: (f) => f.ddc.connect(f.provider5).nodeDistrustManager(f.manager.address),
          node: 2n,
          replacements: [4n, 5n],
          error: "NodeManagerNotTrusted",
          args: (f) => [5n, f.provider5.address, f.manager.address],
        },
        {
          name: "a node without capacity for the reservation",
          setup: (f) => f.ddc.connect(f.provider4).nodeChangeCapacity(4n, 150n),
          node: 2n,
          replacements: [4n, 4n],
          error: "NodeCapacityExceeded",
          args: () => [4n, 150n, 200n],
        },
        {
          name: "an unknown node",
          node: 2n,
          replacements: [99n, 4n],
          error: "NodeNotFound",
          args: () => [99n],
        },
        {
          name: "a node that is not a member",
          node: 4n,
          replacements: [5n],
          error: "ClusterNodeNotMember",
          args: (f) => [f.cluster, 4n],
        },
        {
          name: "fewer nodes than the replication factor",
          setup: (f) => f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, 2n, [1n, 1n], EVIDENCE),
          node: 3n,
          replacements: [1n],
          error: "ClusterBelowReplication",
          args: (f) => [f.cluster, 1n, 2n],
        },
      ];
      for (const c of cases) {
        it(`${c.name}: ${c.error}`, async function () {
          const f = await loadFixture(replacementFixture);
          if (c.setup) await c.setup(f);
          const ring = await ringOf(f);
          const nodes = await f.ddc.clusterNodes(f.cluster);
          await expect(f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, c.node, c.replacements, EVIDENCE))
            .to.be.revertedWithCustomError(f.ddc, c.error)
            .withArgs(...c.args(f));
          expect(await ringOf(f)).to.deep.equal(ring);
          expect(await f.ddc.clusterNodes(f.cluster)).to.deep.equal(nodes);
        });
      }

      it("only the manager: ClusterNotManager, also for an operator", async function () {
        const f = await loadFixture(replacementFixture);
        await f.ddc.connect(f.manager).clusterSetOperator(f.cluster, f.stranger.address, true);
        await expect(f.ddc.connect(f.stranger).clusterReplaceNode(f.cluster, 2n, [4n, 4n], EVIDENCE))
          .to.be.revertedWithCustomError(f.ddc, "ClusterNotManager")
          .withArgs(f.cluster, f.stranger.address);
      });

      it("after a handover, replacements need their providers to trust the new manager", async function () {
        const f = await loadFixture(replacementFixture);
        const newManager = f.others[3];
        await f.ddc.connect(f.manager).clusterProposeManager(f.cluster, newManager.address);
        await f.ddc.connect(newManager).clusterAcceptManager(f.cluster);
        await expect(f.ddc.connect(newManager).clusterReplaceNode(f.cluster, 2n, [4n, 4n], EVIDENCE))
          .to.be.revertedWithCustomError(f.ddc, "NodeManagerNotTrusted")
          .withArgs(4n, f.provider4.address, newManager.address);
        await f.ddc.connect(f.provider4).nodeTrustManager(newManager.address);
        await f.ddc.connect(newManager).clusterReplaceNode(f.cluster, 2n, [4n, 4n], EVIDENCE);
        expect((await f.ddc.clusterNodeInfo(f.cluster, 4n)).tokens).to.deep.equal([2n, 3n]);
      });
    });
  });

  describe("a provider leaving with notice", function () {
    it("announces, waits the notice, then leaves keeping what it accrued", async function () {
      const f = await loadFixture(replacementFixture);
      await f.ddc.connect(f.manager).clusterDistributeRevenues(f.cluster, 0, [], EVIDENCE);
      const accrued = await f.ddc.nodeRevenue(3n);
      expect(accrued).to.equal(8_500_000n);
      const tx = await f.ddc.connect(f.others[0]).nodeRequestLeave(3n, f.cluster);
      const at = BigInt(await time.latest()) + NOTICE;
      await expect(tx).to.emit(f.ddc, "ClusterNodeLeaveRequested").withArgs(f.cluster, 3n, at);
      expect(await f.ddc.clusterNodeTerms(f.cluster, 3n)).to.deep.equal([RENT, at]);
      await expect(f.ddc.connect(f.others[0]).nodeRequestLeave(3n, f.cluster))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNodeAlreadyLeaving")
        .withArgs(f.cluster, 3n, at);
      await time.setNextBlockTimestamp(at - 1n);
      await expect(f.ddc.connect(f.others[0]).nodeLeaveCluster(3n, f.cluster))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNodeLeaveNotDue")
        .withArgs(f.cluster, 3n, at);
      await expect(f.ddc.connect(f.others[0]).nodeLeaveCluster(3n, f.cluster))
        .to.emit(f.ddc, "ClusterNodeRemoved")
        .withArgs(f.cluster, 3n, [4n]);
      expect(await f.ddc.nodeRevenue(3n)).to.equal(accrued);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(3n * RENT);
    });

    it("the notice is the longest of the price notice, the unlock delay and a day", async function () {
      const f = await loadFixture(replacementFixture);
      await f.ddc.connect(f.governor).setUnlockDelay(20 * DAY);
      await f.ddc.connect(f.others[0]).nodeRequestLeave(3n, f.cluster);
      expect((await f.ddc.clusterNodeTerms(f.cluster, 3n)).leaveAt).to.equal(
        BigInt(await time.latest()) + 20n * BigInt(DAY),
      );
    });

    it("a request can be cancelled; leaving needs a request", async function () {
      const f = await loadFixture(replacementFixture);
      const provider = f.others[0];
      await expect(f.ddc.connect(provider).nodeLeaveCluster(3n, f.cluster))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNodeNotLeaving")
        .withArgs(f.cluster, 3n);
      await f.ddc.connect(provider).nodeRequestLeave(3n, f.cluster);
      await expect(f.ddc.connect(provider).nodeCancelLeave(3n, f.cluster))
        .to.emit(f.ddc, "ClusterNodeLeaveCancelled")
        .withArgs(f.cluster, 3n);
      expect((await f.ddc.clusterNodeTerms(f.cluster, 3n)).leaveAt).to.equal(0n);
      await expect(f.ddc.connect(provider).nodeCancelLeave(3n, f.cluster))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNodeNotLeaving")
        .withArgs(f.cluster, 3n);
      await time.increase(NOTICE);
      await expect(f.ddc.connect(provider).nodeLeaveCluster(3n, f.cluster))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNodeNotLeaving")
        .withArgs(f.cluster, 3n);
    });

    it("only the node's provider, and only for a cluster holding the node", async function () {
      const f = await loadFixture(replacementFixture);
      for (const call of ["nodeRequestLeave", "nodeCancelLeave", "nodeLeaveCluster"] as const) {
        await expect(f.ddc.connect(f.stranger)[call](3n, f.cluster))
          .to.be.revertedWithCustomError(f.ddc, "NodeNotProvider")
          .withArgs(3n, f.stranger.address);
        await expect(f.ddc.connect(f.provider4)[call](4n, f.cluster))
          .to.be.revertedWithCustomError(f.ddc, "ClusterNodeNotMember")
          .withArgs(f.cluster, 4n);
        await expect(f.ddc.connect(f.provider4)[call](4n, 9n))
          .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
          .withArgs(9n);
      }
    });

    it("leaving cannot take the cluster below its replication factor; the manager replaces instead", async function () {
      const f = await loadFixture(replacementFixture);
      await f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, 2n, [1n, 1n], EVIDENCE);
      await f.ddc.connect(f.others[0]).nodeRequestLeave(3n, f.cluster);
      await time.increase(NOTICE);
      await expect(f.ddc.connect(f.others[0]).nodeLeaveCluster(3n, f.cluster))
        .to.be.revertedWithCustomError(f.ddc, "ClusterBelowReplication")
        .withArgs(f.cluster, 1n, 2n);
      await expect(f.ddc.connect(f.manager).clusterReplaceNode(f.cluster, 3n, [4n], EVIDENCE))
        .to.emit(f.ddc, "ClusterNodeReplaced")
        .withArgs(f.cluster, 3n, [4n], [4n], EVIDENCE);
      // Back in the cluster later, the node starts with no request to leave (and, joining while
      // buckets are allocated, is charged nothing until the notice passes).
      await f.ddc.connect(f.manager).clusterAddNode(f.cluster, 3n, [9n]);
      expect(await f.ddc.clusterNodeTerms(f.cluster, 3n)).to.deep.equal([0n, 0n]);
    });
  });
});
