import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { EMPTY_SHA256, ErrorCode, HEADER, MAX_KEY_BYTES, MAX_LIST_LIMIT, MAX_OBJECT_BYTES, type ErrorCodeName } from "../protocol";
import { PeerAuthError, type NodePrincipal, type SignedRequest } from "./peerAuth";
import { NodeIdentity, decodeCursor, encodeCursor, rowToWire, sha256Hex } from "./peers";
import { IntegrityError, type ClusterSource, type ReplicaStore } from "./ports";
import { keyToken, replicasFor } from "./ring";

export interface ReplicationRouteDeps {
  self: number;
  identity: NodeIdentity;
  store: ReplicaStore;
  chain: ClusterSource;
  /** The clusters this node serves. */
  clusters(): number[];
  /** Authenticates a peer's signed request (a node principal, or throws {@link PeerAuthError}). */
  authenticate(req: SignedRequest): Promise<NodePrincipal>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCodeName,
    message: string,
  ) {
    super(message);
  }
}

const Uint = z.string().regex(/^\d{1,20}$/);
const BucketParams = z.object({ bucket: Uint, "*": z.string().min(1) });
const VersionQuery = z.object({ version: Uint });
const ClusterParams = z.object({ cluster: z.string().regex(/^\d{1,10}$/) });
const RangeQuery = z.object({
  from: Uint,
  to: Uint,
  after: z.string().max(4096).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(MAX_LIST_LIMIT),
});
const DigestQuery = z.object({ from: Uint, to: Uint });
const BlobParams = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) });
const PutHeaders = z.object({
  [HEADER.version]: Uint,
  [HEADER.contentSha256]: z.string().regex(/^[0-9a-f]{64}$/),
  [HEADER.root]: z.string().regex(/^[0-9a-f]{64}$/),
});

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, ErrorCode.BadRequest, r.error.issues.map((i) => i.message).join("; "));
  return r.data;
}

function uint64(s: string): bigint {
  const v = BigInt(s);
  if (v >= 1n << 64n) throw new HttpError(400, ErrorCode.BadRequest, "not a uint64");
  return v;
}

/**
 * The internal routes replicas call on each other, accepted only from a node of the cluster
 * concerned (and only when this node is in it too):
 *
 * - `PUT /v1/internal/replicas/:bucket/*`: store a replica at the coordinator's version
 *   (last-writer-wins); answers `{ receipt }` or `{ superseded: true, version }`.
 * - `DELETE /v1/internal/replicas/:bucket/*?version=`: a versioned tombstone.
 * - `GET /v1/internal/ranges/:cluster?from=&to=&after=&limit=`: the rows in a token range, paged.
 * - `GET /v1/internal/ranges/:cluster/digest?from=&to=`: the range's digest.
 * - `GET /v1/internal/blobs/:sha256`: the raw bytes, checked against their leaves first.
 */
export async function registerReplicationRoutes(app: FastifyInstance, deps: ReplicationRouteDeps): Promise<void> {
  await app.register(async (scope) => {
    if (!scope.hasContentTypeParser("application/octet-stream"))
      scope.addContentTypeParser(
        "application/octet-stream",
        { parseAs: "buffer", bodyLimit: MAX_OBJECT_BYTES },
        (_req, body, done) => done(null, body),
      );

    scope.setErrorHandler((err: Error & { statusCode?: number }, _req, reply: FastifyReply) => {
      if (err instanceof HttpError || err instanceof PeerAuthError)
        return reply
          .code(err.status)
          .send({ error: { code: err.code, message: err.message, node: String(deps.self) } });
      if (err instanceof IntegrityError)
        return reply
          .code(422)
          .send({ error: { code: ErrorCode.DigestMismatch, message: err.message, node: String(deps.self) } });
      const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
      return reply.code(status).send({
        error: {
          code: status === 413 ? ErrorCode.TooLarge : status < 500 ? ErrorCode.BadRequest : ErrorCode.Internal,
          message: err.message,
          node: String(deps.self),
        },
      });
    });

    async function peer(req: FastifyRequest): Promise<NodePrincipal> {
      const body = Buffer.isBuffer(req.body) ? req.body : undefined;
      return deps.authenticate({
        method: req.method,
        url: req.url,
        headers: req.headers,
        bodySha256: body ? sha256Hex(body) : EMPTY_SHA256,
      });
    }

    /** The peer and this node must both be members of the cluster. */
    async function sameCluster(principal: NodePrincipal, cluster: number): Promise<void> {
      const info = await deps.chain.cluster(cluster);
      if (!info.nodes.includes(deps.self))
        throw new HttpError(403, ErrorCode.NotInCluster, `node ${deps.self} is not in cluster ${cluster}`);
      if (!info.nodes.includes(principal.node))
        throw new HttpError(403, ErrorCode.Forbidden, `node ${principal.node} is not in cluster ${cluster}`);
    }

    /** For a replica write: the peer shares the bucket's cluster and this node is one of the key's replicas. */
    async function replicaTarget(principal: NodePrincipal, bucket: string, key: string): Promise<void> {
      if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) throw new HttpError(400, ErrorCode.BadRequest, "key too long");
      const cluster = await deps.chain.bucketCluster(bucket);
      await sameCluster(principal, cluster);
      const info = await deps.chain.cluster(cluster);
      if (!replicasFor(info.ring, info.replicationFactor, bucket, key).includes(deps.self))
        throw new HttpError(409, ErrorCode.NotReplica, `node ${deps.self} is not a replica of this key`);
    }

    scope.put("/v1/internal/replicas/:bucket/*", async (req, reply) => {
      const principal = await peer(req);
      const { bucket, "*": key } = parse(BucketParams, req.params);
      uint64(bucket);
      const h = parse(PutHeaders, req.headers);
      const body = req.body;
      if (!Buffer.isBuffer(body)) throw new HttpError(400, ErrorCode.BadRequest, "an application/octet-stream body");
      await replicaTarget(principal, bucket, key);
      const sha256 = h[HEADER.contentSha256];
      if (sha256Hex(body) !== sha256)
        throw new HttpError(422, ErrorCode.DigestMismatch, "the body does not match its sha256");
      const meta = {
        bucket,
        key,
        token: keyToken(bucket, key),
        version: uint64(h[HEADER.version]),
        sha256,
        size: body.length,
        root: h[HEADER.root],
      };
      const out = await deps.store.put(meta, body);
      if (!out.applied && !(out.current.version === meta.version && out.current.sha256 === meta.sha256))
        return reply.code(200).send({ superseded: true, version: out.current.version.toString() });
      return reply.code(201).send({ receipt: await deps.identity.receipt(meta) });
    });

    scope.delete("/v1/internal/replicas/:bucket/*", async (req, reply) => {
      const principal = await peer(req);
      const { bucket, "*": key } = parse(BucketParams, req.params);
      uint64(bucket);
      const version = uint64(parse(VersionQuery, req.query).version);
      await replicaTarget(principal, bucket, key);
      const out = deps.store.tombstone(bucket, key, keyToken(bucket, key), version);
      if (!out.applied && !(out.current.version === version && out.current.deleted))
        return reply.code(200).send({ superseded: true, version: out.current.version.toString() });
      return reply.code(200).send({ deleted: true, version: version.toString() });
    });

    scope.get("/v1/internal/ranges/:cluster", async (req, reply) => {
      const principal = await peer(req);
      const cluster = Number(parse(ClusterParams, req.params).cluster);
      const q = parse(RangeQuery, req.query);
      await sameCluster(principal, cluster);
      let after;
      try {
        after = q.after ? decodeCursor(q.after) : undefined;
      } catch {
        throw new HttpError(400, ErrorCode.BadRequest, "bad cursor");
      }
      const rows = deps.store.byTokenRange(uint64(q.from), uint64(q.to), { after, limit: q.limit });
      const last = rows[rows.length - 1];
      return reply.send({
        rows: rows.map(rowToWire),
        ...(rows.length === q.limit && last ? { next: encodeCursor(last) } : {}),
      });
    });

    scope.get("/v1/internal/ranges/:cluster/digest", async (req, reply) => {
      const principal = await peer(req);
      const cluster = Number(parse(ClusterParams, req.params).cluster);
      const q = parse(DigestQuery, req.query);
      await sameCluster(principal, cluster);
      return reply.send(deps.store.rangeDigest(uint64(q.from), uint64(q.to)));
    });

    scope.get("/v1/internal/blobs/:sha256", async (req, reply) => {
      const principal = await peer(req);
      const { sha256 } = parse(BlobParams, req.params);
      // A blob is content-addressed: a node sharing one of this node's clusters may fetch it.
      let shared = false;
      for (const cluster of deps.clusters()) {
        const info = await deps.chain.cluster(cluster);
        if (info.nodes.includes(principal.node) && info.nodes.includes(deps.self)) shared = true;
      }
      if (!shared) throw new HttpError(403, ErrorCode.Forbidden, `node ${principal.node} shares no cluster with this node`);
      const bytes = await deps.store.readBlob(sha256);
      if (!bytes) throw new HttpError(404, ErrorCode.NotFound, "no intact blob with this sha256");
      return reply.type("application/octet-stream").send(bytes);
    });
  });
}
