import { getAddress, JsonRpcProvider, type Log, type LogDescription, type Provider } from "ethers";
import { IDDC__factory, type IDDC } from "../../typechain-types";
import { getLogsPaged } from "../../lib/logs";
import { redactText, redactUrl } from "../../lib/redact";
import { isRevert, messageOf, withRetry, type RetryOptions } from "../../lib/retry";
import { NodeError } from "./auth/errors";
import { Lru } from "./auth/lru";
import { ErrorCode } from "./protocol";
import type { Ring } from "./placement";

/** A bucket's status (IDDCTypes.BucketStatus). */
export const BucketStatus = { None: 0, Active: 1, InArrears: 2, Suspended: 3, Closed: 4 } as const;
export type BucketStatusValue = (typeof BucketStatus)[keyof typeof BucketStatus];
/** A role on a bucket (IDDCTypes.BucketRole). */
export const BucketRole = { Writer: 0, Reader: 1 } as const;
export type BucketRoleValue = (typeof BucketRole)[keyof typeof BucketRole];

export interface BucketInfo {
  id: bigint;
  owner: string;
  cluster: number;
  status: BucketStatusValue;
  /** The most it may be billed for, in units (0: not billable). */
  cap: bigint;
  closed: boolean;
}

export interface ClusterInfo {
  id: number;
  manager: string;
  replicationFactor: number;
  /** Seconds. */
  eraLength: number;
  /** Bytes per unit. */
  unitSize: bigint;
  /** Its members, in the core's storage order. */
  nodes: number[];
  /** Its vNodes, tokens ascending. */
  ring: Ring;
  validators: string[];
}

export interface NodeInfo {
  id: number;
  provider: string;
  signingKey: string;
  urls: string[];
  engine: string;
  version: string;
}

export interface EraInfo {
  era: number;
  /** Unix seconds. */
  start: number;
  end: number;
}

/** The chain could not be read (the RPC away) and no cached value young enough was at hand: 503. */
export class ChainUnavailableError extends NodeError {
  override name = "ChainUnavailableError";
}

export interface ChainViewOptions {
  provider: Provider;
  /** The core's address (where IDDC answers). */
  core: string;
  /** How long a read of a node, a cluster, a role or an era is kept (ms): 5,000 unless given. */
  ttlMs?: number;
  /** How long a bucket (its status) is kept (ms): at most 5,000, since status moves with time alone. */
  statusTtlMs?: number;
  /** How long after it was read a value may still answer while the RPC fails (ms): 30,000 unless given. */
  staleMs?: number;
  /** How often `start()` polls the core's events (ms): 2,000 unless given. */
  pollMs?: number;
  /** The most values kept: 10,000 unless given. */
  maxEntries?: number;
  /** How a failed read is retried before the RPC counts as unavailable: twice within 300 ms unless given. */
  retry?: RetryOptions;
  /** The RPC's name in errors (the provider's URL, redacted, unless given). */
  rpcName?: string;
  /** The clock, ms (tests). */
  clock?: () => number;
}

interface Entry {
  value?: unknown;
  has: boolean;
  at: number;
  pending?: Promise<unknown>;
}

/** Events whose first argument is a bucket: its view and roles are dropped. */
const BUCKET_ARG = "bucket";
/** Ledger events (owner, cluster): the status of the owner's buckets in the cluster may change. */
const LEDGER_EVENTS = new Set(["Deposited", "Withdrawn", "UnlockRequested", "LedgerSettled"]);
/** Global changes that move every bucket's status. */
const STATUS_EVENTS = new Set(["GracePeriodChanged"]);

const DEFAULT_RETRY: RetryOptions = Object.freeze({ retries: 2, retryBaseMs: 100, retryMaxMs: 200 });

/**
 * The core as a storage node sees it: buckets, roles, clusters, nodes and eras, read through an
 * ethers `Provider`.
 *
 * Reads are cached (`ttlMs`, a bucket's status `statusTtlMs` ≤ 5 s), one read in flight per value
 * however many requests ask, at most `maxEntries` values (least recently used dropped). While
 * started, the core's events are polled from the last block seen and drop what they change at once
 * (a role revoked, a bucket closed, a key rotated…), so the TTL only bounds what time alone changes.
 * When the RPC fails, a value read less than `staleMs` ago still answers; otherwise the read throws
 * {@link ChainUnavailableError} (503, `chain-unavailable`), naming the RPC.
 */
export class ChainView {
  readonly core: string;
  readonly rpcName: string;
  private readonly ddc: IDDC;
  private readonly provider: Provider;
  private readonly ttlMs: number;
  private readonly statusTtlMs: number;
  private readonly staleMs: number;
  private readonly pollMs: number;
  private readonly retry: RetryOptions;
  private readonly clock: () => number;
  private readonly cache: Lru<string, Entry>;
  private lastBlock?: number;
  private timer?: ReturnType<typeof setInterval>;
  private polling?: Promise<number>;
  /** The last failure of a poll, cleared by the next one that succeeds. */
  lastPollError?: Error;

  constructor(options: ChainViewOptions) {
    this.provider = options.provider;
    this.core = getAddress(options.core);
    this.ddc = IDDC__factory.connect(this.core, options.provider);
    this.ttlMs = options.ttlMs ?? 5_000;
    this.statusTtlMs = Math.min(options.statusTtlMs ?? 5_000, 5_000, this.ttlMs);
    this.staleMs = options.staleMs ?? 30_000;
    this.pollMs = options.pollMs ?? 2_000;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.clock = options.clock ?? Date.now;
    this.cache = new Lru(options.maxEntries ?? 10_000);
    this.rpcName = options.rpcName ?? rpcNameOf(options.provider);
  }

  /** A bucket now, undefined if there is no such bucket (closed buckets are returned, `closed` true). */
  bucket(id: bigint): Promise<BucketInfo | undefined> {
    return this.read(`bucket:${id}`, this.statusTtlMs, async () => {
      const b = await this.orUndefined(() => this.ddc.getBucket(id));
      if (b === undefined) return undefined;
      return {
        id: b.id,
        owner: getAddress(b.owner),
        cluster: Number(b.cluster),
        status: Number(b.status) as BucketStatusValue,
        cap: b.cap,
        closed: b.closed,
      };
    });
  }

  /** Whether `account` holds `role` on the bucket (the owner holds both); false for an unknown bucket. */
  hasRole(bucket: bigint, account: string, role: BucketRoleValue): Promise<boolean> {
    const who = getAddress(account);
    return this.read(`role:${bucket}:${who}:${role}`, this.ttlMs, async () => {
      return (await this.orUndefined(() => this.ddc.bucketHasRole(bucket, who, role))) ?? false;
    });
  }

  /** A cluster with its members, its ring (sorted) and its validators; undefined if unknown. */
  cluster(id: number): Promise<ClusterInfo | undefined> {
    return this.read(`cluster:${id}`, this.ttlMs, async () => {
      const got = await this.orUndefined(() =>
        Promise.all([
          this.ddc.getCluster(id),
          this.ddc.clusterNodes(id),
          this.ddc.clusterRing(id),
          this.ddc.clusterValidators(id),
        ]),
      );
      if (got === undefined) return undefined;
      const [c, nodes, [tokens, owners], validators] = got;
      const order = tokens
        .map((_t, i) => i)
        .sort((a, b) => (tokens[a] < tokens[b] ? -1 : tokens[a] > tokens[b] ? 1 : 0));
      return {
        id,
        manager: getAddress(c.manager),
        replicationFactor: Number(c.params.replicationFactor),
        eraLength: Number(c.params.eraLength),
        unitSize: c.unitSize,
        nodes: nodes.map(Number),
        ring: { tokens: order.map((i) => tokens[i]), nodes: order.map((i) => Number(owners[i])) },
        validators: validators.map((v) => getAddress(v)),
      };
    });
  }

  /** A node, undefined if unknown or removed. */
  node(id: number): Promise<NodeInfo | undefined> {
    return this.read(`node:${id}`, this.ttlMs, async () => {
      const n = await this.orUndefined(() => this.ddc.getNode(id));
      if (n === undefined) return undefined;
      return {
        id,
        provider: getAddress(n.provider),
        signingKey: getAddress(n.signingKey),
        urls: [...n.urls],
        engine: n.engine,
        version: n.version,
      };
    });
  }

  /** The node that signs with `key`, undefined if none. */
  nodeByKey(key: string): Promise<number | undefined> {
    const who = getAddress(key);
    return this.read(`nodeByKey:${who}`, this.ttlMs, async () => {
      const id = Number(await this.ddc.nodeByKey(who));
      return id === 0 ? undefined : id;
    });
  }

  /**
   * The cluster's era containing `atSeconds` (now, as the chain's last block says, if omitted):
   * `start ≤ at < end`. Other eras are placed with the current era length from the one the core
   * reports (exact since the last change of era length). Undefined for an unknown cluster.
   */
  async era(cluster: number, atSeconds?: number): Promise<EraInfo | undefined> {
    const current = await this.read(`era:${cluster}`, this.ttlMs, async () => {
      const e = await this.orUndefined(() => this.ddc.clusterEra(cluster));
      return e === undefined ? undefined : { era: Number(e[0]), start: Number(e[1]), end: Number(e[2]) };
    });
    if (current === undefined || atSeconds === undefined) return current;
    const info = await this.cluster(cluster);
    if (info === undefined) return undefined;
    const length = info.eraLength;
    const k = Math.floor((atSeconds - current.start) / length);
    return { era: current.era + k, start: current.start + k * length, end: current.start + (k + 1) * length };
  }

  /** Starts polling the core's events every `pollMs` (from the current block). */
  async start(): Promise<void> {
    if (this.timer !== undefined) return;
    await this.poll().catch(() => undefined); // the first poll sets the block to start from
    this.timer = setInterval(() => void this.poll().catch(() => undefined), this.pollMs);
    this.timer.unref?.();
  }

  /** Stops polling. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Reads the core's events since the last block seen and drops the values they change; returns how
   * many events it read. The first poll only notes the block and drops everything cached (what was
   * read before it is not covered by any poll). Concurrent calls share one poll.
   */
  poll(): Promise<number> {
    this.polling ??= this.pollOnce().finally(() => (this.polling = undefined));
    return this.polling;
  }

  /** The timestamp (Unix seconds) of the latest block a poll saw, if any. */
  latestBlockTime(): number | undefined {
    return this.blockTime;
  }

  private blockTime: number | undefined;

  /** Notes block `n`'s timestamp (one read per new block; a failure keeps the last one). */
  private async noteBlockTime(n: number): Promise<void> {
    try {
      const block = await this.provider.getBlock(n);
      if (block !== null) this.blockTime = block.timestamp;
    } catch {
      // The next poll tries again.
    }
  }

  private async pollOnce(): Promise<number> {
    try {
      const latest = await withRetry(() => this.provider.getBlockNumber(), this.retry);
      if (this.lastBlock === undefined) {
        this.lastBlock = latest;
        this.cache.clear();
        this.lastPollError = undefined;
        await this.noteBlockTime(latest);
        return 0;
      }
      if (latest <= this.lastBlock) return 0;
      const logs = await getLogsPaged(this.provider, { address: this.core }, this.lastBlock + 1, latest);
      for (const log of logs) this.apply(log);
      this.lastBlock = latest;
      await this.noteBlockTime(latest);
      this.lastPollError = undefined;
      return logs.length;
    } catch (error) {
      this.lastPollError = this.unavailable(error);
      throw this.lastPollError;
    }
  }

  /** Drops what one event of the core changes. */
  private apply(log: Log): void {
    let parsed: LogDescription | null;
    try {
      parsed = this.ddc.interface.parseLog(log);
    } catch {
      return;
    }
    if (parsed === null) return;
    const names = parsed.fragment.inputs.map((i) => i.name);
    const arg = (n: string) => parsed.args.getValue(n) as unknown;
    if (names.includes(BUCKET_ARG) && parsed.name.startsWith("Bucket")) {
      const id = String(arg("bucket"));
      this.dropWhere((key) => key === `bucket:${id}` || key.startsWith(`role:${id}:`));
    } else if (LEDGER_EVENTS.has(parsed.name)) {
      const owner = getAddress(String(arg("owner")));
      const cluster = Number(arg("cluster"));
      this.dropBuckets((b) => b.owner === owner && b.cluster === cluster);
    } else if (STATUS_EVENTS.has(parsed.name)) {
      this.dropBuckets(() => true);
    } else if (parsed.name.startsWith("Node")) {
      const id = Number(arg("node"));
      this.dropWhere((key) => key === `node:${id}` || key.startsWith("nodeByKey:"));
    } else if (names.includes("cluster")) {
      // Membership, ring, parameters, validators, manager, price (a bucket's status follows the
      // price), usage reports (billed units): the cluster and its buckets.
      const id = Number(arg("cluster"));
      this.dropWhere((key) => key === `cluster:${id}` || key === `era:${id}`);
      this.dropBuckets((b) => b.cluster === id);
    }
  }

  private dropWhere(match: (key: string) => boolean): void {
    for (const key of [...this.cache.keys()]) if (match(key)) this.cache.delete(key);
  }

  private dropBuckets(match: (b: BucketInfo) => boolean): void {
    for (const [key, entry] of [...this.cache.entries()]) {
      if (!key.startsWith("bucket:")) continue;
      const b = entry.value as BucketInfo | undefined;
      if (!entry.has || b === undefined || match(b)) this.cache.delete(key);
    }
  }

  /**
   * A cached read: fresh within `ttl`; one load in flight per key; on failure a value read within
   * `staleMs` answers, else {@link ChainUnavailableError}. A value dropped by an event while its
   * load was in flight is not stored (its waiters still get it).
   */
  private async read<T>(key: string, ttl: number, load: () => Promise<T>): Promise<T> {
    const now = this.clock();
    const entry = this.cache.get(key);
    if (entry?.has === true && now - entry.at < ttl) return entry.value as T;
    if (entry?.pending !== undefined) return entry.pending as Promise<T>;
    const next: Entry = entry ?? { has: false, at: 0 };
    const pending = (async () => {
      try {
        const value = await withRetry(load, this.retry);
        if (this.cache.peek(key) === next) Object.assign(next, { value, has: true, at: this.clock() });
        return value;
      } catch (error) {
        if (next.has && this.clock() - next.at < this.staleMs) return next.value as T;
        throw this.unavailable(error);
      } finally {
        next.pending = undefined;
      }
    })();
    next.pending = pending;
    this.cache.set(key, next);
    return pending;
  }

  /** The call's result, undefined if the core reverted (an unknown id); a transport failure propagates. */
  private async orUndefined<T>(call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (error) {
      if (isRevert(error)) return undefined;
      throw error;
    }
  }

  private unavailable(error: unknown): NodeError {
    if (error instanceof NodeError) return error;
    return new ChainUnavailableError(
      503,
      ErrorCode.ChainUnavailable,
      `the chain is unavailable: ${this.rpcName} failed: ${redactText(messageOf(error)).split("\n")[0]}`,
      { cause: error },
    );
  }
}

/** A provider's URL, redacted (API keys stay out of errors), or a generic name. */
function rpcNameOf(provider: Provider): string {
  if (provider instanceof JsonRpcProvider) {
    try {
      return `the RPC at ${redactUrl(provider._getConnection().url)}`;
    } catch {
      // fall through
    }
  }
  return "the RPC";
}
