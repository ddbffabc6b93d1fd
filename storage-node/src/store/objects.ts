import { Readable } from "node:stream";
import { LEAF_BYTES } from "../protocol";
import { nodeSha256, type BlobStore, type PutOptions } from "./blobs";
import { IntegrityError, NotFoundError, ObjectChangedError, RangeNotSatisfiableError, type StoreError } from "./errors";
import { hashLeaf, LeafHasher } from "./merkle";
import { DEFAULT_CONTENT_TYPE, type MetaStore, type ObjectRecord } from "./meta";

/** What the store tells the node when it finds a corrupt or missing blob. */
export interface CorruptionEvent {
  sha256: string;
  /** What was seen: "leaf 3", "digest", "truncated", "missing". */
  detail: string;
  /** The live objects that referenced the blob (a repair is queued for each). */
  objects: { bucket: bigint; key: string; version: bigint }[];
}

/** The steps of ObjectStore.put around the metadata commit, for crash tests. */
export type ObjectPutStep = "before-commit" | "after-commit";

export interface ObjectStoreOptions {
  /** Called once per corruption found (after the quarantine and the repairs are recorded). */
  onCorrupt?: (e: CorruptionEvent) => void;
  /** ms since the epoch (tests fix it). */
  now?: () => number;
  /** Signs this node's receipt for a row about to be stored (see {@link ObjectStore.signReceipt}). */
  signReceipt?: ReceiptSigner;
  /**
   * Bytes of blobs kept in memory once read whole and checked (see {@link VerifiedBlobCache});
   * 0, the default, keeps none.
   */
  verifiedCacheBytes?: number;
  /** The largest blob that cache keeps (one leaf, 64 KiB, unless given). */
  verifiedCacheMaxBlobBytes?: number;
}

/**
 * Blobs (up to `maxBlobBytes` each) already read whole and checked against their leaves, by
 * SHA-256, least recently used first out, bounded in bytes. A blob is content-addressed: a copy checked
 * once stays the blob's bytes for as long as the blob exists, so a read found here skips the disk
 * and the re-hash. What it skips is noticing a disk that went bad since: the scrub still re-reads
 * every blob from the disk (never from here), and a blob quarantined (by the scrub or a read) or
 * removed is dropped from here at once.
 */
export class VerifiedBlobCache {
  private readonly map = new Map<string, Buffer>();
  private held = 0;
  private dropped = 0;

  constructor(
    readonly maxBytes: number,
    readonly maxBlobBytes = LEAF_BYTES,
  ) {}

  /** Bytes held. */
  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.map.size;
  }

  get(sha256: string): Buffer | undefined {
    const b = this.map.get(sha256);
    if (b === undefined) return undefined;
    this.map.delete(sha256);
    this.map.set(sha256, b);
    return b;
  }

  /** Counts the blobs dropped so far: a read takes it before the disk, and keeps its bytes only if unchanged. */
  get generation(): number {
    return this.dropped;
  }

  /**
   * Keeps a checked blob's whole content, unless larger than `maxBlobBytes` or `maxBytes`, or a
   * blob was dropped since `generation` (a read that raced a quarantine or a removal keeps nothing).
   */
  set(sha256: string, bytes: Buffer, generation: number): void {
    if (generation !== this.dropped || bytes.length > this.maxBlobBytes || bytes.length > this.maxBytes) return;
    this.forget(sha256);
    this.map.set(sha256, bytes);
    this.held += bytes.length;
    while (this.held > this.maxBytes) this.forget(this.map.keys().next().value as string);
  }

  /** Drops a blob being quarantined or removed. */
  drop(sha256: string): void {
    this.dropped++;
    this.forget(sha256);
  }

  private forget(sha256: string): void {
    const b = this.map.get(sha256);
    if (b === undefined) return;
    this.map.delete(sha256);
    this.held -= b.length;
  }
}

/** The node's EIP-712 signature over its `Receipt` of a row (node id and domain are the signer's). */
export type ReceiptSigner = (row: {
  bucket: bigint;
  key: string;
  version: bigint;
  sha256: string;
  size: number;
  root: string;
}) => Promise<string>;

/** A put's or a delete's outcome: the record written, and whether it won over the stored one. */
export type WriteResult = ObjectRecord & { applied: boolean };

function leafHashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/**
 * Objects: content in a {@link BlobStore}, identity in a {@link MetaStore}.
 *
 * A put makes the blob durable first, then commits the row; so a crash leaves either the old row
 * (and maybe an unreferenced blob, removed by {@link open}) or the new one with its blob. A blob
 * no live row references any more is removed after the commit that dropped it. A put guards its
 * blob from the moment its digest is known (before it looks for an existing blob of that name)
 * until its row is committed: a removal of that blob is skipped, and a put whose blob is being
 * removed waits for the removal to end. Puts of other contents never hold a removal back.
 *
 * Every byte read is checked against the Merkle leaves before it is returned: a mismatch
 * quarantines the blob, queues repairs, calls `onCorrupt` and fails with an IntegrityError. A
 * blob missing because the object changed under the reader (an overwrite or a delete committed
 * and collected the old blob) is an {@link ObjectChangedError}, not a corruption.
 */
export class ObjectStore {
  /** Called before and after the metadata commit of a put (crash tests inject a kill here). */
  failpoint?: (step: ObjectPutStep) => void | Promise<void>;
  /**
   * Signs the node's receipt of every row a put stores (a write it coordinates, a replica write, a
   * repair copy: all come through {@link put}); the signature is kept with the row and answered on
   * GET and HEAD. Set once the node knows its id and the chain's domain.
   */
  signReceipt?: ReceiptSigner;
  private readonly onCorrupt?: (e: CorruptionEvent) => void;
  private readonly now: () => number;
  /** Digests of puts between their digest being known and their commit: not removed meanwhile. */
  private readonly committing = new Map<string, number>();
  /** Blobs to remove once nothing references them. */
  private readonly garbage = new Set<string>();
  /** Removals in progress, by digest: a put of that content waits for its end. */
  private readonly removing = new Map<string, Promise<void>>();
  /** Blobs read whole and checked already (none unless `verifiedCacheBytes`). */
  readonly verified: VerifiedBlobCache;

  constructor(
    readonly blobs: BlobStore,
    readonly meta: MetaStore,
    opts: ObjectStoreOptions = {},
  ) {
    this.onCorrupt = opts.onCorrupt;
    this.now = opts.now ?? Date.now;
    this.signReceipt = opts.signReceipt;
    this.verified = new VerifiedBlobCache(opts.verifiedCacheBytes ?? 0, opts.verifiedCacheMaxBlobBytes ?? LEAF_BYTES);
  }

  /**
   * Run at start, before serving: removes the temporaries of interrupted puts and the blobs no
   * live row references (a put killed between its blob and its commit, a crash before a removal).
   */
  async open(): Promise<{ tempsRemoved: number; orphansRemoved: number }> {
    const { tempsRemoved } = await this.blobs.open();
    const referenced = this.meta.referencedBlobs();
    const orphans: string[] = [];
    for await (const sha of this.blobs.list()) if (!referenced.has(sha)) orphans.push(sha);
    for (const sha of orphans) await this.blobs.remove(sha);
    return { tempsRemoved, orphansRemoved: orphans.length };
  }

  /**
   * Stores `body` as (bucket, key) at `version`. The record is applied last-writer-wins (see
   * MetaStore.apply): a stale version stores nothing and returns `applied: false`.
   */
  async put(
    bucket: bigint,
    key: string,
    token: bigint,
    body: Readable | AsyncIterable<Uint8Array>,
    opts: PutOptions & { version: bigint; contentType?: string; cluster?: number },
  ): Promise<WriteResult> {
    let guarded: string | undefined;
    const guard = async (sha: string) => {
      guarded = sha;
      this.committing.set(sha, (this.committing.get(sha) ?? 0) + 1);
      // A removal of this very content that started before: let it finish, then store the blob anew.
      await this.removing.get(sha);
    };
    try {
      const info = await this.blobs.put(body, {
        maxBytes: opts.maxBytes,
        expectedSha256: opts.expectedSha256,
        onDigest: guard,
      });
      const sha = info.sha256;
      const record: ObjectRecord = {
        bucket,
        key,
        version: opts.version,
        sha256: sha,
        size: info.size,
        root: info.root,
        leaves: info.leaves,
        deleted: false,
        token,
        updatedAt: this.now(),
        contentType: opts.contentType ?? DEFAULT_CONTENT_TYPE,
        ...(opts.cluster === undefined ? {} : { cluster: opts.cluster }),
      };
      if (this.signReceipt !== undefined) record.receipt = await this.signReceipt(record);
      await this.failpoint?.("before-commit");
      const { applied, previous } = this.meta.apply(record);
      // Whatever happens next, the replaced blob is garbage once committed.
      if (!applied) this.garbage.add(sha);
      else if (previous !== undefined && !previous.deleted && previous.sha256 !== sha) {
        this.garbage.add(previous.sha256);
      }
      await this.failpoint?.("after-commit");
      return { ...record, applied };
    } catch (e) {
      // Unreferenced unless the commit happened: collect() checks.
      if (guarded !== undefined) this.garbage.add(guarded);
      throw e;
    } finally {
      if (guarded !== undefined) {
        const n = (this.committing.get(guarded) ?? 1) - 1;
        if (n === 0) this.committing.delete(guarded);
        else this.committing.set(guarded, n);
      }
      await this.collect();
    }
  }

  /** Writes a tombstone for (bucket, key) at `version`; the blob goes once nothing references it. */
  async delete(bucket: bigint, key: string, token: bigint, version: bigint, cluster?: number): Promise<WriteResult> {
    const record: ObjectRecord = {
      bucket,
      key,
      version,
      sha256: "",
      size: 0,
      root: "",
      leaves: [],
      deleted: true,
      token,
      updatedAt: this.now(),
      ...(cluster === undefined ? {} : { cluster }),
    };
    const { applied, previous } = this.meta.apply(record);
    if (applied && previous !== undefined && !previous.deleted) {
      this.garbage.add(previous.sha256);
      await this.collect();
    }
    return { ...record, applied };
  }

  /**
   * Removes the garbage blobs still unreferenced. A blob a put is about to commit (its digest
   * known) is skipped: the put adds it back if its row does not win.
   */
  private async collect(): Promise<void> {
    const work: Promise<void>[] = [];
    for (const sha of [...this.garbage]) {
      this.garbage.delete(sha);
      if (this.removing.has(sha) || this.committing.has(sha) || this.meta.refCount(sha) > 0) continue;
      this.verified.drop(sha);
      // Registered before any await: a put reaching this digest from now on waits for the end.
      const removal = this.blobs
        .remove(sha)
        .catch(() => {
          this.garbage.add(sha);
        })
        .finally(() => this.removing.delete(sha));
      this.removing.set(sha, removal);
      work.push(removal);
    }
    await Promise.all(work);
  }

  /** Blobs waiting for removal. */
  get pendingRemovals(): number {
    return this.garbage.size + this.removing.size;
  }

  private checkRange(record: ObjectRecord, start: number, end: number): void {
    if (record.deleted) throw new NotFoundError(`object ${record.key}`);
    const ok =
      Number.isSafeInteger(start) &&
      Number.isSafeInteger(end) &&
      start >= 0 &&
      (end === start - 1 || (start <= end && end < record.size));
    if (!ok) throw new RangeNotSatisfiableError(start, end, record.size);
  }

  /** Quarantines a bad blob, records it, queues a repair of every object using it, tells the node. */
  private async corrupt(record: ObjectRecord, detail: string): Promise<IntegrityError> {
    const sha = record.sha256;
    this.verified.drop(sha);
    const at = this.now();
    const users = this.meta.bySha256(sha);
    if (users.length === 0) users.push(record);
    let moved = false;
    if (detail !== "missing") {
      try {
        await this.blobs.quarantine(sha);
        moved = true;
      } catch (e) {
        // Another reader quarantined it first.
        if (!(e instanceof NotFoundError)) throw e;
      }
    }
    if (moved) this.meta.recordQuarantine(sha, at, detail);
    for (const u of users) {
      this.meta.enqueueRepair({ bucket: u.bucket, key: u.key, version: u.version, sha256: sha, reason: detail }, at);
    }
    this.onCorrupt?.({
      sha256: sha,
      detail,
      objects: users.map((u) => ({ bucket: u.bucket, key: u.key, version: u.version })),
    });
    return new IntegrityError(sha, detail);
  }

  /**
   * The blob of `record` is not there. If the row changed meanwhile (an overwrite or a delete
   * committed and collected the old blob, or a put of this content is removing and storing it
   * again), the reader raced a write: an {@link ObjectChangedError}, nothing quarantined or
   * repaired. Otherwise the current row's blob is gone: handled as a corruption ("missing").
   */
  private async missing(record: ObjectRecord): Promise<StoreError> {
    const now = this.meta.get(record.bucket, record.key);
    if (
      now === undefined ||
      now.deleted ||
      now.version !== record.version ||
      now.sha256 !== record.sha256 ||
      this.removing.has(record.sha256) ||
      this.committing.has(record.sha256)
    )
      return new ObjectChangedError(record.bucket, record.key);
    return this.corrupt(record, "missing");
  }

  /**
   * Bytes start..end (inclusive) of an object, checked against its Merkle leaves (the covering
   * leaves are read and hashed whole). `end = start - 1` reads nothing. A blob read whole and
   * checked before may come from {@link verified} instead.
   */
  async read(record: ObjectRecord, start: number, end: number): Promise<Buffer> {
    this.checkRange(record, start, end);
    if (end < start) return Buffer.alloc(0);
    const cacheable = record.size <= this.verified.maxBlobBytes;
    const kept = cacheable ? this.verified.get(record.sha256) : undefined;
    if (kept !== undefined && kept.length === record.size) return kept.subarray(start, end + 1);
    const generation = this.verified.generation;
    const first = Math.floor(start / LEAF_BYTES);
    const last = Math.floor(end / LEAF_BYTES);
    const from = first * LEAF_BYTES;
    const to = Math.min((last + 1) * LEAF_BYTES, record.size) - 1;
    let bytes: Buffer;
    try {
      bytes = await this.blobs.read(record.sha256, from, to);
    } catch (e) {
      if (e instanceof NotFoundError) throw await this.missing(record);
      throw e;
    }
    if (bytes.length !== to - from + 1) throw await this.corrupt(record, "truncated");
    for (let i = first; i <= last; i++) {
      const chunk = bytes.subarray((i - first) * LEAF_BYTES, (i - first + 1) * LEAF_BYTES);
      if (!leafHashesEqual(hashLeaf(chunk, nodeSha256), record.leaves[i]))
        throw await this.corrupt(record, `leaf ${i}`);
    }
    if (cacheable && from === 0 && bytes.length === record.size) this.verified.set(record.sha256, bytes, generation);
    return bytes.subarray(start - from, end - from + 1);
  }

  /**
   * The same as a stream: each leaf is read, checked and only then pushed; a bad leaf destroys
   * the stream with an IntegrityError, so none of its bytes go out.
   */
  stream(record: ObjectRecord, start: number, end: number): Readable {
    this.checkRange(record, start, end);
    return Readable.from(
      (async function* (self: ObjectStore) {
        if (end < start) return;
        const first = Math.floor(start / LEAF_BYTES);
        const last = Math.floor(end / LEAF_BYTES);
        const from = first * LEAF_BYTES;
        const to = Math.min((last + 1) * LEAF_BYTES, record.size) - 1;
        let leaf = first;
        let pending: Buffer[] = [];
        let pendingBytes = 0;
        const leafEnd = (i: number) => Math.min((i + 1) * LEAF_BYTES, record.size);
        const check = async function* (chunk: Buffer) {
          if (!leafHashesEqual(hashLeaf(chunk, nodeSha256), record.leaves[leaf])) {
            throw await self.corrupt(record, `leaf ${leaf}`);
          }
          const base = leaf * LEAF_BYTES;
          const lo = Math.max(start, base) - base;
          const hi = Math.min(end + 1, base + chunk.length) - base;
          yield chunk.subarray(lo, hi);
          leaf++;
        };
        try {
          for await (const raw of self.blobs.stream(record.sha256, from, to) as AsyncIterable<Buffer>) {
            let piece = raw;
            while (piece.length > 0) {
              const leafSize = leafEnd(leaf) - leaf * LEAF_BYTES;
              const take = piece.subarray(0, leafSize - pendingBytes);
              pending.push(take);
              pendingBytes += take.length;
              piece = piece.subarray(take.length);
              if (pendingBytes === leafSize) {
                const chunk = Buffer.concat(pending);
                pending = [];
                pendingBytes = 0;
                yield* check(chunk);
              }
            }
          }
        } catch (e) {
          if (e instanceof NotFoundError && !(e instanceof ObjectChangedError)) throw await self.missing(record);
          throw e;
        }
        if (leaf <= last) throw await self.corrupt(record, "truncated");
      })(this),
      { objectMode: false },
    );
  }

  /**
   * Re-hashes every referenced blob whole against its SHA-256 and size; a bad one is handled as
   * a bad read is. Stops early when `signal` aborts; `onProgress(done, total)` after each blob.
   */
  async scrub(
    opts: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<{ checked: number; corrupt: number }> {
    let checked = 0;
    let corrupt = 0;
    const blobs = this.meta.referencedBlobs();
    let done = 0;
    for (const sha of blobs) {
      if (done > 0) opts.onProgress?.(done, blobs.size);
      done++;
      if (opts.signal?.aborted) break;
      const record = this.meta.bySha256(sha)[0];
      if (record === undefined) continue;
      const hasher = new LeafHasher(nodeSha256);
      let detail: string | undefined;
      try {
        // One byte past the recorded size, to see a blob that grew.
        for await (const chunk of this.blobs.stream(sha, 0, record.size) as AsyncIterable<Buffer>) {
          hasher.update(chunk);
        }
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
        detail = "missing";
      }
      if (detail === undefined) {
        const d = hasher.final();
        if (d.size !== record.size) detail = d.size < record.size ? "truncated" : "oversized";
        else if (d.sha256 !== sha) detail = "digest";
      }
      checked++;
      if (detail !== undefined) {
        corrupt++;
        await this.corrupt(record, detail);
      }
    }
    opts.onProgress?.(done, blobs.size);
    return { checked, corrupt };
  }
}
