import { expect } from "chai";
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { Wallet } from "ethers";
import {
  ClientErrorCode,
  DdcStorageClient,
  MANIFEST_CONTENT_TYPE,
  MAX_OBJECT_BYTES,
  StaticDirectory,
  StorageClientError,
  createStorageClient,
  parseManifest,
  partKey,
  replicasFor,
  type ClusterMap,
  type NodeInfo,
} from "../../../storage-node/client/node";
import { storageDomain } from "../../../storage-node/src/protocol";
import { startFakeNode, type FakeNode } from "./fakeNode";

const CHAIN_ID = 31337;
const CORE = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const DOMAIN = storageDomain(CHAIN_ID, CORE);
const BUCKET = 7n;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe("storage-node client", function () {
  this.timeout(60_000);
  let nodes: FakeNode[];
  let map: ClusterMap;
  let retries: StorageClientError[];
  const wallet = Wallet.createRandom();

  /** A three-node cluster, one vNode each, replication factor 3. */
  function clusterOf(list: { id: number; url: string; signingKey: string }[]): ClusterMap {
    const q = 1n << 62n;
    return {
      cluster: 1,
      replicationFactor: 3,
      distinctNodes: list.length,
      ring: { tokens: list.map((_, i) => BigInt(i + 1) * q), nodes: list.map((n) => n.id) },
      nodes: new Map<number, NodeInfo>(list.map((n) => [n.id, { id: n.id, url: n.url, signingKey: n.signingKey }])),
    };
  }

  function client(extra: Partial<ConstructorParameters<typeof DdcStorageClient>[0]> = {}): DdcStorageClient {
    return createStorageClient({
      directory: new StaticDirectory(map),
      signer: wallet,
      chainId: CHAIN_ID,
      core: CORE,
      timeoutMs: 2_000,
      onRetry: (e) => retries.push(e),
      ...extra,
    });
  }

  /** The fake nodes holding `key`, the primary first. */
  function replicas(key: string): FakeNode[] {
    return replicasFor(map.ring, map.replicationFactor, map.distinctNodes, key).map((id) =>
      nodes.find((n) => n.id === id)!,
    );
  }

  /** Stores `data` on every replica of `key` directly (as replication would). */
  async function seed(key: string, data: Uint8Array): Promise<void> {
    await client().put(BUCKET, key, data);
    const [primary, ...rest] = replicas(key);
    for (const n of rest) n.objects.set(key, primary.objects.get(key)!);
  }

  beforeEach(async function () {
    retries = [];
    nodes = await Promise.all([1, 2, 3].map((id) => startFakeNode(id, DOMAIN)));
    map = clusterOf(nodes.map((n) => ({ id: n.id, url: n.url, signingKey: n.key.address })));
  });

  afterEach(async function () {
    await Promise.all(nodes.map((n) => n.close()));
  });

  describe("put", function () {
    it("sends to the primary replica and returns its verified receipt", async function () {
      const data = new TextEncoder().encode("hello, ddc");
      const [primary, second] = replicas("greeting.txt");
      const r = await client().put(BUCKET, "greeting.txt", data);
      expect(r.bucket).to.equal("7");
      expect(r.key).to.equal("greeting.txt");
      expect(r.sha256).to.equal(sha(data));
      expect(r.size).to.equal(10);
      expect(r.receipts.map((x) => x.node)).to.deep.equal([primary.id]);
      expect(primary.seen).to.deep.equal(["PUT /v1/buckets/7/objects/greeting.txt"]);
      expect(second.seen).to.deep.equal([]);
      expect(retries).to.deep.equal([]);
    });

    it("escapes the key's segments and signs the target as sent", async function () {
      const key = "photos/2026 summer/it's (1).jpg";
      const [primary] = replicas(key);
      await client().put(BUCKET, key, new Uint8Array([1, 2, 3]));
      expect(primary.seen).to.deep.equal(["PUT /v1/buckets/7/objects/photos/2026%20summer/it%27s%20%281%29.jpg"]);
      expect([...primary.objects.keys()]).to.deep.equal([key]);
    });

    it("falls back to the next replica when the primary's port is dead, naming it", async function () {
      const [primary, second] = replicas("a");
      const deadUrl = `http://127.0.0.1:${await deadPort()}`;
      map.nodes.set(primary.id, { ...map.nodes.get(primary.id)!, url: deadUrl });
      const r = await client().put(BUCKET, "a", new Uint8Array([9]));
      expect(r.receipts.map((x) => x.node)).to.deep.equal([second.id]);
      expect(retries).to.have.length(1);
      expect(retries[0].code).to.equal(ClientErrorCode.Unreachable);
      expect(retries[0].node).to.equal(deadUrl);
      expect(retries[0].message).to.contain(`cannot reach ${deadUrl}`);
    });

    it("falls back to the next replica when the primary never answers (timeout)", async function () {
      const [primary, second] = replicas("slow");
      primary.behaviour = "hang";
      const started = Date.now();
      const r = await client({ timeoutMs: 300 }).put(BUCKET, "slow", new Uint8Array([1]));
      expect(Date.now() - started).to.be.within(300, 1_900);
      expect(r.receipts.map((x) => x.node)).to.deep.equal([second.id]);
      expect(retries.map((e) => e.code)).to.deep.equal([ClientErrorCode.Timeout]);
      expect(retries[0].message).to.equal(
        `PUT /v1/buckets/7/objects/slow: no answer from ${primary.url} within 300 ms`,
      );
      expect(retries[0].node).to.equal(primary.url);
    });

    it("falls back on a 503 and reports the node's error code", async function () {
      const [primary, second] = replicas("x");
      primary.behaviour = "503";
      const r = await client().put(BUCKET, "x", new Uint8Array([1]));
      expect(r.receipts[0].node).to.equal(second.id);
      expect(retries[0].status).to.equal(503);
      expect(retries[0].code).to.equal("internal");
      expect(retries[0].message).to.equal(
        `PUT /v1/buckets/7/objects/x: ${primary.url} answered 503 internal: overloaded`,
      );
    });

    it("says every replica failed, naming each, when all are down", async function () {
      for (const n of nodes) n.behaviour = "503";
      const err = await client()
        .put(BUCKET, "k", new Uint8Array([1]))
        .catch((e: unknown) => e);
      expect(err).to.be.instanceOf(StorageClientError);
      const e = err as StorageClientError;
      expect(e.code).to.equal(ClientErrorCode.AllReplicasFailed);
      expect(e.attempts.map((a) => a.node)).to.deep.equal(replicas("k").map((n) => n.url));
      for (const n of nodes) expect(e.message).to.contain(n.url);
    });

    it("rejects a receipt not signed by the node's registered key, without retrying", async function () {
      const [primary, second] = replicas("r");
      primary.behaviour = "wrong-key";
      const err = (await client()
        .put(BUCKET, "r", new Uint8Array([1]))
        .catch((e: unknown) => e)) as StorageClientError;
      expect(err.code).to.equal(ClientErrorCode.BadReceipt);
      expect(err.node).to.equal(primary.url);
      expect(err.message).to.match(
        new RegExp(
          `^PUT r: ${primary.url} answered a receipt of node ${primary.id} signed by 0x[0-9a-fA-F]{40}, not by its key ${primary.key.address}$`,
        ),
      );
      expect(second.seen).to.deep.equal([]);
    });

    it("re-reads the cluster once when a node says it is not a replica", async function () {
      const [primary] = replicas("moved");
      primary.behaviour = "not-replica";
      let reads = 0;
      const directory = {
        forBucket: async (_b: bigint, o: { refresh?: boolean } = {}) => {
          reads++;
          if (o.refresh === true) primary.behaviour = "ok";
          return map;
        },
      };
      const r = await client({ directory }).put(BUCKET, "moved", new Uint8Array([5]));
      expect(r.receipts[0].node).to.equal(primary.id);
      // Two reads for the write, the third after the 421 (undici itself repeats a 421 once, so the
      // node sees three PUTs).
      expect(reads).to.equal(3);
      expect(primary.objects.has("moved")).to.equal(true);
      expect(retries).to.deep.equal([]);
    });

    it("refuses bad input before sending anything", async function () {
      const c = client();
      for (const [bucket, key, message] of [
        [0n, "k", 'bucket must be a positive 64-bit integer, got "0"'],
        ["x1", "k", 'bucket must be a positive 64-bit integer, got "x1"'],
        [1n, "", "the key is empty"],
        [1n, "é".repeat(513), "the key has 1026 bytes, more than 1024"],
      ] as const) {
        const err = (await c.put(bucket, key, new Uint8Array(1)).catch((e: unknown) => e)) as StorageClientError;
        expect(err.code).to.equal(ClientErrorCode.InvalidArgument);
        expect(err.message).to.equal(message);
      }
      expect(nodes.flatMap((n) => n.seen)).to.deep.equal([]);
    });
  });

  describe("get", function () {
    it("returns the bytes verified against the ETag", async function () {
      const data = randomBytes(200_000);
      await seed("blob", data);
      const got = await client().get(BUCKET, "blob");
      expect(Buffer.from(got).equals(data)).to.equal(true);
      expect(retries).to.deep.equal([]);
    });

    it("rejects wrong bytes naming the node, and gets them from the next replica", async function () {
      const data = randomBytes(1000);
      await seed("c", data);
      const [primary] = replicas("c");
      primary.behaviour = "corrupt";
      const got = await client().get(BUCKET, "c");
      expect(Buffer.from(got).equals(data)).to.equal(true);
      expect(retries).to.have.length(1);
      expect(retries[0].code).to.equal(ClientErrorCode.CorruptData);
      expect(retries[0].node).to.equal(primary.url);
      expect(retries[0].message).to.contain(`GET c: ${primary.url} answered 1000 bytes whose SHA-256 is `);
      expect(retries[0].message).to.contain(`not the 1000 bytes of ${sha(data)} its receipt names`);
    });

    it("fails naming every node when all answer wrong bytes", async function () {
      await seed("c", randomBytes(10));
      for (const n of nodes) n.behaviour = "corrupt";
      const err = (await client()
        .get(BUCKET, "c")
        .catch((e: unknown) => e)) as StorageClientError;
      expect(err.code).to.equal(ClientErrorCode.AllReplicasFailed);
      expect(err.attempts.map((a) => a.code)).to.deep.equal(Array(3).fill(ClientErrorCode.CorruptData));
      for (const n of nodes) expect(err.message).to.contain(n.url);
    });

    it("asks the other replicas on a 404, and says not-found when none has it", async function () {
      const data = randomBytes(10);
      await client().put(BUCKET, "only-second", data);
      const [primary, second] = replicas("only-second");
      second.objects.set("only-second", primary.objects.get("only-second")!);
      primary.objects.clear();
      expect(Buffer.from(await client().get(BUCKET, "only-second")).equals(data)).to.equal(true);
      const err = (await client()
        .get(BUCKET, "nothing")
        .catch((e: unknown) => e)) as StorageClientError;
      expect(err.code).to.equal("not-found");
      expect(err.status).to.equal(404);
      expect(err.message).to.equal(
        `GET /v1/buckets/7/objects/nothing: ${err.node} answered 404 not-found: no object "nothing"`,
      );
    });

    it("reads a range as the leaves that cover it, checked against the receipt's Merkle root", async function () {
      const data = randomBytes(20 * 65536 + 100);
      await seed("big", data);
      const [primary] = replicas("big");
      const got = await client().get(BUCKET, "big", { range: { start: 70_000, end: 140_000 } });
      expect(Buffer.from(got).equals(data.subarray(70_000, 140_001))).to.equal(true);
      expect(primary.seen.slice(-3)).to.deep.equal([
        "HEAD /v1/buckets/7/objects/big",
        "GET /v1/buckets/7/objects/big?leaves=1",
        "GET /v1/buckets/7/objects/big",
      ]);
      // Leaves 1 and 2 only, of the 21.
      expect(primary.servedBytes).to.equal(2 * 65536);
      const tail = await client().get(BUCKET, "big", { range: { start: 20 * 65536 + 90 } });
      expect(Buffer.from(tail).equals(data.subarray(20 * 65536 + 90))).to.equal(true);
      expect(primary.servedBytes).to.equal(2 * 65536 + 100);
      const whole = await client().get(BUCKET, "big");
      expect(Buffer.from(whole).equals(data)).to.equal(true);
      expect(primary.servedBytes).to.equal(2 * 65536 + 100 + data.length);
      expect(retries).to.deep.equal([]);
    });

    it("refuses a range with a wrong leaf and reads it from the next replica", async function () {
      const data = randomBytes(3 * 65536 + 7);
      await seed("leafy", data);
      const [primary, second] = replicas("leafy");
      primary.behaviour = "wrong-leaf";
      const got = await client().get(BUCKET, "leafy", { range: { start: 65_540, end: 3 * 65536 + 2 } });
      expect(Buffer.from(got).equals(data.subarray(65_540, 3 * 65536 + 3))).to.equal(true);
      expect(retries.map((e) => [e.code, e.node])).to.deep.equal([[ClientErrorCode.CorruptData, primary.url]]);
      expect(retries[0].message).to.match(
        new RegExp(
          `^GET leafy: ${primary.url} answered leaf 1 whose hash is [0-9a-f]{64}, not [0-9a-f]{64} as its Merkle leaves name$`,
        ),
      );
      expect(second.servedBytes).to.equal(2 * 65536 + 7);
      // A whole read is checked against the SHA-256: the wrong-leaf node serves whole objects right.
      expect(Buffer.from(await client().get(BUCKET, "leafy")).equals(data)).to.equal(true);
    });

    it("refuses a receipt whose Merkle root is not its leaves' and reads the range from the next replica", async function () {
      const data = randomBytes(4 * 65536);
      await seed("rooted", data);
      const [primary, second] = replicas("rooted");
      primary.behaviour = "wrong-root";
      const got = await client().get(BUCKET, "rooted", { range: { start: 3 * 65536, end: 3 * 65536 + 9 } });
      expect(Buffer.from(got).equals(data.subarray(3 * 65536, 3 * 65536 + 10))).to.equal(true);
      expect(retries.map((e) => [e.code, e.node])).to.deep.equal([[ClientErrorCode.BadReceipt, primary.url]]);
      expect(retries[0].message).to.match(
        new RegExp(
          `^GET rooted\\?leaves=1: ${primary.url} answered 4 leaves of 65536 bytes with Merkle root [0-9a-f]{64} for 262144 bytes at version \\d+, not the 4 leaves of root ${"11".repeat(32)} its receipt names`,
        ),
      );
      // No byte of the object from the primary; one leaf from the second.
      expect(primary.servedBytes).to.equal(0);
      expect(second.servedBytes).to.equal(65536);
    });

    it("refuses content a node vouches for itself: forged bytes with matching ETag and root, a receipt by another key", async function () {
      const data = randomBytes(1000);
      await seed("doc", data);
      const [primary, second] = replicas("doc");
      primary.behaviour = "forge";
      for (const range of [undefined, { start: 0, end: 9 }]) {
        const got = await client().get(BUCKET, "doc", { range });
        expect(Buffer.from(got).equals(range === undefined ? data : data.subarray(0, 10))).to.equal(true);
      }
      // The range: its HEAD, then its leaves, each refused on the primary.
      expect(retries.map((e) => [e.code, e.node])).to.deep.equal([
        [ClientErrorCode.BadReceipt, primary.url],
        [ClientErrorCode.BadReceipt, primary.url],
        [ClientErrorCode.BadReceipt, primary.url],
      ]);
      expect(retries[0].message).to.match(
        new RegExp(
          `^GET doc: ${primary.url} answered a receipt signed by 0x[0-9a-fA-F]{40}, not by its registered key ${primary.key.address}$`,
        ),
      );
      const head = await client().head(BUCKET, "doc");
      expect(head).to.include({ size: 1000, sha256: sha(data) });
      second.behaviour = "forge";
      replicas("doc")[2].behaviour = "no-receipt";
      const err = (await client()
        .get(BUCKET, "doc")
        .catch((e: unknown) => e)) as StorageClientError;
      expect(err.code).to.equal(ClientErrorCode.AllReplicasFailed);
      expect(err.attempts.map((e) => e.node)).to.deep.equal(replicas("doc").map((n) => n.url));
      expect(err.attempts[2].message).to.equal(
        `GET doc: ${replicas("doc")[2].url} answered no receipt (x-ddc-receipt)`,
      );
    });

    it("refuses a receipt replayed from another key", async function () {
      const a = randomBytes(100);
      await seed("a", a);
      await seed("b", randomBytes(200));
      const [primary] = replicas("b");
      const receiptOfA = (await client().put(BUCKET, "a", a)).receipts[0];
      primary.objects.set("b", { ...primary.objects.get("a")!, receipt: receiptOfA });
      retries = [];
      await client().get(BUCKET, "b");
      expect(retries.map((e) => e.code)).to.deep.equal([ClientErrorCode.BadReceipt]);
      expect(retries[0].message).to.match(/answered a receipt (of node \d+, not its own|for 7\/a, not 7\/b)/);
    });

    it("caps the body at the receipt's size: a node sending bytes without end is cut off and the next used", async function () {
      const data = randomBytes(1000);
      await seed("capped", data);
      const [primary] = replicas("capped");
      primary.behaviour = "endless";
      const got = await client().get(BUCKET, "capped");
      expect(Buffer.from(got).equals(data)).to.equal(true);
      expect(retries.map((e) => [e.code, e.node])).to.deep.equal([[ClientErrorCode.BadResponse, primary.url]]);
      expect(retries[0].message).to.equal(
        `GET /v1/buckets/7/objects/capped: ${primary.url} answered more than the 1000 bytes expected`,
      );
    });

    it("refuses a range past the end", async function () {
      await seed("s", randomBytes(10));
      const err = (await client()
        .get(BUCKET, "s", { range: { start: 10 } })
        .catch((e: unknown) => e)) as StorageClientError;
      expect(err.code).to.equal("range-not-satisfiable");
      expect(err.message).to.equal("s has 10 bytes: range 10- is past its end");
    });
  });

  describe("objects over 64 MiB: parts and a manifest", function () {
    it("splits, writes a manifest, and joins them back (also a range across parts)", async function () {
      this.timeout(120_000);
      const data = randomBytes(MAX_OBJECT_BYTES + 1000);
      const r = await client({ timeoutMs: 30_000 }).put(BUCKET, "movie.mkv", data);
      expect(r.parts!.map((p) => [p.key, p.size])).to.deep.equal([
        ["movie.mkv.part-00001", MAX_OBJECT_BYTES],
        ["movie.mkv.part-00002", 1000],
      ]);
      const stored = replicas("movie.mkv")[0].objects.get("movie.mkv")!;
      expect(stored.contentType).to.equal(MANIFEST_CONTENT_TYPE);
      const manifest = parseManifest("movie.mkv", stored.data);
      expect(manifest).to.deep.equal({
        format: "ddc-manifest",
        version: 1,
        size: MAX_OBJECT_BYTES + 1000,
        sha256: sha(data),
        partSize: MAX_OBJECT_BYTES,
        parts: [
          { key: partKey("movie.mkv", 1), size: MAX_OBJECT_BYTES, sha256: sha(data.subarray(0, MAX_OBJECT_BYTES)) },
          { key: partKey("movie.mkv", 2), size: 1000, sha256: sha(data.subarray(MAX_OBJECT_BYTES)) },
        ],
      });
      const c = client({ timeoutMs: 30_000 });
      expect(Buffer.from(await c.get(BUCKET, "movie.mkv")).equals(data)).to.equal(true);
      const across = await c.get(BUCKET, "movie.mkv", {
        range: { start: MAX_OBJECT_BYTES - 10, end: MAX_OBJECT_BYTES + 9 },
      });
      expect(Buffer.from(across).equals(data.subarray(MAX_OBJECT_BYTES - 10, MAX_OBJECT_BYTES + 10))).to.equal(true);
      const head = await c.head(BUCKET, "movie.mkv");
      expect([head.size, head.sha256, head.parts]).to.deep.equal([MAX_OBJECT_BYTES + 1000, sha(data), 2]);
      const removed = await c.remove(BUCKET, "movie.mkv");
      expect(removed).to.deep.equal({ key: "movie.mkv", parts: 2 });
      expect(nodes.flatMap((n) => [...n.objects.keys()])).to.deep.equal([]);
    });

    it("rejects malformed manifests, saying what is wrong", function () {
      const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
      const good = {
        format: "ddc-manifest",
        version: 1,
        size: 3,
        sha256: "a".repeat(64),
        partSize: 2,
        parts: [
          { key: "k.part-00001", size: 2, sha256: "b".repeat(64) },
          { key: "k.part-00002", size: 1, sha256: "c".repeat(64) },
        ],
      };
      expect(parseManifest("k", enc(good)).parts).to.have.length(2);
      expect(() => parseManifest("k", new TextEncoder().encode("{"))).to.throw("the manifest of k is not JSON");
      expect(() => parseManifest("k", enc({ ...good, size: 4 }))).to.throw(
        "the manifest of k: its parts add up to 3 bytes, not 4",
      );
      expect(() => parseManifest("j", enc(good))).to.throw("the manifest of j names part 1 k.part-00001");
      expect(() =>
        parseManifest("k", enc({ ...good, parts: [{ ...good.parts[0], size: 1 }, good.parts[1]] })),
      ).to.throw("the manifest of k: part 1 has 1 bytes, not 2");
      expect(() => parseManifest("k", enc({ ...good, format: "x" }))).to.throw("the manifest of k is malformed");
    });

    it("takes an object for a manifest by its content type only: untyped manifest-like JSON is plain data", async function () {
      const json = new TextEncoder().encode('{"format":"ddc-manifest","version":1}');
      await seed("note.json", json);
      expect(Buffer.from(await client().get(BUCKET, "note.json")).equals(json)).to.equal(true);
      expect((await client().head(BUCKET, "note.json")).parts).to.equal(undefined);
      const cut = await client().get(BUCKET, "note.json", { range: { start: 2, end: 7 } });
      expect(new TextDecoder().decode(cut)).to.equal("format");
    });
  });

  describe("small split objects (hand-made manifests)", function () {
    /** Parts of 10 bytes under `key` and a typed manifest naming them, on every replica. */
    async function split(key: string, data: Buffer, contentType = MANIFEST_CONTENT_TYPE) {
      const parts = [];
      for (let i = 0, n = 1; i < data.length; i += 10, n++) {
        const bytes = data.subarray(i, i + 10);
        await seed(partKey(key, n), bytes);
        parts.push({ key: partKey(key, n), size: bytes.length, sha256: sha(bytes) });
      }
      const manifest = {
        format: "ddc-manifest",
        version: 1,
        size: data.length,
        sha256: sha(data),
        partSize: 10,
        parts,
      };
      const bytes = new TextEncoder().encode(JSON.stringify(manifest));
      await client().put(BUCKET, key, bytes, { contentType });
      const [primary, ...rest] = replicas(key);
      for (const n of rest) n.objects.set(key, primary.objects.get(key)!);
    }

    it("a part whose replica holds other content than the manifest names is read from the next replica", async function () {
      const data = randomBytes(25);
      await split("f", data);
      const [first] = replicas(partKey("f", 2));
      first.objects.set(partKey("f", 2), { ...first.objects.get(partKey("f", 2))!, data: Buffer.from("0123456789") });
      expect(Buffer.from(await client().get(BUCKET, "f")).equals(data)).to.equal(true);
      expect(
        Buffer.from(await client().get(BUCKET, "f", { range: { start: 12, end: 13 } })).equals(data.subarray(12, 14)),
      ).to.equal(true);
      expect(retries.map((e) => [e.code, e.node])).to.deep.equal([
        [ClientErrorCode.CorruptData, first.url],
        [ClientErrorCode.CorruptData, first.url],
      ]);
      expect(retries[0].message).to.equal(
        `GET f.part-00002: ${first.url} holds 10 bytes of SHA-256 ${sha(Buffer.from("0123456789"))}, not the 10 bytes of ${sha(data.subarray(10, 20))} its manifest names`,
      );
      for (const n of replicas(partKey("f", 2)))
        n.objects.set(partKey("f", 2), { ...n.objects.get(partKey("f", 2))!, data: Buffer.from("0123456789") });
      const err = (await client()
        .get(BUCKET, "f")
        .catch((e: unknown) => e)) as StorageClientError;
      expect(err.code).to.equal(ClientErrorCode.AllReplicasFailed);
      expect(err.attempts.map((e) => e.node)).to.deep.equal(replicas(partKey("f", 2)).map((n) => n.url));
      expect(err.attempts.every((e) => e.node !== "")).to.equal(true);
    });

    it("remove deletes the parts of a typed manifest only", async function () {
      const data = randomBytes(15);
      await split("m", data);
      await split("u", data, "application/x-untyped");
      expect(await client().remove(BUCKET, "u")).to.deep.equal({ key: "u", parts: 0 });
      expect(replicas(partKey("u", 1))[0].objects.has(partKey("u", 1))).to.equal(true);
      expect(await client().remove(BUCKET, "m")).to.deep.equal({ key: "m", parts: 2 });
      expect(replicas(partKey("m", 1))[0].objects.has(partKey("m", 1))).to.equal(false);
    });
  });

  describe("head, remove and list", function () {
    it("heads and removes an object", async function () {
      const data = randomBytes(100);
      await seed("h", data);
      const head = await client().head(BUCKET, "h");
      expect(head.size).to.equal(100);
      expect(head.sha256).to.equal(sha(data));
      expect(await client().remove(BUCKET, "h")).to.deep.equal({ key: "h", parts: 0 });
      expect(replicas("h")[0].objects.has("h")).to.equal(false);
    });

    it("lists across all nodes, merged in key order, page by page", async function () {
      const keys = ["a/1", "a/2", "a/3", "a/4", "a/5", "b/1"];
      for (const k of keys) await client().put(BUCKET, k, new TextEncoder().encode(k));
      // One key on two nodes (a replica): listed once.
      const [p, s] = replicas("a/3");
      s.objects.set("a/3", p.objects.get("a/3")!);
      const pages: string[][] = [];
      for await (const page of client().list(BUCKET, { prefix: "a/", limit: 2 }))
        pages.push(page.objects.map((o) => o.key));
      expect(pages).to.deep.equal([["a/1", "a/2"], ["a/3", "a/4"], ["a/5"]]);
    });

    it("lists completely with one node down (replication 3), and fails with too many down", async function () {
      await seed("x1", new Uint8Array([1]));
      await seed("x2", new Uint8Array([2]));
      nodes[0].behaviour = "503";
      const keys: string[] = [];
      for await (const page of client().list(BUCKET)) keys.push(...page.objects.map((o) => o.key));
      expect(keys).to.deep.equal(["x1", "x2"]);
      expect(retries.map((e) => e.node)).to.deep.equal([nodes[0].url]);
      for (const n of nodes) n.behaviour = "503";
      const err = (await client()
        .list(BUCKET)
        .next()
        .catch((e: unknown) => e)) as StorageClientError;
      expect(err.code).to.equal(ClientErrorCode.AllReplicasFailed);
      expect(err.message).to.contain("list 7: 3 of 3 nodes failed, more than the 2 a complete listing survives");
    });
  });

  describe("list: misbehaving nodes", function () {
    it("a node ignoring start-after and the prefix, always sending next: its stray keys dropped, named, no loop", async function () {
      for (const k of ["a/1", "a/2", "a/3", "b/1"]) await seed(k, new TextEncoder().encode(k));
      nodes[0].behaviour = "list-loop";
      const pages: string[][] = [];
      for await (const page of client().list(BUCKET, { prefix: "a/", limit: 2, maxPages: 10 }))
        pages.push(page.objects.map((o) => o.key));
      expect(pages).to.deep.equal([["a/1", "a/2"], ["a/3"]]);
      expect(retries.length).to.be.greaterThan(0);
      expect(retries.every((e) => e.code === ClientErrorCode.BadResponse && e.node === nodes[0].url)).to.equal(true);
      expect(retries[0].message).to.match(
        new RegExp(`^list 7: ${nodes[0].url} answered \\d+ keys outside the prefix "a/" or not after`),
      );
    });

    it("caps the pages of one call: the last page's next says where to go on", async function () {
      for (const k of ["k1", "k2", "k3"]) await seed(k, new TextEncoder().encode(k));
      const pages: Array<{ keys: string[]; next?: string }> = [];
      for await (const page of client().list(BUCKET, { limit: 1, maxPages: 2 }))
        pages.push({ keys: page.objects.map((o) => o.key), next: page.next });
      expect(pages).to.deep.equal([
        { keys: ["k1"], next: "k1" },
        { keys: ["k2"], next: "k2" },
      ]);
    });

    it("prefers the entry the replicas agree on over one node's higher version", async function () {
      const data = new TextEncoder().encode("honest");
      await seed("v", data);
      replicas("v")[0].behaviour = "list-lie";
      const objects = [];
      for await (const page of client().list(BUCKET)) objects.push(...page.objects);
      expect(objects.map((o) => [o.key, o.sha256])).to.deep.equal([["v", sha(data)]]);
    });
  });

  describe("sessions", function () {
    it("signs once per bucket and reuses the session", async function () {
      let signatures = 0;
      const counting = new Proxy(wallet, {
        get(target, prop, receiver) {
          if (prop === "signTypedData") {
            return (...args: Parameters<Wallet["signTypedData"]>) => {
              signatures++;
              return target.signTypedData(...args);
            };
          }
          return Reflect.get(target, prop, receiver) as unknown;
        },
      });
      const c = client({ signer: counting });
      await c.put(BUCKET, "s1", new Uint8Array([1]));
      await c.put(BUCKET, "s2", new Uint8Array([1]));
      await c.get(BUCKET, "s1");
      expect(signatures).to.equal(1);
      const s = await c.session(BUCKET);
      expect(s.token.kind).to.equal("app");
      expect(s.operations).to.equal(15);
    });
  });
});
