import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * The storage node's Prometheus metrics (prom-client), on their own registry so that two nodes in
 * one process (the tests) do not mix. Base units: seconds, bytes.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"route" | "method" | "status">;
  readonly latency: Histogram<"route" | "method">;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;
  readonly quarantinedServed: Counter;
  readonly quarantined: Gauge;
  readonly repairQueue: Gauge;
  readonly hintQueue: Gauge;
  readonly scrubProgress: Gauge;
  readonly scrubCorrupt: Counter;
  readonly scrubRuns: Counter<"outcome">;
  readonly challenges: Counter<"outcome">;
  readonly probes: Counter<"outcome">;
  readonly unhandledRejections: Counter;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: "ddc_node_requests_total",
      help: "HTTP requests answered, by route, method and status",
      labelNames: ["route", "method", "status"],
      registers,
    });
    this.latency = new Histogram({
      name: "ddc_node_request_duration_seconds",
      help: "Time to answer a request (to the last byte handed to the socket), by route and method",
      labelNames: ["route", "method"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
    this.bytesIn = new Counter({ name: "ddc_node_bytes_in_total", help: "Object bytes stored by PUTs", registers });
    this.bytesOut = new Counter({ name: "ddc_node_bytes_out_total", help: "Object bytes served by GETs", registers });
    this.quarantinedServed = new Counter({
      name: "ddc_node_quarantined_reads_total",
      help: "Reads refused because the blob failed its hash check (it is quarantined)",
      registers,
    });
    this.quarantined = new Gauge({ name: "ddc_node_blobs_quarantined", help: "Blobs in quarantine", registers });
    this.repairQueue = new Gauge({ name: "ddc_node_repair_queue", help: "Repairs waiting", registers });
    this.hintQueue = new Gauge({ name: "ddc_node_hint_queue", help: "Hinted writes waiting for a peer", registers });
    this.scrubProgress = new Gauge({
      name: "ddc_node_scrub_progress_ratio",
      help: "Progress of the running scrub (0 to 1; 1 when idle after a full pass)",
      registers,
    });
    this.scrubCorrupt = new Counter({
      name: "ddc_node_scrub_corrupt_total",
      help: "Blobs the scrub found corrupt (quarantined)",
      registers,
    });
    this.scrubRuns = new Counter({
      name: "ddc_node_scrub_runs_total",
      help: "Scrub passes, by outcome (ok, failed)",
      labelNames: ["outcome"],
      registers,
    });
    this.challenges = new Counter({
      name: "ddc_node_challenges_total",
      help: "Validator challenges, by outcome (answered, limited, refused)",
      labelNames: ["outcome"],
      registers,
    });
    this.probes = new Counter({
      name: "ddc_node_probes_total",
      help: "Validator probes, by outcome (answered, refused, failed)",
      labelNames: ["outcome"],
      registers,
    });
    this.unhandledRejections = new Counter({
      name: "ddc_node_unhandled_rejections_total",
      help: "Promise rejections nothing handled (logged; the process goes on)",
      registers,
    });
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: this.registry, prefix: "ddc_node_" });
  }

  /**
   * The authenticator's work, read when scraped (nothing per request): ed25519 verifications of
   * request signatures, GET/HEAD signatures found verified already, EIP-712 session recoveries.
   */
  watchAuth(stats: { signatureChecks: number; readHits: number; recoveries: number }): void {
    const registers = [this.registry];
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    counter(
      "ddc_node_auth_signature_checks_total",
      "Request signatures verified (ed25519)",
      () => stats.signatureChecks,
    );
    counter(
      "ddc_node_auth_read_cache_hits_total",
      "GET/HEAD requests whose exact signature was verified before (no ed25519 check)",
      () => stats.readHits,
    );
    counter(
      "ddc_node_auth_session_recoveries_total",
      "Sessions whose EIP-712 signer was recovered",
      () => stats.recoveries,
    );
  }
}
