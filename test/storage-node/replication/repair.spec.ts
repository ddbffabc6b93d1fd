import { expect } from "chai";
import { createServer, type Server } from "node:http";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { replicasFor } from "../../../storage-node/src/placement";
import { putBody } from "../../../storage-node/src/replication/local";
import { keyToken } from "../../../storage-node/src/replication/ranges";
import { buildNet, eventually, ownerClient, type Net, type TestNode } from "./harness";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The nodes holding `key` now, per the chain. */
async function holders(net: Net, key: string): Promise<TestNode[]> {
  const c = (await net.nodes[0].chain.cluster(net.cluster))!;
  return replicasFor(c.ring, c.replicationFactor, c.nodes.length, key).map((id) => net.nodes.find((n) => n.id === id)!);
}

/** A node that answers every internal blob request with bytes of the right length that are not the blob. */
async function blobLiar(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    res.end(randomBytes(Number(req.headers["x-size"] ?? 1000)));
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return server;
}

async function metric(node: TestNode, name: string): Promise<number> {
  const m = await node.repl.metrics.registry.getSingleMetric(name)?.get();
  return m?.values[0]?.value ?? 0;
}

describe("storage-node replication: repair and anti-entropy", function () {
  this.timeout(90_000);
  let net: Net;
  let client: Awaited<ReturnType<typeof ownerClient>>;
  afterEach(async function () {
    await net.close();
  });

  describe("a quarantined blob", function () {
    beforeEach(async function () {
      net = await buildNet(3, 3);
      client = await ownerClient(net);
    });

    it("is fetched again from another replica; a replica sending wrong bytes is refused", async function () {
      const body = randomBytes(200_000);
      expect((await client.put(net.nodes[0], "q", body)).status).to.equal(201);
      await eventually(() => net.nodes.every((n) => n.objects.meta.get(net.bucket, "q") !== undefined));
      const victim = net.nodes[1];
      const row = victim.objects.meta.get(net.bucket, "q")!;
      const file = join(victim.dir, "blobs", row.sha256.slice(0, 2), row.sha256.slice(2, 4), row.sha256);
      writeFileSync(file, randomBytes(body.length));
      const bad = await client.get(victim, "q");
      expect(bad.status).to.equal(503);
      expect(victim.objects.meta.dueRepairs(Date.now(), 10).map((t) => t.key)).to.deep.equal(["q"]);

      // The other two replicas: one lies about the bytes, one is down. Nothing is kept.
      await net.stop(0);
      await net.stop(2);
      const liar = await blobLiar(net.nodes[0].port);
      try {
        expect(await victim.repl.repairer.repairQuarantined()).to.equal(0);
        expect(await metric(victim, "ddc_replication_repair_failures_total")).to.equal(2);
        expect(victim.repl.repairer.queueLength()).to.equal(1);
        expect((await client.get(victim, "q")).status).to.equal(503);
        // The honest replica returns: the repair succeeds on its retry.
        await net.start(2);
        await eventually(async () => (await victim.repl.repairer.repairQuarantined()) === 1, 5000, "the repair");
      } finally {
        await new Promise((r) => liar.close(r));
      }
      expect(victim.repl.repairer.queueLength()).to.equal(0);
      expect(await metric(victim, "ddc_replication_objects_repaired_total")).to.equal(1);
      const good = await client.get(victim, "q");
      expect(good.status).to.equal(200);
      expect(good.body.equals(body)).to.equal(true);
    });
  });

  describe("ring changes", function () {
    const KEYS = Array.from({ length: 30 }, (_v, i) => `obj/${i}`);
    const bodies = new Map<string, Buffer>();

    beforeEach(async function () {
      net = await buildNet(3, 2);
      client = await ownerClient(net);
      for (const k of KEYS) {
        const body = randomBytes(1000 + ((k.length * 97) % 3000));
        bodies.set(k, body);
        const [primary] = await holders(net, k);
        const res = await client.put(primary, k, body);
        expect(res.status, res.body.toString()).to.equal(201);
      }
      await net.nodes[0].objects.meta.db.exec("DELETE FROM hints");
      // Every node has acted on the ring as it is.
      for (const n of net.nodes) await n.repl.checkRings();
    });

    async function expectHeldEverywhere() {
      for (const k of KEYS) {
        for (const n of await holders(net, k)) {
          const got = await client.get(n, k);
          expect(got.status, `${k} on node ${n.id}`).to.equal(200);
          expect(got.body.equals(bodies.get(k)!), `${k} on node ${n.id}`).to.equal(true);
        }
      }
    }

    it("a replacement node pulls every span it took over from the others, blobs checked", async function () {
      const fresh = await net.addNode();
      net.nodes.push(fresh);
      await net.start(3);
      const replaced = net.nodes[2];
      const tokens = (await net.ddc.clusterNodeInfo(net.cluster, replaced.id)).tokens;
      await net.ddc.connect(net.manager).clusterReplaceNode(
        net.cluster,
        replaced.id,
        tokens.map(() => fresh.id),
        "0x" + "ab".repeat(32),
      );
      await net.stop(2);
      await sleep(250); // past the chain views' cache
      const gained = fresh.repl.repairer.gained(
        { ring: { tokens: [], nodes: [] }, replicationFactor: 2, nodes: [] },
        (await fresh.chain.cluster(net.cluster))!,
      );
      expect(gained.length).to.be.greaterThan(0);
      const copied = await fresh.repl.checkRings();
      const mine = [];
      for (const k of KEYS) if ((await holders(net, k)).includes(fresh)) mine.push(k);
      expect(copied).to.equal(mine.length);
      expect(mine.length).to.be.greaterThan(0);
      // What it does not hold was not copied.
      expect(fresh.objects.meta.byTokenRange(0n, 0n, { limit: 1000 }).length).to.equal(mine.length);
      // The survivors gained nothing: the new node took the old one's vNodes.
      expect(await net.nodes[0].repl.checkRings()).to.equal(0);
      expect(await net.nodes[1].repl.checkRings()).to.equal(0);
      net.nodes.splice(2, 1);
      await expectHeldEverywhere();
      net.nodes.push(replaced); // closed by the harness
    });

    it("a joining node pulls the spans it now holds; a source that is down is skipped for another", async function () {
      const fresh = await net.addNode();
      net.nodes.push(fresh);
      await net.start(3);
      await net.ddc.connect(net.manager).clusterAddNode(net.cluster, fresh.id, [(1n << 62n) * 2n + (1n << 61n)]);
      await sleep(250);
      // One previous holder is down: the other (or a current holder) serves the rows.
      await net.stop(1);
      await fresh.repl.checkRings();
      await net.start(1);
      for (const k of KEYS) {
        const hs = await holders(net, k);
        if (!hs.includes(fresh)) continue;
        const row = fresh.objects.meta.get(net.bucket, k);
        expect(row, k).to.not.equal(undefined);
        expect(row!.token).to.equal(keyToken(k));
      }
      await expectHeldEverywhere();
    });
  });

  describe("a peer that lies about its rows", function () {
    beforeEach(async function () {
      net = await buildNet(3, 3);
      client = await ownerClient(net);
    });

    it("rows whose token is not their key's, or outside the range, or of another bucket are not taken", async function () {
      await net.stop(1);
      const good = Buffer.from("good");
      const { sha256Hex } = await import("../../../storage-node/src/replication/peers");
      const { rootOf } = await import("../../../storage-node/src/replication/local");
      const row = (key: string, over: Record<string, unknown> = {}) => ({
        bucket: net.bucket.toString(),
        key,
        token: keyToken(key).toString(),
        version: "5000",
        sha256: sha256Hex(good),
        size: good.length,
        root: rootOf(good),
        deleted: false,
        ...over,
      });
      const rows = [
        row("honest"),
        row("wrong-token", { token: (keyToken("wrong-token") ^ 1n).toString() }),
        row("other-bucket", { bucket: "999" }),
      ];
      const liar = createServer((req, res) => {
        res.writeHead(200, {
          "content-type": req.url!.includes("/blobs/") ? "application/octet-stream" : "application/json",
        });
        res.end(req.url!.includes("/blobs/") ? good : JSON.stringify({ rows }));
      });
      await new Promise<void>((r) => liar.listen(net.nodes[1].port, "127.0.0.1", r));
      try {
        const r = await net.nodes[0].repl.repairer.pullRange(net.cluster, { after: 0n, upTo: 0n }, net.nodes[1].id);
        expect([r.rows, r.copied]).to.deep.equal([3, 1]);
      } finally {
        liar.closeAllConnections();
        await new Promise((r) => liar.close(r));
      }
      expect(net.nodes[0].objects.meta.get(net.bucket, "honest")!.version).to.equal(5000n);
      expect(net.nodes[0].objects.meta.get(net.bucket, "wrong-token")).to.equal(undefined);
      expect(net.nodes[0].objects.meta.get(999n, "other-bucket")).to.equal(undefined);
      // A malformed page is refused whole.
      const junk = createServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ rows: [{ bucket: "1", key: "x", token: "-1" }] }));
      });
      await new Promise<void>((r) => junk.listen(net.nodes[1].port, "127.0.0.1", r));
      try {
        const r = await net.nodes[0].repl.repairer.pullRange(net.cluster, { after: 0n, upTo: 0n }, net.nodes[1].id);
        expect(r.failedSources).to.deep.equal([{ node: net.nodes[1].id, reason: "answered a malformed body" }]);
      } finally {
        junk.closeAllConnections();
        await new Promise((r) => junk.close(r));
      }
    });
  });

  describe("anti-entropy", function () {
    beforeEach(async function () {
      net = await buildNet(3, 3);
      client = await ownerClient(net);
    });

    it("copies what is newer on the other side, both ways, tombstones included", async function () {
      await net.stop(2);
      const a = randomBytes(3000);
      expect((await client.put(net.nodes[0], "ae/a", a)).status).to.equal(201);
      expect((await client.put(net.nodes[0], "ae/gone", Buffer.from("soon deleted"))).status).to.equal(201);
      expect((await client.del(net.nodes[0], "ae/gone")).status).to.equal(200);
      // The hints are lost: only anti-entropy can converge node 3.
      net.nodes[0].objects.meta.db.exec("DELETE FROM hints");
      await net.start(2);
      const lagging = net.nodes[2];
      // Node 3 meanwhile holds a newer version of a key nobody else has seen.
      const b = Buffer.from("only on node 3");
      const { sha256Hex } = await import("../../../storage-node/src/replication/peers");
      await putBody(
        lagging.objects,
        {
          bucket: net.bucket,
          key: "ae/b",
          token: keyToken("ae/b"),
          version: BigInt(Date.now()) * 1000n,
          sha256: sha256Hex(b),
        },
        b,
      );

      const r3 = await lagging.repl.antiEntropy.round();
      expect(r3.differed).to.be.greaterThan(0);
      expect(r3.copied).to.equal(2);
      expect((await client.get(lagging, "ae/a")).body.equals(a)).to.equal(true);
      expect(lagging.objects.meta.get(net.bucket, "ae/gone")!.deleted).to.equal(true);

      const r1 = await net.nodes[0].repl.antiEntropy.round();
      expect(r1.copied).to.equal(1);
      expect((await client.get(net.nodes[0], "ae/b")).body.toString()).to.equal("only on node 3");

      // Converged: the next round finds nothing to copy between nodes 1 and 3.
      const again = await lagging.repl.antiEntropy.round();
      expect(again.copied).to.equal(0);
      const d = (n: TestNode) => n.objects.meta.rangeDigest(0n, 0n).digest;
      expect(d(net.nodes[0])).to.equal(d(lagging));
    });

    it("skips a replica that is down and counts it", async function () {
      expect((await client.put(net.nodes[0], "x", Buffer.from("x"))).status).to.equal(201);
      await net.stop(1);
      const r = await net.nodes[0].repl.antiEntropy.round();
      expect(r.unreachable).to.be.greaterThan(0);
    });
  });
});
