/**
 * One storage node as its own process, for the multi-process replication test: the persistent
 * store in DATA, the chain at RPC, the node key in DDC_NODE_KEY, replication on. Prints
 * `ready <node id>` once it serves; stops on SIGTERM.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { JsonRpcProvider, Wallet } from "ethers";
import pino from "pino";
import { RequestAuthenticator } from "../../../storage-node/src/auth/verify";
import { ChainView } from "../../../storage-node/src/chain";
import { parseConfig } from "../../../storage-node/src/config";
import { startStorageNode } from "../../../storage-node/src/main";
import { NodeMetrics } from "../../../storage-node/src/metrics";
import type { Authenticator } from "../../../storage-node/src/ports";
import { storageDomain } from "../../../storage-node/src/protocol";
import { ReplicationNode } from "../../../storage-node/src/replication";
import { FsBlobStore } from "../../../storage-node/src/store/blobs";
import { MetaStore } from "../../../storage-node/src/store/meta";
import { ObjectStore } from "../../../storage-node/src/store/objects";
import { nodeChainOf, nodeStoreOf } from "./adapters";

async function main(): Promise<void> {
  const env = process.env;
  const [rpc, core, data, port, cluster] = [env.RPC!, env.CORE!, env.DATA!, Number(env.PORT), Number(env.CLUSTER)];
  const raw = JSON.parse(readFileSync(join(__dirname, "../../../storage-node/config.example.json"), "utf8")) as Record<
    string,
    Record<string, unknown>
  >;
  raw.chain = { rpcUrl: rpc, core };
  raw.node = {
    key: { env: "DDC_NODE_KEY" },
    url: `http://127.0.0.1:${port}`,
    capacity: "1000",
    rent: "1000000",
    metadata: "",
  };
  raw.data = { dir: data, blobs: { kind: "fs" } };
  raw.server = { host: "127.0.0.1", port };
  raw.ops = { host: "127.0.0.1", port: 0 };
  raw.scrub = { intervalS: 0 };
  const config = parseConfig(raw, "node.json", env);
  const provider = new JsonRpcProvider(rpc, undefined, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 200 });
  const signer = new Wallet(env.DDC_NODE_KEY!, provider);
  const chain = new ChainView({ provider, core, ttlMs: 300, statusTtlMs: 300 });
  const self = (await chain.nodeByKey(signer.address))!;
  const objects = new ObjectStore(new FsBlobStore(join(data, "blobs")), new MetaStore(join(data, "meta.sqlite")));
  await objects.open();
  const { chainId } = await provider.getNetwork();
  const domain = storageDomain(chainId, core);
  const auth = new RequestAuthenticator({
    chain,
    domain,
    nodeId: self,
    seenNonce: (k, nonce, exp, now) => !objects.meta.useNonce(k, nonce, exp, now),
  }) as unknown as Authenticator;
  const logger = pino({ level: "warn" }, pino.destination(2));
  const metrics = new NodeMetrics();
  const repl = new ReplicationNode({
    registry: metrics.registry,
    self,
    signer,
    domain,
    store: objects,
    chain,
    clusters: () => [cluster],
    timeoutMs: 2000,
    hintBackoffMs: 200,
    hintMaxBackoffMs: 1000,
    hintIntervalMs: 200,
    ringIntervalMs: 300,
    antiEntropyIntervalMs: 0,
    onError: (what, e) => logger.warn({ err: e }, what),
  });
  const node = await startStorageNode(config, {
    provider,
    signer,
    logger,
    store: nodeStoreOf(objects),
    auth,
    chain: nodeChainOf(chain),
    replicator: repl.replicator,
    metrics,
    drainMs: 500,
    routes: (app) => repl.register(app, auth),
  });
  repl.start();
  process.stdout.write(`ready ${node.id} ${node.opsUrl}\n`);
  process.once("SIGTERM", () => {
    void (async () => {
      await repl.stop();
      await node.close();
      process.exit(0);
    })();
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
