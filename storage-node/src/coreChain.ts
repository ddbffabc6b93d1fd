import { keccak256, toUtf8Bytes } from "ethers";
import type { IDDC } from "../../typechain-types";
import type { NodeChain, ReplicaInfo } from "./ports";

/** A key's ring position: the top 64 bits of keccak256(key), as the lens's `keyToken`. */
export function keyToken(key: string): bigint {
  return BigInt(keccak256(toUtf8Bytes(key))) >> 192n;
}

/**
 * The nodes holding a key, as the lens's `nodesForKey`: the node of the first vNode at or after the
 * key's token (wrapping), then the next distinct nodes along the ring, `rf` in all.
 */
export function replicasOnRing(ring: { tokens: bigint[]; nodes: number[] }, rf: number, token: bigint): number[] {
  const order = ring.tokens
    .map((t, i) => ({ t, n: ring.nodes[i] }))
    .sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
  const want = Math.min(rf, new Set(ring.nodes).size);
  const out: number[] = [];
  let start = order.findIndex((v) => v.t >= token);
  if (start < 0) start = 0;
  for (let step = 0; step < order.length && out.length < want; step++) {
    const n = order[(start + step) % order.length].n;
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

interface ClusterState {
  rf: number;
  eraLength: number;
  ring: { tokens: bigint[]; nodes: number[] };
  at: number;
}

/**
 * The server's view of the chain, read from the core with a short cache (`ttlMs`): a bucket's
 * cluster (which never changes), each cluster's ring and era length, nodes' URLs.
 */
export class CoreNodeChain implements NodeChain {
  private readonly bucketClusters = new Map<bigint, number>();
  private readonly clusters = new Map<number, ClusterState>();
  private readonly urls = new Map<number, { url: string; at: number }>();
  private readonly eras = new Map<number, { era: number; start: number; length: number; at: number }>();

  constructor(
    private readonly ddc: IDDC,
    private readonly ttlMs = 10_000,
    private readonly clock: () => number = Date.now,
  ) {}

  async bucketCluster(bucket: bigint): Promise<number> {
    let c = this.bucketClusters.get(bucket);
    if (c === undefined) {
      c = Number((await this.ddc.getBucket(bucket)).cluster);
      if (c !== 0) this.bucketClusters.set(bucket, c);
    }
    return c;
  }

  private async cluster(id: number): Promise<ClusterState> {
    const known = this.clusters.get(id);
    if (known !== undefined && this.clock() - known.at < this.ttlMs) return known;
    const [view, ring] = await Promise.all([this.ddc.getCluster(id), this.ddc.clusterRing(id)]);
    const s: ClusterState = {
      rf: Number(view.params.replicationFactor),
      eraLength: Number(view.params.eraLength),
      ring: { tokens: [...ring[0]], nodes: ring[1].map(Number) },
      at: this.clock(),
    };
    this.clusters.set(id, s);
    return s;
  }

  private async url(node: number): Promise<string> {
    const known = this.urls.get(node);
    if (known !== undefined && this.clock() - known.at < this.ttlMs) return known.url;
    const url = (await this.ddc.getNode(node)).urls[0] ?? "";
    this.urls.set(node, { url, at: this.clock() });
    return url;
  }

  async replicas(bucket: bigint, key: string): Promise<{ cluster: number; token: bigint; nodes: ReplicaInfo[] }> {
    const cluster = await this.bucketCluster(bucket);
    const s = await this.cluster(cluster);
    const token = keyToken(key);
    const ids = replicasOnRing(s.ring, s.rf, token);
    return { cluster, token, nodes: await Promise.all(ids.map(async (id) => ({ id, url: await this.url(id) }))) };
  }

  async era(cluster: number, at: number): Promise<{ era: number; start: number; end: number }> {
    let e = this.eras.get(cluster);
    if (e === undefined || this.clock() - e.at >= this.ttlMs) {
      const [view, s] = await Promise.all([this.ddc.clusterEra(cluster), this.cluster(cluster)]);
      e = { era: Number(view.era), start: Number(view.start), length: s.eraLength, at: this.clock() };
      this.eras.set(cluster, e);
    }
    // Eras follow each other at a fixed length from the one the core named; a local clock behind
    // the chain's counts in the chain's current era (never in one the core has closed).
    const steps = Math.max(0, Math.floor((at - e.start) / e.length));
    const start = e.start + steps * e.length;
    return { era: e.era + steps, start, end: start + e.length };
  }

  async ping(): Promise<void> {
    await this.ddc.nodeCount();
  }
}
