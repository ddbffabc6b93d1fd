import type { SignedReport } from "../../manager-bot/src/report";

/**
 * What one validator saw of one node in one era, and why it scored as it did: the detail file
 * beside each report holds one of these per node.
 */
export interface NodeDetail {
  node: number;
  /** The node's first URL, as the core lists it. */
  url: string;
  probes: { sent: number; ok: number; failures: ProbeFailure[]; latenciesMs: number[] };
  challenges: { sent: number; passed: number; failures: ChallengeFailure[]; retried: number };
  usage: UsageCheck;
  /** Why the node scored below 10,000, in words (empty when it did not). */
  reasons: string[];
  availabilityBps: number;
  latencyMs: number;
  retrievable: boolean;
  score: number;
}

export interface ProbeFailure {
  /** ms since the epoch, when sent. */
  at: number;
  /** What came back: "timeout after 2000 ms", "HTTP 503 …", "bad signature", "connection refused". */
  what: string;
}

export interface ChallengeFailure {
  at: number;
  bucket: string;
  key: string;
  leafIndex: number;
  /** What came back, and what was expected. */
  what: string;
  /** Whether it counted (a first timeout is retried later in the era and does not count). */
  counted: boolean;
  /**
   * The version challenged, when the node answered 404 or for a newer version: settled at the
   * era's end (the failure stands if the replicas' era-end manifests still agree on this version).
   */
  version?: string;
}

export interface UsageCheck {
  /** Whether the node's signed usage record of the era was fetched and verified. */
  record: "ok" | "missing" | "invalid";
  /** What was wrong with it, in words. */
  problems: string[];
  /** Keys this node claimed that a majority of their replicas lack (dropped from the measured bytes). */
  unconfirmedKeys: number;
}

/** One (cluster, era) done: the signed report, the detail, and where it went. */
export interface EraOutcome {
  cluster: number;
  era: number;
  report: SignedReport;
  nodes: NodeDetail[];
  /** Buckets' measured bytes and the keys dropped as unconfirmed, per bucket. */
  buckets: { bucket: number; measuredBytes: bigint; unconfirmedKeys: number }[];
  /** Per bot URL: accepted, or the reason it was not. */
  submitted: { to: string; ok: boolean; detail: string }[];
  /** Where the copy of the report and the detail file were written. */
  files: { report: string; detail: string };
}
