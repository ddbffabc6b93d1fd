import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { ErrorCode } from "./protocol";
import type { EraUsage, NodeStore, ObjectRecord, PutOptions, StoredSnapshot } from "./ports";
import { LeafHasher, leafHashes, merkleRoot, toHex, type Sha256Factory } from "./store/merkle";

const sha: Sha256Factory = () => createHash("sha256") as never;

function coded(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/**
 * A {@link NodeStore} in memory: nothing persists. For tests and for trying the API; the node
 * runs on the SQLite metadata and blob stores. `corrupt()` flips a stored byte, as a failing disk
 * would, to exercise the integrity checks.
 */
export class MemoryNodeStore implements NodeStore {
  private readonly objects = new Map<
    bigint,
    Map<string, { record: ObjectRecord; data: Buffer; leaves: Uint8Array[] }>
  >();
  private readonly usageRows = new Map<string, EraUsage>();
  private quarantine = 0;
  closed = false;

  get(bucket: bigint, key: string): ObjectRecord | undefined {
    return this.objects.get(bucket)?.get(key)?.record;
  }

  async put(bucket: bigint, key: string, _token: bigint, body: Readable, o: PutOptions): Promise<ObjectRecord> {
    const hasher = new LeafHasher(sha);
    const parts: Buffer[] = [];
    for await (const chunk of body) {
      const b = chunk as Buffer;
      if (hasher.size + b.length > o.maxBytes) {
        body.destroy();
        throw coded(ErrorCode.TooLarge, `body exceeds ${o.maxBytes} bytes`);
      }
      hasher.update(b);
      parts.push(b);
    }
    const d = hasher.final();
    if (d.sha256 !== o.expectedSha256) {
      throw coded(ErrorCode.DigestMismatch, `body sha256 is ${d.sha256}, expected ${o.expectedSha256}`);
    }
    const record: ObjectRecord = {
      bucket,
      key,
      version: o.version,
      size: d.size,
      sha256: d.sha256,
      root: toHex(merkleRoot(d.leaves, sha)),
      deleted: false,
    };
    const old = this.get(bucket, key);
    if (old === undefined || old.version < o.version)
      this.row(bucket).set(key, { record, data: Buffer.concat(parts), leaves: d.leaves });
    return record;
  }

  delete(bucket: bigint, key: string, _token: bigint, version: bigint): ObjectRecord {
    const record: ObjectRecord = { bucket, key, version, size: 0, sha256: "", root: "", deleted: true };
    const old = this.get(bucket, key);
    if (old === undefined || old.version < version)
      this.row(bucket).set(key, { record, data: Buffer.alloc(0), leaves: [] });
    return record;
  }

  async read(record: ObjectRecord, start: number, end: number): Promise<Buffer> {
    const o = this.objects.get(record.bucket)?.get(record.key);
    if (o === undefined || o.record.version !== record.version) throw coded(ErrorCode.NotFound, "object not found");
    // Checked like the blob store does: every leaf the range touches.
    const fresh = leafHashes(o.data, sha);
    const first = Math.floor(start / 65536);
    const last = Math.max(first, Math.ceil(end / 65536) - 1);
    for (let i = first; i <= last; i++) {
      if (toHex(fresh[i]) !== toHex(o.leaves[i])) {
        this.quarantine++;
        throw coded(ErrorCode.Quarantined, `blob ${record.sha256} is corrupt (leaf ${i}): quarantined`);
      }
    }
    return o.data.subarray(start, end);
  }

  stream(record: ObjectRecord, start: number, end: number): Readable {
    return Readable.from(
      (async function* (self: MemoryNodeStore) {
        yield await self.read(record, start, end);
      })(this),
    );
  }

  async leaves(record: ObjectRecord): Promise<Uint8Array[]> {
    return this.objects.get(record.bucket)?.get(record.key)?.leaves ?? [];
  }

  list(bucket: bigint, o: { prefix?: string; startAfter?: string; limit: number }): ObjectRecord[] {
    return [...(this.objects.get(bucket)?.values() ?? [])]
      .map((e) => e.record)
      .filter(
        (r) => !r.deleted && r.key.startsWith(o.prefix ?? "") && (o.startAfter === undefined || r.key > o.startAfter),
      )
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, o.limit);
  }

  storedBytes(bucket: bigint): number {
    return this.list(bucket, { limit: Number.MAX_SAFE_INTEGER }).reduce((n, r) => n + r.size, 0);
  }

  manifest(bucket: bigint): { key: string; version: bigint; sha256: string }[] {
    return this.list(bucket, { limit: Number.MAX_SAFE_INTEGER }).map((r) => ({
      key: r.key,
      version: r.version,
      sha256: r.sha256,
    }));
  }

  buckets(): bigint[] {
    return [...this.objects.keys()];
  }

  addUsage(bucket: bigint, era: number, servedBytes: number, requests: number): void {
    const k = `${bucket}:${era}`;
    const u = this.usageRows.get(k) ?? { servedBytes: 0, requests: 0 };
    this.usageRows.set(k, { ...u, servedBytes: u.servedBytes + servedBytes, requests: u.requests + requests });
    if (!this.objects.has(bucket)) this.objects.set(bucket, new Map());
  }

  usage(bucket: bigint, era: number): EraUsage | undefined {
    return this.usageRows.get(`${bucket}:${era}`);
  }

  closeEra(bucket: bigint, era: number, snapshot: StoredSnapshot): void {
    const k = `${bucket}:${era}`;
    const u = this.usageRows.get(k) ?? { servedBytes: 0, requests: 0 };
    if (u.stored === undefined) this.usageRows.set(k, { ...u, stored: snapshot });
  }

  health(): { quarantined: number; repairs: number; hints: number } {
    if (this.closed) throw new Error("the store is closed");
    return { quarantined: this.quarantine, repairs: this.quarantine, hints: 0 };
  }

  async scrub(onProgress?: (done: number, total: number) => void): Promise<{ checked: number; corrupt: number }> {
    const all = [...this.objects.values()].flatMap((m) => [...m.values()]).filter((e) => !e.record.deleted);
    let corrupt = 0;
    for (const [i, e] of all.entries()) {
      try {
        await this.read(e.record, 0, e.record.size);
      } catch {
        corrupt++;
      }
      onProgress?.(i + 1, all.length);
    }
    return { checked: all.length, corrupt };
  }

  /** Flips one stored byte of an object (a failing disk, for tests). */
  corrupt(bucket: bigint, key: string, at = 0): void {
    const o = this.objects.get(bucket)?.get(key);
    if (o === undefined || o.data.length === 0) throw new Error(`no content at ${bucket}/${key}`);
    o.data = Buffer.from(o.data);
    o.data[at] ^= 0xff;
  }

  close(): void {
    this.closed = true;
  }

  private row(bucket: bigint) {
    let m = this.objects.get(bucket);
    if (m === undefined) this.objects.set(bucket, (m = new Map()));
    return m;
  }
}
