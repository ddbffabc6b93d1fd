import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { JsonRpcProvider, Wallet } from "ethers";
import { DAY, deployCore, deployTestStablecoin } from "../../../deploy/core";
import { replicasFor } from "../../../storage-node/src/placement";
import { storageDomain } from "../../../storage-node/src/protocol";
import type { IDDC } from "../../../typechain-types";
import { CLUSTER_PARAMS, GIB, NODE_PARAMS, RENT, USD } from "../../helpers/fixtures";
import { freePort, startNode, type LocalNode } from "../../helpers/localNode";
import { devAccount, tempDir } from "../../helpers/temp";
import { appClient, eventually } from "./harness";

const ROOT = join(__dirname, "..", "..", "..");
const SCRIPT = join(__dirname, "nodeProcess.ts");

interface Proc {
  id: number;
  key: Wallet;
  port: number;
  url: string;
  dir: string;
  child?: ChildProcess;
  log: string[];
  /** The node's ops server (metrics), once started. */
  ops?: string;
}

/** A counter or gauge of a node's /metrics (0 when absent). */
async function metric(p: Proc, name: string): Promise<number> {
  const text = await (await fetch(`${p.ops}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(" ")[1]);
}

describe("storage-node replication: nodes as separate processes", function () {
  this.timeout(170_000);
  let chain: LocalNode;
  const procs: Proc[] = [];

  after(async function () {
    for (const p of procs) await stopProc(p);
    await chain?.stop();
    for (const p of procs) rmSync(p.dir, { recursive: true, force: true });
  });

  async function startProc(p: Proc, env: Record<string, string>): Promise<void> {
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", SCRIPT], {
      cwd: ROOT,
      env: { ...process.env, ...env, DDC_NODE_KEY: p.key.privateKey, DATA: p.dir, PORT: String(p.port) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    p.child = child;
    child.stderr!.on("data", (d: Buffer) => p.log.push(d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node ${p.id} did not start: ${p.log.join("")}`)), 60_000);
      child.stdout!.on("data", (d: Buffer) => {
        const m = /ready \d+ (\S+)/.exec(d.toString());
        if (m !== null) {
          p.ops = m[1];
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`node ${p.id} exited with ${code}: ${p.log.join("")}`));
      });
    });
  }

  async function stopProc(p: Proc): Promise<void> {
    const child = p.child;
    p.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
      child.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill("SIGTERM");
    });
  }

  it("hints reach a restarted node; a replacement node repairs its spans; every replica holds every object intact", async function () {
    chain = await startNode("anvil", await freePort());
    const provider = new JsonRpcProvider(chain.url, undefined, { cacheTimeout: -1, pollingInterval: 100 });
    const [deployer, manager, provider1, owner] = [0, 1, 2, 3].map((i) => devAccount(i, provider));
    const token = await deployTestStablecoin(deployer);
    const { ddc, core } = await deployCore(deployer, {
      token: await token.getAddress(),
      admin: deployer.address,
      parameters: { networkFeeBps: 500, feeDestination: deployer.address, unlockDelay: 7 * DAY, gracePeriod: 7 * DAY },
    });
    const coreAddress = await core.getAddress();
    const as = (s: typeof owner) => ddc.connect(s) as IDDC;
    await (await token.mint(owner.address, 1_000_000n * USD)).wait();
    await (await token.connect(owner).approve(coreAddress, 2n ** 255n)).wait();
    await (await as(provider1).nodeTrustManager(manager.address)).wait();
    await (await as(manager).clusterCreate(manager.address, { ...CLUSTER_PARAMS, replicationFactor: 3 }, GIB)).wait();
    const cluster = Number(await ddc.clusterCount());
    for (let i = 0; i < 5; i++) {
      const key = Wallet.createRandom() as unknown as Wallet;
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      await (await as(provider1).nodeCreate(key.address, 1000n, RENT, { ...NODE_PARAMS, urls: [url] })).wait();
      procs.push({ id: Number(await ddc.nodeCount()), key, port, url, dir: tempDir("repl-proc"), log: [] });
    }
    const q = 1n << 62n;
    for (let i = 0; i < 4; i++)
      await (await as(manager).clusterAddNode(cluster, procs[i].id, [BigInt(i) * q + 777n])).wait();
    await (await as(manager).clusterReserveResource(cluster, 100n)).wait();
    await (await as(owner).bucketCreate(cluster, '{"engine":"ddc-storage"}')).wait();
    const bucket = await ddc.bucketCount();
    await (await as(owner).accountDeposit(cluster, 1000n * USD)).wait();
    // Simulated first, so that a refusal names the core's error.
    await as(owner)
      .bucketAllocIntoCluster.staticCall(bucket, 10n)
      .catch((e: { data?: string }) => {
        throw new Error(`allocation refused: ${ddc.interface.parseError(e.data ?? "0x")?.name ?? String(e)}`);
      });
    await (await as(owner).bucketAllocIntoCluster(bucket, 10n)).wait();
    const domain = storageDomain((await provider.getNetwork()).chainId, coreAddress);
    const client = await appClient(owner, domain, bucket);
    const env = { RPC: chain.url, CORE: coreAddress, CLUSTER: String(cluster) };
    const holders = async (key: string) => {
      const [tokens, nodes] = await ddc.clusterRing(cluster);
      const order = tokens.map((_t, i) => i).sort((a, b) => (tokens[a] < tokens[b] ? -1 : 1));
      const ring = { tokens: order.map((i) => tokens[i]), nodes: order.map((i) => Number(nodes[i])) };
      const members = (await ddc.clusterNodes(cluster)).length;
      return replicasFor(ring, 3, members, key).map((id) => procs.find((p) => p.id === id)!);
    };

    await Promise.all(procs.slice(0, 4).map((p) => startProc(p, env)));
    const [, second, , fourth] = procs;
    // Each node checks the ring every 300 ms, retrying while a peer it would pull from is not up yet.
    await new Promise((r) => setTimeout(r, 1500));
    await stopProc(fourth);

    // 50 objects written while node 4 is down: each to a replica that is up; a majority answers.
    const bodies = new Map<string, Buffer>();
    for (let i = 0; i < 50; i++) {
      const key = `mp/${i}`;
      const body = randomBytes(500 + i * 37);
      bodies.set(key, body);
      const coordinator = (await holders(key)).find((p) => p !== fourth)!;
      const res = await client.put(coordinator, key, body);
      if (res.status !== 201) process.stderr.write(procs.map((p) => p.log.join("")).join("\n"));
      expect(res.status, `${key}: ${res.body.toString()}`).to.equal(201);
      expect((res.json().receipts as unknown[]).length).to.be.at.least(2);
    }
    const forFourth = [...bodies.keys()];
    const held: string[] = [];
    for (const k of forFourth) if ((await holders(k)).includes(fourth)) held.push(k);
    expect(held.length).to.be.greaterThan(10);

    // Node 4 returns: the hints deliver what it missed.
    await startProc(fourth, env);
    await eventually(
      async () => {
        for (const k of held) if ((await client.get(fourth, k)).status !== 200) return false;
        return true;
      },
      30_000,
      "the hints to node 4",
    );
    for (const k of held) expect((await client.get(fourth, k)).body.equals(bodies.get(k)!)).to.equal(true);
    // By the hints, not by a repair: node 4 had acted on this ring before it stopped.
    expect(await metric(fourth, "ddc_replication_objects_repaired_total")).to.equal(0);
    let delivered = 0;
    for (const p of procs.slice(0, 3)) delivered += await metric(p, "ddc_replication_hints_delivered_total");
    expect(delivered).to.be.at.least(held.length);

    // Node 2 is replaced on chain by node 5: node 5 pulls every span it took over.
    const fifth = procs[4];
    await startProc(fifth, env);
    const tokens = (await ddc.clusterNodeInfo(cluster, second.id)).tokens;
    await (
      await as(manager).clusterReplaceNode(
        cluster,
        second.id,
        tokens.map(() => fifth.id),
        "0x" + "cd".repeat(32),
      )
    ).wait();
    await stopProc(second);
    await eventually(
      async () => {
        for (const k of bodies.keys())
          if ((await client.get(fifth, k)).status !== 200 && (await holders(k)).includes(fifth)) return false;
        return true;
      },
      40_000,
      "node 5's repair",
    );

    // Every object, from every replica that should hold it under the new ring, intact.
    let reads = 0;
    for (const [k, body] of bodies) {
      const hs = await holders(k);
      expect(hs).to.not.include(second);
      for (const p of hs) {
        const got = await client.get(p, k);
        expect(got.status, `${k} on node ${p.id}`).to.equal(200);
        expect(got.body.equals(body), `${k} on node ${p.id}`).to.equal(true);
        reads++;
      }
    }
    expect(reads).to.equal(150);
    let onFifth = 0;
    for (const k of bodies.keys()) if ((await holders(k)).includes(fifth)) onFifth++;
    expect(await metric(fifth, "ddc_replication_objects_repaired_total")).to.equal(onFifth);
    expect(await metric(fifth, "ddc_replication_repair_queue")).to.equal(0);
  });
});
