import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

/**
 * The node's metadata (SQLite through better-sqlite3): one row per object (bucket, key) holding
 * its current version or tombstone, and the small queues and tables the server keeps (replay
 * nonces, quarantined blobs, repairs, hinted handoffs, usage per era, era-end manifests).
 *
 * WAL with `synchronous = NORMAL`: a commit survives a crash of the process (SIGKILL); after a
 * power loss the last commits may be missing, which replication and repair make good (a blob
 * without a row is removed by ObjectStore.open()). The schema is versioned by `user_version`:
 * migrations run in order, once, each in a transaction.
 *
 * Integers: BucketId, ring tokens are uint64 and are stored as 16-hex-digit TEXT, so they sort
 * and range-compare as numbers; versions fit 63 bits and are INTEGER; all come back as bigint.
 */

const U64_MAX = (1n << 64n) - 1n;
const I63_MAX = (1n << 63n) - 1n;

/** A uint64 as 16 lowercase hex digits (its sort order is the numeric one). */
export function u64Hex(x: bigint): string {
  if (typeof x !== "bigint" || x < 0n || x > U64_MAX) throw new RangeError(`not a uint64: ${String(x)}`);
  return x.toString(16).padStart(16, "0");
}

function checkVersion(v: bigint): bigint {
  if (typeof v !== "bigint" || v < 0n || v > I63_MAX) throw new RangeError(`version out of range: ${String(v)}`);
  return v;
}

/** An object's row: its current version, or a tombstone (`deleted`, no content). */
export interface ObjectRecord {
  bucket: bigint;
  key: string;
  version: bigint;
  /** Lowercase hex; "" for a tombstone. */
  sha256: string;
  size: number;
  /** Merkle root, lowercase hex; "" for a tombstone. */
  root: string;
  /** Merkle leaf hashes; empty for a tombstone. */
  leaves: Buffer[];
  deleted: boolean;
  /** The key's position on the ring (uint64). */
  token: bigint;
  /** ms since the epoch. */
  updatedAt: number;
  /** The Content-Type it was written with ({@link DEFAULT_CONTENT_TYPE} when none). */
  contentType?: string;
  /**
   * The cluster of the row's bucket, as the writer knew it from the chain; undefined when the writer
   * did not say (see {@link MetaStore.bucketsWithoutCluster}). A stored row keeps its cluster when a
   * later record does not give one.
   */
  cluster?: number;
  /** This node's EIP-712 signature over its receipt for the row; undefined when none was kept. */
  receipt?: string;
}

/** What apply() did: whether the record won, and the row stored before it (if any). */
export interface ApplyResult {
  applied: boolean;
  previous?: ObjectRecord;
}

/** A live object as a listing or a manifest shows it. */
export interface ManifestEntry {
  key: string;
  version: bigint;
  sha256: string;
  size: number;
  /** Merkle root over the content's leaves, lowercase hex. */
  root: string;
}

export interface RepairTask {
  bucket: bigint;
  key: string;
  version: bigint;
  sha256: string;
  reason: string;
  attempts: number;
  nextAt: number;
}

export type HintOp = "put" | "delete";

export interface Hint {
  target: number;
  bucket: bigint;
  key: string;
  version: bigint;
  op: HintOp;
  attempts: number;
  nextAt: number;
}

export interface Usage {
  bucket: bigint;
  era: number;
  servedBytes: number;
  requests: number;
}

/** The stored figures of a bucket at the end of an era. */
export interface StoredFigures {
  storedBytes: number;
  objects: number;
  /** 0x + 64 hex. */
  manifestRoot: string;
}

/** One bucket's usage in one era. */
export interface BucketEraUsage {
  servedBytes: number;
  requests: number;
  /** Set once the era was closed. */
  stored?: StoredFigures;
}

/** A position in a token-ordered scan: the last row seen. */
export interface TokenCursor {
  token: bigint;
  bucket: bigint;
  key: string;
}

const MIGRATIONS: string[] = [
  // 1: objects, one row per (bucket, key); tombstones included
  `CREATE TABLE objects (
     bucket TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL,
     sha256 TEXT NOT NULL, size INTEGER NOT NULL, root TEXT NOT NULL, leaves BLOB NOT NULL,
     deleted INTEGER NOT NULL, token TEXT NOT NULL, updated_at INTEGER NOT NULL,
     PRIMARY KEY (bucket, key)) WITHOUT ROWID;
   CREATE INDEX objects_token ON objects (token, bucket, key);
   CREATE INDEX objects_sha256 ON objects (sha256) WHERE deleted = 0;`,
  // 2: the server's small tables
  `CREATE TABLE nonces (
     session_key TEXT NOT NULL, nonce TEXT NOT NULL, expires INTEGER NOT NULL,
     PRIMARY KEY (session_key, nonce)) WITHOUT ROWID;
   CREATE INDEX nonces_expires ON nonces (expires);
   CREATE TABLE quarantined (
     sha256 TEXT NOT NULL, at INTEGER NOT NULL, reason TEXT NOT NULL);
   CREATE INDEX quarantined_sha256 ON quarantined (sha256);
   CREATE TABLE repairs (
     bucket TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, sha256 TEXT NOT NULL,
     reason TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,
     PRIMARY KEY (bucket, key)) WITHOUT ROWID;
   CREATE INDEX repairs_next ON repairs (next_at);
   CREATE TABLE hints (
     target INTEGER NOT NULL, bucket TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL,
     op TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,
     PRIMARY KEY (target, bucket, key)) WITHOUT ROWID;
   CREATE INDEX hints_next ON hints (next_at);
   CREATE TABLE usage (
     bucket TEXT NOT NULL, era INTEGER NOT NULL, served_bytes INTEGER NOT NULL, requests INTEGER NOT NULL,
     PRIMARY KEY (era, bucket)) WITHOUT ROWID;`,
  // 3: an object's content type; the stored figures of a closed era (NULL while it is open)
  `ALTER TABLE objects ADD COLUMN content_type TEXT NOT NULL DEFAULT 'application/octet-stream';
   ALTER TABLE usage ADD COLUMN stored_bytes INTEGER;
   ALTER TABLE usage ADD COLUMN object_count INTEGER;
   ALTER TABLE usage ADD COLUMN manifest_root TEXT;`,
  // 4: each row's cluster (the cluster of its bucket), so that replication serves a cluster's rows only
  `ALTER TABLE objects ADD COLUMN cluster INTEGER;
   CREATE INDEX objects_cluster_token ON objects (cluster, token, bucket, key);
   CREATE INDEX objects_no_cluster ON objects (bucket) WHERE cluster IS NULL;`,
  // 5: the node's signed receipt for each row, answered on GET and HEAD
  `ALTER TABLE objects ADD COLUMN receipt TEXT;`,
  // 6: receipts name the Merkle root: the kept ones (without it) are dropped, signed anew when asked
  `UPDATE objects SET receipt = NULL;`,
  // 7: the manifest of a bucket at the end of an era (its figures and its entries), so that a
  // validator lists what a usage record's manifest root covers; the last few eras are kept
  `CREATE TABLE era_manifests (
     bucket TEXT NOT NULL, era INTEGER NOT NULL, object_count INTEGER NOT NULL, manifest_root TEXT NOT NULL,
     PRIMARY KEY (bucket, era)) WITHOUT ROWID;
   CREATE TABLE era_manifest_entries (
     bucket TEXT NOT NULL, era INTEGER NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL,
     sha256 TEXT NOT NULL, size INTEGER NOT NULL, root TEXT NOT NULL,
     PRIMARY KEY (bucket, era, key)) WITHOUT ROWID;`,
];

/** The content type of an object stored without one. */
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

interface ObjectRow {
  bucket: string;
  key: string;
  version: bigint;
  sha256: string;
  size: bigint;
  root: string;
  leaves: Buffer;
  deleted: bigint;
  token: string;
  updated_at: bigint;
  content_type: string;
  cluster: bigint | null;
  receipt: string | null;
}

function splitLeaves(blob: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < blob.length; at += 32) out.push(blob.subarray(at, at + 32));
  return out;
}

function toRecord(r: ObjectRow): ObjectRecord {
  return {
    bucket: BigInt(`0x${r.bucket}`),
    key: r.key,
    version: BigInt(r.version),
    sha256: r.sha256,
    size: Number(r.size),
    root: r.root,
    leaves: splitLeaves(r.leaves),
    deleted: r.deleted !== 0n,
    token: BigInt(`0x${r.token}`),
    updatedAt: Number(r.updated_at),
    contentType: r.content_type,
    ...(r.cluster === null || r.cluster === undefined ? {} : { cluster: Number(r.cluster) }),
    ...(r.receipt === null || r.receipt === undefined ? {} : { receipt: r.receipt }),
  };
}

/** Whether `a` beats `b`: a higher version, or at an equal one the larger sha256 (tombstone: ""). */
export function wins(a: { version: bigint; sha256: string }, b: { version: bigint; sha256: string }): boolean {
  return a.version > b.version || (a.version === b.version && a.sha256 > b.sha256);
}

/** The node's metadata store. */
export class MetaStore {
  readonly db: Database.Database;
  private nonceStmt?: Database.Statement;
  /** The read path's one query, prepared once (a GET looks its row up on every request). */
  private getStmt?: Database.Statement;
  private changesStmt?: Database.Statement;

  constructor(file: string) {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.defaultSafeIntegers(true);
    this.migrate();
  }

  /** The schema version. */
  get schemaVersion(): number {
    return Number(this.db.pragma("user_version", { simple: true }));
  }

  private migrate(): void {
    for (let v = this.schemaVersion; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  close(): void {
    this.db.close();
  }

  /**
   * Rows written through this connection since it opened (SQLite's `total_changes()`), any table:
   * it moves on every write, so a figure derived from the rows can be cached against it.
   */
  totalChanges(): number {
    this.changesStmt ??= this.db.prepare("SELECT total_changes() AS n");
    return Number((this.changesStmt.get() as { n: bigint }).n);
  }

  /** The row of (bucket, key), tombstone included. */
  get(bucket: bigint, key: string): ObjectRecord | undefined {
    this.getStmt ??= this.db.prepare("SELECT * FROM objects WHERE bucket = ? AND key = ?");
    const row = this.getStmt.get(u64Hex(bucket), key) as ObjectRow | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  /**
   * Stores `record` if it wins over the stored row (last writer wins, see {@link wins}); a
   * tombstone is a record with `deleted` (sha256, root "", no leaves, size 0).
   */
  apply(record: ObjectRecord): ApplyResult {
    checkVersion(record.version);
    const bucket = u64Hex(record.bucket);
    const token = u64Hex(record.token);
    if (record.deleted && (record.sha256 !== "" || record.leaves.length !== 0 || record.size !== 0)) {
      throw new Error("apply: a tombstone has no content");
    }
    return this.db.transaction((): ApplyResult => {
      const row = this.db.prepare("SELECT * FROM objects WHERE bucket = ? AND key = ?").get(bucket, record.key) as
        ObjectRow | undefined;
      const previous = row === undefined ? undefined : toRecord(row);
      if (previous !== undefined && !wins(record, previous)) return { applied: false, previous };
      this.db
        .prepare(
          `INSERT INTO objects (bucket, key, version, sha256, size, root, leaves, deleted, token, updated_at, content_type, cluster, receipt)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (bucket, key) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256,
             size = excluded.size, root = excluded.root, leaves = excluded.leaves, deleted = excluded.deleted,
             token = excluded.token, updated_at = excluded.updated_at, content_type = excluded.content_type,
             cluster = COALESCE(excluded.cluster, objects.cluster), receipt = excluded.receipt`,
        )
        .run(
          bucket,
          record.key,
          record.version,
          record.sha256,
          record.size,
          record.root,
          Buffer.concat(record.leaves),
          record.deleted ? 1 : 0,
          token,
          Math.trunc(record.updatedAt),
          record.contentType ?? DEFAULT_CONTENT_TYPE,
          record.cluster ?? null,
          record.deleted ? null : (record.receipt ?? null),
        );
      return { applied: true, previous };
    })();
  }

  /** Keeps `signature` as the receipt of (bucket, key) if its row is still `version` with `sha256`. */
  setReceipt(bucket: bigint, key: string, version: bigint, sha256: string, signature: string): boolean {
    const r = this.db
      .prepare(
        "UPDATE objects SET receipt = ? WHERE bucket = ? AND key = ? AND version = ? AND sha256 = ? AND deleted = 0",
      )
      .run(signature, u64Hex(bucket), key, checkVersion(version), sha256);
    return r.changes > 0;
  }

  /** Live objects of a bucket in key order (byte order of UTF-8), after `startAfter`, at most `limit`. */
  list(bucket: bigint, opts: { prefix?: string; startAfter?: string; limit: number }): ObjectRecord[] {
    const prefix = opts.prefix ?? "";
    const from = opts.startAfter !== undefined && opts.startAfter >= prefix ? opts.startAfter : prefix;
    const op = opts.startAfter !== undefined && opts.startAfter >= prefix ? ">" : ">=";
    const stmt = this.db.prepare(`SELECT * FROM objects WHERE bucket = ? AND key ${op} ? AND deleted = 0 ORDER BY key`);
    const out: ObjectRecord[] = [];
    if (opts.limit <= 0) return out;
    // Keys with the prefix are contiguous from the prefix on: stop at the first one without it.
    for (const row of stmt.iterate(u64Hex(bucket), from) as Iterable<ObjectRow>) {
      if (!row.key.startsWith(prefix)) break;
      out.push(toRecord(row));
      if (out.length >= opts.limit) break;
    }
    return out;
  }

  /** Every live object of a bucket, in key order (read in pages: writes may go on meanwhile). */
  *manifest(bucket: bigint, pageSize = 1000): Generator<ManifestEntry> {
    let after: string | undefined;
    for (;;) {
      const page = this.list(bucket, { startAfter: after, limit: pageSize });
      for (const r of page) yield { key: r.key, version: r.version, sha256: r.sha256, size: r.size, root: r.root };
      if (page.length < pageSize) return;
      after = page[page.length - 1].key;
    }
  }

  /** Bytes of the bucket's live objects. */
  storedBytes(bucket: bigint): number {
    const r = this.db
      .prepare("SELECT COALESCE(SUM(size), 0) AS n FROM objects WHERE bucket = ? AND deleted = 0")
      .get(u64Hex(bucket)) as { n: bigint };
    return Number(r.n);
  }

  /**
   * A bucket's rows as they count against its cap: the live objects' bytes, plus for every row
   * (tombstones included) its key's UTF-8 bytes and `perRow`.
   */
  chargedBytes(bucket: bigint, perRow: number): number {
    const r = this.db
      .prepare(
        `SELECT COALESCE(SUM(CASE WHEN deleted = 0 THEN size ELSE 0 END + length(CAST(key AS BLOB)) + ?), 0) AS n
         FROM objects WHERE bucket = ?`,
      )
      .get(perRow, u64Hex(bucket)) as { n: bigint };
    return Number(r.n);
  }

  /** How many live rows reference blob `sha256`. */
  refCount(sha256: string): number {
    const r = this.db.prepare("SELECT COUNT(*) AS n FROM objects WHERE sha256 = ? AND deleted = 0").get(sha256) as {
      n: bigint;
    };
    return Number(r.n);
  }

  /** The live rows referencing blob `sha256`. */
  bySha256(sha256: string): ObjectRecord[] {
    const rows = this.db
      .prepare("SELECT * FROM objects WHERE sha256 = ? AND deleted = 0 ORDER BY bucket, key")
      .all(sha256) as ObjectRow[];
    return rows.map(toRecord);
  }

  /** Every blob a live row references, once each. */
  referencedBlobs(): Set<string> {
    const rows = this.db.prepare("SELECT DISTINCT sha256 FROM objects WHERE deleted = 0").all() as { sha256: string }[];
    return new Set(rows.map((r) => r.sha256));
  }

  /**
   * Rows (tombstones included) with from ≤ token < to on the ring, in (token, bucket, key) order,
   * after `after`, at most `limit`. When from > to the range wraps past 2^64 - 1 to 0; from = to is
   * the whole ring starting at `from`. With `cluster`, only the rows of that cluster's buckets (a
   * row whose cluster is not recorded is in none).
   */
  byTokenRange(
    from: bigint,
    to: bigint,
    opts: { after?: TokenCursor; limit: number; cluster?: number },
  ): ObjectRecord[] {
    const segments: [bigint, bigint | undefined][] =
      from < to
        ? [[from, to]]
        : to === 0n
          ? [[from, undefined]]
          : [
              [from, undefined],
              [0n, to],
            ];
    const after = opts.after;
    let start = 0;
    if (after !== undefined) {
      start = segments.findIndex(([lo, hi]) => after.token >= lo && (hi === undefined || after.token < hi));
      if (start < 0) return [];
    }
    const out: ObjectRecord[] = [];
    for (let s = start; s < segments.length && out.length < opts.limit; s++) {
      const [lo, hi] = segments[s];
      const where = ["token >= ?"];
      const args: unknown[] = [u64Hex(lo)];
      if (opts.cluster !== undefined) {
        where.push("cluster = ?");
        args.push(opts.cluster);
      }
      if (hi !== undefined) {
        where.push("token < ?");
        args.push(u64Hex(hi));
      }
      if (after !== undefined && s === start) {
        where.push("(token, bucket, key) > (?, ?, ?)");
        args.push(u64Hex(after.token), u64Hex(after.bucket), after.key);
      }
      args.push(opts.limit - out.length);
      const rows = this.db
        .prepare(`SELECT * FROM objects WHERE ${where.join(" AND ")} ORDER BY token, bucket, key LIMIT ?`)
        .all(...args) as ObjectRow[];
      out.push(...rows.map(toRecord));
    }
    return out;
  }

  /**
   * A digest of the rows in a token range (as {@link byTokenRange}), to compare replicas: SHA-256
   * over one JSON line `[bucket, key, version, sha256, deleted]` per row (bucket and version in
   * decimal, deleted 0 or 1) in (bucket, key) order. Equal digests: the replicas agree. With
   * `cluster`, only the rows of that cluster's buckets, as {@link byTokenRange}.
   */
  rangeDigest(from: bigint, to: bigint, cluster?: number): { digest: string; count: number } {
    const h = createHash("sha256");
    const range =
      from < to ? "token >= ? AND token < ?" : to === 0n ? "token >= ? AND ? IS NOT NULL" : "(token >= ? OR token < ?)";
    const cond = cluster === undefined ? range : `cluster = ? AND ${range}`;
    const stmt = this.db.prepare(
      `SELECT bucket, key, version, sha256, deleted FROM objects WHERE ${cond} ORDER BY bucket, key`,
    );
    const args: unknown[] = cluster === undefined ? [] : [cluster];
    args.push(u64Hex(from), u64Hex(to));
    let count = 0;
    for (const r of stmt.iterate(...args) as Iterable<ObjectRow>) {
      const line = JSON.stringify([
        BigInt(`0x${r.bucket}`).toString(),
        r.key,
        r.version.toString(),
        r.sha256,
        Number(r.deleted),
      ]);
      h.update(`${line}\n`);
      count++;
    }
    return { digest: h.digest("hex"), count };
  }

  /** The buckets having rows whose cluster is not recorded (written without one, or before it was kept). */
  bucketsWithoutCluster(): bigint[] {
    const rows = this.db.prepare("SELECT DISTINCT bucket FROM objects WHERE cluster IS NULL").all() as {
      bucket: string;
    }[];
    return rows.map((r) => BigInt(`0x${r.bucket}`));
  }

  /** Records the cluster of a bucket's rows that have none; returns how many rows. */
  setBucketCluster(bucket: bigint, cluster: number): number {
    return this.db
      .prepare("UPDATE objects SET cluster = ? WHERE bucket = ? AND cluster IS NULL")
      .run(cluster, u64Hex(bucket)).changes;
  }

  /**
   * Records a request nonce of a session until `expires` (s). Returns false when the nonce was
   * already seen and has not expired (a replay), true when it is new (and now kept).
   */
  useNonce(sessionKey: string, nonce: string, expires: number, now: number): boolean {
    this.nonceStmt ??= this.db.prepare(
      `INSERT INTO nonces (session_key, nonce, expires) VALUES (?, ?, ?)
       ON CONFLICT (session_key, nonce) DO UPDATE SET expires = excluded.expires WHERE nonces.expires <= ?`,
    );
    return this.nonceStmt.run(sessionKey, nonce, expires, now).changes > 0;
  }

  /** Forgets the nonces expired at `now`; returns how many. */
  pruneNonces(now: number): number {
    return this.db.prepare("DELETE FROM nonces WHERE expires <= ?").run(now).changes;
  }

  recordQuarantine(sha256: string, at: number, reason: string): void {
    this.db.prepare("INSERT INTO quarantined (sha256, at, reason) VALUES (?, ?, ?)").run(sha256, at, reason);
  }

  quarantinedBlobs(): { sha256: string; at: number; reason: string }[] {
    const rows = this.db.prepare("SELECT sha256, at, reason FROM quarantined ORDER BY at, sha256").all() as {
      sha256: string;
      at: bigint;
      reason: string;
    }[];
    return rows.map((r) => ({ sha256: r.sha256, at: Number(r.at), reason: r.reason }));
  }

  /** Queues a repair of (bucket, key), due at `at`; an already queued one keeps the higher version. */
  enqueueRepair(t: { bucket: bigint; key: string; version: bigint; sha256: string; reason: string }, at: number): void {
    this.db
      .prepare(
        `INSERT INTO repairs (bucket, key, version, sha256, reason, attempts, next_at) VALUES (?, ?, ?, ?, ?, 0, ?)
         ON CONFLICT (bucket, key) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256,
           reason = excluded.reason, next_at = MIN(repairs.next_at, excluded.next_at)
         WHERE excluded.version >= repairs.version`,
      )
      .run(u64Hex(t.bucket), t.key, checkVersion(t.version), t.sha256, t.reason, at);
  }

  /** Repairs due at `now`, soonest first. */
  dueRepairs(now: number, limit: number): RepairTask[] {
    const rows = this.db
      .prepare("SELECT * FROM repairs WHERE next_at <= ? ORDER BY next_at, bucket, key LIMIT ?")
      .all(now, limit) as {
      bucket: string;
      key: string;
      version: bigint;
      sha256: string;
      reason: string;
      attempts: bigint;
      next_at: bigint;
    }[];
    return rows.map((r) => ({
      bucket: BigInt(`0x${r.bucket}`),
      key: r.key,
      version: r.version,
      sha256: r.sha256,
      reason: r.reason,
      attempts: Number(r.attempts),
      nextAt: Number(r.next_at),
    }));
  }

  /** A repair attempt failed: count it and try again at `nextAt`. */
  retryRepair(bucket: bigint, key: string, nextAt: number): void {
    this.db
      .prepare("UPDATE repairs SET attempts = attempts + 1, next_at = ? WHERE bucket = ? AND key = ?")
      .run(nextAt, u64Hex(bucket), key);
  }

  /** The repair of (bucket, key) is done; returns whether one was queued. */
  repairDone(bucket: bigint, key: string): boolean {
    return this.db.prepare("DELETE FROM repairs WHERE bucket = ? AND key = ?").run(u64Hex(bucket), key).changes > 0;
  }

  /** Queues a hint for node `target`; an already queued one keeps the higher version. */
  enqueueHint(h: { target: number; bucket: bigint; key: string; version: bigint; op: HintOp }, at: number): void {
    this.db
      .prepare(
        `INSERT INTO hints (target, bucket, key, version, op, attempts, next_at) VALUES (?, ?, ?, ?, ?, 0, ?)
         ON CONFLICT (target, bucket, key) DO UPDATE SET version = excluded.version, op = excluded.op,
           next_at = MIN(hints.next_at, excluded.next_at)
         WHERE excluded.version >= hints.version`,
      )
      .run(h.target, u64Hex(h.bucket), h.key, checkVersion(h.version), h.op, at);
  }

  /** Hints due at `now`, soonest first. */
  dueHints(now: number, limit: number): Hint[] {
    const rows = this.db
      .prepare("SELECT * FROM hints WHERE next_at <= ? ORDER BY next_at, target, bucket, key LIMIT ?")
      .all(now, limit) as {
      target: bigint;
      bucket: string;
      key: string;
      version: bigint;
      op: HintOp;
      attempts: bigint;
      next_at: bigint;
    }[];
    return rows.map((r) => ({
      target: Number(r.target),
      bucket: BigInt(`0x${r.bucket}`),
      key: r.key,
      version: r.version,
      op: r.op,
      attempts: Number(r.attempts),
      nextAt: Number(r.next_at),
    }));
  }

  /** A hint's delivery failed: count it and try again at `nextAt`. */
  retryHint(target: number, bucket: bigint, key: string, nextAt: number): void {
    this.db
      .prepare("UPDATE hints SET attempts = attempts + 1, next_at = ? WHERE target = ? AND bucket = ? AND key = ?")
      .run(nextAt, target, u64Hex(bucket), key);
  }

  /** The hint was delivered; only a hint of `version` or lower is dropped (a newer one stays). */
  hintDone(target: number, bucket: bigint, key: string, version: bigint): boolean {
    return (
      this.db
        .prepare("DELETE FROM hints WHERE target = ? AND bucket = ? AND key = ? AND version <= ?")
        .run(target, u64Hex(bucket), key, version).changes > 0
    );
  }

  /** Adds served bytes and requests to a bucket's usage in an era. */
  addUsage(bucket: bigint, era: number, servedBytes: number, requests: number): void {
    this.db
      .prepare(
        `INSERT INTO usage (bucket, era, served_bytes, requests) VALUES (?, ?, ?, ?)
         ON CONFLICT (era, bucket) DO UPDATE SET served_bytes = served_bytes + excluded.served_bytes,
           requests = requests + excluded.requests`,
      )
      .run(u64Hex(bucket), era, servedBytes, requests);
  }

  /** Every bucket's usage in an era, in bucket order. */
  usage(era: number): Usage[] {
    const rows = this.db
      .prepare("SELECT bucket, era, served_bytes, requests FROM usage WHERE era = ? ORDER BY bucket")
      .all(era) as { bucket: string; era: bigint; served_bytes: bigint; requests: bigint }[];
    return rows.map((r) => ({
      bucket: BigInt(`0x${r.bucket}`),
      era: Number(r.era),
      servedBytes: Number(r.served_bytes),
      requests: Number(r.requests),
    }));
  }

  /** One bucket's usage in an era, with the stored figures if the era was closed; undefined if none. */
  bucketUsage(bucket: bigint, era: number): BucketEraUsage | undefined {
    const r = this.db
      .prepare(
        "SELECT served_bytes, requests, stored_bytes, object_count, manifest_root FROM usage WHERE era = ? AND bucket = ?",
      )
      .get(era, u64Hex(bucket)) as
      | {
          served_bytes: bigint;
          requests: bigint;
          stored_bytes: bigint | null;
          object_count: bigint | null;
          manifest_root: string | null;
        }
      | undefined;
    if (r === undefined) return undefined;
    const out: BucketEraUsage = { servedBytes: Number(r.served_bytes), requests: Number(r.requests) };
    if (r.stored_bytes !== null && r.object_count !== null && r.manifest_root !== null) {
      out.stored = {
        storedBytes: Number(r.stored_bytes),
        objects: Number(r.object_count),
        manifestRoot: r.manifest_root,
      };
    }
    return out;
  }

  /**
   * Records the stored figures of a closed era, once: an era already closed keeps its first figures.
   * With `manifest`, the entries the figures were taken from (their root is `stored.manifestRoot`)
   * are kept with them, in the same transaction, and the bucket's kept manifests are cut to the
   * `keepEras` latest eras. Returns whether the figures were recorded (false: the era was closed).
   */
  closeEra(
    bucket: bigint,
    era: number,
    stored: StoredFigures,
    manifest?: { entries: Iterable<ManifestEntry>; keepEras: number },
  ): boolean {
    const b = u64Hex(bucket);
    return this.db.transaction((): boolean => {
      const recorded =
        this.db
          .prepare(
            `INSERT INTO usage (bucket, era, served_bytes, requests, stored_bytes, object_count, manifest_root)
             VALUES (?, ?, 0, 0, ?, ?, ?)
             ON CONFLICT (era, bucket) DO UPDATE SET stored_bytes = excluded.stored_bytes,
               object_count = excluded.object_count, manifest_root = excluded.manifest_root
             WHERE usage.stored_bytes IS NULL`,
          )
          .run(b, era, stored.storedBytes, stored.objects, stored.manifestRoot).changes > 0;
      if (!recorded || manifest === undefined) return recorded;
      this.db
        .prepare("INSERT INTO era_manifests (bucket, era, object_count, manifest_root) VALUES (?, ?, ?, ?)")
        .run(b, era, stored.objects, stored.manifestRoot);
      const insert = this.db.prepare(
        "INSERT INTO era_manifest_entries (bucket, era, key, version, sha256, size, root) VALUES (?, ?, ?, ?, ?, ?, ?)",
      );
      for (const e of manifest.entries) insert.run(b, era, e.key, checkVersion(e.version), e.sha256, e.size, e.root);
      this.pruneEraManifests(bucket, manifest.keepEras);
      return true;
    })();
  }

  /** Drops a bucket's kept manifests but those of its `keep` latest eras. */
  private pruneEraManifests(bucket: bigint, keep: number): void {
    const b = u64Hex(bucket);
    const oldest = this.db
      .prepare("SELECT era FROM era_manifests WHERE bucket = ? ORDER BY era DESC LIMIT 1 OFFSET ?")
      .get(b, Math.max(0, keep - 1)) as { era: bigint } | undefined;
    if (oldest === undefined) return;
    this.db.prepare("DELETE FROM era_manifests WHERE bucket = ? AND era < ?").run(b, oldest.era);
    this.db.prepare("DELETE FROM era_manifest_entries WHERE bucket = ? AND era < ?").run(b, oldest.era);
  }

  /** The manifest kept at the end of (bucket, era): its object count and root; undefined if none is kept. */
  eraManifest(bucket: bigint, era: number): { objects: number; manifestRoot: string } | undefined {
    const r = this.db
      .prepare("SELECT object_count, manifest_root FROM era_manifests WHERE bucket = ? AND era = ?")
      .get(u64Hex(bucket), era) as { object_count: bigint; manifest_root: string } | undefined;
    return r === undefined ? undefined : { objects: Number(r.object_count), manifestRoot: r.manifest_root };
  }

  /** Entries of the manifest kept at the end of (bucket, era), in key order, after `startAfter`, at most `limit`. */
  eraManifestEntries(bucket: bigint, era: number, opts: { startAfter?: string; limit: number }): ManifestEntry[] {
    const rows = this.db
      .prepare(
        `SELECT key, version, sha256, size, root FROM era_manifest_entries
         WHERE bucket = ? AND era = ? AND key > ? ORDER BY key LIMIT ?`,
      )
      .all(u64Hex(bucket), era, opts.startAfter ?? "", opts.limit) as {
      key: string;
      version: bigint;
      sha256: string;
      size: bigint;
      root: string;
    }[];
    return rows.map((r) => ({ key: r.key, version: r.version, sha256: r.sha256, size: Number(r.size), root: r.root }));
  }

  /** The eras whose manifest of `bucket` is kept, in order. */
  eraManifestEras(bucket: bigint): number[] {
    const rows = this.db.prepare("SELECT era FROM era_manifests WHERE bucket = ? ORDER BY era").all(u64Hex(bucket)) as {
      era: bigint;
    }[];
    return rows.map((r) => Number(r.era));
  }

  /** The buckets with an object, a tombstone or a usage row here, in order. */
  buckets(): bigint[] {
    const rows = this.db.prepare("SELECT bucket FROM objects UNION SELECT bucket FROM usage ORDER BY bucket").all() as {
      bucket: string;
    }[];
    return rows.map((r) => BigInt(`0x${r.bucket}`));
  }

  /** Blobs quarantined (distinct), repairs and hints queued. */
  queueCounts(): { quarantined: number; repairs: number; hints: number } {
    const n = (sql: string) => Number((this.db.prepare(sql).get() as { n: bigint }).n);
    return {
      quarantined: n("SELECT COUNT(DISTINCT sha256) AS n FROM quarantined"),
      repairs: n("SELECT COUNT(*) AS n FROM repairs"),
      hints: n("SELECT COUNT(*) AS n FROM hints"),
    };
  }
}
