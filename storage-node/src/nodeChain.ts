import { toBeHex, zeroPadValue, type Provider } from "ethers";
import { getLogsPaged } from "../../lib/logs";
import { IDDC__factory } from "../../typechain-types";
import { NodeError } from "./auth/errors";
import type { ChainView } from "./chain";
import { keyToken, replicasFor } from "./placement";
import type { NodeChain, ReplicaInfo } from "./ports";
import { ErrorCode } from "./protocol";

/**
 * The server's {@link NodeChain} over the node's one {@link ChainView}: the same cached reads the
 * authenticator and replication use, invalidated by the core's events.
 */
export class ViewNodeChain implements NodeChain {
  constructor(
    readonly view: ChainView,
    private readonly provider: Provider,
  ) {}

  async clusterHolds(cluster: number, node: number): Promise<boolean> {
    return (await this.view.cluster(cluster))?.nodes.includes(node) === true;
  }

  async bucketCluster(bucket: bigint): Promise<number> {
    const b = await this.view.bucket(bucket);
    if (b === undefined) throw new NodeError(404, ErrorCode.NotFound, `bucket ${bucket} does not exist`);
    return b.cluster;
  }

  async replicas(bucket: bigint, key: string): Promise<{ cluster: number; token: bigint; nodes: ReplicaInfo[] }> {
    const cluster = await this.bucketCluster(bucket);
    const c = await this.view.cluster(cluster);
    if (c === undefined) throw new NodeError(404, ErrorCode.NotFound, `cluster ${cluster} does not exist`);
    const ids = replicasFor(c.ring, c.replicationFactor, c.nodes.length, key);
    const nodes = await Promise.all(ids.map(async (id) => ({ id, url: (await this.view.node(id))?.urls[0] ?? "" })));
    return { cluster, token: keyToken(key), nodes };
  }

  /**
   * The era at `at`, placed from the one the core reports; a local clock behind the chain's counts
   * in the chain's current era (never in one the core has closed).
   */
  async era(cluster: number, at: number): Promise<{ era: number; start: number; end: number }> {
    const current = await this.view.era(cluster);
    if (current === undefined) throw new NodeError(404, ErrorCode.NotFound, `cluster ${cluster} does not exist`);
    if (at < current.end) return current;
    return (await this.view.era(cluster, at)) ?? current;
  }

  async ping(): Promise<void> {
    await this.provider.getBlockNumber();
  }

  latestBlockTime(): number | undefined {
    return this.view.latestBlockTime();
  }
}

/**
 * The clusters the core lists this node in: candidates from the core's events (`ClusterNodeAdded`
 * for this node, `ClusterNodeReplaced` naming it among the replacements), scanned incrementally
 * from `fromBlock`, each confirmed against the cluster's members as the chain view reads them (a
 * node removed from a cluster drops out at the next refresh). Replication serves these clusters.
 */
export class NodeClusters {
  private readonly candidates = new Set<number>();
  private scanned: number;
  private members: number[] = [];
  private readonly iface = IDDC__factory.createInterface();

  constructor(
    private readonly provider: Provider,
    private readonly core: string,
    private readonly self: number,
    private readonly view: Pick<ChainView, "cluster">,
    fromBlock = 0,
  ) {
    this.scanned = fromBlock - 1;
  }

  /** The member clusters found at the last refresh. */
  current(): number[] {
    return this.members;
  }

  /** Scans the blocks since the last refresh and re-checks membership. */
  async refresh(): Promise<number[]> {
    const head = await this.provider.getBlockNumber();
    if (head > this.scanned) {
      const added = this.iface.getEvent("ClusterNodeAdded").topicHash;
      const replaced = this.iface.getEvent("ClusterNodeReplaced").topicHash;
      const self = zeroPadValue(toBeHex(this.self), 32);
      const from = this.scanned + 1;
      const [joins, replacements] = await Promise.all([
        getLogsPaged(this.provider, { address: this.core, topics: [added, null, self] }, from, head),
        getLogsPaged(this.provider, { address: this.core, topics: [replaced] }, from, head),
      ]);
      for (const log of joins) this.candidates.add(Number(BigInt(log.topics[1])));
      for (const log of replacements) {
        const parsed = this.iface.parseLog(log);
        if (parsed === null) continue;
        if ((parsed.args.replacements as bigint[]).some((n) => Number(n) === this.self)) {
          this.candidates.add(Number(parsed.args.cluster));
        }
      }
      this.scanned = head;
    }
    const members: number[] = [];
    for (const id of [...this.candidates].sort((a, b) => a - b)) {
      if ((await this.view.cluster(id))?.nodes.includes(this.self)) members.push(id);
    }
    this.members = members;
    return members;
  }
}
