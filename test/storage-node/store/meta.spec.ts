import { createHash } from "node:crypto";
import { join } from "node:path";
import { expect } from "chai";
import { MetaStore, u64Hex, type ObjectRecord } from "../../../storage-node/src/store/meta";
import { tempDir } from "../../helpers/temp";

const U64_MAX = (1n << 64n) - 1n;
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

function rec(over: Partial<ObjectRecord> & { key: string }): ObjectRecord {
  return {
    bucket: 1n,
    version: 1n,
    sha256: sha(over.key),
    size: 10,
    root: sha(`root:${over.key}`),
    leaves: [Buffer.alloc(32, 1), Buffer.alloc(32, 2)],
    deleted: false,
    token: 0n,
    updatedAt: 1000,
    contentType: "application/octet-stream",
    ...over,
  };
}

const tomb = (over: Partial<ObjectRecord> & { key: string }) =>
  rec({ sha256: "", root: "", leaves: [], size: 0, deleted: true, ...over });

describe("storage-node/store/meta: MetaStore", () => {
  let m: MetaStore;
  beforeEach(() => {
    m = new MetaStore(join(tempDir("meta"), "meta.sqlite"));
  });
  afterEach(() => m.close());

  it("migrates once; WAL and synchronous NORMAL", () => {
    expect(m.schemaVersion).to.equal(7);
    expect(m.db.pragma("journal_mode", { simple: true })).to.equal("wal");
    expect(m.db.pragma("synchronous", { simple: true })).to.equal(1n);
  });

  it("keeps a record with uint64 bucket and token and its leaves", () => {
    const r = rec({ key: "k", bucket: U64_MAX, token: U64_MAX - 1n, version: (1n << 63n) - 1n });
    expect(m.apply(r)).to.deep.equal({ applied: true, previous: undefined });
    expect(m.get(U64_MAX, "k")).to.deep.equal(r);
    expect(m.get(1n, "k")).to.equal(undefined);
    expect(() => m.apply(rec({ key: "x", version: 1n << 63n }))).to.throw(`version out of range: ${1n << 63n}`);
    expect(() => m.apply(rec({ key: "x", bucket: -1n }))).to.throw("not a uint64: -1");
    expect(() => m.apply(rec({ key: "x", token: 1n << 64n }))).to.throw(`not a uint64: ${1n << 64n}`);
    expect(() => m.apply(tomb({ key: "x", sha256: "ab" }))).to.throw("apply: a tombstone has no content");
  });

  it("keeps a row's receipt; a later version or a tombstone drops it; setReceipt needs the same row", () => {
    const v1 = rec({ key: "k", version: 1n, sha256: "aa".repeat(32), receipt: "0x01" });
    m.apply(v1);
    expect(m.get(v1.bucket, "k")?.receipt).to.equal("0x01");
    m.apply(rec({ key: "k", version: 2n, sha256: "bb".repeat(32) }));
    expect(m.get(v1.bucket, "k")?.receipt).to.equal(undefined);
    expect(m.setReceipt(v1.bucket, "k", 1n, "aa".repeat(32), "0x02")).to.equal(false);
    expect(m.setReceipt(v1.bucket, "k", 2n, "bb".repeat(32), "0x03")).to.equal(true);
    expect(m.get(v1.bucket, "k")?.receipt).to.equal("0x03");
    m.apply(tomb({ key: "k", version: 3n }));
    expect(m.get(v1.bucket, "k")?.receipt).to.equal(undefined);
  });

  it("last writer wins: a higher version, at an equal one the larger sha256; tombstones are records", () => {
    const v2 = rec({ key: "k", version: 2n, sha256: "bb".repeat(32) });
    m.apply(v2);
    const older = rec({ key: "k", version: 1n, sha256: "ff".repeat(32) });
    expect(m.apply(older)).to.deep.equal({ applied: false, previous: v2 });
    const smaller = rec({ key: "k", version: 2n, sha256: "aa".repeat(32) });
    expect(m.apply(smaller).applied).to.equal(false);
    expect(m.apply(v2).applied).to.equal(false);
    const larger = rec({ key: "k", version: 2n, sha256: "cc".repeat(32) });
    expect(m.apply(larger)).to.deep.equal({ applied: true, previous: v2 });
    // A tombstone of the same version loses (its sha256 is ""); a newer one wins.
    expect(m.apply(tomb({ key: "k", version: 2n })).applied).to.equal(false);
    const t3 = tomb({ key: "k", version: 3n });
    expect(m.apply(t3)).to.deep.equal({ applied: true, previous: larger });
    expect(m.get(1n, "k")).to.deep.equal(t3);
    expect(m.apply(rec({ key: "k", version: 2n })).applied).to.equal(false);
  });

  it("lists live objects in key order by prefix and page; counts stored bytes and references", () => {
    for (const k of ["b/2", "a", "b/1", "b0", "b/3", "c"])
      m.apply(rec({ key: k, size: k.length, sha256: sha("same") }));
    m.apply(tomb({ key: "b/3", version: 2n }));
    m.apply(rec({ key: "other", bucket: 2n }));
    const keys = (o: Parameters<MetaStore["list"]>[1]) => m.list(1n, o).map((r) => r.key);
    expect(keys({ limit: 100 })).to.deep.equal(["a", "b/1", "b/2", "b0", "c"]);
    expect(keys({ prefix: "b/", limit: 100 })).to.deep.equal(["b/1", "b/2"]);
    expect(keys({ prefix: "b/", startAfter: "b/1", limit: 100 })).to.deep.equal(["b/2"]);
    expect(keys({ prefix: "b/", startAfter: "a", limit: 100 })).to.deep.equal(["b/1", "b/2"]);
    expect(keys({ limit: 2 })).to.deep.equal(["a", "b/1"]);
    expect(keys({ startAfter: "b/1", limit: 2 })).to.deep.equal(["b/2", "b0"]);
    expect(keys({ limit: 0 })).to.deep.equal([]);
    expect(m.storedBytes(1n)).to.equal(1 + 3 + 3 + 2 + 1);
    expect(m.storedBytes(3n)).to.equal(0);
    expect(m.refCount(sha("same"))).to.equal(5);
    expect([...m.manifest(1n, 2)].map((e) => e.key)).to.deep.equal(["a", "b/1", "b/2", "b0", "c"]);
    expect([...m.manifest(1n)][0]).to.deep.equal({
      key: "a",
      version: 1n,
      sha256: sha("same"),
      size: 1,
      root: sha("root:a"),
    });
  });

  it("orders keys by their UTF-8 bytes", () => {
    for (const k of ["é", "z", "Z", "ab"]) m.apply(rec({ key: k }));
    expect(m.list(1n, { limit: 10 }).map((r) => r.key)).to.deep.equal(["Z", "ab", "z", "é"]);
  });

  it("reads a token range in pages, wrapping past the top of the ring", () => {
    const tokens = [0n, 5n, 10n, 10n, U64_MAX - 1n, U64_MAX];
    tokens.forEach((t, i) => m.apply(rec({ key: `k${i}`, token: t })));
    m.apply(tomb({ key: "k1", version: 2n, token: 5n }));
    const keys = (from: bigint, to: bigint, limit = 100) => m.byTokenRange(from, to, { limit }).map((r) => r.key);
    expect(keys(5n, 11n)).to.deep.equal(["k1", "k2", "k3"]);
    expect(keys(5n, 10n)).to.deep.equal(["k1"]);
    expect(keys(U64_MAX - 1n, 6n)).to.deep.equal(["k4", "k5", "k0", "k1"]);
    expect(keys(U64_MAX, 0n)).to.deep.equal(["k5"]);
    expect(keys(7n, 7n)).to.deep.equal(["k2", "k3", "k4", "k5", "k0", "k1"]);
    // Paging resumes after the cursor, in both segments of a wrapping range.
    const pages: string[][] = [];
    let after;
    for (;;) {
      const page = m.byTokenRange(U64_MAX - 1n, 11n, { after, limit: 2 });
      if (page.length === 0) break;
      pages.push(page.map((r) => r.key));
      const last = page[page.length - 1];
      after = { token: last.token, bucket: last.bucket, key: last.key };
    }
    expect(pages).to.deep.equal([
      ["k4", "k5"],
      ["k0", "k1"],
      ["k2", "k3"],
    ]);
  });

  it("range digests agree for equal rows and differ on a version, a tombstone or a row", () => {
    const other = new MetaStore(join(tempDir("meta"), "meta.sqlite"));
    for (const db of [m, other]) {
      db.apply(rec({ key: "a", token: 1n }));
      db.apply(rec({ key: "b", token: 2n, bucket: 5n }));
      db.apply(rec({ key: "out", token: 100n }));
    }
    const d = m.rangeDigest(0n, 10n);
    expect(d.count).to.equal(2);
    expect(other.rangeDigest(0n, 10n)).to.deep.equal(d);
    expect(d.digest).to.equal(
      createHash("sha256")
        .update(`["1","a","1","${sha("a")}",0]\n["5","b","1","${sha("b")}",0]\n`)
        .digest("hex"),
    );
    other.apply(rec({ key: "a", token: 1n, version: 2n }));
    expect(other.rangeDigest(0n, 10n).digest).to.not.equal(d.digest);
    m.apply(rec({ key: "a", token: 1n, version: 2n }));
    expect(other.rangeDigest(0n, 10n)).to.deep.equal(m.rangeDigest(0n, 10n));
    m.apply(tomb({ key: "b", bucket: 5n, token: 2n, version: 2n }));
    expect(other.rangeDigest(0n, 10n).digest).to.not.equal(m.rangeDigest(0n, 10n).digest);
    // Wrapping: [50, 2^64) and [0, 10).
    expect(m.rangeDigest(50n, 10n).count).to.equal(3);
    expect(m.rangeDigest(50n, 2n).count).to.equal(2);
    other.close();
  });

  it("keeps each row's cluster; ranges and digests of a cluster hold its rows only", () => {
    m.apply(rec({ key: "a", token: 1n, bucket: 7n, cluster: 1 }));
    m.apply(rec({ key: "b", token: 2n, bucket: 8n, cluster: 5 }));
    m.apply(rec({ key: "c", token: 3n, bucket: 9n }));
    // A later record without a cluster keeps the row's.
    m.apply(tomb({ key: "a", token: 1n, bucket: 7n, version: 2n }));
    expect(m.get(7n, "a")!.cluster).to.equal(1);
    expect(m.get(9n, "c")!.cluster).to.equal(undefined);
    const keys = (cluster?: number) => m.byTokenRange(0n, 0n, { limit: 100, cluster }).map((r) => r.key);
    expect(keys()).to.deep.equal(["a", "b", "c"]);
    expect(keys(1)).to.deep.equal(["a"]);
    expect(keys(5)).to.deep.equal(["b"]);
    expect(m.rangeDigest(0n, 0n, 5).count).to.equal(1);
    expect(m.rangeDigest(0n, 10n, 1)).to.deep.equal({
      digest: createHash("sha256").update(`["7","a","2","",1]\n`).digest("hex"),
      count: 1,
    });
    // A row without its cluster is in none, until it is recorded.
    expect(m.rangeDigest(0n, 0n, 9).count).to.equal(0);
    expect(m.bucketsWithoutCluster()).to.deep.equal([9n]);
    expect(m.setBucketCluster(9n, 9)).to.equal(1);
    expect(m.bucketsWithoutCluster()).to.deep.equal([]);
    expect(keys(9)).to.deep.equal(["c"]);
  });

  it("nonces: a replay within the window is refused; expired ones are accepted again and pruned", () => {
    expect(m.useNonce("sk", "n1", 200, 100)).to.equal(true);
    expect(m.useNonce("sk", "n1", 300, 150)).to.equal(false);
    expect(m.useNonce("other", "n1", 300, 150)).to.equal(true);
    expect(m.useNonce("sk", "n1", 400, 200)).to.equal(true);
    expect(m.useNonce("sk", "n2", 250, 200)).to.equal(true);
    expect(m.pruneNonces(300)).to.equal(2);
    expect(m.useNonce("sk", "n1", 500, 300)).to.equal(false);
  });

  it("repairs: enqueue keeps the higher version; due, retry, done", () => {
    m.enqueueRepair({ bucket: 1n, key: "k", version: 2n, sha256: "aa", reason: "leaf 1" }, 100);
    m.enqueueRepair({ bucket: 1n, key: "k", version: 1n, sha256: "bb", reason: "older" }, 50);
    m.enqueueRepair({ bucket: 1n, key: "j", version: 1n, sha256: "cc", reason: "missing" }, 300);
    expect(m.dueRepairs(100, 10)).to.deep.equal([
      { bucket: 1n, key: "k", version: 2n, sha256: "aa", reason: "leaf 1", attempts: 0, nextAt: 100 },
    ]);
    m.retryRepair(1n, "k", 400);
    expect(m.dueRepairs(300, 10).map((r) => r.key)).to.deep.equal(["j"]);
    expect(m.dueRepairs(400, 10).map((r) => [r.key, r.attempts])).to.deep.equal([
      ["j", 0],
      ["k", 1],
    ]);
    expect(m.repairDone(1n, "k")).to.equal(true);
    expect(m.repairDone(1n, "k")).to.equal(false);
    expect(m.dueRepairs(1000, 10).map((r) => r.key)).to.deep.equal(["j"]);
  });

  it("hints: per target, the higher version kept; done drops only up to the delivered version", () => {
    m.enqueueHint({ target: 3, bucket: 1n, key: "k", version: 1n, op: "put" }, 100);
    m.enqueueHint({ target: 3, bucket: 1n, key: "k", version: 2n, op: "delete" }, 200);
    m.enqueueHint({ target: 4, bucket: 1n, key: "k", version: 1n, op: "put" }, 100);
    expect(m.dueHints(100, 10)).to.deep.equal([
      { target: 3, bucket: 1n, key: "k", version: 2n, op: "delete", attempts: 0, nextAt: 100 },
      { target: 4, bucket: 1n, key: "k", version: 1n, op: "put", attempts: 0, nextAt: 100 },
    ]);
    expect(m.hintDone(3, 1n, "k", 1n)).to.equal(false);
    m.retryHint(4, 1n, "k", 500);
    expect(m.dueHints(499, 10).map((h) => h.target)).to.deep.equal([3]);
    expect(m.hintDone(3, 1n, "k", 2n)).to.equal(true);
    expect(m.dueHints(1000, 10)).to.deep.equal([
      { target: 4, bucket: 1n, key: "k", version: 1n, op: "put", attempts: 1, nextAt: 500 },
    ]);
  });

  it("usage adds up per bucket and era; quarantined blobs are recorded", () => {
    m.addUsage(2n, 7, 1000, 1);
    m.addUsage(2n, 7, 500, 2);
    m.addUsage(1n, 7, 10, 1);
    m.addUsage(2n, 8, 1, 1);
    expect(m.usage(7)).to.deep.equal([
      { bucket: 1n, era: 7, servedBytes: 10, requests: 1 },
      { bucket: 2n, era: 7, servedBytes: 1500, requests: 3 },
    ]);
    expect(m.usage(9)).to.deep.equal([]);
    m.recordQuarantine("ab", 5, "leaf 0");
    expect(m.quarantinedBlobs()).to.deep.equal([{ sha256: "ab", at: 5, reason: "leaf 0" }]);
  });

  it("keeps an object's content type; a record without one is application/octet-stream", () => {
    m.apply(rec({ key: "typed", contentType: "image/png" }));
    const untyped = rec({ key: "untyped" });
    delete untyped.contentType;
    m.apply(untyped);
    expect(m.get(1n, "typed")?.contentType).to.equal("image/png");
    expect(m.get(1n, "untyped")?.contentType).to.equal("application/octet-stream");
  });

  it("a closed era's stored figures are recorded once, beside its served bytes; buckets and queue counts", () => {
    m.addUsage(2n, 7, 1000, 3);
    expect(m.bucketUsage(2n, 7)).to.deep.equal({ servedBytes: 1000, requests: 3 });
    m.closeEra(2n, 7, { storedBytes: 50, objects: 2, manifestRoot: "0xaa" });
    m.closeEra(2n, 7, { storedBytes: 99, objects: 9, manifestRoot: "0xbb" });
    m.addUsage(2n, 7, 1, 1);
    expect(m.bucketUsage(2n, 7)).to.deep.equal({
      servedBytes: 1001,
      requests: 4,
      stored: { storedBytes: 50, objects: 2, manifestRoot: "0xaa" },
    });
    m.closeEra(3n, 7, { storedBytes: 0, objects: 0, manifestRoot: "0xcc" });
    expect(m.bucketUsage(3n, 7)).to.deep.equal({
      servedBytes: 0,
      requests: 0,
      stored: { storedBytes: 0, objects: 0, manifestRoot: "0xcc" },
    });
    expect(m.bucketUsage(2n, 8)).to.equal(undefined);
    m.apply(rec({ key: "k", bucket: 1n }));
    expect(m.buckets()).to.deep.equal([1n, 2n, 3n]);
    m.recordQuarantine("ab".repeat(32), 1, "leaf 0");
    m.recordQuarantine("ab".repeat(32), 2, "missing");
    m.enqueueRepair({ bucket: 1n, key: "k", version: 1n, sha256: "ab".repeat(32), reason: "leaf 0" }, 1);
    m.enqueueHint({ target: 2, bucket: 1n, key: "k", version: 1n, op: "put" }, 1);
    m.enqueueHint({ target: 3, bucket: 1n, key: "k", version: 1n, op: "put" }, 1);
    expect(m.queueCounts()).to.deep.equal({ quarantined: 1, repairs: 1, hints: 2 });
  });

  it("keeps a closed era's manifest with its figures, once; lists it in key order by page", () => {
    const entries = ["b", "a/1", "é", "Z"]
      .sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
      .map((key, i) => ({ key, version: BigInt(i + 1), sha256: sha(key), size: i * 10, root: sha(`root:${key}`) }));
    expect(entries.map((e) => e.key)).to.deep.equal(["Z", "a/1", "b", "é"]);
    const figures = { storedBytes: 60, objects: 4, manifestRoot: "0xaa" };
    expect(m.closeEra(5n, 3, figures, { entries, keepEras: 8 })).to.equal(true);
    // A second close of the era keeps the first figures and entries.
    const other = [{ key: "x", version: 9n, sha256: sha("x"), size: 1, root: sha("root:x") }];
    expect(
      m.closeEra(5n, 3, { storedBytes: 1, objects: 1, manifestRoot: "0xbb" }, { entries: other, keepEras: 8 }),
    ).to.equal(false);
    expect(m.eraManifest(5n, 3)).to.deep.equal({ objects: 4, manifestRoot: "0xaa" });
    expect(m.bucketUsage(5n, 3)?.stored).to.deep.equal(figures);
    expect(m.eraManifestEntries(5n, 3, { limit: 100 })).to.deep.equal(entries);
    expect(m.eraManifestEntries(5n, 3, { limit: 2 })).to.deep.equal(entries.slice(0, 2));
    expect(m.eraManifestEntries(5n, 3, { startAfter: "a/1", limit: 2 })).to.deep.equal(entries.slice(2, 4));
    expect(m.eraManifestEntries(5n, 3, { startAfter: "é", limit: 2 })).to.deep.equal([]);
    // No manifest kept: another era, another bucket, or figures closed without entries.
    expect(m.eraManifest(5n, 2)).to.equal(undefined);
    expect(m.eraManifest(6n, 3)).to.equal(undefined);
    expect(m.closeEra(6n, 3, { storedBytes: 0, objects: 0, manifestRoot: "0xcc" })).to.equal(true);
    expect(m.eraManifest(6n, 3)).to.equal(undefined);
    // An era closed with no objects keeps an empty manifest.
    expect(
      m.closeEra(7n, 3, { storedBytes: 0, objects: 0, manifestRoot: "0xdd" }, { entries: [], keepEras: 8 }),
    ).to.equal(true);
    expect(m.eraManifest(7n, 3)).to.deep.equal({ objects: 0, manifestRoot: "0xdd" });
    expect(m.eraManifestEntries(7n, 3, { limit: 10 })).to.deep.equal([]);
  });

  it("keeps the manifests of a bucket's last N closed eras: older ones are dropped when a new one is stored", () => {
    const entry = (era: number) => ({ key: `k${era}`, version: 1n, sha256: sha(`${era}`), size: era, root: sha("r") });
    const close = (bucket: bigint, era: number, keepEras: number) =>
      m.closeEra(
        bucket,
        era,
        { storedBytes: era, objects: 1, manifestRoot: `0x${era}` },
        { entries: [entry(era)], keepEras },
      );
    for (const era of [1, 2, 3]) close(1n, era, 3);
    close(2n, 1, 3);
    expect(m.eraManifestEras(1n)).to.deep.equal([1, 2, 3]);
    close(1n, 4, 3);
    expect(m.eraManifestEras(1n)).to.deep.equal([2, 3, 4]);
    expect(m.eraManifest(1n, 1)).to.equal(undefined);
    expect(m.eraManifestEntries(1n, 1, { limit: 10 })).to.deep.equal([]);
    expect(m.eraManifestEntries(1n, 2, { limit: 10 })).to.deep.equal([entry(2)]);
    // Another bucket's manifests are its own; the usage figures of a dropped era stay.
    expect(m.eraManifestEras(2n)).to.deep.equal([1]);
    expect(m.bucketUsage(1n, 1)?.stored).to.deep.equal({ storedBytes: 1, objects: 1, manifestRoot: "0x1" });
    // A smaller N cuts to it at the next era stored.
    close(1n, 5, 1);
    expect(m.eraManifestEras(1n)).to.deep.equal([5]);
    expect(
      (m.db.prepare("SELECT COUNT(*) AS n FROM era_manifest_entries WHERE bucket = ?").get(u64Hex(1n)) as { n: bigint })
        .n,
    ).to.equal(1n);
  });

  it("u64Hex is 16 hex digits", () => {
    expect(u64Hex(255n)).to.equal("00000000000000ff");
    expect(u64Hex(U64_MAX)).to.equal("ffffffffffffffff");
  });
});
