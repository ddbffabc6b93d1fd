import { Counter, Gauge, Registry } from "prom-client";

/** What replication reports to the operator (Prometheus, on the node's registry). */
export class ReplicationMetrics {
  readonly hintsQueued: Gauge;
  readonly hintsDelivered: Counter;
  readonly quorumFailures: Counter;
  readonly repairQueue: Gauge;
  readonly objectsRepaired: Counter;
  readonly repairFailures: Counter;
  readonly antiEntropyRows: Counter;
  readonly antiEntropyRounds: Counter;
  readonly rowsRefused: Counter;

  constructor(readonly registry: Registry = new Registry()) {
    const registers = [registry];
    this.hintsQueued = new Gauge({
      name: "ddc_replication_hints_queued",
      help: "Hints waiting for a replica",
      registers,
    });
    this.hintsDelivered = new Counter({
      name: "ddc_replication_hints_delivered_total",
      help: "Hints a replica acknowledged",
      registers,
    });
    this.quorumFailures = new Counter({
      name: "ddc_replication_quorum_failures_total",
      help: "Writes and deletes answered quorum-failed",
      registers,
    });
    this.repairQueue = new Gauge({
      name: "ddc_replication_repair_queue",
      help: "Ranges and quarantined objects waiting for repair",
      registers,
    });
    this.objectsRepaired = new Counter({
      name: "ddc_replication_objects_repaired_total",
      help: "Objects and tombstones copied from another replica by repair",
      registers,
    });
    this.repairFailures = new Counter({
      name: "ddc_replication_repair_failures_total",
      help: "Fetches from another replica that failed or were refused",
      registers,
    });
    this.antiEntropyRows = new Counter({
      name: "ddc_replication_anti_entropy_rows_total",
      help: "Rows anti-entropy copied from another replica",
      registers,
    });
    this.antiEntropyRounds = new Counter({
      name: "ddc_replication_anti_entropy_rounds_total",
      help: "Anti-entropy passes over the owned ranges",
      registers,
    });
    this.rowsRefused = new Counter({
      name: "ddc_replication_rows_refused_total",
      help: "Rows another replica sent with a version this node refuses (too far ahead of its clock, or past 63 bits)",
      registers,
    });
  }
}
