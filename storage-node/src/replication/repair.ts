import type { ClusterInfo } from "../chain";
import { inRange, type Ring, type TokenRange } from "../placement";
import { maxAcceptedVersion, parseVersion } from "../protocol";
import { wins } from "../store/meta";
import type { ObjectStore } from "../store/objects";
import { putBody, readBlob, rootOf } from "./local";
import type { ReplicationMetrics } from "./metrics";
import { PeerClient, PeerError, type Row } from "./peers";
import type { ReplicationChain } from "./ports";
import { keyReplicas, keyToken, segmentReplicas, segments, storeRange } from "./ranges";

export interface RepairDeps {
  self: number;
  store: ObjectStore;
  chain: ReplicationChain;
  peers: PeerClient;
  metrics?: ReplicationMetrics;
  /** Rows asked per page. */
  pageSize?: number;
  /** A failed quarantine repair is retried after this long (ms), doubling up to a minute. */
  retryMs?: number;
  clock?: () => number;
  /** Told of each source that failed or lied (logged by the node). */
  onSourceError?: (node: number, reason: string) => void;
}

/** What one pull of a range did. */
export interface PullResult {
  /** Whether every page of the source was read. */
  complete: boolean;
  rows: number;
  copied: number;
  /** Rows refused for their version: past 63 bits, or too far ahead of this node's clock. */
  refused: number;
  failedSources: { node: number; reason: string }[];
}

/**
 * Repair: copies rows and blobs from other replicas into this node.
 *
 * - After a ring change ({@link onRingChange}): for each span this node holds under the new ring and
 *   did not hold under the old one, it pages the rows from the span's previous holders (then the
 *   current ones) and copies what is newer than what it has (last writer wins), fetching the blobs
 *   it lacks; each blob must hash to the row's SHA-256 and its leaves to the row's Merkle root, or
 *   it is refused and the next source tried.
 * - Quarantined blobs (the store's repairs queue, {@link repairQuarantined}): the object is fetched
 *   again from another replica, checked the same way.
 */
export class Repairer {
  private readonly pageSize: number;
  private readonly clock: () => number;
  /** Ranges waiting for a pull (the repair queue, with the store's quarantine repairs). */
  pendingRanges = 0;

  constructor(private readonly deps: RepairDeps) {
    this.pageSize = deps.pageSize ?? 500;
    this.clock = deps.clock ?? Date.now;
  }

  /** Quarantine repairs queued plus ranges waiting. */
  queueLength(): number {
    const r = this.deps.store.meta.db.prepare("SELECT COUNT(*) AS n FROM repairs").get() as { n: bigint };
    return Number(r.n) + this.pendingRanges;
  }

  private gauge(): void {
    this.deps.metrics?.repairQueue.set(this.queueLength());
  }

  /**
   * The spans (cut at the tokens of both rings) this node holds under `after` and not under
   * `before`, with the nodes to pull each from: its holders under `before`, then under `after`.
   */
  gained(before: Pick<ClusterInfo, "ring" | "replicationFactor" | "nodes">, after: ClusterInfo) {
    const out: { range: TokenRange; sources: number[] }[] = [];
    const self = this.deps.self;
    const cuts = before.ring.tokens.length === 0 ? segments(after.ring) : segments(before.ring, after.ring);
    for (const range of cuts) {
      const now = segmentReplicas(after, range);
      if (!now.includes(self)) continue;
      const then = before.ring.tokens.length === 0 ? [] : segmentReplicas(before, range);
      if (then.includes(self)) continue;
      const sources = [...then, ...now].filter((n, i, all) => n !== self && all.indexOf(n) === i);
      out.push({ range, sources });
    }
    return out;
  }

  /**
   * Pulls every span this node gained when the cluster's ring went from `before` to `after`, from
   * each of its sources. `unserved` counts the spans no source answered in full (none was reachable).
   */
  async onRingChange(before: Pick<ClusterInfo, "ring" | "replicationFactor" | "nodes">, after: ClusterInfo) {
    const work = this.gained(before, after);
    this.pendingRanges += work.length;
    this.gauge();
    let copied = 0;
    let unserved = 0;
    let left = work.length;
    const failures: { node: number; reason: string }[] = [];
    try {
      for (const w of work) {
        let served = false;
        for (const source of w.sources) {
          const r = await this.pullRange(after.id, w.range, source, w.sources);
          copied += r.copied;
          failures.push(...r.failedSources);
          served ||= r.complete;
        }
        if (!served) unserved++;
        left--;
        this.pendingRanges--;
        this.gauge();
      }
    } finally {
      this.pendingRanges -= left;
    }
    return { ranges: work.length, copied, unserved, failures };
  }

  /**
   * Pages the rows of `range` on `source` and copies what is newer there. Blobs come from `source`
   * first, then the other `fallbacks`.
   */
  async pullRange(cluster: number, range: TokenRange, source: number, fallbacks: number[] = []): Promise<PullResult> {
    const { from, to } = storeRange(range);
    const result: PullResult = { complete: false, rows: 0, copied: 0, refused: 0, failedSources: [] };
    const buckets = new Map<bigint, boolean>();
    let after: string | undefined;
    try {
      do {
        const page = await this.deps.peers.rangePage(source, cluster, from, to, after, this.pageSize);
        const limit = maxAcceptedVersion(this.clock());
        for (const row of page.rows) {
          result.rows++;
          // A version past 63 bits or ahead of this node's clock would pin the key: refused, counted, reported.
          if (parseVersion(row.version.toString()) === undefined || row.version > limit) {
            result.refused++;
            this.deps.metrics?.rowsRefused.inc();
            this.deps.onSourceError?.(
              source,
              `sent row "${row.key}" of bucket ${row.bucket} at version ${row.version}, above ${limit}: refused`,
            );
            continue;
          }
          // A row must be what it says: its token is its key's, inside the range, of a bucket of this cluster.
          if (row.token !== keyToken(row.key) || !inRange(row.token, range)) continue;
          if (!buckets.has(row.bucket))
            buckets.set(row.bucket, (await this.deps.chain.bucket(row.bucket))?.cluster === cluster);
          if (!buckets.get(row.bucket)) continue;
          if (await this.copyRow(row, cluster, [source, ...fallbacks.filter((n) => n !== source)], result))
            result.copied++;
        }
        after = page.next;
      } while (after !== undefined);
      result.complete = true;
    } catch (e) {
      const reason = e instanceof PeerError ? e.reason : (e as Error).message;
      result.failedSources.push({ node: source, reason });
      this.deps.onSourceError?.(source, reason);
    }
    return result;
  }

  /** Copies one row if it is newer than the local one; its blob from the first source that sends it intact. */
  private async copyRow(row: Row, cluster: number, sources: number[], result: PullResult): Promise<boolean> {
    const { store, metrics } = this.deps;
    const local = store.meta.get(row.bucket, row.key);
    if (local !== undefined && !wins(row, local)) return false;
    if (row.deleted) {
      await store.delete(row.bucket, row.key, row.token, row.version, cluster);
      metrics?.objectsRepaired.inc();
      return true;
    }
    const body = (await readBlob(store, row.sha256)) ?? (await this.fetchBlob(row, sources, result));
    if (body === undefined) return false;
    await putBody(store, row, body, cluster);
    metrics?.objectsRepaired.inc();
    return true;
  }

  /** The row's content from the first source whose bytes match its SHA-256, size and Merkle root. */
  private async fetchBlob(
    row: Pick<Row, "bucket" | "key" | "sha256" | "size" | "root">,
    sources: number[],
    result?: PullResult,
  ): Promise<Buffer | undefined> {
    for (const node of sources) {
      try {
        const bytes = await this.deps.peers.blob(node, row);
        if (bytes.length !== row.size || rootOf(bytes) !== row.root)
          throw new PeerError(node, `sent blob ${row.sha256} whose leaves do not match its root`);
        return bytes;
      } catch (e) {
        const reason = e instanceof PeerError ? e.reason : (e as Error).message;
        this.deps.metrics?.repairFailures.inc();
        result?.failedSources.push({ node, reason });
        this.deps.onSourceError?.(node, reason);
      }
    }
    return undefined;
  }

  /**
   * Works the store's repairs queue: for each quarantined object still current, fetches its content
   * from another replica (checked against the row's SHA-256 and root) and stores it again; a repair
   * that finds no intact copy is retried later.
   */
  async repairQuarantined(limit = 32): Promise<number> {
    const { store, chain } = this.deps;
    let repaired = 0;
    for (const t of store.meta.dueRepairs(this.clock(), limit)) {
      const row = store.meta.get(t.bucket, t.key);
      if (row === undefined || row.deleted || row.sha256 !== t.sha256) {
        store.meta.repairDone(t.bucket, t.key); // superseded since
        continue;
      }
      let sources: number[] = [];
      const bucket = await chain.bucket(t.bucket).catch(() => undefined);
      const cluster = bucket === undefined ? undefined : await chain.cluster(bucket.cluster).catch(() => undefined);
      if (cluster !== undefined) sources = keyReplicas(cluster, t.key).filter((n) => n !== this.deps.self);
      const body = await this.fetchBlob(row, sources);
      if (body === undefined) {
        const wait = Math.min((this.deps.retryMs ?? 1000) * 2 ** t.attempts, 60_000);
        store.meta.retryRepair(t.bucket, t.key, this.clock() + wait);
        continue;
      }
      await putBody(store, row, body, cluster?.id);
      store.meta.repairDone(t.bucket, t.key);
      this.deps.metrics?.objectsRepaired.inc();
      repaired++;
    }
    this.gauge();
    return repaired;
  }
}

/** The empty ring: a node that has seen no ring of a cluster yet held nothing of it. */
export const EMPTY_RING: Ring = { tokens: [], nodes: [] };
