import { getAddress, type Provider } from "ethers";
import { getLogsPaged } from "../../governance/dao";
import type { IDDC } from "../../typechain-types";
import type { ChainView } from "./validate";

/**
 * The chain as report validation sees it, read from the core: when an era ends, and the
 * cluster's validator set at that moment (replayed from `ClusterValidatorSet` events, read in
 * pages). Past eras are placed with the current era length: a change of era length re-anchors
 * only future eras, so this is exact for the eras since the last change.
 */
export function coreChainView(
  ddc: IDDC,
  provider: Provider,
  chainId: number,
  options: { fromBlock?: number } = {},
): ChainView {
  const eraOf = async (cluster: number) => {
    try {
      const [[current, start, end], view] = await Promise.all([ddc.clusterEra(cluster), ddc.getCluster(cluster)]);
      return { current: Number(current), start, end, length: BigInt(view.params.eraLength) };
    } catch {
      return undefined;
    }
  };
  const endOf = async (cluster: number, era: number): Promise<bigint | undefined> => {
    const e = await eraOf(cluster);
    if (e === undefined) return undefined;
    return e.end + BigInt(era - e.current) * e.length;
  };
  // The set as of a past era's end never changes: read once (each report of the era asks for it).
  const closed = new Map<string, Set<string>>();
  const now = async () => BigInt((await provider.getBlock("latest"))!.timestamp);
  return {
    chainId,
    core: ddc.target as string,
    eraEnd: endOf,
    now,
    async validatorsAt(cluster, era) {
      const known = closed.get(`${cluster}/${era}`);
      if (known !== undefined) return new Set(known);
      const end = await endOf(cluster, era);
      const set = new Set<string>();
      if (end === undefined) return set;
      const event = ddc.interface.getEvent("ClusterValidatorSet");
      const clusterTopic = "0x" + BigInt(cluster).toString(16).padStart(64, "0");
      const logs = await getLogsPaged(
        provider,
        { address: ddc.target as string, topics: [event.topicHash, clusterTopic] },
        options.fromBlock ?? 0,
        await provider.getBlockNumber(),
      );
      const times = new Map<number, bigint>();
      for (const log of logs) {
        if (!times.has(log.blockNumber))
          times.set(log.blockNumber, BigInt((await provider.getBlock(log.blockNumber))!.timestamp));
        // Changes made before the era's end count; one in the very block that ends it does not.
        if (times.get(log.blockNumber)! >= end) break;
        const e = ddc.interface.decodeEventLog(event, log.data, log.topics);
        const who = getAddress(e.validator as string);
        if (e.enabled as boolean) set.add(who);
        else set.delete(who);
      }
      if ((await now()) >= end) closed.set(`${cluster}/${era}`, new Set(set));
      return set;
    },
  };
}
