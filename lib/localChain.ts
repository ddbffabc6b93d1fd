import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { ROOT } from "./root";

const BIN = join(ROOT, "node_modules", ".bin");

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject()));
    });
  });
}

/** Whether a JSON-RPC node answers at `url`. */
async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
    });
    return response.ok;
  } catch {
    return false;
  }
}

export interface LocalNode {
  url: string;
  /** The node's process id. */
  pid: number | undefined;
  stop(): Promise<void>;
}

export interface LocalNodeOptions {
  /**
   * anvil only: mine a block every this many seconds (as well as on each transaction), so that
   * the chain's clock follows the wall clock even when nobody sends anything.
   */
  blockTime?: number;
  /** anvil only, with `blockTime`: transactions are mined at once as well (set-ups stay fast). */
  mixedMining?: boolean;
  /**
   * anvil only: each new block's timestamp is the last one's plus this many seconds
   * (`anvil_setBlockTimestampInterval`), so that with `blockTime: 1` the chain's time runs this
   * many times faster than the wall clock: the core's shortest era (10 minutes) passes in
   * 600 / interval seconds. Everything that places work in eras must then follow the chain's
   * time (lib/chainClock.ts), as the storage node and the validator do.
   */
  timestampInterval?: number;
}

/** Starts `npx hardhat node` or anvil on `port` (20 development accounts) and waits until it answers. */
export async function startNode(
  kind: "hardhat" | "anvil",
  port: number,
  options: LocalNodeOptions = {},
): Promise<LocalNode> {
  const anvilArgs = ["--host", "127.0.0.1", "--port", String(port), "--accounts", "20", "--silent"];
  if (options.blockTime !== undefined) anvilArgs.push("--block-time", String(options.blockTime));
  if (options.mixedMining === true) anvilArgs.push("--mixed-mining");
  const child: ChildProcess =
    kind === "hardhat"
      ? spawn(join(BIN, "hardhat"), ["node", "--hostname", "127.0.0.1", "--port", String(port)], {
          cwd: ROOT,
          stdio: "ignore",
          env: { ...process.env, HARDHAT_DISABLE_TELEMETRY_PROMPT: "true" },
        })
      : spawn(join(BIN, "anvil"), anvilArgs, { cwd: ROOT, stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (!(await answers(url))) {
    if (child.exitCode !== null) throw new Error(`${kind} node exited with ${child.exitCode}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${kind} node did not answer on ${url} within 60 s`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (kind === "anvil" && options.timestampInterval !== undefined) {
    const r = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "anvil_setBlockTimestampInterval",
        params: [options.timestampInterval],
      }),
    });
    const answer = (await r.json()) as { error?: { message: string } };
    if (answer.error !== undefined) {
      child.kill("SIGKILL");
      throw new Error(
        `anvil refused a block timestamp interval of ${options.timestampInterval} s: ${answer.error.message}`,
      );
    }
  }
  return {
    url,
    pid: child.pid,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
