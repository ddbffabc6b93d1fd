import type { Provider } from "ethers";
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
}
