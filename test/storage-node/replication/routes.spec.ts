import { createHash } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import { expect } from "chai";
import { Wallet } from "ethers";
import Fastify, { type FastifyInstance } from "fastify";
import type { BucketInfo, ClusterInfo } from "../../../storage-node/src/chain";
import { keyReplicas, keyToken } from "../../../storage-node/src/replication/ranges";
import { NodeIdentity, type PeerClient, type Row } from "../../../storage-node/src/replication/peers";
import { Repairer } from "../../../storage-node/src/replication/repair";
import { registerReplicationRoutes } from "../../../storage-node/src/replication/routes";
import type { ReplicationChain } from "../../../storage-node/src/replication/ports";
import { rootOf } from "../../../storage-node/src/replication/local";
import { MAX_CLOCK_SKEW_MS, parseVersion, storageDomain } from "../../../storage-node/src/protocol";
import { FsBlobStore } from "../../../storage-node/src/store/blobs";
import { MetaStore } from "../../../storage-node/src/store/meta";
import { ObjectStore } from "../../../storage-node/src/store/objects";
import { tempDir } from "../../helpers/temp";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const NOW = 1_700_000_000_000;
const T = (f: number) => BigInt(Math.floor(f * 2 ** 64));

/*
 * Node 1's internal routes, in one process, over a chain of two clusters: cluster 1 holds nodes
 * 1, 2, 3 (nodes 1 and 2 replicate every key, node 3 none), cluster 5 nodes 1 and 4. Bucket 7 is
 * in cluster 1, bucket 8 in cluster 5. A request's node is its `x-node` header; no header: 401.
 */
const clusters: Record<number, ClusterInfo> = {
  1: {
    id: 1,
    nodes: [1, 2, 3],
    ring: { tokens: [T(0.25), T(0.5), T(0.75)], nodes: [1, 2, 1] },
    replicationFactor: 2,
  } as ClusterInfo,
  5: { id: 5, nodes: [1, 4], ring: { tokens: [T(0.5)], nodes: [1] }, replicationFactor: 2 } as ClusterInfo,
};
const chain: ReplicationChain = {
  cluster: async (id) => clusters[id],
  bucket: async (b) =>
    b === 7n || b === 8n ? ({ id: b, cluster: b === 7n ? 1 : 5 } as unknown as BucketInfo) : undefined,
  node: async () => undefined,
};

describe("storage-node replication: internal routes", function () {
  let store: ObjectStore;
  let app: FastifyInstance;
  let seen: { bodySha256: string }[];
  let cap: bigint;

  beforeEach(async function () {
    store = new ObjectStore(new FsBlobStore(join(tempDir("routes"), "data")), new MetaStore(":memory:"));
    await store.open();
    seen = [];
    cap = 1n << 40n;
    app = Fastify();
    app.setErrorHandler((e: { status?: number; code?: string; message: string }, _req, reply) => {
      void reply.code(e.status ?? 500).send({ error: { code: e.code, message: e.message } });
    });
    const wallet = Wallet.createRandom();
    await registerReplicationRoutes(app, {
      self: 1,
      identity: new NodeIdentity(1, wallet, storageDomain(1, wallet.address)),
      store,
      chain,
      auth: {
        authenticate: async (r) => {
          seen.push({ bodySha256: r.bodySha256 });
          const node = r.headers["x-node"];
          if (typeof node !== "string")
            throw Object.assign(new Error("no session"), { status: 401, code: "unauthenticated" });
          return { kind: "node", node: Number(node) };
        },
        capBytes: async () => cap,
      },
      clusters: () => [1, 5],
      clock: () => NOW,
    });
  });
  afterEach(async function () {
    await app.close();
    store.meta.close();
  });

  const put = (
    node: number | undefined,
    bucket: bigint,
    key: string,
    body: Buffer,
    version: bigint | string,
    announced = sha(body),
  ) =>
    app.inject({
      method: "PUT",
      url: `/v1/internal/replicas/${bucket}/${key}`,
      payload: body,
      headers: {
        "content-type": "application/octet-stream",
        "x-ddc-content-sha256": announced,
        "x-ddc-version": version.toString(),
        ...(node === undefined ? {} : { "x-node": String(node) }),
      },
    });
  const V = BigInt(NOW) * 1000n;

  it("authenticates from the headers before the body is read: the signed content hash, not the body's", async function () {
    const body = Buffer.alloc(1 << 20, 7);
    const announced = "ab".repeat(32);
    const r = await put(undefined, 7n, "x", body, V, announced);
    expect(r.statusCode).to.equal(401);
    expect(seen).to.deep.equal([{ bodySha256: announced }]);
    // Authenticated, a body that is not the announced one is refused by the store; nothing kept.
    const bad = await put(2, 7n, "x", body, V, announced);
    expect([bad.statusCode, bad.json().error.code]).to.deep.equal([400, "digest-mismatch"]);
    expect(store.meta.get(7n, "x")).to.equal(undefined);
    const ok = await put(2, 7n, "x", body, V);
    expect(ok.statusCode).to.equal(201);
    expect(store.meta.get(7n, "x")!).to.include({ size: body.length, cluster: 1 });
  });

  it("ranges, digests and blobs of a cluster hold its buckets only; a blob goes to a replica of its key", async function () {
    const secret = Buffer.from("cluster 5 data");
    await store.put(8n, "secret", keyToken("secret"), Readable.from([secret]), { version: 1n, maxBytes: 1e6 });
    const mine = Buffer.from("cluster 1 data");
    // Written without a cluster (as a server that does not give it): recorded from the chain when served.
    await store.put(7n, "mine", keyToken("mine"), Readable.from([mine]), { version: 2n, maxBytes: 1e6 });
    const q = await app.inject({ method: "GET", url: "/v1/internal/ranges/1?from=0&to=0", headers: { "x-node": "2" } });
    expect(q.json().rows.map((r: Row) => r.key)).to.deep.equal(["mine"]);
    const d = await app.inject({
      method: "GET",
      url: "/v1/internal/ranges/1/digest?from=0&to=0",
      headers: { "x-node": "2" },
    });
    expect(d.json().count).to.equal(1);
    expect(store.meta.get(8n, "secret")!.cluster).to.equal(5);
    // The blob of another cluster's object: node 2 is not in cluster 5.
    const b = await app.inject({
      method: "GET",
      url: `/v1/internal/blobs/8/secret?sha256=${sha(secret)}`,
      headers: { "x-node": "2" },
    });
    expect(b.statusCode).to.equal(403);
    // The old form, by content alone, is gone.
    const old = await app.inject({
      method: "GET",
      url: `/v1/internal/blobs/${sha(secret)}`,
      headers: { "x-node": "2" },
    });
    expect(old.statusCode).to.not.equal(200);
    // Node 3 is in cluster 1 but no replica of "mine"; node 2 is.
    const url = `/v1/internal/blobs/7/mine?sha256=${sha(mine)}`;
    expect((await app.inject({ method: "GET", url, headers: { "x-node": "3" } })).statusCode).to.equal(403);
    const got = await app.inject({ method: "GET", url, headers: { "x-node": "2" } });
    expect([got.statusCode, got.body]).to.deep.equal([200, "cluster 1 data"]);
    // Asking for the content under a key whose row is another content: 404.
    const other = await app.inject({
      method: "GET",
      url: `/v1/internal/blobs/7/mine?sha256=${sha(secret)}`,
      headers: { "x-node": "2" },
    });
    expect(other.statusCode).to.equal(404);
  });

  it("refuses a version past 63 bits or ahead of the clock by more than the skew, on PUT and DELETE", async function () {
    expect(parseVersion("9223372036854775807")).to.equal((1n << 63n) - 1n);
    expect(parseVersion("9223372036854775808")).to.equal(undefined);
    expect(parseVersion("01")).to.equal(undefined);
    const body = Buffer.from("v");
    const tooBig = await put(2, 7n, "k", body, 1n << 63n);
    expect(tooBig.statusCode).to.equal(400);
    const ahead = BigInt(NOW + MAX_CLOCK_SKEW_MS + 1) * 1000n;
    const far = await put(2, 7n, "k", body, ahead);
    expect(far.statusCode).to.equal(400);
    expect(far.json().error.message).to.match(/ahead of node 1's clock/);
    const del = (v: bigint) =>
      app.inject({ method: "DELETE", url: `/v1/internal/replicas/7/k?version=${v}`, headers: { "x-node": "2" } });
    expect((await del(ahead)).statusCode).to.equal(400);
    expect((await del(1n << 63n)).statusCode).to.equal(400);
    expect(store.meta.get(7n, "k")).to.equal(undefined);
    expect((await put(2, 7n, "k", body, ahead - 2000n * 1000n)).statusCode).to.equal(201);
    expect((await del(ahead - 1000n * 1000n)).json()).to.include({ deleted: true });
  });

  it("holds a replica write to the bucket's cap, and takes writes only between two replicas of the key", async function () {
    cap = 10n;
    const r = await put(2, 7n, "big", Buffer.alloc(20), V);
    expect([r.statusCode, r.json().error.code]).to.deep.equal([507, "cap-exceeded"]);
    expect(store.meta.get(7n, "big")).to.equal(undefined);
    cap = 1n << 40n;
    expect(keyReplicas(clusters[1], "big")).to.not.include(3);
    const from3 = await put(3, 7n, "big", Buffer.alloc(20), V);
    expect([from3.statusCode, from3.json().error.code]).to.deep.equal([403, "not-replica"]);
    const del3 = await app.inject({
      method: "DELETE",
      url: `/v1/internal/replicas/7/big?version=${V}`,
      headers: { "x-node": "3" },
    });
    expect(del3.statusCode).to.equal(403);
    // Node 4 shares cluster 5 only: not a node of bucket 7's cluster.
    expect((await put(4, 7n, "big", Buffer.alloc(20), V)).statusCode).to.equal(403);
    expect((await put(2, 7n, "big", Buffer.alloc(20), V)).statusCode).to.equal(201);
  });

  it("repair and anti-entropy skip and count rows whose version is ahead of the clock, and report the peer", async function () {
    const good = Buffer.from("good");
    const row = (key: string, version: bigint): Row => ({
      bucket: 7n,
      key,
      token: keyToken(key),
      version,
      sha256: sha(good),
      size: good.length,
      root: rootOf(good),
      deleted: false,
    });
    const rows = [row("fine", V), row("pinned", (1n << 63n) - 1n), row("ahead", BigInt(NOW + 3_600_000) * 1000n)];
    const peers = {
      rangePage: async () => ({ rows, next: undefined }),
      blob: async () => good,
    } as unknown as PeerClient;
    const reported: string[] = [];
    const repairer = new Repairer({
      self: 1,
      store,
      chain,
      peers,
      clock: () => NOW,
      onSourceError: (node, reason) => reported.push(`${node}: ${reason}`),
    });
    const r = await repairer.pullRange(1, { after: 0n, upTo: 0n }, 2);
    expect([r.rows, r.copied, r.refused]).to.deep.equal([3, 1, 2]);
    expect(store.meta.get(7n, "pinned")).to.equal(undefined);
    expect(store.meta.get(7n, "ahead")).to.equal(undefined);
    expect(store.meta.get(7n, "fine")!.cluster).to.equal(1);
    expect(reported).to.have.length(2);
    expect(reported[0]).to.match(/^2: sent row "pinned" of bucket 7 at version 9223372036854775807/);
  });
});
