import { expect } from "chai";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { JsonRpcProvider } from "ethers";
import { cleanMessage, redactText, redactUrl } from "../../manager-bot/src/redact";

describe("manager bot: secrets kept out of logs", function () {
  it("redacts every URL's path, query and credentials in a text", function () {
    expect(redactUrl("https://mainnet.example/v3/0123abcd")).to.equal("https://mainnet.example/…");
    expect(redactUrl("http://127.0.0.1:8545")).to.equal("http://127.0.0.1:8545");
    expect(
      redactText('server response 401 (requestUrl="https://user:pw@rpc.example/v2/KEY?x=1", code=SERVER_ERROR)'),
    ).to.equal('server response 401 (requestUrl="https://rpc.example/…", code=SERVER_ERROR)');
  });

  it("an ethers error from an RPC URL holding a key loses the key", async function () {
    // A provider's endpoint that refuses the key (HTTP 401): ethers writes the request URL into its message.
    const server = createServer((_req, res) => res.writeHead(401).end("unauthorized"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const provider = new JsonRpcProvider(`http://127.0.0.1:${port}/v3/SECRETKEY`, 31337, { staticNetwork: true });
    const error = await provider.getBlockNumber().then(
      () => undefined,
      (e: unknown) => e,
    );
    provider.destroy();
    server.close();
    expect(error).to.not.equal(undefined);
    expect(String((error as Error).message)).to.include("SECRETKEY");
    expect(cleanMessage(error)).to.not.include("SECRETKEY");
    expect(redactText((error as Error).message)).to.not.include("SECRETKEY");
    expect(cleanMessage(new Error("plain"))).to.equal("plain");
  });
});
