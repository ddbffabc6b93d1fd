/**
 * One storage node as its own process, for the multi-process replication test: the persistent
 * store in DATA, the chain at RPC, the node key in DDC_NODE_KEY, replication on. Prints
 * `ready <node id>` once it serves; stops on SIGTERM.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { JsonRpcProvider } from "ethers";
import pino from "pino";
import { parseConfig } from "../../../storage-node/src/config";
import { startStorageNode } from "../../../storage-node/src/main";

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
  raw.replication = {
    clusters: [cluster],
    timeoutMs: 2000,
    hintIntervalMs: 200,
    hintBackoffMs: 200,
    hintMaxBackoffMs: 1000,
    ringIntervalMs: 300,
    antiEntropyIntervalS: 0,
  };
  const config = parseConfig(raw, "node.json", env);
  const provider = new JsonRpcProvider(rpc, undefined, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 200 });
  const logger = pino({ level: "warn" }, pino.destination(2));
  const node = await startStorageNode(config, {
    provider,
    logger,
    drainMs: 500,
    chainView: { ttlMs: 300, statusTtlMs: 300 },
  });
  process.stdout.write(`ready ${node.id} ${node.opsUrl}\n`);
  process.once("SIGTERM", () => {
    void (async () => {
      await node.close();
      process.exit(0);
    })();
  });
}

// Runs only as its own process (the test runner loads every file under test/ too).
if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
