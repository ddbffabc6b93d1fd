import { join } from "node:path";
import type { Readable } from "node:stream";
import { S3Client } from "@aws-sdk/client-s3";
import type { ManifestEntry } from "./bucketManifest";
import { VERIFIED_CACHE_BYTES, VERIFIED_CACHE_MAX_OBJECT_BYTES, type NodeConfig } from "./config";
import {
  ROW_OVERHEAD_BYTES,
  type EraUsage,
  type NodeStore,
  type ObjectRecord,
  type PutOptions,
  type StoredSnapshot,
  type WriteOutcome,
} from "./ports";
import { FsBlobStore, S3BlobStore, type BlobStore } from "./store/blobs";
import { NotFoundError } from "./store/errors";
import { MetaStore, type ObjectRecord as StoredRecord } from "./store/meta";
import { ObjectStore, type CorruptionEvent, type WriteResult } from "./store/objects";

/**
 * The node's {@link NodeStore}: objects in an {@link ObjectStore} (blobs on disk or in S3, identity
 * in SQLite), and the server's tables (usage per era, nonces, queues) in its {@link MetaStore}.
 *
 * The records it hands out are the store's own rows (they carry the Merkle leaves a read checks
 * against); a record from elsewhere is looked up again by bucket and key, and must still be the
 * same version and content.
 */
export class PersistentNodeStore implements NodeStore {
  private closed = false;

  constructor(readonly objects: ObjectStore) {}

  get meta(): MetaStore {
    return this.objects.meta;
  }

  get(bucket: bigint, key: string): ObjectRecord | undefined {
    return this.meta.get(bucket, key);
  }

  async put(bucket: bigint, key: string, token: bigint, body: Readable, options: PutOptions): Promise<WriteOutcome> {
    const r = await this.objects.put(bucket, key, token, body, {
      version: options.version,
      maxBytes: options.maxBytes,
      expectedSha256: options.expectedSha256,
      contentType: options.contentType,
    });
    return this.outcome(r);
  }

  async delete(bucket: bigint, key: string, token: bigint, version: bigint): Promise<WriteOutcome> {
    return this.outcome(await this.objects.delete(bucket, key, token, version));
  }

  /** The stored row when the write won; the row that beat it otherwise. */
  private outcome(r: WriteResult): WriteOutcome {
    const { applied, ...record } = r;
    if (applied) return { applied, record };
    return { applied, record: this.meta.get(record.bucket, record.key) ?? record };
  }

  /** The stored row of `record` (with its leaves); NotFoundError if it was replaced or deleted. */
  private row(record: ObjectRecord): StoredRecord {
    if ("leaves" in record && "token" in record) return record as StoredRecord;
    const row = this.meta.get(record.bucket, record.key);
    if (row === undefined || row.deleted || row.version !== record.version || row.sha256 !== record.sha256) {
      throw new NotFoundError(`object ${record.key} at version ${record.version}`);
    }
    return row;
  }

  /** Bytes `[start, end)` (the object store's ranges are inclusive). */
  read(record: ObjectRecord, start: number, end: number): Promise<Buffer> {
    return this.objects.read(this.row(record), start, end - 1);
  }

  stream(record: ObjectRecord, start: number, end: number): Readable {
    return this.objects.stream(this.row(record), start, end - 1);
  }

  async leaves(record: ObjectRecord): Promise<Uint8Array[]> {
    return this.row(record).leaves;
  }

  list(bucket: bigint, options: { prefix?: string; startAfter?: string; limit: number }): ObjectRecord[] {
    return this.meta.list(bucket, options);
  }

  keepReceipt(record: ObjectRecord, signature: string): void {
    this.meta.setReceipt(record.bucket, record.key, record.version, record.sha256, signature);
  }

  storedBytes(bucket: bigint): number {
    return this.meta.storedBytes(bucket);
  }

  chargedBytes(bucket: bigint): number {
    return this.meta.chargedBytes(bucket, ROW_OVERHEAD_BYTES);
  }

  manifest(bucket: bigint): ManifestEntry[] {
    return [...this.meta.manifest(bucket)];
  }

  changeCount(): number {
    return this.meta.totalChanges();
  }

  buckets(): bigint[] {
    return this.meta.buckets();
  }

  addUsage(bucket: bigint, era: number, servedBytes: number, requests: number): void {
    this.meta.addUsage(bucket, era, servedBytes, requests);
  }

  usage(bucket: bigint, era: number): EraUsage | undefined {
    return this.meta.bucketUsage(bucket, era);
  }

  closeEra(
    bucket: bigint,
    era: number,
    snapshot: StoredSnapshot,
    manifest?: { entries: ManifestEntry[]; keepEras: number },
  ): void {
    this.meta.closeEra(bucket, era, snapshot, manifest);
  }

  eraManifest(bucket: bigint, era: number): { objects: number; manifestRoot: string } | undefined {
    return this.meta.eraManifest(bucket, era);
  }

  eraManifestEntries(bucket: bigint, era: number, options: { startAfter?: string; limit: number }): ManifestEntry[] {
    return this.meta.eraManifestEntries(bucket, era, options);
  }

  health(): { quarantined: number; repairs: number; hints: number } {
    if (this.closed) throw new Error("the store is closed");
    return this.meta.queueCounts();
  }

  scrub(onProgress?: (done: number, total: number) => void): Promise<{ checked: number; corrupt: number }> {
    return this.objects.scrub({ onProgress });
  }

  /** Records a request nonce; false when it was already seen (a replay). */
  useNonce(sessionKey: string, nonce: string, expires: number, now: number): boolean {
    return this.meta.useNonce(sessionKey, nonce, expires, now);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.meta.close();
  }
}

/** Where a node keeps its metadata: `<data.dir>/meta.sqlite`. */
export const metaFile = (dir: string) => join(dir, "meta.sqlite");

/**
 * The blob store `data.blobs` names: on disk under `data.dir` (`blobs/`, `tmp/`, `quarantine/`), or
 * an S3 bucket (staging its uploads in `<data.dir>/s3-staging/`).
 */
export function blobStoreFor(
  data: Pick<NodeConfig["data"], "dir" | "blobs">,
  env: NodeJS.ProcessEnv = process.env,
): BlobStore {
  const b = data.blobs;
  if (b.kind === "fs") return new FsBlobStore(data.dir);
  // Credentials come from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an
  // instance role…): the SDK's default chain. Never from the configuration file.
  const id = env.AWS_ACCESS_KEY_ID;
  const secret = env.AWS_SECRET_ACCESS_KEY;
  const client = new S3Client({
    region: b.region,
    endpoint: b.endpoint,
    forcePathStyle: b.forcePathStyle,
    ...(id !== undefined && secret !== undefined
      ? { credentials: { accessKeyId: id, secretAccessKey: secret, sessionToken: env.AWS_SESSION_TOKEN } }
      : {}),
  });
  return new S3BlobStore({ client, bucket: b.bucket, prefix: b.prefix, stagingDir: join(data.dir, "s3-staging") });
}

/**
 * Opens the node's store from `data`: the metadata database (migrated), the blob store, and the
 * start-up clean-up (temporaries of interrupted puts, unreferenced blobs). Objects read whole and
 * checked are kept in memory as `data.cache` says (see VerifiedBlobCache).
 */
export async function openNodeStore(
  data: Omit<NodeConfig["data"], "cache"> & Partial<Pick<NodeConfig["data"], "cache">>,
  options: { env?: NodeJS.ProcessEnv; onCorrupt?: (e: CorruptionEvent) => void } = {},
): Promise<{ store: PersistentNodeStore; opened: { tempsRemoved: number; orphansRemoved: number } }> {
  const meta = new MetaStore(metaFile(data.dir));
  try {
    const objects = new ObjectStore(blobStoreFor(data, options.env), meta, {
      onCorrupt: options.onCorrupt,
      verifiedCacheBytes: data.cache?.bytes ?? VERIFIED_CACHE_BYTES,
      verifiedCacheMaxBlobBytes: data.cache?.maxObjectBytes ?? VERIFIED_CACHE_MAX_OBJECT_BYTES,
    });
    const opened = await objects.open();
    return { store: new PersistentNodeStore(objects), opened };
  } catch (error) {
    meta.close();
    throw error;
  }
}
