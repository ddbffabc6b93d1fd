import type { Readable } from "node:stream";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import type { Authenticator } from "../ports";
import {
  EMPTY_SHA256,
  ErrorCode,
  HEADER,
  MAX_KEY_BYTES,
  MAX_LIST_LIMIT,
  MAX_CLOCK_SKEW_MS,
  MAX_OBJECT_BYTES,
  maxAcceptedVersion,
  parseVersion,
  type ErrorCodeName,
} from "../protocol";
import { StoreError } from "../store/errors";
import type { ObjectRecord as StoredRecord, TokenCursor } from "../store/meta";
import type { ObjectStore } from "../store/objects";
import { assignClusters, readWhole } from "./local";
import { NodeIdentity, rowToWire } from "./peers";
import type { ReplicationChain } from "./ports";
import { keyReplicas, keyToken } from "./ranges";

export interface ReplicationRouteDeps {
  /** This node's id. */
  self: number;
  identity: NodeIdentity;
  store: ObjectStore;
  chain: ReplicationChain;
  /**
   * Authenticates peers and gives a bucket's cap (a replica write is held to it as a client's is);
   * `authorize`, when given, also checks the bucket (not closed, in this node's cluster).
   */
  auth: Pick<Authenticator, "authenticate" | "capBytes"> & Partial<Pick<Authenticator, "authorize">>;
  /** The clusters this node serves. */
  clusters(): number[];
  /** ms since the epoch (versions ahead of it by more than {@link MAX_CLOCK_SKEW_MS} are refused). */
  clock?: () => number;
}

/** A refusal of an internal route: status and protocol code (the server's error handler answers it). */
export class ReplicationHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCodeName,
    message: string,
  ) {
    super(message);
    this.name = "ReplicationHttpError";
  }
}

const uint64 = z
  .string()
  .regex(/^(0|[1-9]\d{0,19})$/)
  .transform(BigInt)
  .refine((v) => v < 1n << 64n, "a uint64");
const BucketKey = z.object({ bucket: uint64, "*": z.string().min(1) });
const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);
/** A version from another node: decimal, at most 63 bits (see `parseVersion`). */
const Version = z.string().transform((v, ctx) => {
  const out = parseVersion(v);
  if (out === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: "a version is a decimal integer of at most 63 bits" });
    return z.NEVER;
  }
  return out;
});
const VersionQuery = z.object({ version: Version }).strict();
const ClusterParam = z.object({ cluster: z.coerce.number().int().min(1).max(0xffff_ffff) });
const RangeQuery = z
  .object({
    from: uint64,
    to: uint64,
    after: z.string().max(8192).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(MAX_LIST_LIMIT),
  })
  .strict();
const DigestQuery = z.object({ from: uint64, to: uint64 }).strict();
const BlobQuery = z.object({ sha256: Hex64 }).strict();
const PutHeaders = z.object({ [HEADER.version]: Version, [HEADER.contentSha256]: Hex64 });
const CursorSchema = z.tuple([z.string().regex(/^\d{1,20}$/), z.string().regex(/^\d{1,20}$/), z.string()]);

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new ReplicationHttpError(400, ErrorCode.BadRequest, `${what}: ${i.path.join(".")} ${i.message}`.trim());
  }
  return r.data;
}

export function encodeCursor(c: TokenCursor): string {
  return Buffer.from(JSON.stringify([c.token.toString(), c.bucket.toString(), c.key])).toString("base64url");
}

export function decodeCursor(s: string): TokenCursor {
  try {
    const [token, bucket, key] = CursorSchema.parse(JSON.parse(Buffer.from(s, "base64url").toString("utf8")));
    return { token: BigInt(token), bucket: BigInt(bucket), key };
  } catch {
    throw new ReplicationHttpError(400, ErrorCode.BadRequest, "after: not a cursor this node gave");
  }
}

/**
 * The routes replicas call on each other, as a fastify plugin the server registers. Each takes a
 * request signed under a `NodeSession` (a node principal), authenticated from its headers before
 * any byte of the body is read (a PUT's signed `x-ddc-content-sha256` is the body hash, which the
 * store checks as it streams the body in), from a node of the cluster concerned that also holds
 * this node:
 *
 * - `PUT /v1/internal/replicas/:bucket/*` (`x-ddc-version`, `x-ddc-content-sha256`): stores the
 *   body at the coordinator's version, last-writer-wins; 201 `{ receipt }`, or 200
 *   `{ superseded: true, version }` when this node holds a newer version. Both nodes must be
 *   replicas of the key; the bucket's cap holds as for a client's write.
 * - `DELETE /v1/internal/replicas/:bucket/*?version=`: a tombstone; 200 `{ deleted: true, version }`
 *   or `{ superseded: true, version }`. Both nodes must be replicas of the key.
 * - `GET /v1/internal/ranges/:cluster?from=&to=&after=&limit=`: the rows of that cluster's buckets
 *   (tombstones included) with a token in `[from, to)` (wrapping; equal ends: the whole ring),
 *   paged: `{ rows, next? }`.
 * - `GET /v1/internal/ranges/:cluster/digest?from=&to=`: `{ digest, count }` of those rows.
 * - `GET /v1/internal/blobs/:bucket/*?sha256=`: the content of the object (bucket, key) if its row
 *   here is that SHA-256, checked against its Merkle leaves before sending; only to a replica of
 *   the key.
 *
 * A version is parsed by `parseVersion` (at most 63 bits) and refused when it is more than
 * {@link MAX_CLOCK_SKEW_MS} ahead of this node's clock.
 */
export async function registerReplicationRoutes(app: FastifyInstance, deps: ReplicationRouteDeps): Promise<void> {
  const clock = deps.clock ?? Date.now;
  await app.register(async (scope) => {
    // Bodies are not parsed: a PUT streams its body into the store once the peer is authenticated.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_req, payload, done) => done(null, payload));

    /** The node principal of each request, set by the onRequest hook. */
    const peers = new WeakMap<FastifyRequest, number>();

    // Authentication from the headers alone, before the body is read.
    scope.addHook("onRequest", async (req) => {
      let bodySha256 = EMPTY_SHA256;
      if (req.method === "PUT") {
        const announced = Hex64.safeParse(req.headers[HEADER.contentSha256]);
        if (!announced.success)
          throw new ReplicationHttpError(
            400,
            ErrorCode.BadRequest,
            `${HEADER.contentSha256} must be the body's SHA-256 in lowercase hex`,
          );
        bodySha256 = announced.data;
      }
      const principal = await deps.auth.authenticate({
        method: req.method,
        target: req.url,
        headers: req.headers,
        bodySha256,
      });
      if (principal.kind !== "node")
        throw new ReplicationHttpError(403, ErrorCode.Forbidden, "internal routes take a node session");
      peers.set(req, principal.node);
    });

    function peer(req: FastifyRequest): number {
      const node = peers.get(req);
      if (node === undefined) throw new ReplicationHttpError(401, ErrorCode.Unauthenticated, "no node session");
      return node;
    }

    /** The cluster, which must hold both this node and the peer. */
    async function shared(peerNode: number, clusterId: number) {
      const cluster = await deps.chain.cluster(clusterId);
      if (cluster === undefined || !cluster.nodes.includes(deps.self))
        throw new ReplicationHttpError(421, ErrorCode.NotInCluster, `node ${deps.self} is not in cluster ${clusterId}`);
      if (!cluster.nodes.includes(peerNode))
        throw new ReplicationHttpError(403, ErrorCode.Forbidden, `node ${peerNode} is not in cluster ${clusterId}`);
      return cluster;
    }

    /**
     * The bucket's cluster holds both nodes and both are replicas of the key (a coordinator always
     * is one; a node that is not may neither write a key here nor read it).
     */
    async function bothReplicas(peerNode: number, bucket: bigint, key: string) {
      if (Buffer.byteLength(key) > MAX_KEY_BYTES)
        throw new ReplicationHttpError(400, ErrorCode.BadRequest, `the key is longer than ${MAX_KEY_BYTES} bytes`);
      const b = await deps.chain.bucket(bucket);
      if (b === undefined) throw new ReplicationHttpError(404, ErrorCode.NotFound, `no bucket ${bucket}`);
      const cluster = await shared(peerNode, b.cluster);
      const replicas = keyReplicas(cluster, key);
      if (!replicas.includes(deps.self))
        throw new ReplicationHttpError(421, ErrorCode.NotReplica, `node ${deps.self} does not hold key "${key}"`);
      if (!replicas.includes(peerNode))
        throw new ReplicationHttpError(
          403,
          ErrorCode.NotReplica,
          `node ${peerNode} is not a replica of key "${key}": its replicas are ${replicas.join(", ")}`,
        );
      return cluster;
    }

    /** For a replica write: both nodes are replicas, the peer may write the bucket, the version is not ahead. */
    async function replicaTarget(peerNode: number, bucket: bigint, key: string, op: "write" | "delete", v: bigint) {
      const cluster = await bothReplicas(peerNode, bucket, key);
      await deps.auth.authorize?.({ kind: "node", node: peerNode }, { op, bucket, key });
      const limit = maxAcceptedVersion(clock());
      if (v > limit)
        throw new ReplicationHttpError(
          400,
          ErrorCode.BadRequest,
          `version ${v} is more than ${MAX_CLOCK_SKEW_MS / 1000} s ahead of node ${deps.self}'s clock (at most ${limit})`,
        );
      return cluster;
    }

    /** The row's kept receipt; a row stored without one (no signing hook) keeps the one signed now. */
    async function keptReceipt(row: StoredRecord) {
      const receipt = await deps.identity.receipt(row);
      if (row.receipt === undefined)
        deps.store.meta.setReceipt(row.bucket, row.key, row.version, row.sha256, receipt.signature);
      return receipt;
    }

    scope.put("/v1/internal/replicas/:bucket/*", async (req, reply) => {
      const from = peer(req);
      const { bucket, "*": key } = parse(BucketKey, req.params, "path");
      const h = parse(PutHeaders, req.headers, "headers");
      const version = h[HEADER.version];
      const sha256 = h[HEADER.contentSha256];
      const cluster = await replicaTarget(from, bucket, key, "write", version);
      const current = deps.store.meta.get(bucket, key);
      if (current !== undefined && current.version === version && current.sha256 === sha256 && !current.deleted) {
        // Held already (a repair, a hint): the body is not needed.
        const receipt = await keptReceipt(current);
        return reply.code(201).send({ receipt });
      }
      // The bucket's cap, as for a client's write: what the others take, plus this body.
      const cap = await deps.auth.capBytes(bucket);
      const others =
        BigInt(deps.store.meta.storedBytes(bucket)) -
        BigInt(current !== undefined && !current.deleted ? current.size : 0);
      const room = cap - others;
      const length = req.headers["content-length"] === undefined ? undefined : Number(req.headers["content-length"]);
      if (length !== undefined && length > MAX_OBJECT_BYTES)
        throw new ReplicationHttpError(413, ErrorCode.TooLarge, `the body exceeds ${MAX_OBJECT_BYTES} bytes`);
      if (room < 0n || (length !== undefined && BigInt(length) > room))
        throw new ReplicationHttpError(
          507,
          ErrorCode.CapExceeded,
          `bucket ${bucket} would store ${others + BigInt(length ?? 0)} bytes, above its cap of ${cap}`,
        );
      const maxBytes = room < BigInt(MAX_OBJECT_BYTES) ? Number(room) : MAX_OBJECT_BYTES;
      let out;
      try {
        out = await deps.store.put(bucket, key, keyToken(key), req.body as Readable, {
          version,
          maxBytes,
          expectedSha256: sha256,
          cluster: cluster.id,
        });
      } catch (e) {
        if (e instanceof StoreError && e.code === ErrorCode.TooLarge)
          throw maxBytes < MAX_OBJECT_BYTES
            ? new ReplicationHttpError(
                507,
                ErrorCode.CapExceeded,
                `bucket ${bucket} would pass its cap of ${cap} bytes`,
              )
            : new ReplicationHttpError(413, ErrorCode.TooLarge, `the body exceeds ${MAX_OBJECT_BYTES} bytes`);
        if (e instanceof StoreError && e.code === ErrorCode.DigestMismatch)
          throw new ReplicationHttpError(
            400,
            ErrorCode.DigestMismatch,
            "the body does not hash to its x-ddc-content-sha256",
          );
        throw e;
      }
      const now = deps.store.meta.get(bucket, key);
      // Not applied: a newer row, unless this very one arrived meanwhile (a repair, a hint).
      if (!out.applied && !(now?.version === version && now.sha256 === sha256)) {
        return reply.code(200).send({ superseded: true, version: (now?.version ?? version).toString() });
      }
      // The receipt the store signed as it kept the row (or as it kept this very row meanwhile).
      const receipt = await keptReceipt(out.applied || now === undefined ? out : now);
      return reply.code(201).send({ receipt });
    });

    scope.delete("/v1/internal/replicas/:bucket/*", async (req, reply) => {
      const from = peer(req);
      const { bucket, "*": key } = parse(BucketKey, req.params, "path");
      const { version } = parse(VersionQuery, req.query, "query");
      const cluster = await replicaTarget(from, bucket, key, "delete", version);
      const current = deps.store.meta.get(bucket, key);
      if (!(current?.deleted === true && current.version === version)) {
        const out = await deps.store.delete(bucket, key, keyToken(key), version, cluster.id);
        const now = deps.store.meta.get(bucket, key);
        if (!out.applied && !(now?.version === version && now.deleted)) {
          return reply.code(200).send({ superseded: true, version: (now?.version ?? version).toString() });
        }
      }
      return reply.code(200).send({ deleted: true, version: version.toString() });
    });

    scope.get("/v1/internal/ranges/:cluster", async (req, reply) => {
      const from = peer(req);
      const { cluster } = parse(ClusterParam, req.params, "path");
      const q = parse(RangeQuery, req.query, "query");
      await shared(from, cluster);
      const after = q.after === undefined ? undefined : decodeCursor(q.after);
      await assignClusters(deps.store, deps.chain);
      const rows = deps.store.meta.byTokenRange(q.from, q.to, { after, limit: q.limit, cluster });
      const last = rows[rows.length - 1];
      return reply.send({
        rows: rows.map(rowToWire),
        ...(rows.length === q.limit && last !== undefined ? { next: encodeCursor(last) } : {}),
      });
    });

    scope.get("/v1/internal/ranges/:cluster/digest", async (req, reply) => {
      const from = peer(req);
      const { cluster } = parse(ClusterParam, req.params, "path");
      const q = parse(DigestQuery, req.query, "query");
      await shared(from, cluster);
      await assignClusters(deps.store, deps.chain);
      return reply.send(deps.store.meta.rangeDigest(q.from, q.to, cluster));
    });

    scope.get("/v1/internal/blobs/:bucket/*", async (req, reply) => {
      const from = peer(req);
      const { bucket, "*": key } = parse(BucketKey, req.params, "path");
      const { sha256 } = parse(BlobQuery, req.query, "query");
      await bothReplicas(from, bucket, key);
      const row = deps.store.meta.get(bucket, key);
      if (row === undefined || row.deleted || row.sha256 !== sha256)
        throw new ReplicationHttpError(404, ErrorCode.NotFound, `object "${key}" of bucket ${bucket} is not ${sha256}`);
      const bytes = await readWhole(deps.store, row);
      if (bytes === undefined) throw new ReplicationHttpError(404, ErrorCode.NotFound, `no intact blob ${sha256}`);
      return reply.header("content-type", "application/octet-stream").send(bytes);
    });
  });
}
