import type { Provider } from "ethers";

/**
 * The chain's time, read continuously: the latest block's timestamp, carried forward by the wall
 * clock since that block was seen (so never ahead of the chain by more than the time since its
 * last block).
 *
 * Eras are the chain's (the core's era view): whoever places work in eras (a storage node's usage
 * records, a validator's probes and challenges) must follow the chain's time, not its own clock.
 * On a live chain the two agree within a block; on a local chain whose time runs faster than the
 * wall clock (anvil with a block timestamp interval, so that eras of ten minutes pass in seconds)
 * only the chain's time is right. `now()` never goes backwards.
 */
export class ChainClock {
  private anchor: { chainMs: number; wallMs: number } | undefined;
  private last = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private sampling: Promise<void> | undefined;
  /** The last failure to read the chain, cleared by the next success. */
  lastError: Error | undefined;

  constructor(
    private readonly provider: Pick<Provider, "getBlock">,
    /** How often the latest block is read (ms). */
    private readonly pollMs = 500,
  ) {}

  /** Reads the chain once (throws if it cannot), then keeps reading it every `pollMs`. */
  async start(): Promise<void> {
    await this.sample();
    if (this.lastError !== undefined) throw this.lastError;
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.sample(), this.pollMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The chain's time now, ms since the epoch (the wall clock until the chain was read once). */
  now(): number {
    const a = this.anchor;
    const t = a === undefined ? Date.now() : a.chainMs + (Date.now() - a.wallMs);
    this.last = Math.max(this.last, Math.floor(t));
    return this.last;
  }

  /** Resolves once the chain's time has moved `ms` on, or at once when `signal` aborts. */
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    const target = this.now() + ms;
    while (signal?.aborted !== true) {
      const left = target - this.now();
      if (left <= 0) return;
      await wallSleep(Math.max(5, Math.min(this.pollMs, left)), signal);
    }
  }

  private sample(): Promise<void> {
    this.sampling ??= (async () => {
      try {
        const block = await this.provider.getBlock("latest");
        if (block === null) throw new Error("the RPC node has no latest block");
        const wallMs = Date.now();
        const chainMs = block.timestamp * 1000;
        if (this.anchor === undefined || chainMs > this.anchor.chainMs) this.anchor = { chainMs, wallMs };
        this.lastError = undefined;
      } catch (error) {
        this.lastError = error as Error;
      } finally {
        this.sampling = undefined;
      }
    })();
    return this.sampling;
  }
}

/** Resolves after `ms` of the wall clock, or at once when `signal` aborts (or has). */
export function wallSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const t = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
