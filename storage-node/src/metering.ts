import type { NodeChain, NodeStore } from "./ports";

interface Pending {
  /** When the first request counted here was served (ms): its era is the era of these figures. */
  at: number;
  servedBytes: number;
  requests: number;
}

/**
 * Served bytes and requests per bucket per era. Counting is in memory (a request does no
 * database write); the figures go to the store every `flushMs`, when a bucket's era ends, and
 * before a usage record is made. A bucket's era bounds are cached: the first request after its
 * era's end writes the previous era's figures and snapshots its stored bytes (`onEraEnd`).
 */
export class Metering {
  private pending = new Map<bigint, Pending>();
  private eras = new Map<bigint, { era: number; end: number }>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** The era each cluster was in at the last check (see checkEras). */
  private clusterEras = new Map<number, number>();
  /** Called once per (bucket, era) when the node sees the era ended. */
  onEraEnd: (bucket: bigint, era: number) => void = () => {};

  constructor(
    private readonly store: NodeStore,
    private readonly chain: NodeChain,
    private readonly clock: () => number,
    flushMs: number,
    private readonly onError: (e: unknown) => void,
  ) {
    if (flushMs > 0) {
      this.timer = setInterval(() => void this.flush(), flushMs);
      this.timer.unref();
    }
  }

  /** One request on `bucket` that sent `bytes`. */
  count(bucket: bigint, bytes: number): void {
    const now = this.clock();
    const known = this.eras.get(bucket);
    if (known !== undefined && now >= known.end * 1000) {
      // The era ended since: its figures go out first, then a fresh count begins.
      void this.flush();
    }
    let p = this.pending.get(bucket);
    if (p === undefined) {
      p = { at: now, servedBytes: 0, requests: 0 };
      this.pending.set(bucket, p);
    }
    p.servedBytes += bytes;
    p.requests += 1;
  }

  /** Writes the counts to the store, each under the era it was counted in. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushNow()).catch(this.onError);
    return this.flushing;
  }

  /**
   * Snapshots, at each era's end, every bucket this node holds of that cluster (the first check
   * after the end: the flush timer's period). An era that ended while the node was down has no
   * snapshot: its usage record is refused rather than made up.
   */
  private async checkEras(): Promise<void> {
    const now = Math.floor(this.clock() / 1000);
    const byCluster = new Map<number, bigint[]>();
    for (const bucket of this.store.buckets()) {
      const cluster = await this.chain.bucketCluster(bucket).catch(() => undefined);
      if (cluster === undefined) continue;
      byCluster.set(cluster, [...(byCluster.get(cluster) ?? []), bucket]);
    }
    for (const [cluster, buckets] of byCluster) {
      const era = (await this.chain.era(cluster, now)).era;
      const seen = this.clusterEras.get(cluster);
      if (seen !== undefined && era > seen) for (const bucket of buckets) this.onEraEnd(bucket, seen);
      this.clusterEras.set(cluster, era);
    }
  }

  private async flushNow(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    try {
      await this.write(batch);
    } catch (error) {
      // Nothing counted is lost: what was not written goes back, merged with what came meanwhile.
      for (const [bucket, p] of batch) {
        const q = this.pending.get(bucket);
        if (q === undefined) this.pending.set(bucket, p);
        else
          this.pending.set(bucket, {
            at: Math.min(p.at, q.at),
            servedBytes: p.servedBytes + q.servedBytes,
            requests: p.requests + q.requests,
          });
      }
      throw error;
    }
    await this.checkEras();
  }

  /** Writes `batch`, removing each bucket from it once written. */
  private async write(batch: Map<bigint, Pending>): Promise<void> {
    const now = this.clock();
    for (const [bucket, known] of this.eras) {
      if (now >= known.end * 1000 && !batch.has(bucket)) {
        this.eras.delete(bucket);
        this.onEraEnd(bucket, known.era);
      }
    }
    for (const [bucket, p] of batch) {
      const cluster = await this.chain.bucketCluster(bucket);
      const era = await this.chain.era(cluster, Math.floor(p.at / 1000));
      this.store.addUsage(bucket, era.era, p.servedBytes, p.requests);
      batch.delete(bucket);
      const before = this.eras.get(bucket);
      if (before !== undefined && before.era !== era.era) this.onEraEnd(bucket, before.era);
      if (now >= era.end * 1000) {
        this.onEraEnd(bucket, era.era);
        this.eras.delete(bucket);
      } else {
        this.eras.set(bucket, { era: era.era, end: era.end });
      }
    }
  }

  /** Stops the timer and writes what is counted. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
