import type { BucketInfo, ClusterInfo, NodeInfo } from "../chain";

/** The chain as replication reads it (a `ChainView` fits). */
export interface ReplicationChain {
  cluster(id: number): Promise<ClusterInfo | undefined>;
  node(id: number): Promise<NodeInfo | undefined>;
  bucket(id: bigint): Promise<BucketInfo | undefined>;
}
