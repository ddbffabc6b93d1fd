import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { ethers, network } from "hardhat";
import pino from "pino";
import { buildProgram } from "../../cli/main";
import { loadConfig } from "../../storage-node/src/config";
import { startStorageNode, type RunningNode } from "../../storage-node/src/main";
import { createStorageClient, StorageClientError, type DdcStorageClient } from "../../storage-node/client/node";
import { exampleFixture, NODE_PARAMS, RENT } from "../helpers/fixtures";
import { singleNodeCluster } from "./singleNode";
import { freePort } from "../helpers/localNode";
import { devKeyOf, tempDir } from "../helpers/temp";

/**
 * The node end to end: started by `startStorageNode` from a configuration file, on the Hardhat
 * network (reached over JSON-RPC, as a node reaches its chain), used through the client and the
 * CLI's `ddc object`.
 */

/** The in-process Hardhat network over HTTP JSON-RPC (the node and the CLI read the chain so). */
async function rpcBridge(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      void (async () => {
        const body = JSON.parse(Buffer.concat(parts).toString("utf8")) as unknown;
        const one = async (r: { id: unknown; method: string; params?: unknown[] }) => {
          try {
            return { jsonrpc: "2.0", id: r.id, result: await network.provider.request(r) };
          } catch (error) {
            const e = error as { code?: number; message: string; data?: unknown };
            return { jsonrpc: "2.0", id: r.id, error: { code: e.code ?? -32603, message: e.message, data: e.data } };
          }
        };
        const out = Array.isArray(body)
          ? await Promise.all(body.map((r) => one(r as never)))
          : await one(body as never);
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(out));
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address() as { port: number };
  return { url: `http://127.0.0.1:${a.port}`, server };
}

describe("storage node end to end: a node from its config file, the client and ddc object", function () {
  this.timeout(300_000);
  const logger = pino({ level: "silent" });
  let f: Awaited<ReturnType<typeof exampleFixture>>;
  let bridge: { url: string; server: Server };
  let node: RunningNode;
  let nodeUrl: string;
  let client: DdcStorageClient;
  let chainId: number;
  const dir = tempDir("e2e");
  const bucket = 2n;

  before(async () => {
    const port = await freePort();
    nodeUrl = `http://127.0.0.1:${port}`;
    // Node 1 registered at the URL it serves; a cluster of node 1 alone (one replica per key)
    // holding bucket 2, with a deposit.
    ({ f } = await singleNodeCluster(nodeUrl));
    chainId = Number((await ethers.provider.getNetwork()).chainId);

    bridge = await rpcBridge();
    const file = join(dir, "node.json");
    writeFileSync(
      file,
      JSON.stringify(
        {
          chain: { rpcUrl: bridge.url, core: f.coreAddress },
          node: {
            key: { env: "DDC_NODE_KEY" },
            url: nodeUrl,
            capacity: "1000",
            rent: RENT.toString(),
            version: NODE_PARAMS.version,
          },
          data: { dir: "./data", blobs: { kind: "fs" } },
          // The Hardhat chain's time runs ahead of the clock (other tests move it): no clock check.
          server: { host: "127.0.0.1", port, clockCheck: false },
          ops: { host: "127.0.0.1", port: 0 },
          scrub: { intervalS: 3600 },
          log: { level: "silent" },
        },
        null,
        2,
      ),
    );
    const env = { DDC_NODE_KEY: devKeyOf(f.nodeKey1.address) };
    node = await startStorageNode(loadConfig(file, env), { env, logger });
    client = createStorageClient({ provider: ethers.provider, signer: f.owner1, chainId, core: f.coreAddress });
  });

  after(async () => {
    await node?.close();
    await new Promise((r) => bridge?.server.close(r));
  });

  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

  it("puts, gets, heads, lists and removes objects; a range; the content type kept", async () => {
    expect(node.url).to.equal(nodeUrl);
    const body = randomBytes(300_000);
    const put = await client.put(bucket, "photos/cat.jpg", body, { contentType: "image/jpeg" });
    expect(put).to.include({ key: "photos/cat.jpg", sha256: sha(body), size: body.length });
    expect(put.receipts.map((r) => r.node)).to.deep.equal([1]);
    await client.put(bucket, "photos/dog.jpg", Buffer.from("woof"));
    await client.put(bucket, "notes.txt", Buffer.from("hello"), { contentType: "text/plain" });
    expect(Buffer.from(await client.get(bucket, "photos/cat.jpg")).equals(body)).to.equal(true);
    const range = await client.get(bucket, "photos/cat.jpg", { range: { start: 70_000, end: 200_000 } });
    expect(Buffer.from(range).equals(body.subarray(70_000, 200_001))).to.equal(true);
    const head = await client.head(bucket, "photos/cat.jpg");
    expect(head).to.include({ key: "photos/cat.jpg", size: body.length, sha256: sha(body), contentType: "image/jpeg" });
    expect((await client.head(bucket, "photos/dog.jpg")).contentType).to.equal("application/octet-stream");
    const keys: string[] = [];
    for await (const page of client.list(bucket, { prefix: "photos/" })) keys.push(...page.objects.map((o) => o.key));
    expect(keys).to.deep.equal(["photos/cat.jpg", "photos/dog.jpg"]);
    expect(await client.remove(bucket, "photos/dog.jpg")).to.deep.equal({ key: "photos/dog.jpg", parts: 0 });
    const gone = await client.get(bucket, "photos/dog.jpg").catch((e: unknown) => e);
    expect(gone).to.be.instanceOf(StorageClientError);
    expect((gone as StorageClientError).message).to.include(nodeUrl);
    expect((gone as StorageClientError).code).to.equal("not-found");
    expect((gone as StorageClientError).status).to.equal(404);
  });

  it("splits a 70 MiB object into parts behind a manifest, and reads it back whole and by range", async () => {
    const big = randomBytes(70 * 1024 * 1024);
    const put = await client.put(bucket, "movie.mkv", big);
    expect(put.parts).to.have.length(2);
    const head = await client.head(bucket, "movie.mkv");
    expect(head).to.include({ size: big.length, sha256: sha(big), parts: 2 });
    expect(head.contentType).to.equal("application/vnd.ddc.manifest+json");
    const back = await client.get(bucket, "movie.mkv");
    expect(Buffer.from(back).equals(big)).to.equal(true);
    const start = 64 * 1024 * 1024 - 10;
    const cut = await client.get(bucket, "movie.mkv", { range: { start, end: start + 99 } });
    expect(Buffer.from(cut).equals(big.subarray(start, start + 100))).to.equal(true);
    expect(await client.remove(bucket, "movie.mkv")).to.deep.equal({ key: "movie.mkv", parts: 2 });
  });

  it("names the node in an error the node answers: forbidden to an account without a role", async () => {
    const stranger = createStorageClient({
      provider: ethers.provider,
      signer: f.stranger,
      chainId,
      core: f.coreAddress,
    });
    const e = (await stranger.put(bucket, "x", Buffer.from("x")).catch((x: unknown) => x)) as StorageClientError;
    expect(e).to.be.instanceOf(StorageClientError);
    expect(e.code).to.equal("forbidden");
    expect(e.status).to.equal(403);
    expect(e.node).to.equal(nodeUrl);
    expect(e.message).to.include(nodeUrl);
  });

  it("ddc object put, get and ls through the CLI against the node", async () => {
    const record = join(dir, "deployment.json");
    // `ddc object` reads the core and the payment token; the governance contracts are not deployed
    // in this fixture and not used by it (the record names the core in their place).
    writeFileSync(
      record,
      JSON.stringify({
        chainId,
        block: 0,
        contracts: {
          DDCCore: f.coreAddress,
          PaymentToken: await f.token.getAddress(),
          DDCGovernor: f.coreAddress,
          DDCGovernanceToken: f.coreAddress,
          TimelockController: f.coreAddress,
        },
        parameters: {},
      }),
    );
    const input = join(dir, "in.txt");
    const output = join(dir, "out.txt");
    writeFileSync(input, "from the command line\n");
    const ddc = async (...args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const log = console.log;
      const error = console.error;
      const write = process.stderr.write.bind(process.stderr);
      console.log = (...a: unknown[]) => void out.push(a.join(" "));
      console.error = (...a: unknown[]) => void err.push(a.join(" "));
      process.stderr.write = ((s: string) => err.push(String(s)) > 0) as typeof process.stderr.write;
      const saved = process.env.DDC_PRIVATE_KEY;
      process.env.DDC_PRIVATE_KEY = devKeyOf(f.owner1.address);
      process.exitCode = undefined;
      try {
        await buildProgram().parseAsync(["node", "ddc", "--deployment", record, "--rpc", bridge.url, ...args]);
      } finally {
        console.log = log;
        console.error = error;
        process.stderr.write = write;
        process.env.DDC_PRIVATE_KEY = saved;
      }
      const code = process.exitCode ?? 0;
      process.exitCode = undefined;
      return { code, stdout: out.join("\n"), stderr: err.join("") };
    };
    const put = await ddc("object", "put", "2", "cli/in.txt", input, "--content-type", "text/plain");
    expect(put.code, put.stderr).to.equal(0);
    expect(put.stdout)
      .to.include("22 bytes")
      .and.include(sha(Buffer.from("from the command line\n")));
    const get = await ddc("object", "get", "2", "cli/in.txt", output);
    expect(get.code, get.stderr).to.equal(0);
    expect(readFileSync(output, "utf8")).to.equal("from the command line\n");
    const ls = await ddc("--json", "object", "ls", "2", "--prefix", "cli/");
    expect(ls.code, ls.stderr).to.equal(0);
    expect(ls.stdout).to.include('"cli/in.txt"');
    const missing = await ddc("object", "get", "2", "cli/nope", output);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.include(nodeUrl);
  });
});
