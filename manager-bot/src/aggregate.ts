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
  // A bucket counts when a quorum measured it: one validator alone can neither add a bucket (of
  // another cluster, or none) nor set its usage. Units are capped at the core's uint64.
  const usage: { bucket: number; measuredBytes: bigint; units: bigint }[] = [];
  eachBucket(
    counted.map((r) => r.report.buckets),
    (bucket, bytes, count) => {
      if (count < need) return;
      const measuredBytes = lowerMedianOfDecimals(bytes, count);
      const units = (measuredBytes + policy.unitSize - 1n) / policy.unitSize;
      usage.push({ bucket, measuredBytes, units: units > MAX_UNITS ? MAX_UNITS : units });
    },
  );
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

type BucketUsage = SignedReport["report"]["buckets"][number];

/** Bucket ids in strictly increasing order, each a safe integer (as the report schema requires). */
function increasing(list: BucketUsage[]): boolean {
  for (let i = 0; i < list.length; i++) {
    const id = list[i].bucket;
    if (!Number.isSafeInteger(id) || (i > 0 && !(list[i - 1].bucket < id))) return false;
  }
  return true;
}

/**
 * Calls `f` once for each bucket id of the reports' lists, in increasing order, with the
 * measurements of it in `bytes[0…count)` (`bytes` is reused: `f` must not keep it).
 *
 * The lists are merged as sorted lists: the report schema requires strictly increasing bucket ids,
 * and a merge of a few lists of 100,000 buckets spares a map of 100,000 arrays (a quarter of an
 * era's decision went to it and its garbage). Lists in any other order (not a valid report) are
 * grouped by id, each bucket counted as often as it is listed.
 */
function eachBucket(lists: BucketUsage[][], f: (bucket: number, bytes: string[], count: number) => void): void {
  const bytes: string[] = [];
  if (!lists.every(increasing)) {
    const byBucket = new Map<number, string[]>();
    for (const list of lists) {
      for (const b of list) {
        const same = byBucket.get(b.bucket);
        if (same === undefined) byBucket.set(b.bucket, [b.measuredBytes]);
        else same.push(b.measuredBytes);
      }
    }
    for (const [bucket, same] of [...byBucket].sort(([a], [b]) => a - b)) f(bucket, same, same.length);
    return;
  }
  // Each list's next entry; the smallest id among them is the next bucket.
  const at = lists.map(() => 0);
  for (;;) {
    let bucket = Infinity;
    for (let i = 0; i < lists.length; i++) {
      if (at[i] < lists[i].length && lists[i][at[i]].bucket < bucket) bucket = lists[i][at[i]].bucket;
    }
    if (bucket === Infinity) return;
    let count = 0;
    for (let i = 0; i < lists.length; i++) {
      if (at[i] < lists[i].length && lists[i][at[i]].bucket === bucket)
        bytes[count++] = lists[i][at[i]++].measuredBytes;
    }
    f(bucket, bytes, count);
  }
}

/** The numbers `lowerMedianOfDecimals` sorts (reused: one array for all the buckets of an era). */
const scratch: number[] = [];

/**
 * The lower median of `bytes[0…count)`, decimal strings, as a bigint: the same as {lowerMedian}
 * over their bigints. When each is at most 15 digits (any real bucket: below 1 PB), they are
 * compared as doubles, which hold them exactly (10^15 < 2^53) and order them as bigints would,
 * sorted by insertion in one reused array: no bigint for each measurement (an era of 100,000
 * buckets and seven reports makes 700,000) and no array for each bucket. Longer ones (up to
 * 2^256) are compared as bigints.
 */
function lowerMedianOfDecimals(bytes: string[], count: number): bigint {
  for (let i = 0; i < count; i++) {
    const value = shortDecimal(bytes[i]);
    if (value < 0) return lowerMedian(bytes.slice(0, count).map((b) => BigInt(b)));
    // Insertion sort: a handful of validators; a large set is sorted once, below.
    let j = i;
    if (count <= 32) for (; j > 0 && scratch[j - 1] > value; j--) scratch[j] = scratch[j - 1];
    scratch[j] = value;
  }
  if (count > 32) {
    scratch.length = count;
    scratch.sort((a, b) => a - b);
  }
  return BigInt(scratch[(count - 1) >> 1]);
}

/** The value of a string of 1 to 15 decimal digits; -1 for anything else. */
function shortDecimal(text: string): number {
  if (typeof text !== "string" || text.length === 0 || text.length > 15) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}
