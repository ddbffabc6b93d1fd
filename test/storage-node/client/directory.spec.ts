import { expect } from "chai";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { ethers } from "hardhat";
import { ChainDirectory, replicasFor } from "../../../storage-node/client/node";
import { exampleFixture } from "../../helpers/fixtures";

describe("storage-node client: the chain directory", function () {
  it("reads the bucket's cluster from the core and places keys as DDCLens.nodesForKey", async function () {
    const f = await loadFixture(exampleFixture);
    await f.ddc.connect(f.provider1).nodeChangeParams(f.node1, {
      engine: "ddc-storage",
      version: "1",
      urls: ["http://127.0.0.1:9101"],
      metadata: "",
    });
    const directory = new ChainDirectory(ethers.provider, f.coreAddress);
    const map = await directory.forBucket(f.bucket);
    expect(map.cluster).to.equal(Number(f.cluster));
    expect(map.replicationFactor).to.equal(Number((await f.ddc.getCluster(f.cluster)).params.replicationFactor));
    expect(map.distinctNodes).to.equal(2);
    expect(map.ring.tokens).to.deep.equal([0n, 1n << 62n, 2n << 62n, 3n << 62n]);
    expect(map.ring.nodes).to.deep.equal([1, 2, 1, 2]);
    expect(map.nodes.get(1)).to.deep.equal({ id: 1, url: "http://127.0.0.1:9101", signingKey: f.nodeKey1.address });
    expect(map.nodes.get(2)).to.deep.equal({ id: 2, url: "https://node.example:8080", signingKey: f.nodeKey2.address });
    for (const key of ["a", "photos/cat.jpg", "é/ü", "k".repeat(300)]) {
      const onChain = (await f.lens.nodesForKey(f.cluster, ethers.toUtf8Bytes(key))).map(Number);
      expect(replicasFor(map.ring, map.replicationFactor, map.distinctNodes, key)).to.deep.equal(onChain);
    }
  });

  it("re-reads the cluster on refresh (a node's new URL)", async function () {
    const f = await loadFixture(exampleFixture);
    const directory = new ChainDirectory(ethers.provider, f.coreAddress);
    expect((await directory.forBucket(f.bucket)).nodes.get(2)!.url).to.equal("https://node.example:8080");
    await f.ddc.connect(f.provider2).nodeChangeParams(f.node2, {
      engine: "ddc-storage",
      version: "1",
      urls: ["http://127.0.0.1:9202"],
      metadata: "",
    });
    expect((await directory.forBucket(f.bucket)).nodes.get(2)!.url).to.equal("https://node.example:8080");
    expect((await directory.forBucket(f.bucket, { refresh: true })).nodes.get(2)!.url).to.equal(
      "http://127.0.0.1:9202",
    );
  });

  it("fails on an unknown bucket", async function () {
    const f = await loadFixture(exampleFixture);
    const directory = new ChainDirectory(ethers.provider, f.coreAddress);
    const err = (await directory.forBucket(99n).catch((e: unknown) => e)) as Error;
    expect(err).to.be.instanceOf(Error);
    expect(err.message).to.contain("reverted with custom error 'BucketNotFound(99)'");
  });
});
