import { createHash } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519";
import { Wallet, getBytes, toUtf8Bytes, type TypedDataDomain, type TypedDataField } from "ethers";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { decodeSessionToken, fromBase64url } from "../../../storage-node/src/auth/sign";
import { Readable } from "node:stream";
import {
  EMPTY_SHA256,
  encodeReceiptHeader,
  HEADER,
  LEAF_BYTES,
  RECEIPT_TYPES,
  canonicalRequest,
  type ObjectInfo,
  type SignedReceipt,
} from "../../../storage-node/src/protocol";
import { leafHashes, merkleRoot, toHex } from "../../../storage-node/src/store/merkle";

/**
 * A stand-in storage node for the client's tests: it speaks the protocol (checks the request
 * signature, answers PutResult with a signed receipt, ETags, ranges, lists) and misbehaves on
 * demand, so that each failure path is met on a real loopback connection.
 */
export type Behaviour =
  | "ok"
  /** Accepts the connection and never answers. */
  | "hang"
  | "503"
  /** Flips a byte of every object body it serves. */
  | "corrupt"
  /** Signs receipts with a key that is not its registered one. */
  | "wrong-key"
  /** Says 421 not-replica to writes. */
  | "not-replica"
  /** Serves other bytes than it stores, with their ETag and root, and a receipt by an unregistered key. */
  | "forge"
  /** Serves no receipt. */
  | "no-receipt"
  /** Sends bytes without end after an object's own. */
  | "endless"
  /** Lists ignoring start-after and the prefix, always with a `next`. */
  | "list-loop"
  /** Lists every key at a higher version and another SHA-256 than it holds. */
  | "list-lie"
  /** Flips a byte of the first leaf of every range it serves (whole objects are served right). */
  | "wrong-leaf"
  /** Signs (with its own key) receipts naming a Merkle root that is not its content's. */
  | "wrong-root";

interface Stored {
  data: Buffer;
  version: bigint;
  contentType: string;
  /** Served instead of this node's own receipt (a replayed one). */
  receipt?: SignedReceipt;
}

export interface FakeNode {
  id: number;
  url: string;
  key: Wallet;
  app: FastifyInstance;
  objects: Map<string, Stored>;
  behaviour: Behaviour;
  /** Whether it serves `?leaves=1` (the extension the client asks for). */
  leaves: boolean;
  /** Requests seen: `METHOD target`. */
  seen: string[];
  /** Object bytes served (GET bodies, leaf lists aside). */
  servedBytes: number;
  close(): Promise<void>;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const nodeSha = () => createHash("sha256");

function rootOf(data: Uint8Array): string {
  return toHex(merkleRoot(leafHashes(data, nodeSha), nodeSha));
}

function fail(reply: FastifyReply, url: string, status: number, code: string, message: string) {
  return reply.code(status).send({ error: { code, message, node: url } });
}

export async function startFakeNode(
  id: number,
  domain: TypedDataDomain,
  options: { behaviour?: Behaviour; leaves?: boolean } = {},
): Promise<FakeNode> {
  const app = Fastify({ bodyLimit: 80 * 1024 * 1024, forceCloseConnections: true, exposeHeadRoutes: false });
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  const node: FakeNode = {
    id,
    url: "",
    key: Wallet.createRandom() as unknown as Wallet,
    app,
    objects: new Map(),
    behaviour: options.behaviour ?? "ok",
    leaves: options.leaves ?? true,
    seen: [],
    servedBytes: 0,
    close: async () => {
      await app.close();
    },
  };
  const other = Wallet.createRandom();

  /** Checks the session key's signature over the canonical request, as a node does. */
  const authenticated = (req: FastifyRequest, bodySha256: string): boolean => {
    const token = decodeSessionToken(String(req.headers[HEADER.session]));
    const text = (name: string) => {
      const value = req.headers[name];
      return typeof value === "string" ? value : undefined;
    };
    const message = canonicalRequest({
      node: id,
      method: req.method,
      target: req.url,
      bodySha256,
      contentType: text("content-type"),
      version: text(HEADER.version),
      expires: Number(req.headers[HEADER.expires]),
      nonce: text(HEADER.nonce),
    });
    const signature = fromBase64url(String(req.headers[HEADER.signature]));
    return ed25519.verify(signature, toUtf8Bytes(message), getBytes(token.sessionKey));
  };

  app.addHook("onRequest", async (req, reply) => {
    node.seen.push(`${req.method} ${req.url}`);
    if (node.behaviour === "hang") return new Promise<void>(() => {});
    if (node.behaviour === "503") return fail(reply, node.url, 503, "internal", "overloaded");
  });

  const keyOf = (req: FastifyRequest) =>
    decodeURIComponent(req.url.split("?")[0].replace(/^\/v1\/buckets\/\d+\/objects\//, ""));

  app.put("/v1/buckets/:bucket/objects/*", async (req, reply) => {
    const body = req.body as Buffer;
    const announced = String(req.headers[HEADER.contentSha256]);
    if (!authenticated(req, announced)) return fail(reply, node.url, 401, "bad-signature", "bad signature");
    if (sha(body) !== announced) return fail(reply, node.url, 400, "digest-mismatch", "digest mismatch");
    if (node.behaviour === "not-replica") return fail(reply, node.url, 421, "not-replica", "not a replica");
    const bucket = (req.params as { bucket: string }).bucket;
    const key = keyOf(req);
    const version = BigInt(Date.now()) * 1000n + BigInt(node.objects.size);
    node.objects.set(key, { data: body, version, contentType: String(req.headers["content-type"] ?? "") });
    const value = {
      node: id,
      bucket: BigInt(bucket),
      key,
      version,
      sha256: `0x${sha(body)}`,
      size: body.length,
      root: `0x${rootOf(body)}`,
    };
    const signer = node.behaviour === "wrong-key" ? other : node.key;
    const signature = await signer.signTypedData(
      domain,
      RECEIPT_TYPES as unknown as Record<string, TypedDataField[]>,
      value,
    );
    const receipt: SignedReceipt = {
      node: id,
      bucket,
      key,
      version: version.toString(),
      sha256: sha(body),
      size: body.length,
      root: rootOf(body),
      signature,
    };
    return reply.code(201).send({
      bucket,
      key,
      version: version.toString(),
      sha256: sha(body),
      size: body.length,
      root: rootOf(body),
      receipts: [receipt],
    });
  });

  const serve = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!authenticated(req, EMPTY_SHA256)) return fail(reply, node.url, 401, "bad-signature", "bad signature");
    const key = keyOf(req);
    const o = node.objects.get(key);
    if (o === undefined) return fail(reply, node.url, 404, "not-found", `no object "${key}"`);
    let data = o.data;
    if (node.behaviour === "corrupt" && data.length > 0) {
      data = Buffer.from(data);
      data[data.length - 1] ^= 0xff;
    }
    const forged = node.behaviour === "forge";
    if (forged) data = Buffer.from(`not what was stored at ${key}`);
    const served = forged ? data : o.data;
    reply.header("etag", `"${sha(served)}"`);
    reply.header(HEADER.version, o.version.toString());
    const root = node.behaviour === "wrong-root" ? "11".repeat(32) : rootOf(served);
    reply.header(HEADER.root, root);
    if (node.behaviour !== "no-receipt") {
      const bucket = (req.params as { bucket: string }).bucket;
      const value = {
        node: id,
        bucket: BigInt(bucket),
        key,
        version: o.version,
        sha256: `0x${sha(served)}`,
        size: served.length,
        root: `0x${root}`,
      };
      const signature = await (forged ? other : node.key).signTypedData(
        domain,
        RECEIPT_TYPES as unknown as Record<string, TypedDataField[]>,
        value,
      );
      const own: SignedReceipt = {
        ...value,
        bucket,
        version: o.version.toString(),
        sha256: sha(served),
        root,
        signature,
      };
      reply.header(HEADER.receipt, encodeReceiptHeader(o.receipt ?? own));
    }
    if (node.leaves && req.url.endsWith("?leaves=1")) {
      return reply.send({
        key,
        version: o.version.toString(),
        size: o.data.length,
        sha256: sha(o.data),
        root: rootOf(o.data),
        leafSize: LEAF_BYTES,
        leaves: leafHashes(o.data, nodeSha).map(toHex),
      });
    }
    reply.header("content-type", o.contentType);
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ""));
    if (m !== null) {
      const start = Number(m[1]);
      const end = Math.min(Number(m[2]), data.length - 1);
      reply.code(206).header("content-range", `bytes ${start}-${end}/${data.length}`);
      data = data.subarray(start, end + 1);
      if (node.behaviour === "wrong-leaf" && data.length > 0) {
        data = Buffer.from(data);
        data[0] ^= 0xff;
      }
    }
    if (req.method === "HEAD") return reply.header("content-length", data.length).send();
    if (node.behaviour === "endless") {
      const chunk = Buffer.alloc(64 * 1024, 7);
      let sent = 0;
      const stream = new Readable({
        read() {
          // Endless for a client that reads on; a bound so that the test's process ends.
          this.push(sent === 0 ? data : sent > 1024 ? null : chunk);
          sent++;
        },
      });
      return reply.send(stream);
    }
    node.servedBytes += data.length;
    return reply.send(data);
  };
  app.get("/v1/buckets/:bucket/objects/*", serve);
  app.head("/v1/buckets/:bucket/objects/*", serve);

  app.delete("/v1/buckets/:bucket/objects/*", async (req, reply) => {
    if (!authenticated(req, EMPTY_SHA256)) return fail(reply, node.url, 401, "bad-signature", "bad signature");
    const key = keyOf(req);
    if (!node.objects.delete(key)) return fail(reply, node.url, 404, "not-found", `no object "${key}"`);
    return reply.send({ version: "1" });
  });

  app.get("/v1/buckets/:bucket/objects", async (req, reply) => {
    if (!authenticated(req, EMPTY_SHA256)) return fail(reply, node.url, 401, "bad-signature", "bad signature");
    const q = req.query as { prefix?: string; "start-after"?: string; limit?: string };
    const limit = Number(q.limit ?? 1000);
    const loop = node.behaviour === "list-loop";
    const lie = node.behaviour === "list-lie";
    const rows: ObjectInfo[] = [...node.objects.entries()]
      .filter(
        ([k]) => loop || (k.startsWith(q.prefix ?? "") && (q["start-after"] === undefined || k > q["start-after"])),
      )
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .slice(0, limit)
      .map(([key, o]) => ({
        key,
        version: (lie ? o.version + 1_000_000n : o.version).toString(),
        size: o.data.length,
        sha256: lie ? "00".repeat(32) : sha(o.data),
        root: rootOf(o.data),
      }));
    if (loop) return reply.send({ objects: rows, next: rows[0]?.key ?? "a" });
    return reply.send(rows.length === limit ? { objects: rows, next: rows[rows.length - 1].key } : { objects: rows });
  });

  node.url = await app.listen({ port: 0, host: "127.0.0.1" });
  return node;
}
