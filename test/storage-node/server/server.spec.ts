import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import pino from "pino";
import { verifyTypedData, type TypedDataDomain } from "ethers";
import type { FastifyInstance } from "fastify";
import { CLUSTER_PARAMS, exampleFixture, NODE_PARAMS, RENT, USD } from "../../helpers/fixtures";
import { NodeMetrics } from "../../../storage-node/src/metrics";
import { ViewNodeChain } from "../../../storage-node/src/nodeChain";
import type { PersistentNodeStore } from "../../../storage-node/src/nodeStore";
import { replicasFor, type Ring } from "../../../storage-node/src/placement";
import {
  buildNodeServer,
  eip712,
  manifestRoot,
  parseRange,
  VersionClock,
  type NodeHttpError,
} from "../../../storage-node/src/server";
import {
  ALL_OPS,
  CHALLENGE_TYPES,
  HEADER,
  LEAF_BYTES,
  MAX_OBJECT_BYTES,
  Op,
  RECEIPT_TYPES,
  receiptMessage,
  decodeReceiptHeader,
  type SignedReceipt,
  USAGE_TYPES,
  storageDomain,
  type ChallengeResponse,
  type LeavesResult,
  type ListResult,
  type PutResult,
  type UsageRecord,
} from "../../../storage-node/src/protocol";
import { leafHashes, merkleRoot, toHex, verifyMerkleProof } from "../../../storage-node/src/store/merkle";
import { appSession, newSessionKey, realParts, signRequest, validatorSession, type SessionKey } from "./helpers";
import { connect } from "node:net";
import { readdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { encodeSessionToken, signNodeSession } from "../../../storage-node/src/auth/sign";
import type { NodeStore } from "../../../storage-node/src/ports";
import { keyProblem, maxAcceptedVersion, type ErrorBody } from "../../../storage-node/src/protocol";
import type { ServerLimits } from "../../../storage-node/src/server";

const URL1 = NODE_PARAMS.urls[0];
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

async function world() {
  const f = await exampleFixture();
  // A third node, so that some keys are not on node 1 (replication factor 2).
  const nodeKey3 = f.others[0];
  await f.ddc
    .connect(f.provider1)
    .nodeCreate(nodeKey3.address, 1000n, RENT, { ...NODE_PARAMS, urls: ["https://node3.example"] });
  await f.ddc.connect(f.manager).clusterAddNode(f.cluster, 3n, [(1n << 61n) + 5n, (5n << 61n) + 5n]);
  const validator = f.others[1];
  await f.ddc.connect(f.manager).clusterSetValidator(f.cluster, validator.address, true);
  const reader = f.others[2];
  await f.ddc.connect(f.owner1).bucketGrant(f.bucket, reader.address, 1);
  // A second cluster of nodes 1 and 2 (both hold every key), with 100-byte units: bucket 2's cap
  // is 10 units, 1000 bytes.
  await f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, 100n);
  await f.ddc.connect(f.manager).clusterAddNode(2n, 1n, [7n]);
  await f.ddc.connect(f.manager).clusterAddNode(2n, 2n, [1n << 63n]);
  await f.ddc.connect(f.manager).clusterReserveResource(2n, 100n);
  await f.ddc.connect(f.owner1).bucketCreate(2n, "{}");
  await f.ddc.connect(f.owner1).accountDeposit(2n, 1000n * USD);
  await f.ddc.connect(f.owner1).bucketAllocIntoCluster(2n, 10n);
  const { chainId } = await ethers.provider.getNetwork();
  return { ...f, validator, reader, smallBucket: 2n, domain: storageDomain(chainId, f.coreAddress) };
}

type World = Awaited<ReturnType<typeof world>>;

describe("storage node server", function () {
  this.timeout(60_000);
  let w: World;
  let app: FastifyInstance;
  let parts: Awaited<ReturnType<typeof realParts>>;
  let store: PersistentNodeStore;
  let metrics: NodeMetrics;
  let key: SessionKey;
  let session: string;
  let ring: Ring;
  const replicasOnRing = (k: string) => replicasFor(ring, 2, 3, k);
  const exp = () => Math.floor(Date.now() / 1000) + 300;
  /** A key whose replicas include node 1 (or not). */
  const keyOn = (mine: boolean, base = "k") => {
    for (let i = 0; ; i++) {
      const k = `${base}${i}`;
      if (replicasOnRing(k).includes(1) === mine) return k;
    }
  };

  /** A server over this test's parts (node 1), with its own limits, store, clock or metrics if given. */
  const serverOn = async (
    o: {
      limits?: Partial<ServerLimits>;
      store?: NodeStore;
      clock?: () => number;
      clockCheck?: boolean;
      metrics?: NodeMetrics;
    } = {},
  ): Promise<FastifyInstance> => {
    const built = buildNodeServer({
      store: o.store ?? store,
      auth: parts.auth,
      chain: new ViewNodeChain(parts.view, ethers.provider),
      node: { id: 1, url: URL1 },
      signer: w.nodeKey1,
      domain: w.domain,
      metrics: o.metrics ?? new NodeMetrics(),
      logger: pino({ level: "silent" }),
      usageFlushMs: 0,
      limits: o.limits,
      clock: o.clock,
      clockCheck: o.clockCheck,
    });
    await built.app.ready();
    return built.app;
  };

  beforeEach(async () => {
    w = await loadFixture(world);
    parts = await realParts({ provider: ethers.provider, core: w.coreAddress, domain: w.domain, nodeId: 1 });
    store = parts.store;
    metrics = new NodeMetrics();
    app = await serverOn({ metrics });
    key = newSessionKey();
    session = await appSession(w.owner1, w.domain, { bucket: w.bucket, key, operations: ALL_OPS, expiry: exp() });
    ring = (await parts.view.cluster(Number(w.cluster)))!.ring;
  });
  afterEach(async () => {
    await app?.close();
    parts?.close();
  });

  const objectPath = (k: string, bucket = w.bucket) => `/v1/buckets/${bucket}/objects/${k}`;
  const put = (
    k: string,
    body: Buffer | string,
    o: { session?: string; key?: SessionKey; headers?: Record<string, string>; bucket?: bigint } = {},
  ) => {
    const target = objectPath(k, o.bucket);
    const contentType = o.headers?.["content-type"] ?? "application/octet-stream";
    return app.inject({
      method: "PUT",
      url: target,
      payload: Buffer.from(body),
      headers: {
        ...o.headers,
        ...signRequest(o.session ?? session, o.key ?? key, {
          method: "PUT",
          target,
          body,
          contentType,
          expires: exp(),
        }),
      },
    });
  };
  const get = (
    target: string,
    headers: Record<string, string> = {},
    method: "GET" | "HEAD" = "GET",
    s = session,
    k = key,
  ) =>
    app.inject({
      method,
      url: target,
      headers: { ...signRequest(s, k, { method, target, expires: exp(), nonce: false }), ...headers },
    });
  const del = (target: string) =>
    app.inject({
      method: "DELETE",
      url: target,
      headers: signRequest(session, key, { method: "DELETE", target, expires: exp() }),
    });

  /** Flips a byte of a stored blob on disk, as a failing disk would. */
  const corrupt = (sha256: string, at: number) => {
    const file = join(parts.dir, "blobs", sha256.slice(0, 2), sha256.slice(2, 4), sha256);
    const bytes = readFileSync(file);
    bytes[at] ^= 0xff;
    writeFileSync(file, bytes);
  };

  const expectError = (res: { statusCode: number; json(): unknown }, status: number, code: string) => {
    expect(res.statusCode, JSON.stringify(res.json())).to.equal(status);
    const body = res.json() as { error: { code: string; message: string; node: string } };
    expect(body.error.code).to.equal(code);
    expect(body.error.node).to.equal(URL1);
    expect(body.error.message).to.be.a("string").and.not.equal("");
  };

  describe("PUT", () => {
    it("stores an object and answers 201 with the node's signed receipt", async () => {
      const k = keyOn(true);
      const body = randomBytes(100_000);
      const res = await put(k, body);
      expect(res.statusCode).to.equal(201);
      const r = res.json() as PutResult;
      expect(r).to.include({ bucket: w.bucket.toString(), key: k, sha256: sha(body), size: 100_000 });
      expect(r.root).to.equal(toHex(merkleRoot(leafHashes(body))));
      expect(res.headers[HEADER.version]).to.equal(r.version);
      expect(r.receipts).to.have.length(1);
      const rc = r.receipts[0];
      expect(rc).to.include({ node: 1, key: k, version: r.version, sha256: sha(body), size: 100_000, root: r.root });
      const signer = verifyTypedData(
        w.domain,
        eip712(RECEIPT_TYPES),
        receiptMessage(rc.node, { ...rc, bucket: BigInt(rc.bucket), version: BigInt(rc.version) }),
        rc.signature,
      );
      expect(signer).to.equal(w.nodeKey1.address);
      expect(store.get(w.bucket, k)?.sha256).to.equal(sha(body));
    });

    it("keeps a JSON body as raw bytes", async () => {
      const k = keyOn(true);
      const res = await put(k, '{"a":1}', { headers: { "content-type": "application/json" } });
      expect(res.statusCode).to.equal(201);
      expect((res.json() as PutResult).sha256).to.equal(sha('{"a":1}'));
    });

    it("refuses a body whose SHA-256 is not the announced one: 400 digest-mismatch, nothing kept", async () => {
      const k = keyOn(true);
      const target = objectPath(k);
      const headers = signRequest(session, key, {
        method: "PUT",
        target,
        body: "announced",
        contentType: "text/plain",
        expires: exp(),
      });
      const res = await app.inject({ method: "PUT", url: target, payload: "different", headers });
      expectError(res, 400, "digest-mismatch");
      expect(store.get(w.bucket, k)).to.equal(undefined);
    });

    it("refuses a PUT without the content digest header: 400 bad-request", async () => {
      const k = keyOn(true);
      const target = objectPath(k);
      const headers = signRequest(session, key, { method: "PUT", target, body: "x", expires: exp() });
      delete headers[HEADER.contentSha256];
      expectError(await app.inject({ method: "PUT", url: target, payload: "x", headers }), 400, "bad-request");
    });

    it("refuses a body past 64 MiB by its length: 413 too-large", async () => {
      const k = keyOn(true);
      const target = objectPath(k);
      const headers = signRequest(session, key, { method: "PUT", target, body: "x", expires: exp() });
      const res = await app.inject({
        method: "PUT",
        url: target,
        payload: "x",
        headers: { ...headers, "content-length": String(MAX_OBJECT_BYTES + 1) },
      });
      expectError(res, 413, "too-large");
    });

    it("refuses a write past the bucket's cap: 507 cap-exceeded; replacing an object counts its old size out", async () => {
      // Bucket 2: 10 units of 100 bytes.
      const k2 = await appSession(w.owner1, w.domain, {
        bucket: w.smallBucket,
        key,
        operations: ALL_OPS,
        expiry: exp(),
      });
      const o = { session: k2, bucket: w.smallBucket };
      // A row costs its bytes, its key's bytes and 256: "k" with 487 bytes is 744.
      expect((await put("k", Buffer.alloc(487), o)).statusCode).to.equal(201);
      expectError(await put("other", Buffer.alloc(300), o), 507, "cap-exceeded");
      // 1000 − 744 + 744 … replacing "k" counts its old row out: 743 + 1 + 256 = 1000, exactly at the cap.
      expect((await put("k", Buffer.alloc(743, 1), o)).statusCode).to.equal(201);
      expectError(await put("k", Buffer.alloc(744), o), 507, "cap-exceeded");
      expect(store.storedBytes(w.smallBucket)).to.equal(743);
    });

    it("the cap counts keys and a row's overhead: empty objects and tombstones are not free", async () => {
      const k2 = await appSession(w.owner1, w.domain, {
        bucket: w.smallBucket,
        key,
        operations: ALL_OPS,
        expiry: exp(),
      });
      const o = { session: k2, bucket: w.smallBucket };
      // Three empty objects with 1-byte keys: 3 × 257 = 771.
      for (const k of ["a", "b", "c"]) expect((await put(k, Buffer.alloc(0), o)).statusCode).to.equal(201);
      const res = await put("d", Buffer.alloc(0), o);
      expectError(res, 507, "cap-exceeded");
      expect((res.json() as { error: { message: string } }).error.message).to.equal(
        "bucket 2 would count 1028 bytes (objects, keys and 256 bytes a row), above its cap of 1000",
      );
      // A delete leaves a tombstone that still counts.
      const target = objectPath("a", w.smallBucket);
      const d = await app.inject({
        method: "DELETE",
        url: target,
        headers: signRequest(k2, key, { method: "DELETE", target, expires: exp() }),
      });
      expect(d.statusCode).to.equal(200);
      expectError(await put("d", Buffer.alloc(0), o), 507, "cap-exceeded");
      expect(store.chargedBytes(w.smallBucket)).to.equal(771);
    });

    it("a key this node does not hold: 421 not-replica naming the replicas", async () => {
      const k = keyOn(false);
      const res = await put(k, "x");
      expectError(res, 421, "not-replica");
      const replicas = (res.json() as { error: { replicas: { id: number; url: string }[] } }).error.replicas;
      expect(replicas.map((r) => r.id)).to.deep.equal(replicasOnRing(k));
      expect(replicas.map((r) => r.id)).to.not.include(1);
      expect(replicas.find((r) => r.id === 3)?.url ?? "https://node3.example").to.equal("https://node3.example");
    });

    it("versions increase: a second write wins", async () => {
      const k = keyOn(true);
      const v1 = BigInt(((await put(k, "one")).json() as PutResult).version);
      const v2 = BigInt(((await put(k, "two")).json() as PutResult).version);
      expect(v2 > v1).to.equal(true);
    });
  });

  describe("authorisation", () => {
    it("unsigned: 401 unauthenticated", async () => {
      const res = await app.inject({ method: "GET", url: objectPath("a") });
      expectError(res, 401, "unauthenticated");
    });

    it("a replayed write: 409 replayed", async () => {
      const k = keyOn(true);
      const target = objectPath(k);
      const headers = signRequest(session, key, {
        method: "PUT",
        target,
        body: "x",
        contentType: "text/plain",
        expires: exp(),
      });
      expect((await app.inject({ method: "PUT", url: target, payload: "x", headers })).statusCode).to.equal(201);
      expectError(await app.inject({ method: "PUT", url: target, payload: "x", headers }), 409, "replayed");
    });

    it("an expired request: 401 request-expired", async () => {
      const target = objectPath("a");
      const headers = signRequest(session, key, {
        method: "GET",
        target,
        expires: Math.floor(Date.now() / 1000) - 1,
        nonce: false,
      });
      expectError(await app.inject({ method: "GET", url: target, headers }), 401, "request-expired");
    });

    it("a session of another bucket: 403 wrong-bucket", async () => {
      await w.ddc.connect(w.owner1).bucketCreate(w.cluster, "{}");
      expectError(await get(objectPath("a", 2n)), 403, "wrong-bucket");
    });

    it("a reader writing: 403 forbidden; reading: allowed", async () => {
      const k = keyOn(true);
      await put(k, "data");
      const rk = newSessionKey();
      const rs = await appSession(w.reader, w.domain, {
        bucket: w.bucket,
        key: rk,
        operations: ALL_OPS,
        expiry: exp(),
      });
      expectError(await put(k, "mine", { session: rs, key: rk }), 403, "forbidden");
      const res = await get(objectPath(k), {}, "GET", rs, rk);
      expect(res.statusCode).to.equal(200);
      expect(res.body).to.equal("data");
    });

    it("a session without the write operation: 403 forbidden", async () => {
      const rk = newSessionKey();
      const rs = await appSession(w.owner1, w.domain, {
        bucket: w.bucket,
        key: rk,
        operations: Op.Read,
        expiry: exp(),
      });
      expectError(await put(keyOn(true), "x", { session: rs, key: rk }), 403, "forbidden");
    });

    it("a session past its expiry: 401 session-expired", async () => {
      const old = await appSession(w.owner1, w.domain, {
        bucket: w.bucket,
        key,
        operations: ALL_OPS,
        expiry: Math.floor(Date.now() / 1000) - 1,
      });
      expectError(await get(objectPath("a"), {}, "GET", old, key), 401, "session-expired");
    });

    it("a bucket in arrears: writes and deletes 402 bucket-in-arrears, reads and lists 200; suspended: 402", async () => {
      const k = keyOn(true);
      expect((await put(k, "kept")).statusCode).to.equal(201);
      const covered = Number(await w.ddc.rentCoveredUntil(w.owner1.address, w.cluster));
      await time.increaseTo(covered + 1);
      expect(await w.ddc.bucketStatus(w.bucket)).to.equal(2n);
      expectError(await put(k, "more"), 402, "bucket-in-arrears");
      expectError(await del(objectPath(k)), 402, "bucket-in-arrears");
      const read = await get(objectPath(k));
      expect(read.statusCode).to.equal(200);
      expect(read.body).to.equal("kept");
      expect((await get(`/v1/buckets/${w.bucket}/objects`)).statusCode).to.equal(200);
      await time.increase(w.parameters.gracePeriod);
      expect(await w.ddc.bucketStatus(w.bucket)).to.equal(3n);
      expectError(await get(objectPath(k)), 402, "bucket-suspended");
      expectError(await put(k, "more"), 402, "bucket-suspended");
    });

    it("a closed bucket: 410 bucket-closed", async () => {
      await w.ddc.connect(w.owner1).bucketClose(w.bucket);
      expectError(await get(objectPath("a")), 410, "bucket-closed");
    });
  });

  describe("GET and HEAD", () => {
    const body = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    let k: string;
    beforeEach(async () => {
      k = keyOn(true);
      expect((await put(k, body)).statusCode).to.equal(201);
    });

    it("answers the whole object with its ETag, version, root and Accept-Ranges", async () => {
      const res = await get(objectPath(k));
      expect(res.statusCode).to.equal(200);
      expect(res.rawPayload.equals(body)).to.equal(true);
      expect(res.headers.etag).to.equal(`"${sha(body)}"`);
      expect(res.headers["accept-ranges"]).to.equal("bytes");
      expect(res.headers[HEADER.root]).to.equal(toHex(merkleRoot(leafHashes(body))));
      expect(res.headers[HEADER.version]).to.equal(store.get(w.bucket, k)!.version.toString());
      expect(res.headers["content-length"]).to.equal("1000");
    });

    it("GET and HEAD answer the node's signed receipt for the row, kept with the row", async () => {
      const row = store.get(w.bucket, k)!;
      for (const method of ["GET", "HEAD", "GET"] as const) {
        const res = await get(objectPath(k), {}, method);
        expect(res.statusCode).to.equal(200);
        const rc = decodeReceiptHeader(String(res.headers[HEADER.receipt])) as SignedReceipt;
        expect(rc).to.include({ node: 1, bucket: w.bucket.toString(), key: k, sha256: sha(body), size: 1000 });
        expect(rc.version).to.equal(row.version.toString()).and.equal(res.headers[HEADER.version]);
        const value = receiptMessage(rc.node, { ...rc, bucket: BigInt(rc.bucket), version: BigInt(rc.version) });
        expect(rc.root).to.equal(row.root);
        expect(verifyTypedData(w.domain, eip712(RECEIPT_TYPES), value, rc.signature)).to.equal(w.nodeKey1.address);
        expect(store.get(w.bucket, k)!.receipt).to.equal(rc.signature);
      }
      const leaves = await get(`${objectPath(k)}?leaves=1`);
      expect(leaves.headers[HEADER.receipt]).to.be.a("string");
    });

    it("a row stored with a receipt answers that one; a new version replaces it", async () => {
      const signed: string[] = [];
      store.objects.signReceipt = async (r) => {
        signed.push(`${r.key}@${r.version}`);
        return `0x${"ab".repeat(65)}`;
      };
      expect((await put(k, Buffer.from("new"))).statusCode).to.equal(201);
      const row = store.get(w.bucket, k)!;
      expect(signed).to.deep.equal([`${k}@${row.version}`]);
      expect(row.receipt).to.equal(`0x${"ab".repeat(65)}`);
      const res = await get(objectPath(k), {}, "HEAD");
      const rc = decodeReceiptHeader(String(res.headers[HEADER.receipt])) as SignedReceipt;
      expect(rc).to.include({ signature: `0x${"ab".repeat(65)}`, version: row.version.toString(), size: 3 });
    });

    it("HEAD: the same headers, no body", async () => {
      const res = await get(objectPath(k), {}, "HEAD");
      expect(res.statusCode).to.equal(200);
      expect(res.body).to.equal("");
      expect(res.headers.etag).to.equal(`"${sha(body)}"`);
      expect(res.headers["content-length"]).to.equal("1000");
    });

    it("If-None-Match with the ETag: 304, no body", async () => {
      const res = await get(objectPath(k), { "if-none-match": `"${sha(body)}"` });
      expect(res.statusCode).to.equal(304);
      expect(res.body).to.equal("");
      expect((await get(objectPath(k), { "if-none-match": '"other"' })).statusCode).to.equal(200);
    });

    const ranges: [string, number, number][] = [
      ["bytes=0-0", 0, 1],
      ["bytes=999-999", 999, 1000],
      ["bytes=-10", 990, 1000],
      ["bytes=-5000", 0, 1000],
      ["bytes=990-", 990, 1000],
      ["bytes=10-5000", 10, 1000],
    ];
    for (const [range, start, end] of ranges) {
      it(`Range ${range}: 206 with bytes ${start}-${end - 1}/1000`, async () => {
        const res = await get(objectPath(k), { range });
        expect(res.statusCode).to.equal(206);
        expect(res.headers["content-range"]).to.equal(`bytes ${start}-${end - 1}/1000`);
        expect(res.rawPayload.equals(body.subarray(start, end))).to.equal(true);
      });
    }

    for (const range of ["bytes=1000-", "bytes=5000-6000", "bytes=-0", "bytes=0-1,5-6"]) {
      it(`Range ${range}: 416 with Content-Range bytes */1000`, async () => {
        const res = await get(objectPath(k), { range });
        expectError(res, 416, "range-not-satisfiable");
        expect(res.headers["content-range"]).to.equal("bytes */1000");
      });
    }

    for (const range of ["items=0-1", "bytes=abc", "bytes=5-2"]) {
      it(`a malformed Range (${range}) is ignored: 200 with the whole object`, async () => {
        const res = await get(objectPath(k), { range });
        expect(res.statusCode).to.equal(200);
        expect(res.rawPayload.length).to.equal(1000);
      });
    }

    it("an empty object: 200 with no bytes; any range is 416", async () => {
      const e = keyOn(true, "empty");
      expect((await put(e, Buffer.alloc(0))).statusCode).to.equal(201);
      const res = await get(objectPath(e));
      expect(res.statusCode).to.equal(200);
      expect(res.headers["content-length"]).to.equal("0");
      expect(res.rawPayload.length).to.equal(0);
      expectError(await get(objectPath(e), { range: "bytes=0-" }), 416, "range-not-satisfiable");
    });

    it("an unknown key: 404 not-found", async () => {
      expectError(await get(objectPath("nope")), 404, "not-found");
    });

    it("a corrupt blob: 503 quarantined, no bytes served; the blob is quarantined and a repair queued", async () => {
      corrupt(sha(body), 10);
      const res = await get(objectPath(k));
      expectError(res, 503, "quarantined");
      expect(res.headers.etag).to.equal(undefined);
      expect(store.health()).to.deep.equal({ quarantined: 1, repairs: 1, hints: 0 });
      expectError(await get(objectPath(k)), 503, "quarantined");
    });

    it("keeps the PUT's Content-Type and answers it on GET and HEAD; none is application/octet-stream", async () => {
      const typed = keyOn(true, "typed");
      expect(
        (await put(typed, "<p>", { headers: { "content-type": "text/html; charset=utf-8" } })).statusCode,
      ).to.equal(201);
      expect((await get(objectPath(typed))).headers["content-type"]).to.equal("text/html; charset=utf-8");
      expect((await get(objectPath(typed), {}, "HEAD")).headers["content-type"]).to.equal("text/html; charset=utf-8");
      const untyped = keyOn(true, "untyped");
      const target = objectPath(untyped);
      const res = await app.inject({
        method: "PUT",
        url: target,
        payload: Buffer.from("x"),
        headers: signRequest(session, key, { method: "PUT", target, body: "x", expires: exp() }),
      });
      expect(res.statusCode).to.equal(201);
      expect((await get(target)).headers["content-type"]).to.equal("application/octet-stream");
      expect(store.get(w.bucket, untyped)?.contentType).to.equal("application/octet-stream");
    });

    it("?leaves=1 answers the object's leaf hashes as JSON (a read)", async () => {
      const big = keyOn(true, "leafy");
      const content = randomBytes(2 * LEAF_BYTES + 7);
      await put(big, content);
      const res = await get(`${objectPath(big)}?leaves=1`);
      expect(res.statusCode).to.equal(200);
      expect(res.headers["content-type"]).to.match(/^application\/json/);
      const l = res.json() as LeavesResult;
      expect(l).to.deep.equal({
        key: big,
        version: store.get(w.bucket, big)!.version.toString(),
        size: content.length,
        sha256: sha(content),
        root: toHex(merkleRoot(leafHashes(content))),
        leafSize: LEAF_BYTES,
        leaves: leafHashes(content).map(toHex),
      });
      expectError(await get(`${objectPath("nope")}?leaves=1`), 404, "not-found");
    });

    it("streams an object above 8 MiB, whole and as a range past 8 MiB", async () => {
      const big = keyOn(true, "big");
      const content = randomBytes(9 * 1024 * 1024 + 5);
      expect((await put(big, content)).statusCode).to.equal(201);
      const whole = await get(objectPath(big));
      expect(whole.statusCode).to.equal(200);
      expect(whole.headers["content-length"]).to.equal(String(content.length));
      expect(whole.rawPayload.equals(content)).to.equal(true);
      const range = await get(objectPath(big), { range: "bytes=100-8388708" });
      expect(range.statusCode).to.equal(206);
      expect(range.headers["content-range"]).to.equal(`bytes 100-8388708/${content.length}`);
      expect(range.rawPayload.equals(content.subarray(100, 8388709))).to.equal(true);
    });

    it("a bucket id that is not a uint64: 400 bad-request", async () => {
      expectError(await get("/v1/buckets/-1/objects/a"), 400, "bad-request");
      expectError(await get("/v1/buckets/18446744073709551616/objects/a"), 400, "bad-request");
    });
  });

  describe("DELETE and list", () => {
    it("DELETE writes a tombstone: 200 { version }, then GET is 404; unknown key 404", async () => {
      const k = keyOn(true);
      const v = BigInt(((await put(k, "x")).json() as PutResult).version);
      const res = await del(objectPath(k));
      expect(res.statusCode).to.equal(200);
      const { version } = res.json() as { version: string };
      expect(BigInt(version) > v).to.equal(true);
      expect(store.get(w.bucket, k)).to.include({ deleted: true, version: BigInt(version) });
      expectError(await get(objectPath(k)), 404, "not-found");
      expectError(await del(objectPath(k)), 404, "not-found");
    });

    it("lists in key order, in pages, with a prefix", async () => {
      const keys = ["p/a", "p/b", "p/c", "q/d"].map((p) => keyOn(true, p));
      for (const k of keys) await put(k, k);
      const target = `/v1/buckets/${w.bucket}/objects?prefix=p%2F&limit=2`;
      const first = await get(target);
      expect(first.statusCode).to.equal(200);
      const page = first.json() as ListResult;
      const expected = keys.slice(0, 3).sort();
      expect(page.objects.map((o) => o.key)).to.deep.equal(expected.slice(0, 2));
      expect(page.next).to.equal(expected[1]);
      expect(page.objects[0]).to.include({ size: Buffer.byteLength(expected[0]), sha256: sha(expected[0]) });
      const second = (
        await get(`/v1/buckets/${w.bucket}/objects?prefix=p%2F&limit=2&start-after=${encodeURIComponent(page.next!)}`)
      ).json() as ListResult;
      expect(second.objects.map((o) => o.key)).to.deep.equal(expected.slice(2));
      expect(second.next).to.equal(undefined);
    });

    it("a bad limit: 400 bad-request", async () => {
      expectError(await get(`/v1/buckets/${w.bucket}/objects?limit=0`), 400, "bad-request");
      expectError(await get(`/v1/buckets/${w.bucket}/objects?limit=1001`), 400, "bad-request");
      expectError(await get(`/v1/buckets/${w.bucket}/objects?color=red`), 400, "bad-request");
    });
  });

  describe("CORS", () => {
    it("a preflight from any origin allows the x-ddc headers", async () => {
      const res = await app.inject({
        method: "OPTIONS",
        url: objectPath("a"),
        headers: {
          origin: "https://app.example",
          "access-control-request-method": "PUT",
          "access-control-request-headers": "x-ddc-session,x-ddc-signature",
        },
      });
      expect(res.statusCode).to.equal(204);
      expect(res.headers["access-control-allow-origin"]).to.equal("*");
      expect(String(res.headers["access-control-allow-methods"])).to.include("PUT");
      expect(String(res.headers["access-control-allow-headers"]))
        .to.include("x-ddc-session")
        .and.include("x-ddc-content-sha256");
    });

    it("a GET exposes ETag, Content-Range and the x-ddc headers", async () => {
      const k = keyOn(true);
      await put(k, "hello");
      const res = await get(objectPath(k), { origin: "https://app.example" });
      expect(res.headers["access-control-allow-origin"]).to.equal("*");
      const exposed = String(res.headers["access-control-expose-headers"]);
      for (const h of ["etag", "content-range", HEADER.version, HEADER.root, HEADER.receipt])
        expect(exposed).to.include(h);
    });
  });

  describe("challenges", () => {
    const challenge = async (body: unknown, s?: string, k?: SessionKey) => {
      const vk = k ?? newSessionKey();
      const vs =
        s ?? (await validatorSession(w.validator, w.domain, { cluster: Number(w.cluster), key: vk, expiry: exp() }));
      const payload = JSON.stringify(body);
      const target = "/v1/qos/challenge";
      return app.inject({
        method: "POST",
        url: target,
        payload,
        headers: {
          "content-type": "application/json",
          ...signRequest(vs, vk, { method: "POST", target, body: payload, expires: exp() }),
        },
      });
    };

    it("answers a leaf with its proof to the object's root, signed by the node key", async () => {
      const k = keyOn(true);
      const body = randomBytes(3 * LEAF_BYTES + 100);
      await put(k, body);
      const req = { seed: "0xabc", bucket: w.bucket.toString(), key: k, leafIndex: 2, nonce: "n1" };
      const res = await challenge(req);
      expect(res.statusCode).to.equal(200);
      const a = res.json() as ChallengeResponse;
      const leaf = Buffer.from(a.leaf, "base64");
      expect(leaf.equals(body.subarray(2 * LEAF_BYTES, 3 * LEAF_BYTES))).to.equal(true);
      expect(a).to.include({ leafIndex: 2, leafCount: 4, size: body.length, node: 1, seed: "0xabc", nonce: "n1" });
      const leafHash = toHex(leafHashes(leaf)[0]);
      expect(verifyMerkleProof({ leafHash, index: 2, count: a.leafCount, proof: a.proof, root: a.root })).to.equal(
        true,
      );
      const signed = {
        node: 1,
        seed: a.seed,
        nonce: a.nonce,
        bucket: a.bucket,
        key: a.key,
        version: a.version,
        leafIndex: a.leafIndex,
        leafHash: `0x${leafHash}`,
        root: `0x${a.root}`,
      };
      expect(verifyTypedData(w.domain, eip712(CHALLENGE_TYPES), signed, a.signature)).to.equal(w.nodeKey1.address);
    });

    it("out-of-range leaf: 400; unknown object: 404; bad body: 400; an app session: 403", async () => {
      const k = keyOn(true);
      await put(k, Buffer.alloc(10));
      expectError(
        await challenge({ seed: "s", bucket: w.bucket.toString(), key: k, leafIndex: 1, nonce: "n" }),
        400,
        "bad-request",
      );
      expectError(
        await challenge({ seed: "s", bucket: w.bucket.toString(), key: "missing", leafIndex: 0, nonce: "n" }),
        404,
        "not-found",
      );
      expectError(await challenge({ seed: "s", bucket: "x", key: k, leafIndex: 0, nonce: "n" }), 400, "bad-request");
      expectError(
        await challenge({ seed: "s", bucket: w.bucket.toString(), key: k, leafIndex: -1, nonce: "n" }),
        400,
        "bad-request",
      );
      expectError(
        await challenge({ seed: "s", bucket: w.bucket.toString(), key: k, leafIndex: 0, nonce: "n" }, session, key),
        403,
        "forbidden",
      );
    });
  });

  describe("usage", () => {
    it("a signed record of the current era: stored, served, requests, objects and a recomputable manifest root", async () => {
      const a = keyOn(true, "a");
      const b = keyOn(true, "b");
      await put(a, "alpha");
      await put(b, "bravo!");
      await get(objectPath(a));
      await get(objectPath(a), { range: "bytes=0-1" });
      const { era } = await w.ddc.clusterEra(w.cluster);
      const vk = newSessionKey();
      const vs = await validatorSession(w.validator, w.domain, { cluster: Number(w.cluster), key: vk, expiry: exp() });
      const target = `/v1/usage/${w.cluster}/${era}`;
      const res = await get(target, {}, "GET", vs, vk);
      expect(res.statusCode).to.equal(200);
      const u = res.json() as UsageRecord;
      expect(u).to.include({ node: 1, cluster: Number(w.cluster), era: Number(era) });
      expect(u.buckets).to.have.length(1);
      const entries = [a, b].sort().map((k) => {
        const o = store.get(w.bucket, k)!;
        return { key: k, version: o.version, sha256: o.sha256, size: o.size, root: o.root };
      });
      expect(u.buckets[0]).to.deep.equal({
        bucket: w.bucket.toString(),
        storedBytes: "11",
        servedBytes: "7",
        requests: "2",
        objects: 2,
        manifestRoot: manifestRoot(entries),
      });
      // The leaf encoding, recomputed by hand: SHA-256(0x00 ‖ "<key>\n<version>\n<sha256>\n<size>\n<root>").
      expect(entries.map((e) => e.size)).to.deep.equal(a < b ? [5, 6] : [6, 5]);
      const leaves = entries.map((e) =>
        createHash("sha256")
          .update(
            Buffer.concat([Buffer.of(0), Buffer.from(`${e.key}\n${e.version}\n${e.sha256}\n${e.size}\n${e.root}`)]),
          )
          .digest(),
      );
      expect(u.buckets[0].manifestRoot).to.equal(`0x${toHex(merkleRoot(leaves))}`);
      const { signature, ...value } = u;
      expect(verifyTypedData(w.domain, eip712(USAGE_TYPES), value, signature)).to.equal(w.nodeKey1.address);
    });

    it("an app session: 403 forbidden; a future era: 400", async () => {
      expectError(await get(`/v1/usage/${w.cluster}/0`), 403, "forbidden");
      const vk = newSessionKey();
      const vs = await validatorSession(w.validator, w.domain, { cluster: Number(w.cluster), key: vk, expiry: exp() });
      expectError(await get(`/v1/usage/${w.cluster}/99999`, {}, "GET", vs, vk), 400, "bad-request");
      expectError(await get(`/v1/usage/${w.cluster}/x`, {}, "GET", vs, vk), 400, "bad-request");
    });

    it("a closed era this node took no snapshot of: 404 not-found, no figures made up", async () => {
      await put(keyOn(true), "x");
      const vk = newSessionKey();
      const vs = await validatorSession(w.validator, w.domain, { cluster: Number(w.cluster), key: vk, expiry: exp() });
      // Move the chain past an era's end, so that the era before the current one is closed.
      const before = (await parts.view.era(Number(w.cluster)))!;
      await time.increaseTo(before.end + 1);
      await ethers.provider.send("evm_mine", []);
      const current = (await parts.view.era(Number(w.cluster), before.end + 1))!.era;
      expect(current).to.equal(before.era + 1);
      const past = before.era;
      const res = await get(`/v1/usage/${w.cluster}/${past}`, {}, "GET", vs, vk);
      expectError(res, 404, "not-found");
      expect((res.json() as ErrorBody).error.message).to.equal(
        `node 1 took no snapshot at the end of era ${past} of cluster ${w.cluster} (it was not running then): no usage record`,
      );
    });
  });

  describe("limits and refusals", () => {
    /** A PUT signed by node 2's session (replication's peer), carrying `version`. */
    const nodePut = async (k: string, body: string, version: string, method: "PUT" | "DELETE" = "PUT") => {
      const nk = newSessionKey();
      const ns = encodeSessionToken(
        await signNodeSession(w.nodeKey2, w.domain, { node: 2, sessionKey: nk.publicKey, expiry: exp() }),
      );
      const target = objectPath(k);
      return app.inject({
        method,
        url: target,
        ...(method === "PUT" ? { payload: Buffer.from(body) } : {}),
        headers: {
          [HEADER.version]: version,
          ...signRequest(ns, nk, {
            method,
            target,
            ...(method === "PUT" ? { body, contentType: "application/octet-stream" } : {}),
            version,
            expires: exp(),
          }),
        },
      });
    };
    const messageOf = (res: { json(): unknown }) => (res.json() as ErrorBody).error.message;

    it("challenges past the validator's limit for the era: 429 rate-limited, naming the limit", async () => {
      const limited = await serverOn({ limits: { challengesPerEra: 2 } });
      try {
        const k = keyOn(true);
        await put(k, randomBytes(100));
        const vk = newSessionKey();
        const vs = await validatorSession(w.validator, w.domain, {
          cluster: Number(w.cluster),
          key: vk,
          expiry: exp(),
        });
        const ask = (nonce: string) => {
          const payload = JSON.stringify({ seed: "0x01", bucket: w.bucket.toString(), key: k, leafIndex: 0, nonce });
          const target = "/v1/qos/challenge";
          return limited.inject({
            method: "POST",
            url: target,
            payload,
            headers: {
              "content-type": "application/json",
              ...signRequest(vs, vk, { method: "POST", target, body: payload, expires: exp() }),
            },
          });
        };
        expect((await ask("a")).statusCode).to.equal(200);
        expect((await ask("b")).statusCode).to.equal(200);
        const third = await ask("c");
        expectError(third, 429, "rate-limited");
        expect((third.json() as ErrorBody).error.message).to.include(`made its 2 challenges of era`);
      } finally {
        await limited.close();
      }
    });

    it("a clock behind the chain's latest block: writes 503 clock-skew with the check on, none assigned; off, accepted", async () => {
      await ethers.provider.send("evm_mine", []);
      await parts.view.poll();
      const chainTime = parts.view.latestBlockTime()!;
      expect(chainTime).to.be.a("number");
      const behind = () => (chainTime - 600) * 1000;
      const checked = await serverOn({ clock: behind, clockCheck: true });
      const k = keyOn(true);
      const target = objectPath(k);
      const signed = () =>
        signRequest(session, key, { method: "PUT", target, body: "x", contentType: "text/plain", expires: exp() });
      try {
        const res = await checked.inject({ method: "PUT", url: target, payload: "x", headers: signed() });
        expectError(res, 503, "clock-skew");
        expect((res.json() as ErrorBody).error.message).to.match(
          /^node 1's clock is (599|600|601) s behind the chain's latest block: it assigns no versions/,
        );
        expect(store.get(w.bucket, k)).to.equal(undefined);
      } finally {
        await checked.close();
      }
      const unchecked = await serverOn({ clock: behind, clockCheck: false });
      try {
        const res = await unchecked.inject({ method: "PUT", url: target, payload: "x", headers: signed() });
        expect(res.statusCode).to.equal(201);
      } finally {
        await unchecked.close();
      }
    });

    it("a peer's version above 63 bits or far ahead of the clock: 400 bad-request, nothing stored", async () => {
      const k = keyOn(true);
      const big = nodePut(k, "x", (1n << 63n).toString());
      const res = await big;
      expectError(res, 400, "bad-request");
      expect(messageOf(res)).to.equal("x-ddc-version must be a decimal integer of at most 63 bits");
      const ahead = (maxAcceptedVersion(Date.now()) + 10_000_000n).toString();
      const res2 = await nodePut(k, "x", ahead);
      expectError(res2, 400, "bad-request");
      expect(messageOf(res2)).to.match(/^version \d+ is more than 300000 ms ahead of node 1's clock$/);
      expect(store.get(w.bucket, k)).to.equal(undefined);
    });

    it("a write or delete that loses to a newer version: 409 superseded with the current version, no receipt", async () => {
      const k = keyOn(true);
      const current = ((await put(k, "new")).json() as PutResult).version;
      const res = await nodePut(k, "old", "5");
      expectError(res, 409, "superseded");
      expect((res.json() as ErrorBody).error.current).to.equal(current);
      expect(res.json()).to.not.have.property("receipts");
      const d = await nodePut(k, "", "6", "DELETE");
      expectError(d, 409, "superseded");
      expect((d.json() as ErrorBody).error.current).to.equal(current);
      const got = await get(objectPath(k));
      expect(got.statusCode).to.equal(200);
      expect(got.body).to.equal("new");
    });

    it("refuses awkward keys: 400 bad-key naming the rule", async () => {
      // (A URL's "." and ".." segments, %2E-encoded or not, are resolved by clients: see keyProblem below.)
      const cases: [string, string][] = [
        ["a%01b", "the object key contains a control character (U+0000–U+001F, U+007F)"],
        ["a%7Fb", "the object key contains a control character (U+0000–U+001F, U+007F)"],
        ["x".repeat(1025), "the object key is longer than 1024 bytes"],
      ];
      for (const [k, message] of cases) {
        const res = await put(k, "x");
        expectError(res, 400, "bad-key");
        expect(messageOf(res)).to.equal(message);
      }
      // Empty segments are keys of their own.
      expect((await put(keyOn(true, "e//"), "x")).statusCode).to.equal(201);
    });

    it("a full disk or database: 507 node-full; a busy database: 503 busy; the process goes on", async () => {
      const failing = (code: string, on: "put" | "get") =>
        new Proxy(store, {
          get(target, prop, receiver) {
            if (prop === on) {
              return () => {
                const e = Object.assign(new Error(`${code}: simulated`), { code });
                if (on === "put") return Promise.reject(e);
                throw e;
              };
            }
            const v = Reflect.get(target, prop, receiver) as unknown;
            return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        }) as NodeStore;
      const k = keyOn(true);
      for (const [code, on, status, name] of [
        ["SQLITE_FULL", "put", 507, "node-full"],
        ["ENOSPC", "put", 507, "node-full"],
        ["SQLITE_BUSY", "get", 503, "busy"],
      ] as const) {
        const other = await serverOn({ store: failing(code, on) });
        const target = objectPath(k);
        const res = await other.inject({
          method: "PUT",
          url: target,
          payload: Buffer.from("x"),
          headers: signRequest(session, key, {
            method: "PUT",
            target,
            body: "x",
            contentType: "application/octet-stream",
            expires: exp(),
          }),
        });
        expectError(res, status, name);
        await other.close();
      }
    });

    it("a PUT body slower than the minimum rate is cut (408) and its temporary file removed", async () => {
      const slow = await serverOn({ limits: { minBodyBytesPerS: 1000, bodyGraceMs: 200 } });
      await slow.listen({ host: "127.0.0.1", port: 0 });
      const { port } = slow.server.address() as AddressInfo;
      const k = keyOn(true);
      const target = objectPath(k);
      const body = Buffer.alloc(100_000, 7);
      const headers = signRequest(session, key, {
        method: "PUT",
        target,
        body,
        contentType: "application/octet-stream",
        expires: exp(),
      });
      const socket = connect(port, "127.0.0.1");
      const answer = new Promise<string>((resolve) => {
        let text = "";
        socket.on("data", (d) => (text += d.toString()));
        socket.on("close", () => resolve(text));
        socket.on("error", () => resolve(text));
      });
      socket.write(
        `PUT ${target} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: ${body.length}\r\n` +
          Object.entries(headers)
            .map(([h, v]) => `${h}: ${v}\r\n`)
            .join("") +
          "\r\n",
      );
      socket.write(body.subarray(0, 10));
      await new Promise((r) => setTimeout(r, 100));
      // The temporary file is there while the body streams.
      expect(readdirSync(join(parts.dir, "tmp")).length).to.equal(1);
      const text = await answer;
      expect(text).to.match(/^HTTP\/1.1 408 /);
      expect(text).to.include('"code":"timeout"');
      await new Promise((r) => setTimeout(r, 100));
      expect(readdirSync(join(parts.dir, "tmp"))).to.deep.equal([]);
      expect(store.get(w.bucket, k)).to.equal(undefined);
      socket.destroy();
      await slow.close();
    });

    it("a PUT without content-length (chunked): 411 length-required; concurrent PUTs cannot share the cap's room", async () => {
      const listening = await serverOn({ limits: { minBodyBytesPerS: 0 } });
      await listening.listen({ host: "127.0.0.1", port: 0 });
      const { port } = listening.server.address() as AddressInfo;
      const k2 = await appSession(w.owner1, w.domain, {
        bucket: w.smallBucket,
        key,
        operations: ALL_OPS,
        expiry: exp(),
      });
      const send = (target: string, body: Buffer, chunked: boolean, partial: boolean) => {
        const headers = signRequest(k2, key, {
          method: "PUT",
          target,
          body,
          contentType: "application/octet-stream",
          expires: exp(),
        });
        const socket = connect(port, "127.0.0.1");
        const answer = new Promise<string>((resolve) => {
          let text = "";
          socket.on("data", (d) => {
            text += d.toString();
            if (/\r\n\r\n[\s\S]*}$/.test(text)) resolve(text);
          });
          socket.on("close", () => resolve(text));
        });
        const length = chunked ? "transfer-encoding: chunked" : `content-length: ${body.length}`;
        socket.write(
          `PUT ${target} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\n${length}\r\n` +
            Object.entries(headers)
              .map(([h, v]) => `${h}: ${v}\r\n`)
              .join("") +
            "\r\n",
        );
        if (chunked) socket.write(`${body.length.toString(16)}\r\n${body.toString()}\r\n0\r\n\r\n`);
        else socket.write(partial ? body.subarray(0, 100) : body);
        return { socket, answer, rest: () => socket.write(body.subarray(100)) };
      };
      const chunked = send(objectPath("c", w.smallBucket), Buffer.from("hello"), true, false);
      const text = await chunked.answer;
      expect(text).to.match(/^HTTP\/1.1 411 /);
      expect(text).to.include('"code":"length-required"');
      chunked.socket.destroy();
      // 600 + 1 + 256 = 857 reserved while the first body streams: a second 600 does not fit.
      const first = send(objectPath("a", w.smallBucket), Buffer.alloc(600, 1), false, true);
      await new Promise((r) => setTimeout(r, 100));
      const second = send(objectPath("b", w.smallBucket), Buffer.alloc(600, 2), false, false);
      const refused = await second.answer;
      expect(refused).to.match(/^HTTP\/1.1 507 /);
      expect(refused).to.include('"code":"cap-exceeded"');
      first.rest();
      expect(await first.answer).to.match(/^HTTP\/1.1 201 /);
      first.socket.destroy();
      second.socket.destroy();
      await listening.close();
    });
  });

  it("counts requests by route and status in /metrics", async () => {
    await get(objectPath("nope"));
    const text = await metrics.registry.metrics();
    expect(text).to.include(
      'ddc_node_requests_total{route="/v1/buckets/:bucket/objects/*",method="GET",status="404"} 1',
    );
  });
});

describe("storage node server: pure parts", () => {
  it("VersionClock is monotonic when the clock steps back", () => {
    let t = 1_000_000;
    const v = new VersionClock(() => t);
    const a = v.next();
    expect(a).to.equal(1_000_000_000n);
    expect(v.next()).to.equal(1_000_000_001n);
    t = 999_000;
    expect(v.next()).to.equal(1_000_000_002n);
    t = 2_000_000;
    expect(v.next()).to.equal(2_000_000_000n);
  });

  it("parseRange: single ranges, suffixes, ignored and unsatisfiable ones", () => {
    expect(parseRange(undefined, 10)).to.equal(undefined);
    expect(parseRange("bytes=2-4", 10)).to.deep.equal({ start: 2, end: 5 });
    expect(parseRange("bytes=-3", 10)).to.deep.equal({ start: 7, end: 10 });
    expect(parseRange("bytes=-", 10)).to.equal(undefined);
    expect(() => parseRange("bytes=10-", 10))
      .to.throw()
      .with.property("status", 416);
    const e = (() => {
      try {
        parseRange("bytes=0-1,3-4", 10);
      } catch (error) {
        return error as NodeHttpError;
      }
    })();
    expect(e?.headers).to.deep.equal({ "content-range": "bytes */10" });
  });

  it("keyProblem: dot segments, control characters, length; empty segments are keys", () => {
    expect(keyProblem("a/../b")).to.equal('the object key has a "." or ".." segment');
    expect(keyProblem("./a")).to.equal('the object key has a "." or ".." segment');
    expect(keyProblem("a/.")).to.equal('the object key has a "." or ".." segment');
    expect(keyProblem("a\nb")).to.equal("the object key contains a control character (U+0000–U+001F, U+007F)");
    expect(keyProblem("")).to.equal("the object key is empty");
    expect(keyProblem("é".repeat(513))).to.equal("the object key is longer than 1024 bytes");
    for (const ok of ["a//b", "a/", "/a", "a/.b/..c", "é".repeat(512)]) expect(keyProblem(ok)).to.equal(undefined);
  });

  it("manifestRoot of no objects is the root of one empty leaf", () => {
    const empty = createHash("sha256").update(Buffer.of(0)).digest("hex");
    expect(manifestRoot([])).to.equal(`0x${empty}`);
  });
});

// Unused-import guard for typed helpers only referenced in types.
export type { HardhatEthersSigner, TypedDataDomain };
