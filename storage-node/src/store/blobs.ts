import { createHash, randomBytes } from "node:crypto";
import { constants as fsConstants, createReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { DigestMismatchError, NotFoundError, TooLargeError } from "./errors";
import { LeafHasher, merkleRoot, toHex, type Sha256Factory } from "./merkle";

/** node:crypto's SHA-256 (650–730 MB/s here, ~9x the portable one). */
export const nodeSha256: Sha256Factory = () => createHash("sha256");

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Read granularity of streams: one Merkle leaf. */
const CHUNK = 64 * 1024;

/** A stored blob's identity, as a put computed it while the bytes went by. */
export interface BlobInfo {
  /** SHA-256 of the content, lowercase hex. */
  sha256: string;
  size: number;
  /** The Merkle leaf hashes (32 bytes each). */
  leaves: Buffer[];
  /** The Merkle root, lowercase hex. */
  root: string;
}

export interface PutOptions {
  /** Reading stops with a TooLargeError as soon as the body passes this. */
  maxBytes: number;
  /** Lowercase hex; a different body fails with a DigestMismatchError. */
  expectedSha256?: string;
  /**
   * Called with the content's SHA-256 once the whole body is hashed and checked, before the store
   * looks for an existing blob of that name or puts it in place (the object store guards the blob
   * from removal from then on).
   */
  onDigest?: (sha256: string) => Promise<void>;
}

/**
 * Content-addressed blob storage: a blob's name is its SHA-256 (lowercase hex). A put is atomic:
 * after it returns the blob is durable; if it fails or the process dies, nothing of it is visible.
 */
export interface BlobStore {
  /** Prepares the store and removes the temporaries a crash left. */
  open(): Promise<{ tempsRemoved: number }>;
  put(body: Readable | AsyncIterable<Uint8Array>, opts: PutOptions): Promise<BlobInfo>;
  /** Bytes start..endInclusive (fewer when the blob is shorter); NotFoundError when absent. */
  read(sha256: string, start: number, endInclusive: number): Promise<Buffer>;
  /** The same as a stream; a missing blob destroys it with a NotFoundError. */
  stream(sha256: string, start: number, endInclusive: number): Readable;
  has(sha256: string): Promise<boolean>;
  /** Removes a blob; removing an absent one is no error. */
  remove(sha256: string): Promise<void>;
  /** Moves a blob aside for inspection: it is no longer readable. NotFoundError when absent. */
  quarantine(sha256: string): Promise<void>;
  /** Every stored blob's SHA-256. */
  list(): AsyncIterable<string>;
}

/** The steps of a filesystem put, in order, for crash tests. */
export type BlobPutStep = "temp-written" | "temp-synced" | "renamed" | "dir-synced";

function checkSha(sha256: string): string {
  if (!SHA256_HEX.test(sha256)) throw new NotFoundError(`blob ${sha256}`);
  return sha256;
}

const isNotFound = (e: unknown) => (e as { code?: string } | null)?.code === "ENOENT";

/**
 * Reads `body` into `sink` while hashing it; enforces `maxBytes` before a byte past it is kept and
 * checks `expectedSha256`. Leaving the loop early closes a Readable body, so it stops reading.
 */
async function hashInto(
  body: Readable | AsyncIterable<Uint8Array>,
  opts: PutOptions,
  sink: (chunk: Uint8Array) => Promise<void>,
): Promise<BlobInfo> {
  const hasher = new LeafHasher(nodeSha256);
  for await (const raw of body as AsyncIterable<Uint8Array | string>) {
    const chunk = typeof raw === "string" ? Buffer.from(raw) : raw;
    if (hasher.size + chunk.length > opts.maxBytes) throw new TooLargeError(opts.maxBytes);
    hasher.update(chunk);
    await sink(chunk);
  }
  const d = hasher.final();
  if (opts.expectedSha256 !== undefined && opts.expectedSha256.toLowerCase() !== d.sha256) {
    throw new DigestMismatchError(opts.expectedSha256.toLowerCase(), d.sha256);
  }
  const leaves = d.leaves.map((l) => Buffer.from(l.buffer, l.byteOffset, l.byteLength));
  return { sha256: d.sha256, size: d.size, leaves, root: toHex(merkleRoot(leaves, nodeSha256)) };
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsConstants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Removes every entry of `dir` (created if missing); returns how many. */
async function emptyDir(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const names = await readdir(dir);
  for (const n of names) await rm(join(dir, n), { force: true, recursive: true });
  return names.length;
}

/** Reads a file's range leaf by leaf, mapping a missing file to NotFoundError. */
function fileRangeStream(path: string, what: string, start: number, endInclusive: number): Readable {
  return Readable.from(
    (async function* () {
      let fh;
      try {
        fh = await open(path, "r");
      } catch (e) {
        throw isNotFound(e) ? new NotFoundError(what) : e;
      }
      try {
        for (let at = start; at <= endInclusive;) {
          const want = Math.min(CHUNK, endInclusive - at + 1);
          const buf = Buffer.allocUnsafe(want);
          const { bytesRead } = await fh.read(buf, 0, want, at);
          if (bytesRead === 0) return;
          at += bytesRead;
          yield buf.subarray(0, bytesRead);
        }
      } finally {
        await fh.close();
      }
    })(),
    { objectMode: false },
  );
}

/**
 * Blobs in a directory:
 *
 *     <dir>/blobs/ab/cd/<sha256>        the blobs, fanned out by their first two bytes
 *     <dir>/tmp/<random>                puts in progress (removed by open())
 *     <dir>/quarantine/<sha256>.<ms>    corrupt blobs moved aside
 *
 * A put streams into a temporary while hashing, fsyncs it, renames it into place (an existing
 * blob wins: the temporary is dropped) and fsyncs the directory, so a blob under blobs/ is
 * always complete and durable.
 */
export class FsBlobStore implements BlobStore {
  /** Called after each step of a put (crash tests inject a failure or a kill here). */
  failpoint?: (step: BlobPutStep) => void | Promise<void>;

  constructor(readonly dir: string) {}

  private get tmpDir() {
    return join(this.dir, "tmp");
  }

  /** Where blob `sha256` lives. */
  pathOf(sha256: string): string {
    checkSha(sha256);
    return join(this.dir, "blobs", sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  async open(): Promise<{ tempsRemoved: number }> {
    await mkdir(join(this.dir, "blobs"), { recursive: true });
    await mkdir(join(this.dir, "quarantine"), { recursive: true });
    return { tempsRemoved: await emptyDir(this.tmpDir) };
  }

  async put(body: Readable | AsyncIterable<Uint8Array>, opts: PutOptions): Promise<BlobInfo> {
    const temp = join(this.tmpDir, randomBytes(16).toString("hex"));
    const fh = await open(temp, "wx");
    let closed = false;
    try {
      const info = await hashInto(body, opts, async (chunk) => {
        await fh.write(chunk);
      });
      await opts.onDigest?.(info.sha256);
      await this.failpoint?.("temp-written");
      await fh.sync();
      await fh.close();
      closed = true;
      await this.failpoint?.("temp-synced");
      const dest = this.pathOf(info.sha256);
      const shard = join(dest, "..");
      if (await exists(dest)) {
        await unlink(temp);
        return info;
      }
      const made = await mkdir(shard, { recursive: true });
      await rename(temp, dest);
      await this.failpoint?.("renamed");
      await fsyncDir(shard);
      // New fan-out directories must be durable in their parents too.
      if (made !== undefined) {
        await fsyncDir(join(shard, ".."));
        await fsyncDir(join(shard, "..", ".."));
      }
      await this.failpoint?.("dir-synced");
      return info;
    } catch (e) {
      if (!closed) await fh.close().catch(() => undefined);
      await rm(temp, { force: true });
      throw e;
    }
  }

  async read(sha256: string, start: number, endInclusive: number): Promise<Buffer> {
    let fh;
    try {
      fh = await open(this.pathOf(sha256), "r");
    } catch (e) {
      throw isNotFound(e) ? new NotFoundError(`blob ${sha256}`) : e;
    }
    try {
      const want = Math.max(0, endInclusive - start + 1);
      // Not zero-filled: only the bytes read are handed out (a short read returns fewer).
      const buf = Buffer.allocUnsafe(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    } finally {
      await fh.close();
    }
  }

  stream(sha256: string, start: number, endInclusive: number): Readable {
    if (!SHA256_HEX.test(sha256)) {
      const r = new Readable({ read() {} });
      process.nextTick(() => r.destroy(new NotFoundError(`blob ${sha256}`)));
      return r;
    }
    return fileRangeStream(this.pathOf(sha256), `blob ${sha256}`, start, endInclusive);
  }

  async has(sha256: string): Promise<boolean> {
    return SHA256_HEX.test(sha256) && exists(this.pathOf(sha256));
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }

  async quarantine(sha256: string): Promise<void> {
    const dir = join(this.dir, "quarantine");
    await mkdir(dir, { recursive: true });
    try {
      await rename(this.pathOf(sha256), join(dir, `${sha256}.${Date.now()}`));
    } catch (e) {
      throw isNotFound(e) ? new NotFoundError(`blob ${sha256}`) : e;
    }
  }

  /** The quarantined files' names (`<sha256>.<ms>`). */
  async quarantined(): Promise<string[]> {
    try {
      return (await readdir(join(this.dir, "quarantine"))).sort();
    } catch (e) {
      if (isNotFound(e)) return [];
      throw e;
    }
  }

  /** The temporaries present (crash tests check none stays). */
  async temps(): Promise<string[]> {
    try {
      return await readdir(this.tmpDir);
    } catch (e) {
      if (isNotFound(e)) return [];
      throw e;
    }
  }

  async *list(): AsyncIterable<string> {
    const root = join(this.dir, "blobs");
    for (const a of await readdirOrEmpty(root)) {
      for (const b of await readdirOrEmpty(join(root, a))) {
        for (const name of await readdirOrEmpty(join(root, a, b))) {
          if (SHA256_HEX.test(name) && name.startsWith(a + b)) yield name;
        }
      }
    }
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (e) {
    if (isNotFound(e) || (e as { code?: string }).code === "ENOTDIR") return [];
    throw e;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Prepended to every object name, e.g. `"node-7/"`. */
  prefix: string;
  /**
   * Where a put stages the body while hashing it (S3 needs the length and the digest before the
   * upload). Must belong to this store alone: open() empties it. Default: a directory under the
   * system's temporary one named after the bucket and prefix.
   */
  stagingDir?: string;
}

const isS3NotFound = (e: unknown) => {
  const x = e as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  return x?.name === "NoSuchKey" || x?.name === "NotFound" || x?.$metadata?.httpStatusCode === 404;
};

/**
 * Blobs in an S3 bucket (or any S3-compatible store): `<prefix>blobs/<sha256>`, quarantined ones
 * under `<prefix>quarantine/<sha256>.<ms>`. A put stages the body in a local file while hashing it,
 * then uploads it whole under its digest: S3 makes an object visible only once complete.
 */
export class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly stagingDir: string;

  constructor(opts: S3BlobStoreOptions) {
    this.client = opts.client;
    this.bucket = opts.bucket;
    this.prefix = opts.prefix;
    this.stagingDir =
      opts.stagingDir ??
      join(
        tmpdir(),
        `ddc-s3-staging-${createHash("sha256").update(`${opts.bucket}/${opts.prefix}`).digest("hex").slice(0, 16)}`,
      );
  }

  private keyOf(sha256: string): string {
    return `${this.prefix}blobs/${checkSha(sha256)}`;
  }

  async open(): Promise<{ tempsRemoved: number }> {
    return { tempsRemoved: await emptyDir(this.stagingDir) };
  }

  async put(body: Readable | AsyncIterable<Uint8Array>, opts: PutOptions): Promise<BlobInfo> {
    await mkdir(this.stagingDir, { recursive: true });
    const temp = join(this.stagingDir, randomBytes(16).toString("hex"));
    const fh = await open(temp, "wx");
    let closed = false;
    try {
      const info = await hashInto(body, opts, async (chunk) => {
        await fh.write(chunk);
      });
      await opts.onDigest?.(info.sha256);
      await fh.close();
      closed = true;
      if (!(await this.has(info.sha256))) {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: this.keyOf(info.sha256),
            Body: createReadStream(temp),
            ContentLength: info.size,
            ContentType: "application/octet-stream",
            // S3 checks the upload against the digest we computed; given up front, it also goes
            // in a header instead of a chunked trailer (which some S3-compatible stores lack).
            ChecksumSHA256: Buffer.from(info.sha256, "hex").toString("base64"),
          }),
        );
      }
      return info;
    } finally {
      if (!closed) await fh.close().catch(() => undefined);
      await rm(temp, { force: true });
    }
  }

  private async get(sha256: string, start: number, endInclusive: number) {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256), Range: `bytes=${start}-${endInclusive}` }),
      );
      if (out.Body === undefined) throw new NotFoundError(`blob ${sha256}`);
      return out.Body;
    } catch (e) {
      // A range starting at or past the end of the object: there are no bytes to give.
      if ((e as { name?: string }).name === "InvalidRange") return undefined;
      throw isS3NotFound(e) ? new NotFoundError(`blob ${sha256}`) : e;
    }
  }

  async read(sha256: string, start: number, endInclusive: number): Promise<Buffer> {
    if (endInclusive < start) {
      if (!(await this.has(sha256))) throw new NotFoundError(`blob ${sha256}`);
      return Buffer.alloc(0);
    }
    const body = await this.get(sha256, start, endInclusive);
    if (body === undefined) return Buffer.alloc(0);
    return Buffer.from(await body.transformToByteArray());
  }

  stream(sha256: string, start: number, endInclusive: number): Readable {
    return Readable.from(
      (async function* (self: S3BlobStore) {
        if (endInclusive < start) return;
        const body = await self.get(sha256, start, endInclusive);
        if (body === undefined) return;
        yield* body as unknown as AsyncIterable<Uint8Array>;
      })(this),
      { objectMode: false },
    );
  }

  async has(sha256: string): Promise<boolean> {
    if (!SHA256_HEX.test(sha256)) return false;
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }));
      return true;
    } catch (e) {
      if (isS3NotFound(e)) return false;
      throw e;
    }
  }

  async remove(sha256: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }));
  }

  async quarantine(sha256: string): Promise<void> {
    if (!(await this.has(sha256))) throw new NotFoundError(`blob ${sha256}`);
    await this.client.send(
      new CopyObjectCommand({
        Bucket: this.bucket,
        CopySource: `${this.bucket}/${this.keyOf(sha256)}`,
        Key: `${this.prefix}quarantine/${sha256}.${Date.now()}`,
      }),
    );
    await this.remove(sha256);
  }

  /** The quarantined objects' names (`<sha256>.<ms>`). */
  async quarantined(): Promise<string[]> {
    const out: string[] = [];
    for await (const key of this.keys(`${this.prefix}quarantine/`)) out.push(key);
    return out.sort();
  }

  private async *keys(prefix: string): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) if (o.Key !== undefined) yield o.Key.slice(prefix.length);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async *list(): AsyncIterable<string> {
    for await (const name of this.keys(`${this.prefix}blobs/`)) if (SHA256_HEX.test(name)) yield name;
  }
}
