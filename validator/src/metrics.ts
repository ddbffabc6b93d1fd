import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * The validator's Prometheus metrics, on their own registry (several validators in one process,
 * as in the demo and the tests, keep theirs apart).
 */
export class ValidatorMetrics {
  readonly registry = new Registry();
  readonly probes: Counter<"outcome">;
  readonly challenges: Counter<"outcome">;
  readonly challengeSeconds: Histogram;
  readonly reports: Counter<"outcome">;
  readonly score: Gauge<"cluster" | "node">;
  readonly era: Gauge<"cluster">;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: this.registry });
    this.probes = new Counter({
      name: "ddc_validator_probes_total",
      help: "Probes sent to nodes, by outcome (ok, failed)",
      labelNames: ["outcome"],
      registers,
    });
    this.challenges = new Counter({
      name: "ddc_validator_challenges_total",
      help: "Challenges sent to nodes, by outcome (passed, failed, retry: a timeout tried again later)",
      labelNames: ["outcome"],
      registers,
    });
    this.challengeSeconds = new Histogram({
      name: "ddc_validator_challenge_seconds",
      help: "Round trip of the challenges that passed",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.reports = new Counter({
      name: "ddc_validator_reports_total",
      help: "Reports sent to bots, by outcome (accepted, rejected, unanswered)",
      labelNames: ["outcome"],
      registers,
    });
    this.score = new Gauge({
      name: "ddc_validator_node_score",
      help: "The score this validator gave each node in the last era it reported (basis points)",
      labelNames: ["cluster", "node"],
      registers,
    });
    this.era = new Gauge({
      name: "ddc_validator_last_reported_era",
      help: "The last era of each cluster this validator reported",
      labelNames: ["cluster"],
      registers,
    });
  }
}
