import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import type { Authenticator } from "../ports";
import {
  EMPTY_SHA256,
  ErrorCode,
  HEADER,
  MAX_KEY_BYTES,
  MAX_LIST_LIMIT,
  MAX_OBJECT_BYTES,
  type ErrorCodeName,
} from "../protocol";
import type { TokenCursor } from "../store/meta";
import type { ObjectStore } from "../store/objects";
import { putBody, readBlob } from "./local";
import { NodeIdentity, rowToWire, sha256Hex } from "./peers";
import type { ReplicationChain } from "./ports";
import { keyReplicas, keyToken } from "./ranges";

export interface ReplicationRouteDeps {
  /** This node's id. */
  self: number;
  identity: NodeIdentity;
  store: ObjectStore;
  chain: ReplicationChain;
  /** Authenticates peers; `authorize`, when given, also checks the bucket (not closed, in this node's cluster). */
  auth: Pick<Authenticator, "authenticate"> & Partial<Pick<Authenticator, "authorize">>;
  /** The clusters this node serves (a blob is served to a node sharing one of them). */
  clusters(): number[];
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
const VersionQuery = z.object({ version: uint64 }).strict();
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
const BlobParam = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) });
const PutHeaders = z.object({ [HEADER.version]: uint64, [HEADER.contentSha256]: z.string().regex(/^[0-9a-f]{64}$/) });
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
 * request signed under a `NodeSession` (a node principal), from a node of the cluster concerned
 * that also holds this node:
 *
 * - `PUT /v1/internal/replicas/:bucket/*` (`x-ddc-version`, `x-ddc-content-sha256`): stores the
 *   body at the coordinator's version, last-writer-wins; 201 `{ receipt }`, or 200
 *   `{ superseded: true, version }` when this node holds a newer version.
 * - `DELETE /v1/internal/replicas/:bucket/*?version=`: a tombstone; 200 `{ deleted: true, version }`
 *   or `{ superseded: true, version }`.
 * - `GET /v1/internal/ranges/:cluster?from=&to=&after=&limit=`: the rows (tombstones included) with
 *   a token in `[from, to)` (wrapping; equal ends: the whole ring), paged: `{ rows, next? }`.
 * - `GET /v1/internal/ranges/:cluster/digest?from=&to=`: `{ digest, count }` of that range.
 * - `GET /v1/internal/blobs/:sha256`: the bytes, checked against their Merkle leaves before sending.
 */
export async function registerReplicationRoutes(app: FastifyInstance, deps: ReplicationRouteDeps): Promise<void> {
  await app.register(async (scope) => {
    // Replica bodies are bounded buffers (the server itself streams client bodies).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: MAX_OBJECT_BYTES }, (_req, body, done) =>
      done(null, body),
    );

    /** The node principal of a request, checked against the body it carries. */
    async function peer(req: FastifyRequest): Promise<number> {
      const body = Buffer.isBuffer(req.body) ? req.body : undefined;
      const principal = await deps.auth.authenticate({
        method: req.method,
        target: req.url,
        headers: req.headers,
        bodySha256: body !== undefined && body.length > 0 ? sha256Hex(body) : EMPTY_SHA256,
      });
      if (principal.kind !== "node")
        throw new ReplicationHttpError(403, ErrorCode.Forbidden, "internal routes take a node session");
      return principal.node;
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

    /** For a replica write: the bucket's cluster holds both nodes and this node is one of the key's replicas. */
    async function replicaTarget(peerNode: number, bucket: bigint, key: string, op: "write" | "delete") {
      if (Buffer.byteLength(key) > MAX_KEY_BYTES)
        throw new ReplicationHttpError(400, ErrorCode.BadRequest, `the key is longer than ${MAX_KEY_BYTES} bytes`);
      const b = await deps.chain.bucket(bucket);
      if (b === undefined) throw new ReplicationHttpError(404, ErrorCode.NotFound, `no bucket ${bucket}`);
      const cluster = await shared(peerNode, b.cluster);
      await deps.auth.authorize?.({ kind: "node", node: peerNode }, { op, bucket, key });
      if (!keyReplicas(cluster, key).includes(deps.self))
        throw new ReplicationHttpError(421, ErrorCode.NotReplica, `node ${deps.self} does not hold key "${key}"`);
    }

    scope.put("/v1/internal/replicas/:bucket/*", async (req, reply) => {
      const from = await peer(req);
      const { bucket, "*": key } = parse(BucketKey, req.params, "path");
      const h = parse(PutHeaders, req.headers, "headers");
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      await replicaTarget(from, bucket, key, "write");
      const sha256 = h[HEADER.contentSha256];
      if (sha256Hex(body) !== sha256)
        throw new ReplicationHttpError(
          400,
          ErrorCode.DigestMismatch,
          "the body does not hash to its x-ddc-content-sha256",
        );
      const version = h[HEADER.version];
      const current = deps.store.meta.get(bucket, key);
      const row = { bucket, key, token: keyToken(key), version, sha256 };
      if (current === undefined || current.version !== version || current.sha256 !== sha256) {
        const out = await putBody(deps.store, row, body);
        const now = deps.store.meta.get(bucket, key);
        // Not applied: a newer row, unless this very one arrived meanwhile (a repair, a hint).
        if (!out.applied && !(now?.version === version && now.sha256 === sha256)) {
          return reply.code(200).send({ superseded: true, version: (now?.version ?? version).toString() });
        }
      }
      const receipt = await deps.identity.receipt({ bucket, key, version, sha256, size: body.length });
      return reply.code(201).send({ receipt });
    });

    scope.delete("/v1/internal/replicas/:bucket/*", async (req, reply) => {
      const from = await peer(req);
      const { bucket, "*": key } = parse(BucketKey, req.params, "path");
      const { version } = parse(VersionQuery, req.query, "query");
      await replicaTarget(from, bucket, key, "delete");
      const current = deps.store.meta.get(bucket, key);
      if (!(current?.deleted === true && current.version === version)) {
        const out = await deps.store.delete(bucket, key, keyToken(key), version);
        const now = deps.store.meta.get(bucket, key);
        if (!out.applied && !(now?.version === version && now.deleted)) {
          return reply.code(200).send({ superseded: true, version: (now?.version ?? version).toString() });
        }
      }
      return reply.code(200).send({ deleted: true, version: version.toString() });
    });

    scope.get("/v1/internal/ranges/:cluster", async (req, reply) => {
      const from = await peer(req);
      const { cluster } = parse(ClusterParam, req.params, "path");
      const q = parse(RangeQuery, req.query, "query");
      await shared(from, cluster);
      const after = q.after === undefined ? undefined : decodeCursor(q.after);
      const rows = deps.store.meta.byTokenRange(q.from, q.to, { after, limit: q.limit });
      const last = rows[rows.length - 1];
      return reply.send({
        rows: rows.map(rowToWire),
        ...(rows.length === q.limit && last !== undefined ? { next: encodeCursor(last) } : {}),
      });
    });

    scope.get("/v1/internal/ranges/:cluster/digest", async (req, reply) => {
      const from = await peer(req);
      const { cluster } = parse(ClusterParam, req.params, "path");
      const q = parse(DigestQuery, req.query, "query");
      await shared(from, cluster);
      return reply.send(deps.store.meta.rangeDigest(q.from, q.to));
    });

    scope.get("/v1/internal/blobs/:sha256", async (req, reply) => {
      const from = await peer(req);
      const { sha256 } = parse(BlobParam, req.params, "path");
      let ok = false;
      for (const id of deps.clusters()) {
        const c = await deps.chain.cluster(id);
        if (c !== undefined && c.nodes.includes(from) && c.nodes.includes(deps.self)) ok = true;
      }
      if (!ok)
        throw new ReplicationHttpError(
          403,
          ErrorCode.Forbidden,
          `node ${from} shares no cluster with node ${deps.self}`,
        );
      const bytes = await readBlob(deps.store, sha256);
      if (bytes === undefined) throw new ReplicationHttpError(404, ErrorCode.NotFound, `no intact blob ${sha256}`);
      return reply.header("content-type", "application/octet-stream").send(bytes);
    });
  });
}
