import { createHash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import cors from "@fastify/cors";
import type { Signer, TypedDataDomain, TypedDataField } from "ethers";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { z } from "zod";
import type { NodeMetrics } from "./metrics";
import type { Authenticator, NodeChain, NodeStore, ObjectRecord, Principal, Replicator } from "./ports";
import { localReplicator, ROW_OVERHEAD_BYTES } from "./ports";
import {
  CHALLENGE_TYPES,
  DEFAULT_MANIFEST_LIMIT,
  MANIFEST_PAGE_TYPES,
  MAX_MANIFEST_LIMIT,
  PROBE_NONCE,
  PROBE_TYPES,
  EMPTY_SHA256,
  ErrorCode,
  HEADER,
  LEAF_BYTES,
  MAX_CLOCK_SKEW_MS,
  MAX_KEY_BYTES,
  MAX_LIST_LIMIT,
  MAX_OBJECT_BYTES,
  RECEIPT_TYPES,
  USAGE_TYPES,
  keyProblem,
  maxAcceptedVersion,
  parseVersion,
  encodeReceiptHeader,
  receiptMessage,
  signedReceipt,
  type BucketUsage,
  type ChallengeResponse,
  type ErrorBody,
  type ErrorCodeName,
  type LeavesResult,
  type ListResult,
  type ManifestPage,
  type ProbeResponse,
  type PutResult,
  type SignedReceipt,
  type UsageRecord,
} from "./protocol";
import { leafCount, merkleProof, toHex } from "./store/merkle";
import {
  manifestLeaf as bucketManifestLeaf,
  manifestRoot as bucketManifestRoot,
  type ManifestEntry,
} from "./bucketManifest";
import { Metering } from "./metering";
import { Lru } from "./auth/lru";
import { hasWrongBytes, isDropped, NO_FAULTS, type NodeFaults } from "./faults";

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
  /**
   * The chain's time (ms), which places requests in eras (the era clock of startStorageNode: the
   * latest block's timestamp carried forward); `clock` unless given.
   */
  eraClock?: () => number;
  /** Refuse to coordinate writes while the clock is behind the chain's latest block (config.server.clockCheck; off unless set). */
  clockCheck?: boolean;
  replicator?: Replicator;
  bodyLimitBytes?: number;
  /** How often metered usage is written to the store (ms). */
  usageFlushMs?: number;
  /** HTTP limits (see {@link DEFAULT_LIMITS}). */
  limits?: Partial<ServerLimits>;
  /** Misbehaviour on purpose, for tests and the demo (faults.ts); none unless given. */
  faults?: Partial<NodeFaults>;
}

/** The server's time and rate limits (config.server). */
export interface ServerLimits {
  /** A whole request, body included, must arrive within this (ms); 64 MiB at 1 MB/s takes 64 s. */
  requestTimeoutMs: number;
  /** A socket idle this long is closed (ms). */
  connectionTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (ms). */
  keepAliveTimeoutMs: number;
  /** The request's headers must arrive within this (ms). */
  headersTimeoutMs: number;
  /** Requests served on one keep-alive connection before it is closed (0: no limit). */
  maxRequestsPerSocket: number;
  /** After `bodyGraceMs`, a PUT body must average at least this many bytes/s since then (0: no minimum). */
  minBodyBytesPerS: number;
  bodyGraceMs: number;
  /** Challenges one validator may make per era (per cluster). */
  challengesPerEra: number;
  /** Closed eras per bucket whose era-end manifest is kept (config qos.manifestEras). */
  manifestEras: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  requestTimeoutMs: 120_000,
  connectionTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  headersTimeoutMs: 30_000,
  maxRequestsPerSocket: 1000,
  minBodyBytesPerS: 64 * 1024,
  bodyGraceMs: 10_000,
  challengesPerEra: 256,
  manifestEras: 8,
};

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
  // The disk or the database is full: nothing was stored.
  SQLITE_FULL: 507,
  ENOSPC: 507,
  EDQUOT: 507,
  // Another writer holds the database: retry.
  SQLITE_BUSY: 503,
  SQLITE_LOCKED: 503,
};

/** The protocol code of a store error code (system and SQLite codes map to node-full and busy). */
const STORE_CODE: Record<string, ErrorCodeName> = {
  SQLITE_FULL: ErrorCode.NodeFull,
  ENOSPC: ErrorCode.NodeFull,
  EDQUOT: ErrorCode.NodeFull,
  SQLITE_BUSY: ErrorCode.Busy,
  SQLITE_LOCKED: ErrorCode.Busy,
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

/** A uint32 in decimal as it travels in a path (no sign, exponent, spaces or leading zeros). */
const decimalUint32 = z
  .string()
  .regex(/^(0|[1-9]\d{0,9})$/)
  .transform(Number)
  .refine((v) => v <= 0xffff_ffff);

const manifestQuery = z
  .object({
    "start-after": z.string().max(MAX_KEY_BYTES).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_MANIFEST_LIMIT).default(DEFAULT_MANIFEST_LIMIT),
  })
  .strict();

const probeQuery = z.object({ nonce: z.string().regex(PROBE_NONCE, "16 to 64 hex digits") }).strict();

function parseBucket(raw: string): bigint {
  const r = uint64.safeParse(raw);
  if (!r.success)
    throw new NodeHttpError(400, ErrorCode.BadRequest, `bucket must be a uint64 in decimal, got "${raw}"`);
  return r.data;
}

/** The object key of a request (the decoded path after `/objects/`): 400 bad-key naming the rule it breaks. */
function parseKey(raw: string | undefined): string {
  const problem = keyProblem(raw ?? "");
  if (problem !== undefined) throw new NodeHttpError(400, ErrorCode.BadKey, problem);
  return raw!;
}

/**
 * The body stream of a PUT, cut with a 408 timeout when it arrives slower than `minBytesPerS`
 * (averaged from the end of the grace period), so that a slow body cannot hold a temporary file.
 */
function rateLimited(body: Readable, length: number, minBytesPerS: number, graceMs: number, clock: () => number) {
  let received = 0;
  const started = clock();
  const out = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      done(null, chunk);
    },
  });
  const timer =
    minBytesPerS > 0
      ? setInterval(
          () => {
            const late = clock() - started - graceMs;
            if (late <= 0 || received >= length) return;
            if (received < (minBytesPerS * late) / 1000) {
              clearInterval(timer);
              const e = new NodeHttpError(
                408,
                ErrorCode.Timeout,
                `the body arrived at less than ${minBytesPerS} bytes/s (${received} of ${length} bytes)`,
                { connection: "close" },
              );
              out.destroy(e);
              body.unpipe(out);
              body.resume();
            }
          },
          Math.min(1000, Math.max(50, graceMs)),
        )
      : undefined;
  timer?.unref();
  const stop = () => {
    if (timer !== undefined) clearInterval(timer);
  };
  out.on("close", stop);
  body.on("error", (e) => out.destroy(e));
  body.pipe(out);
  return { stream: out, stop };
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

/** SHA-256 through node:crypto (several times faster than the portable one). */
const nodeSha256 = () => createHash("sha256") as never;

/** The leaf hash of one manifest entry (see bucketManifest.ts). */
export function manifestLeaf(e: ManifestEntry): Uint8Array {
  return bucketManifestLeaf(e, nodeSha256);
}

/** The manifest root of a bucket's entries (see bucketManifest.ts and USAGE_TYPES), 0x-hex. */
export function manifestRoot(entries: readonly ManifestEntry[]): string {
  return bucketManifestRoot(entries, nodeSha256);
}

/** A copy of `bytes` with its first byte flipped (one zero byte for none): bytes that do not match their hash. */
function flipFirstByte(bytes: Buffer): Buffer {
  if (bytes.length === 0) return Buffer.alloc(1);
  const out = Buffer.from(bytes);
  out[0] ^= 0xff;
  return out;
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
  // Eras are the chain's: usage, manifests and challenge counts are placed by the chain's time.
  const eraNow = deps.eraClock ?? clock;
  const replicator = deps.replicator ?? localReplicator;
  const bodyLimit = deps.bodyLimitBytes ?? MAX_OBJECT_BYTES;
  const versions = new VersionClock(clock);
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const faults: NodeFaults = { ...NO_FAULTS, ...deps.faults };
  /** Bytes announced by PUTs whose bodies are streaming, per bucket: counted against the cap. */
  const reserved = new Map<bigint, bigint>();
  /** Challenges per (cluster, era, validator). */
  const challengeCounts = new Map<string, number>();
  const metering = new Metering(store, chain, eraNow, deps.usageFlushMs ?? 5000, (e) =>
    logger.error({ err: e }, "usage flush failed"),
  );

  const app = Fastify({
    logger: false,
    // Our own limit on PUT bodies (the raw stream is handed over); this covers nothing else.
    bodyLimit,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.connectionTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    // On close, idle keep-alive connections are closed at once; busy ones finish their request.
    forceCloseConnections: "idle",
    // Keys are opaque: `a//b` and `a/` are keys of their own.
    routerOptions: {
      ignoreDuplicateSlashes: false,
      ignoreTrailingSlash: false,
      maxParamLength: MAX_KEY_BYTES * 3 + 64,
    },
  });
  // Node's default (60 s) would outlast a shorter request timeout; it must not exceed it.
  app.server.headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
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
    // The authenticator's and the replicator's errors: { status, code, extra? }.
    if (typeof e.status === "number" && typeof e.code === "string") {
      const extra = (error as { extra?: unknown }).extra;
      return reply
        .code(e.status)
        .send(
          errorBody(
            e.code as ErrorCodeName,
            e.message ?? e.code,
            typeof extra === "object" && extra !== null ? (extra as Record<string, unknown>) : {},
          ),
        );
    }
    if (typeof e.code === "string" && STORE_STATUS[e.code] !== undefined) {
      if (e.code === ErrorCode.Quarantined) metrics.quarantinedServed.inc();
      const code = STORE_CODE[e.code];
      if (code === undefined) {
        return reply.code(STORE_STATUS[e.code]).send(errorBody(e.code as ErrorCodeName, e.message ?? e.code));
      }
      logger.error({ err: error, method: req.method, url: req.url }, "store failed");
      if (code === ErrorCode.Busy) reply.header("retry-after", "1");
      const message =
        code === ErrorCode.NodeFull
          ? "the node's storage is full: nothing was stored"
          : "the node's store is busy: retry";
      return reply.code(STORE_STATUS[e.code]).send(errorBody(code, message));
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

  if (faults.delayMs > 0) {
    // Fault injection: every validator-facing answer, errors included, is held.
    app.addHook("onSend", async (req, _reply, payload) => {
      if (req.url.startsWith("/v1/qos/")) await new Promise((r) => setTimeout(r, faults.delayMs));
      return payload;
    });
  }

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
    const signature = await signer.signTypedData(domain, eip712(RECEIPT_TYPES), receiptMessage(node.id, o));
    return signedReceipt(node.id, o, signature);
  };

  /** The receipt kept with the row; a row stored without one is signed now and the signature kept. */
  const rowReceipt = async (o: ObjectRecord): Promise<SignedReceipt> => {
    if (o.receipt !== undefined) return signedReceipt(node.id, o, o.receipt);
    const signed = await signReceipt(o);
    store.keepReceipt?.(o, signed.signature);
    return signed;
  };

  /**
   * The version of a write or delete: a peer's session may carry the coordinator's (at most 63 bits
   * and at most MAX_CLOCK_SKEW_MS ahead of this node's clock: 400 otherwise); any other write gets
   * the next of this node's clock, which must be close to the chain's time.
   */
  const versionOf = (req: FastifyRequest, principal: Principal): bigint => {
    const forwarded = req.headers[HEADER.version];
    if (principal.kind === "node" && forwarded !== undefined) {
      const v = parseVersion(forwarded);
      if (v === undefined) {
        throw new NodeHttpError(
          400,
          ErrorCode.BadRequest,
          `${HEADER.version} must be a decimal integer of at most 63 bits`,
        );
      }
      if (v > maxAcceptedVersion(clock())) {
        throw new NodeHttpError(
          400,
          ErrorCode.BadRequest,
          `version ${v} is more than ${MAX_CLOCK_SKEW_MS} ms ahead of node ${node.id}'s clock`,
        );
      }
      return v;
    }
    const chainTime = deps.clockCheck === true ? chain.latestBlockTime?.() : undefined;
    if (chainTime !== undefined && chainTime * 1000 - clock() > MAX_CLOCK_SKEW_MS / 2) {
      throw new NodeHttpError(
        503,
        ErrorCode.ClockSkew,
        `node ${node.id}'s clock is ${Math.round((chainTime * 1000 - clock()) / 1000)} s behind the chain's latest block: ` +
          "it assigns no versions until its clock is set right",
      );
    }
    return versions.next();
  };

  /** What a row costs against its bucket's cap (see NodeStore.chargedBytes). */
  const rowCharge = (key: string, size: number) => BigInt(size + Buffer.byteLength(key) + ROW_OVERHEAD_BYTES);

  /** 409 superseded: the write lost to `current`, nothing was stored. */
  const superseded = (bucket: bigint, key: string, version: bigint, current: ObjectRecord) =>
    new NodeHttpError(
      409,
      ErrorCode.Superseded,
      `version ${version} of "${key}" in bucket ${bucket} lost to the stored version ${current.version}: nothing was stored`,
      {},
      { current: current.version.toString() },
    );

  app.put("/v1/buckets/:bucket/objects/*", async (req, reply) => {
    const bucket = bucketOf(req);
    const key = keyOf(req);
    const announced = req.headers[HEADER.contentSha256];
    if (typeof announced !== "string" || !hex64.safeParse(announced.toLowerCase()).success) {
      throw new NodeHttpError(400, ErrorCode.BadRequest, `${HEADER.contentSha256} must be the body's SHA-256 in hex`);
    }
    const rawLength = req.headers["content-length"];
    if (rawLength === undefined || req.headers["transfer-encoding"] !== undefined) {
      throw new NodeHttpError(
        411,
        ErrorCode.LengthRequired,
        "a PUT must announce its size in content-length (chunked uploads are refused)",
        { connection: "close" },
      );
    }
    if (!/^\d{1,16}$/.test(rawLength)) {
      throw new NodeHttpError(400, ErrorCode.BadRequest, "content-length must be a decimal number of bytes");
    }
    const length = Number(rawLength);
    if (length > bodyLimit) {
      throw new NodeHttpError(413, ErrorCode.TooLarge, `the body (${length} bytes) exceeds ${bodyLimit} bytes`);
    }
    const principal = await authenticate(req, announced.toLowerCase());
    await auth.authorize(principal, { op: "write", bucket, key });
    const where = await placement(bucket, key);
    const version = versionOf(req, principal);
    const cap = await auth.capBytes(bucket);
    // The cap counts every row's key and overhead, and the bodies of PUTs still streaming.
    const old = store.get(bucket, key);
    const oldCharge = old === undefined ? 0n : rowCharge(key, old.deleted ? 0 : old.size);
    const need = rowCharge(key, length) - oldCharge;
    const charged = BigInt(store.chargedBytes(bucket)) + (reserved.get(bucket) ?? 0n);
    if (need > 0n && charged + need > cap) {
      throw new NodeHttpError(
        507,
        ErrorCode.CapExceeded,
        `bucket ${bucket} would count ${charged + need} bytes (objects, keys and ${ROW_OVERHEAD_BYTES} bytes a row), above its cap of ${cap}`,
      );
    }
    const hold = need > 0n ? need : 0n;
    reserved.set(bucket, (reserved.get(bucket) ?? 0n) + hold);
    const body = rateLimited(req.body as Readable, length, limits.minBodyBytesPerS, limits.bodyGraceMs, clock);
    let outcome;
    try {
      outcome = await store.put(bucket, key, where.token, body.stream, {
        version,
        maxBytes: length,
        expectedSha256: announced.toLowerCase(),
        contentType: contentTypeOf(req.headers["content-type"]),
      });
    } finally {
      body.stop();
      const left = (reserved.get(bucket) ?? 0n) - hold;
      if (left > 0n) reserved.set(bucket, left);
      else reserved.delete(bucket);
    }
    if (!outcome.applied) throw superseded(bucket, key, version, outcome.record);
    const record = outcome.record;
    metrics.bytesIn.inc(record.size);
    // The receipt the store signed when it kept the row: one signature per stored row.
    const receipts = [await rowReceipt(record)];
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

  /** GET and HEAD: the object's headers (its receipt included); GET also its bytes (a range of them). */
  const serve = async (req: FastifyRequest, reply: FastifyReply, body: boolean) => {
    const bucket = bucketOf(req);
    const key = keyOf(req);
    const principal = await authenticate(req);
    await auth.authorize(principal, { op: "read", bucket, key });
    const o = store.get(bucket, key);
    if (o === undefined || o.deleted || isDropped(faults, bucket, key))
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
    const version = versionOf(req, principal);
    const outcome = await store.delete(bucket, key, where.token, version);
    if (!outcome.applied) throw superseded(bucket, key, version, outcome.record);
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
    if (!(await chain.clusterHolds(cluster, node.id))) {
      throw new NodeHttpError(421, ErrorCode.NotInCluster, `node ${node.id} is not in cluster ${cluster}`);
    }
    const record = await usageRecord(cluster, era);
    return reply.send(record);
  });

  /** The usage of (cluster, era), signed: stored figures live for the current era, snapshotted for a closed one. */
  const usageRecord = async (cluster: number, era: number): Promise<UsageRecord> => {
    const current = await chain.era(cluster, Math.floor(eraNow() / 1000));
    if (era > current.era)
      throw new NodeHttpError(400, ErrorCode.BadRequest, `era ${era} has not begun (now ${current.era})`);
    await metering.flush();
    const buckets: BucketUsage[] = [];
    let held = 0;
    for (const bucket of store.buckets()) {
      if ((await chain.bucketCluster(bucket)) !== cluster) continue;
      held++;
      const u = store.usage(bucket, era);
      // A closed era's figures are those snapshotted at its end; a bucket without one is left out.
      const stored = era === current.era ? snapshot(bucket) : u?.stored;
      if (stored === undefined) continue;
      if (stored.objects === 0 && (u === undefined || u.requests === 0)) continue;
      buckets.push({
        bucket: bucket.toString(),
        storedBytes: (BigInt(stored.storedBytes) + BigInt(faults.inflateUsageBytes)).toString(),
        servedBytes: (u?.servedBytes ?? 0).toString(),
        requests: (u?.requests ?? 0).toString(),
        objects: stored.objects,
        manifestRoot: stored.manifestRoot,
      });
    }
    if (
      era < current.era &&
      held > 0 &&
      buckets.length === 0 &&
      !store.buckets().some((b) => store.usage(b, era)?.stored)
    ) {
      throw new NodeHttpError(
        404,
        ErrorCode.NotFound,
        `node ${node.id} took no snapshot at the end of era ${era} of cluster ${cluster} (it was not running then): no usage record`,
      );
    }
    buckets.sort((a, b) => (BigInt(a.bucket) < BigInt(b.bucket) ? -1 : 1));
    const value = { node: node.id, cluster, era, buckets };
    const signature = await signer.signTypedData(domain, eip712(USAGE_TYPES), value);
    return { ...value, signature };
  };

  /** A bucket's live manifest: its entries, and the stored figures they give. */
  const liveManifest = (bucket: bigint) => {
    const entries = store.manifest(bucket);
    const figures = {
      storedBytes: store.storedBytes(bucket),
      objects: entries.length,
      manifestRoot: manifestRoot(entries),
    };
    return { entries, figures };
  };
  /**
   * The live figures of a bucket, cached until the store next writes: a validator paging through
   * the current era's manifest gets its root on every page, which is O(objects) to compute.
   */
  const liveFigures = new Lru<bigint, { changes: number; figures: ReturnType<typeof liveManifest>["figures"] }>(1024);
  const snapshot = (bucket: bigint) => {
    const changes = store.changeCount?.();
    const cached = changes === undefined ? undefined : liveFigures.get(bucket);
    if (cached !== undefined && cached.changes === changes) return cached.figures;
    const figures = liveManifest(bucket).figures;
    if (changes !== undefined) liveFigures.set(bucket, { changes, figures });
    return figures;
  };
  // The era-end figures, and the entries their root covers (kept for the last eras, for validators).
  metering.onEraEnd = (bucket, era) => {
    const m = liveManifest(bucket);
    store.closeEra(bucket, era, m.figures, { entries: m.entries, keepEras: limits.manifestEras });
  };

  app.get("/v1/qos/manifest/:cluster/:era/:bucket", async (req, reply) => {
    const p = z.object({ cluster: decimalUint32, era: decimalUint32, bucket: z.string() }).safeParse(req.params);
    if (!p.success) throw new NodeHttpError(400, ErrorCode.BadRequest, "cluster and era must be uint32 in decimal");
    const { cluster, era } = p.data;
    const bucket = parseBucket(p.data.bucket);
    const q = manifestQuery.safeParse(req.query);
    if (!q.success) {
      const i = q.error.issues[0];
      throw new NodeHttpError(400, ErrorCode.BadRequest, `${i.path.join(".") || "query"}: ${i.message}`);
    }
    const principal = await authenticate(req);
    if (principal.kind !== "validator") {
      throw new NodeHttpError(403, ErrorCode.Forbidden, "manifests are for validators");
    }
    if (principal.cluster !== cluster) {
      throw new NodeHttpError(403, ErrorCode.Forbidden, `manifests are for validators of cluster ${cluster}`);
    }
    const held = await chain.bucketCluster(bucket);
    if (held !== cluster) {
      throw new NodeHttpError(
        404,
        ErrorCode.NotFound,
        `bucket ${bucket} is not in cluster ${cluster} (it is in ${held})`,
      );
    }
    const current = (await chain.era(cluster, Math.floor(eraNow() / 1000))).era;
    if (era > current) {
      throw new NodeHttpError(400, ErrorCode.BadRequest, `era ${era} has not begun (now ${current})`);
    }
    const startAfter = q.data["start-after"] ?? "";
    const limit = q.data.limit;
    let whole: { objects: number; manifestRoot: string } | undefined;
    let rows: ManifestEntry[];
    if (era === current) {
      // The live rows; the page and the root are read with no await between them: they agree.
      whole = snapshot(bucket);
      rows = store
        .list(bucket, { startAfter, limit: limit + 1 })
        .map((o) => ({ key: o.key, version: o.version, sha256: o.sha256, size: o.size, root: o.root }));
    } else {
      whole = store.eraManifest(bucket, era);
      if (whole === undefined) {
        // An era that just ended may not be snapshotted yet: the flush does it when the node saw it end.
        await metering.flush();
        whole = store.eraManifest(bucket, era);
      }
      if (whole === undefined) {
        throw new NodeHttpError(
          404,
          ErrorCode.NotFound,
          `node ${node.id} keeps no manifest of bucket ${bucket} at the end of era ${era} ` +
            `(it was not running then, or the era is older than the last ${limits.manifestEras} it keeps)`,
        );
      }
      rows = store.eraManifestEntries(bucket, era, { startAfter, limit: limit + 1 });
    }
    const entries = rows.slice(0, limit);
    const next = rows.length > limit ? entries[entries.length - 1].key : undefined;
    const value = {
      node: node.id,
      cluster,
      era,
      bucket,
      objects: whole.objects,
      manifestRoot: whole.manifestRoot,
      startAfter,
      pageRoot: manifestRoot(entries),
      next: next ?? "",
    };
    const signature = await signer.signTypedData(domain, eip712(MANIFEST_PAGE_TYPES), value);
    const page: ManifestPage = {
      node: node.id,
      cluster,
      era,
      bucket: bucket.toString(),
      objects: whole.objects,
      manifestRoot: whole.manifestRoot,
      entries: entries.map((e) => ({
        key: e.key,
        version: e.version.toString(),
        sha256: e.sha256,
        size: e.size,
        root: e.root,
      })),
      ...(next === undefined ? {} : { next }),
      signature,
    };
    return reply.send(page);
  });

  // A probe answers the node's clock, signed: no store access, no metering (it is nobody's usage).
  app.get("/v1/qos/probe", async (req, reply) => {
    const q = probeQuery.safeParse(req.query);
    if (!q.success) {
      const i = q.error.issues[0];
      throw new NodeHttpError(400, ErrorCode.BadRequest, `${i.path.join(".") || "query"}: ${i.message}`);
    }
    const principal = await authenticate(req);
    if (principal.kind !== "validator") {
      metrics.probes.inc({ outcome: "refused" });
      throw new NodeHttpError(403, ErrorCode.Forbidden, "probes are for validators");
    }
    // Only the validators of a cluster holding this node: anyone may create a cluster and name
    // themselves its validator.
    if (!(await chain.clusterHolds(principal.cluster, node.id))) {
      metrics.probes.inc({ outcome: "refused" });
      throw new NodeHttpError(421, ErrorCode.NotInCluster, `node ${node.id} is not in cluster ${principal.cluster}`);
    }
    if (faults.failProbes) {
      metrics.probes.inc({ outcome: "failed" });
      throw new NodeHttpError(503, ErrorCode.Internal, `node ${node.id} failed to answer the probe`);
    }
    const at = Math.floor(clock());
    const value = { node: node.id, nonce: q.data.nonce, at };
    const signature = await signer.signTypedData(domain, eip712(PROBE_TYPES), value);
    metrics.probes.inc({ outcome: "answered" });
    const answer: ProbeResponse = { ...value, signature };
    return reply.send(answer);
  });

  app.post("/v1/qos/challenge", async (req, reply) => {
    // Authenticated from its headers (the signed hash of the body it announces) before any byte
    // of the body is read; the body must then have that hash.
    const announced = req.headers[HEADER.contentSha256];
    if (typeof announced !== "string" || !hex64.safeParse(announced.toLowerCase()).success) {
      throw new NodeHttpError(400, ErrorCode.BadRequest, `${HEADER.contentSha256} must be the body's SHA-256 in hex`);
    }
    const principal = await authenticate(req, announced.toLowerCase());
    if (principal.kind !== "validator") {
      metrics.challenges.inc({ outcome: "refused" });
      throw new NodeHttpError(403, ErrorCode.Forbidden, "challenges are for validators");
    }
    const raw = await readSmall(req.body as Readable, 64 * 1024);
    const bodySha256 = createHash("sha256").update(raw).digest("hex");
    if (bodySha256 !== announced.toLowerCase()) {
      throw new NodeHttpError(
        400,
        ErrorCode.DigestMismatch,
        `the body's SHA-256 is ${bodySha256}, not the announced one`,
      );
    }
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
    const bucket = parseBucket(c.data.bucket);
    const cluster = await chain.bucketCluster(bucket);
    if (principal.cluster !== cluster) {
      metrics.challenges.inc({ outcome: "refused" });
      throw new NodeHttpError(403, ErrorCode.Forbidden, `challenges are for validators of cluster ${cluster}`);
    }
    const era = (await chain.era(cluster, Math.floor(eraNow() / 1000))).era;
    const counted = `${cluster}:${era}:${principal.account.toLowerCase()}`;
    const n = (challengeCounts.get(counted) ?? 0) + 1;
    if (n > limits.challengesPerEra) {
      metrics.challenges.inc({ outcome: "limited" });
      throw new NodeHttpError(
        429,
        ErrorCode.RateLimited,
        `validator ${principal.account} made its ${limits.challengesPerEra} challenges of era ${era} in cluster ${cluster}`,
      );
    }
    // Counts of past eras are dropped: only the current one limits.
    for (const k of challengeCounts.keys()) {
      if (k.startsWith(`${cluster}:`) && !k.startsWith(`${cluster}:${era}:`)) challengeCounts.delete(k);
    }
    challengeCounts.set(counted, n);
    logger.info(
      {
        validator: principal.account,
        cluster,
        era,
        bucket: bucket.toString(),
        key: c.data.key,
        leaf: c.data.leafIndex,
      },
      "challenge",
    );
    const o = store.get(bucket, c.data.key);
    if (o === undefined || o.deleted || isDropped(faults, bucket, c.data.key)) {
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
    const read = o.size === 0 ? Buffer.alloc(0) : await store.read(o, start, Math.min(o.size, start + LEAF_BYTES));
    // Fault injection: bytes other than those the hash and proof below are made of (flipped in a
    // copy: reads may be cached).
    const leaf = hasWrongBytes(faults, bucket, o.key) ? flipFirstByte(read) : read;
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
    metrics.challenges.inc({ outcome: "answered" });
    return reply.send(answer);
  });

  app.addHook("onClose", (_app, done) => {
    metering.stop();
    done();
  });
  return { app, metering };
}
