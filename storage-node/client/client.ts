import type { ContractRunner, Signer, TypedDataDomain } from "ethers";
import { z } from "zod";
import {
  ALL_OPS,
  HEADER,
  LEAF_BYTES,
  MAX_KEY_BYTES,
  MAX_LIST_LIMIT,
  MAX_OBJECT_BYTES,
  Op,
  decodeReceiptHeader,
  storageDomain,
  type ListResult,
  type ObjectInfo,
  type PutResult,
  type SessionToken,
  type SignedReceipt,
} from "../src/protocol";
import { ChainDirectory, type ClusterDirectory, type ClusterMap, type NodeInfo } from "./directory";
import { ClientErrorCode, StorageClientError } from "./errors";
import { MANIFEST_CONTENT_TYPE, encodeManifest, parseManifest, partKey, partRanges, type Manifest } from "./manifest";
import { encodeSessionToken, newSessionKey, signAppSession, signRequest, type SessionKeyPair } from "../src/auth/sign";
import { replicasFor } from "../src/placement";
import {
  hashLeaf,
  leafCount,
  leafHashes,
  merkleRoot,
  fromHex as fromHexBytes,
  portableSha256,
  toHex,
  type Sha256Factory,
} from "../src/store/merkle";
import { normHex, receiptSigner, sha256Hex } from "./verify";

/** The part of a fetch response the client reads (WHATWG fetch, undici's or the browser's). */
export interface FetchResponse {
  status: number;
  headers: { get(name: string): string | null };
  /** The body as a stream (WHATWG); read chunk by chunk so that a cap holds. */
  body?: ReadableStream<Uint8Array> | null;
  arrayBuffer(): Promise<ArrayBuffer>;
}
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: Uint8Array; signal: AbortSignal },
) => Promise<FetchResponse>;

export interface StorageClientOptions {
  /** Where buckets, rings and nodes are read; default: the core through `provider`. */
  directory?: ClusterDirectory;
  /** A provider for the core's views (needed without `directory`). */
  provider?: ContractRunner;
  /** The wallet that signs sessions (a bucket's owner or an account with a role on it). */
  signer: Signer;
  chainId: number | bigint;
  /** The core's address (the EIP-712 domain of sessions and receipts). */
  core: string;
  /** How long one node has to answer a request, body included (ms; default 10 000). */
  timeoutMs?: number;
  /** Default: the platform's `fetch`. */
  fetch?: FetchLike;
  /** Default: @noble/hashes; the Node entry passes node:crypto's. */
  sha256?: Sha256Factory;
  /**
   * Called when a replica fails and the next one is tried, or a list goes on without a node or
   * ignores what a node answered out of bounds (the error names the node).
   */
  onRetry?: (error: StorageClientError) => void;
  /** How long a request signature is valid (s; default 300). */
  requestTtlS?: number;
}

export interface SessionOptions {
  /** A bit set of {@link Op} or their names; default all. */
  operations?: number | Array<keyof typeof Op>;
  /** Seconds; default 3600. */
  ttl?: number;
}

export interface Session {
  bucket: string;
  key: SessionKeyPair;
  token: SessionToken;
  encoded: string;
  operations: number;
  expiry: number;
}

/** A write's outcome: the node's answer (receipts verified) and, for a split object, each part's. */
export interface PutOutcome extends PutResult {
  /** The parts of an object larger than {@link MAX_OBJECT_BYTES}; the result above is the manifest's. */
  parts?: PutResult[];
}

/** An object's metadata. For a split object: the whole content's size and SHA-256, and its parts. */
export interface ObjectHead extends ObjectInfo {
  contentType: string;
  /** For a split object: how many parts; its `version` and `root` are the manifest's. */
  parts?: number;
}

/** An inclusive byte range; `end` defaults to the last byte. */
export interface ByteRange {
  start: number;
  end?: number;
}

export type BucketRef = bigint | number | string;

const int = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/)]);
const hash = z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/);
const receiptSchema = z.object({
  node: z.number().int().nonnegative(),
  bucket: int.transform(String),
  key: z.string(),
  version: int.transform(String),
  sha256: hash,
  size: z.number().int().nonnegative(),
  root: hash,
  signature: z.string().regex(/^0x[0-9a-fA-F]+$/),
});
const leavesSchema = z.object({
  key: z.string(),
  version: int.transform(String),
  size: z.number().int().nonnegative(),
  sha256: hash,
  root: hash,
  leafSize: z.number().int().positive(),
  leaves: z.array(hash),
});
const putResultSchema = z.object({
  bucket: int.transform(String),
  key: z.string(),
  version: int.transform(String),
  sha256: hash,
  size: z.number().int().nonnegative(),
  root: z.string(),
  receipts: z.array(receiptSchema),
});
const objectInfoSchema = z.object({
  key: z.string(),
  version: int.transform(String),
  size: z.number().int().nonnegative(),
  sha256: z.string(),
  root: z.string(),
});
const listSchema = z.object({ objects: z.array(objectInfoSchema), next: z.string().optional() });
/** The most bytes a JSON answer (a write's result, a list page, an error) may have. */
const MAX_JSON_BYTES = 8 * 1024 * 1024;
/** The most pages one `list` call fetches unless told otherwise; the last one yielded has `next`. */
export const DEFAULT_MAX_LIST_PAGES = 1000;
const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), node: z.string().optional() }),
});

interface Answer {
  status: number;
  headers: { get(name: string): string | null };
  body: Uint8Array;
}

interface Fetched {
  data: Uint8Array;
  sha256: string;
  version: string;
  root: string;
  contentType: string;
  /** The URL of the node that served it. */
  node: string;
  /** The manifest it holds, when asked to follow one and it is typed as one. */
  manifest?: Manifest;
}

/** A limit on an answer's body: a number of bytes, or one computed from its headers (which may throw). */
type BodyLimit = number | ((headers: FetchResponse["headers"]) => number);

/** RFC 3986 escaping, stricter than encodeURIComponent: the target a node sees is the one signed. */
function escape(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function objectPath(bucket: string, key: string): string {
  return `/v1/buckets/${bucket}/objects/${key.split("/").map(escape).join("/")}`;
}

function bucketId(bucket: BucketRef): string {
  const s = String(bucket);
  if (!/^\d+$/.test(s) || BigInt(s) === 0n || BigInt(s) >= 1n << 64n)
    throw new StorageClientError(
      ClientErrorCode.InvalidArgument,
      `bucket must be a positive 64-bit integer, got "${s}"`,
    );
  return BigInt(s).toString();
}

function checkKey(key: string): void {
  const bytes = new TextEncoder().encode(key).length;
  if (bytes === 0) throw new StorageClientError(ClientErrorCode.InvalidArgument, "the key is empty");
  if (bytes > MAX_KEY_BYTES)
    throw new StorageClientError(
      ClientErrorCode.InvalidArgument,
      `the key has ${bytes} bytes, more than ${MAX_KEY_BYTES}`,
    );
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * An answer's body, read chunk by chunk up to `cap` bytes; undefined (and the rest left unread) as
 * soon as it says or proves to be longer.
 */
async function readCapped(res: FetchResponse, cap: number): Promise<Uint8Array | undefined> {
  const length = res.headers.get("content-length");
  if (length !== null && Number(length) > cap) return undefined;
  if (res.body === undefined || res.body === null) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    return bytes.length > cap ? undefined : bytes;
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return concat(chunks);
    n += value.length;
    if (n > cap) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
}

function opsOf(operations: SessionOptions["operations"]): number {
  if (operations === undefined) return ALL_OPS;
  if (typeof operations === "number") return operations;
  return operations.reduce((bits, name) => bits | Op[name], 0);
}

/**
 * The storage nodes' client: it places keys on the bucket's cluster as the core does, signs every
 * request with a session key (one wallet signature per bucket session), tries the next replica
 * when a node is down, slow, failing (5xx) or answers bytes that do not match their hash, and
 * checks every receipt a write returns against the nodes' registered keys.
 */
export class DdcStorageClient {
  readonly directory: ClusterDirectory;
  readonly domain: TypedDataDomain;
  readonly timeoutMs: number;
  private readonly signer: Signer;
  private readonly fetchImpl: FetchLike;
  private readonly sha256: Sha256Factory;
  private readonly onRetry: (error: StorageClientError) => void;
  private readonly requestTtlS: number;
  private readonly sessions = new Map<string, Promise<Session>>();

  constructor(options: StorageClientOptions) {
    if (options.directory === undefined && options.provider === undefined)
      throw new StorageClientError(ClientErrorCode.InvalidArgument, "the client needs a provider or a directory");
    this.directory = options.directory ?? new ChainDirectory(options.provider!, options.core);
    this.domain = storageDomain(options.chainId, options.core);
    this.signer = options.signer;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetchImpl = options.fetch ?? (globalThis.fetch as unknown as FetchLike);
    this.sha256 = options.sha256 ?? portableSha256;
    this.onRetry = options.onRetry ?? (() => {});
    this.requestTtlS = options.requestTtlS ?? 300;
  }

  /**
   * A session on `bucket` (the wallet signs once; kept and reused while it allows the operations
   * and has more than a minute left).
   */
  async session(bucket: BucketRef, options: SessionOptions = {}): Promise<Session> {
    const id = bucketId(bucket);
    const operations = opsOf(options.operations);
    const now = Math.floor(Date.now() / 1000);
    const cached = await this.sessions.get(id)?.catch(() => undefined);
    if (
      cached !== undefined &&
      options.ttl === undefined &&
      (cached.operations & operations) === operations &&
      cached.expiry - now > 60
    )
      return cached;
    // Kept as a promise: requests sent at once (a list asks every node) share one signature.
    const pending = this.signSession(id, operations | (cached?.operations ?? 0), now + (options.ttl ?? 3600));
    this.sessions.set(id, pending);
    return pending;
  }

  private async signSession(bucket: string, operations: number, expiry: number): Promise<Session> {
    const key = newSessionKey();
    const token = await signAppSession(this.signer, this.domain, {
      bucket: BigInt(bucket),
      sessionKey: key.publicKey,
      operations,
      expiry,
    });
    return { bucket, key, token, encoded: encodeSessionToken(token), operations, expiry };
  }

  /**
   * Stores `data` at `key`: sent to the key's primary replica, the next on failure. An object over
   * {@link MAX_OBJECT_BYTES} is written as parts and a manifest at `key`.
   */
  async put(
    bucket: BucketRef,
    key: string,
    data: Uint8Array,
    options: { contentType?: string } = {},
  ): Promise<PutOutcome> {
    const id = bucketId(bucket);
    checkKey(key);
    if (data.length <= MAX_OBJECT_BYTES) return this.putObject(id, key, data, options.contentType);
    checkKey(partKey(key, 1));
    const parts: PutResult[] = [];
    const ranges = partRanges(data.length);
    for (const [n, [start, end]] of ranges.entries()) {
      parts.push(await this.putObject(id, partKey(key, n + 1), data.subarray(start, end), "application/octet-stream"));
    }
    const manifest: Manifest = {
      format: "ddc-manifest",
      version: 1,
      size: data.length,
      sha256: sha256Hex(this.sha256, data),
      partSize: MAX_OBJECT_BYTES,
      parts: parts.map((p) => ({ key: p.key, size: p.size, sha256: normHex(p.sha256) })),
    };
    const result = await this.putObject(id, key, encodeManifest(manifest), MANIFEST_CONTENT_TYPE);
    return { ...result, parts };
  }

  /**
   * The object's bytes (a split object's, joined), or those of `range`, verified against the
   * serving node's signed receipt. The whole object hashes to the receipt's SHA-256 (see
   * {@link fetchWhole}); a range is read as the {@link LEAF_BYTES} leaves that cover it, each
   * checked against the leaf hashes whose Merkle root the receipt signs (see {@link fetchRange}).
   */
  async get(bucket: BucketRef, key: string, options: { range?: ByteRange } = {}): Promise<Uint8Array> {
    const id = bucketId(bucket);
    checkKey(key);
    if (options.range === undefined) {
      const whole = await this.fetchWhole(id, key, { manifest: true });
      return whole.manifest === undefined ? whole.data : this.joinParts(id, key, whole);
    }
    const range = options.range;
    this.clampRange(key, range, Number.MAX_SAFE_INTEGER);
    // Only a manifest's bytes are read whole (it is small); any other object's range leaf by leaf.
    const head = await this.headRaw(id, key);
    const manifest = this.isManifest(head) ? (await this.fetchWhole(id, key, { manifest: true })).manifest : undefined;
    if (manifest === undefined) return this.fetchRange(id, key, range);
    const { start, end } = this.clampRange(key, range, manifest.size);
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (const part of manifest.parts) {
      const [ps, pe] = [offset, offset + part.size - 1];
      offset += part.size;
      if (pe < start || ps > end) continue;
      const from = Math.max(start, ps) - ps;
      const to = Math.min(end, pe) - ps;
      chunks.push(
        await this.fetchRange(id, part.key, { start: from, end: to }, { sha256: part.sha256, size: part.size }),
      );
    }
    return concat(chunks);
  }

  /** The object's metadata (a split object's total size and SHA-256), checked against the node's receipt. */
  async head(bucket: BucketRef, key: string): Promise<ObjectHead> {
    const id = bucketId(bucket);
    checkKey(key);
    const head = await this.headRaw(id, key);
    const manifest = this.isManifest(head) ? (await this.fetchWhole(id, key, { manifest: true })).manifest : undefined;
    if (manifest === undefined) return head;
    return { ...head, size: manifest.size, sha256: manifest.sha256, parts: manifest.parts.length };
  }

  /**
   * Deletes the object; a split object's parts after its manifest. Only an object typed as a
   * manifest ({@link MANIFEST_CONTENT_TYPE}) has parts: any other is deleted alone, whatever its
   * bytes.
   */
  async remove(bucket: BucketRef, key: string): Promise<{ key: string; parts: number }> {
    const id = bucketId(bucket);
    checkKey(key);
    const head = await this.headRaw(id, key);
    const manifest = this.isManifest(head) ? (await this.fetchWhole(id, key, { manifest: true })).manifest : undefined;
    await this.deleteObject(id, key);
    for (const part of manifest?.parts ?? []) {
      try {
        await this.deleteObject(id, part.key);
      } catch (error) {
        // A part already gone is what we want; anything else is reported.
        if (!(error instanceof StorageClientError && error.status === 404)) throw error;
      }
    }
    return { key, parts: manifest?.parts.length ?? 0 };
  }

  /**
   * The bucket's objects in key order, a page at a time. Each node holds the keys it is a replica
   * of, so every member is asked and the answers merged; a page is complete while fewer members
   * than the replication factor fail.
   */
  async *list(
    bucket: BucketRef,
    options: { prefix?: string; startAfter?: string; limit?: number; maxPages?: number } = {},
  ): AsyncGenerator<ListResult> {
    const id = bucketId(bucket);
    const limit = options.limit ?? MAX_LIST_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT)
      throw new StorageClientError(
        ClientErrorCode.InvalidArgument,
        `limit must be 1 to ${MAX_LIST_LIMIT}, got ${limit}`,
      );
    const maxPages = options.maxPages ?? DEFAULT_MAX_LIST_PAGES;
    if (!Number.isInteger(maxPages) || maxPages < 1)
      throw new StorageClientError(
        ClientErrorCode.InvalidArgument,
        `maxPages must be a positive integer, got ${maxPages}`,
      );
    let startAfter = options.startAfter;
    // At most `maxPages` pages: the last one's `next` says where to go on.
    for (let pages = 1; ; pages++) {
      const page = await this.listPage(id, options.prefix, startAfter, limit);
      yield page;
      // `next` is the page's last key, after `startAfter`: each page moves forward.
      if (page.next === undefined || pages >= maxPages) return;
      startAfter = page.next;
    }
  }

  // ──────────────────────────────────────── requests ────────────────────────────────────────

  /** One signed request to one node, within the timeout; a non-2xx answer is thrown. */
  private async request(
    node: NodeInfo,
    bucket: string,
    op: number,
    method: string,
    target: string,
    extra: { body?: Uint8Array; bodySha256?: string; headers?: Record<string, string>; limit?: BodyLimit } = {},
  ): Promise<Answer> {
    if (node.url === "")
      throw new StorageClientError(ClientErrorCode.NoReplicas, `node ${node.id} has no URL registered`, {
        node: `node ${node.id}`,
      });
    const url = node.url.replace(/\/+$/, "");
    // A session allowing everything unless the app opened a narrower one that covers `op`.
    const cached = await this.sessions.get(bucket)?.catch(() => undefined);
    const fresh = cached !== undefined && cached.expiry - Date.now() / 1000 > 60;
    const session = await this.session(bucket, {
      operations: fresh && (cached.operations & op) === op ? op : ALL_OPS,
    });
    // Signed for this node only, a PUT's content type and any version header with it.
    const signed = signRequest({
      privateKey: session.key.privateKey,
      sessionToken: session.encoded,
      node: node.id,
      method,
      target,
      bodySha256: extra.bodySha256,
      contentType: method === "PUT" ? extra.headers?.["content-type"] : undefined,
      version: extra.headers?.[HEADER.version],
      expires: Math.floor(Date.now() / 1000) + this.requestTtlS,
    });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    let answer: Answer;
    try {
      const res = await this.fetchImpl(url + target, {
        method,
        headers: { ...extra.headers, ...signed },
        body: extra.body,
        signal: controller.signal,
      });
      // A success's body is capped by the caller (an object's by its receipt), anything else as JSON.
      const ok = res.status >= 200 && res.status < 300;
      const limit = extra.limit ?? MAX_JSON_BYTES;
      const cap = !ok ? MAX_JSON_BYTES : typeof limit === "function" ? limit(res.headers) : limit;
      const body = method === "HEAD" ? new Uint8Array(0) : await readCapped(res, cap);
      if (body === undefined && ok)
        throw new StorageClientError(
          ClientErrorCode.BadResponse,
          `${method} ${target}: ${url} answered more than the ${cap} bytes expected`,
          { status: res.status, node: url },
        );
      answer = { status: res.status, headers: res.headers, body: body ?? new Uint8Array(0) };
    } catch (error) {
      if (error instanceof StorageClientError) {
        controller.abort();
        throw error;
      }
      if (controller.signal.aborted)
        throw new StorageClientError(
          ClientErrorCode.Timeout,
          `${method} ${target}: no answer from ${url} within ${this.timeoutMs} ms`,
          { node: url, cause: error },
        );
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new StorageClientError(ClientErrorCode.Unreachable, `${method} ${target}: cannot reach ${url} (${why})`, {
        node: url,
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
    if (answer.status >= 200 && answer.status < 300) return answer;
    let code: string = answer.status >= 500 ? "internal" : ClientErrorCode.BadResponse;
    let message = `HTTP ${answer.status}`;
    try {
      const parsed = errorSchema.safeParse(JSON.parse(new TextDecoder().decode(answer.body)));
      if (parsed.success) ({ code, message } = parsed.data.error);
    } catch {
      // not JSON: the status says it all
    }
    throw new StorageClientError(code, `${method} ${target}: ${url} answered ${answer.status} ${code}: ${message}`, {
      status: answer.status,
      node: url,
    });
  }

  /**
   * Runs `attempt` on the key's replicas in order until one succeeds. A retryable failure (down,
   * slow, 5xx, wrong bytes) and, for a `read`, a 404 or a receipt that does not verify move on to
   * the next replica; a node saying it is no replica of the key makes the client re-read the
   * cluster once.
   */
  private async onReplicas<T>(
    bucket: string,
    key: string,
    attempt: (node: NodeInfo, map: ClusterMap) => Promise<T>,
    read = false,
  ): Promise<T> {
    let map = await this.directory.forBucket(BigInt(bucket));
    let refreshed = false;
    const failures: StorageClientError[] = [];
    for (;;) {
      const replicas = this.replicaNodes(map, key);
      let restart = false;
      for (const node of replicas) {
        try {
          return await attempt(node, map);
        } catch (error) {
          if (!(error instanceof StorageClientError)) throw error;
          if (error.code === "not-replica" && !refreshed) {
            refreshed = true;
            map = await this.directory.forBucket(BigInt(bucket), { refresh: true });
            restart = true;
            break;
          }
          const readNext = read && (error.status === 404 || error.code === ClientErrorCode.BadReceipt);
          if (!(error.retryable || readNext)) throw error;
          failures.push(error);
          this.onRetry(error);
        }
      }
      if (!restart) break;
    }
    const last = failures[failures.length - 1];
    // One replica (or all saying not-found): its own error says it best.
    if (failures.length === 1 || failures.every((f) => f.status === 404)) throw last;
    throw new StorageClientError(
      ClientErrorCode.AllReplicasFailed,
      `every replica of ${key} in bucket ${bucket} failed: ${failures.map((f) => f.message).join("; ")}`,
      { status: last.status, node: last.node, attempts: failures },
    );
  }

  private replicaNodes(map: ClusterMap, key: string): NodeInfo[] {
    const ids = replicasFor(map.ring, map.replicationFactor, map.distinctNodes, key);
    if (ids.length === 0)
      throw new StorageClientError(ClientErrorCode.NoReplicas, `cluster ${map.cluster} has no node on its ring`);
    return ids.map((id) => map.nodes.get(id) ?? { id, url: "", signingKey: "" });
  }

  private async putObject(bucket: string, key: string, data: Uint8Array, contentType?: string): Promise<PutResult> {
    const sha256 = sha256Hex(this.sha256, data);
    const root = toHex(merkleRoot(leafHashes(data, this.sha256), this.sha256));
    const map = await this.directory.forBucket(BigInt(bucket));
    return this.onReplicas(bucket, key, async (node) => {
      const target = objectPath(bucket, key);
      const answer = await this.request(node, bucket, Op.Write, "PUT", target, {
        body: data,
        bodySha256: sha256,
        headers: { "content-type": contentType ?? "application/octet-stream" },
      });
      const result = this.parse(node, putResultSchema, answer, "PUT");
      this.checkPut(node, map, { bucket, key, sha256, size: data.length, root }, result);
      return result;
    });
  }

  /** The node's answer to a write matches what was sent, and each receipt is signed by its node. */
  private checkPut(
    node: NodeInfo,
    map: ClusterMap,
    sent: { bucket: string; key: string; sha256: string; size: number; root: string },
    result: PutResult,
  ): void {
    const url = node.url;
    const bad = (what: string) =>
      new StorageClientError(ClientErrorCode.BadReceipt, `PUT ${sent.key}: ${url} answered ${what}`, { node: url });
    if (result.bucket !== sent.bucket || result.key !== sent.key)
      throw bad(`a result for ${result.bucket}/${result.key}, not ${sent.bucket}/${sent.key}`);
    if (normHex(result.sha256) !== sent.sha256 || result.size !== sent.size)
      throw bad(`SHA-256 ${normHex(result.sha256)} and ${result.size} bytes, not ${sent.sha256} and ${sent.size}`);
    if (normHex(result.root) !== sent.root) throw bad(`Merkle root ${normHex(result.root)}, not ${sent.root}`);
    if (result.receipts.length === 0) throw bad("no receipt");
    const replicas = new Set(replicasFor(map.ring, map.replicationFactor, map.distinctNodes, sent.key));
    const seen = new Set<number>();
    for (const r of result.receipts) {
      if (seen.has(r.node)) throw bad(`two receipts of node ${r.node}`);
      seen.add(r.node);
      if (!replicas.has(r.node)) throw bad(`a receipt of node ${r.node}, which is not a replica of ${sent.key}`);
      if (
        r.bucket !== sent.bucket ||
        r.key !== sent.key ||
        r.version !== result.version ||
        normHex(r.sha256) !== sent.sha256 ||
        r.size !== sent.size ||
        normHex(r.root) !== sent.root
      )
        throw bad(`a receipt of node ${r.node} that does not match the object sent`);
      const expected = map.nodes.get(r.node)?.signingKey ?? "";
      let signer: string;
      try {
        signer = receiptSigner(this.domain, r as SignedReceipt);
      } catch {
        throw bad(`a receipt of node ${r.node} with a malformed signature`);
      }
      if (signer.toLowerCase() !== expected.toLowerCase())
        throw bad(`a receipt of node ${r.node} signed by ${signer}, not by its key ${expected}`);
    }
  }

  private parse<S extends z.ZodType>(node: NodeInfo, schema: S, answer: Answer, what: string): z.infer<S> {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(answer.body));
    } catch {
      throw new StorageClientError(ClientErrorCode.BadResponse, `${what}: ${node.url} answered something not JSON`, {
        status: answer.status,
        node: node.url,
      });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new StorageClientError(
        ClientErrorCode.BadResponse,
        `${what}: ${node.url} answered malformed JSON (${parsed.error.issues[0].path.join(".")}: ${parsed.error.issues[0].message})`,
        { status: answer.status, node: node.url },
      );
    return parsed.data as z.infer<S>;
  }

  /**
   * The receipt a node answers with an object (`x-ddc-receipt`), checked: it is for this bucket
   * and key, by this node, a replica of the key, signed by its registered key, and its version and
   * SHA-256 are those the answer's `x-ddc-version` and ETag announce. Throws `bad-receipt`.
   */
  private servedReceipt(
    node: NodeInfo,
    map: ClusterMap,
    bucket: string,
    key: string,
    headers: FetchResponse["headers"],
    what: string,
  ): SignedReceipt {
    const bad = (why: string) =>
      new StorageClientError(ClientErrorCode.BadReceipt, `${what}: ${node.url} answered ${why}`, { node: node.url });
    const header = headers.get(HEADER.receipt);
    if (header === null) throw bad(`no receipt (${HEADER.receipt})`);
    let json: unknown;
    try {
      json = decodeReceiptHeader(header);
    } catch {
      throw bad("a receipt that is not base64url JSON");
    }
    const parsed = receiptSchema.safeParse(json);
    if (!parsed.success) throw bad(`a malformed receipt (${parsed.error.issues[0].path.join(".")})`);
    const r = parsed.data as SignedReceipt;
    if (r.node !== node.id) throw bad(`a receipt of node ${r.node}, not its own (${node.id})`);
    if (r.bucket !== bucket || r.key !== key) throw bad(`a receipt for ${r.bucket}/${r.key}, not ${bucket}/${key}`);
    if (!replicasFor(map.ring, map.replicationFactor, map.distinctNodes, key).includes(node.id))
      throw bad(`a receipt, but node ${node.id} is not a replica of ${key}`);
    let signer: string;
    try {
      signer = receiptSigner(this.domain, r);
    } catch {
      throw bad("a receipt with a malformed signature");
    }
    if (signer.toLowerCase() !== node.signingKey.toLowerCase())
      throw bad(`a receipt signed by ${signer}, not by its registered key ${node.signingKey}`);
    const version = headers.get(HEADER.version);
    if (version !== null && version !== r.version) throw bad(`version ${version}, but a receipt of ${r.version}`);
    const etag = headers.get("etag");
    if (etag !== null && !etag.toLowerCase().includes(normHex(r.sha256)))
      throw bad(`ETag ${etag}, but a receipt of SHA-256 ${normHex(r.sha256)}`);
    const root = headers.get(HEADER.root);
    if (root !== null && normHex(root) !== normHex(r.root))
      throw bad(`Merkle root ${normHex(root)}, but a receipt of root ${normHex(r.root)}`);
    return r;
  }

  /**
   * The whole object from the first replica that has it: its node's receipt checked
   * ({@link servedReceipt}), the body read up to the receipt's size and hashed to the receipt's
   * SHA-256. `expected` (a part named by a manifest) is the content the node must hold: another
   * one moves on to the next replica. With `manifest`, an object typed as a manifest is parsed
   * (a malformed one moves on too).
   */
  private fetchWhole(
    bucket: string,
    key: string,
    options: { expected?: { sha256: string; size: number }; manifest?: boolean } = {},
  ): Promise<Fetched> {
    const target = objectPath(bucket, key);
    return this.onReplicas(
      bucket,
      key,
      async (node, map) => {
        const corrupt = (why: string) =>
          new StorageClientError(ClientErrorCode.CorruptData, `GET ${key}: ${node.url} ${why}`, { node: node.url });
        let receipt: SignedReceipt | undefined;
        const answer = await this.request(node, bucket, Op.Read, "GET", target, {
          limit: (headers) => {
            receipt = this.servedReceipt(node, map, bucket, key, headers, `GET ${key}`);
            const e = options.expected;
            if (e !== undefined && (normHex(receipt.sha256) !== e.sha256 || receipt.size !== e.size))
              throw corrupt(
                `holds ${receipt.size} bytes of SHA-256 ${normHex(receipt.sha256)}, not the ${e.size} bytes of ${e.sha256} its manifest names`,
              );
            return receipt.size;
          },
        });
        const r = receipt!;
        const actual = sha256Hex(this.sha256, answer.body);
        if (answer.body.length !== r.size || actual !== normHex(r.sha256))
          throw corrupt(
            `answered ${answer.body.length} bytes whose SHA-256 is ${actual}, not the ${r.size} bytes of ${normHex(r.sha256)} its receipt names`,
          );
        const contentType = (answer.headers.get("content-type") ?? "").split(";")[0].trim();
        const fetched: Fetched = {
          data: answer.body,
          sha256: actual,
          version: r.version,
          root: normHex(answer.headers.get(HEADER.root) ?? ""),
          contentType,
          node: node.url,
        };
        if (options.manifest === true && contentType === MANIFEST_CONTENT_TYPE) {
          try {
            fetched.manifest = parseManifest(key, answer.body);
          } catch (error) {
            throw new StorageClientError(
              ClientErrorCode.BadResponse,
              `GET ${key}: ${node.url}: ${(error as Error).message}`,
              {
                status: answer.status,
                node: node.url,
              },
            );
          }
        }
        return fetched;
      },
      true,
    );
  }

  /**
   * Bytes `range` of one object from the first replica that serves them right, without the whole
   * object: the node's leaf hashes (`?leaves=1`, under its checked receipt) must be as many as the
   * receipt's size makes and have the receipt's Merkle root; then the {@link LEAF_BYTES}-aligned
   * bytes covering the range are fetched (under the same receipt) and each leaf hashed against its
   * leaf hash. Every body is capped at its expected size. `expected` (a part named by a manifest)
   * is the content the node must hold. A wrong leaf, root or receipt moves on to the next replica.
   */
  private fetchRange(
    bucket: string,
    key: string,
    range: ByteRange,
    expected?: { sha256: string; size: number },
  ): Promise<Uint8Array> {
    const target = objectPath(bucket, key);
    return this.onReplicas(
      bucket,
      key,
      async (node, map) => {
        const corrupt = (why: string) =>
          new StorageClientError(ClientErrorCode.CorruptData, `GET ${key}: ${node.url} ${why}`, { node: node.url });
        let receipt: SignedReceipt | undefined;
        const listed = await this.request(node, bucket, Op.Read, "GET", `${target}?leaves=1`, {
          limit: (headers) => {
            receipt = this.servedReceipt(node, map, bucket, key, headers, `GET ${key}?leaves=1`);
            if (
              expected !== undefined &&
              (normHex(receipt.sha256) !== expected.sha256 || receipt.size !== expected.size)
            )
              throw corrupt(
                `holds ${receipt.size} bytes of SHA-256 ${normHex(receipt.sha256)}, not the ${expected.size} bytes of ${expected.sha256} its manifest names`,
              );
            // `{"leaves":["<64 hex>",…]}` and the rest of the object's identity.
            return 1024 + 6 * key.length + 67 * leafCount(receipt.size);
          },
        });
        const r = receipt!;
        const list = this.parse(node, leavesSchema, listed, `GET ${key}?leaves=1`);
        const leaves = list.leaves.map(normHex);
        const root = toHex(merkleRoot(leaves.map(fromHexBytes), this.sha256));
        if (
          list.key !== key ||
          list.version !== r.version ||
          normHex(list.sha256) !== normHex(r.sha256) ||
          list.size !== r.size ||
          list.leafSize !== LEAF_BYTES ||
          leaves.length !== leafCount(r.size) ||
          root !== normHex(r.root)
        )
          throw new StorageClientError(
            ClientErrorCode.BadReceipt,
            `GET ${key}?leaves=1: ${node.url} answered ${leaves.length} leaves of ${list.leafSize} bytes with Merkle root ${root} for ${list.size} bytes at version ${list.version}, not the ${leafCount(r.size)} leaves of root ${normHex(r.root)} its receipt names (${r.size} bytes at version ${r.version})`,
            { node: node.url },
          );
        const { start, end } = this.clampRange(key, range, r.size);
        const first = Math.floor(start / LEAF_BYTES);
        const last = Math.floor(end / LEAF_BYTES);
        const from = first * LEAF_BYTES;
        const to = Math.min(r.size, (last + 1) * LEAF_BYTES);
        const answer = await this.request(node, bucket, Op.Read, "GET", target, {
          headers: { range: `bytes=${from}-${to - 1}` },
          limit: (headers) => {
            const again = this.servedReceipt(node, map, bucket, key, headers, `GET ${key}`);
            if (again.version !== r.version || normHex(again.root) !== normHex(r.root))
              throw new StorageClientError(
                ClientErrorCode.BadReceipt,
                `GET ${key}: ${node.url} served version ${again.version} (root ${normHex(again.root)}) after the leaves of ${r.version}`,
                { node: node.url },
              );
            return to - from;
          },
        });
        if (answer.body.length !== to - from)
          throw corrupt(`answered ${answer.body.length} bytes for bytes ${from}-${to - 1}, not ${to - from}`);
        for (let i = first; i <= last; i++) {
          const chunk = answer.body.subarray(i * LEAF_BYTES - from, Math.min(to, (i + 1) * LEAF_BYTES) - from);
          const actual = toHex(hashLeaf(chunk, this.sha256));
          if (actual !== leaves[i])
            throw corrupt(`answered leaf ${i} whose hash is ${actual}, not ${leaves[i]} as its Merkle leaves name`);
        }
        return answer.body.subarray(start - from, end - from + 1);
      },
      true,
    );
  }

  /** Whether a HEAD's object is a manifest: the node answers the content type it was written with. */
  private isManifest(head: ObjectHead): boolean {
    return head.contentType === MANIFEST_CONTENT_TYPE;
  }

  /** A part of a split object: a replica that holds another content than the manifest names is skipped. */
  private fetchPart(bucket: string, part: Manifest["parts"][number]): Promise<Fetched> {
    return this.fetchWhole(bucket, part.key, { expected: { sha256: part.sha256, size: part.size } });
  }

  private async joinParts(bucket: string, key: string, whole: Fetched): Promise<Uint8Array> {
    const manifest = whole.manifest!;
    const chunks: Uint8Array[] = [];
    for (const part of manifest.parts) chunks.push((await this.fetchPart(bucket, part)).data);
    const data = concat(chunks);
    const actual = sha256Hex(this.sha256, data);
    if (actual !== manifest.sha256)
      throw new StorageClientError(
        ClientErrorCode.CorruptData,
        `${key}: the parts of the manifest ${whole.node} served join to SHA-256 ${actual}, not ${manifest.sha256} as the manifest says`,
        { node: whole.node },
      );
    return data;
  }

  private clampRange(key: string, range: ByteRange, size: number): { start: number; end: number } {
    const end = Math.min(range.end ?? size - 1, size - 1);
    if (!Number.isInteger(range.start) || range.start < 0 || (range.end !== undefined && range.end < range.start))
      throw new StorageClientError(ClientErrorCode.InvalidArgument, `bad range ${range.start}-${range.end ?? ""}`);
    if (range.start >= size)
      throw new StorageClientError(
        "range-not-satisfiable",
        `${key} has ${size} bytes: range ${range.start}- is past its end`,
      );
    return { start: range.start, end };
  }

  /** HEAD of one object: its size, version and SHA-256 as its node's receipt says (checked). */
  private headRaw(bucket: string, key: string): Promise<ObjectHead> {
    const target = objectPath(bucket, key);
    return this.onReplicas(
      bucket,
      key,
      async (node, map) => {
        const answer = await this.request(node, bucket, Op.Read, "HEAD", target);
        const r = this.servedReceipt(node, map, bucket, key, answer.headers, `HEAD ${key}`);
        const size = Number(answer.headers.get("content-length") ?? NaN);
        if (size !== r.size)
          throw new StorageClientError(
            ClientErrorCode.BadReceipt,
            `HEAD ${key}: ${node.url} answered ${answer.headers.get("content-length") ?? "no"} bytes, but a receipt of ${r.size}`,
            { status: answer.status, node: node.url },
          );
        return {
          key,
          version: r.version,
          size: r.size,
          sha256: normHex(r.sha256),
          root: normHex(answer.headers.get(HEADER.root) ?? ""),
          contentType: (answer.headers.get("content-type") ?? "").split(";")[0].trim(),
        };
      },
      true,
    );
  }

  private async deleteObject(bucket: string, key: string): Promise<void> {
    const target = objectPath(bucket, key);
    await this.onReplicas(bucket, key, (node) => this.request(node, bucket, Op.Delete, "DELETE", target));
  }

  private async listPage(bucket: string, prefix: string | undefined, startAfter: string | undefined, limit: number) {
    const map = await this.directory.forBucket(BigInt(bucket));
    const query = [
      ...(prefix !== undefined && prefix !== "" ? [`prefix=${escape(prefix)}`] : []),
      ...(startAfter !== undefined ? [`start-after=${escape(startAfter)}`] : []),
      `limit=${limit}`,
    ].join("&");
    const target = `/v1/buckets/${bucket}/objects?${query}`;
    const members = [...new Set(map.ring.nodes)].map((id) => map.nodes.get(id) ?? { id, url: "", signingKey: "" });
    const answers = await Promise.allSettled(
      members.map(async (node) =>
        this.parse(node, listSchema, await this.request(node, bucket, Op.List, "GET", target), `list ${bucket}`),
      ),
    );
    const failures: StorageClientError[] = [];
    // Each key's entries by content (version, SHA-256, size), with the nodes that answered each.
    const votes = new Map<string, Map<string, { entry: ObjectInfo; nodes: number }>>();
    let more = false;
    for (const [i, a] of answers.entries()) {
      if (a.status === "rejected") {
        if (!(a.reason instanceof StorageClientError) || !a.reason.retryable) throw a.reason;
        failures.push(a.reason);
        continue;
      }
      const node = members[i];
      // A node answering keys outside the prefix or not after `start-after`, or a `next` that does
      // not move forward, misbehaves: those entries (and its `next`) are dropped, and it is named.
      const p = prefix ?? "";
      const inBounds = (k: string) => k.startsWith(p) && (startAfter === undefined || k > startAfter);
      const out = a.value.objects.filter((o) => !inBounds(o.key));
      const badNext = a.value.next !== undefined && startAfter !== undefined && a.value.next <= startAfter;
      if (out.length > 0 || badNext)
        this.onRetry(
          new StorageClientError(
            ClientErrorCode.BadResponse,
            `list ${bucket}: ${node.url} answered ${out.length > 0 ? `${out.length} keys outside the prefix "${p}" or not after "${startAfter ?? ""}" (${out[0].key}…)` : `a next "${a.value.next ?? ""}" not after "${startAfter ?? ""}"`}; ignored`,
            { node: node.url },
          ),
        );
      if (a.value.next !== undefined && !badNext) more = true;
      for (const o of a.value.objects) {
        if (!inBounds(o.key)) continue;
        const id = `${o.version}/${normHex(o.sha256)}/${o.size}`;
        const byContent = votes.get(o.key) ?? new Map<string, { entry: ObjectInfo; nodes: number }>();
        const had = byContent.get(id);
        byContent.set(id, { entry: had?.entry ?? o, nodes: (had?.nodes ?? 0) + 1 });
        votes.set(o.key, byContent);
      }
    }
    // The entry most nodes agree on; between equally many, the highest version.
    const merged = new Map<string, ObjectInfo>();
    for (const [key, byContent] of votes) {
      const best = [...byContent.values()].reduce((x, y) =>
        y.nodes > x.nodes || (y.nodes === x.nodes && BigInt(y.entry.version) > BigInt(x.entry.version)) ? y : x,
      );
      merged.set(key, best.entry);
    }
    // Every key lives on `rf` members: with fewer failures, each key has been seen at least once.
    const tolerated = Math.min(map.replicationFactor, map.distinctNodes) - 1;
    if (failures.length > tolerated) {
      const last = failures[failures.length - 1];
      throw new StorageClientError(
        ClientErrorCode.AllReplicasFailed,
        `list ${bucket}: ${failures.length} of ${members.length} nodes failed, more than the ${tolerated} a complete listing survives: ${failures.map((f) => f.message).join("; ")}`,
        { status: last.status, node: last.node, attempts: failures },
      );
    }
    failures.forEach((f) => this.onRetry(f));
    const sorted = [...merged.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const objects = sorted.slice(0, limit);
    const page: ListResult = { objects };
    if ((more || sorted.length > limit) && objects.length > 0) page.next = objects[objects.length - 1].key;
    return page;
  }
}
