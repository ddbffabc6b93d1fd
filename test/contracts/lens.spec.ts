import { expect } from "chai";
import { ethers, network } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import {
  coreFixture,
  exampleFixture,
  CLUSTER_PARAMS,
  GIB,
  NODE_PARAMS,
  RENT,
  type CoreFixture,
} from "../helpers/fixtures";

const ZERO = ethers.ZeroAddress;
const MISSING = 99n;
/** One sixteenth of the ring. */
const S = 1n << 60n;

/** The ring position of a key, computed off-chain: the top 64 bits of keccak256(key). */
function tokenOf(key: string | Uint8Array): bigint {
  const bytes = typeof key === "string" ? ethers.toUtf8Bytes(key) : key;
  return BigInt(ethers.keccak256(bytes)) >> 192n;
}

/** The first key "key-<i>" whose token lies in [lo, hi]. */
function keyIn(lo: bigint, hi: bigint): string {
  for (let i = 0; ; i++) {
    const key = `key-${i}`;
    const t = tokenOf(key);
    if (t >= lo && t <= hi) return key;
  }
}

/** The reference answer of nodesForKey: distinct nodes along the sorted ring from the key's token. */
function holdersOf(ring: [bigint, bigint][], replicationFactor: number, token: bigint): bigint[] {
  const sorted = [...ring].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const distinct = new Set(sorted.map(([, n]) => n)).size;
  const want = Math.min(replicationFactor, distinct);
  let start = sorted.findIndex(([t]) => t >= token);
  if (start < 0) start = 0;
  const out: bigint[] = [];
  for (let step = 0; step < sorted.length && out.length < want; step++) {
    const node = sorted[(start + step) % sorted.length][1];
    if (!out.includes(node)) out.push(node);
  }
  return out;
}

const ids = (items: { id: bigint }[]): bigint[] => items.map((x) => x.id);

/** Sends `count` transactions with automine off, `perBlock` to a block (fast large populations). */
async function sendInBlocks(count: number, perBlock: number, send: (i: number) => Promise<unknown>): Promise<void> {
  await network.provider.send("evm_setAutomine", [false]);
  try {
    for (let start = 0; start < count; start += perBlock) {
      const sent: Promise<unknown>[] = [];
      for (let i = start; i < Math.min(count, start + perBlock); i++) sent.push(send(i));
      await Promise.all(sent);
      await network.provider.send("evm_mine", []);
    }
  } finally {
    await network.provider.send("evm_setAutomine", [true]);
  }
}

/**
 * A small registry:
 * - nodes 1 (provider 1), 2 (provider 2), 3 (provider 1, removed), 4 (provider 2), 5 (provider 1);
 * - clusters 1 and 3 managed by `manager`, 2 by `owner2`;
 * - buckets 1 (owner 1, cluster 1), 2 (owner 2, cluster 1), 3 (owner 1, cluster 2),
 *   4 (owner 1, cluster 1, closed), 5 (owner 2, cluster 3).
 */
async function registryFixture(): Promise<CoreFixture> {
  const f = await coreFixture();
  const { ddc, provider1, provider2, manager, owner1, owner2 } = f;
  const providers = [provider1, provider2, provider1, provider2, provider1];
  for (let i = 0; i < providers.length; i++) {
    await ddc.connect(providers[i]).nodeCreate(f.others[i].address, 1000n + BigInt(i), RENT, NODE_PARAMS);
  }
  await ddc.connect(provider1).nodeRemove(3n);
  await ddc.connect(manager).clusterCreate(manager.address, CLUSTER_PARAMS, GIB);
  await ddc.connect(manager).clusterCreate(owner2.address, CLUSTER_PARAMS, GIB);
  await ddc.connect(manager).clusterCreate(manager.address, CLUSTER_PARAMS, 2n * GIB);
  const buckets: [HardhatEthersSigner, bigint][] = [
    [owner1, 1n],
    [owner2, 1n],
    [owner1, 2n],
    [owner1, 1n],
    [owner2, 3n],
  ];
  for (const [owner, cluster] of buckets) await ddc.connect(owner).bucketCreate(cluster, "");
  await ddc.connect(owner1).bucketClose(4n);
  return f;
}

interface CrowdFixture extends CoreFixture {
  /** The lens's MAX_SCAN. */
  window: bigint;
  /** MAX_SCAN + 5: the number of nodes, of clusters and of buckets. */
  last: bigint;
}

/**
 * MAX_SCAN + 5 nodes, clusters and buckets, so that a list spans more than one window. Only the
 * last of each belongs to someone else: the last node to provider 2, the last cluster to `owner2`
 * as manager, the last bucket (in cluster 2) to owner 2. Node 3 is removed.
 */
async function crowdFixture(): Promise<CrowdFixture> {
  const f = await coreFixture();
  const { ddc, provider1, provider2, manager, owner1, owner2 } = f;
  const window = await f.lens.MAX_SCAN();
  const count = Number(window) + 4;
  let nonce = await provider1.getNonce();
  await sendInBlocks(count, 60, (i) =>
    ddc.connect(provider1).nodeCreate(ethers.zeroPadValue(ethers.toBeHex(0x10000 + i), 20), 1n, RENT, NODE_PARAMS, {
      nonce: nonce + i,
      gasLimit: 400_000,
    }),
  );
  await ddc.connect(provider2).nodeCreate(f.nodeKey2.address, 1n, RENT, NODE_PARAMS);
  await ddc.connect(provider1).nodeRemove(3n);
  nonce = await manager.getNonce();
  await sendInBlocks(count, 100, (i) =>
    ddc.connect(manager).clusterCreate(manager.address, CLUSTER_PARAMS, GIB, { nonce: nonce + i, gasLimit: 250_000 }),
  );
  await ddc.connect(manager).clusterCreate(owner2.address, CLUSTER_PARAMS, GIB);
  nonce = await owner1.getNonce();
  await sendInBlocks(count, 200, (i) =>
    ddc.connect(owner1).bucketCreate(1n, "", { nonce: nonce + i, gasLimit: 120_000 }),
  );
  await ddc.connect(owner2).bucketCreate(2n, "");
  const last = window + 5n;
  expect([await ddc.nodeCount(), await ddc.clusterCount(), await ddc.bucketCount()]).to.deep.equal([last, last, last]);
  return { ...f, window, last };
}

/** first, first + 1, …, last. */
function range(first: bigint, last: bigint): bigint[] {
  const out: bigint[] = [];
  for (let i = first; i <= last; i++) out.push(i);
  return out;
}

interface RingFixture extends CoreFixture {
  /** Replication factor 3; N1 at 1S and 9S, N2 at 3S and 4S, N3 at 6S, N4 at 12S (added unsorted). */
  ringed: bigint;
  ring: [bigint, bigint][];
  /** Replication factor 3, two nodes. */
  small: bigint;
  /** Replication factor 2, no node. */
  empty: bigint;
}

async function ringFixture(): Promise<RingFixture> {
  const f = await coreFixture();
  const { ddc, provider1, provider2, manager } = f;
  for (const [i, p] of [provider1, provider2, provider1, provider2].entries()) {
    await ddc.connect(p).nodeCreate(f.others[i].address, 1000n, RENT, NODE_PARAMS);
  }
  await ddc.connect(provider1).nodeTrustManager(manager.address);
  await ddc.connect(provider2).nodeTrustManager(manager.address);
  const m = ddc.connect(manager);
  await m.clusterCreate(manager.address, { ...CLUSTER_PARAMS, replicationFactor: 3 }, GIB);
  const ring: [bigint, bigint][] = [
    [12n * S, 4n],
    [9n * S, 1n],
    [1n * S, 1n],
    [6n * S, 3n],
    [4n * S, 2n],
    [3n * S, 2n],
  ];
  await m.clusterAddNode(1n, 4n, [12n * S]);
  await m.clusterAddNode(1n, 1n, [9n * S, 1n * S]);
  await m.clusterAddNode(1n, 3n, [6n * S]);
  await m.clusterAddNode(1n, 2n, [4n * S, 3n * S]);
  await m.clusterCreate(manager.address, { ...CLUSTER_PARAMS, replicationFactor: 3 }, GIB);
  await m.clusterAddNode(2n, 2n, [7n]);
  await m.clusterAddNode(2n, 1n, [5n]);
  await m.clusterCreate(manager.address, CLUSTER_PARAMS, GIB);
  return { ...f, ringed: 1n, ring, small: 2n, empty: 3n };
}

describe("DDCLens", function () {
  describe("settlementPage", function () {
    it("lists a cluster's open buckets with their ledger's rent owed and coverage, one call per 300 ids", async function () {
      const f = await loadFixture(exampleFixture);
      await time.increase(86_400);
      const [items, next] = await f.lens.settlementPage(f.cluster, 0);
      const ledger = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect(ledger.owed).to.be.greaterThan(0n);
      expect(items.map((i) => [i.bucket, i.owner, i.units, i.owed, i.coveredUntil])).to.deep.equal([
        [f.bucket, f.owner1.address, f.units, ledger.owed, ledger.coveredUntil],
      ]);
      expect(next).to.equal(0n);
      expect(await f.lens.MAX_SETTLEMENT_SCAN()).to.equal(300n);
      expect(await f.lens.MAX_CANDIDATE_SCAN()).to.equal(500n);
      // An unknown cluster is an error; a closed bucket is not listed.
      await expect(f.lens.settlementPage(7, 0)).to.be.revertedWithCustomError(f.ddc, "ClusterNotFound").withArgs(7n);
      await f.ddc.connect(f.owner1).bucketClose(f.bucket);
      expect((await f.lens.settlementPage(f.cluster, 0))[0]).to.deep.equal([]);
    });
  });

  it("reads the core it was deployed with", async function () {
    const f = await loadFixture(coreFixture);
    expect(await f.lens.core()).to.equal(f.coreAddress);
  });

  describe("listNodes", function () {
    it("returns the nodes' views in id order, skipping removed nodes, with next 0 at the end", async function () {
      const f = await loadFixture(registryFixture);
      const [items, next] = await f.lens.listNodes(0n, 10n, ZERO);
      expect(ids(items)).to.deep.equal([1n, 2n, 4n, 5n]);
      expect(next).to.equal(0n);
      for (const item of items) {
        const n = await f.ddc.getNode(item.id);
        expect([item.provider, item.signingKey, item.capacity, item.urls]).to.deep.equal([
          n.provider,
          n.signingKey,
          n.capacity,
          n.urls,
        ]);
      }
    });

    it("pages by cursor: at most `limit` items, then the cursor to continue from", async function () {
      const f = await loadFixture(registryFixture);
      let [items, next] = await f.lens.listNodes(0n, 2n, ZERO);
      expect([ids(items), next]).to.deep.equal([[1n, 2n], 3n]);
      [items, next] = await f.lens.listNodes(next, 2n, ZERO);
      expect([ids(items), next]).to.deep.equal([[4n, 5n], 0n]);
      [items, next] = await f.lens.listNodes(2n, 1n, ZERO);
      expect([ids(items), next]).to.deep.equal([[2n], 3n]);
      [items, next] = await f.lens.listNodes(3n, 1n, ZERO); // skips the removed node 3
      expect([ids(items), next]).to.deep.equal([[4n], 5n]);
    });

    it("walks every node exactly once when paged one by one", async function () {
      const f = await loadFixture(registryFixture);
      const seen: bigint[] = [];
      let cursor = 0n;
      let calls = 0;
      do {
        const [items, next] = await f.lens.listNodes(cursor, 1n, ZERO);
        seen.push(...ids(items));
        cursor = next;
        calls++;
      } while (cursor !== 0n && calls < 10);
      expect(seen).to.deep.equal([1n, 2n, 4n, 5n]);
    });

    it("filters by provider", async function () {
      const f = await loadFixture(registryFixture);
      const [p1] = await f.lens.listNodes(0n, 10n, f.provider1.address);
      expect(ids(p1)).to.deep.equal([1n, 5n]);
      const [p2] = await f.lens.listNodes(0n, 10n, f.provider2.address);
      expect(ids(p2)).to.deep.equal([2n, 4n]);
      const [none, next] = await f.lens.listNodes(0n, 10n, f.stranger.address);
      expect([none.length, next]).to.deep.equal([0, 0n]);
    });

    it("returns nothing and next 0 from a cursor past the last id", async function () {
      const f = await loadFixture(registryFixture);
      const [items, next] = await f.lens.listNodes(6n, 10n, ZERO);
      expect([items.length, next]).to.deep.equal([0, 0n]);
    });

    it("returns a full window of MAX_SCAN ids in one call, then the cursor after it", async function () {
      const f = await loadFixture(crowdFixture);
      const { window, last } = f;
      const expected = range(1n, window).filter((id) => id !== 3n); // node 3 was removed
      let [items, next] = await f.lens.listNodes(0n, window, ZERO);
      expect([ids(items), next]).to.deep.equal([expected, window + 1n]);
      [items, next] = await f.lens.listNodes(0n, 2n * window, ZERO); // a larger limit changes nothing
      expect([ids(items), next]).to.deep.equal([expected, window + 1n]);
      [items, next] = await f.lens.listNodes(next, 2n * window, ZERO);
      expect([ids(items), next]).to.deep.equal([range(window + 1n, last), 0n]);
    });

    it("lowers a huge limit to MAX_SCAN, so a filter matching nothing stays cheap", async function () {
      const f = await loadFixture(crowdFixture);
      const nobody = ethers.Wallet.createRandom().address;
      const [items, next] = await f.lens.listNodes(0n, 1_000_000n, nobody);
      expect([items.length, next]).to.deep.equal([0, f.window + 1n]);
      const gas = await f.lens.listClusters.estimateGas(0n, 1_000_000n, nobody);
      expect(gas).to.be.lessThan(5_000_000n); // it ran out of 2^24 gas before the limit was capped
    });

    it("fits a full window of nodes with the longest params in the gas of one call (2^24)", async function () {
      const f = await loadFixture(coreFixture);
      const window = await f.lens.MAX_SCAN();
      const longest = {
        engine: "e".repeat(31),
        version: "v".repeat(31),
        urls: ["0", "1", "2", "3"].map((c) => c.repeat(256)),
        metadata: "",
      };
      const nonce = await f.provider1.getNonce();
      await sendInBlocks(Number(window), 15, (i) =>
        f.ddc.connect(f.provider1).nodeCreate(ethers.zeroPadValue(ethers.toBeHex(0x10000 + i), 20), 1n, RENT, longest, {
          nonce: nonce + i,
          gasLimit: 1_800_000,
        }),
      );
      const [items, next] = await f.lens.listNodes(0n, window, ZERO);
      expect([items.length, next]).to.deep.equal([Number(window), 0n]);
      expect(items[items.length - 1].urls).to.deep.equal(longest.urls);
      expect(await f.lens.listNodes.estimateGas(0n, window, ZERO)).to.be.lessThan(1n << 24n);
    });

    it("stops after MAX_SCAN ids and returns the cursor after them, even with nothing found", async function () {
      const f = await loadFixture(crowdFixture);
      let [items, next] = await f.lens.listNodes(0n, 10n, f.provider2.address);
      expect([items.length, next]).to.deep.equal([0, f.window + 1n]);
      [items, next] = await f.lens.listNodes(next, 10n, f.provider2.address);
      expect([ids(items), next]).to.deep.equal([[f.last], 0n]);
    });

    it("pages on from the cursor into the next window", async function () {
      const f = await loadFixture(crowdFixture);
      const w = f.window;
      let [items, next] = await f.lens.listNodes(w - 5n, 4n, ZERO);
      expect([ids(items), next]).to.deep.equal([range(w - 5n, w - 2n), w - 1n]);
      [items, next] = await f.lens.listNodes(next, 4n, ZERO);
      expect([ids(items), next]).to.deep.equal([range(w - 1n, w + 2n), w + 3n]);
      [items, next] = await f.lens.listNodes(next, 4n, ZERO);
      expect([ids(items), next]).to.deep.equal([range(w + 3n, w + 5n), 0n]);
    });
  });

  describe("listClusters", function () {
    it("returns the clusters' views in id order, with next 0 at the end", async function () {
      const f = await loadFixture(registryFixture);
      const [items, next] = await f.lens.listClusters(0n, 10n, ZERO);
      expect([ids(items), next]).to.deep.equal([[1n, 2n, 3n], 0n]);
      expect(items.map((c) => c.manager)).to.deep.equal([f.manager.address, f.owner2.address, f.manager.address]);
      expect(items[2].unitSize).to.equal(2n * GIB);
    });

    it("filters by manager", async function () {
      const f = await loadFixture(registryFixture);
      const [mine] = await f.lens.listClusters(0n, 10n, f.manager.address);
      expect(ids(mine)).to.deep.equal([1n, 3n]);
      const [theirs] = await f.lens.listClusters(0n, 10n, f.owner2.address);
      expect(ids(theirs)).to.deep.equal([2n]);
    });

    it("pages by cursor", async function () {
      const f = await loadFixture(registryFixture);
      let [items, next] = await f.lens.listClusters(0n, 2n, ZERO);
      expect([ids(items), next]).to.deep.equal([[1n, 2n], 3n]);
      [items, next] = await f.lens.listClusters(next, 2n, ZERO);
      expect([ids(items), next]).to.deep.equal([[3n], 0n]);
      [items, next] = await f.lens.listClusters(0n, 1n, f.manager.address);
      expect([ids(items), next]).to.deep.equal([[1n], 2n]);
      [items, next] = await f.lens.listClusters(next, 1n, f.manager.address);
      expect([ids(items), next]).to.deep.equal([[3n], 0n]);
    });

    it("returns a full window of MAX_SCAN ids in one call, then the cursor after it", async function () {
      const f = await loadFixture(crowdFixture);
      let [items, next] = await f.lens.listClusters(0n, f.window, ZERO);
      expect([ids(items), next]).to.deep.equal([range(1n, f.window), f.window + 1n]);
      [items, next] = await f.lens.listClusters(next, f.window, ZERO);
      expect([ids(items), next]).to.deep.equal([range(f.window + 1n, f.last), 0n]);
    });

    it("stops after MAX_SCAN ids and returns the cursor after them, even with nothing found", async function () {
      const f = await loadFixture(crowdFixture);
      let [items, next] = await f.lens.listClusters(0n, 10n, f.owner2.address);
      expect([items.length, next]).to.deep.equal([0, f.window + 1n]);
      [items, next] = await f.lens.listClusters(next, 10n, f.owner2.address);
      expect([ids(items), next]).to.deep.equal([[f.last], 0n]);
    });
  });

  describe("listBuckets", function () {
    it("returns open buckets in id order, closed ones only with includeClosed", async function () {
      const f = await loadFixture(registryFixture);
      let [items, next] = await f.lens.listBuckets(0n, 10n, ZERO, 0n, false);
      expect([ids(items), next]).to.deep.equal([[1n, 2n, 3n, 5n], 0n]);
      [items, next] = await f.lens.listBuckets(0n, 10n, ZERO, 0n, true);
      expect([ids(items), next]).to.deep.equal([[1n, 2n, 3n, 4n, 5n], 0n]);
      expect(items[3].closed).to.equal(true);
      expect(items.map((b) => b.owner)).to.deep.equal([
        f.owner1.address,
        f.owner2.address,
        f.owner1.address,
        f.owner1.address,
        f.owner2.address,
      ]);
    });

    it("filters by owner, by cluster, and by both", async function () {
      const f = await loadFixture(registryFixture);
      const list = async (owner: string, cluster: bigint, includeClosed: boolean) =>
        ids((await f.lens.listBuckets(0n, 10n, owner, cluster, includeClosed))[0]);
      expect(await list(f.owner1.address, 0n, false)).to.deep.equal([1n, 3n]);
      expect(await list(f.owner1.address, 0n, true)).to.deep.equal([1n, 3n, 4n]);
      expect(await list(f.owner2.address, 0n, false)).to.deep.equal([2n, 5n]);
      expect(await list(ZERO, 1n, false)).to.deep.equal([1n, 2n]);
      expect(await list(ZERO, 1n, true)).to.deep.equal([1n, 2n, 4n]);
      expect(await list(f.owner1.address, 1n, true)).to.deep.equal([1n, 4n]);
      expect(await list(f.owner2.address, 2n, true)).to.deep.equal([]);
    });

    it("pages by cursor", async function () {
      const f = await loadFixture(registryFixture);
      let [items, next] = await f.lens.listBuckets(0n, 2n, ZERO, 0n, false);
      expect([ids(items), next]).to.deep.equal([[1n, 2n], 3n]);
      [items, next] = await f.lens.listBuckets(next, 2n, ZERO, 0n, false); // skips the closed bucket 4
      expect([ids(items), next]).to.deep.equal([[3n, 5n], 0n]);
      [items, next] = await f.lens.listBuckets(0n, 1n, f.owner1.address, 0n, true);
      expect([ids(items), next]).to.deep.equal([[1n], 2n]);
      [items, next] = await f.lens.listBuckets(next, 1n, f.owner1.address, 0n, true);
      expect([ids(items), next]).to.deep.equal([[3n], 4n]);
      [items, next] = await f.lens.listBuckets(next, 1n, f.owner1.address, 0n, true);
      expect([ids(items), next]).to.deep.equal([[4n], 5n]);
      [items, next] = await f.lens.listBuckets(next, 1n, f.owner1.address, 0n, true);
      expect([ids(items), next]).to.deep.equal([[], 0n]);
    });

    it("pages a cluster's buckets through its own index, whatever other clusters hold", async function () {
      const f = await loadFixture(registryFixture);
      // Cluster 1 holds buckets 1, 2 and 4 (closed): positions 0, 1 and 2 of its index.
      let [items, next] = await f.lens.listBuckets(0n, 1n, ZERO, 1n, true);
      expect([ids(items), next]).to.deep.equal([[1n], 2n]);
      [items, next] = await f.lens.listBuckets(next, 1n, ZERO, 1n, true);
      expect([ids(items), next]).to.deep.equal([[2n], 3n]);
      [items, next] = await f.lens.listBuckets(next, 1n, ZERO, 1n, true);
      expect([ids(items), next]).to.deep.equal([[4n], 0n]);
      await expect(f.lens.listBuckets(0n, 1n, ZERO, 99n, true))
        .to.be.revertedWithCustomError(f.ddc, "ClusterNotFound")
        .withArgs(99n);
    });

    it("returns a full window of MAX_SCAN ids in one call, then the cursor after it", async function () {
      const f = await loadFixture(crowdFixture);
      let [items, next] = await f.lens.listBuckets(0n, f.window, ZERO, 0n, false);
      expect([ids(items), next]).to.deep.equal([range(1n, f.window), f.window + 1n]);
      [items, next] = await f.lens.listBuckets(next, f.window, ZERO, 0n, false);
      expect([ids(items), next]).to.deep.equal([range(f.window + 1n, f.last), 0n]);
    });

    it("stops after MAX_SCAN ids and returns the cursor after them, even with nothing found", async function () {
      const f = await loadFixture(crowdFixture);
      let [items, next] = await f.lens.listBuckets(0n, 10n, f.owner2.address, 0n, false);
      expect([items.length, next]).to.deep.equal([0, f.window + 1n]);
      // With a cluster, the cursor walks that cluster's own index (a fresh cursor).
      [items, next] = await f.lens.listBuckets(0n, 10n, ZERO, 2n, false);
      expect([ids(items), next]).to.deep.equal([[f.last], 0n]);
    });
  });

  describe("ring", function () {
    it("returns the ring sorted by token, each token with its node", async function () {
      const f = await loadFixture(ringFixture);
      const [stored] = await f.ddc.clusterRing(f.ringed);
      expect(stored.map((t) => t)).to.not.deep.equal([...stored].sort((a, b) => (a < b ? -1 : 1)));
      const [tokens, nodes] = await f.lens.ring(f.ringed);
      expect(tokens.map((t) => t)).to.deep.equal([1n, 3n, 4n, 6n, 9n, 12n].map((k) => k * S));
      expect(nodes.map((n) => n)).to.deep.equal([1n, 2n, 2n, 3n, 1n, 4n]);
    });

    it("sorts a large random ring", async function () {
      const f = await loadFixture(ringFixture);
      const m = f.ddc.connect(f.manager);
      await m.clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
      const cluster = 4n;
      const expected: [bigint, bigint][] = [];
      const used = new Set<bigint>();
      for (const node of [1n, 2n, 3n, 4n]) {
        const tokens: bigint[] = [];
        while (tokens.length < 64) {
          const t = BigInt(ethers.hexlify(ethers.randomBytes(8)));
          if (used.has(t)) continue;
          used.add(t);
          tokens.push(t);
          expected.push([t, node]);
        }
        await m.clusterAddNode(cluster, node, tokens);
      }
      await m.clusterRemoveNode(cluster, 2n);
      const remaining = expected.filter(([, n]) => n !== 2n).sort((a, b) => (a[0] < b[0] ? -1 : 1));
      const [tokens, nodes] = await f.lens.ring(cluster);
      expect(tokens.length).to.equal(192);
      expect(tokens.map((t, i) => [t, nodes[i]])).to.deep.equal(remaining);
    });

    it("returns an empty ring for a cluster without nodes", async function () {
      const f = await loadFixture(ringFixture);
      const [tokens, nodes] = await f.lens.ring(f.empty);
      expect([tokens.length, nodes.length]).to.deep.equal([0, 0]);
    });

    it("reverts with ClusterNotFound for an unknown cluster", async function () {
      const f = await loadFixture(ringFixture);
      await expect(f.lens.ring(MISSING)).to.be.revertedWithCustomError(f.ddc, "ClusterNotFound").withArgs(MISSING);
    });
  });

  describe("keyToken", function () {
    it("is the top 64 bits of keccak256(key)", async function () {
      const f = await loadFixture(coreFixture);
      const keys: Uint8Array[] = [
        new Uint8Array(),
        ethers.toUtf8Bytes("hello"),
        ethers.toUtf8Bytes("bucket/1/photos/cat.jpg"),
        ethers.randomBytes(1),
        ethers.randomBytes(100),
      ];
      for (const key of keys) {
        const expected = BigInt(ethers.keccak256(key)) >> 192n;
        expect(await f.lens.keyToken(key)).to.equal(expected);
      }
      expect(await f.lens.keyToken(ethers.toUtf8Bytes(""))).to.equal(0xc5d2460186f7233cn);
    });
  });

  describe("nodesForKey", function () {
    const cases: { where: string; lo: bigint; hi: bigint; expected: bigint[] }[] = [
      { where: "before the first vNode", lo: 0n, hi: 1n * S, expected: [1n, 2n, 3n] },
      { where: "between two vNodes of one node", lo: 3n * S + 1n, hi: 4n * S, expected: [2n, 3n, 1n] },
      { where: "in the middle of the ring", lo: 4n * S + 1n, hi: 6n * S, expected: [3n, 1n, 4n] },
      {
        where: "before the last vNode (wrapping for the replicas)",
        lo: 9n * S + 1n,
        hi: 12n * S,
        expected: [4n, 1n, 2n],
      },
      {
        where: "after the last vNode (wrapping to the first)",
        lo: 12n * S + 1n,
        hi: 16n * S - 1n,
        expected: [1n, 2n, 3n],
      },
    ];
    for (const { where, lo, hi, expected } of cases) {
      it(`returns replicationFactor distinct nodes for a key ${where}`, async function () {
        const f = await loadFixture(ringFixture);
        const key = keyIn(lo, hi);
        expect(await f.lens.keyToken(ethers.toUtf8Bytes(key))).to.equal(tokenOf(key));
        expect(await f.lens.nodesForKey(f.ringed, ethers.toUtf8Bytes(key))).to.deep.equal(expected);
      });
    }

    it("starts at a vNode whose token equals the key's token", async function () {
      const f = await loadFixture(ringFixture);
      const key = "exact";
      const k = tokenOf(key);
      const m = f.ddc.connect(f.manager);
      await m.clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB); // replication factor 2
      await m.clusterAddNode(4n, 2n, [k - 1n]);
      await m.clusterAddNode(4n, 1n, [k]);
      await m.clusterAddNode(4n, 3n, [k + 1n]);
      expect(await f.lens.nodesForKey(4n, ethers.toUtf8Bytes(key))).to.deep.equal([1n, 3n]);
    });

    it("wraps around the end of the ring when the key lies after every vNode", async function () {
      const f = await loadFixture(ringFixture);
      const key = keyIn(1n << 40n, (1n << 64n) - 1n);
      const m = f.ddc.connect(f.manager);
      await m.clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB); // replication factor 2
      await m.clusterAddNode(4n, 3n, [30n]);
      await m.clusterAddNode(4n, 1n, [10n]);
      await m.clusterAddNode(4n, 2n, [20n]);
      expect(await f.lens.nodesForKey(4n, ethers.toUtf8Bytes(key))).to.deep.equal([1n, 2n]);
    });

    it("returns every node when the cluster has fewer nodes than the replication factor", async function () {
      const f = await loadFixture(ringFixture);
      // Cluster `small`: replication factor 3, node 1 at 5 and node 2 at 7.
      const after = keyIn(8n, (1n << 64n) - 1n);
      expect(await f.lens.nodesForKey(f.small, ethers.toUtf8Bytes(after))).to.deep.equal([1n, 2n]);
      const m = f.ddc.connect(f.manager);
      await m.clusterRemoveNode(f.small, 1n);
      expect(await f.lens.nodesForKey(f.small, ethers.toUtf8Bytes(after))).to.deep.equal([2n]);
    });

    it("counts a node with several vNodes once", async function () {
      const f = await loadFixture(ringFixture);
      const m = f.ddc.connect(f.manager);
      await m.clusterCreate(f.manager.address, { ...CLUSTER_PARAMS, replicationFactor: 3 }, GIB);
      await m.clusterAddNode(4n, 4n, [1n * S, 2n * S, 3n * S, 4n * S]);
      expect(await f.lens.nodesForKey(4n, ethers.toUtf8Bytes("anything"))).to.deep.equal([4n]);
    });

    it("returns no node for a cluster without nodes", async function () {
      const f = await loadFixture(ringFixture);
      expect(await f.lens.nodesForKey(f.empty, ethers.toUtf8Bytes("k"))).to.deep.equal([]);
    });

    it("agrees with a reference walk of the sorted ring for random keys", async function () {
      const f = await loadFixture(ringFixture);
      for (let i = 0; i < 40; i++) {
        const key = ethers.randomBytes(1 + (i % 40));
        const expected = holdersOf(f.ring, 3, tokenOf(key));
        expect(await f.lens.nodesForKey(f.ringed, key)).to.deep.equal(expected);
      }
    });
  });
});
