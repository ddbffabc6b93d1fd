import { CLUSTER_PARAMS, exampleFixture, GIB, NODE_PARAMS, USD } from "../helpers/fixtures";

/**
 * The example network plus what a single node's tests need: node 1 registered at `url`, in a new
 * cluster 2 of replication factor 1 holding it alone, and bucket 2 there, funded and allocated
 * (10 units), owned by owner 1.
 */
export async function singleNodeCluster(
  url: string,
): Promise<{ f: Awaited<ReturnType<typeof exampleFixture>>; cluster: bigint; bucket: bigint }> {
  const f = await exampleFixture();
  await f.ddc.connect(f.provider1).nodeChangeParams(1n, { ...NODE_PARAMS, urls: [url] });
  await f.ddc.connect(f.manager).clusterCreate(f.manager.address, { ...CLUSTER_PARAMS, replicationFactor: 1 }, GIB);
  await f.ddc.connect(f.manager).clusterAddNode(2n, 1n, [5n]);
  await f.ddc.connect(f.manager).clusterReserveResource(2n, 100n);
  await f.ddc.connect(f.owner1).bucketCreate(2n, '{"engine":"ddc-storage"}');
  await f.ddc.connect(f.owner1).accountDeposit(2n, 1000n * USD);
  await f.ddc.connect(f.owner1).bucketAllocIntoCluster(2n, 10n);
  return { f, cluster: 2n, bucket: 2n };
}
