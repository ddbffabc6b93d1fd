import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { stopChild } from "./engineServers";

/**
 * The validator bench's storage nodes in one Node process of their own (bench/validatorNodesMain.ts),
 * driven over an IPC channel: fill the stores, then take the fast clock, listen and mine.
 */
const ROOT = join(__dirname, "..");

/** What the nodes' process needs: the chain, the cluster, and each node's id, key and port. */
export interface NodesConfig {
  rpcUrl: string;
  chainId: number;
  core: string;
  cluster: number;
  /** Decimal. */
  bucket: string;
  objectsPerNode: number;
  /** Each node's blobs go under `dataDir`/<id>. */
  dataDir: string;
  nodes: { id: number; key: string; port: number }[];
}

/** The fast clock: chain ms = chainStart + (Date.now() − wallStart) × speed. */
export interface FastClockBase {
  wallStart: number;
  chainStart: number;
  speed: number;
}

export type NodesCommand =
  { type: "start"; config: NodesConfig } | ({ type: "clock" } & FastClockBase) | { type: "usage" };

export type NodesEvent =
  | { type: "ready" }
  | { type: "filled"; ms: number; objects: number; bytes: number; large: number }
  | { type: "listening" }
  | { type: "usage"; cpuMs: number; rssBytes: number; loopDelayMaxMs: number; loopDelayP99Ms: number }
  | { type: "error"; message: string };

export interface NodesProcess {
  pid: number | undefined;
  /** Fills every node's store; resolves with what was stored. */
  fill(config: NodesConfig): Promise<Extract<NodesEvent, { type: "filled" }>>;
  /** Starts the servers and the miner on the fast clock. */
  listen(clock: FastClockBase): Promise<void>;
  /** The process's CPU time so far (ms) and its RSS. */
  usage(): Promise<Extract<NodesEvent, { type: "usage" }>>;
  stop(): Promise<void>;
}

/** Starts the nodes' process (ts-node, transpile only) and waits until it takes commands. */
export async function startNodesProcess(): Promise<NodesProcess> {
  const child: ChildProcess = fork(join(__dirname, "validatorNodesMain.ts"), [], {
    cwd: ROOT,
    execArgv: ["-r", "ts-node/register/transpile-only"],
    env: { ...process.env, TS_NODE_PROJECT: join(ROOT, "tsconfig.json") },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = <T extends NodesEvent["type"]>(type: T): Promise<Extract<NodesEvent, { type: T }>> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: NodesEvent) => {
        if (m.type !== type && m.type !== "error") return;
        done();
        if (m.type === "error") reject(new Error(`bench: the nodes' process failed: ${m.message}`));
        else resolve(m as Extract<NodesEvent, { type: T }>);
      };
      const onExit = (code: number | null) => {
        done();
        reject(new Error(`bench: the nodes' process exited (${code}) while the bench waited for "${type}"`));
      };
      const done = () => {
        child.off("message", onMessage);
        child.off("exit", onExit);
      };
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
  try {
    await next("ready");
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  const command = (c: NodesCommand) => child.send(c);
  return {
    pid: child.pid,
    async fill(config) {
      const filled = next("filled");
      command({ type: "start", config });
      return filled;
    },
    async listen(clock) {
      const listening = next("listening");
      command({ type: "clock", ...clock });
      await listening;
    },
    async usage() {
      const usage = next("usage");
      command({ type: "usage" });
      return usage;
    },
    stop: () => stopChild(child),
  };
}
