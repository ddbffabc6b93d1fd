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

  private async flushNow(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
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
