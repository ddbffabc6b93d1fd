import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { CLUSTER_PARAMS, NODE_PARAMS, RENT, GIB, coreFixture, type CoreFixture } from "../../helpers/fixtures";
import { inRange, keyToken, ownedRanges, replicasFor, type Ring } from "../../../storage-node/src/placement";

const TOP = (1n << 64n) - 1n;

/** A deterministic generator (mulberry32): the same rings and keys on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randomToken = (r: () => number) => (BigInt(Math.floor(r() * 2 ** 32)) << 32n) | BigInt(Math.floor(r() * 2 ** 32));

/** A cluster with replication `rf` whose new nodes hold `layout[i]` (each node's vNode tokens). */
async function clusterWith(f: CoreFixture, rf: number, layout: bigint[][]): Promise<bigint> {
  const { ddc, manager, provider1 } = f;
  await ddc.connect(manager).clusterCreate(manager.address, { ...CLUSTER_PARAMS, replicationFactor: rf }, GIB);
  const cluster = await ddc.clusterCount();
  for (const tokens of layout) {
    await ddc.connect(provider1).nodeCreate(ethers.Wallet.createRandom().address, 1000n, RENT, NODE_PARAMS);
    await ddc.connect(manager).clusterAddNode(cluster, await ddc.nodeCount(), tokens);
  }
  return cluster;
}

async function placementFixture() {
  const f = await coreFixture();
  await f.ddc.connect(f.provider1).nodeTrustManager(f.manager.address);
  const r = rng(7);
  // Five nodes, three random vNodes each, plus one vNode at each end of the ring (wrap-around).
  const random = Array.from({ length: 5 }, () => [randomToken(r), randomToken(r), randomToken(r)]);
  random[0].push(0n);
  random[3].push(TOP);
  const clusters = {
    random: await clusterWith(f, 3, random),
    // Fewer nodes than the replication factor: every key on both.
    fewer: await clusterWith(f, 3, [[1n << 60n], [1n << 62n, 3n << 62n]]),
    // One node's vNodes adjacent: the walk must skip them to find the next distinct node.
    adjacent: await clusterWith(f, 2, [[100n, 101n, 102n, 1n << 63n], [200n], [TOP - 5n]]),
    // A single vNode: the whole ring.
    single: await clusterWith(f, 2, [[12345n]]),
  };
  return { ...f, clusters };
}

/** The ring as the lens sorts it, and the cluster's settings. */
async function ringOf(f: CoreFixture, cluster: bigint): Promise<{ ring: Ring; rf: number; members: number }> {
  const [tokens, nodes] = await f.lens.ring(cluster);
  const view = await f.ddc.getCluster(cluster);
  const members = (await f.ddc.clusterNodes(cluster)).length;
  return {
    ring: { tokens: [...tokens], nodes: nodes.map(Number) },
    rf: Number(view.params.replicationFactor),
    members,
  };
}

const KEYS = [
  "",
  "a",
  "photos/2024/a.jpg",
  "ключ/объект",
  "🙂 emoji",
  "x".repeat(1024),
  ...Array.from({ length: 120 }, (_v, i) => `key-${i}-${(i * 7919) % 1000}`),
];

describe("storage-node placement", function () {
  it("keyToken is the lens's keyToken: the top 64 bits of keccak256 of the UTF-8 key", async function () {
    const f = await loadFixture(placementFixture);
    for (const key of KEYS.slice(0, 20)) {
      expect(keyToken(key), key).to.equal(await f.lens.keyToken(ethers.toUtf8Bytes(key)));
    }
    expect(keyToken("")).to.equal(BigInt(ethers.keccak256("0x")) >> 192n);
    expect(keyToken("")).to.equal(0xc5d2460186f7233cn);
  });

  for (const name of ["random", "fewer", "adjacent", "single"] as const) {
    it(`replicasFor is DDCLens.nodesForKey on the ${name} cluster`, async function () {
      const f = await loadFixture(placementFixture);
      const cluster = f.clusters[name];
      const { ring, rf, members } = await ringOf(f, cluster);
      let checked = 0;
      for (const key of KEYS) {
        const onChain = (await f.lens.nodesForKey(cluster, ethers.toUtf8Bytes(key))).map(Number);
        expect(replicasFor(ring, rf, members, key), key).to.deep.equal(onChain);
        checked++;
      }
      expect(checked).to.equal(KEYS.length);
    });
  }

  it("wraps past the last vNode to the first, and skips a node's adjacent vNodes", async function () {
    const f = await loadFixture(placementFixture);
    const { ring } = await ringOf(f, f.clusters.adjacent);
    // Node ids of this cluster: the layout's order.
    const [a, b, c] = [...new Set((await f.ddc.clusterNodes(f.clusters.adjacent)).map(Number))];
    expect(ring.tokens).to.deep.equal([100n, 101n, 102n, 200n, 1n << 63n, TOP - 5n]);
    expect(ring.nodes).to.deep.equal([a, a, a, b, a, c]);
    // A key past the last vNode wraps to token 100 (node a); the next distinct node is b, not a again.
    const upper = KEYS.find((k) => keyToken(k) > 1n << 63n && keyToken(k) <= TOP - 5n)!;
    const between = KEYS.find((k) => keyToken(k) > 200n && keyToken(k) <= 1n << 63n)!;
    expect(replicasFor(ring, 2, 3, between)).to.deep.equal([a, c]);
    // From the last vNode (node c) the walk wraps to token 100 (node a).
    expect(replicasFor(ring, 2, 3, upper)).to.deep.equal([c, a]);
    expect(replicasFor(ring, 3, 3, upper)).to.deep.equal([c, a, b]);
    const synthetic: Ring = { tokens: [10n, 20n, 30n], nodes: [1, 1, 2] };
    expect(replicasFor({ tokens: [10n, 20n, 30n], nodes: [1, 2, 3] }, 2, 3, "")).to.deep.equal([1, 2]); // 0xc5… > 30
    expect(replicasFor(synthetic, 5, 2, "a")).to.deep.equal([1, 2]);
    expect(replicasFor({ tokens: [], nodes: [] }, 3, 0, "a")).to.deep.equal([]);
    expect(() => replicasFor({ tokens: [1n], nodes: [] }, 3, 1, "a")).to.throw(
      "ring: tokens and nodes differ in length",
    );
  });

  it("ownedRanges holds exactly the keys the node replicates", async function () {
    const f = await loadFixture(placementFixture);
    for (const name of ["random", "fewer", "adjacent", "single"] as const) {
      const { ring, rf, members } = await ringOf(f, f.clusters[name]);
      for (const node of new Set(ring.nodes)) {
        const ranges = ownedRanges(ring, rf, node);
        for (const key of KEYS) {
          const holds = replicasFor(ring, rf, members, key).includes(node);
          expect(
            ranges.some((range) => inRange(keyToken(key), range)),
            `${name} node ${node} key ${key}`,
          ).to.equal(holds);
        }
      }
    }
  });

  it("ownedRanges merges adjacent spans, across the wrap too", function () {
    const ring: Ring = { tokens: [10n, 20n, 30n, 40n], nodes: [1, 2, 3, 4] };
    // rf 1: node 1 holds (40, 10] across the wrap.
    expect(ownedRanges(ring, 1, 1)).to.deep.equal([{ after: 40n, upTo: 10n }]);
    // rf 2: node 2 holds the keys starting at vNode 1 (token 20) and at vNode 0 (10): (40, 20].
    expect(ownedRanges(ring, 2, 2)).to.deep.equal([{ after: 40n, upTo: 20n }]);
    expect(ownedRanges(ring, 2, 1)).to.deep.equal([{ after: 30n, upTo: 10n }]);
    // Every node holds everything once the factor reaches the node count.
    expect(ownedRanges(ring, 4, 3)).to.deep.equal([{ after: 10n, upTo: 10n }]);
    expect(ownedRanges(ring, 2, 9)).to.deep.equal([]);
    expect(inRange(5n, { after: 40n, upTo: 10n })).to.equal(true);
    expect(inRange(40n, { after: 40n, upTo: 10n })).to.equal(false);
    expect(inRange(11n, { after: 40n, upTo: 10n })).to.equal(false);
  });
});
