import { rmSync } from "node:fs";
import { ethers } from "hardhat";
import pino from "pino";
import { request } from "undici";
import { RequestAuthenticator } from "../../../storage-node/src/auth/verify";
import { newSessionKey, signAppSession, signRequest } from "../../../storage-node/src/auth/sign";
import { ChainView } from "../../../storage-node/src/chain";
import { NodeMetrics } from "../../../storage-node/src/metrics";
import { ALL_OPS, storageDomain, type SessionToken } from "../../../storage-node/src/protocol";
import { buildNodeServer } from "../../../storage-node/src/server";
import { FsBlobStore } from "../../../storage-node/src/store/blobs";
import { MetaStore } from "../../../storage-node/src/store/meta";
import { ObjectStore } from "../../../storage-node/src/store/objects";
import { sha256Hex } from "../../../storage-node/src/replication/peers";
import { ViewNodeChain } from "../../../storage-node/src/nodeChain";
import { PersistentNodeStore } from "../../../storage-node/src/nodeStore";
import { ReplicationNode } from "../../../storage-node/src/replication";
import { CLUSTER_PARAMS, GIB, NODE_PARAMS, RENT, USD, coreFixture, type CoreFixture } from "../../helpers/fixtures";
import { freePort } from "../../helpers/localNode";
import { tempDir } from "../../helpers/temp";
import type { NodeFaults } from "../../../storage-node/src/faults";
import type { FastifyInstance } from "fastify";
import type { Signer, TypedDataDomain, Wallet } from "ethers";

export interface TestNode {
  id: number;
  wallet: Wallet;
  port: number;
  url: string;
  objects: ObjectStore;
  chain: ChainView;
  repl: ReplicationNode;
  app?: FastifyInstance;
  dir: string;
}

export interface Net extends CoreFixture {
  cluster: number;
  bucket: bigint;
  domain: ReturnType<typeof storageDomain>;
  nodes: TestNode[];
  /** Starts (or restarts) node `i`'s HTTP server on its port. */
  start(i: number): Promise<void>;
  stop(i: number): Promise<void>;
  /** Registers one more node on chain (not yet in the cluster) and builds it. */
  addNode(): Promise<TestNode>;
  close(): Promise<void>;
}

/**
 * A cluster of `n` nodes with replication factor `rf` on the Hardhat chain, each a `buildNodeServer`
 * with the replication routes on a loopback port; a bucket of owner 1 with room.
 */
export async function buildNet(
  n: number,
  rf: number,
  opts: {
    timeoutMs?: number;
    /** The servers' era clock (ms): the chain's time that places requests in eras (Date.now unless given). */
    eraClock?: () => number;
    /** Faults injected into node `i`'s server (none unless given). */
    faults?: (i: number) => NodeFaults | undefined;
  } = {},
): Promise<Net> {
  const f = await coreFixture();
  const { ddc, manager, provider1, owner1 } = f;
  const chainId = (await ethers.provider.getNetwork()).chainId;
  const domain = storageDomain(chainId, f.coreAddress);
  await ddc.connect(provider1).nodeTrustManager(manager.address);
  await ddc.connect(manager).clusterCreate(manager.address, { ...CLUSTER_PARAMS, replicationFactor: rf }, GIB);
  const cluster = Number(await ddc.clusterCount());
  const nodes: TestNode[] = [];
  const logger = pino({ level: "silent" });

  const make = async (): Promise<TestNode> => {
    const wallet = ethers.Wallet.createRandom() as unknown as Wallet;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    await ddc.connect(provider1).nodeCreate(wallet.address, 1000n, RENT, { ...NODE_PARAMS, urls: [url] });
    const id = Number(await ddc.nodeCount());
    const dir = tempDir(`ddc-repl-${id}-`);
    const objects = new ObjectStore(new FsBlobStore(dir), new MetaStore(":memory:"));
    await objects.open();
    const chain = new ChainView({ provider: ethers.provider, core: f.coreAddress, ttlMs: 200, statusTtlMs: 200 });
    const repl = new ReplicationNode({
      self: id,
      signer: wallet,
      domain,
      store: objects,
      chain,
      clusters: () => [cluster],
      timeoutMs: opts.timeoutMs ?? 1500,
      hintBackoffMs: 50,
      hintMaxBackoffMs: 200,
    });
    return { id, wallet, port, url, objects, chain, repl, dir };
  };

  // One vNode per node, a quarter of the ring apart (up to four nodes), evenly spread beyond.
  const q = n <= 4 ? 1n << 62n : (1n << 64n) / BigInt(n);
  for (let i = 0; i < n; i++) {
    const node = await make();
    nodes.push(node);
    await ddc.connect(manager).clusterAddNode(cluster, node.id, [BigInt(i) * q + 12345n]);
  }
  await ddc.connect(manager).clusterReserveResource(cluster, 100n);
  await ddc.connect(owner1).bucketCreate(cluster, '{"engine":"ddc-storage"}');
  const bucket = await ddc.bucketCount();
  await ddc.connect(owner1).accountDeposit(cluster, 1000n * USD);
  await ddc.connect(owner1).bucketAllocIntoCluster(bucket, 10n);

  const net: Net = {
    ...f,
    cluster,
    bucket,
    domain,
    nodes,
    async start(i) {
      const node = nodes[i];
      const auth = new RequestAuthenticator({
        chain: node.chain,
        domain,
        nodeId: node.id,
        seenNonce: (k, nonce, exp, now) => !node.objects.meta.useNonce(k, nonce, exp, now),
      });
      const { app } = buildNodeServer({
        store: new PersistentNodeStore(node.objects),
        auth,
        chain: new ViewNodeChain(node.chain, ethers.provider),
        node: { id: node.id, url: node.url },
        signer: node.wallet,
        domain,
        metrics: new NodeMetrics(),
        logger,
        replicator: node.repl.replicator,
        ...(opts.eraClock === undefined ? {} : { eraClock: opts.eraClock }),
        ...(opts.faults?.(i) === undefined ? {} : { faults: opts.faults(i) }),
      });
      await node.repl.register(app, auth);
      await app.listen({ host: "127.0.0.1", port: node.port });
      node.app = app;
    },
    async stop(i) {
      const node = nodes[i];
      const app = node.app;
      node.app = undefined;
      if (app === undefined) return;
      // Down at once, as a crash would be: open connections are cut, not drained.
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
    },
    addNode: make,
    async close() {
      for (let i = 0; i < nodes.length; i++) {
        await nodes[i].repl.stop();
        await net.stop(i);
        nodes[i].objects.meta.close();
        rmSync(nodes[i].dir, { recursive: true, force: true });
      }
    },
  };
  for (let i = 0; i < n; i++) await net.start(i);
  return net;
}

/** An app client of a bucket's owner: PUT, GET and DELETE against one node. */
export async function appClient(owner: Signer, domain: TypedDataDomain, bucket: bigint) {
  const key = newSessionKey();
  const token: SessionToken = await signAppSession(owner, domain, {
    bucket,
    sessionKey: key.publicKey,
    operations: ALL_OPS,
    expiry: Math.floor(Date.now() / 1000) + 3600,
  });
  const send = async (
    node: { id: number; url: string },
    method: "PUT" | "GET" | "DELETE",
    objectKey: string,
    body?: Buffer,
  ) => {
    const target = `/v1/buckets/${bucket}/objects/${objectKey.split("/").map(encodeURIComponent).join("/")}`;
    const headers = signRequest({
      privateKey: key.privateKey,
      sessionToken: token,
      node: node.id,
      method,
      target,
      bodySha256: body ? sha256Hex(body) : undefined,
      contentType: body ? "application/octet-stream" : undefined,
      expires: Math.floor(Date.now() / 1000) + 60,
    });
    const res = await request(node.url + target, { method, headers, body });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    return {
      status: res.statusCode,
      body: bytes,
      json: () => JSON.parse(bytes.toString("utf8")) as Record<string, unknown>,
    };
  };
  return {
    put: (node: { id: number; url: string }, k: string, body: Buffer) => send(node, "PUT", k, body),
    get: (node: { id: number; url: string }, k: string) => send(node, "GET", k),
    del: (node: { id: number; url: string }, k: string) => send(node, "DELETE", k),
  };
}

/** The owner's client of the net's bucket. */
export function ownerClient(net: Net) {
  return appClient(net.owner1, net.domain, net.bucket);
}

/** Waits until `check` holds (polling), or fails after `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
