import { getAddress, type Provider, type Result } from "ethers";
import { getLogsPaged } from "../../governance/dao";
import type { IDDC } from "../../typechain-types";
import { READ_RETRY, withRetry } from "../../lib/retry";
import { isRevert } from "./tx";
import type { ChainView, EraParams } from "./validate";

/** A read of the chain, retried when it failed for a transient reason (the node away a moment, a rate limit). */
const read = <T>(fn: () => Promise<T>): Promise<T> => withRetry(fn, READ_RETRY);

/** How many (cluster, era) states the view keeps (a long-running bot reads each closed era once or twice). */
const CACHED = 1_024;
/** Bucket ids read per call of the core's `clusterBuckets` index. */
export const BUCKET_PAGE = 5_000;

/** The chain view of the core: everything an era's decision, and its verification, read from the chain. */
export type CoreChainView = ChainView & Required<Pick<ChainView, "membersAt" | "paramsAt" | "foreignBuckets">>;

/**
 * The chain as report validation, the bot's decisions and `verify` see it, read from the core:
 * when an era ends, and as of that moment the cluster's validator set, its members and its
 * parameters (replayed from `ClusterValidatorSet`, a handover's `ClusterManagerChanged`, which
 * clears the set, the membership events, `ClusterCreated` and `ClusterParamsChanged`, read in
 * pages); and which buckets are the cluster's (its bucket index). Past eras are placed with the
 * current era length: a change of era length re-anchors only future eras, so this is exact for
 * the eras since the last change.
 */
export function coreChainView(
  ddc: IDDC,
  provider: Provider,
  chainId: number,
  options: { fromBlock?: number; bucketPage?: number } = {},
): CoreChainView {
  const eraOf = async (cluster: number) => {
    try {
      const [[current, start, end], view] = await read(() =>
        Promise.all([ddc.clusterEra(cluster), ddc.getCluster(cluster)]),
      );
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
  // A state as of a past era's end never changes: read once (each report of the era asks for it).
  const closed = new Map<string, unknown>();
  const now = async () => BigInt((await read(() => provider.getBlock("latest")))!.timestamp);
  const clusterTopic = (cluster: number) => "0x" + BigInt(cluster).toString(16).padStart(64, "0");
  /**
   * Replays the core's events named `names` of `cluster` in chain order, up to the end of `era`
   * (an event in the very block that ends it does not count), into a state from `initial`; cached
   * (a copy handed out each time) once the era has ended. Undefined for an unknown cluster.
   */
  const replay = async <T>(
    key: string,
    cluster: number,
    era: number,
    names: Parameters<IDDC["interface"]["getEvent"]>[0][],
    initial: () => T,
    apply: (state: T, name: string, args: Result) => void,
    copy: (state: T) => T,
  ): Promise<T | undefined> => {
    const known = closed.get(`${key}/${cluster}/${era}`) as T | undefined;
    if (known !== undefined) return copy(known);
    const end = await endOf(cluster, era);
    if (end === undefined) return undefined;
    const state = initial();
    const events = names.map((n) => ddc.interface.getEvent(n));
    const latest = (await read(() => provider.getBlock("latest")))!;
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
        times.set(log.blockNumber, BigInt((await read(() => provider.getBlock(log.blockNumber)))!.timestamp));
      if (times.get(log.blockNumber)! >= end) break;
      const event = events.find((e) => e.topicHash === log.topics[0])!;
      apply(state, event.name, ddc.interface.decodeEventLog(event, log.data, log.topics));
    }
    // Final once the logs read reach past the era's end; the oldest entry goes beyond CACHED.
    if (BigInt(latest.timestamp) >= end) {
      closed.set(`${key}/${cluster}/${era}`, copy(state));
      if (closed.size > CACHED) closed.delete(closed.keys().next().value!);
    }
    return state;
  };
  const newSet = () => new Set<string>();
  const copySet = (set: Set<string>) => new Set(set);
  return {
    chainId,
    core: ddc.target as string,
    eraEnd: endOf,
    now,
    // A new manager starts with no validators: the core keeps them per manager generation.
    validatorsAt: async (cluster, era) =>
      (await replay(
        "validators",
        cluster,
        era,
        ["ClusterValidatorSet", "ClusterManagerChanged"],
        newSet,
        (set, name, e) => {
          if (name === "ClusterManagerChanged") return set.clear();
          const who = getAddress(e.validator as string);
          if (e.enabled as boolean) set.add(who);
          else set.delete(who);
        },
        copySet,
      )) ?? new Set(),
    async membersAt(cluster, era) {
      const set = await replay(
        "members",
        cluster,
        era,
        ["ClusterNodeAdded", "ClusterNodeRemoved", "ClusterNodeReplaced"],
        newSet,
        (members, name, e) => {
          if (name === "ClusterNodeAdded") members.add(String(e.node));
          else members.delete(String(e.node));
          if (name === "ClusterNodeReplaced") for (const r of e.replacements as bigint[]) members.add(String(r));
        },
        copySet,
      );
      return [...(set ?? [])].map(Number).sort((a, b) => a - b);
    },
    // The unit size is set at creation; the threshold and the replication factor by each change.
    async paramsAt(cluster, era) {
      const state = await replay(
        "params",
        cluster,
        era,
        ["ClusterCreated", "ClusterParamsChanged"],
        (): { params?: EraParams } => ({}),
        (state, name, e) => {
          const p = e.params as { qosThreshold: bigint; replicationFactor: bigint };
          const unitSize = name === "ClusterCreated" ? (e.unitSize as bigint) : state.params?.unitSize;
          if (unitSize === undefined) return;
          state.params = {
            qosThreshold: Number(p.qosThreshold),
            replicationFactor: Number(p.replicationFactor),
            unitSize,
          };
        },
        (state) => ({ ...state }),
      );
      if (state === undefined) return undefined;
      if (state.params === undefined) {
        throw new Error(
          `cluster ${cluster}'s creation is not in the core's logs read from block ${options.fromBlock ?? 0}: ` +
            `its parameters at the end of era ${era} are unknown`,
        );
      }
      return state.params;
    },
    // Through the cluster's own bucket index, in pages: a bucket's cluster never changes, and the
    // pages of a cluster of 100,000 buckets are 20 calls, whatever the era measured.
    async foreignBuckets(cluster, buckets) {
      const wanted = new Set(buckets);
      const found = new Set<number>();
      let from = 0n;
      while (found.size < wanted.size) {
        const [page, total] = await read(() => ddc.clusterBuckets(cluster, from, options.bucketPage ?? BUCKET_PAGE));
        for (const id of page) if (wanted.has(Number(id))) found.add(Number(id));
        from += BigInt(page.length);
        if (page.length === 0 || from >= total) break;
      }
      return [...wanted].filter((b) => !found.has(b)).sort((a, b) => a - b);
    },
  };
}
