import { getAddress, type Provider } from "ethers";
import type { SystemDeployment } from "../../deploy/system";
import { TestStablecoin__factory } from "../../typechain-types";

/** Every token the core holds, and whom it is owed to. */
export interface Conservation {
  core: bigint;
  ledgers: bigint;
  pools: bigint;
  reserves: bigint;
  unclaimed: bigint;
  feeBalances: bigint;
  dust: bigint;
  /** The most rounding may leave: two units per distribution and one per membership sync. */
  bound: bigint;
  holds: boolean;
}

/**
 * Every token the core holds is owed to someone: the owners' ledgers in the clusters, the revenue
 * pools, the reserves, the nodes' unclaimed revenue and the fee balances (the fee destination's and
 * each cluster's manager's), plus rounding dust: less than one unit per membership sync (each
 * exclusion, and each member whose weight an executed replacement changed) and two per
 * distribution.
 */
export async function conservation(
  system: SystemDeployment,
  provider: Provider,
  parties: { clusters: number[]; owners: string[]; nodes: number[] },
  story: { distributions: { ineligible: number[] }[]; replacementsExecuted: number },
): Promise<Conservation> {
  const { ddc } = system;
  const core = await TestStablecoin__factory.connect(system.paymentToken, provider).balanceOf(await ddc.getAddress());
  let ledgers = 0n;
  let pools = 0n;
  let reserves = 0n;
  const feeHolders = new Set<string>([getAddress((await ddc.globalParams()).feeDestination)]);
  let members = 0;
  for (const c of parties.clusters) {
    for (const o of parties.owners) ledgers += (await ddc.getLedger(o, c)).balance;
    const view = await ddc.getCluster(c);
    pools += view.revenuePool;
    reserves += (await ddc.clusterRevenue(c)).reserve;
    feeHolders.add(getAddress(view.manager));
    members = Math.max(members, Number(view.nodeCount));
  }
  let unclaimed = 0n;
  for (const n of parties.nodes) unclaimed += await ddc.nodeRevenue(n);
  let feeBalances = 0n;
  for (const a of feeHolders) feeBalances += await ddc.accountBalance(a);
  const dust = core - ledgers - pools - reserves - unclaimed - feeBalances;
  const syncs =
    story.distributions.reduce((n, d) => n + d.ineligible.length, 0) + story.replacementsExecuted * (members + 1);
  const bound = BigInt(2 * story.distributions.length + syncs);
  return { core, ledgers, pools, reserves, unclaimed, feeBalances, dust, bound, holds: dust >= 0n && dust <= bound };
}
