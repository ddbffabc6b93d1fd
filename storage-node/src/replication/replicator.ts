import { verifyTypedData } from "ethers";
import { ErrorCode, RECEIPT_TYPES, type ErrorBody, type SignedReceipt } from "../protocol";
import type { ReplicationMetrics } from "./metrics";
import { PeerClient, PeerError, type ReplicaAnswer } from "./peers";
import type { ClusterSource, Hint, ReplicaMeta, ReplicaStore } from "./ports";
import { keyToken, quorum, replicasFor } from "./ring";

/** A write the coordinator stored locally and now sends to the other replicas. */
export interface ReplicatedWrite {
  bucket: string;
  key: string;
  version: bigint;
  sha256: string;
  size: number;
  root: string;
  body: Buffer;
}

export interface ReplicatedDelete {
  bucket: string;
  key: string;
  version: bigint;
}

/** The seam the server calls after storing a write or tombstone locally. */
export interface Replicator {
  /** The other replicas' receipts once a majority hold the write; throws {@link QuorumFailedError}. */
  replicateWrite(w: ReplicatedWrite): Promise<SignedReceipt[]>;
  /** Resolves once a majority hold the tombstone; throws {@link QuorumFailedError}. */
  replicateDelete(d: ReplicatedDelete): Promise<void>;
}

export interface ReplicaFailure {
  node: number;
  reason: string;
}

/** Fewer than a majority of the key's replicas hold the write; the local copy stays and hints are queued. */
export class QuorumFailedError extends Error {
  readonly status = 503;
  constructor(
    readonly replicas: number[],
    readonly needed: number,
    readonly held: number,
    readonly failures: ReplicaFailure[],
    readonly receipts: SignedReceipt[],
  ) {
    super(
      `quorum failed: ${held} of ${replicas.length} replicas hold it, ${needed} needed; ` +
        failures.map((f) => `node ${f.node}: ${f.reason}`).join("; "),
    );
  }

  body(self: number): ErrorBody & { failures: ReplicaFailure[]; receipts: SignedReceipt[] } {
    return {
      error: { code: ErrorCode.QuorumFailed, message: this.message, node: String(self) },
      failures: this.failures,
      receipts: this.receipts,
    };
  }
}

export interface ReplicatorDeps {
  self: number;
  store: ReplicaStore;
  chain: ClusterSource;
  peers: PeerClient;
  domain: import("ethers").TypedDataDomain;
  metrics?: ReplicationMetrics;
  /** First retry of a hint after this long (ms), doubling up to {@link hintMaxBackoffMs}. */
  hintBackoffMs?: number;
  hintMaxBackoffMs?: number;
  now?: () => number;
}

/**
 * The quorum write: the coordinator (itself a replica of the key, holding the write already) sends
 * it to the other replicas in parallel, each with the peer client's timeout, and answers once
 * `floor(n/2)+1` of the key's `n` replicas hold it, itself included. Every replica that did not
 * acknowledge gets a durable hint, delivered later by {@link HintDelivery}.
 */
export class QuorumReplicator implements Replicator {
  private readonly backoff: number;
  private readonly now: () => number;

  constructor(private readonly deps: ReplicatorDeps) {
    this.backoff = deps.hintBackoffMs ?? 1000;
    this.now = deps.now ?? Date.now;
  }

  private async replicasOf(bucket: string, key: string): Promise<number[]> {
    const info = await this.deps.chain.cluster(await this.deps.chain.bucketCluster(bucket));
    return replicasFor(info.ring, info.replicationFactor, bucket, key);
  }

  private hint(target: number, w: { bucket: string; key: string; version: bigint }, op: Hint["op"], reason: string) {
    this.deps.store.hints.enqueue(
      { target, bucket: w.bucket, key: w.key, version: w.version, op, lastError: reason },
      this.now() + this.backoff,
    );
    this.deps.metrics?.hintsQueued.set(this.deps.store.hints.size());
  }

  private fanOut<T>(
    replicas: number[],
    send: (node: number) => Promise<{ ok: true; value: T } | { ok: false; reason: string; hint: boolean }>,
    onFailure: (node: number, reason: string) => void,
  ): Promise<T[]> {
    const self = this.deps.self;
    const others = replicas.filter((n) => n !== self);
    const needed = quorum(replicas.length);
    const local = replicas.includes(self) ? 1 : 0;
    const values: T[] = [];
    const failures: ReplicaFailure[] = [];
    return new Promise((resolve, reject) => {
      let settled = false;
      const check = () => {
        if (settled) return;
        if (local + values.length >= needed) {
          settled = true;
          resolve([...values]);
        } else if (local + others.length - failures.length < needed) {
          settled = true;
          this.deps.metrics?.quorumFailures.inc();
          reject(
            new QuorumFailedError(
              replicas,
              needed,
              local + values.length,
              [...failures],
              values.filter((v): v is T & SignedReceipt => typeof v === "object"),
            ),
          );
        }
      };
      check();
      for (const node of others) {
        send(node)
          .catch((e: unknown) => ({
            ok: false as const,
            reason: e instanceof PeerError ? e.reason : String((e as Error).message ?? e),
            hint: true,
          }))
          .then((r) => {
            if (r.ok) values.push(r.value);
            else {
              failures.push({ node, reason: r.reason });
              if (r.hint) onFailure(node, r.reason);
            }
            check();
          });
      }
    });
  }

  /** Whether a peer's answer is a valid receipt for exactly this write from that node. */
  async checkReceipt(node: number, w: Omit<ReplicaMeta, "token" | "deleted" | "root">, r: SignedReceipt) {
    if (
      r.node !== node ||
      r.bucket !== w.bucket ||
      r.key !== w.key ||
      r.version !== w.version.toString() ||
      r.sha256 !== w.sha256 ||
      r.size !== w.size
    )
      return false;
    try {
      const signer = verifyTypedData(
        this.deps.domain,
        RECEIPT_TYPES as unknown as Record<string, { name: string; type: string }[]>,
        { node, bucket: w.bucket, key: w.key, version: w.version, sha256: "0x" + w.sha256, size: w.size },
        r.signature,
      );
      const info = await this.deps.chain.node(node);
      return signer.toLowerCase() === info.signingKey.toLowerCase();
    } catch {
      return false;
    }
  }

  async replicateWrite(w: ReplicatedWrite): Promise<SignedReceipt[]> {
    const replicas = await this.replicasOf(w.bucket, w.key);
    const meta: ReplicaMeta = { ...w, token: keyToken(w.bucket, w.key), deleted: false };
    return this.fanOut<SignedReceipt>(
      replicas,
      async (node) => {
        const answer: ReplicaAnswer = await this.deps.peers.putReplica(node, meta, w.body, this.deps.self);
        if ("superseded" in answer)
          return { ok: false, reason: `holds a newer version ${answer.version}`, hint: false };
        if (!(await this.checkReceipt(node, w, answer.receipt)))
          return { ok: false, reason: "answered a receipt that does not verify", hint: true };
        return { ok: true, value: answer.receipt };
      },
      (node, reason) => this.hint(node, w, "put", reason),
    );
  }

  async replicateDelete(d: ReplicatedDelete): Promise<void> {
    const replicas = await this.replicasOf(d.bucket, d.key);
    await this.fanOut<number>(
      replicas,
      async (node) => {
        const answer = await this.deps.peers.deleteReplica(node, d.bucket, d.key, d.version, this.deps.self);
        if ("superseded" in answer)
          return { ok: false, reason: `holds a newer version ${answer.version}`, hint: false };
        return { ok: true, value: node };
      },
      (node, reason) => this.hint(node, d, "delete", reason),
    );
  }

  /**
   * Delivers the hints that are due: the local row's current state (a later write supersedes the
   * hinted one) to the replica. A hint is done when the replica answers its receipt (or that it
   * holds something newer); otherwise it is retried with exponential backoff.
   */
  async deliverHints(limit = 64): Promise<number> {
    const { store, peers, metrics } = this.deps;
    let delivered = 0;
    for (const h of store.hints.due(this.now(), limit)) {
      const retry = (reason: string) =>
        store.hints.retry(
          h.id,
          this.now() + Math.min(this.backoff * 2 ** (h.attempts + 1), this.deps.hintMaxBackoffMs ?? 60_000),
          reason,
        );
      const meta = store.get(h.bucket, h.key);
      if (!meta) {
        store.hints.done(h.id);
        continue;
      }
      try {
        if (!(await this.replicasOf(h.bucket, h.key)).includes(h.target)) {
          // No longer a replica under the current ring: repair moves the data to the new owners.
          store.hints.done(h.id);
          continue;
        }
        if (meta.deleted) {
          await peers.deleteReplica(h.target, h.bucket, h.key, meta.version, this.deps.self);
        } else {
          const body = await store.readBlob(meta.sha256);
          if (!body) {
            retry("the local copy is missing or quarantined");
            continue;
          }
          const answer = await peers.putReplica(h.target, meta, body, this.deps.self);
          if ("receipt" in answer && !(await this.checkReceipt(h.target, meta, answer.receipt))) {
            retry("answered a receipt that does not verify");
            continue;
          }
        }
        store.hints.done(h.id);
        delivered++;
        metrics?.hintsDelivered.inc();
      } catch (e) {
        retry(e instanceof PeerError ? e.reason : String((e as Error).message));
      }
    }
    metrics?.hintsQueued.set(store.hints.size());
    return delivered;
  }
}

/** Runs {@link QuorumReplicator.deliverHints} every `intervalMs` until stopped. */
export class HintDelivery {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly replicator: QuorumReplicator,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      this.running ??= this.replicator
        .deliverHints()
        .catch(() => 0)
        .finally(() => (this.running = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
