import { expect } from "chai";
import { createServer, type Server } from "node:http";
import { randomBytes } from "node:crypto";
import { ethers } from "hardhat";
import { verifyTypedData } from "ethers";
import { RECEIPT_TYPES, receiptMessage, type SignedReceipt } from "../../../storage-node/src/protocol";
import { leafHashes, merkleRoot, toHex } from "../../../storage-node/src/store/merkle";
import { buildNet, eventually, ownerClient, type Net } from "./harness";

/** Node i of the net answers nothing at all: its port accepts and never replies. */
async function silentOn(port: number): Promise<Server> {
  const server = createServer(() => {});
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return server;
}

function receiptSigner(net: Net, r: SignedReceipt): string {
  return verifyTypedData(
    net.domain,
    RECEIPT_TYPES as unknown as Record<string, { name: string; type: string }[]>,
    receiptMessage(r.node, { ...r, bucket: BigInt(r.bucket), version: BigInt(r.version) }),
    r.signature,
  );
}

describe("storage-node replication: quorum writes", function () {
  this.timeout(60_000);
  let net: Net;
  let client: Awaited<ReturnType<typeof ownerClient>>;

  beforeEach(async function () {
    net = await buildNet(3, 3);
    client = await ownerClient(net);
  });
  afterEach(async function () {
    await net.close();
  });

  it("a write with every replica up answers 201 with three verifiable receipts, and every replica holds it", async function () {
    const body = randomBytes(100_000);
    const res = await client.put(net.nodes[0], "a/b c.bin", body);
    expect(res.status, res.body.toString()).to.equal(201);
    const receipts = res.json().receipts as SignedReceipt[];
    // The coordinator's own, and at least one other (a majority of 3).
    expect(receipts.length).to.be.at.least(2);
    const root = toHex(merkleRoot(leafHashes(body)));
    for (const r of receipts) {
      const node = net.nodes.find((n) => n.id === r.node)!;
      expect(r.root).to.equal(root);
      expect(receiptSigner(net, r)).to.equal(node.wallet.address);
    }
    await eventually(() => net.nodes.every((n) => n.objects.meta.get(net.bucket, "a/b c.bin") !== undefined));
    for (const n of net.nodes) {
      const got = await client.get(n, "a/b c.bin");
      expect(got.status).to.equal(200);
      expect(got.body.equals(body)).to.equal(true);
    }
  });

  it("each replica signs one receipt per write: the coordinator and the replicas answer the one the store kept", async function () {
    const counts = new Map<number, number>();
    for (const n of net.nodes) {
      const sign = n.wallet.signTypedData.bind(n.wallet);
      n.wallet.signTypedData = (domain, types, value) => {
        if ("Receipt" in types) counts.set(n.id, (counts.get(n.id) ?? 0) + 1);
        return sign(domain, types, value);
      };
    }
    const res = await client.put(net.nodes[0], "once", randomBytes(3 * 65536 + 1));
    expect(res.status, res.body.toString()).to.equal(201);
    await eventually(() => net.nodes.every((n) => n.objects.meta.get(net.bucket, "once") !== undefined));
    const receipts = res.json().receipts as SignedReceipt[];
    for (const r of receipts) {
      const row = net.nodes.find((n) => n.id === r.node)!.objects.meta.get(net.bucket, "once")!;
      expect(r.signature).to.equal(row.receipt);
      expect(r.root).to.equal(row.root);
    }
    expect([...counts.entries()].sort()).to.deep.equal(net.nodes.map((n) => [n.id, 1]).sort());
    // Reads answer the kept receipt: no new signature.
    for (const n of net.nodes) expect((await client.get(n, "once")).status).to.equal(200);
    expect([...counts.values()]).to.deep.equal(net.nodes.map(() => 1));
  });

  it("with one replica down: 201 with two receipts; the hint delivers the write when it returns", async function () {
    await net.stop(2);
    const body = randomBytes(5000);
    const res = await client.put(net.nodes[0], "k1", body);
    expect(res.status, res.body.toString()).to.equal(201);
    const receipts = res.json().receipts as SignedReceipt[];
    expect(receipts.map((r) => r.node).sort()).to.deep.equal([net.nodes[0].id, net.nodes[1].id]);
    // A hint for node 3 is queued, and delivery fails while it is down.
    const due = net.nodes[0].objects.meta.dueHints(Date.now() + 60_000, 10);
    expect(due.map((h) => [h.target, h.key, h.op])).to.deep.equal([[net.nodes[2].id, "k1", "put"]]);
    expect(await net.nodes[0].repl.replicator.deliverHints()).to.equal(0);
    expect(net.nodes[2].objects.meta.get(net.bucket, "k1")).to.equal(undefined);
    await net.start(2);
    await eventually(async () => {
      await net.nodes[0].repl.replicator.deliverHints();
      return net.nodes[2].objects.meta.get(net.bucket, "k1") !== undefined;
    });
    expect(net.nodes[0].objects.meta.dueHints(Date.now() + 60_000, 10)).to.deep.equal([]);
    const got = await client.get(net.nodes[2], "k1");
    expect(got.status).to.equal(200);
    expect(got.body.equals(body)).to.equal(true);
    expect(net.nodes[2].objects.meta.get(net.bucket, "k1")!.version).to.equal(
      net.nodes[0].objects.meta.get(net.bucket, "k1")!.version,
    );
  });

  it("with two replicas down: 503 quorum-failed naming both; the local copy stays and both get hints", async function () {
    await net.stop(1);
    await net.stop(2);
    const res = await client.put(net.nodes[0], "k2", Buffer.from("hello"));
    expect(res.status).to.equal(503);
    const err = res.json().error as { code: string; message: string };
    expect(err.code).to.equal("quorum-failed");
    expect(err.message).to.contain(`node ${net.nodes[1].id}: unreachable`);
    expect(err.message).to.contain(`node ${net.nodes[2].id}: unreachable`);
    const replicas = (res.json().error as { replicas: { id: number; url: string; reason: string }[] }).replicas;
    expect(replicas.map((r) => r.id)).to.deep.equal([net.nodes[1].id, net.nodes[2].id].sort((a, b) => a - b));
    for (const r of replicas) {
      expect(r.url)
        .to.be.a("string")
        .and.match(/^http:\/\//);
      expect(r.reason).to.match(/^unreachable/);
    }
    expect(net.nodes[0].objects.meta.get(net.bucket, "k2")!.deleted).to.equal(false);
    const targets = net.nodes[0].objects.meta.dueHints(Date.now() + 60_000, 10).map((h) => h.target);
    expect(targets.sort()).to.deep.equal([net.nodes[1].id, net.nodes[2].id]);
  });

  it("a replica that times out counts as failed with the reason, within the peer timeout", async function () {
    await net.stop(1);
    await net.stop(2);
    const silent = [await silentOn(net.nodes[1].port), await silentOn(net.nodes[2].port)];
    try {
      const t0 = Date.now();
      const res = await client.put(net.nodes[0], "k3", Buffer.from("slow"));
      expect(Date.now() - t0).to.be.below(5000);
      expect(res.status).to.equal(503);
      expect((res.json().error as { message: string }).message).to.contain("timed out after 1500 ms");
    } finally {
      for (const s of silent) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    }
  });

  for (const how of ["signed by another key", "naming another Merkle root"] as const)
    it(`a replica that answers a receipt ${how} is not counted`, async function () {
      await net.stop(1);
      await net.stop(2);
      const other = ethers.Wallet.createRandom();
      const lie = async (port: number, nodeId: number) => {
        const liar = how === "signed by another key" ? other : net.nodes.find((n) => n.id === nodeId)!.wallet;
        const server = createServer((req, res) => {
          const chunks: Buffer[] = [];
          req.on("data", (c: Buffer) => chunks.push(c));
          req.on("end", async () => {
            const key = decodeURIComponent(req.url!.split("/").slice(5).join("/"));
            const body = Buffer.concat(chunks);
            const receipt = {
              node: nodeId,
              bucket: net.bucket.toString(),
              key,
              version: String(req.headers["x-ddc-version"]),
              sha256: String(req.headers["x-ddc-content-sha256"]),
              size: body.length,
              root: how === "signed by another key" ? toHex(merkleRoot(leafHashes(body))) : "22".repeat(32),
            };
            const signature = await liar.signTypedData(
              net.domain,
              RECEIPT_TYPES as unknown as Record<string, { name: string; type: string }[]>,
              receiptMessage(nodeId, { ...receipt, bucket: net.bucket, version: BigInt(receipt.version) }),
            );
            res.writeHead(201, { "content-type": "application/json" });
            res.end(JSON.stringify({ receipt: { ...receipt, signature } }));
          });
        });
        await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
        return server;
      };
      const servers = [await lie(net.nodes[1].port, net.nodes[1].id), await lie(net.nodes[2].port, net.nodes[2].id)];
      try {
        const res = await client.put(net.nodes[0], "k4", Buffer.from("lies"));
        expect(res.status).to.equal(503);
        expect((res.json().error as { message: string }).message).to.contain("a receipt that does not verify");
      } finally {
        for (const s of servers) await new Promise((r) => s.close(r));
      }
    });

  it("last writer wins: an older version does not overwrite a newer one (superseded)", async function () {
    const n1 = net.nodes[0];
    const n2 = net.nodes[1];
    const newer = await client.put(n1, "lww", Buffer.from("newer"));
    expect(newer.status).to.equal(201);
    const version = BigInt(newer.json().version as string);
    await eventually(() => n2.objects.meta.get(net.bucket, "lww")?.version === version);
    // Node 1 sends an older version of the key straight to node 2's replica route.
    const row = { ...n1.objects.meta.get(net.bucket, "lww")!, version: version - 1000n, sha256: "" };
    const old = Buffer.from("older");
    const { sha256Hex } = await import("../../../storage-node/src/replication/peers");
    const answer = await n1.repl.peers.putReplica(
      n2.id,
      { ...row, sha256: sha256Hex(old), size: old.length },
      old,
      n1.id,
    );
    expect(answer).to.deep.equal({ superseded: true, version: version.toString() });
    const got = await client.get(n2, "lww");
    expect(got.body.toString()).to.equal("newer");
    // And an older tombstone does not delete it either.
    const del = await n1.repl.peers.deleteReplica(n2.id, net.bucket, "lww", version - 1n, n1.id);
    expect(del).to.deep.equal({ superseded: true, version: version.toString() });
    expect(n2.objects.meta.get(net.bucket, "lww")!.deleted).to.equal(false);
  });

  it("a delete replicates as a versioned tombstone, by hint to a replica that was down", async function () {
    const put = await client.put(net.nodes[0], "gone", Buffer.from("x"));
    expect(put.status).to.equal(201);
    await eventually(() => net.nodes.every((n) => n.objects.meta.get(net.bucket, "gone") !== undefined));
    await net.stop(2);
    const del = await client.del(net.nodes[1], "gone");
    expect(del.status, del.body.toString()).to.equal(200);
    const version = BigInt(del.json().version as string);
    for (const n of net.nodes.slice(0, 2)) {
      const row = n.objects.meta.get(net.bucket, "gone")!;
      expect([row.deleted, row.version]).to.deep.equal([true, version]);
    }
    expect(net.nodes[2].objects.meta.get(net.bucket, "gone")!.deleted).to.equal(false);
    await net.start(2);
    await eventually(async () => {
      await net.nodes[1].repl.replicator.deliverHints();
      return net.nodes[2].objects.meta.get(net.bucket, "gone")!.deleted;
    });
    expect(net.nodes[2].objects.meta.get(net.bucket, "gone")!.version).to.equal(version);
    expect((await client.get(net.nodes[2], "gone")).status).to.equal(404);
  });

  it("a peer that sends bytes other than the ones it announces is refused, and nothing is stored", async function () {
    const [n1, n2] = net.nodes;
    const { keyPath, sha256Hex } = await import("../../../storage-node/src/replication/peers");
    const { request } = await import("undici");
    const real = Buffer.from("the real bytes");
    const announced = sha256Hex(Buffer.from("what it claims"));
    const target = `/v1/internal/replicas/${net.bucket}/${keyPath("liar")}`;
    // Signed over the bytes it sends, announcing another digest: the announced digest is the body
    // hash the signature is checked against (before the body is read), so it does not verify.
    const headers = {
      ...(await n1.repl.identity.headers(n2.id, "PUT", target, sha256Hex(real), {
        contentType: "application/octet-stream",
        version: "1000",
      })),
      "x-ddc-content-sha256": announced,
      "x-ddc-version": "1000",
      "content-type": "application/octet-stream",
    };
    const res = await request(n2.url + target, { method: "PUT", headers, body: real });
    const body = (await res.body.json()) as { error: { code: string } };
    expect([res.statusCode, body.error.code]).to.deep.equal([401, "bad-signature"]);
    // Signed over the announced digest, sending other bytes: the store refuses them as it writes.
    const headers2 = {
      ...(await n1.repl.identity.headers(n2.id, "PUT", target, announced, {
        contentType: "application/octet-stream",
        version: "1000",
      })),
      "x-ddc-version": "1000",
      "content-type": "application/octet-stream",
    };
    const res2 = await request(n2.url + target, { method: "PUT", headers: headers2, body: real });
    const body2 = (await res2.body.json()) as { error: { code: string } };
    expect([res2.statusCode, body2.error.code]).to.deep.equal([400, "digest-mismatch"]);
    expect(n2.objects.meta.get(net.bucket, "liar")).to.equal(undefined);
  });

  it("internal routes refuse a request without a node session, and a node of another cluster", async function () {
    const { request } = await import("undici");
    const res = await request(`${net.nodes[0].url}/v1/internal/ranges/${net.cluster}?from=0&to=0`);
    expect(res.statusCode).to.equal(401);
    await res.body.dump();
    const outsider = await net.addNode();
    await expect(outsider.repl.peers.rangeDigest(net.nodes[0].id, net.cluster, 0n, 0n)).to.be.rejectedWith(
      /HTTP 403 forbidden: node \d+ is not in cluster/,
    );
  });
});
