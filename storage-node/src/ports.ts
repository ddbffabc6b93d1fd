import type { Readable } from "node:stream";
import type { ManifestEntry } from "./bucketManifest";

/**
 * What the HTTP server needs from the rest of the node: the object store, the authenticator and
 * the chain. The server is built on these interfaces so that tests build it in-process and the
 * store, the authenticator and the chain view evolve behind them.
 */

/** What each row (object or tombstone) costs against its bucket's cap besides its key and content. */
export const ROW_OVERHEAD_BYTES = 256;

/** An object's current row: a live object, or the tombstone of a delete. */
export interface ObjectRecord {
  bucket: bigint;
  key: string;
  version: bigint;
  size: number;
  /** SHA-256 of the content, lowercase hex (empty for a tombstone). */
  sha256: string;
  /** Merkle root over the content's 64 KiB leaves, lowercase hex (empty for a tombstone). */
  root: string;
  deleted: boolean;
  /** The Content-Type it was written with (application/octet-stream when none was given). */
  contentType?: string;
  /**
   * This node's EIP-712 signature over its `Receipt` for this row (node, bucket, key, version,
   * sha256, size, root), kept with the row when it was stored; absent on rows stored without one.
   */
  receipt?: string;
}

export interface PutOptions {
  version: bigint;
  /** Reading stops past this many bytes: a TooLarge error, nothing kept. */
  maxBytes: number;
  /** The announced SHA-256 (hex): a different body is a DigestMismatch error, nothing kept. */
  expectedSha256: string;
  /** The PUT's Content-Type, kept and answered on GET and HEAD. */
  contentType?: string;
}

/** An error of the store carries its protocol code (`too-large`, `digest-mismatch`, `quarantined`, `not-found`). */
export interface CodedError extends Error {
  code: string;
}

/**
 * What a write or a delete did: `applied` when its version won and its row is stored (`record` is
 * that row); otherwise nothing was stored and `record` is the row that won (a newer version).
 */
export interface WriteOutcome {
  applied: boolean;
  record: ObjectRecord;
}

export interface NodeStore {
  get(bucket: bigint, key: string): ObjectRecord | undefined;
  /** Stores a body (last writer wins by version); throws a CodedError `too-large` or `digest-mismatch`. */
  put(bucket: bigint, key: string, token: bigint, body: Readable, options: PutOptions): Promise<WriteOutcome>;
  /** Writes a tombstone at `version` (the replaced blob is removed once unreferenced). */
  delete(bucket: bigint, key: string, token: bigint, version: bigint): Promise<WriteOutcome>;
  /** Bytes `[start, end)`, checked against the Merkle leaves; a corrupt blob throws `quarantined`. */
  read(record: ObjectRecord, start: number, end: number): Promise<Buffer>;
  /** Bytes `[start, end)` as a stream checked leaf by leaf (a corrupt leaf ends it with an error). */
  stream(record: ObjectRecord, start: number, end: number): Readable;
  /** The leaf hashes of an object (for challenge proofs). */
  leaves(record: ObjectRecord): Promise<Uint8Array[]>;
  /** Live objects in key order after `startAfter`, with `prefix`, at most `limit`. */
  list(bucket: bigint, options: { prefix?: string; startAfter?: string; limit: number }): ObjectRecord[];
  storedBytes(bucket: bigint): number;
  /**
   * What a bucket's rows cost against its cap: the live objects' bytes plus, for every row
   * (tombstones included), its key's UTF-8 bytes and {@link ROW_OVERHEAD_BYTES}.
   */
  chargedBytes(bucket: bigint): number;
  /** Keeps `signature` as the receipt of `record`'s row, if the row is still that version and content. */
  keepReceipt?(record: ObjectRecord, signature: string): void;
  /** The live objects of a bucket sorted by key (byte order of UTF-8). */
  manifest(bucket: bigint): ManifestEntry[];
  /**
   * A number that moves whenever the store writes anything: figures derived from the rows (a live
   * manifest root) are cached against it. Without it nothing is cached.
   */
  changeCount?(): number;
  /** The buckets this node holds objects (or tombstones) of. */
  buckets(): bigint[];
  /** Adds served bytes and requests to (bucket, era). */
  addUsage(bucket: bigint, era: number, servedBytes: number, requests: number): void;
  /** What (bucket, era) recorded: served bytes, requests, and the stored figures if the era was closed. */
  usage(bucket: bigint, era: number): EraUsage | undefined;
  /**
   * Records the stored figures of a closed era (once: a second call keeps the first). With
   * `manifest`, also the entries they were taken from (their root is `snapshot.manifestRoot`), and
   * the bucket's kept manifests are cut to the `keepEras` latest eras.
   */
  closeEra(
    bucket: bigint,
    era: number,
    snapshot: StoredSnapshot,
    manifest?: { entries: ManifestEntry[]; keepEras: number },
  ): void;
  /** The manifest kept at the end of (bucket, era): its object count and root; undefined if none is kept. */
  eraManifest(bucket: bigint, era: number): { objects: number; manifestRoot: string } | undefined;
  /** Entries of the manifest kept at the end of (bucket, era), in key order, after `startAfter`, at most `limit`. */
  eraManifestEntries(bucket: bigint, era: number, options: { startAfter?: string; limit: number }): ManifestEntry[];
  /** Blobs quarantined, repairs and hints queued (metrics). */
  health(): { quarantined: number; repairs: number; hints: number };
  /** Checks every blob against its hashes; `onProgress(done, total)`. */
  scrub(onProgress?: (done: number, total: number) => void): Promise<{ checked: number; corrupt: number }>;
  close(): void;
}

export interface StoredSnapshot {
  storedBytes: number;
  objects: number;
  manifestRoot: string;
}

export interface EraUsage {
  servedBytes: number;
  requests: number;
  stored?: StoredSnapshot;
}

/** Who signed a request. */
export type Principal =
  | { kind: "app"; bucket: bigint; account: string; operations: number; sessionKey: string }
  | { kind: "node"; node: number }
  | { kind: "validator"; cluster: number; account: string };

export type Operation = "read" | "write" | "delete" | "list";

/** Authentication fails with an error carrying its HTTP status and protocol code. */
export interface Authenticator {
  authenticate(r: {
    method: string;
    target: string;
    headers: Record<string, string | string[] | undefined>;
    bodySha256: string;
  }): Promise<Principal>;
  /** The principal may do `op` on `bucket`, and the bucket is served here (active, in this node's cluster). */
  authorize(principal: Principal, request: { op: Operation; bucket: bigint; key?: string }): Promise<unknown>;
  /** The bucket's storage cap in bytes. */
  capBytes(bucket: bigint): Promise<bigint>;
}

export interface ReplicaInfo {
  id: number;
  url: string;
}

/** The chain as the server reads it (cached by the implementation). */
export interface NodeChain {
  /** The cluster holding a bucket. */
  bucketCluster(bucket: bigint): Promise<number>;
  /** The key's token and the nodes holding its replicas, the primary first. */
  replicas(bucket: bigint, key: string): Promise<{ cluster: number; token: bigint; nodes: ReplicaInfo[] }>;
  /** The cluster's era at `at` (Unix seconds): its number and bounds. */
  era(cluster: number, at: number): Promise<{ era: number; start: number; end: number }>;
  /** Whether the chain answers (readiness). */
  ping(): Promise<void>;
  /** Whether `cluster` holds node `node` now (false for an unknown cluster). */
  clusterHolds(cluster: number, node: number): Promise<boolean>;
  /** The timestamp (Unix seconds) of the latest block the node has seen, if any (no chain read). */
  latestBlockTime?(): number | undefined;
}

/** Writes to the other replicas (a later step): the coordinator collects their receipts. */
export interface Replicator {
  replicateWrite(write: {
    bucket: bigint;
    key: string;
    version: bigint;
    record: ObjectRecord;
    replicas: ReplicaInfo[];
  }): Promise<import("./protocol").SignedReceipt[]>;
  replicateDelete(del: { bucket: bigint; key: string; version: bigint; replicas: ReplicaInfo[] }): Promise<void>;
}

/** No replication: this node's copy only. */
export const localReplicator: Replicator = {
  replicateWrite: async () => [],
  replicateDelete: async () => {},
};
