import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");
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
  stop(): Promise<void>;
}

/** Starts `npx hardhat node` or anvil on `port` (20 development accounts) and waits until it answers. */
export async function startNode(kind: "hardhat" | "anvil", port: number): Promise<LocalNode> {
  const child: ChildProcess =
    kind === "hardhat"
      ? spawn(join(BIN, "hardhat"), ["node", "--hostname", "127.0.0.1", "--port", String(port)], {
          cwd: ROOT,
          stdio: "ignore",
          env: { ...process.env, HARDHAT_DISABLE_TELEMETRY_PROMPT: "true" },
        })
      : spawn(join(BIN, "anvil"), ["--host", "127.0.0.1", "--port", String(port), "--accounts", "20", "--silent"], {
          cwd: ROOT,
          stdio: "ignore",
        });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (!(await answers(url))) {
    if (child.exitCode !== null) throw new Error(`${kind} node exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`${kind} node did not answer on ${url}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
