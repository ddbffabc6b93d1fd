import { Contract, type ContractRunner } from "ethers";
import type { Ring } from "../src/placement";

/** Sorts a ring as the core's lens does (by token). */
export function sortRing(tokens: readonly bigint[], nodes: readonly number[]): Ring {
  const order = tokens.map((_, i) => i).sort((a, b) => (tokens[a] < tokens[b] ? -1 : tokens[a] > tokens[b] ? 1 : 0));
  return { tokens: order.map((i) => tokens[i]), nodes: order.map((i) => nodes[i]) };
}

/** A node as the client needs it: where it serves and the key its receipts are signed with. */
export interface NodeInfo {
  id: number;
  /** Its first registered URL ("" if it has none). */
  url: string;
  signingKey: string;
}

/** What placement needs about a bucket's cluster. */
export interface ClusterMap {
  cluster: number;
  replicationFactor: number;
  /** The cluster's members (`clusterNodes`), which caps the replicas of a key. */
  distinctNodes: number;
  ring: Ring;
  nodes: Map<number, NodeInfo>;
}

/** Where the client learns a bucket's cluster, its ring and its nodes. */
export interface ClusterDirectory {
  /** The bucket's cluster; `refresh` re-reads it (after a node said it is not a replica). */
  forBucket(bucket: bigint, options?: { refresh?: boolean }): Promise<ClusterMap>;
}

/** A fixed map (tests, or an app that pins its cluster). */
export class StaticDirectory implements ClusterDirectory {
  constructor(private readonly map: ClusterMap) {}
  forBucket(): Promise<ClusterMap> {
    return Promise.resolve(this.map);
  }
}

// Only the views the client reads, so that the browser bundle needs no generated bindings.
const CORE_VIEWS = [
  "function getBucket(uint64 bucket) view returns (tuple(uint64 id, address owner, uint32 cluster, bool closed, uint64 reserved, uint64 measured, uint64 billed, uint64 cap, uint8 status))",
  "function getCluster(uint32 cluster) view returns (tuple(uint32 id, address manager, address pendingManager, tuple(uint8 replicationFactor, uint32 eraLength, uint16 qosThreshold, uint16 managementFeeBps, uint32 priceNotice) params, uint64 unitSize, uint64 reservedPerVNode, uint64 allocated, uint16 nodeCount, uint16 vNodeCount, uint96 price, uint96 pendingPrice, uint40 pendingPriceAt, uint256 index, uint256 revenuePool, uint64 billableBuckets, uint64 bucketCount, uint8 exclusionFactor))",
  "function clusterNodes(uint32 cluster) view returns (uint32[])",
  "function clusterRing(uint32 cluster) view returns (uint64[] tokens, uint32[] nodes)",
  "function getNode(uint32 node) view returns (tuple(uint32 id, address provider, address signingKey, uint64 capacity, uint64 reserved, uint96 rent, uint16 clusterCount, string engine, string version, string[] urls))",
];

/**
 * The core's view of the network: a bucket's cluster (kept: a bucket never moves) and the
 * cluster's ring and nodes (kept for `maxAgeMs`, re-read on `refresh`).
 */
export class ChainDirectory implements ClusterDirectory {
  private readonly core: Contract;
  private readonly buckets = new Map<bigint, number>();
  private readonly clusters = new Map<number, { at: number; map: Promise<ClusterMap> }>();

  constructor(
    runner: ContractRunner,
    core: string,
    private readonly maxAgeMs = 60_000,
  ) {
    this.core = new Contract(core, CORE_VIEWS, runner);
  }

  async forBucket(bucket: bigint, options: { refresh?: boolean } = {}): Promise<ClusterMap> {
    let cluster = this.buckets.get(bucket);
    if (cluster === undefined) {
      const view = (await this.core.getBucket(bucket)) as { cluster: bigint };
      cluster = Number(view.cluster);
      this.buckets.set(bucket, cluster);
    }
    const cached = this.clusters.get(cluster);
    if (cached !== undefined && options.refresh !== true && Date.now() - cached.at < this.maxAgeMs) return cached.map;
    const map = this.readCluster(cluster);
    this.clusters.set(cluster, { at: Date.now(), map });
    // A failed read is not kept: the next call tries again.
    map.catch(() => this.clusters.delete(cluster));
    return map;
  }

  private async readCluster(cluster: number): Promise<ClusterMap> {
    const [view, members, [tokens, ringNodes]] = (await Promise.all([
      this.core.getCluster(cluster),
      this.core.clusterNodes(cluster),
      this.core.clusterRing(cluster),
    ])) as [{ params: { replicationFactor: bigint } }, bigint[], [bigint[], bigint[]]];
    const ids = [...new Set([...members, ...ringNodes].map(Number))];
    const nodes = new Map<number, NodeInfo>();
    await Promise.all(
      ids.map(async (id) => {
        const n = (await this.core.getNode(id)) as { signingKey: string; urls: string[] };
        nodes.set(id, { id, url: n.urls[0] ?? "", signingKey: n.signingKey });
      }),
    );
    return {
      cluster,
      replicationFactor: Number(view.params.replicationFactor),
      distinctNodes: members.length,
      ring: sortRing(
        tokens.map((t) => BigInt(t)),
        ringNodes.map(Number),
      ),
      nodes,
    };
  }
}
