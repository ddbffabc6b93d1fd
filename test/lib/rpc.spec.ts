import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { ethers } from "hardhat";
import { RpcUnavailableError, connectRpc, rpcChainId } from "../../lib/rpc";
import { freePort } from "../helpers/localNode";

describe("lib/rpc", () => {
  it("a node that is away, one that is not an RPC node, one that never answers: named errors, at once", async () => {
    const port = await freePort();
    const away = await rpcChainId(`http://user:secret@127.0.0.1:${port}`).catch((e: Error) => e);
    expect(away).to.be.instanceOf(RpcUnavailableError);
    expect((away as Error).message).to.match(
      new RegExp(`^cannot reach the RPC node at http://127\\.0\\.0\\.1:${port}\\S*: ECONNREFUSED$`),
    );
    expect((away as Error).message).to.not.include("secret");
    const html = createServer((_req, res) => res.end("<html>hello</html>"));
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => html.listen(0, "127.0.0.1", r));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    try {
      const notRpc = await rpcChainId(`http://127.0.0.1:${(html.address() as AddressInfo).port}`).catch(
        (e: Error) => e,
      );
      expect((notRpc as Error).message).to.match(/did not answer eth_chainId with a chain id$/);
      const started = Date.now();
      const slow = await rpcChainId(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, 300).catch(
        (e: Error) => e,
      );
      expect((slow as Error).message).to.match(/: no answer within 300 ms$/);
      expect(Date.now() - started).to.be.below(2_000);
    } finally {
      html.close();
      silent.closeAllConnections();
      silent.close();
    }
  });

  it("connectRpc: a provider on the node's network, read once", async () => {
    const { chainId } = await ethers.provider.getNetwork();
    const port = await freePort();
    // The in-process Hardhat network over HTTP.
    const server = createServer(async (req, res) => {
      let body = "";
      for await (const chunk of req) body += chunk;
      const q = JSON.parse(body) as { id: number; method: string; params: unknown[] };
      const result: unknown = await ethers.provider.send(q.method, q.params);
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ jsonrpc: "2.0", id: q.id, result }));
    });
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    try {
      const provider = await connectRpc(`http://127.0.0.1:${port}`);
      expect((await provider.getNetwork()).chainId).to.equal(chainId);
      expect(await provider.getBlockNumber()).to.equal(await ethers.provider.getBlockNumber());
      provider.destroy();
    } finally {
      server.close();
    }
  });
});
