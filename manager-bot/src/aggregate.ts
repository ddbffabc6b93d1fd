import { getAddress } from "ethers";
import { canonicalJson } from "./evidence";
import type { SignedReport } from "./report";

/** The lower median: the ⌊(k−1)/2⌋-th smallest (for an even count, the lower of the two middles). */
export function lowerMedian(values: bigint[]): bigint {
  if (values.length === 0) throw new Error("lowerMedian of nothing");
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** The most units a usage report carries for a bucket (the core's uint64). */
export const MAX_UNITS = (1n << 64n) - 1n;

/** Reports needed to decide an era among `n` validators: ⌈2n/3⌉. */
export function quorum(n: number): number {
  return Math.ceil((2 * n) / 3);
}

export interface AggregationPolicy {
  /** The cluster's QoS threshold (basis points). */
  qosThreshold: number;
  /** Bytes per unit (the cluster's unit size). */
  unitSize: bigint;
}

/** The era the reports must be about: signed for this chain and core, of this cluster and era. */
export interface EraKey {
  chainId: number;
  core: string;
  cluster: number;
  era: number;
}

/**
 * The reports that count for an era, one per validator: signed for the era's chain and core, about
 * its cluster and era, by a validator of `validators`. A report listed twice counts once; a
 * validator with two different reports (equivocation) counts with neither. Signatures are not
 * checked here: the intake checked them (verify checks them again).
 */
export function countedReports(reports: SignedReport[], validators: Set<string>, era: EraKey): SignedReport[] {
  const core = getAddress(era.core);
  const byValidator = new Map<string, SignedReport[]>();
  for (const r of reports) {
    if (r.chainId !== era.chainId || getAddress(r.core) !== core) continue;
    if (r.report.cluster !== era.cluster || r.report.era !== era.era) continue;
    const validator = getAddress(r.validator);
    if (!validators.has(validator)) continue;
    const same = byValidator.get(validator);
    if (same === undefined) byValidator.set(validator, [r]);
    else same.push(r);
  }
  const counted: SignedReport[] = [];
  for (const same of byValidator.values()) {
    if (same.length > 1) {
      // Compared by content (the signature may differ for one body): the same report again, or
      // another one.
      const first = canonicalJson(same[0].report);
      if (same.some((r) => canonicalJson(r.report) !== first)) continue;
    }
    counted.push(same[0]);
  }
  return counted;
}

export type Aggregation =
  | { decided: false; have: number; need: number; validators: number; missing: string[] }
  | {
      decided: true;
      have: number;
      need: number;
      validators: number;
      /** Each member node's score: the lower median of the validators' scores (bps). */
      scores: { node: number; score: number; eligible: boolean }[];
      ineligible: number[];
      /** Each bucket measured by a quorum of validators: ⌈lower median bytes / unit size⌉ (at most 2^64 − 1). */
      usage: { bucket: number; measuredBytes: bigint; units: bigint }[];
    };

/**
 * Decides an era from the reports that count ({countedReports}: one per validator of the set at
 * the era's end, for the era's chain, core, cluster and era, none of an equivocator). With fewer
 * than ⌈2n/3⌉ of the `n` validators, it says which are missing. A node a report leaves out scores
 * 0 in it (the validator could not reach it); a failed retrievability proof scores 0. A bucket's
 * usage is taken over the reports that measured it, if they are a quorum.
 */
export function aggregate(
  reports: SignedReport[],
  validators: Set<string>,
  members: number[],
  policy: AggregationPolicy,
  era: EraKey,
): Aggregation {
  const counted = countedReports(reports, validators, era);
  const n = validators.size;
  const need = quorum(n);
  const reporters = new Set(counted.map((r) => getAddress(r.validator)));
  if (n === 0 || counted.length < need) {
    const missing = [...validators].filter((v) => !reporters.has(v)).sort();
    return { decided: false, have: counted.length, need, validators: n, missing };
  }
  // Each report's score of each node it lists (0 for a failed retrievability proof).
  const scored = counted.map((r) => new Map(r.report.nodes.map((x) => [x.node, x.retrievable ? x.score : 0] as const)));
  const scores = [...members]
    .sort((a, b) => a - b)
    .map((node) => {
      const seen = scored.map((m) => m.get(node) ?? 0).sort((a, b) => a - b);
      const score = seen[Math.floor((seen.length - 1) / 2)];
      return { node, score, eligible: score >= policy.qosThreshold };
    });
  const byBucket = new Map<number, bigint[]>();
  for (const r of counted) {
    for (const b of r.report.buckets) {
      const bytes = byBucket.get(b.bucket);
      if (bytes === undefined) byBucket.set(b.bucket, [BigInt(b.measuredBytes)]);
      else bytes.push(BigInt(b.measuredBytes));
    }
  }
  // A bucket counts when a quorum measured it: one validator alone can neither add a bucket (of
  // another cluster, or none) nor set its usage. Units are capped at the core's uint64.
  const usage = [...byBucket.entries()]
    .filter(([, bytes]) => bytes.length >= need)
    .sort(([a], [b]) => a - b)
    .map(([bucket, bytes]) => {
      const measuredBytes = lowerMedian(bytes);
      const units = (measuredBytes + policy.unitSize - 1n) / policy.unitSize;
      return { bucket, measuredBytes, units: units > MAX_UNITS ? MAX_UNITS : units };
    });
  return {
    decided: true,
    have: counted.length,
    need,
    validators: n,
    scores,
    ineligible: scores.filter((s) => !s.eligible).map((s) => s.node),
    usage,
  };
}
