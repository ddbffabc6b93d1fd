import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Readable } from "node:stream";
import { JsonRpcProvider, Wallet } from "ethers";
import pino from "pino";
import { RequestAuthenticator } from "../storage-node/src/auth/verify";
import { ChainView } from "../storage-node/src/chain";
import { NodeMetrics } from "../storage-node/src/metrics";
import { ViewNodeChain } from "../storage-node/src/nodeChain";
import { PersistentNodeStore } from "../storage-node/src/nodeStore";
import { keyToken, replicasFor } from "../storage-node/src/placement";
import { storageDomain } from "../storage-node/src/protocol";
import { buildNodeServer } from "../storage-node/src/server";
import { FsBlobStore } from "../storage-node/src/store/blobs";
import { MetaStore } from "../storage-node/src/store/meta";
import { ObjectStore } from "../storage-node/src/store/objects";
import type { FastifyInstance } from "fastify";
import type { NodesCommand, NodesConfig, NodesEvent } from "./validatorNodes";

/**
 * The validator bench's storage nodes: `node bench/validatorNodesMain.ts`, started by
 * bench/validatorNodes.ts with an IPC channel. Every node is a `buildNodeServer` on its own
 * loopback port with its own store (the filesystem blob store and an in-memory SQLite), its own
 * signing key and authenticator, as the tests' harness builds them; they share one ChainView of the
 * core (one process, one RPC client). The stores are filled directly (`ObjectStore.put`, no HTTP),
 * each node with the keys the cluster's ring places on it. Once given the fast clock, the nodes
 * listen, and this process mines a block every 100 ms at that clock's time: the chain runs SPEED
 * times the wall clock, and the bench's process (the validator) does nothing but validate.
 */
/** To the bench, unless it is gone (a message lost then is of no use to anyone). */
const send = (e: NodesEvent) => {
  if (process.connected) process.send?.(e, undefined, undefined, () => undefined);
};

/** A 1–8 KiB object, one in LARGE_EVERY between 64 and 160 KiB (two or three Merkle leaves). */
const LARGE_EVERY = 50;
function objectSize(j: number): number {
  if (j % LARGE_EVERY === LARGE_EVERY - 1) return 64 * 1024 + 1 + Math.floor(Math.random() * 96 * 1024);
  return 1024 + Math.floor(Math.random() * 7 * 1024);
}

interface Node {
  id: number;
  port: number;
  wallet: Wallet;
  objects: ObjectStore;
  app?: FastifyInstance;
}

let nodes: Node[] = [];
let miner: ReturnType<typeof setInterval> | undefined;
/** The nodes' one event loop: how late it ran, from the clock on (a slow answer may be the loop's). */
const loop = monitorEventLoopDelay({ resolution: 10 });

async function fill(config: NodesConfig, view: ChainView): Promise<void> {
  const started = performance.now();
  const info = await view.cluster(config.cluster);
  if (info === undefined) throw new Error(`cluster ${config.cluster} is unknown to the core`);
  nodes = config.nodes.map((n) => ({
    id: n.id,
    port: n.port,
    wallet: new Wallet(n.key),
    objects: new ObjectStore(new FsBlobStore(join(config.dataDir, String(n.id))), new MetaStore(":memory:")),
  }));
  for (const n of nodes) await n.objects.open();
  // Keys by the ring's placement: each node holds the keys it is the replica of (replication 1).
  const keys = new Map<number, string[]>(nodes.map((n) => [n.id, []]));
  let full = 0;
  for (let i = 0; full < nodes.length; i++) {
    const key = `data/${String(i).padStart(7, "0")}.bin`;
    const [owner] = replicasFor(info.ring, info.replicationFactor, info.nodes.length, key);
    const list = keys.get(owner);
    if (list === undefined || list.length >= config.objectsPerNode) continue;
    list.push(key);
    if (list.length === config.objectsPerNode) full++;
  }
  const bucket = BigInt(config.bucket);
  const version = BigInt(Date.now()) * 1000n;
  let bytes = 0;
  let large = 0;
  await Promise.all(
    nodes.map(async (n) => {
      for (const [j, key] of keys.get(n.id)!.entries()) {
        const size = objectSize(j);
        bytes += size;
        if (size > 64 * 1024) large++;
        await n.objects.put(bucket, key, keyToken(key), Readable.from([randomBytes(size)]), {
          maxBytes: size,
          version: version + BigInt(j),
          cluster: config.cluster,
        });
      }
    }),
  );
  send({
    type: "filled",
    ms: performance.now() - started,
    objects: nodes.length * config.objectsPerNode,
    bytes,
    large,
  });
}

async function listen(
  config: NodesConfig,
  view: ChainView,
  provider: JsonRpcProvider,
  clock: { wallStart: number; chainStart: number; speed: number },
): Promise<void> {
  const fast = () => clock.chainStart + (Date.now() - clock.wallStart) * clock.speed;
  const domain = storageDomain(config.chainId, config.core);
  const chain = new ViewNodeChain(view, provider);
  const logger = pino({ level: "warn" }, pino.destination(2));
  for (const n of nodes) {
    const auth = new RequestAuthenticator({
      chain: view,
      domain,
      nodeId: n.id,
      seenNonce: (k, nonce, exp, now) => !n.objects.meta.useNonce(k, nonce, exp, now),
    });
    const { app } = buildNodeServer({
      store: new PersistentNodeStore(n.objects),
      auth,
      chain,
      node: { id: n.id, url: `http://127.0.0.1:${n.port}` },
      signer: n.wallet,
      domain,
      metrics: new NodeMetrics(),
      logger,
      // Eras and the probes' answers on the chain's (fast) time; sessions and requests on the wall's.
      clock: fast,
      // A flush (and the era-end check that snapshots) every second of wall time: SPEED s of the chain's.
      usageFlushMs: 1_000,
    });
    await app.listen({ host: "127.0.0.1", port: n.port });
    n.app = app;
  }
  miner = setInterval(() => {
    void provider.send("evm_mine", [Math.floor(fast() / 1000)]).catch(() => undefined);
  }, 100);
  loop.enable();
  send({ type: "listening" });
}

async function close(): Promise<void> {
  if (miner !== undefined) clearInterval(miner);
  await Promise.all(nodes.map((n) => n.app?.close()));
  for (const n of nodes) n.objects.meta.close();
}

async function main(): Promise<void> {
  let view: ChainView | undefined;
  let provider: JsonRpcProvider | undefined;
  let config: NodesConfig | undefined;
  const fail = (error: unknown) => {
    send({ type: "error", message: (error as Error).stack ?? String(error) });
    process.exitCode = 1;
  };
  process.on("message", (m: NodesCommand) => {
    if (m.type === "start") {
      config = m.config;
      provider = new JsonRpcProvider(config.rpcUrl, config.chainId, { staticNetwork: true });
      view = new ChainView({ provider, core: config.core, ttlMs: 1_000, statusTtlMs: 1_000 });
      void fill(config, view).catch(fail);
    } else if (m.type === "clock") {
      void listen(config!, view!, provider!, m).catch(fail);
    } else if (m.type === "usage") {
      const cpu = process.cpuUsage();
      send({
        type: "usage",
        cpuMs: (cpu.user + cpu.system) / 1000,
        rssBytes: process.memoryUsage.rss(),
        loopDelayMaxMs: loop.max / 1e6,
        loopDelayP99Ms: loop.percentile(99) / 1e6,
      });
    }
  });
  // Stopped by the bench (SIGTERM), or orphaned when the bench's process is gone.
  const stop = () => void close().finally(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  process.once("disconnect", stop);
  send({ type: "ready" });
}

void main();
