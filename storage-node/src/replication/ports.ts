/**
 * What replication needs from the rest of the node. The object store, the chain view and the
 * node's identity are built elsewhere (`store/`, `auth/`, `server.ts`); replication sees them only
 * through these interfaces, so the composition root wires them in with thin adapters.
 */

/** One row of a node's metadata: the state of `(bucket, key)` at `version`, or its tombstone. */
export interface ReplicaMeta {
  bucket: string;
  key: string;
  /** The key's position on the ring ({@link keyToken}). */
  token: bigint;
  version: bigint;
  /** Hex SHA-256 of the content; "" for a tombstone. */
  sha256: string;
  size: number;
  /** Hex Merkle root of the content's leaves; "" for a tombstone. */
  root: string;
  deleted: boolean;
}

/** Outcome of applying a row: stored, or a newer (or equal) version was already held. */
export type ApplyOutcome = { applied: true } | { applied: false; current: ReplicaMeta };

/**
 * The local store as replication uses it. Rows are ordered by `(token, bucket, key)`; a token range
 * `(from, to]` wraps around the ring when `from >= to` (and `from == to` is the whole ring).
 */
export interface ReplicaStore {
  get(bucket: string, key: string): ReplicaMeta | undefined;
  /**
   * Stores `body` as `(bucket, key, version)` last-writer-wins: a row is newer when its version is
   * larger, or equal with a larger sha256. Throws {@link IntegrityError} when the body does not
   * hash to `meta.sha256` or its leaves to `meta.root`.
   */
  put(meta: Omit<ReplicaMeta, "deleted">, body: Buffer): Promise<ApplyOutcome>;
  /** Applies a tombstone, last-writer-wins. */
  tombstone(bucket: string, key: string, token: bigint, version: bigint): ApplyOutcome;
  /** The content with this sha256, checked against its leaves; undefined if absent or corrupt. */
  readBlob(sha256: string): Promise<Buffer | undefined>;
  hasBlob(sha256: string): boolean;
  byTokenRange(from: bigint, to: bigint, page: { after?: RowCursor; limit: number }): ReplicaMeta[];
  /** A digest of the rows in a range: equal digests mean equal rows. */
  rangeDigest(from: bigint, to: bigint): { digest: string; count: number };
  hints: HintQueue;
  repairs: RepairQueue;
}

export interface RowCursor {
  token: bigint;
  bucket: string;
  key: string;
}

/** A write or delete a replica has not acknowledged yet. */
export interface Hint {
  id: number;
  target: number;
  bucket: string;
  key: string;
  version: bigint;
  op: "put" | "delete";
  attempts: number;
  nextAt: number;
  lastError?: string;
}

/** The durable queue of hints (ms timestamps). */
export interface HintQueue {
  enqueue(h: Omit<Hint, "id" | "attempts" | "nextAt">, nextAt: number): void;
  due(now: number, limit: number): Hint[];
  done(id: number): void;
  retry(id: number, nextAt: number, error: string): void;
  size(): number;
}

/** An object whose local copy failed a check (quarantined): it must be fetched again. */
export interface RepairItem {
  id: number;
  bucket: string;
  key: string;
}

export interface RepairQueue {
  due(limit: number): RepairItem[];
  done(id: number): void;
  size(): number;
}

export class IntegrityError extends Error {}

export interface Ring {
  tokens: bigint[];
  nodes: number[];
}

export interface ClusterInfo {
  id: number;
  replicationFactor: number;
  nodes: number[];
  ring: Ring;
}

export interface NodeInfo {
  id: number;
  /** The address that signs the node's sessions and receipts. */
  signingKey: string;
  urls: string[];
}

/** The chain as replication reads it. */
export interface ClusterSource {
  cluster(id: number): Promise<ClusterInfo>;
  node(id: number): Promise<NodeInfo>;
  bucketCluster(bucket: string): Promise<number>;
}
