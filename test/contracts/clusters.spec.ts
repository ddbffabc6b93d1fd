import { anyValue } from "@nomicfoundation/hardhat-chai-matchers/withArgs";
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { ContractTransactionResponse } from "ethers";
import { DAY } from "../../deploy/core";
import {
  coreFixture,
  exampleFixture,
  CLUSTER_PARAMS,
  GIB,
  NODE_PARAMS,
  RENT,
  type CoreFixture,
  type ExampleFixture,
} from "../helpers/fixtures";
import type { IDDC } from "../../typechain-types";

const b32 = ethers.encodeBytes32String;
const MISSING = 99n;
const NOTICE = BigInt(CLUSTER_PARAMS.priceNotice); // 14 days, longer than the 7-day unlock delay
const UNLOCK_DELAY = BigInt(7 * DAY);
const ERA = BigInt(CLUSTER_PARAMS.eraLength);

/** NodeStatus. */
const NONE = 0n;
const ACTIVE = 1n;
const OFFLINE = 2n;

type Params = typeof CLUSTER_PARAMS;

function paramsTuple(p: Params): bigint[] {
  return [p.replicationFactor, p.eraLength, p.qosThreshold, p.managementFeeBps, p.priceNotice].map(BigInt);
}

/** A distinct, non-zero address for each `i` (for operator and validator sets). */
function addressOf(i: number): string {
  return ethers.getAddress(ethers.zeroPadValue(ethers.toBeHex(0x1000 + i), 20));
}

/** Sets the timestamp of the next block and returns it. */
async function nextTimestamp(): Promise<bigint> {
  const t = BigInt(await time.latest()) + 1n;
  await time.setNextBlockTimestamp(t);
  return t;
}

async function eraOf(ddc: IDDC, cluster: bigint): Promise<bigint[]> {
  const [era, start, end] = await ddc.clusterEra(cluster);
  return [era, start, end];
}

async function checkpointsOf(ddc: IDDC, cluster: bigint): Promise<bigint[][]> {
  return (await ddc.clusterPriceCheckpoints(cluster)).map((c) => [c.time, c.index, c.price]);
}

/** The ring as (token, node) pairs sorted by token. */
async function ringPairs(ddc: IDDC, cluster: bigint): Promise<bigint[][]> {
  const [tokens, nodes] = await ddc.clusterRing(cluster);
  return tokens.map((t, i) => [t, nodes[i]]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

interface ClusterFixture extends CoreFixture {
  cluster: bigint;
  /** When the cluster was created (start of era 0). */
  created: bigint;
  node1: bigint;
  node2: bigint;
  node3: bigint;
}

/**
 * Three nodes, capacity 1000 each: node 1 (provider 1, rent RENT), node 2 (provider 2, rent
 * 2·RENT), node 3 (provider 1, rent 3·RENT). Both providers trust `manager`. Cluster 1, managed by
 * `manager` with CLUSTER_PARAMS, has no node yet.
 */
async function clusterFixture(): Promise<ClusterFixture> {
  const f = await coreFixture();
  const { ddc, provider1, provider2, manager } = f;
  await ddc.connect(provider1).nodeCreate(f.nodeKey1.address, 1000n, RENT, NODE_PARAMS);
  await ddc.connect(provider2).nodeCreate(f.nodeKey2.address, 1000n, 2n * RENT, NODE_PARAMS);
  await ddc.connect(provider1).nodeCreate(f.others[0].address, 1000n, 3n * RENT, NODE_PARAMS);
  await ddc.connect(provider1).nodeTrustManager(manager.address);
  await ddc.connect(provider2).nodeTrustManager(manager.address);
  await ddc.connect(manager).clusterCreate(manager.address, CLUSTER_PARAMS, GIB);
  const [, created] = await ddc.clusterEra(1n);
  return { ...f, cluster: 1n, created, node1: 1n, node2: 2n, node3: 3n };
}

/**
 * The cluster of {clusterFixture} with its three nodes: node 1 at tokens 10 and 40, node 2 at 20
 * and 50, node 3 at 30; 100 units reserved per vNode. Price 2·1 + 2·2 + 1·3 = 9 RENT. Nothing
 * allocated.
 */
async function memberFixture(): Promise<ClusterFixture> {
  const f = await clusterFixture();
  const m = f.ddc.connect(f.manager);
  await m.clusterAddNode(f.cluster, f.node1, [10n, 40n]);
  await m.clusterAddNode(f.cluster, f.node2, [20n, 50n]);
  await m.clusterAddNode(f.cluster, f.node3, [30n]);
  await m.clusterReserveResource(f.cluster, 100n);
  return f;
}

interface SpareFixture extends ExampleFixture {
  /** Node 3 of provider 1 (capacity 1000, rent RENT), not in the cluster. */
  spare: bigint;
}

/** The example network (price 4 RENT, 10 units allocated) and a spare node ready to be added. */
async function spareFixture(): Promise<SpareFixture> {
  const f = await exampleFixture();
  await f.ddc.connect(f.provider1).nodeCreate(f.others[0].address, 1000n, RENT, NODE_PARAMS);
  return { ...f, spare: 3n };
}

type ManagerCall = (ddc: IDDC, cluster: bigint, f: ClusterFixture) => Promise<ContractTransactionResponse>;

/** The two checks every manager function makes: the cluster exists and the caller manages it. */
function itChecksTheManager(call: ManagerCall): void {
  it("reverts with ClusterNotFound for an unknown cluster", async function () {
    const f = await loadFixture(memberFixture);
    await expect(call(f.ddc.connect(f.manager), MISSING, f))
      .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
      .withArgs(MISSING);
  });

  it("reverts with ClusterNotManager for anyone but the manager", async function () {
    const f = await loadFixture(memberFixture);
    for (const caller of [f.stranger, f.provider1, f.deployer]) {
      await expect(call(f.ddc.connect(caller), f.cluster, f))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotManager")
        .withArgs(f.cluster, caller.address);
    }
  });
}

describe("clusters", function () {
  describe("clusterCreate", function () {
    it("stores the manager, params and unit size, with no node, price or allocation", async function () {
      const f = await loadFixture(clusterFixture);
      const c = await f.ddc.getCluster(f.cluster);
      expect(c.id).to.equal(f.cluster);
      expect(c.manager).to.equal(f.manager.address);
      expect(c.pendingManager).to.equal(ethers.ZeroAddress);
      expect(c.params.map((x) => x)).to.deep.equal(paramsTuple(CLUSTER_PARAMS));
      expect(c.unitSize).to.equal(GIB);
      expect([c.reservedPerVNode, c.allocated, c.nodeCount, c.vNodeCount]).to.deep.equal([0n, 0n, 0n, 0n]);
      expect([c.price, c.pendingPrice, c.pendingPriceAt, c.index, c.revenuePool]).to.deep.equal([0n, 0n, 0n, 0n, 0n]);
      expect(await f.ddc.clusterCount()).to.equal(1n);
    });

    it("emits ClusterCreated and numbers clusters from 1; anyone may create one for a manager", async function () {
      const f = await loadFixture(clusterFixture);
      const params = { ...CLUSTER_PARAMS, replicationFactor: 3, priceNotice: 0 };
      await expect(f.ddc.connect(f.stranger).clusterCreate(f.owner2.address, params, 4096n))
        .to.emit(f.ddc, "ClusterCreated")
        .withArgs(2n, f.owner2.address, paramsTuple(params), 4096n);
      expect(await f.ddc.clusterCount()).to.equal(2n);
      expect((await f.ddc.getCluster(2n)).manager).to.equal(f.owner2.address);
      // The creator gets no right over the cluster.
      await expect(f.ddc.connect(f.stranger).clusterReserveResource(2n, 1n))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotManager")
        .withArgs(2n, f.stranger.address);
    });

    it("writes a first price checkpoint (creation time, 0, 0) and starts era 0 at creation", async function () {
      const f = await loadFixture(coreFixture);
      const t = await nextTimestamp();
      await f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
      expect(await checkpointsOf(f.ddc, 1n)).to.deep.equal([[t, 0n, 0n]]);
      expect(await eraOf(f.ddc, 1n)).to.deep.equal([0n, t, t + ERA]);
    });

    it("accepts every parameter at its bounds", async function () {
      const f = await loadFixture(coreFixture);
      const low = { replicationFactor: 1, eraLength: 600, qosThreshold: 0, managementFeeBps: 0, priceNotice: 0 };
      const high = {
        replicationFactor: 16,
        eraLength: 30 * DAY,
        qosThreshold: 10_000,
        managementFeeBps: 2_000,
        priceNotice: 90 * DAY,
      };
      await f.ddc.connect(f.manager).clusterCreate(f.manager.address, low, 1n);
      await f.ddc.connect(f.manager).clusterCreate(f.manager.address, high, 1n);
      expect((await f.ddc.getCluster(1n)).params.map((x) => x)).to.deep.equal(paramsTuple(low));
      expect((await f.ddc.getCluster(2n)).params.map((x) => x)).to.deep.equal(paramsTuple(high));
    });

    const outOfRange: { name: keyof Params; value: number; min: number; max: number }[] = [
      { name: "replicationFactor", value: 0, min: 1, max: 16 },
      { name: "replicationFactor", value: 17, min: 1, max: 16 },
      { name: "eraLength", value: 599, min: 600, max: 30 * DAY },
      { name: "eraLength", value: 30 * DAY + 1, min: 600, max: 30 * DAY },
      { name: "qosThreshold", value: 10_001, min: 0, max: 10_000 },
      { name: "managementFeeBps", value: 2_001, min: 0, max: 2_000 },
      { name: "priceNotice", value: 90 * DAY + 1, min: 0, max: 90 * DAY },
    ];
    for (const { name, value, min, max } of outOfRange) {
      it(`reverts with DDCParameterOutOfRange(${name}, ${value}, ${min}, ${max})`, async function () {
        const f = await loadFixture(coreFixture);
        await expect(
          f.ddc.connect(f.manager).clusterCreate(f.manager.address, { ...CLUSTER_PARAMS, [name]: value }, GIB),
        )
          .to.be.revertedWithCustomError(f.ddc, "DDCParameterOutOfRange")
          .withArgs(b32(name), value, min, max);
      });
    }

    it("reverts with ClusterUnitSizeZero for a zero unit size", async function () {
      const f = await loadFixture(coreFixture);
      await expect(
        f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, 0n),
      ).to.be.revertedWithCustomError(f.ddc, "ClusterUnitSizeZero");
    });

    it('reverts with DDCZeroAddress("manager") for the zero manager', async function () {
      const f = await loadFixture(coreFixture);
      await expect(f.ddc.connect(f.manager).clusterCreate(ethers.ZeroAddress, CLUSTER_PARAMS, GIB))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(b32("manager"));
    });

    it("reverts with EnforcedPause while paused", async function () {
      const f = await loadFixture(coreFixture);
      await f.core.connect(f.pauser).pause();
      await expect(
        f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB),
      ).to.be.revertedWithCustomError(f.core, "EnforcedPause");
    });
  });

  describe("clusterChangeParams", function () {
    it("stores the new params and emits ClusterParamsChanged", async function () {
      const f = await loadFixture(clusterFixture);
      const params = { replicationFactor: 5, eraLength: 7200, qosThreshold: 5000, managementFeeBps: 0, priceNotice: 0 };
      await expect(f.ddc.connect(f.manager).clusterChangeParams(f.cluster, params))
        .to.emit(f.ddc, "ClusterParamsChanged")
        .withArgs(f.cluster, paramsTuple(params));
      expect((await f.ddc.getCluster(f.cluster)).params.map((x) => x)).to.deep.equal(paramsTuple(params));
    });

    it("validates the params like clusterCreate, changing nothing on a revert", async function () {
      const f = await loadFixture(clusterFixture);
      const m = f.ddc.connect(f.manager);
      const cases: [keyof Params, number, number, number][] = [
        ["replicationFactor", 0, 1, 16],
        ["replicationFactor", 17, 1, 16],
        ["eraLength", 599, 600, 30 * DAY],
        ["eraLength", 30 * DAY + 1, 600, 30 * DAY],
        ["qosThreshold", 10_001, 0, 10_000],
        ["managementFeeBps", 2_001, 0, 2_000],
        ["priceNotice", 90 * DAY + 1, 0, 90 * DAY],
      ];
      for (const [name, value, min, max] of cases) {
        await expect(m.clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, [name]: value }))
          .to.be.revertedWithCustomError(f.ddc, "DDCParameterOutOfRange")
          .withArgs(b32(name), value, min, max);
      }
      expect((await f.ddc.getCluster(f.cluster)).params.map((x) => x)).to.deep.equal(paramsTuple(CLUSTER_PARAMS));
    });

    it("keeps the era schedule when the era length does not change", async function () {
      const f = await loadFixture(clusterFixture);
      const T0 = f.created;
      await time.increaseTo(T0 + 5400n);
      await f.ddc.connect(f.manager).clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, qosThreshold: 1 });
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([1n, T0 + ERA, T0 + 2n * ERA]);
      await time.increaseTo(T0 + 2n * ERA);
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([2n, T0 + 2n * ERA, T0 + 3n * ERA]);
    });

    it("keeps the current era's end when the era length changes; the next era has the new length", async function () {
      const f = await loadFixture(clusterFixture);
      const T0 = f.created;
      await time.increaseTo(T0 + 5400n);
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([1n, T0 + 3600n, T0 + 7200n]);

      await f.ddc.connect(f.manager).clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, eraLength: 600 });
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([1n, T0 + 3600n, T0 + 7200n]);
      await time.increaseTo(T0 + 7199n);
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([1n, T0 + 3600n, T0 + 7200n]);
      await time.increaseTo(T0 + 7200n);
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([2n, T0 + 7200n, T0 + 7800n]);
      await time.increaseTo(T0 + 7800n);
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([3n, T0 + 7800n, T0 + 8400n]);
      await time.increaseTo(T0 + 9000n + 599n);
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([5n, T0 + 9000n, T0 + 9600n]);
    });

    it("lengthens eras from the next one on", async function () {
      const f = await loadFixture(clusterFixture);
      const T0 = f.created;
      await time.increaseTo(T0 + 100n);
      await f.ddc.connect(f.manager).clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, eraLength: 4 * 3600 });
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([0n, T0, T0 + 3600n]);
      await time.increaseTo(T0 + 3600n + 4n * 3600n - 1n);
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([1n, T0 + 3600n, T0 + 5n * 3600n]);
      await time.increaseTo(T0 + 5n * 3600n);
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([2n, T0 + 5n * 3600n, T0 + 9n * 3600n]);
    });

    it("a second change before the anchor sets the next era's length without moving the current era", async function () {
      const f = await loadFixture(clusterFixture);
      const T0 = f.created;
      const m = f.ddc.connect(f.manager);
      await time.increaseTo(T0 + 5400n);
      await m.clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, eraLength: 600 });
      await time.increaseTo(T0 + 6000n);
      await m.clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, eraLength: 1200 });
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([1n, T0 + 3600n, T0 + 7200n]);
      expect((await f.ddc.getCluster(f.cluster)).params.eraLength).to.equal(1200n);
      await time.increaseTo(T0 + 7200n);
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([2n, T0 + 7200n, T0 + 8400n]);
      await time.increaseTo(T0 + 8400n);
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([3n, T0 + 8400n, T0 + 9600n]);
    });

    it("a second change back to the old length before the anchor restores the old schedule", async function () {
      const f = await loadFixture(clusterFixture);
      const T0 = f.created;
      const m = f.ddc.connect(f.manager);
      await time.increaseTo(T0 + 5400n);
      await m.clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, eraLength: 600 });
      await m.clusterChangeParams(f.cluster, CLUSTER_PARAMS);
      await time.increaseTo(T0 + 3n * 3600n + 1n);
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([3n, T0 + 3n * 3600n, T0 + 4n * 3600n]);
    });

    it("a change after the anchor re-anchors at the end of the era then current", async function () {
      const f = await loadFixture(clusterFixture);
      const T0 = f.created;
      const m = f.ddc.connect(f.manager);
      await time.increaseTo(T0 + 5400n);
      await m.clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, eraLength: 600 });
      // Era 3 is [T0 + 7800, T0 + 8400).
      await time.increaseTo(T0 + 8000n);
      await m.clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, eraLength: 1800 });
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([3n, T0 + 7800n, T0 + 8400n]);
      await time.increaseTo(T0 + 8400n);
      expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([4n, T0 + 8400n, T0 + 10200n]);
    });

    itChecksTheManager((ddc, cluster) => ddc.clusterChangeParams(cluster, CLUSTER_PARAMS));
  });

  describe("clusterAddNode", function () {
    it("adds the node and its vNodes: clusterNodes, clusterNodeInfo, ring, counts", async function () {
      const f = await loadFixture(clusterFixture);
      const m = f.ddc.connect(f.manager);
      await m.clusterAddNode(f.cluster, f.node1, [10n, 20n]);
      await m.clusterAddNode(f.cluster, f.node2, [15n]);
      expect(await f.ddc.clusterNodes(f.cluster)).to.deep.equal([f.node1, f.node2]);
      const [status, rent, tokens] = await f.ddc.clusterNodeInfo(f.cluster, f.node1);
      expect([status, rent, tokens.map((t) => t)]).to.deep.equal([ACTIVE, RENT, [10n, 20n]]);
      expect(await ringPairs(f.ddc, f.cluster)).to.deep.equal([
        [10n, f.node1],
        [15n, f.node2],
        [20n, f.node1],
      ]);
      const c = await f.ddc.getCluster(f.cluster);
      expect([c.nodeCount, c.vNodeCount]).to.deep.equal([2n, 3n]);
      expect((await f.ddc.getNode(f.node1)).clusterCount).to.equal(1n);
    });

    it("emits ClusterNodeAdded with the tokens and the node's rent", async function () {
      const f = await loadFixture(clusterFixture);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.node2, [7n, 3n, 5n]))
        .to.emit(f.ddc, "ClusterNodeAdded")
        .withArgs(f.cluster, f.node2, [7n, 3n, 5n], 2n * RENT);
    });

    it("reverts with NodeManagerNotTrusted when the provider does not trust the manager", async function () {
      const f = await loadFixture(clusterFixture);
      const provider = f.others[1];
      await f.ddc.connect(provider).nodeCreate(f.others[2].address, 1000n, RENT, NODE_PARAMS);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, 4n, [1n]))
        .to.be.revertedWithCustomError(f.ddc, "NodeManagerNotTrusted")
        .withArgs(4n, provider.address, f.manager.address);
    });

    it("reverts with ClusterNodeAlreadyMember for a member", async function () {
      const f = await loadFixture(memberFixture);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.node1, [99n]))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNodeAlreadyMember")
        .withArgs(f.cluster, f.node1);
    });

    it("reverts with NodeNotFound for an unknown node", async function () {
      const f = await loadFixture(clusterFixture);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, MISSING, [1n]))
        .to.be.revertedWithCustomError(f.ddc, "NodeNotFound")
        .withArgs(MISSING);
    });

    it("reverts with ClusterTokensInvalid for 0 tokens and for 65; accepts 64", async function () {
      const f = await loadFixture(clusterFixture);
      const m = f.ddc.connect(f.manager);
      await expect(m.clusterAddNode(f.cluster, f.node1, []))
        .to.be.revertedWithCustomError(f.ddc, "ClusterTokensInvalid")
        .withArgs(f.cluster, 0n, 64n);
      const tokens = Array.from({ length: 65 }, (_, i) => BigInt(i) * 1000n + 1n);
      await expect(m.clusterAddNode(f.cluster, f.node1, tokens))
        .to.be.revertedWithCustomError(f.ddc, "ClusterTokensInvalid")
        .withArgs(f.cluster, 65n, 64n);
      await m.clusterAddNode(f.cluster, f.node1, tokens.slice(0, 64));
      expect((await f.ddc.getCluster(f.cluster)).vNodeCount).to.equal(64n);
    });

    it("reverts with ClusterTokenTaken for a token another node holds", async function () {
      const f = await loadFixture(memberFixture);
      await f.ddc.connect(f.provider1).nodeCreate(f.others[3].address, 1000n, RENT, NODE_PARAMS);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, 4n, [60n, 20n]))
        .to.be.revertedWithCustomError(f.ddc, "ClusterTokenTaken")
        .withArgs(f.cluster, 20n, f.node2);
      expect((await f.ddc.getCluster(f.cluster)).vNodeCount).to.equal(5n);
    });

    it("reverts with ClusterTokenTaken for a token repeated in the same call", async function () {
      const f = await loadFixture(clusterFixture);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.node1, [8n, 9n, 8n]))
        .to.be.revertedWithCustomError(f.ddc, "ClusterTokenTaken")
        .withArgs(f.cluster, 8n, f.node1);
    });

    it("accepts token 0 and the largest token", async function () {
      const f = await loadFixture(clusterFixture);
      const top = 2n ** 64n - 1n;
      await f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.node1, [0n, top]);
      expect(await ringPairs(f.ddc, f.cluster)).to.deep.equal([
        [0n, f.node1],
        [top, f.node1],
      ]);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.node2, [0n]))
        .to.be.revertedWithCustomError(f.ddc, "ClusterTokenTaken")
        .withArgs(f.cluster, 0n, f.node1);
    });

    it("reserves the cluster's per-vNode reservation on the node, and reverts with NodeCapacityExceeded past its capacity", async function () {
      const f = await loadFixture(clusterFixture);
      const m = f.ddc.connect(f.manager);
      await m.clusterReserveResource(f.cluster, 100n);
      const eleven = Array.from({ length: 11 }, (_, i) => BigInt(i + 1));
      await expect(m.clusterAddNode(f.cluster, f.node1, eleven))
        .to.be.revertedWithCustomError(f.ddc, "NodeCapacityExceeded")
        .withArgs(f.node1, 1000n, 1100n);
      await m.clusterAddNode(f.cluster, f.node1, eleven.slice(0, 10));
      expect((await f.ddc.getNode(f.node1)).reserved).to.equal(1000n);
    });

    it("counts what other clusters reserved on the node", async function () {
      const f = await loadFixture(clusterFixture);
      const m = f.ddc.connect(f.manager);
      await m.clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
      await m.clusterReserveResource(2n, 600n);
      await m.clusterAddNode(2n, f.node1, [1n]);
      await m.clusterReserveResource(f.cluster, 100n);
      await expect(m.clusterAddNode(f.cluster, f.node1, [1n, 2n, 3n, 4n, 5n]))
        .to.be.revertedWithCustomError(f.ddc, "NodeCapacityExceeded")
        .withArgs(f.node1, 1000n, 1100n);
      await m.clusterAddNode(f.cluster, f.node1, [1n, 2n, 3n, 4n]);
      const n = await f.ddc.getNode(f.node1);
      expect([n.reserved, n.clusterCount]).to.deep.equal([1000n, 2n]);
    });

    it("reverts with ClusterTooManyVNodes past 2048 vNodes in the cluster", async function () {
      const f = await loadFixture(clusterFixture);
      const m = f.ddc.connect(f.manager);
      // Nodes 4..36 of provider 1, each with 64 vNodes.
      for (let i = 0; i < 33; i++) {
        await f.ddc.connect(f.provider1).nodeCreate(ethers.Wallet.createRandom().address, 0n, 0n, NODE_PARAMS);
      }
      for (let i = 0; i < 32; i++) {
        const tokens = Array.from({ length: 64 }, (_, j) => BigInt(i * 64 + j));
        await m.clusterAddNode(f.cluster, BigInt(4 + i), tokens);
      }
      expect((await f.ddc.getCluster(f.cluster)).vNodeCount).to.equal(2048n);
      await expect(m.clusterAddNode(f.cluster, 36n, [5000n]))
        .to.be.revertedWithCustomError(f.ddc, "ClusterTooManyVNodes")
        .withArgs(f.cluster, 2048n);
    });

    it("sets the price to the sum of accepted rent × vNodes", async function () {
      const f = await loadFixture(clusterFixture);
      const m = f.ddc.connect(f.manager);
      await m.clusterAddNode(f.cluster, f.node1, [1n, 2n]);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(2n * RENT);
      await m.clusterAddNode(f.cluster, f.node2, [3n, 4n, 5n]);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(2n * RENT + 6n * RENT);
      await m.clusterAddNode(f.cluster, f.node3, [6n]);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(11n * RENT);
    });

    it("applies the new price at once while nothing is allocated (ClusterPriceChanged, no schedule)", async function () {
      const f = await loadFixture(clusterFixture);
      const m = f.ddc.connect(f.manager);
      const t1 = await nextTimestamp();
      const first = await m.clusterAddNode(f.cluster, f.node1, [1n, 2n]);
      await expect(first)
        .to.emit(f.ddc, "ClusterPriceChanged")
        .withArgs(f.cluster, 0n, 2n * RENT, 0n);
      await expect(first).not.to.emit(f.ddc, "ClusterPriceScheduled");
      await time.increaseTo(t1 + 99n);
      await time.setNextBlockTimestamp(t1 + 100n);
      const second = await m.clusterAddNode(f.cluster, f.node2, [3n]);
      await expect(second)
        .to.emit(f.ddc, "ClusterPriceChanged")
        .withArgs(f.cluster, 2n * RENT, 4n * RENT, 2n * RENT * 100n);
      await expect(second).not.to.emit(f.ddc, "ClusterPriceScheduled");
      const c = await f.ddc.getCluster(f.cluster);
      expect([c.price, c.pendingPrice, c.pendingPriceAt]).to.deep.equal([4n * RENT, 0n, 0n]);
    });

    it("schedules an increase after the price notice once a bucket has allocated units", async function () {
      const f = await loadFixture(spareFixture);
      const t = await nextTimestamp();
      const tx = await f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.spare, [5n]);
      await expect(tx)
        .to.emit(f.ddc, "ClusterPriceScheduled")
        .withArgs(f.cluster, 4n * RENT, 5n * RENT, t + NOTICE);
      await expect(tx).not.to.emit(f.ddc, "ClusterPriceChanged");
      const c = await f.ddc.getCluster(f.cluster);
      expect([c.price, c.pendingPrice, c.pendingPriceAt]).to.deep.equal([4n * RENT, 5n * RENT, t + NOTICE]);
    });

    it("changes the price exactly at pendingPriceAt", async function () {
      const f = await loadFixture(spareFixture);
      const t = await nextTimestamp();
      await f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.spare, [5n]);
      await time.increaseTo(t + NOTICE - 1n);
      let c = await f.ddc.getCluster(f.cluster);
      expect([c.price, c.pendingPrice, c.pendingPriceAt]).to.deep.equal([4n * RENT, 5n * RENT, t + NOTICE]);
      await time.increaseTo(t + NOTICE);
      c = await f.ddc.getCluster(f.cluster);
      expect([c.price, c.pendingPrice, c.pendingPriceAt]).to.deep.equal([5n * RENT, 0n, 0n]);
    });

    it("waits the unlock delay when it is longer than the price notice", async function () {
      const f = await loadFixture(spareFixture);
      await f.ddc.connect(f.manager).clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, priceNotice: DAY });
      const t = await nextTimestamp();
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.spare, [5n]))
        .to.emit(f.ddc, "ClusterPriceScheduled")
        .withArgs(f.cluster, 4n * RENT, 5n * RENT, t + UNLOCK_DELAY);
    });

    it("keeps the announced time when a later change stays within the announced increase", async function () {
      const f = await loadFixture(spareFixture);
      const t = await nextTimestamp();
      await f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.spare, [5n, 6n]); // 4 → 6 RENT at t + notice
      await time.increaseTo(t + BigInt(DAY));
      await f.ddc.connect(f.provider1).nodeChangeRent(f.spare, RENT / 2n);
      await expect(f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, f.spare))
        .to.emit(f.ddc, "ClusterPriceScheduled")
        .withArgs(f.cluster, 4n * RENT, 5n * RENT, t + NOTICE);
      const c = await f.ddc.getCluster(f.cluster);
      expect([c.price, c.pendingPrice, c.pendingPriceAt]).to.deep.equal([4n * RENT, 5n * RENT, t + NOTICE]);
    });

    it("announces the whole new price a notice from now when a further increase exceeds the pending one", async function () {
      const f = await loadFixture(spareFixture);
      await f.ddc.connect(f.provider1).nodeCreate(f.others[4].address, 1000n, RENT, NODE_PARAMS); // node 4
      const t = await nextTimestamp();
      await f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.spare, [5n]); // 4 → 5 RENT at t + notice
      await time.increaseTo(t + 7n * BigInt(DAY) - 1n);
      const t2 = await nextTimestamp();
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, 4n, [6n]))
        .to.emit(f.ddc, "ClusterPriceScheduled")
        .withArgs(f.cluster, 4n * RENT, 6n * RENT, t2 + NOTICE);
      await time.increaseTo(t + NOTICE);
      let c = await f.ddc.getCluster(f.cluster);
      expect([c.price, c.pendingPrice, c.pendingPriceAt]).to.deep.equal([4n * RENT, 6n * RENT, t2 + NOTICE]);
      await time.increaseTo(t2 + NOTICE);
      c = await f.ddc.getCluster(f.cluster);
      expect([c.price, c.pendingPrice]).to.deep.equal([6n * RENT, 0n]);
    });

    it("never schedules an announced increase earlier than announced, even after the notice shrank", async function () {
      const f = await loadFixture(spareFixture);
      await f.ddc.connect(f.provider1).nodeCreate(f.others[4].address, 1000n, RENT, NODE_PARAMS); // node 4
      const t = await nextTimestamp();
      await f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.spare, [5n]); // 4 → 5 RENT at t + 14 days
      await f.ddc.connect(f.manager).clusterChangeParams(f.cluster, { ...CLUSTER_PARAMS, priceNotice: 0 });
      await time.increaseTo(t + BigInt(DAY));
      await f.ddc.connect(f.manager).clusterAddNode(f.cluster, 4n, [6n]); // notice now 7 days (unlock delay)
      expect((await f.ddc.getCluster(f.cluster)).pendingPriceAt).to.be.gte(t + NOTICE);
      await time.increaseTo(t + 8n * BigInt(DAY) + 1n);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(4n * RENT);
    });

    itChecksTheManager((ddc, cluster, f) => ddc.clusterAddNode(cluster, f.node1, [1000n]));
  });

  describe("clusterRemoveNode", function () {
    it("removes the node's vNodes from the ring and emits ClusterNodeRemoved", async function () {
      const f = await loadFixture(memberFixture);
      await expect(f.ddc.connect(f.manager).clusterRemoveNode(f.cluster, f.node1))
        .to.emit(f.ddc, "ClusterNodeRemoved")
        .withArgs(f.cluster, f.node1, [10n, 40n]);
      expect(await ringPairs(f.ddc, f.cluster)).to.deep.equal([
        [20n, f.node2],
        [30n, f.node3],
        [50n, f.node2],
      ]);
      await expect(f.ddc.clusterNodeInfo(f.cluster, f.node1))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNodeNotMember")
        .withArgs(f.cluster, f.node1);
      const c = await f.ddc.getCluster(f.cluster);
      expect([c.nodeCount, c.vNodeCount]).to.deep.equal([2n, 3n]);
    });

    it("swaps the last node into the removed one's place and keeps the other memberships intact", async function () {
      const f = await loadFixture(memberFixture);
      const m = f.ddc.connect(f.manager);
      await m.clusterSetNodeStatus(f.cluster, f.node3, OFFLINE);
      await m.clusterRemoveNode(f.cluster, f.node1);
      expect(await f.ddc.clusterNodes(f.cluster)).to.deep.equal([f.node3, f.node2]);
      const [s2, r2, t2] = await f.ddc.clusterNodeInfo(f.cluster, f.node2);
      expect([s2, r2, t2.map((t) => t)]).to.deep.equal([ACTIVE, 2n * RENT, [20n, 50n]]);
      const [s3, r3, t3] = await f.ddc.clusterNodeInfo(f.cluster, f.node3);
      expect([s3, r3, t3.map((t) => t)]).to.deep.equal([OFFLINE, 3n * RENT, [30n]]);

      // Node 3 moved to position 0: removing it must remove it, not another node.
      await m.clusterRemoveNode(f.cluster, f.node3);
      expect(await f.ddc.clusterNodes(f.cluster)).to.deep.equal([f.node2]);
      expect(await ringPairs(f.ddc, f.cluster)).to.deep.equal([
        [20n, f.node2],
        [50n, f.node2],
      ]);
      await m.clusterRemoveNode(f.cluster, f.node2);
      expect(await f.ddc.clusterNodes(f.cluster)).to.deep.equal([]);
      expect(await ringPairs(f.ddc, f.cluster)).to.deep.equal([]);
    });

    it("frees the tokens and the membership: the node can be added again", async function () {
      const f = await loadFixture(memberFixture);
      const m = f.ddc.connect(f.manager);
      await m.clusterRemoveNode(f.cluster, f.node2);
      await m.clusterAddNode(f.cluster, f.node2, [50n, 60n]);
      expect(await f.ddc.clusterNodes(f.cluster)).to.deep.equal([f.node1, f.node3, f.node2]);
      expect(await ringPairs(f.ddc, f.cluster)).to.deep.equal([
        [10n, f.node1],
        [30n, f.node3],
        [40n, f.node1],
        [50n, f.node2],
        [60n, f.node2],
      ]);
    });

    it("releases the node's reserved capacity", async function () {
      const f = await loadFixture(memberFixture);
      expect((await f.ddc.getNode(f.node1)).reserved).to.equal(200n);
      await f.ddc.connect(f.manager).clusterRemoveNode(f.cluster, f.node1);
      const n = await f.ddc.getNode(f.node1);
      expect([n.reserved, n.clusterCount]).to.deep.equal([0n, 0n]);
      expect((await f.ddc.getNode(f.node2)).reserved).to.equal(200n);
      await f.ddc.connect(f.provider1).nodeChangeCapacity(f.node1, 0n);
    });

    it("lets the manager remove every node while nothing is allocated", async function () {
      const f = await loadFixture(memberFixture);
      const m = f.ddc.connect(f.manager);
      for (const node of [f.node1, f.node2, f.node3]) await m.clusterRemoveNode(f.cluster, node);
      const c = await f.ddc.getCluster(f.cluster);
      expect([c.nodeCount, c.vNodeCount, c.price]).to.deep.equal([0n, 0n, 0n]);
    });

    it("reverts with ClusterBelowReplication when units are allocated and too few nodes would remain", async function () {
      const f = await loadFixture(spareFixture);
      const m = f.ddc.connect(f.manager);
      await expect(m.clusterRemoveNode(f.cluster, f.node1))
        .to.be.revertedWithCustomError(f.ddc, "ClusterBelowReplication")
        .withArgs(f.cluster, 1n, 2n);
      await m.clusterAddNode(f.cluster, f.spare, [5n]);
      await m.clusterRemoveNode(f.cluster, f.node1);
      expect(await f.ddc.clusterNodes(f.cluster)).to.deep.equal([f.spare, f.node2]);
    });

    it("applies the price decrease at once, even with units allocated", async function () {
      const f = await loadFixture(spareFixture);
      const m = f.ddc.connect(f.manager);
      await m.clusterAddNode(f.cluster, f.spare, [5n]); // 4 → 5 RENT after the notice
      await time.increase(NOTICE + 1n);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(5n * RENT);
      const tx = await m.clusterRemoveNode(f.cluster, f.node1); // −2 vNodes × RENT
      await expect(tx)
        .to.emit(f.ddc, "ClusterPriceChanged")
        .withArgs(f.cluster, 5n * RENT, 3n * RENT, anyValue);
      await expect(tx).not.to.emit(f.ddc, "ClusterPriceScheduled");
      const c = await f.ddc.getCluster(f.cluster);
      expect([c.price, c.pendingPrice, c.pendingPriceAt]).to.deep.equal([3n * RENT, 0n, 0n]);
      const last = (await checkpointsOf(f.ddc, f.cluster)).at(-1);
      expect(last?.[2]).to.equal(3n * RENT);
      expect(last?.[1]).to.equal(c.index);
    });

    it("with an increase pending, stops charging the removed node at once and keeps the increase's time", async function () {
      const f = await loadFixture(spareFixture);
      const m = f.ddc.connect(f.manager);
      const t0 = await nextTimestamp();
      await m.clusterAddNode(f.cluster, f.spare, [5n]); // pending 4 → 5 RENT at t0 + notice
      const announced = (await f.ddc.getCluster(f.cluster)).pendingPriceAt;
      expect(announced).to.equal(t0 + NOTICE);
      const tx = await m.clusterRemoveNode(f.cluster, f.node1); // node 1 was charged 2 RENT: now 2
      await expect(tx)
        .to.emit(f.ddc, "ClusterPriceChanged")
        .withArgs(f.cluster, 4n * RENT, 2n * RENT, anyValue);
      await expect(tx)
        .to.emit(f.ddc, "ClusterPriceScheduled")
        .withArgs(f.cluster, 2n * RENT, 3n * RENT, announced);
      let c = await f.ddc.getCluster(f.cluster);
      expect([c.price, c.pendingPrice, c.pendingPriceAt]).to.deep.equal([2n * RENT, 3n * RENT, announced]);
      await time.increaseTo(announced);
      c = await f.ddc.getCluster(f.cluster);
      expect(c.price).to.equal(3n * RENT); // the spare node joins the price when announced
    });

    it("cancels a pending increase when the price returns to the current one", async function () {
      const f = await loadFixture(spareFixture);
      const m = f.ddc.connect(f.manager);
      const t = await nextTimestamp();
      await m.clusterAddNode(f.cluster, f.spare, [5n]); // pending 4 → 5 RENT at t + notice
      const before = await checkpointsOf(f.ddc, f.cluster);
      await expect(m.clusterRemoveNode(f.cluster, f.spare))
        .to.emit(f.ddc, "ClusterPriceScheduleCancelled")
        .withArgs(f.cluster, 5n * RENT, t + NOTICE)
        .and.not.to.emit(f.ddc, "ClusterPriceChanged");
      let c = await f.ddc.getCluster(f.cluster);
      expect([c.price, c.pendingPrice, c.pendingPriceAt]).to.deep.equal([4n * RENT, 0n, 0n]);
      await time.increaseTo(t + NOTICE + 1n);
      c = await f.ddc.getCluster(f.cluster);
      expect(c.price).to.equal(4n * RENT);
      expect(await checkpointsOf(f.ddc, f.cluster)).to.deep.equal(before);
    });

    it("reverts with ClusterNodeNotMember for a node outside the cluster", async function () {
      const f = await loadFixture(clusterFixture);
      await expect(f.ddc.connect(f.manager).clusterRemoveNode(f.cluster, f.node1))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNodeNotMember")
        .withArgs(f.cluster, f.node1);
      await expect(f.ddc.connect(f.manager).clusterRemoveNode(f.cluster, MISSING))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNodeNotMember")
        .withArgs(f.cluster, MISSING);
    });

    itChecksTheManager((ddc, cluster, f) => ddc.clusterRemoveNode(cluster, f.node1));
  });

  describe("clusterSetNodeStatus", function () {
    it("sets Offline and back to Active, emitting ClusterNodeStatusChanged", async function () {
      const f = await loadFixture(memberFixture);
      const m = f.ddc.connect(f.manager);
      await expect(m.clusterSetNodeStatus(f.cluster, f.node2, OFFLINE))
        .to.emit(f.ddc, "ClusterNodeStatusChanged")
        .withArgs(f.cluster, f.node2, OFFLINE);
      expect((await f.ddc.clusterNodeInfo(f.cluster, f.node2)).status).to.equal(OFFLINE);
      expect((await f.ddc.clusterNodeInfo(f.cluster, f.node1)).status).to.equal(ACTIVE);
      await expect(m.clusterSetNodeStatus(f.cluster, f.node2, ACTIVE))
        .to.emit(f.ddc, "ClusterNodeStatusChanged")
        .withArgs(f.cluster, f.node2, ACTIVE);
      expect((await f.ddc.clusterNodeInfo(f.cluster, f.node2)).status).to.equal(ACTIVE);
    });

    it("keeps the node's vNodes and the price while Offline", async function () {
      const f = await loadFixture(memberFixture);
      await f.ddc.connect(f.manager).clusterSetNodeStatus(f.cluster, f.node2, OFFLINE);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(9n * RENT);
      expect((await f.ddc.clusterNodeInfo(f.cluster, f.node2)).tokens.map((t) => t)).to.deep.equal([20n, 50n]);
    });

    it("rejects None with ClusterNodeNotMember, keeping the status", async function () {
      const f = await loadFixture(memberFixture);
      await expect(f.ddc.connect(f.manager).clusterSetNodeStatus(f.cluster, f.node1, NONE))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNodeNotMember")
        .withArgs(f.cluster, f.node1);
      expect((await f.ddc.clusterNodeInfo(f.cluster, f.node1)).status).to.equal(ACTIVE);
    });

    it("reverts with ClusterNodeNotMember for a node outside the cluster", async function () {
      const f = await loadFixture(clusterFixture);
      await expect(f.ddc.connect(f.manager).clusterSetNodeStatus(f.cluster, f.node1, OFFLINE))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNodeNotMember")
        .withArgs(f.cluster, f.node1);
    });

    itChecksTheManager((ddc, cluster, f) => ddc.clusterSetNodeStatus(cluster, f.node1, OFFLINE));
  });

  describe("clusterAcceptNodeRent", function () {
    it("reverts with ClusterRentUnchanged when the asked rent is the accepted one", async function () {
      const f = await loadFixture(memberFixture);
      const m = f.ddc.connect(f.manager);
      await expect(m.clusterAcceptNodeRent(f.cluster, f.node2))
        .to.be.revertedWithCustomError(f.ddc, "ClusterRentUnchanged")
        .withArgs(f.cluster, f.node2, 2n * RENT);
      await f.ddc.connect(f.provider2).nodeChangeRent(f.node2, 7n);
      await f.ddc.connect(f.provider2).nodeChangeRent(f.node2, 2n * RENT);
      await expect(m.clusterAcceptNodeRent(f.cluster, f.node2))
        .to.be.revertedWithCustomError(f.ddc, "ClusterRentUnchanged")
        .withArgs(f.cluster, f.node2, 2n * RENT);
    });

    it("applies the asked rent to the membership and emits ClusterNodeRentAccepted(old, new)", async function () {
      const f = await loadFixture(memberFixture);
      await f.ddc.connect(f.provider2).nodeChangeRent(f.node2, 5n * RENT);
      await expect(f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, f.node2))
        .to.emit(f.ddc, "ClusterNodeRentAccepted")
        .withArgs(f.cluster, f.node2, 2n * RENT, 5n * RENT);
      expect((await f.ddc.clusterNodeInfo(f.cluster, f.node2)).rent).to.equal(5n * RENT);
      expect((await f.ddc.clusterNodeInfo(f.cluster, f.node1)).rent).to.equal(RENT);
    });

    it("moves the price at once while nothing is allocated", async function () {
      const f = await loadFixture(memberFixture);
      await f.ddc.connect(f.provider2).nodeChangeRent(f.node2, 5n * RENT);
      const index = (await f.ddc.getCluster(f.cluster)).index + 9n * RENT;
      await nextTimestamp(); // one second after the index read above
      const tx = await f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, f.node2);
      await expect(tx)
        .to.emit(f.ddc, "ClusterPriceChanged")
        .withArgs(f.cluster, 9n * RENT, 15n * RENT, index);
      await expect(tx).not.to.emit(f.ddc, "ClusterPriceScheduled");
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(15n * RENT);
    });

    it("schedules an increase with the notice once units are allocated", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.provider1).nodeChangeRent(f.node1, 2n * RENT);
      const t = await nextTimestamp();
      const tx = await f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, f.node1);
      await expect(tx)
        .to.emit(f.ddc, "ClusterNodeRentAccepted")
        .withArgs(f.cluster, f.node1, RENT, 2n * RENT);
      await expect(tx)
        .to.emit(f.ddc, "ClusterPriceScheduled")
        .withArgs(f.cluster, 4n * RENT, 6n * RENT, t + NOTICE);
      await expect(tx).not.to.emit(f.ddc, "ClusterPriceChanged");
      const c = await f.ddc.getCluster(f.cluster);
      expect([c.price, c.pendingPrice, c.pendingPriceAt]).to.deep.equal([4n * RENT, 6n * RENT, t + NOTICE]);
      await time.increaseTo(t + NOTICE);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(6n * RENT);
    });

    it("applies a decrease at once even with units allocated", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.provider1).nodeChangeRent(f.node1, RENT / 2n);
      const index = (await f.ddc.getCluster(f.cluster)).index + 4n * RENT;
      await nextTimestamp(); // one second after the index read above
      const tx = await f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, f.node1);
      await expect(tx)
        .to.emit(f.ddc, "ClusterNodeRentAccepted")
        .withArgs(f.cluster, f.node1, RENT, RENT / 2n);
      await expect(tx)
        .to.emit(f.ddc, "ClusterPriceChanged")
        .withArgs(f.cluster, 4n * RENT, 3n * RENT, index);
      await expect(tx).not.to.emit(f.ddc, "ClusterPriceScheduled");
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(3n * RENT);
    });

    it("reverts with ClusterNodeNotMember for a node outside the cluster", async function () {
      const f = await loadFixture(clusterFixture);
      await f.ddc.connect(f.provider1).nodeChangeRent(f.node1, 9n);
      await expect(f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, f.node1))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNodeNotMember")
        .withArgs(f.cluster, f.node1);
    });

    itChecksTheManager((ddc, cluster, f) => ddc.clusterAcceptNodeRent(cluster, f.node1));
  });

  describe("clusterReserveResource", function () {
    it("reserves units × vNodes on each node and emits ClusterResourceReserved(old, new)", async function () {
      const f = await loadFixture(memberFixture);
      const reserved = async () =>
        Promise.all([f.node1, f.node2, f.node3].map(async (n) => (await f.ddc.getNode(n)).reserved));
      expect(await reserved()).to.deep.equal([200n, 200n, 100n]);
      await expect(f.ddc.connect(f.manager).clusterReserveResource(f.cluster, 150n))
        .to.emit(f.ddc, "ClusterResourceReserved")
        .withArgs(f.cluster, 100n, 150n);
      expect(await reserved()).to.deep.equal([300n, 300n, 150n]);
      expect((await f.ddc.getCluster(f.cluster)).reservedPerVNode).to.equal(150n);
      await f.ddc.connect(f.manager).clusterReserveResource(f.cluster, 10n);
      expect(await reserved()).to.deep.equal([20n, 20n, 10n]);
      await f.ddc.connect(f.manager).clusterReserveResource(f.cluster, 0n);
      expect(await reserved()).to.deep.equal([0n, 0n, 0n]);
    });

    it("adds to what other clusters reserved on the node", async function () {
      const f = await loadFixture(memberFixture);
      const m = f.ddc.connect(f.manager);
      await m.clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
      await m.clusterAddNode(2n, f.node3, [1n, 2n, 3n]);
      await m.clusterReserveResource(2n, 50n);
      expect((await f.ddc.getNode(f.node3)).reserved).to.equal(100n + 150n);
      await m.clusterReserveResource(f.cluster, 200n);
      expect((await f.ddc.getNode(f.node3)).reserved).to.equal(200n + 150n);
    });

    it("reverts with NodeCapacityExceeded when a node lacks room, changing nothing", async function () {
      const f = await loadFixture(memberFixture);
      await f.ddc.connect(f.provider2).nodeChangeCapacity(f.node2, 700n);
      await expect(f.ddc.connect(f.manager).clusterReserveResource(f.cluster, 351n))
        .to.be.revertedWithCustomError(f.ddc, "NodeCapacityExceeded")
        .withArgs(f.node2, 700n, 702n);
      expect((await f.ddc.getCluster(f.cluster)).reservedPerVNode).to.equal(100n);
      expect((await f.ddc.getNode(f.node1)).reserved).to.equal(200n);
      await f.ddc.connect(f.manager).clusterReserveResource(f.cluster, 350n);
      expect((await f.ddc.getNode(f.node2)).reserved).to.equal(700n);
    });

    it("reverts with ClusterReservationBelowAllocation below the allocated units", async function () {
      const f = await loadFixture(exampleFixture);
      await expect(f.ddc.connect(f.manager).clusterReserveResource(f.cluster, f.units - 1n))
        .to.be.revertedWithCustomError(f.ddc, "ClusterReservationBelowAllocation")
        .withArgs(f.cluster, f.units - 1n, f.units);
      await f.ddc.connect(f.manager).clusterReserveResource(f.cluster, f.units);
      expect((await f.ddc.getCluster(f.cluster)).reservedPerVNode).to.equal(f.units);
    });

    itChecksTheManager((ddc, cluster) => ddc.clusterReserveResource(cluster, 1n));
  });

  describe("clusterProposeManager", function () {
    it("sets the pending manager and emits ClusterManagerProposed; the manager stays", async function () {
      const f = await loadFixture(clusterFixture);
      await expect(f.ddc.connect(f.manager).clusterProposeManager(f.cluster, f.owner2.address))
        .to.emit(f.ddc, "ClusterManagerProposed")
        .withArgs(f.cluster, f.manager.address, f.owner2.address);
      const c = await f.ddc.getCluster(f.cluster);
      expect([c.manager, c.pendingManager]).to.deep.equal([f.manager.address, f.owner2.address]);
    });

    it("replaces an earlier proposal", async function () {
      const f = await loadFixture(clusterFixture);
      await f.ddc.connect(f.manager).clusterProposeManager(f.cluster, f.owner2.address);
      await f.ddc.connect(f.manager).clusterProposeManager(f.cluster, f.stranger.address);
      expect((await f.ddc.getCluster(f.cluster)).pendingManager).to.equal(f.stranger.address);
      await expect(f.ddc.connect(f.owner2).clusterAcceptManager(f.cluster))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotPendingManager")
        .withArgs(f.cluster, f.owner2.address);
    });

    it('reverts with DDCZeroAddress("manager") for the zero address', async function () {
      const f = await loadFixture(clusterFixture);
      await expect(f.ddc.connect(f.manager).clusterProposeManager(f.cluster, ethers.ZeroAddress))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(b32("manager"));
    });

    itChecksTheManager((ddc, cluster, f) => ddc.clusterProposeManager(cluster, f.owner2.address));
  });

  describe("clusterAcceptManager", function () {
    it("hands the cluster over to the pending manager and emits ClusterManagerChanged", async function () {
      const f = await loadFixture(memberFixture);
      await f.ddc.connect(f.manager).clusterProposeManager(f.cluster, f.owner2.address);
      await expect(f.ddc.connect(f.owner2).clusterAcceptManager(f.cluster))
        .to.emit(f.ddc, "ClusterManagerChanged")
        .withArgs(f.cluster, f.manager.address, f.owner2.address);
      const c = await f.ddc.getCluster(f.cluster);
      expect([c.manager, c.pendingManager]).to.deep.equal([f.owner2.address, ethers.ZeroAddress]);
      await expect(f.ddc.connect(f.manager).clusterReserveResource(f.cluster, 1n))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotManager")
        .withArgs(f.cluster, f.manager.address);
      await f.ddc.connect(f.owner2).clusterSetNodeStatus(f.cluster, f.node1, OFFLINE);
      expect((await f.ddc.clusterNodeInfo(f.cluster, f.node1)).status).to.equal(OFFLINE);
      // Existing members stay even though their providers do not trust the new manager.
      expect(await f.ddc.clusterNodes(f.cluster)).to.deep.equal([f.node1, f.node2, f.node3]);
    });

    it("reverts with ClusterNotPendingManager for anyone but the pending manager", async function () {
      const f = await loadFixture(clusterFixture);
      await expect(f.ddc.connect(f.owner2).clusterAcceptManager(f.cluster))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotPendingManager")
        .withArgs(f.cluster, f.owner2.address);
      await f.ddc.connect(f.manager).clusterProposeManager(f.cluster, f.owner2.address);
      for (const caller of [f.stranger, f.manager]) {
        await expect(f.ddc.connect(caller).clusterAcceptManager(f.cluster))
          .to.be.revertedWithCustomError(f.ddc, "ClusterNotPendingManager")
          .withArgs(f.cluster, caller.address);
      }
      await f.ddc.connect(f.owner2).clusterAcceptManager(f.cluster);
      await expect(f.ddc.connect(f.owner2).clusterAcceptManager(f.cluster))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotPendingManager")
        .withArgs(f.cluster, f.owner2.address);
    });

    it("reverts with ClusterNotFound for an unknown cluster", async function () {
      const f = await loadFixture(clusterFixture);
      await expect(f.ddc.connect(f.owner2).clusterAcceptManager(MISSING))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
        .withArgs(MISSING);
    });

    it("clears the operators; they do not come back when the cluster is handed back", async function () {
      const f = await loadFixture(clusterFixture);
      const [a, b, c] = [addressOf(1), addressOf(2), addressOf(3)];
      await f.ddc.connect(f.manager).clusterSetOperator(f.cluster, a, true);
      await f.ddc.connect(f.manager).clusterSetOperator(f.cluster, b, true);
      await f.ddc.connect(f.manager).clusterProposeManager(f.cluster, f.owner2.address);
      await f.ddc.connect(f.owner2).clusterAcceptManager(f.cluster);
      expect(await f.ddc.clusterOperators(f.cluster)).to.deep.equal([]);
      expect(await f.ddc.isClusterOperator(f.cluster, a)).to.equal(false);
      await f.ddc.connect(f.owner2).clusterSetOperator(f.cluster, c, true);
      expect(await f.ddc.clusterOperators(f.cluster)).to.deep.equal([c]);

      await f.ddc.connect(f.owner2).clusterProposeManager(f.cluster, f.manager.address);
      await f.ddc.connect(f.manager).clusterAcceptManager(f.cluster);
      expect(await f.ddc.clusterOperators(f.cluster)).to.deep.equal([]);
      for (const x of [a, b, c]) expect(await f.ddc.isClusterOperator(f.cluster, x)).to.equal(false);
    });

    it("needs the providers to trust the new manager before their nodes can be added", async function () {
      const f = await loadFixture(clusterFixture);
      const next = f.owner2;
      await f.ddc.connect(f.manager).clusterProposeManager(f.cluster, next.address);
      await f.ddc.connect(next).clusterAcceptManager(f.cluster);
      await expect(f.ddc.connect(next).clusterAddNode(f.cluster, f.node1, [1n]))
        .to.be.revertedWithCustomError(f.ddc, "NodeManagerNotTrusted")
        .withArgs(f.node1, f.provider1.address, next.address);
      await f.ddc.connect(f.provider1).nodeTrustManager(next.address);
      await f.ddc.connect(next).clusterAddNode(f.cluster, f.node1, [1n]);
      expect(await f.ddc.clusterNodes(f.cluster)).to.deep.equal([f.node1]);
    });
  });

  describe("clusterSetOperator", function () {
    it("adds and removes operators, emitting ClusterOperatorSet", async function () {
      const f = await loadFixture(clusterFixture);
      const m = f.ddc.connect(f.manager);
      const [a, b] = [addressOf(1), addressOf(2)];
      await expect(m.clusterSetOperator(f.cluster, a, true))
        .to.emit(f.ddc, "ClusterOperatorSet")
        .withArgs(f.cluster, a, true);
      await m.clusterSetOperator(f.cluster, b, true);
      await m.clusterSetOperator(f.cluster, a, true); // no duplicate
      expect(await f.ddc.clusterOperators(f.cluster)).to.deep.equal([a, b]);
      expect(await f.ddc.isClusterOperator(f.cluster, a)).to.equal(true);
      await expect(m.clusterSetOperator(f.cluster, a, false))
        .to.emit(f.ddc, "ClusterOperatorSet")
        .withArgs(f.cluster, a, false);
      expect(await f.ddc.clusterOperators(f.cluster)).to.deep.equal([b]);
      expect(await f.ddc.isClusterOperator(f.cluster, a)).to.equal(false);
      expect(await f.ddc.isClusterOperator(f.cluster, b)).to.equal(true);
    });

    it("accepts 16 operators and reverts with ClusterTooManyMembers at the 17th", async function () {
      const f = await loadFixture(clusterFixture);
      const m = f.ddc.connect(f.manager);
      for (let i = 0; i < 16; i++) await m.clusterSetOperator(f.cluster, addressOf(i), true);
      await expect(m.clusterSetOperator(f.cluster, addressOf(16), true))
        .to.be.revertedWithCustomError(f.ddc, "ClusterTooManyMembers")
        .withArgs(f.cluster, b32("operators"), 16n);
      await m.clusterSetOperator(f.cluster, addressOf(3), true); // already in: still fits
      expect((await f.ddc.clusterOperators(f.cluster)).length).to.equal(16);
      await m.clusterSetOperator(f.cluster, addressOf(3), false);
      await m.clusterSetOperator(f.cluster, addressOf(16), true);
      expect(await f.ddc.isClusterOperator(f.cluster, addressOf(16))).to.equal(true);
    });

    it('reverts with DDCZeroAddress("operator") for the zero address', async function () {
      const f = await loadFixture(clusterFixture);
      await expect(f.ddc.connect(f.manager).clusterSetOperator(f.cluster, ethers.ZeroAddress, true))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(b32("operator"));
    });

    itChecksTheManager((ddc, cluster) => ddc.clusterSetOperator(cluster, addressOf(1), true));
  });

  describe("clusterSetValidator", function () {
    it("adds and removes validators, emitting ClusterValidatorSet", async function () {
      const f = await loadFixture(clusterFixture);
      const m = f.ddc.connect(f.manager);
      const [a, b] = [addressOf(1), addressOf(2)];
      await expect(m.clusterSetValidator(f.cluster, a, true))
        .to.emit(f.ddc, "ClusterValidatorSet")
        .withArgs(f.cluster, a, true);
      await m.clusterSetValidator(f.cluster, b, true);
      await m.clusterSetValidator(f.cluster, b, true);
      expect(await f.ddc.clusterValidators(f.cluster)).to.deep.equal([a, b]);
      await expect(m.clusterSetValidator(f.cluster, a, false))
        .to.emit(f.ddc, "ClusterValidatorSet")
        .withArgs(f.cluster, a, false);
      expect(await f.ddc.clusterValidators(f.cluster)).to.deep.equal([b]);
    });

    it("accepts 64 validators and reverts with ClusterTooManyMembers at the 65th", async function () {
      const f = await loadFixture(clusterFixture);
      const m = f.ddc.connect(f.manager);
      for (let i = 0; i < 64; i++) await m.clusterSetValidator(f.cluster, addressOf(i), true);
      await expect(m.clusterSetValidator(f.cluster, addressOf(64), true))
        .to.be.revertedWithCustomError(f.ddc, "ClusterTooManyMembers")
        .withArgs(f.cluster, b32("validators"), 64n);
      expect((await f.ddc.clusterValidators(f.cluster)).length).to.equal(64);
    });

    it('reverts with DDCZeroAddress("validator") for the zero address', async function () {
      const f = await loadFixture(clusterFixture);
      await expect(f.ddc.connect(f.manager).clusterSetValidator(f.cluster, ethers.ZeroAddress, true))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(b32("validator"));
    });

    itChecksTheManager((ddc, cluster) => ddc.clusterSetValidator(cluster, addressOf(1), true));
  });

  describe("views", function () {
    it("every cluster view reverts with ClusterNotFound for an unknown cluster", async function () {
      const f = await loadFixture(clusterFixture);
      const views = [
        () => f.ddc.getCluster(MISSING),
        () => f.ddc.clusterNodes(MISSING),
        () => f.ddc.clusterNodeInfo(MISSING, f.node1),
        () => f.ddc.clusterRing(MISSING),
        () => f.ddc.clusterOperators(MISSING),
        () => f.ddc.clusterValidators(MISSING),
        () => f.ddc.clusterEra(MISSING),
        () => f.ddc.clusterPriceIndex(MISSING),
        () => f.ddc.clusterPriceCheckpoints(MISSING),
      ];
      for (const view of views) {
        await expect(view()).to.be.revertedWithCustomError(f.ddc, "ClusterNotFound").withArgs(MISSING);
      }
    });

    describe("clusterNodes", function () {
      it("lists the member nodes in the order they were added", async function () {
        const f = await loadFixture(memberFixture);
        expect(await f.ddc.clusterNodes(f.cluster)).to.deep.equal([f.node1, f.node2, f.node3]);
      });
    });

    describe("clusterNodeInfo", function () {
      it("returns each member's status, accepted rent and tokens", async function () {
        const f = await loadFixture(memberFixture);
        const info = async (node: bigint) => {
          const [s, r, t] = await f.ddc.clusterNodeInfo(f.cluster, node);
          return [s, r, t.map((x) => x)];
        };
        expect(await info(f.node1)).to.deep.equal([ACTIVE, RENT, [10n, 40n]]);
        expect(await info(f.node2)).to.deep.equal([ACTIVE, 2n * RENT, [20n, 50n]]);
        expect(await info(f.node3)).to.deep.equal([ACTIVE, 3n * RENT, [30n]]);
      });

      it("reverts with ClusterNodeNotMember for a node outside the cluster", async function () {
        const f = await loadFixture(clusterFixture);
        await expect(f.ddc.clusterNodeInfo(f.cluster, f.node2))
          .to.be.revertedWithCustomError(f.ddc, "ClusterNodeNotMember")
          .withArgs(f.cluster, f.node2);
      });
    });

    describe("clusterRing", function () {
      it("returns every vNode's token with its node", async function () {
        const f = await loadFixture(memberFixture);
        const [tokens, nodes] = await f.ddc.clusterRing(f.cluster);
        expect(tokens.map((t) => t)).to.deep.equal([10n, 40n, 20n, 50n, 30n]);
        expect(nodes.map((n) => n)).to.deep.equal([f.node1, f.node1, f.node2, f.node2, f.node3]);
      });

      it("keeps each token paired with its node through removals", async function () {
        const f = await loadFixture(memberFixture);
        const m = f.ddc.connect(f.manager);
        await m.clusterRemoveNode(f.cluster, f.node1);
        await f.ddc.connect(f.provider1).nodeCreate(f.others[3].address, 1000n, RENT, NODE_PARAMS);
        await m.clusterAddNode(f.cluster, 4n, [5n, 45n]);
        await m.clusterRemoveNode(f.cluster, f.node3);
        expect(await ringPairs(f.ddc, f.cluster)).to.deep.equal([
          [5n, 4n],
          [20n, f.node2],
          [45n, 4n],
          [50n, f.node2],
        ]);
        await m.clusterRemoveNode(f.cluster, f.node2);
        expect(await ringPairs(f.ddc, f.cluster)).to.deep.equal([
          [5n, 4n],
          [45n, 4n],
        ]);
      });
    });

    describe("clusterEra", function () {
      it("advances the era number every eraLength seconds", async function () {
        const f = await loadFixture(clusterFixture);
        const T0 = f.created;
        expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([0n, T0, T0 + ERA]);
        await time.increaseTo(T0 + ERA - 1n);
        expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([0n, T0, T0 + ERA]);
        await time.increaseTo(T0 + ERA);
        expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([1n, T0 + ERA, T0 + 2n * ERA]);
        await time.increaseTo(T0 + 10n * ERA + 7n);
        expect(await eraOf(f.ddc, f.cluster)).to.deep.equal([10n, T0 + 10n * ERA, T0 + 11n * ERA]);
      });
    });

    describe("clusterPriceIndex", function () {
      it("stays 0 while the cluster has no price", async function () {
        const f = await loadFixture(clusterFixture);
        await time.increase(1000);
        expect(await f.ddc.clusterPriceIndex(f.cluster)).to.equal(0n);
      });

      it("grows by the price per second", async function () {
        const f = await loadFixture(exampleFixture);
        const t1 = BigInt(await time.latest());
        const i1 = await f.ddc.clusterPriceIndex(f.cluster);
        expect((await f.ddc.getCluster(f.cluster)).index).to.equal(i1);
        await time.increaseTo(t1 + 12_345n);
        const i2 = await f.ddc.clusterPriceIndex(f.cluster);
        expect(i2 - i1).to.equal(4n * RENT * 12_345n);
      });

      it("grows by the new price from the time a scheduled increase falls due", async function () {
        const f = await loadFixture(spareFixture);
        const t = await nextTimestamp();
        await f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.spare, [5n]);
        const i0 = await f.ddc.clusterPriceIndex(f.cluster);
        const due = t + NOTICE;
        await time.increaseTo(due + 1000n);
        expect(await f.ddc.clusterPriceIndex(f.cluster)).to.equal(i0 + 4n * RENT * NOTICE + 5n * RENT * 1000n);
      });
    });

    describe("clusterPriceCheckpointsPage", function () {
      it("pages the checkpoints and counts them, with short and empty pages at the end", async function () {
        const f = await loadFixture(clusterFixture);
        const m = f.ddc.connect(f.manager);
        await m.clusterAddNode(f.cluster, f.node1, [1n]);
        await m.clusterAddNode(f.cluster, f.node2, [2n]);
        await m.clusterRemoveNode(f.cluster, f.node1);
        const all = await checkpointsOf(f.ddc, f.cluster);
        expect(all.length).to.equal(4);
        const page = async (from: bigint, count: bigint) => {
          const [items, total] = await f.ddc.clusterPriceCheckpointsPage(f.cluster, from, count);
          expect(total).to.equal(4n);
          return items.map((c) => [c.time, c.index, c.price]);
        };
        expect(await page(0n, 2n)).to.deep.equal(all.slice(0, 2));
        expect(await page(2n, 2n)).to.deep.equal(all.slice(2, 4));
        expect(await page(3n, 10n)).to.deep.equal(all.slice(3));
        expect(await page(4n, 10n)).to.deep.equal([]);
        expect(await page(9n, 1n)).to.deep.equal([]);
        await expect(f.ddc.clusterPriceCheckpointsPage(MISSING, 0n, 1n))
          .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
          .withArgs(MISSING);
      });
    });

    describe("clusterPriceCheckpoints", function () {
      it("writes a checkpoint per immediate price change", async function () {
        const f = await loadFixture(clusterFixture);
        const m = f.ddc.connect(f.manager);
        const t1 = await nextTimestamp();
        await m.clusterAddNode(f.cluster, f.node1, [1n]);
        await time.setNextBlockTimestamp(t1 + 10n);
        await m.clusterAddNode(f.cluster, f.node2, [2n]);
        await m.clusterSetNodeStatus(f.cluster, f.node2, OFFLINE); // no price change: no checkpoint
        await time.setNextBlockTimestamp(t1 + 30n);
        await m.clusterRemoveNode(f.cluster, f.node1);
        expect(await checkpointsOf(f.ddc, f.cluster)).to.deep.equal([
          [f.created, 0n, 0n],
          [t1, 0n, RENT],
          [t1 + 10n, RENT * 10n, 3n * RENT],
          [t1 + 30n, RENT * 10n + 3n * RENT * 20n, 2n * RENT],
        ]);
      });

      it("writes the checkpoint of a scheduled increase when the cluster is next touched after it falls due", async function () {
        const f = await loadFixture(spareFixture);
        const before = await checkpointsOf(f.ddc, f.cluster);
        const t = await nextTimestamp();
        await f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.spare, [5n]);
        const i0 = await f.ddc.clusterPriceIndex(f.cluster);
        const due = t + NOTICE;
        expect(await checkpointsOf(f.ddc, f.cluster)).to.deep.equal(before); // scheduling writes none

        await time.increaseTo(due + 500n);
        expect((await f.ddc.getCluster(f.cluster)).price).to.equal(5n * RENT);
        expect(await checkpointsOf(f.ddc, f.cluster)).to.deep.equal(before); // not written yet

        await f.ddc.connect(f.provider1).nodeChangeRent(f.spare, RENT / 2n);
        const touched = await nextTimestamp();
        const tx = await f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, f.spare);
        const atDue = i0 + 4n * RENT * NOTICE;
        const now = atDue + 5n * RENT * (touched - due);
        const changes = (await tx.wait())?.logs
          .map((l) => f.ddc.interface.parseLog(l))
          .filter((l) => l?.name === "ClusterPriceChanged")
          .map((l) => l?.args.map((x: unknown) => x));
        expect(changes).to.deep.equal([
          [f.cluster, 4n * RENT, 5n * RENT, now],
          [f.cluster, 5n * RENT, 5n * RENT - RENT / 2n, now],
        ]);
        expect(await checkpointsOf(f.ddc, f.cluster)).to.deep.equal([
          ...before,
          [due, atDue, 5n * RENT],
          [touched, now, 5n * RENT - RENT / 2n],
        ]);
      });
    });
  });
});
