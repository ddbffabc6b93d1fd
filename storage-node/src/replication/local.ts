import { Readable } from "node:stream";
import { MAX_OBJECT_BYTES } from "../protocol";
import { nodeSha256 } from "../store/blobs";
import { IntegrityError, NotFoundError } from "../store/errors";
import { leafHashes, merkleRoot, toHex } from "../store/merkle";
import type { ObjectRecord } from "../store/meta";
import type { ObjectStore } from "../store/objects";
import type { ReplicationChain } from "./ports";

/** The Merkle root of a whole content, hex (as the store computes it). */
export function rootOf(body: Uint8Array): string {
  return toHex(merkleRoot(leafHashes(body, nodeSha256), nodeSha256));
}

/** An object's whole content, checked against its leaves; undefined when the local copy is corrupt or gone. */
export async function readWhole(store: ObjectStore, record: ObjectRecord): Promise<Buffer | undefined> {
  if (record.deleted) return undefined;
  if (record.size === 0) return Buffer.alloc(0);
  try {
    return await store.read(record, 0, record.size - 1);
  } catch (e) {
    if (e instanceof IntegrityError || e instanceof NotFoundError) return undefined;
    throw e;
  }
}

/** A blob's bytes from any live object using it, checked; undefined if none is intact. */
export async function readBlob(store: ObjectStore, sha256: string): Promise<Buffer | undefined> {
  for (const record of store.meta.bySha256(sha256)) {
    const bytes = await readWhole(store, record);
    if (bytes !== undefined) return bytes;
  }
  return undefined;
}

/**
 * Stores a body as a row's content (last writer wins); the body must hash to the row's sha256.
 * `cluster` is the cluster of the row's bucket (recorded with the row).
 */
export function putBody(
  store: ObjectStore,
  row: { bucket: bigint; key: string; token: bigint; version: bigint; sha256: string },
  body: Buffer,
  cluster?: number,
) {
  return store.put(row.bucket, row.key, row.token, Readable.from([body]), {
    version: row.version,
    maxBytes: MAX_OBJECT_BYTES,
    expectedSha256: row.sha256,
    ...(cluster === undefined ? {} : { cluster }),
  });
}

/**
 * Records the cluster of the rows written without one (by a writer that did not give it, or before
 * the store kept it), from the chain's bucket. Run before a cluster's rows are read or digested.
 */
export async function assignClusters(store: ObjectStore, chain: ReplicationChain): Promise<void> {
  for (const bucket of store.meta.bucketsWithoutCluster()) {
    const info = await chain.bucket(bucket).catch(() => undefined);
    if (info !== undefined) store.meta.setBucketCluster(bucket, info.cluster);
  }
}
