import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Wallet } from "ethers";
import { freePort } from "../../lib/localChain";
import { ROOT } from "../../lib/root";
import { loadConfig } from "../../storage-node/src/config";
import { registrationParams } from "../../storage-node/src/register";
import { NODE_RENT, capacityOf, sleep, type World } from "./world";

/**
 * The storage nodes of the network, each its own process: `node bin/ddc node serve --config
 * <file>` with its key in DDC_NODE_KEY, its HTTP server and ops server on loopback ports, and its
 * data directory under the run's temporary directory.
 */

export interface StorageNodeProcess {
  id: number;
  provider: number;
  key: Wallet;
  url: string;
  opsUrl: string;
  dir: string;
  config: string;
  child?: ChildProcess;
  /** The last lines the process wrote on stderr (for an error message). */
  tail: string[];
  /** Extra environment of the current process (the fault switch). */
  env: Record<string, string>;
}

/** Writes node `index`'s configuration: chain, key source, URL, data, ports, fast replication. */
function writeConfig(w: World, dir: string, port: number, opsPort: number, capacity: bigint): string {
  const config = {
    chain: { rpcUrl: w.rpcUrl, core: w.core },
    node: {
      key: { env: "DDC_NODE_KEY" },
      url: `http://127.0.0.1:${port}`,
      capacity: capacity.toString(),
      rent: NODE_RENT.toString(),
      metadata: "loopback network",
    },
    data: { dir: join(dir, "data"), blobs: { kind: "fs" } },
    // The chain's time runs ahead of the wall clock here (CHAIN_SPEED): a node comparing its clock
    // with the latest block would refuse writes. Versions stay on the wall clock, as live.
    server: { host: "127.0.0.1", port, clockCheck: false },
    ops: { host: "127.0.0.1", port: opsPort },
    scrub: { intervalS: 0 },
    // Ring changes are seen within a second, so that a replacement's repair starts at once.
    replication: {
      timeoutMs: 2000,
      hintIntervalMs: 500,
      hintBackoffMs: 500,
      ringIntervalMs: 1000,
      antiEntropyIntervalS: 0,
    },
    log: { level: "warn" },
  };
  const file = join(dir, "node.json");
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/**
 * Each provider registers `perProvider` nodes, as `ddc node register --config` does: the node's
 * key is new, its URL a free loopback port. Node ids follow registration order.
 */
export async function registerNodes(w: World, base: string, perProvider: number): Promise<StorageNodeProcess[]> {
  const out: StorageNodeProcess[] = [];
  for (const [p, provider] of w.providers.entries()) {
    for (let k = 0; k < perProvider; k++) {
      const key = Wallet.createRandom() as unknown as Wallet;
      const [port, opsPort] = [await freePort(), await freePort()];
      const dir = join(base, `node-${p + 1}-${k + 1}`);
      mkdirSync(dir, { recursive: true });
      // Ids follow registration order on the fresh chain (checked below): the layout names them.
      const expected = Number(await w.system.ddc.nodeCount()) + 1;
      const file = writeConfig(w, dir, port, opsPort, capacityOf(expected));
      const { capacity, rent, params } = registrationParams(loadConfig(file, { DDC_NODE_KEY: key.privateKey }));
      await (await w.system.ddc.connect(provider).nodeCreate(key.address, capacity, rent, params)).wait();
      const id = Number(await w.system.ddc.nodeByKey(key.address));
      if (id !== expected) throw new Error(`node registered as ${id}, expected ${expected}: the chain was not fresh`);
      out.push({
        id,
        provider: p,
        key,
        url: params.urls[0],
        opsUrl: `http://127.0.0.1:${opsPort}`,
        dir,
        config: file,
        tail: [],
        env: {},
      });
    }
  }
  return out;
}

async function ready(n: StorageNodeProcess): Promise<boolean> {
  try {
    return (await fetch(`${n.opsUrl}/ready`)).ok;
  } catch {
    return false;
  }
}

/**
 * Starts the node's process (with `env` added) and waits until its /ready answers: 180 s at most,
 * for `bin/ddc` runs the TypeScript sources when dist/ is not current, eight at once on 2 cores.
 */
export async function startNodeProcess(n: StorageNodeProcess, env: Record<string, string> = {}): Promise<void> {
  n.env = env;
  n.tail = [];
  const child = spawn(process.execPath, [join(ROOT, "bin", "ddc"), "node", "serve", "--config", n.config], {
    cwd: ROOT,
    env: { ...process.env, ...env, DDC_NODE_KEY: n.key.privateKey },
    stdio: ["ignore", "ignore", "pipe"],
  });
  n.child = child;
  child.stderr!.on("data", (d: Buffer) => {
    n.tail.push(d.toString());
    if (n.tail.length > 20) n.tail.shift();
  });
  const deadline = Date.now() + 180_000;
  while (!(await ready(n))) {
    if (child.exitCode !== null) {
      throw new Error(`storage node ${n.id} exited with ${child.exitCode} before it was ready: ${n.tail.join("")}`);
    }
    if (Date.now() > deadline) throw new Error(`storage node ${n.id} was not ready within 180 s: ${n.tail.join("")}`);
    await sleep(300);
  }
}

/** Stops the node's process: SIGTERM, then SIGKILL after 5 s. */
export async function stopNodeProcess(n: StorageNodeProcess): Promise<void> {
  const child = n.child;
  n.child = undefined;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** The last resort on exit: every child still running is killed at once. */
export function killAll(nodes: StorageNodeProcess[]): void {
  for (const n of nodes) {
    if (n.child !== undefined && n.child.exitCode === null && n.child.signalCode === null) n.child.kill("SIGKILL");
  }
}
