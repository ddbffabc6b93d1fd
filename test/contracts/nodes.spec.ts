import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import type { ContractTransactionResponse } from "ethers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { coreFixture, CLUSTER_PARAMS, GIB, NODE_PARAMS, RENT, type CoreFixture } from "../helpers/fixtures";
import type { IDDC } from "../../typechain-types";

const b32 = ethers.encodeBytes32String;
const MISSING = 99n;

interface Params {
  engine: string;
  version: string;
  urls: string[];
  metadata: string;
}

/** The tuple form of NodeParams, as the event matcher compares it. */
function tuple(p: Params): [string, string, string[], string] {
  return [p.engine, p.version, p.urls, p.metadata];
}

interface NodeFixture extends CoreFixture {
  node: bigint;
}

/** One node of provider 1 (key `nodeKey1`, capacity 1000, rent RENT), in no cluster. */
async function nodeFixture(): Promise<NodeFixture> {
  const f = await coreFixture();
  await f.ddc.connect(f.provider1).nodeCreate(f.nodeKey1.address, 1000n, RENT, NODE_PARAMS);
  return { ...f, node: 1n };
}

interface ClusterFixture extends NodeFixture {
  cluster: bigint;
  node2: bigint;
}

/**
 * Node 1 (provider 1) in cluster 1 with two vNodes and a reservation of 100 units per vNode
 * (200 reserved on the node); node 2 (provider 2, key `nodeKey2`) in no cluster. Nothing allocated.
 */
async function clusterFixture(): Promise<ClusterFixture> {
  const f = await nodeFixture();
  const { ddc, provider1, provider2, manager } = f;
  await ddc.connect(provider2).nodeCreate(f.nodeKey2.address, 1000n, RENT, NODE_PARAMS);
  await ddc.connect(provider1).nodeTrustManager(manager.address);
  await ddc.connect(provider2).nodeTrustManager(manager.address);
  await ddc.connect(manager).clusterCreate(manager.address, CLUSTER_PARAMS, GIB);
  await ddc.connect(manager).clusterAddNode(1n, 1n, [10n, 20n]);
  await ddc.connect(manager).clusterReserveResource(1n, 100n);
  return { ...f, cluster: 1n, node2: 2n };
}

/** The id the next node will get. */
async function nextNodeId(ddc: IDDC): Promise<bigint> {
  return (await ddc.nodeCount()) + 1n;
}

type ProviderCall = (ddc: IDDC, node: bigint, f: NodeFixture) => Promise<ContractTransactionResponse>;

/** The two checks every provider-only function makes: the node exists and the caller provides it. */
function itChecksTheProvider(call: ProviderCall): void {
  it("reverts with NodeNotFound for an unknown node", async function () {
    const f = await loadFixture(nodeFixture);
    await expect(call(f.ddc.connect(f.provider1), MISSING, f))
      .to.be.revertedWithCustomError(f.ddc, "NodeNotFound")
      .withArgs(MISSING);
  });

  it("reverts with NodeNotProvider when the caller is not the node's provider", async function () {
    const f = await loadFixture(nodeFixture);
    await expect(call(f.ddc.connect(f.provider2), f.node, f))
      .to.be.revertedWithCustomError(f.ddc, "NodeNotProvider")
      .withArgs(f.node, f.provider2.address);
  });
}

async function createNode(
  f: CoreFixture,
  provider: HardhatEthersSigner,
  key: string,
  params: Params = NODE_PARAMS,
): Promise<bigint> {
  await f.ddc.connect(provider).nodeCreate(key, 1000n, RENT, params);
  return f.ddc.nodeCount();
}

describe("nodes", function () {
  describe("nodeCreate", function () {
    it("stores the provider, key, capacity, rent, engine, version and urls", async function () {
      const f = await loadFixture(coreFixture);
      const params = {
        engine: "ddc-storage",
        version: "2.1.0-rc.1",
        urls: ["https://a.example:8080", "grpc://b.example:9090", "https://c.example"],
        metadata: '{"region":"eu"}',
      };
      await f.ddc.connect(f.provider1).nodeCreate(f.nodeKey1.address, 4096n, 3n * RENT, params);
      const n = await f.ddc.getNode(1n);
      expect(n.id).to.equal(1n);
      expect(n.provider).to.equal(f.provider1.address);
      expect(n.signingKey).to.equal(f.nodeKey1.address);
      expect(n.capacity).to.equal(4096n);
      expect(n.rent).to.equal(3n * RENT);
      expect(n.reserved).to.equal(0n);
      expect(n.clusterCount).to.equal(0n);
      expect(n.engine).to.equal(params.engine);
      expect(n.version).to.equal(params.version);
      expect(n.urls).to.deep.equal(params.urls);
      expect(await f.ddc.nodeByKey(f.nodeKey1.address)).to.equal(1n);
    });

    it("accepts empty engine, version and urls", async function () {
      const f = await loadFixture(coreFixture);
      await f.ddc.connect(f.provider1).nodeCreate(f.nodeKey1.address, 0n, 0n, {
        engine: "",
        version: "",
        urls: [],
        metadata: "",
      });
      const n = await f.ddc.getNode(1n);
      expect([n.engine, n.version, n.urls.length, n.capacity, n.rent]).to.deep.equal(["", "", 0, 0n, 0n]);
    });

    it("emits NodeCreated with the id, provider, key, capacity, rent and params (metadata included)", async function () {
      const f = await loadFixture(coreFixture);
      const params = { ...NODE_PARAMS, metadata: "rack 7, row 3" };
      await expect(f.ddc.connect(f.provider1).nodeCreate(f.nodeKey1.address, 1000n, RENT, params))
        .to.emit(f.ddc, "NodeCreated")
        .withArgs(1n, f.provider1.address, f.nodeKey1.address, 1000n, RENT, tuple(params));
    });

    it("emits the metadata but does not store it (no length limit, absent from getNode)", async function () {
      const f = await loadFixture(coreFixture);
      const metadata = "m".repeat(2000);
      const tx = await f.ddc
        .connect(f.provider1)
        .nodeCreate(f.nodeKey1.address, 1000n, RENT, { ...NODE_PARAMS, metadata });
      const receipt = await tx.wait();
      const logs = (receipt?.logs ?? []).map((l) => f.ddc.interface.parseLog(l)).filter((l) => l !== null);
      const created = logs.find((l) => l.name === "NodeCreated");
      expect(created?.args.params.metadata).to.equal(metadata);
      const fields = f.ddc.interface.getFunction("getNode")?.outputs[0].components?.map((c) => c.name);
      expect(fields).to.include.members(["engine", "version", "urls"]);
      expect(fields).to.not.include("metadata");
      const n = await f.ddc.getNode(1n);
      expect([n.engine, n.version, ...n.urls]).to.not.include(metadata);
    });

    it("numbers nodes from 1 in creation order, across providers", async function () {
      const f = await loadFixture(coreFixture);
      expect(await f.ddc.nodeCount()).to.equal(0n);
      await expect(f.ddc.connect(f.provider1).nodeCreate(f.nodeKey1.address, 1n, RENT, NODE_PARAMS))
        .to.emit(f.ddc, "NodeCreated")
        .withArgs(1n, f.provider1.address, f.nodeKey1.address, 1n, RENT, tuple(NODE_PARAMS));
      await expect(f.ddc.connect(f.provider2).nodeCreate(f.nodeKey2.address, 2n, RENT, NODE_PARAMS))
        .to.emit(f.ddc, "NodeCreated")
        .withArgs(2n, f.provider2.address, f.nodeKey2.address, 2n, RENT, tuple(NODE_PARAMS));
      await f.ddc.connect(f.provider1).nodeCreate(f.others[0].address, 3n, RENT, NODE_PARAMS);
      expect(await f.ddc.nodeCount()).to.equal(3n);
      expect((await f.ddc.getNode(2n)).provider).to.equal(f.provider2.address);
      expect((await f.ddc.getNode(3n)).capacity).to.equal(3n);
      expect(await f.ddc.nodeByKey(f.others[0].address)).to.equal(3n);
    });

    it("reverts with NodeKeyInUse when another node holds the key", async function () {
      const f = await loadFixture(nodeFixture);
      await expect(f.ddc.connect(f.provider2).nodeCreate(f.nodeKey1.address, 1000n, RENT, NODE_PARAMS))
        .to.be.revertedWithCustomError(f.ddc, "NodeKeyInUse")
        .withArgs(f.nodeKey1.address, f.node);
      await expect(f.ddc.connect(f.provider1).nodeCreate(f.nodeKey1.address, 1000n, RENT, NODE_PARAMS))
        .to.be.revertedWithCustomError(f.ddc, "NodeKeyInUse")
        .withArgs(f.nodeKey1.address, f.node);
      expect(await f.ddc.nodeCount()).to.equal(1n);
    });

    it('reverts with DDCZeroAddress("signingKey") for the zero key', async function () {
      const f = await loadFixture(coreFixture);
      await expect(f.ddc.connect(f.provider1).nodeCreate(ethers.ZeroAddress, 1000n, RENT, NODE_PARAMS))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(b32("signingKey"));
    });

    it("accepts 4 urls and reverts with NodeTooManyUrls at 5", async function () {
      const f = await loadFixture(coreFixture);
      const urls = ["u0", "u1", "u2", "u3", "u4"];
      await expect(f.ddc.connect(f.provider1).nodeCreate(f.nodeKey1.address, 1000n, RENT, { ...NODE_PARAMS, urls }))
        .to.be.revertedWithCustomError(f.ddc, "NodeTooManyUrls")
        .withArgs(5n, 4n);
      await f.ddc
        .connect(f.provider1)
        .nodeCreate(f.nodeKey1.address, 1000n, RENT, { ...NODE_PARAMS, urls: urls.slice(0, 4) });
      expect((await f.ddc.getNode(1n)).urls).to.deep.equal(urls.slice(0, 4));
    });

    it("accepts a 256-byte url and reverts with NodeUrlTooLong (index, length, 256) past it", async function () {
      const f = await loadFixture(coreFixture);
      const ok = "u".repeat(256);
      const long = "v".repeat(257);
      await expect(
        f.ddc
          .connect(f.provider1)
          .nodeCreate(f.nodeKey1.address, 1000n, RENT, { ...NODE_PARAMS, urls: [ok, "x", long] }),
      )
        .to.be.revertedWithCustomError(f.ddc, "NodeUrlTooLong")
        .withArgs(2n, 257n, 256n);
      await f.ddc.connect(f.provider1).nodeCreate(f.nodeKey1.address, 1000n, RENT, { ...NODE_PARAMS, urls: [ok] });
      expect((await f.ddc.getNode(1n)).urls).to.deep.equal([ok]);
    });

    it("accepts a 31-byte engine and reverts with NodeStringTooLong(engine) at 32 bytes", async function () {
      const f = await loadFixture(coreFixture);
      await expect(
        f.ddc
          .connect(f.provider1)
          .nodeCreate(f.nodeKey1.address, 1000n, RENT, { ...NODE_PARAMS, engine: "e".repeat(32) }),
      )
        .to.be.revertedWithCustomError(f.ddc, "NodeStringTooLong")
        .withArgs(b32("engine"), 32n, 31n);
      await f.ddc
        .connect(f.provider1)
        .nodeCreate(f.nodeKey1.address, 1000n, RENT, { ...NODE_PARAMS, engine: "e".repeat(31) });
      expect((await f.ddc.getNode(1n)).engine).to.equal("e".repeat(31));
    });

    it("accepts a 31-byte version and reverts with NodeStringTooLong(version) at 32 bytes", async function () {
      const f = await loadFixture(coreFixture);
      await expect(
        f.ddc
          .connect(f.provider1)
          .nodeCreate(f.nodeKey1.address, 1000n, RENT, { ...NODE_PARAMS, version: "1".repeat(32) }),
      )
        .to.be.revertedWithCustomError(f.ddc, "NodeStringTooLong")
        .withArgs(b32("version"), 32n, 31n);
      await f.ddc
        .connect(f.provider1)
        .nodeCreate(f.nodeKey1.address, 1000n, RENT, { ...NODE_PARAMS, version: "1".repeat(31) });
      expect((await f.ddc.getNode(1n)).version).to.equal("1".repeat(31));
    });

    it("counts the engine's length in bytes, not characters", async function () {
      const f = await loadFixture(coreFixture);
      const engine = "é".repeat(16); // 16 characters, 32 bytes in UTF-8
      await expect(f.ddc.connect(f.provider1).nodeCreate(f.nodeKey1.address, 1000n, RENT, { ...NODE_PARAMS, engine }))
        .to.be.revertedWithCustomError(f.ddc, "NodeStringTooLong")
        .withArgs(b32("engine"), 32n, 31n);
    });

    it("reverts with EnforcedPause while paused, and works again after unpause", async function () {
      const f = await loadFixture(coreFixture);
      await f.core.connect(f.pauser).pause();
      await expect(
        f.ddc.connect(f.provider1).nodeCreate(f.nodeKey1.address, 1000n, RENT, NODE_PARAMS),
      ).to.be.revertedWithCustomError(f.core, "EnforcedPause");
      await f.core.connect(f.pauser).unpause();
      await f.ddc.connect(f.provider1).nodeCreate(f.nodeKey1.address, 1000n, RENT, NODE_PARAMS);
      expect(await f.ddc.nodeCount()).to.equal(1n);
    });
  });

  describe("nodeChangeParams", function () {
    it("replaces engine, version and the whole url list", async function () {
      const f = await loadFixture(coreFixture);
      await f.ddc.connect(f.provider1).nodeCreate(f.nodeKey1.address, 1000n, RENT, {
        ...NODE_PARAMS,
        urls: ["https://old-1", "https://old-2", "https://old-3"],
      });
      const params = { engine: "ddc-v2", version: "2.0.0", urls: ["https://new"], metadata: "moved" };
      await f.ddc.connect(f.provider1).nodeChangeParams(1n, params);
      const n = await f.ddc.getNode(1n);
      expect(n.engine).to.equal("ddc-v2");
      expect(n.version).to.equal("2.0.0");
      expect(n.urls).to.deep.equal(["https://new"]);
      await f.ddc.connect(f.provider1).nodeChangeParams(1n, { ...params, urls: [] });
      expect((await f.ddc.getNode(1n)).urls).to.deep.equal([]);
    });

    it("leaves the key, capacity, rent and id unchanged", async function () {
      const f = await loadFixture(nodeFixture);
      await f.ddc.connect(f.provider1).nodeChangeParams(f.node, { ...NODE_PARAMS, engine: "other" });
      const n = await f.ddc.getNode(f.node);
      expect([n.signingKey, n.capacity, n.rent]).to.deep.equal([f.nodeKey1.address, 1000n, RENT]);
      expect(await f.ddc.nodeByKey(f.nodeKey1.address)).to.equal(f.node);
    });

    it("emits NodeParamsChanged with the new params", async function () {
      const f = await loadFixture(nodeFixture);
      const params = { engine: "x", version: "9", urls: ["a", "b"], metadata: "note" };
      await expect(f.ddc.connect(f.provider1).nodeChangeParams(f.node, params))
        .to.emit(f.ddc, "NodeParamsChanged")
        .withArgs(f.node, tuple(params));
    });

    it("validates like nodeCreate and keeps the old params on a revert", async function () {
      const f = await loadFixture(nodeFixture);
      const ddc = f.ddc.connect(f.provider1);
      await expect(ddc.nodeChangeParams(f.node, { ...NODE_PARAMS, urls: ["1", "2", "3", "4", "5"] }))
        .to.be.revertedWithCustomError(f.ddc, "NodeTooManyUrls")
        .withArgs(5n, 4n);
      await expect(ddc.nodeChangeParams(f.node, { ...NODE_PARAMS, urls: ["ok", "w".repeat(300)] }))
        .to.be.revertedWithCustomError(f.ddc, "NodeUrlTooLong")
        .withArgs(1n, 300n, 256n);
      await expect(ddc.nodeChangeParams(f.node, { ...NODE_PARAMS, version: "v".repeat(40) }))
        .to.be.revertedWithCustomError(f.ddc, "NodeStringTooLong")
        .withArgs(b32("version"), 40n, 31n);
      const n = await f.ddc.getNode(f.node);
      expect([n.engine, n.version, n.urls]).to.deep.equal([NODE_PARAMS.engine, NODE_PARAMS.version, NODE_PARAMS.urls]);
    });

    itChecksTheProvider((ddc, node) => ddc.nodeChangeParams(node, NODE_PARAMS));
  });

  describe("nodeRotateKey", function () {
    it("sets the new key and moves nodeByKey from the old key to the new one", async function () {
      const f = await loadFixture(nodeFixture);
      const newKey = f.nodeKey2.address;
      await f.ddc.connect(f.provider1).nodeRotateKey(f.node, newKey);
      expect((await f.ddc.getNode(f.node)).signingKey).to.equal(newKey);
      expect(await f.ddc.nodeByKey(newKey)).to.equal(f.node);
      expect(await f.ddc.nodeByKey(f.nodeKey1.address)).to.equal(0n);
    });

    it("emits NodeKeyRotated with the old and new keys", async function () {
      const f = await loadFixture(nodeFixture);
      await expect(f.ddc.connect(f.provider1).nodeRotateKey(f.node, f.nodeKey2.address))
        .to.emit(f.ddc, "NodeKeyRotated")
        .withArgs(f.node, f.nodeKey1.address, f.nodeKey2.address);
    });

    it("frees the old key: another node can then be created with it", async function () {
      const f = await loadFixture(nodeFixture);
      await f.ddc.connect(f.provider1).nodeRotateKey(f.node, f.nodeKey2.address);
      const id = await nextNodeId(f.ddc);
      await f.ddc.connect(f.provider2).nodeCreate(f.nodeKey1.address, 1000n, RENT, NODE_PARAMS);
      expect(await f.ddc.nodeByKey(f.nodeKey1.address)).to.equal(id);
      expect(await f.ddc.nodeByKey(f.nodeKey2.address)).to.equal(f.node);
    });

    it("reverts with NodeKeyInUse when another node holds the new key, keeping the old key", async function () {
      const f = await loadFixture(nodeFixture);
      const other = await createNode(f, f.provider2, f.nodeKey2.address);
      await expect(f.ddc.connect(f.provider1).nodeRotateKey(f.node, f.nodeKey2.address))
        .to.be.revertedWithCustomError(f.ddc, "NodeKeyInUse")
        .withArgs(f.nodeKey2.address, other);
      expect((await f.ddc.getNode(f.node)).signingKey).to.equal(f.nodeKey1.address);
      expect(await f.ddc.nodeByKey(f.nodeKey1.address)).to.equal(f.node);
    });

    it("accepts the node's own current key and keeps it mapped", async function () {
      const f = await loadFixture(nodeFixture);
      await expect(f.ddc.connect(f.provider1).nodeRotateKey(f.node, f.nodeKey1.address))
        .to.emit(f.ddc, "NodeKeyRotated")
        .withArgs(f.node, f.nodeKey1.address, f.nodeKey1.address);
      expect(await f.ddc.nodeByKey(f.nodeKey1.address)).to.equal(f.node);
    });

    it('reverts with DDCZeroAddress("signingKey") for the zero key', async function () {
      const f = await loadFixture(nodeFixture);
      await expect(f.ddc.connect(f.provider1).nodeRotateKey(f.node, ethers.ZeroAddress))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(b32("signingKey"));
      expect(await f.ddc.nodeByKey(f.nodeKey1.address)).to.equal(f.node);
    });

    itChecksTheProvider((ddc, node, f) => ddc.nodeRotateKey(node, f.others[5].address));
  });

  describe("nodeChangeRent", function () {
    it("sets the asked rent and emits NodeRentChanged(old, new)", async function () {
      const f = await loadFixture(nodeFixture);
      await expect(f.ddc.connect(f.provider1).nodeChangeRent(f.node, 5n * RENT))
        .to.emit(f.ddc, "NodeRentChanged")
        .withArgs(f.node, RENT, 5n * RENT);
      expect((await f.ddc.getNode(f.node)).rent).to.equal(5n * RENT);
      await expect(f.ddc.connect(f.provider1).nodeChangeRent(f.node, 0n))
        .to.emit(f.ddc, "NodeRentChanged")
        .withArgs(f.node, 5n * RENT, 0n);
      expect((await f.ddc.getNode(f.node)).rent).to.equal(0n);
    });

    it("leaves the rent of the node's clusters and their price unchanged until clusterAcceptNodeRent", async function () {
      const f = await loadFixture(clusterFixture);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(2n * RENT);
      await f.ddc.connect(f.provider1).nodeChangeRent(f.node, 3n * RENT);
      const [, memberRent] = await f.ddc.clusterNodeInfo(f.cluster, f.node);
      expect(memberRent).to.equal(RENT);
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(2n * RENT);

      await f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, f.node);
      const [, accepted] = await f.ddc.clusterNodeInfo(f.cluster, f.node);
      expect(accepted).to.equal(3n * RENT);
      // Nothing is allocated in the cluster: the new price applies at once (2 vNodes × 3 RENT).
      expect((await f.ddc.getCluster(f.cluster)).price).to.equal(6n * RENT);
    });

    itChecksTheProvider((ddc, node) => ddc.nodeChangeRent(node, 2n * RENT));
  });

  describe("nodeChangeCapacity", function () {
    it("raises and lowers the capacity and emits NodeCapacityChanged(old, new)", async function () {
      const f = await loadFixture(nodeFixture);
      await expect(f.ddc.connect(f.provider1).nodeChangeCapacity(f.node, 5000n))
        .to.emit(f.ddc, "NodeCapacityChanged")
        .withArgs(f.node, 1000n, 5000n);
      expect((await f.ddc.getNode(f.node)).capacity).to.equal(5000n);
      await expect(f.ddc.connect(f.provider1).nodeChangeCapacity(f.node, 0n))
        .to.emit(f.ddc, "NodeCapacityChanged")
        .withArgs(f.node, 5000n, 0n);
      expect((await f.ddc.getNode(f.node)).capacity).to.equal(0n);
    });

    it("reverts with NodeCapacityExceeded below what clusters reserved, and accepts exactly that", async function () {
      const f = await loadFixture(clusterFixture);
      expect((await f.ddc.getNode(f.node)).reserved).to.equal(200n);
      await expect(f.ddc.connect(f.provider1).nodeChangeCapacity(f.node, 199n))
        .to.be.revertedWithCustomError(f.ddc, "NodeCapacityExceeded")
        .withArgs(f.node, 199n, 200n);
      await f.ddc.connect(f.provider1).nodeChangeCapacity(f.node, 200n);
      expect((await f.ddc.getNode(f.node)).capacity).to.equal(200n);
    });

    it("can go lower once the reservation is released", async function () {
      const f = await loadFixture(clusterFixture);
      await f.ddc.connect(f.manager).clusterReserveResource(f.cluster, 10n);
      expect((await f.ddc.getNode(f.node)).reserved).to.equal(20n);
      await f.ddc.connect(f.provider1).nodeChangeCapacity(f.node, 20n);
      expect((await f.ddc.getNode(f.node)).capacity).to.equal(20n);
    });

    itChecksTheProvider((ddc, node) => ddc.nodeChangeCapacity(node, 10n));
  });

  describe("nodeRemove", function () {
    it("reverts with NodeInClusters while a cluster holds the node", async function () {
      const f = await loadFixture(clusterFixture);
      await expect(f.ddc.connect(f.provider1).nodeRemove(f.node))
        .to.be.revertedWithCustomError(f.ddc, "NodeInClusters")
        .withArgs(f.node, 1n);
    });

    it("counts every cluster holding the node in NodeInClusters", async function () {
      const f = await loadFixture(clusterFixture);
      await f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
      await f.ddc.connect(f.manager).clusterAddNode(2n, f.node, [1n]);
      await expect(f.ddc.connect(f.provider1).nodeRemove(f.node))
        .to.be.revertedWithCustomError(f.ddc, "NodeInClusters")
        .withArgs(f.node, 2n);
      await f.ddc.connect(f.manager).clusterRemoveNode(f.cluster, f.node);
      await expect(f.ddc.connect(f.provider1).nodeRemove(f.node))
        .to.be.revertedWithCustomError(f.ddc, "NodeInClusters")
        .withArgs(f.node, 1n);
    });

    it("removes the node once the cluster released it, emitting NodeRemoved", async function () {
      const f = await loadFixture(clusterFixture);
      await f.ddc.connect(f.manager).clusterRemoveNode(f.cluster, f.node);
      await expect(f.ddc.connect(f.provider1).nodeRemove(f.node))
        .to.emit(f.ddc, "NodeRemoved")
        .withArgs(f.node, f.provider1.address);
      await expect(f.ddc.getNode(f.node)).to.be.revertedWithCustomError(f.ddc, "NodeNotFound").withArgs(f.node);
    });

    it("frees the key, which a new node can take; ids are not reused", async function () {
      const f = await loadFixture(nodeFixture);
      await f.ddc.connect(f.provider1).nodeRemove(f.node);
      expect(await f.ddc.nodeByKey(f.nodeKey1.address)).to.equal(0n);
      expect(await f.ddc.nodeCount()).to.equal(1n);
      await f.ddc.connect(f.provider2).nodeCreate(f.nodeKey1.address, 1000n, RENT, NODE_PARAMS);
      expect(await f.ddc.nodeByKey(f.nodeKey1.address)).to.equal(2n);
      expect((await f.ddc.getNode(2n)).provider).to.equal(f.provider2.address);
    });

    it("makes every provider-only function revert with NodeNotFound afterwards", async function () {
      const f = await loadFixture(nodeFixture);
      await f.ddc.connect(f.provider1).nodeRemove(f.node);
      const ddc = f.ddc.connect(f.provider1);
      for (const call of [
        () => ddc.nodeRemove(f.node),
        () => ddc.nodeChangeRent(f.node, 1n),
        () => ddc.nodeChangeCapacity(f.node, 1n),
        () => ddc.nodeRotateKey(f.node, f.nodeKey2.address),
        () => ddc.nodeChangeParams(f.node, NODE_PARAMS),
      ]) {
        await expect(call()).to.be.revertedWithCustomError(f.ddc, "NodeNotFound").withArgs(f.node);
      }
    });

    it("leaves a removed node out of clusterAddNode (NodeNotFound)", async function () {
      const f = await loadFixture(clusterFixture);
      await f.ddc.connect(f.provider2).nodeRemove(f.node2);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, f.node2, [99n]))
        .to.be.revertedWithCustomError(f.ddc, "NodeNotFound")
        .withArgs(f.node2);
    });

    itChecksTheProvider((ddc, node) => ddc.nodeRemove(node));
  });

  describe("nodeTrustManager", function () {
    it("makes isManagerTrusted true for this provider only and emits ManagerTrusted", async function () {
      const f = await loadFixture(coreFixture);
      expect(await f.ddc.isManagerTrusted(f.provider1.address, f.manager.address)).to.equal(false);
      await expect(f.ddc.connect(f.provider1).nodeTrustManager(f.manager.address))
        .to.emit(f.ddc, "ManagerTrusted")
        .withArgs(f.provider1.address, f.manager.address);
      expect(await f.ddc.isManagerTrusted(f.provider1.address, f.manager.address)).to.equal(true);
      expect(await f.ddc.isManagerTrusted(f.provider2.address, f.manager.address)).to.equal(false);
      expect(await f.ddc.isManagerTrusted(f.provider1.address, f.stranger.address)).to.equal(false);
    });

    it("lets the manager add the provider's nodes (NodeManagerNotTrusted before)", async function () {
      const f = await loadFixture(nodeFixture);
      await f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
      await expect(f.ddc.connect(f.manager).clusterAddNode(1n, f.node, [1n]))
        .to.be.revertedWithCustomError(f.ddc, "NodeManagerNotTrusted")
        .withArgs(f.node, f.provider1.address, f.manager.address);
      await f.ddc.connect(f.provider1).nodeTrustManager(f.manager.address);
      await f.ddc.connect(f.manager).clusterAddNode(1n, f.node, [1n]);
      expect(await f.ddc.clusterNodes(1n)).to.deep.equal([f.node]);
    });

    it('reverts with DDCZeroAddress("manager") for the zero address', async function () {
      const f = await loadFixture(coreFixture);
      await expect(f.ddc.connect(f.provider1).nodeTrustManager(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(b32("manager"));
    });
  });

  describe("nodeDistrustManager", function () {
    it("makes isManagerTrusted false and emits ManagerDistrusted", async function () {
      const f = await loadFixture(coreFixture);
      await f.ddc.connect(f.provider1).nodeTrustManager(f.manager.address);
      await f.ddc.connect(f.provider2).nodeTrustManager(f.manager.address);
      await expect(f.ddc.connect(f.provider1).nodeDistrustManager(f.manager.address))
        .to.emit(f.ddc, "ManagerDistrusted")
        .withArgs(f.provider1.address, f.manager.address);
      expect(await f.ddc.isManagerTrusted(f.provider1.address, f.manager.address)).to.equal(false);
      expect(await f.ddc.isManagerTrusted(f.provider2.address, f.manager.address)).to.equal(true);
    });

    it("blocks further additions of the provider's nodes but keeps existing memberships", async function () {
      const f = await loadFixture(clusterFixture);
      await f.ddc.connect(f.provider1).nodeCreate(f.others[0].address, 1000n, RENT, NODE_PARAMS);
      await f.ddc.connect(f.provider1).nodeDistrustManager(f.manager.address);
      await expect(f.ddc.connect(f.manager).clusterAddNode(f.cluster, 3n, [77n]))
        .to.be.revertedWithCustomError(f.ddc, "NodeManagerNotTrusted")
        .withArgs(3n, f.provider1.address, f.manager.address);
      expect(await f.ddc.clusterNodes(f.cluster)).to.deep.equal([f.node]);
      expect((await f.ddc.getNode(f.node)).clusterCount).to.equal(1n);
    });

    it('reverts with DDCZeroAddress("manager") for the zero address', async function () {
      const f = await loadFixture(coreFixture);
      await expect(f.ddc.connect(f.provider1).nodeDistrustManager(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(b32("manager"));
    });
  });
});
