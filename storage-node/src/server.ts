import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import cors from "@fastify/cors";
import type { Signer, TypedDataDomain, TypedDataField } from "ethers";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { z } from "zod";
import type { NodeMetrics } from "./metrics";
import type { Authenticator, NodeChain, NodeStore, ObjectRecord, Principal, Replicator } from "./ports";
import { localReplicator } from "./ports";
import {
  CHALLENGE_TYPES,
  EMPTY_SHA256,
  ErrorCode,
  HEADER,
  LEAF_BYTES,
  MAX_KEY_BYTES,
  MAX_LIST_LIMIT,
  MAX_OBJECT_BYTES,
  RECEIPT_TYPES,
  USAGE_TYPES,
  encodeReceiptHeader,
  type BucketUsage,
  type ChallengeResponse,
  type ErrorBody,
  type ErrorCodeName,
  type LeavesResult,
  type ListResult,
  type PutResult,
  type SignedReceipt,
  type UsageRecord,
} from "./protocol";
import { hashLeaf, leafCount, merkleProof, merkleRoot, toHex } from "./store/merkle";
import { Metering } from "./metering";

/** The protocol's EIP-712 types as ethers takes them (they are declared `as const`). */
export const eip712 = (t: object) => t as Record<string, TypedDataField[]>;

/** Objects up to this size are read, checked, into one buffer; larger ones stream leaf-checked. */
export const BUFFER_LIMIT = 8 * 1024 * 1024;

export interface NodeServerDeps {
  store: NodeStore;
  auth: Authenticator;
  chain: NodeChain;
  /** This node's id and public URL (named in every error body). */
  node: { id: number; url: string };
  /** The node's signing key: receipts, challenge answers, usage records. */
  signer: Pick<Signer, "signTypedData">;
  domain: TypedDataDomain;
  metrics: NodeMetrics;
  logger: Logger;
  /** Milliseconds since the epoch (tests move it). */
  clock?: () => number;
  replicator?: Replicator;
  bodyLimitBytes?: number;
  /** How often metered usage is written to the store (ms). */
  usageFlushMs?: number;
}

/** An answer other than success: the status, the protocol code, and extra headers. */
export class NodeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCodeName,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "NodeHttpError";
  }
}

/** Store error codes and the status they answer with. */
const STORE_STATUS: Record<string, number> = {
  [ErrorCode.TooLarge]: 413,
  [ErrorCode.DigestMismatch]: 400,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Quarantined]: 503,
  [ErrorCode.RangeNotSatisfiable]: 416,
};

/**
 * Versions a coordinator assigns: milliseconds since the epoch × 1000 plus a counter, strictly
 * increasing in this process even when the clock steps back (max(last + 1, now × 1000)).
 */
export class VersionClock {
  private last = 0n;
  constructor(private readonly clock: () => number = Date.now) {}
  next(): bigint {
    const now = BigInt(Math.floor(this.clock())) * 1000n;
    this.last = now > this.last ? now : this.last + 1n;
    return this.last;
  }
}

const uint64 = z
  .string()
  .regex(/^(0|[1-9]\d{0,19})$/)
  .transform(BigInt)
  .refine((v) => v < 1n << 64n);
const uint32 = z.coerce
  .number()
  .int()
  .min(0)
  .max(0xffff_ffff)
  .refine(() => true);
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

export const challengeSchema = z
  .object({
    seed: z.string().min(1).max(256),
    bucket: z.string().regex(/^(0|[1-9]\d{0,19})$/, "a bucket id (decimal)"),
    key: z.string().min(1),
    leafIndex: z.number().int().min(0),
    nonce: z.string().min(1).max(256),
  })
  .strict();

const listQuery = z
  .object({
    prefix: z.string().max(MAX_KEY_BYTES).optional(),
    "start-after": z.string().max(MAX_KEY_BYTES).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(MAX_LIST_LIMIT),
  })
  .strict();

function parseBucket(raw: string): bigint {
  const r = uint64.safeParse(raw);
  if (!r.success)
    throw new NodeHttpError(400, ErrorCode.BadRequest, `bucket must be a uint64 in decimal, got "${raw}"`);
  return r.data;
}

function parseKey(raw: string | undefined): string {
  if (raw === undefined || raw === "") throw new NodeHttpError(400, ErrorCode.BadRequest, "the object key is empty");
  if (Buffer.byteLength(raw) > MAX_KEY_BYTES) {
    throw new NodeHttpError(400, ErrorCode.BadRequest, `the object key is longer than ${MAX_KEY_BYTES} bytes`);
  }
  return raw;
}

/**
 * A `Range` header against an object of `size` bytes (RFC 9110 §14): one range gives
 * `[start, end)`; none, a malformed header or a non-bytes unit gives undefined (the whole object,
 * as the RFC allows a server to ignore it); several ranges are not served (416, this node sends
 * no multipart); a range that starts past the end is 416.
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(.*)$/.exec(header.trim());
  if (m === null) return undefined;
  const specs = m[1].split(",").map((s) => s.trim());
  if (specs.length > 1) {
    throw new NodeHttpError(416, ErrorCode.RangeNotSatisfiable, "multiple ranges are not served", {
      "content-range": `bytes */${size}`,
    });
  }
  const r = /^(\d*)-(\d*)$/.exec(specs[0]);
  if (r === null || (r[1] === "" && r[2] === "")) return undefined;
  const unsatisfiable = () =>
    new NodeHttpError(416, ErrorCode.RangeNotSatisfiable, `range ${specs[0]} is outside an object of ${size} bytes`, {
      "content-range": `bytes */${size}`,
    });
  if (r[1] === "") {
    // A suffix: the last N bytes.
    const n = Number(r[2]);
    if (n === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - n), end: size };
  }
  const start = Number(r[1]);
  const last = r[2] === "" ? size - 1 : Number(r[2]);
  if (r[2] !== "" && last < start) return undefined;
  if (start >= size) throw unsatisfiable();
  return { start, end: Math.min(last, size - 1) + 1 };
}

/** SHA-256 of one object entry as the manifest root's leaf data: `<key>\n<version>\n<sha256>`. */
export function manifestLeaf(e: { key: string; version: bigint; sha256: string }): Uint8Array {
  return hashLeaf(Buffer.from(`${e.key}\n${e.version}\n${e.sha256}`, "utf8"), () => createHash("sha256") as never);
}

/** The manifest root of a bucket (see USAGE_TYPES), 0x-hex. */
export function manifestRoot(entries: { key: string; version: bigint; sha256: string }[]): string {
  const sha = () => createHash("sha256") as never;
  const leaves = entries.length === 0 ? [hashLeaf(new Uint8Array(0), sha)] : entries.map(manifestLeaf);
  return `0x${toHex(merkleRoot(leaves, sha))}`;
}

/** The content type of an object written without one. */
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

/**
 * The Content-Type a PUT declared, kept as sent (parameters included) when it is a well-formed
 * media type of at most 255 characters; otherwise the default.
 */
export function contentTypeOf(header: string | undefined): string {
  if (header === undefined) return DEFAULT_CONTENT_TYPE;
  const t = header.trim();
  if (t.length === 0 || t.length > 255 || !/^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(\s*;.*)?$/.test(t))
    return DEFAULT_CONTENT_TYPE;
  return t;
}

/** `?leaves=1` (the leaf hashes instead of the bytes). */
function wantsLeaves(query: unknown): boolean {
  const q = query as Record<string, unknown> | undefined;
  return q?.leaves === "1" || q?.leaves === "true";
}

function objectHeaders(reply: FastifyReply, o: ObjectRecord, receipt: SignedReceipt): void {
  reply.header("etag", `"${o.sha256}"`);
  reply.header(HEADER.receipt, encodeReceiptHeader(receipt));
  reply.header(HEADER.version, o.version.toString());
  reply.header(HEADER.root, o.root);
  reply.header("accept-ranges", "bytes");
}

function etagMatches(header: string | undefined, sha256: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === `"${sha256}"`);
}

/** Reads a small request body (JSON) whole, at most `limit` bytes. */
async function readSmall(stream: Readable, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of stream) {
    n += (chunk as Buffer).length;
    if (n > limit) throw new NodeHttpError(413, ErrorCode.TooLarge, `the body exceeds ${limit} bytes`);
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

/**
 * The node's HTTP API (HTTP/1.1): objects, lists, usage records and challenges. Every error is
 * `{ error: { code, message, node } }` with its status. Built from injected parts, so tests run it
 * in-process.
 */
export function buildNodeServer(deps: NodeServerDeps): { app: FastifyInstance; metering: Metering } {
  const { store, auth, chain, node, signer, domain, metrics, logger } = deps;
  const clock = deps.clock ?? Date.now;
  const replicator = deps.replicator ?? localReplicator;
  const bodyLimit = deps.bodyLimitBytes ?? MAX_OBJECT_BYTES;
  const versions = new VersionClock(clock);
  const metering = new Metering(store, chain, clock, deps.usageFlushMs ?? 5000, (e) =>
    logger.error({ err: e }, "usage flush failed"),
  );

  const app = Fastify({
    logger: false,
    // Our own limit on PUT bodies (the raw stream is handed over); this covers nothing else.
    bodyLimit,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    // On close, idle keep-alive connections are closed at once; busy ones finish their request.
    forceCloseConnections: "idle",
    // Keys are opaque: `a//b` and `a/` are keys of their own.
    routerOptions: {
      ignoreDuplicateSlashes: false,
      ignoreTrailingSlash: false,
      maxParamLength: MAX_KEY_BYTES * 3 + 64,
    },
  });
  app.removeAllContentTypeParsers();
  // Bodies are read by the handlers themselves: PUT streams them into the store.
  app.addContentTypeParser("*", (_req, payload, done) => done(null, payload));

  void app.register(cors, {
    // Authorisation is by signature, never by cookies: any origin may call.
    origin: "*",
    methods: ["GET", "HEAD", "PUT", "DELETE", "POST"],
    allowedHeaders: [
      "content-type",
      "range",
      "if-none-match",
      HEADER.session,
      HEADER.signature,
      HEADER.expires,
      HEADER.nonce,
      HEADER.contentSha256,
      HEADER.version,
      HEADER.replicaOf,
    ],
    exposedHeaders: [
      "etag",
      "content-range",
      "accept-ranges",
      HEADER.version,
      HEADER.root,
      HEADER.node,
      HEADER.receipt,
    ],
    maxAge: 600,
  });

  const errorBody = (code: ErrorCodeName, message: string, extra: Record<string, unknown> = {}): ErrorBody => ({
    error: { code, message, node: node.url, ...extra },
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody(ErrorCode.NotFound, `no route ${req.method} ${req.url.split("?")[0]}`));
  });

  app.setErrorHandler((error: unknown, req, reply) => {
    const e = error as { status?: unknown; statusCode?: unknown; code?: unknown; message?: string };
    if (error instanceof NodeHttpError) {
      for (const [k, v] of Object.entries(error.headers)) reply.header(k, v);
      return reply.code(error.status).send(errorBody(error.code, error.message, error.extra));
    }
    // The authenticator's errors: { status, code }.
    if (typeof e.status === "number" && typeof e.code === "string") {
      return reply.code(e.status).send(errorBody(e.code as ErrorCodeName, e.message ?? e.code));
    }
    if (typeof e.code === "string" && STORE_STATUS[e.code] !== undefined) {
      if (e.code === ErrorCode.Quarantined) metrics.quarantinedServed.inc();
      return reply.code(STORE_STATUS[e.code]).send(errorBody(e.code as ErrorCodeName, e.message ?? e.code));
    }
    if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return reply.code(413).send(errorBody(ErrorCode.TooLarge, `the body exceeds ${bodyLimit} bytes`));
    }
    if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(e.statusCode).send(errorBody(ErrorCode.BadRequest, e.message ?? "bad request"));
    }
    logger.error({ err: error, method: req.method, url: req.url }, "request failed");
    return reply.code(500).send(errorBody(ErrorCode.Internal, "internal error"));
  });

  // One hook: metrics by route and status. No per-request log line at info (it costs throughput).
  app.addHook("onResponse", (req, reply, done) => {
    const route = req.routeOptions.url ?? "unmatched";
    metrics.requests.inc({ route, method: req.method, status: reply.statusCode });
    metrics.latency.observe({ route, method: req.method }, reply.elapsedTime / 1000);
    done();
  });

  /** Authenticates with the body hash the client announced (a PUT) or that of an empty body. */
  const authenticate = (req: FastifyRequest, bodySha256 = EMPTY_SHA256): Promise<Principal> =>
    auth.authenticate({ method: req.method, target: req.url, headers: req.headers, bodySha256 });

  const bucketOf = (req: FastifyRequest) => parseBucket((req.params as { bucket: string }).bucket);
  const keyOf = (req: FastifyRequest) => parseKey((req.params as { "*"?: string })["*"]);

  /** 421 unless this node holds the key's replicas. */
  const placement = async (bucket: bigint, key: string) => {
    const where = await chain.replicas(bucket, key);
    if (!where.nodes.some((n) => n.id === node.id)) {
      throw new NodeHttpError(
        421,
        ErrorCode.NotReplica,
        `node ${node.id} does not hold key "${key}": its replicas are ${where.nodes.map((n) => n.id).join(", ")}`,
        {},
        { replicas: where.nodes },
      );
    }
    return where;
  };

  const signReceipt = async (o: ObjectRecord): Promise<SignedReceipt> => {
    const value = {
      node: node.id,
      bucket: o.bucket,
      key: o.key,
      version: o.version,
      sha256: `0x${o.sha256}`,
      size: o.size,
    };
    const signature = await signer.signTypedData(domain, eip712(RECEIPT_TYPES), value);
    return {
      node: node.id,
      bucket: o.bucket.toString(),
      key: o.key,
      version: o.version.toString(),
      sha256: o.sha256,
      size: o.size,
      signature,
    };
  };

  app.put("/v1/buckets/:bucket/objects/*", async (req, reply) => {
    const bucket = bucketOf(req);
    const key = keyOf(req);
    const announced = req.headers[HEADER.contentSha256];
    if (typeof announced !== "string" || !hex64.safeParse(announced.toLowerCase()).success) {
      throw new NodeHttpError(400, ErrorCode.BadRequest, `${HEADER.contentSha256} must be the body's SHA-256 in hex`);
    }
    const length = req.headers["content-length"] === undefined ? undefined : Number(req.headers["content-length"]);
    if (length !== undefined && length > bodyLimit) {
      throw new NodeHttpError(413, ErrorCode.TooLarge, `the body (${length} bytes) exceeds ${bodyLimit} bytes`);
    }
    const principal = await authenticate(req, announced.toLowerCase());
    await auth.authorize(principal, { op: "write", bucket, key });
    const where = await placement(bucket, key);
    // A peer forwarding a coordinator's write keeps the coordinator's version.
    let version: bigint;
    const forwarded = req.headers[HEADER.version];
    if (principal.kind === "node" && typeof forwarded === "string" && uint64.safeParse(forwarded).success) {
      version = BigInt(forwarded);
    } else {
      version = versions.next();
    }
    const cap = await auth.capBytes(bucket);
    const old = store.get(bucket, key);
    const others = BigInt(store.storedBytes(bucket)) - BigInt(old !== undefined && !old.deleted ? old.size : 0);
    const room = cap - others;
    if (room < 0n || (length !== undefined && BigInt(length) > room)) {
      throw new NodeHttpError(
        507,
        ErrorCode.CapExceeded,
        `bucket ${bucket} would store ${others + BigInt(length ?? 0)} bytes, above its cap of ${cap}`,
      );
    }
    const maxBytes = room < BigInt(bodyLimit) ? Number(room) : bodyLimit;
    let record: ObjectRecord;
    try {
      record = await store.put(bucket, key, where.token, req.body as Readable, {
        version,
        maxBytes,
        expectedSha256: announced.toLowerCase(),
        contentType: contentTypeOf(req.headers["content-type"]),
      });
    } catch (error) {
      if ((error as { code?: unknown }).code === ErrorCode.TooLarge && maxBytes < bodyLimit) {
        throw new NodeHttpError(507, ErrorCode.CapExceeded, `bucket ${bucket} would pass its cap of ${cap} bytes`);
      }
      throw error;
    }
    metrics.bytesIn.inc(record.size);
    const receipts = [await signReceipt(record)];
    const others2 = where.nodes.filter((n) => n.id !== node.id);
    if (others2.length > 0 && principal.kind !== "node") {
      receipts.push(...(await replicator.replicateWrite({ bucket, key, version, record, replicas: others2 })));
    }
    const result: PutResult = {
      bucket: bucket.toString(),
      key,
      version: record.version.toString(),
      sha256: record.sha256,
      size: record.size,
      root: record.root,
      receipts,
    };
    return reply.code(201).header(HEADER.version, result.version).send(result);
  });

  /** The receipt kept with the row; a row stored without one is signed now and the signature kept. */
  const rowReceipt = async (o: ObjectRecord): Promise<SignedReceipt> => {
    if (o.receipt !== undefined) {
      const r = { node: node.id, bucket: o.bucket.toString(), key: o.key, version: o.version.toString() };
      return { ...r, sha256: o.sha256, size: o.size, signature: o.receipt };
    }
    const signed = await signReceipt(o);
    store.keepReceipt?.(o, signed.signature);
    return signed;
  };

  /** GET and HEAD: the object's headers (its receipt included); GET also its bytes (a range of them). */
  const serve = async (req: FastifyRequest, reply: FastifyReply, body: boolean) => {
    const bucket = bucketOf(req);
    const key = keyOf(req);
    const principal = await authenticate(req);
    await auth.authorize(principal, { op: "read", bucket, key });
    const o = store.get(bucket, key);
    if (o === undefined || o.deleted)
      throw new NodeHttpError(404, ErrorCode.NotFound, `no object "${key}" in bucket ${bucket}`);
    const receipt = await rowReceipt(o);
    if (body && wantsLeaves(req.query)) {
      const leaves: LeavesResult = {
        key: o.key,
        version: o.version.toString(),
        size: o.size,
        sha256: o.sha256,
        root: o.root,
        leafSize: LEAF_BYTES,
        leaves: (await store.leaves(o)).map(toHex),
      };
      objectHeaders(reply, o, receipt);
      metering.count(bucket, 0);
      return reply.header("content-type", "application/json; charset=utf-8").send(leaves);
    }
    if (etagMatches(req.headers["if-none-match"], o.sha256)) {
      objectHeaders(reply, o, receipt);
      metering.count(bucket, 0);
      return reply.code(304).send();
    }
    const range = parseRange(req.headers.range, o.size);
    const start = range?.start ?? 0;
    const end = range?.end ?? o.size;
    // Read and checked whole before any header is set: a corrupt blob answers a clean error.
    const buffered = body && end - start <= BUFFER_LIMIT;
    const bytes = buffered ? (end === start ? Buffer.alloc(0) : await store.read(o, start, end)) : undefined;
    objectHeaders(reply, o, receipt);
    if (range !== undefined) reply.code(206).header("content-range", `bytes ${start}-${end - 1}/${o.size}`);
    reply.header("content-type", o.contentType ?? DEFAULT_CONTENT_TYPE);
    reply.header("content-length", end - start);
    metering.count(bucket, body ? end - start : 0);
    if (!body) return reply.send();
    metrics.bytesOut.inc(end - start);
    if (bytes !== undefined) return reply.send(bytes);
    return reply.send(store.stream(o, start, end));
  };

  app.get("/v1/buckets/:bucket/objects/*", (req, reply) => serve(req, reply, true));
  app.head("/v1/buckets/:bucket/objects/*", (req, reply) => serve(req, reply, false));

  app.delete("/v1/buckets/:bucket/objects/*", async (req, reply) => {
    const bucket = bucketOf(req);
    const key = keyOf(req);
    const principal = await authenticate(req);
    await auth.authorize(principal, { op: "delete", bucket, key });
    const where = await placement(bucket, key);
    const old = store.get(bucket, key);
    if (old === undefined || old.deleted)
      throw new NodeHttpError(404, ErrorCode.NotFound, `no object "${key}" in bucket ${bucket}`);
    const forwarded = req.headers[HEADER.version];
    const version =
      principal.kind === "node" && typeof forwarded === "string" && uint64.safeParse(forwarded).success
        ? BigInt(forwarded)
        : versions.next();
    await store.delete(bucket, key, where.token, version);
    const others = where.nodes.filter((n) => n.id !== node.id);
    if (others.length > 0 && principal.kind !== "node") {
      await replicator.replicateDelete({ bucket, key, version, replicas: others });
    }
    return reply.code(200).send({ version: version.toString() });
  });

  app.get("/v1/buckets/:bucket/objects", async (req, reply) => {
    const bucket = bucketOf(req);
    const q = listQuery.safeParse(req.query);
    if (!q.success) {
      const i = q.error.issues[0];
      throw new NodeHttpError(400, ErrorCode.BadRequest, `${i.path.join(".") || "query"}: ${i.message}`);
    }
    const principal = await authenticate(req);
    await auth.authorize(principal, { op: "list", bucket });
    const rows = store.list(bucket, { prefix: q.data.prefix, startAfter: q.data["start-after"], limit: q.data.limit });
    metering.count(bucket, 0);
    const result: ListResult = {
      objects: rows.map((o) => ({
        key: o.key,
        version: o.version.toString(),
        size: o.size,
        sha256: o.sha256,
        root: o.root,
      })),
    };
    if (rows.length === q.data.limit) result.next = rows[rows.length - 1].key;
    return reply.send(result);
  });

  app.get("/v1/usage/:cluster/:era", async (req, reply) => {
    const p = z.object({ cluster: uint32, era: uint32 }).safeParse(req.params);
    if (!p.success) throw new NodeHttpError(400, ErrorCode.BadRequest, "cluster and era must be uint32 in decimal");
    const { cluster, era } = p.data;
    const principal = await authenticate(req);
    if (principal.kind !== "validator" || principal.cluster !== cluster) {
      throw new NodeHttpError(403, ErrorCode.Forbidden, `usage records are for validators of cluster ${cluster}`);
    }
    const record = await usageRecord(cluster, era);
    return reply.send(record);
  });

  /** The usage of (cluster, era), signed: stored figures live for the current era, snapshotted for a closed one. */
  const usageRecord = async (cluster: number, era: number): Promise<UsageRecord> => {
    const current = await chain.era(cluster, Math.floor(clock() / 1000));
    if (era > current.era)
      throw new NodeHttpError(400, ErrorCode.BadRequest, `era ${era} has not begun (now ${current.era})`);
    await metering.flush();
    const buckets: BucketUsage[] = [];
    for (const bucket of store.buckets()) {
      if ((await chain.bucketCluster(bucket)) !== cluster) continue;
      const u = store.usage(bucket, era);
      let stored = u?.stored;
      if (era === current.era) stored = snapshot(bucket);
      else if (stored === undefined) {
        // A closed era not yet snapshotted: the figures now are its end's (recorded once).
        stored = snapshot(bucket);
        store.closeEra(bucket, era, stored);
      }
      if (stored.objects === 0 && (u === undefined || u.requests === 0)) continue;
      buckets.push({
        bucket: bucket.toString(),
        storedBytes: stored.storedBytes.toString(),
        servedBytes: (u?.servedBytes ?? 0).toString(),
        requests: (u?.requests ?? 0).toString(),
        objects: stored.objects,
        manifestRoot: stored.manifestRoot,
      });
    }
    buckets.sort((a, b) => (BigInt(a.bucket) < BigInt(b.bucket) ? -1 : 1));
    const value = { node: node.id, cluster, era, buckets };
    const signature = await signer.signTypedData(domain, eip712(USAGE_TYPES), value);
    return { ...value, signature };
  };

  const snapshot = (bucket: bigint) => {
    const entries = store.manifest(bucket);
    return { storedBytes: store.storedBytes(bucket), objects: entries.length, manifestRoot: manifestRoot(entries) };
  };
  metering.onEraEnd = (bucket, era) => store.closeEra(bucket, era, snapshot(bucket));

  app.post("/v1/qos/challenge", async (req, reply) => {
    const raw = await readSmall(req.body as Readable, 64 * 1024);
    const bodySha256 = createHash("sha256").update(raw).digest("hex");
    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch {
      throw new NodeHttpError(400, ErrorCode.BadRequest, "the body is not JSON");
    }
    const c = challengeSchema.safeParse(json);
    if (!c.success) {
      const i = c.error.issues[0];
      throw new NodeHttpError(400, ErrorCode.BadRequest, `${i.path.join(".") || "body"}: ${i.message}`);
    }
    const principal = await authenticate(req, bodySha256);
    const bucket = parseBucket(c.data.bucket);
    const cluster = await chain.bucketCluster(bucket);
    if (principal.kind !== "validator" || principal.cluster !== cluster) {
      throw new NodeHttpError(403, ErrorCode.Forbidden, `challenges are for validators of cluster ${cluster}`);
    }
    const o = store.get(bucket, c.data.key);
    if (o === undefined || o.deleted) {
      throw new NodeHttpError(404, ErrorCode.NotFound, `no object "${c.data.key}" in bucket ${bucket}`);
    }
    const count = leafCount(o.size);
    if (c.data.leafIndex >= count) {
      throw new NodeHttpError(
        400,
        ErrorCode.BadRequest,
        `leaf ${c.data.leafIndex} is out of range: the object has ${count} leaves`,
      );
    }
    const start = c.data.leafIndex * LEAF_BYTES;
    const leaf = o.size === 0 ? Buffer.alloc(0) : await store.read(o, start, Math.min(o.size, start + LEAF_BYTES));
    const leaves = await store.leaves(o);
    const proof = merkleProof(leaves, c.data.leafIndex).map(toHex);
    const leafHash = toHex(leaves[c.data.leafIndex]);
    const signature = await signer.signTypedData(domain, eip712(CHALLENGE_TYPES), {
      node: node.id,
      seed: c.data.seed,
      nonce: c.data.nonce,
      bucket,
      key: o.key,
      version: o.version,
      leafIndex: c.data.leafIndex,
      leafHash: `0x${leafHash}`,
      root: `0x${o.root}`,
    });
    const answer: ChallengeResponse = {
      node: node.id,
      bucket: bucket.toString(),
      key: o.key,
      version: o.version.toString(),
      size: o.size,
      sha256: o.sha256,
      root: o.root,
      leafIndex: c.data.leafIndex,
      leafCount: count,
      leaf: leaf.toString("base64"),
      proof,
      seed: c.data.seed,
      nonce: c.data.nonce,
      signature,
    };
    return reply.send(answer);
  });

  app.addHook("onClose", (_app, done) => {
    metering.stop();
    done();
  });
  return { app, metering };
}
