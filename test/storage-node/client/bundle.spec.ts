import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { Wallet } from "ethers";
import { storageDomain } from "../../../storage-node/src/protocol";
import { tempDir } from "../../helpers/temp";
import type * as ClientModule from "../../../storage-node/client/index";
import { formatSize, parseRange } from "../../../cli/commands/object";
import { startFakeNode, type FakeNode } from "./fakeNode";

const ROOT = join(__dirname, "..", "..", "..");
// TypeScript compiles `import()` to `require()` under CommonJS; an ES module needs the real one.
const importEsm = new Function("url", "return import(url)") as (url: string) => Promise<typeof ClientModule>;

describe("storage-node client: the browser bundle", function () {
  this.timeout(120_000);
  let node: FakeNode;

  after(async function () {
    await node?.close();
  });

  it("builds for the browser without Node built-ins and works in Node with the global fetch", async function () {
    const outfile = join(tempDir("client-bundle"), "ddc-client.browser.mjs");
    // The same options as `npm run build:client`.
    await build({
      entryPoints: [join(ROOT, "storage-node", "client", "index.ts")],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      minify: true,
      outfile,
      logLevel: "silent",
    });
    const text = readFileSync(outfile, "utf8");
    const builtins =
      /(?:from|import\(|require\()\s*["'](?:node:[a-z_/]+|fs|crypto|path|http|https|net|stream|buffer|os|url|zlib)["']/g;
    expect(text.match(builtins)).to.equal(null);
    expect(text).to.not.contain("process.versions");

    const mod = await importEsm(pathToFileURL(outfile).href);
    expect(typeof mod.BrowserProvider).to.equal("function");
    const chainId = 31337;
    const core = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    node = await startFakeNode(1, storageDomain(chainId, core));
    const c = new mod.DdcStorageClient({
      directory: new mod.StaticDirectory({
        cluster: 1,
        replicationFactor: 1,
        distinctNodes: 1,
        ring: { tokens: [0n], nodes: [1] },
        nodes: new Map([[1, { id: 1, url: node.url, signingKey: node.key.address }]]),
      }),
      signer: Wallet.createRandom(),
      chainId,
      core,
    });
    const data = new TextEncoder().encode("from the bundle");
    const r = await c.put(3n, "b/k.txt", data);
    expect(r.receipts.map((x) => x.node)).to.deep.equal([1]);
    expect(new TextDecoder().decode(await c.get(3n, "b/k.txt"))).to.equal("from the bundle");
    node.behaviour = "corrupt";
    const err = (await c.get(3n, "b/k.txt").catch((e: unknown) => e)) as { code: string; node: string };
    expect([err.code, err.node]).to.deep.equal(["corrupt-data", node.url]);
  });
});

describe("ddc object: argument helpers", function () {
  it("formats sizes", function () {
    expect(formatSize(0)).to.equal("0 bytes");
    expect(formatSize(1023)).to.equal("1023 bytes");
    expect(formatSize(1536)).to.equal("1.5 KiB (1536 bytes)");
    expect(formatSize(64 * 1024 * 1024)).to.equal("64 MiB (67108864 bytes)");
  });

  it("parses ranges and refuses bad ones", function () {
    expect(parseRange("0-99")).to.deep.equal({ start: 0, end: 99 });
    expect(parseRange("100-")).to.deep.equal({ start: 100, end: undefined });
    expect(() => parseRange("9-1")).to.throw('--range ends before it starts: "9-1"');
    expect(() => parseRange("a-b")).to.throw("--range must be <first byte>-<last byte>");
  });
});
