import { createHash } from "node:crypto";
import { openSync, readSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { existsSync } from "node:fs";
import { expect } from "chai";
import { ErrorCode, LEAF_BYTES } from "../../../storage-node/src/protocol";
import { FsBlobStore } from "../../../storage-node/src/store/blobs";
import { ObjectChangedError, type StoreError } from "../../../storage-node/src/store/errors";
import { MetaStore } from "../../../storage-node/src/store/meta";
import { ObjectStore, type CorruptionEvent } from "../../../storage-node/src/store/objects";
import { tempDir } from "../../helpers/temp";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const NOW = 1_700_000_000_000;

function content(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 131 + seed * 17) & 0xff;
  return b;
}

async function rejection(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    return e as StoreError;
  }
  throw new Error("expected a rejection");
}

/** Flips one bit of a file in place. */
function flipByte(path: string, at: number): void {
  const fd = openSync(path, "r+");
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0] ^= 0x01;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}

function setup() {
  const dir = tempDir("objects");
  const blobs = new FsBlobStore(join(dir, "data"));
  const meta = new MetaStore(join(dir, "meta.sqlite"));
  const corrupt: CorruptionEvent[] = [];
  const store = new ObjectStore(blobs, meta, { now: () => NOW, onCorrupt: (e) => corrupt.push(e) });
  return { dir, blobs, meta, store, corrupt };
}

describe("storage-node/store/objects: ObjectStore", () => {
  it("put stores the blob and the row; read and stream return checked ranges", async () => {
    const { store, meta, blobs } = setup();
    await store.open();
    const data = content(3 * LEAF_BYTES + 10);
    const r = await store.put(7n, "a/b.txt", 42n, Readable.from([data]), { version: 1n, maxBytes: 1 << 20 });
    expect(r.applied).to.equal(true);
    expect(r.sha256).to.equal(sha256(data));
    expect(r.size).to.equal(data.length);
    expect(r.leaves).to.have.length(4);
    const row = meta.get(7n, "a/b.txt")!;
    expect(row.version).to.equal(1n);
    expect(row.token).to.equal(42n);
    expect(row.root).to.equal(r.root);
    expect(await blobs.has(r.sha256)).to.equal(true);
    expect(await store.read(row, 0, data.length - 1)).to.deep.equal(data);
    expect(await store.read(row, LEAF_BYTES - 3, LEAF_BYTES + 3)).to.deep.equal(
      data.subarray(LEAF_BYTES - 3, LEAF_BYTES + 4),
    );
    expect(await store.read(row, data.length - 1, data.length - 1)).to.deep.equal(data.subarray(data.length - 1));
    expect(await store.read(row, 5, 4)).to.deep.equal(Buffer.alloc(0));
    for (const [s, e] of [
      [0, data.length - 1],
      [1, 2],
      [LEAF_BYTES - 1, 2 * LEAF_BYTES],
      [3 * LEAF_BYTES, 3 * LEAF_BYTES + 9],
    ]) {
      const parts: Buffer[] = [];
      for await (const c of store.stream(row, s, e)) parts.push(c as Buffer);
      expect(Buffer.concat(parts)).to.deep.equal(data.subarray(s, e + 1));
    }
  });

  it("rejects ranges outside the object and reads of a tombstone", async () => {
    const { store } = setup();
    await store.open();
    const r = await store.put(1n, "k", 0n, Readable.from([Buffer.from("hello")]), { version: 1n, maxBytes: 100 });
    expect(() => store.stream(r, 0, 5)).to.throw("range 0-5 is outside an object of 5 bytes");
    const e = await rejection(store.read(r, 4, 2));
    expect(e.code).to.equal(ErrorCode.RangeNotSatisfiable);
    expect((await rejection(store.read(r, -1, 2))).code).to.equal(ErrorCode.RangeNotSatisfiable);
    const t = await store.delete(1n, "k", 0n, 2n);
    expect((await rejection(store.read(t, 0, 0))).code).to.equal(ErrorCode.NotFound);
  });

  it("replacing and deleting remove a blob once no row references it; a stale version stores nothing", async () => {
    const { store, meta, blobs } = setup();
    await store.open();
    const a = Buffer.from("version one");
    const b = Buffer.from("version two");
    await store.put(1n, "x", 0n, Readable.from([a]), { version: 1n, maxBytes: 100 });
    await store.put(1n, "shared", 0n, Readable.from([a]), { version: 1n, maxBytes: 100 });
    expect(meta.refCount(sha256(a))).to.equal(2);
    const r2 = await store.put(1n, "x", 0n, Readable.from([b]), { version: 2n, maxBytes: 100 });
    expect(r2.applied).to.equal(true);
    // Still referenced by "shared".
    expect(await blobs.has(sha256(a))).to.equal(true);
    const stale = await store.put(1n, "x", 0n, Readable.from([Buffer.from("stale")]), { version: 1n, maxBytes: 100 });
    expect(stale.applied).to.equal(false);
    expect(await blobs.has(sha256(Buffer.from("stale")))).to.equal(false);
    expect(meta.get(1n, "x")!.sha256).to.equal(sha256(b));
    const d = await store.delete(1n, "shared", 0n, 2n);
    expect(d.applied).to.equal(true);
    expect(await blobs.has(sha256(a))).to.equal(false);
    expect(meta.get(1n, "shared")!.deleted).to.equal(true);
    expect((await store.delete(1n, "shared", 0n, 1n)).applied).to.equal(false);
    await store.delete(1n, "x", 0n, 3n);
    expect(await blobs.has(sha256(b))).to.equal(false);
    expect(store.pendingRemovals).to.equal(0);
  });

  it("a body past maxBytes or with the wrong digest stores neither blob nor row", async () => {
    const { store, meta, blobs } = setup();
    await store.open();
    const e1 = await rejection(
      store.put(1n, "k", 0n, Readable.from([Buffer.alloc(101)]), { version: 1n, maxBytes: 100 }),
    );
    expect(e1.code).to.equal(ErrorCode.TooLarge);
    const e2 = await rejection(
      store.put(1n, "k", 0n, Readable.from([Buffer.from("abc")]), {
        version: 1n,
        maxBytes: 100,
        expectedSha256: "00".repeat(32),
      }),
    );
    expect(e2.code).to.equal(ErrorCode.DigestMismatch);
    expect(meta.get(1n, "k")).to.equal(undefined);
    const left: string[] = [];
    for await (const s of blobs.list()) left.push(s);
    expect(left).to.deep.equal([]);
  });

  it("open() removes blobs no row references and leftover temporaries", async () => {
    const { store, blobs } = setup();
    await store.open();
    const kept = await store.put(1n, "k", 0n, Readable.from([Buffer.from("kept")]), { version: 1n, maxBytes: 100 });
    const orphan = await blobs.put(Readable.from([Buffer.from("orphan")]), { maxBytes: 100 });
    const { writeFileSync } = await import("node:fs");
    writeFileSync(join(blobs.dir, "tmp", "leftover"), "x");
    expect(await store.open()).to.deep.equal({ tempsRemoved: 1, orphansRemoved: 1 });
    expect(await blobs.has(orphan.sha256)).to.equal(false);
    expect(await blobs.has(kept.sha256)).to.equal(true);
  });

  it("a put that never ends holds back no removal of another content", async () => {
    const { store, blobs } = setup();
    await store.open();
    const a = Buffer.from("victim content A");
    await store.put(1n, "a", 1n, Readable.from([a]), { version: 1n, maxBytes: 1 << 20 });
    const slow = new PassThrough();
    slow.write("x");
    const pending = store.put(2n, "slow", 2n, slow, { version: 1n, maxBytes: 1 << 20 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    await store.delete(1n, "a", 1n, 2n);
    expect(existsSync(blobs.pathOf(sha256(a)))).to.equal(false);
    expect(store.pendingRemovals).to.equal(0);
    slow.end();
    expect((await pending) as { applied: boolean }).to.include({ applied: true });
  });

  it("a put of a content being removed stores it anew: the row never points at a missing blob", async () => {
    const { store, blobs, meta } = setup();
    await store.open();
    const a = Buffer.from("shared content");
    await store.put(1n, "a", 1n, Readable.from([a]), { version: 1n, maxBytes: 1 << 20 });
    // The delete starts removing the blob; a put of the same content reaches its digest meanwhile.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const remove = blobs.remove.bind(blobs);
    blobs.remove = async (sha: string) => {
      await gate;
      return remove(sha);
    };
    const deleting = store.delete(1n, "a", 1n, 2n);
    const putting = store.put(2n, "b", 2n, Readable.from([a]), { version: 1n, maxBytes: 1 << 20 });
    await new Promise((r) => setTimeout(r, 20));
    release();
    await deleting;
    await putting;
    expect(existsSync(blobs.pathOf(sha256(a)))).to.equal(true);
    const row = meta.get(2n, "b")!;
    expect((await store.read(row, 0, a.length - 1)).equals(a)).to.equal(true);
  });

  it("a read racing an overwrite is an ObjectChangedError (not-found): nothing quarantined or repaired", async () => {
    const { store, meta, corrupt } = setup();
    await store.open();
    await store.put(1n, "c", 1n, Readable.from([Buffer.from("old c")]), { version: 10n, maxBytes: 1 << 20 });
    const rec = meta.get(1n, "c")!;
    await store.put(1n, "c", 1n, Readable.from([Buffer.from("new c")]), { version: 11n, maxBytes: 1 << 20 });
    const e = await rejection(store.read(rec, 0, rec.size - 1));
    expect(e).to.be.instanceOf(ObjectChangedError);
    expect(e.code).to.equal(ErrorCode.NotFound);
    const s = await rejection(
      (async () => {
        for await (const _ of store.stream(rec, 0, rec.size - 1)) void _;
      })(),
    );
    expect(s).to.be.instanceOf(ObjectChangedError);
    expect(corrupt).to.deep.equal([]);
    expect(meta.quarantinedBlobs()).to.deep.equal([]);
    expect(meta.dueRepairs(NOW + 1, 10)).to.deep.equal([]);
    // The blob of the current row gone: that is a corruption ("missing"), repaired.
    const cur = meta.get(1n, "c")!;
    await store.blobs.remove(cur.sha256);
    expect((await rejection(store.read(cur, 0, cur.size - 1))).code).to.equal(ErrorCode.Quarantined);
    expect(corrupt.map((c) => c.detail)).to.deep.equal(["missing"]);
  });

  it("keeps small blobs read and checked in memory, bounded in bytes; the scrub still reads the disk and drops a bad one", async () => {
    const dir = tempDir("objects-verified");
    const blobs = new FsBlobStore(join(dir, "data"));
    const meta = new MetaStore(join(dir, "meta.sqlite"));
    const store = new ObjectStore(blobs, meta, { now: () => NOW, verifiedCacheBytes: 2500 });
    await store.open();
    const small = [1, 2, 3].map((seed) => content(1000, seed));
    for (const [i, b] of small.entries()) {
      await store.put(1n, `s${i}`, 1n, Readable.from([b]), { version: 1n, maxBytes: 1 << 20 });
    }
    const big = content(LEAF_BYTES + 1, 9);
    await store.put(1n, "big", 1n, Readable.from([big]), { version: 1n, maxBytes: 1 << 20 });
    expect(store.verified.size).to.equal(0);
    // Read, checked, kept; a range of a kept blob is served from memory too.
    const s0 = meta.get(1n, "s0")!;
    expect((await store.read(s0, 0, 999)).equals(small[0])).to.equal(true);
    expect(store.verified.size).to.equal(1);
    expect((await store.read(s0, 10, 19)).equals(small[0].subarray(10, 20))).to.equal(true);
    // A blob of more than one leaf is never kept; the bound holds (the least recently used goes).
    await store.read(meta.get(1n, "big")!, 0, big.length - 1);
    await store.read(meta.get(1n, "s1")!, 0, 999);
    await store.read(meta.get(1n, "s2")!, 0, 999);
    expect(store.verified.size).to.equal(2);
    expect(store.verified.bytes).to.equal(2000);
    expect(store.verified.get(s0.sha256)).to.equal(undefined);
    // A disk going bad under a kept blob: reads still serve the checked copy (the right bytes)...
    const s2 = meta.get(1n, "s2")!;
    flipByte(blobs.pathOf(s2.sha256), 5);
    expect((await store.read(s2, 0, 999)).equals(small[2])).to.equal(true);
    // ...until the scrub, which reads the disk, finds it, quarantines it and drops the copy.
    expect(await store.scrub()).to.deep.equal({ checked: 4, corrupt: 1 });
    expect(store.verified.get(s2.sha256)).to.equal(undefined);
    expect((await rejection(store.read(s2, 0, 999))).code).to.equal(ErrorCode.Quarantined);
    meta.close();
  });

  it("keeps a larger blob when the cache's per-blob bound allows, only once read whole, and serves its ranges from memory", async () => {
    const dir = tempDir("objects-verified-large");
    const blobs = new FsBlobStore(join(dir, "data"));
    const meta = new MetaStore(join(dir, "meta.sqlite"));
    const size = 3 * LEAF_BYTES + 7;
    const store = new ObjectStore(blobs, meta, {
      now: () => NOW,
      verifiedCacheBytes: 2 * size,
      verifiedCacheMaxBlobBytes: size,
    });
    await store.open();
    const data = content(size, 4);
    const larger = content(size + 1, 5);
    await store.put(1n, "a", 1n, Readable.from([data]), { version: 1n, maxBytes: 1 << 20 });
    await store.put(1n, "b", 1n, Readable.from([larger]), { version: 1n, maxBytes: 1 << 20 });
    const a = meta.get(1n, "a")!;
    // A range read hashes only its leaves and keeps nothing.
    expect(
      (await store.read(a, LEAF_BYTES, LEAF_BYTES + 9)).equals(data.subarray(LEAF_BYTES, LEAF_BYTES + 10)),
    ).to.equal(true);
    expect(store.verified.size).to.equal(0);
    expect((await store.read(a, 0, size - 1)).equals(data)).to.equal(true);
    expect(store.verified.bytes).to.equal(size);
    // Above the per-blob bound: never kept.
    expect((await store.read(meta.get(1n, "b")!, 0, size)).equals(larger)).to.equal(true);
    expect(store.verified.size).to.equal(1);
    // The disk goes bad under the kept copy: ranges still come from the checked copy...
    flipByte(blobs.pathOf(a.sha256), 2 * LEAF_BYTES + 3);
    const tail = await store.read(a, 2 * LEAF_BYTES, size - 1);
    expect(tail.equals(data.subarray(2 * LEAF_BYTES))).to.equal(true);
    // ...until the scrub drops it with the quarantine.
    expect(await store.scrub()).to.deep.equal({ checked: 2, corrupt: 1 });
    expect(store.verified.size).to.equal(0);
    expect((await rejection(store.read(a, 0, 9))).code).to.equal(ErrorCode.Quarantined);
    meta.close();
  });

  describe("corruption", () => {
    async function corrupted() {
      const s = setup();
      await s.store.open();
      const data = content(3 * LEAF_BYTES + 10);
      await s.store.put(9n, "photo", 5n, Readable.from([data]), { version: 3n, maxBytes: 1 << 20 });
      const row = s.meta.get(9n, "photo")!;
      // One bit in leaf 1.
      flipByte(s.blobs.pathOf(row.sha256), LEAF_BYTES + 100);
      return { ...s, data, row };
    }

    function expectQuarantined(s: Awaited<ReturnType<typeof corrupted>>, detail: string) {
      expect(s.meta.quarantinedBlobs()).to.deep.equal([{ sha256: s.row.sha256, at: NOW, reason: detail }]);
      expect(s.meta.dueRepairs(NOW, 10)).to.deep.equal([
        { bucket: 9n, key: "photo", version: 3n, sha256: s.row.sha256, reason: detail, attempts: 0, nextAt: NOW },
      ]);
      expect(s.corrupt).to.deep.equal([
        { sha256: s.row.sha256, detail, objects: [{ bucket: 9n, key: "photo", version: 3n }] },
      ]);
    }

    it("read of a range covering a bad leaf throws quarantined, quarantines the blob and queues a repair", async () => {
      const s = await corrupted();
      // A range in leaf 0 only is still good.
      expect(await s.store.read(s.row, 0, 99)).to.deep.equal(s.data.subarray(0, 100));
      const e = await rejection(s.store.read(s.row, LEAF_BYTES + 200, LEAF_BYTES + 300));
      expect(e.code).to.equal(ErrorCode.Quarantined);
      expect(e.message).to.equal(`blob ${s.row.sha256} is corrupt (leaf 1): quarantined`);
      expect(await s.blobs.has(s.row.sha256)).to.equal(false);
      const q = await s.blobs.quarantined();
      expect(q).to.have.length(1);
      expect(q[0].startsWith(`${s.row.sha256}.`)).to.equal(true);
      expectQuarantined(s, "leaf 1");
      // Later reads fail the same way: the blob is gone, a repair is queued (once).
      const again = await rejection(s.store.read(s.row, 0, 10));
      expect(again.code).to.equal(ErrorCode.Quarantined);
      expect(s.meta.dueRepairs(NOW, 10)).to.have.length(1);
    });

    it("stream sends the good leaves before the bad one and none of the bad leaf's bytes", async () => {
      const s = await corrupted();
      const got: Buffer[] = [];
      let error: StoreError | undefined;
      try {
        for await (const c of s.store.stream(s.row, 10, s.data.length - 1)) got.push(c as Buffer);
      } catch (e) {
        error = e as StoreError;
      }
      expect(error?.code).to.equal(ErrorCode.Quarantined);
      expect(Buffer.concat(got)).to.deep.equal(s.data.subarray(10, LEAF_BYTES));
      expectQuarantined(s, "leaf 1");
    });

    it("a truncated blob is caught by read", async () => {
      const s = await corrupted();
      const { truncateSync } = await import("node:fs");
      truncateSync(s.blobs.pathOf(s.row.sha256), 3 * LEAF_BYTES);
      const e = await rejection(s.store.read(s.row, 3 * LEAF_BYTES, 3 * LEAF_BYTES + 9));
      expect(e.message).to.equal(`blob ${s.row.sha256} is corrupt (truncated): quarantined`);
    });

    it("scrub re-hashes every referenced blob and finds the corrupt one", async () => {
      const s = await corrupted();
      await s.store.put(9n, "other", 6n, Readable.from([Buffer.from("fine")]), { version: 1n, maxBytes: 100 });
      expect(await s.store.scrub()).to.deep.equal({ checked: 2, corrupt: 1 });
      expectQuarantined(s, "digest");
      // Once quarantined, the next scrub reports it missing, not checked anew as good.
      const again = await s.store.scrub();
      expect(again).to.deep.equal({ checked: 2, corrupt: 1 });
      expect(s.corrupt.map((c) => c.detail)).to.deep.equal(["digest", "missing"]);
    });

    it("scrub stops when its signal aborts", async () => {
      const s = await corrupted();
      const ac = new AbortController();
      ac.abort();
      expect(await s.store.scrub({ signal: ac.signal })).to.deep.equal({ checked: 0, corrupt: 0 });
      expect(s.corrupt).to.deep.equal([]);
    });
  });
});
