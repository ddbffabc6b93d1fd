import type { ObjectStore } from "../store/objects";
import { assignClusters } from "./local";
import type { ReplicationMetrics } from "./metrics";
import { PeerError } from "./peers";
import type { PeerClient } from "./peers";
import type { ReplicationChain } from "./ports";
import { segmentReplicas, segments, storeRange } from "./ranges";
import type { Repairer } from "./repair";

export interface AntiEntropyDeps {
  self: number;
  store: ObjectStore;
  chain: ReplicationChain;
  peers: PeerClient;
  repairer: Repairer;
  clusters(): number[];
  metrics?: ReplicationMetrics;
}

/** What one pass found. */
export interface AntiEntropyRound {
  compared: number;
  differed: number;
  copied: number;
  unreachable: number;
}

/**
 * Anti-entropy: for each span of the ring this node holds, it compares its `rangeDigest` with each
 * other replica's; where they differ it pages the other side's rows and copies what is newer there
 * (last writer wins). Each node runs it, so a difference is closed both ways, each side pulling.
 */
export class AntiEntropy {
  constructor(private readonly deps: AntiEntropyDeps) {}

  async round(): Promise<AntiEntropyRound> {
    const { self, store, chain, peers, repairer, metrics } = this.deps;
    const out: AntiEntropyRound = { compared: 0, differed: 0, copied: 0, unreachable: 0 };
    for (const id of this.deps.clusters()) {
      const cluster = await chain.cluster(id);
      if (cluster === undefined || !cluster.nodes.includes(self)) continue;
      await assignClusters(store, chain);
      for (const range of segments(cluster.ring)) {
        const replicas = segmentReplicas(cluster, range);
        if (!replicas.includes(self)) continue;
        const { from, to } = storeRange(range);
        for (const peer of replicas.filter((n) => n !== self)) {
          let theirs;
          try {
            theirs = await peers.rangeDigest(peer, id, from, to);
          } catch (e) {
            if (!(e instanceof PeerError)) throw e;
            out.unreachable++;
            continue;
          }
          out.compared++;
          if (theirs.digest === store.meta.rangeDigest(from, to, id).digest) continue;
          out.differed++;
          const r = await repairer.pullRange(
            id,
            range,
            peer,
            replicas.filter((n) => n !== self && n !== peer),
          );
          out.copied += r.copied;
          metrics?.antiEntropyRows.inc(r.copied);
        }
      }
    }
    metrics?.antiEntropyRounds.inc();
    return out;
  }
}
