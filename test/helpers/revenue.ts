import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { CLUSTER_PARAMS, GIB, MONTH, NODE_PARAMS, RENT, USD, coreFixture, type CoreFixture } from "./fixtures";

export const EVIDENCE = ethers.id("distribution evidence");

export interface RevenueFixture extends CoreFixture {
  cluster: bigint;
  bucket: bigint;
  providers: CoreFixture["provider1"][];
}

/**
 * Three nodes of three providers in one cluster (replication 2): node 1 with one vNode, node 2
 * with two, node 3 with one, all at 1 tUSD, so weights 1:2:1 of a 4 tUSD price. Owner 1 rents 10
 * units for a month, and the month's rent (40 tUSD) is settled into the pool.
 */
export async function revenueFixture(): Promise<RevenueFixture> {
  const f = await coreFixture();
  const providers = [f.provider1, f.provider2, f.others[0]];
  await f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB);
  const tokens = [[1n], [2n, 3n], [4n]];
  for (let i = 0; i < 3; i++) {
    await f.ddc.connect(providers[i]).nodeCreate(ethers.Wallet.createRandom().address, 1000n, RENT, NODE_PARAMS);
    await f.ddc.connect(providers[i]).nodeTrustManager(f.manager.address);
    await f.ddc.connect(f.manager).clusterAddNode(1n, BigInt(i + 1), tokens[i]);
  }
  await f.ddc.connect(f.manager).clusterReserveResource(1n, 100n);
  await f.ddc.connect(f.owner1).bucketCreate(1n, "");
  await f.ddc.connect(f.owner1).accountDeposit(1n, 1000n * USD);
  await f.ddc.connect(f.owner1).bucketAllocIntoCluster(1n, 10n);
  const start = BigInt(await time.latest());
  await time.setNextBlockTimestamp(start + MONTH);
  await f.ddc.bucketSettlePayment(1n, [1n]);
  return { ...f, cluster: 1n, bucket: 1n, providers };
}

/** What every party is owed, which with the pools must cover the core's tokens. */
export async function accounted(f: RevenueFixture): Promise<bigint> {
  let total = (await f.ddc.getCluster(f.cluster)).revenuePool;
  total += (await f.ddc.clusterRevenue(f.cluster)).reserve;
  total += (await f.ddc.getLedger(f.owner1.address, f.cluster)).balance;
  for (const a of [f.feeDestination.address, f.manager.address]) total += await f.ddc.accountBalance(a);
  for (let n = 1n; n <= (await f.ddc.nodeCount()); n++) {
    total += await f.ddc.nodeRevenue(n).catch(() => 0n);
  }
  return total;
}
