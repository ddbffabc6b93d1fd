import type { Signer, TypedDataDomain } from "ethers";
import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import type { ClusterInfo } from "../chain";
import type { Authenticator } from "../ports";
import type { ObjectStore } from "../store/objects";
import { AntiEntropy } from "./antiEntropy";
import { ReplicationMetrics } from "./metrics";
import { NodeIdentity, PeerClient } from "./peers";
import type { ReplicationChain } from "./ports";
import { Periodic, QuorumReplicator } from "./replicator";
import { EMPTY_RING, Repairer } from "./repair";
import { registerReplicationRoutes } from "./routes";

export { QuorumFailedError, QuorumReplicator } from "./replicator";
export { registerReplicationRoutes } from "./routes";
export { Repairer } from "./repair";
export { AntiEntropy } from "./antiEntropy";
export { NodeIdentity, PeerClient } from "./peers";

export interface ReplicationOptions {
  self: number;
  /** The node's registered signing key: node sessions and receipts. */
  signer: Signer;
  domain: TypedDataDomain;
  store: ObjectStore;
  chain: ReplicationChain;
  /** The clusters this node serves. */
  clusters(): number[];
  /** The node's metrics registry (the replication metrics join it). */
  registry?: Registry;
  /** Per-request timeout to a peer (ms): 5,000 unless given. */
  timeoutMs?: number;
  hintBackoffMs?: number;
  hintMaxBackoffMs?: number;
  /** How often hints are delivered and quarantine repairs tried (ms): 1,000 unless given. */
  hintIntervalMs?: number;
  /** How often the rings are checked for a change (ms): 2,000 unless given. */
  ringIntervalMs?: number;
  /** How often anti-entropy runs (ms): 10 minutes unless given; 0 never. */
  antiEntropyIntervalMs?: number;
  onError?: (what: string, e: unknown) => void;
}

/** The rings a node last acted on, kept with its metadata (so a restart repairs what changed meanwhile). */
function ringTable(store: ObjectStore) {
  const db = store.meta.db;
  db.exec(
    "CREATE TABLE IF NOT EXISTS replication_rings (cluster INTEGER PRIMARY KEY, info TEXT NOT NULL) WITHOUT ROWID",
  );
  return {
    get(cluster: number): Pick<ClusterInfo, "ring" | "replicationFactor" | "nodes"> | undefined {
      const r = db.prepare("SELECT info FROM replication_rings WHERE cluster = ?").get(cluster) as
        { info: string } | undefined;
      if (r === undefined) return undefined;
      const j = JSON.parse(r.info) as { tokens: string[]; ringNodes: number[]; rf: number; nodes: number[] };
      return { ring: { tokens: j.tokens.map(BigInt), nodes: j.ringNodes }, replicationFactor: j.rf, nodes: j.nodes };
    },
    set(c: ClusterInfo): void {
      const info = JSON.stringify({
        tokens: c.ring.tokens.map(String),
        ringNodes: c.ring.nodes,
        rf: c.replicationFactor,
        nodes: c.nodes,
      });
      db.prepare(
        "INSERT INTO replication_rings (cluster, info) VALUES (?, ?) ON CONFLICT (cluster) DO UPDATE SET info = excluded.info",
      ).run(c.id, info);
    },
  };
}

const sameRing = (a: Pick<ClusterInfo, "ring" | "replicationFactor" | "nodes">, b: ClusterInfo) =>
  a.replicationFactor === b.replicationFactor &&
  a.nodes.length === b.nodes.length &&
  a.ring.tokens.length === b.ring.tokens.length &&
  a.ring.tokens.every((t, i) => t === b.ring.tokens[i] && a.ring.nodes[i] === b.ring.nodes[i]);

/**
 * Replication of one node, composed: the peer identity and client, the internal routes, the quorum
 * replicator with its hint delivery, repair (ring changes, quarantined blobs) and anti-entropy.
 */
export class ReplicationNode {
  readonly identity: NodeIdentity;
  readonly peers: PeerClient;
  readonly replicator: QuorumReplicator;
  readonly repairer: Repairer;
  readonly antiEntropy: AntiEntropy;
  readonly metrics: ReplicationMetrics;
  private readonly rings: ReturnType<typeof ringTable>;
  private readonly loops: Periodic[] = [];

  constructor(private readonly o: ReplicationOptions) {
    this.metrics = new ReplicationMetrics(o.registry);
    this.identity = new NodeIdentity(o.self, o.signer, o.domain);
    this.peers = new PeerClient(this.identity, o.chain, o.timeoutMs ?? 5000);
    this.replicator = new QuorumReplicator({
      self: o.self,
      store: o.store,
      chain: o.chain,
      peers: this.peers,
      domain: o.domain,
      metrics: this.metrics,
      hintBackoffMs: o.hintBackoffMs,
      hintMaxBackoffMs: o.hintMaxBackoffMs,
      onHintError: (node, reason) => o.onError?.(`hint to node ${node}`, new Error(reason)),
    });
    this.repairer = new Repairer({
      self: o.self,
      store: o.store,
      chain: o.chain,
      peers: this.peers,
      metrics: this.metrics,
      retryMs: o.hintBackoffMs,
      onSourceError: (node, reason) => o.onError?.(`repair source ${node}`, new Error(reason)),
    });
    this.antiEntropy = new AntiEntropy({
      self: o.self,
      store: o.store,
      chain: o.chain,
      peers: this.peers,
      repairer: this.repairer,
      clusters: o.clusters,
      metrics: this.metrics,
    });
    this.rings = ringTable(o.store);
  }

  /** Registers the internal routes on the node's server (before it listens). */
  register(
    app: FastifyInstance,
    auth: Pick<Authenticator, "authenticate" | "capBytes"> & Partial<Pick<Authenticator, "authorize">>,
  ): Promise<void> {
    return registerReplicationRoutes(app, {
      self: this.o.self,
      identity: this.identity,
      store: this.o.store,
      chain: this.o.chain,
      auth,
      clusters: this.o.clusters,
    });
  }

  /**
   * Compares each cluster's ring with the one last acted on and repairs what this node gained. A
   * cluster never seen is treated as a ring where this node held nothing: a new node pulls all it holds.
   */
  async checkRings(): Promise<number> {
    let copied = 0;
    for (const id of this.o.clusters()) {
      const now = await this.o.chain.cluster(id);
      if (now === undefined) continue;
      const before = this.rings.get(id) ?? { ring: EMPTY_RING, replicationFactor: now.replicationFactor, nodes: [] };
      if (sameRing(before, now)) continue;
      const r = await this.repairer.onRingChange(before, now);
      copied += r.copied;
      // Move on only when every gained span had a source that answered in full; else try again next time.
      if (r.unserved === 0) this.rings.set(now);
    }
    return copied;
  }

  /** Starts the background work: hints, quarantine repairs, ring checks, anti-entropy. */
  start(): void {
    const err = (what: string) => (e: unknown) => this.o.onError?.(what, e);
    this.loops.push(
      new Periodic(
        async () => {
          await this.replicator.deliverHints();
          await this.repairer.repairQuarantined();
        },
        this.o.hintIntervalMs ?? 1000,
        err("hint delivery"),
      ),
      new Periodic(() => this.checkRings(), this.o.ringIntervalMs ?? 2000, err("ring check")),
    );
    const ae = this.o.antiEntropyIntervalMs ?? 600_000;
    if (ae > 0) this.loops.push(new Periodic(() => this.antiEntropy.round(), ae, err("anti-entropy")));
    for (const l of this.loops) l.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.loops.splice(0).map((l) => l.stop()));
  }
}
