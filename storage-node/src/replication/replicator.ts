import { verifyTypedData, type TypedDataDomain } from "ethers";
import type { ObjectRecord as PortRecord, ReplicaInfo, Replicator } from "../ports";
import { ErrorCode, RECEIPT_TYPES, receiptMessage, type SignedReceipt } from "../protocol";
import type { HintOp } from "../store/meta";
import type { ObjectStore } from "../store/objects";
import { readWhole } from "./local";
import type { ReplicationMetrics } from "./metrics";
import { PeerClient, PeerError, type Row } from "./peers";
import type { ReplicationChain } from "./ports";
import { keyReplicas, keyToken, quorum } from "./ranges";

export interface ReplicaFailure {
  node: number;
  /** The replica's URL, as the chain lists it. */
  url: string;
  reason: string;
}

/**
 * Fewer than a majority of the key's replicas hold the write (503 quorum-failed, naming the
 * replicas that failed and why). The coordinator's copy stays and hints are queued, so the replicas
 * converge when they come back.
 */
export class QuorumFailedError extends Error {
  readonly status = 503;
  readonly code = ErrorCode.QuorumFailed;
  constructor(
    readonly replicas: number,
    readonly needed: number,
    readonly held: number,
    readonly failures: ReplicaFailure[],
  ) {
    super(
      `quorum failed: ${held} of ${replicas} replicas hold it, ${needed} needed; ` +
        failures.map((f) => `node ${f.node}: ${f.reason}`).join("; "),
    );
    this.name = "QuorumFailedError";
  }

  /** What the error body carries besides the message: the failed replicas, structured. */
  get extra(): { replicas: { id: number; url: string; reason: string }[] } {
    return { replicas: this.failures.map((f) => ({ id: f.node, url: f.url, reason: f.reason })) };
  }
}

export interface QuorumReplicatorDeps {
  /** This node's id. */
  self: number;
  store: ObjectStore;
  chain: ReplicationChain;
  peers: PeerClient;
  domain: TypedDataDomain;
  metrics?: ReplicationMetrics;
  /** A hint's first retry comes this long after the failure (ms), then doubling up to `hintMaxBackoffMs`. */
  hintBackoffMs?: number;
  hintMaxBackoffMs?: number;
  /** ms since the epoch. */
  clock?: () => number;
  /** Told of each failed hint delivery (the node logs it). */
  onHintError?: (target: number, reason: string) => void;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; reason: string; hint: boolean };

/**
 * The quorum write. The coordinator (a replica of the key, holding the write already) sends it to
 * the other replicas in parallel, each request bounded by the peer client's timeout, and answers
 * once `floor(n/2)+1` of the key's `n` replicas hold it (itself included) with every receipt it has
 * by then. A replica that fails (down, timed out, refused, or answering a receipt that does not
 * verify) gets a durable hint, delivered by {@link QuorumReplicator.deliverHints}; fewer than a
 * majority is a {@link QuorumFailedError}. Deletes go the same way, as versioned tombstones.
 */
export class QuorumReplicator implements Replicator {
  private readonly backoff: number;
  private readonly maxBackoff: number;
  private readonly clock: () => number;

  constructor(private readonly deps: QuorumReplicatorDeps) {
    this.backoff = deps.hintBackoffMs ?? 1000;
    this.maxBackoff = deps.hintMaxBackoffMs ?? 60_000;
    this.clock = deps.clock ?? Date.now;
  }

  private hint(target: number, w: { bucket: bigint; key: string; version: bigint }, op: HintOp): void {
    this.deps.store.meta.enqueueHint(
      { target, bucket: w.bucket, key: w.key, version: w.version, op },
      this.clock() + this.backoff,
    );
    this.deps.metrics?.hintsQueued.set(this.hintCount());
  }

  hintCount(): number {
    const r = this.deps.store.meta.db.prepare("SELECT COUNT(*) AS n FROM hints").get() as { n: bigint };
    return Number(r.n);
  }

  /** Sends to every other replica; resolves with the successes once a majority holds it. */
  private fanOut<T>(
    others: ReplicaInfo[],
    send: (r: ReplicaInfo) => Promise<Outcome<T>>,
    onFailure: (node: number) => void,
  ): Promise<T[]> {
    const n = others.length + 1;
    const needed = quorum(n);
    const values: T[] = [];
    const failures: ReplicaFailure[] = [];
    return new Promise((resolve, reject) => {
      let settled = false;
      const check = () => {
        if (settled) return;
        if (1 + values.length >= needed) {
          settled = true;
          resolve([...values]);
        } else if (n - failures.length < needed) {
          settled = true;
          this.deps.metrics?.quorumFailures.inc();
          reject(
            new QuorumFailedError(
              n,
              needed,
              1 + values.length,
              [...failures].sort((a, b) => a.node - b.node),
            ),
          );
        }
      };
      check();
      for (const r of others) {
        void send(r)
          .catch((e: unknown): Outcome<T> => ({
            ok: false,
            reason: e instanceof PeerError ? e.reason : (e as Error).message,
            hint: true,
          }))
          .then((o) => {
            if (o.ok) values.push(o.value);
            else {
              failures.push({ node: r.id, url: r.url, reason: o.reason });
              if (o.hint) onFailure(r.id);
            }
            check();
          });
      }
    });
  }

  /** Whether `r` is node `node`'s valid receipt for exactly this row. */
  async verifyReceipt(
    node: number,
    row: Pick<Row, "bucket" | "key" | "version" | "sha256" | "size" | "root">,
    r: SignedReceipt,
  ) {
    if (
      r.node !== node ||
      r.bucket !== row.bucket.toString() ||
      r.key !== row.key ||
      r.version !== row.version.toString() ||
      r.sha256 !== row.sha256 ||
      r.size !== row.size ||
      r.root !== row.root
    )
      return false;
    const info = await this.deps.chain.node(node);
    if (info === undefined) return false;
    try {
      const signer = verifyTypedData(
        this.deps.domain,
        RECEIPT_TYPES as unknown as Record<string, { name: string; type: string }[]>,
        receiptMessage(node, row),
        r.signature,
      );
      return signer.toLowerCase() === info.signingKey.toLowerCase();
    } catch {
      return false;
    }
  }

  async replicateWrite(w: {
    bucket: bigint;
    key: string;
    version: bigint;
    record: PortRecord;
    replicas: ReplicaInfo[];
  }): Promise<SignedReceipt[]> {
    const local = this.deps.store.meta.get(w.bucket, w.key);
    const body =
      local !== undefined && local.version === w.version ? await readWhole(this.deps.store, local) : undefined;
    const row: Row = { ...w.record, token: keyToken(w.key) };
    return this.fanOut<SignedReceipt>(
      w.replicas,
      async (r) => {
        if (body === undefined) return { ok: false, reason: "the local copy is gone (superseded)", hint: false };
        const answer = await this.deps.peers.putReplica(r.id, row, body, this.deps.self, r.url);
        if ("superseded" in answer) return { ok: false, reason: `holds newer version ${answer.version}`, hint: false };
        if (!(await this.verifyReceipt(r.id, row, answer.receipt)))
          return { ok: false, reason: "answered a receipt that does not verify", hint: true };
        return { ok: true, value: answer.receipt };
      },
      (node) => this.hint(node, w, "put"),
    );
  }

  async replicateDelete(d: { bucket: bigint; key: string; version: bigint; replicas: ReplicaInfo[] }): Promise<void> {
    await this.fanOut<number>(
      d.replicas,
      async (r) => {
        const answer = await this.deps.peers.deleteReplica(r.id, d.bucket, d.key, d.version, this.deps.self, r.url);
        if ("superseded" in answer) return { ok: false, reason: `holds newer version ${answer.version}`, hint: false };
        return { ok: true, value: r.id };
      },
      (node) => this.hint(node, d, "delete"),
    );
  }

  /**
   * Delivers the hints that are due: the local row's current state (a later write supersedes the
   * hinted one) to the replica. A hint is done when the replica answers a receipt that verifies, or
   * that it holds something newer; a replica that is no longer one of the key's (the ring changed)
   * is left to repair. Otherwise the hint is retried with exponential backoff.
   */
  async deliverHints(limit = 64): Promise<number> {
    const { store, peers, metrics, chain } = this.deps;
    let delivered = 0;
    for (const h of store.meta.dueHints(this.clock(), limit)) {
      const retry = (reason: string) => {
        this.deps.onHintError?.(h.target, reason);
        store.meta.retryHint(
          h.target,
          h.bucket,
          h.key,
          this.clock() + Math.min(this.backoff * 2 ** (h.attempts + 1), this.maxBackoff),
        );
      };
      const row = store.meta.get(h.bucket, h.key);
      const done = () => store.meta.hintDone(h.target, h.bucket, h.key, row?.version ?? h.version);
      try {
        const bucket = await chain.bucket(h.bucket);
        const cluster = bucket === undefined ? undefined : await chain.cluster(bucket.cluster);
        const replicas = cluster === undefined ? [] : keyReplicas(cluster, h.key);
        // The target, or this node, no longer a replica (the ring changed): repair moves the data.
        if (row === undefined || !replicas.includes(h.target) || !replicas.includes(this.deps.self)) {
          done();
          continue;
        }
        if (row.deleted) {
          await peers.deleteReplica(h.target, h.bucket, h.key, row.version, this.deps.self);
        } else {
          const body = await readWhole(store, row);
          if (body === undefined) {
            retry("the local copy is corrupt or gone");
            continue;
          }
          const answer = await peers.putReplica(h.target, row, body, this.deps.self);
          if ("receipt" in answer && !(await this.verifyReceipt(h.target, row, answer.receipt))) {
            retry("answered a receipt that does not verify");
            continue;
          }
        }
        done();
        delivered++;
        metrics?.hintsDelivered.inc();
      } catch (e) {
        retry(e instanceof PeerError ? e.reason : (e as Error).message);
      }
    }
    metrics?.hintsQueued.set(this.hintCount());
    return delivered;
  }
}

/** Calls `task` every `intervalMs` (never two at once) until stopped. */
export class Periodic {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly task: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Runs the task now (or waits for the run in progress). */
  tick(): Promise<unknown> {
    this.running ??= this.task()
      .catch(this.onError)
      .finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
