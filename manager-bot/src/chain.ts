import { getAddress, type Provider, type Result } from "ethers";
import { getLogsPaged } from "../../governance/dao";
import type { IDDC } from "../../typechain-types";
import { isRevert } from "./tx";
import type { ChainView } from "./validate";

/**
 * The chain as report validation sees it, read from the core: when an era ends, and the
 * cluster's validator set and members at that moment (replayed from `ClusterValidatorSet`, a
 * handover's `ClusterManagerChanged`, which clears the set, and the membership events, read in
 * pages). Past eras are placed with the current era length: a change of era length re-anchors
 * only future eras, so this is exact for the eras since the last change.
 */
/** How many (cluster, era) sets the view keeps (a long-running bot reads each closed era once or twice). */
const CACHED = 1_024;

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
    } catch (error) {
      // A revert: no such cluster. Anything else (the node away) is not an answer: it propagates,
      // and a report waits instead of being refused.
      if (isRevert(error)) return undefined;
      throw error;
    }
  };
  const endOf = async (cluster: number, era: number): Promise<bigint | undefined> => {
    const e = await eraOf(cluster);
    if (e === undefined) return undefined;
    return e.end + BigInt(era - e.current) * e.length;
  };
  // A set as of a past era's end never changes: read once (each report of the era asks for it).
  const closed = new Map<string, Set<string>>();
  const now = async () => BigInt((await provider.getBlock("latest"))!.timestamp);
  const clusterTopic = (cluster: number) => "0x" + BigInt(cluster).toString(16).padStart(64, "0");
  /**
   * Replays the core's events named `names` of `cluster` in chain order, up to the end of `era`
   * (an event in the very block that ends it does not count), into a set; cached once the era has
   * ended.
   */
  const replay = async (
    key: string,
    cluster: number,
    era: number,
    names: Parameters<IDDC["interface"]["getEvent"]>[0][],
    apply: (set: Set<string>, name: string, args: Result) => void,
  ): Promise<Set<string>> => {
    const known = closed.get(`${key}/${cluster}/${era}`);
    if (known !== undefined) return new Set(known);
    const end = await endOf(cluster, era);
    const set = new Set<string>();
    if (end === undefined) return set;
    const events = names.map((n) => ddc.interface.getEvent(n));
    const latest = (await provider.getBlock("latest"))!;
    const logs = await getLogsPaged(
      provider,
      { address: ddc.target as string, topics: [events.map((e) => e.topicHash), clusterTopic(cluster)] },
      options.fromBlock ?? 0,
      latest.number,
    );
    logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
    const times = new Map<number, bigint>();
    for (const log of logs) {
      if (!times.has(log.blockNumber))
        times.set(log.blockNumber, BigInt((await provider.getBlock(log.blockNumber))!.timestamp));
      if (times.get(log.blockNumber)! >= end) break;
      const event = events.find((e) => e.topicHash === log.topics[0])!;
      apply(set, event.name, ddc.interface.decodeEventLog(event, log.data, log.topics));
    }
    // Final once the logs read reach past the era's end; the oldest entry goes beyond CACHED.
    if (BigInt(latest.timestamp) >= end) {
      closed.set(`${key}/${cluster}/${era}`, new Set(set));
      if (closed.size > CACHED) closed.delete(closed.keys().next().value!);
    }
    return set;
  };
  return {
    chainId,
    core: ddc.target as string,
    eraEnd: endOf,
    now,
    // A new manager starts with no validators: the core keeps them per manager generation.
    validatorsAt: (cluster, era) =>
      replay("validators", cluster, era, ["ClusterValidatorSet", "ClusterManagerChanged"], (set, name, e) => {
        if (name === "ClusterManagerChanged") return set.clear();
        const who = getAddress(e.validator as string);
        if (e.enabled as boolean) set.add(who);
        else set.delete(who);
      }),
    async membersAt(cluster, era) {
      const set = await replay(
        "members",
        cluster,
        era,
        ["ClusterNodeAdded", "ClusterNodeRemoved", "ClusterNodeReplaced"],
        (members, name, e) => {
          if (name === "ClusterNodeAdded") members.add(String(e.node));
          else members.delete(String(e.node));
          if (name === "ClusterNodeReplaced") for (const r of e.replacements as bigint[]) members.add(String(r));
        },
      );
      return [...set].map(Number).sort((a, b) => a - b);
    },
  };
}
