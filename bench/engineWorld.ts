import { JsonRpcProvider, MaxUint256, NonceManager, type HDNodeWallet, type Signer } from "ethers";
import { DAY, DEFAULT_CLUSTER_PARAMS, deployCore, deployTestStablecoin } from "../deploy/core";
import { freePort, startNode, type LocalNode } from "../test/helpers/localNode";
import { devAccount } from "../test/helpers/temp";

/**
 * The chain the engine bench's node runs against: anvil on a loopback port, the core deployed with
 * the project's deploy code (deploy/core.ts), one provider's node in a cluster of its own
 * (replication 1, so that the node alone holds every object), and one owner's bucket with a
 * deposit and units allocated.
 */
export interface EngineWorld {
  chain: LocalNode;
  rpcUrl: string;
  chainId: number;
  core: string;
  lens: string;
  cluster: bigint;
  nodeId: number;
  bucket: bigint;
  /** The node's registered signing key (development account 3). */
  nodeKey: HDNodeWallet;
  /** The bucket's owner (development account 4): signs the app session. */
  owner: HDNodeWallet;
}

const USD = 1_000_000n;
const GIB = 1n << 30n;

/** Waits for a transaction sent by a contract call. */
async function sent(tx: Promise<{ wait(): Promise<unknown> }>): Promise<void> {
  await (await tx).wait();
}

export async function startEngineWorld(nodeUrl: string): Promise<EngineWorld> {
  const chain = await startNode("anvil", await freePort());
  try {
    const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const chainId = Number((await provider.getNetwork()).chainId);
    const account = (i: number): Signer => new NonceManager(devAccount(i, provider));
    const [deployer, provider1, manager] = [account(0), account(1), account(2)];
    const nodeKey = devAccount(3, provider);
    const owner = devAccount(4, provider);
    const ownerSigner = new NonceManager(owner);

    const token = await deployTestStablecoin(deployer);
    const { ddc, lens } = await deployCore(deployer, {
      token: await token.getAddress(),
      admin: await deployer.getAddress(),
      parameters: {
        networkFeeBps: 500,
        feeDestination: await deployer.getAddress(),
        unlockDelay: 7 * DAY,
        gracePeriod: 7 * DAY,
      },
    });
    const core = await ddc.getAddress();
    await sent(token.mint(owner.address, 1_000_000n * USD));
    await sent(token.connect(ownerSigner).approve(core, MaxUint256));

    const nodeId = Number((await ddc.nodeCount()) + 1n);
    await sent(
      ddc.connect(provider1).nodeCreate(nodeKey.address, 1000n, 1n * USD, {
        engine: "ddc-storage",
        version: "1.0.0",
        urls: [nodeUrl],
        metadata: "the engine bench's node",
      }),
    );
    await sent(ddc.connect(provider1).nodeTrustManager(await manager.getAddress()));
    const cluster = (await ddc.clusterCount()) + 1n;
    await sent(
      ddc
        .connect(manager)
        .clusterCreate(await manager.getAddress(), { ...DEFAULT_CLUSTER_PARAMS, replicationFactor: 1 }, GIB),
    );
    await sent(ddc.connect(manager).clusterAddNode(cluster, nodeId, [0n]));
    await sent(ddc.connect(manager).clusterReserveResource(cluster, 100n));
    const bucket = (await ddc.bucketCount()) + 1n;
    await sent(ddc.connect(ownerSigner).bucketCreate(cluster, '{"engine":"ddc-storage"}'));
    await sent(ddc.connect(ownerSigner).accountDeposit(cluster, 1000n * USD));
    await sent(ddc.connect(ownerSigner).bucketAllocIntoCluster(bucket, 10n));
    return {
      chain,
      rpcUrl: chain.url,
      chainId,
      core,
      lens: await lens.getAddress(),
      cluster,
      nodeId,
      bucket,
      nodeKey,
      owner,
    };
  } catch (error) {
    await chain.stop();
    throw error;
  }
}
