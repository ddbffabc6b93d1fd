import { getAddress } from "ethers";
import { performance } from "node:perf_hooks";
import { decideEra, type EraDecision, type EraSnapshot } from "../manager-bot/src/decide";
import { planSettlements, type LedgerState } from "../manager-bot/src/policy";
import { REPORT_VERSION, type SignedReport } from "../manager-bot/src/report";

/**
 * Synthetic inputs of the manager bot's pure code, for bench/bot.ts and bench/botPlan.ts (no
 * Hardhat here: the memory figure is taken in a plain Node process). Everything is deterministic
 * (one seeded generator), so two runs see the same numbers.
 */

export const GIB = 1n << 30n;
export const CHAIN_ID = 31_337;
export const CORE = getAddress("0x" + "c0".repeat(20));
/** Signatures are not checked by `aggregate` nor `decideEra`: one dummy 65-byte signature. */
const DUMMY_SIGNATURE = "0x" + "11".repeat(65);

/** A small seeded generator (mulberry32): floats in [0, 1). */
export function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** `count` distinct validator addresses (0x…a001, 0x…a002, …). */
export function validatorAddresses(count: number): string[] {
  return Array.from({ length: count }, (_, i) => getAddress("0x" + (0xa000 + i + 1).toString(16).padStart(40, "0")));
}

/**
 * One signed report per validator over nodes 1…`nodes` and buckets 1…`buckets` (strictly
 * increasing ids). Each node has a base score that every validator sees with some noise, 1 % of
 * the results fail retrievability and 1 % of nodes are left out of a report; each bucket has a
 * base size that validators measure within ±1 %.
 */
export function syntheticReports(input: {
  validators: string[];
  cluster: number;
  era: number;
  nodes: number;
  buckets: number;
  seed: number;
}): SignedReport[] {
  const random = generator(input.seed);
  const baseScore = Array.from({ length: input.nodes }, () => 8_000 + Math.floor(random() * 2_001));
  const baseBytes = Array.from({ length: input.buckets }, () => BigInt(Math.floor(random() * 64 * 2 ** 30)));
  return input.validators.map((validator) => {
    const nodes: SignedReport["report"]["nodes"] = [];
    for (let i = 0; i < input.nodes; i++) {
      if (random() < 0.01) continue; // unreachable from this validator
      const score = Math.max(0, Math.min(10_000, baseScore[i] + Math.floor(random() * 401) - 200));
      nodes.push({
        node: i + 1,
        availabilityBps: score,
        latencyMs: 10 + Math.floor(random() * 90),
        retrievable: random() >= 0.01,
        score,
      });
    }
    const buckets = baseBytes.map((bytes, i) => ({
      bucket: i + 1,
      measuredBytes: ((bytes * BigInt(990 + Math.floor(random() * 21))) / 1_000n).toString(),
    }));
    return {
      version: REPORT_VERSION,
      chainId: CHAIN_ID,
      core: CORE,
      validator,
      report: { cluster: input.cluster, era: input.era, nodes, buckets },
      signature: DUMMY_SIGNATURE,
    } satisfies SignedReport;
  });
}

const compareBig = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The baseline `aggregate` is compared with: the same lower medians over the same numbers, written
 * plainly (one map per report, number scores, each list sorted once). Every report counts.
 */
export function plainLowerMedians(
  reports: SignedReport[],
  members: number[],
  unitSize: bigint,
): { scores: number[]; usage: { bucket: number; units: bigint }[] } {
  const middle = (reports.length - 1) >> 1;
  const byReport = reports.map((r) => {
    const m = new Map<number, number>();
    for (const n of r.report.nodes) m.set(n.node, n.retrievable ? n.score : 0);
    return m;
  });
  const scores = [...members]
    .sort((a, b) => a - b)
    .map((node) => byReport.map((m) => m.get(node) ?? 0).sort((a, b) => a - b)[middle]);
  const bytes = new Map<number, bigint[]>();
  for (const r of reports) {
    for (const b of r.report.buckets) {
      const list = bytes.get(b.bucket);
      if (list === undefined) bytes.set(b.bucket, [BigInt(b.measuredBytes)]);
      else list.push(BigInt(b.measuredBytes));
    }
  }
  const usage = [...bytes.entries()]
    .sort(([a], [b]) => a - b)
    .map(([bucket, list]) => {
      const median = list.sort(compareBig)[(list.length - 1) >> 1];
      return { bucket, units: (median + unitSize - 1n) / unitSize };
    });
  return { scores, usage };
}

export const PLAN = { nodes: 64, validators: 7, buckets: 100_000, eraLength: 3_600n } as const;

/**
 * An era of a cluster of 64 nodes (1–4 vNodes each) with 100,000 buckets, 7 validators each
 * reporting every node and bucket, three eras of history (node 5 failing throughout, so one
 * replacement is planned) and 200 candidate nodes.
 */
export function planSnapshot(): EraSnapshot {
  const validators = validatorAddresses(PLAN.validators);
  const era = 42;
  const reports = syntheticReports({ validators, cluster: 1, era, nodes: PLAN.nodes, buckets: PLAN.buckets, seed: 7 });
  for (const r of reports) {
    const failing = r.report.nodes.find((n) => n.node === 5);
    if (failing !== undefined) failing.retrievable = false;
  }
  const random = generator(11);
  const members = Array.from({ length: PLAN.nodes }, (_, i) => ({
    node: i + 1,
    vNodes: 1 + (i % 4),
    pendingReplacement: false,
  }));
  const history: Record<string, number[]> = {};
  for (const m of members) history[String(m.node)] = [9_500, 9_400, m.node === 5 ? 0 : 9_600];
  const candidates = Array.from({ length: 200 }, (_, i) => ({
    node: PLAN.nodes + i + 1,
    trustsManager: random() < 0.8,
    capacity: 1_000n + BigInt(Math.floor(random() * 100_000)),
    reserved: BigInt(Math.floor(random() * 1_000)),
    meanScore: random() < 0.5 ? null : 9_000 + Math.floor(random() * 1_000),
  }));
  return {
    chainId: CHAIN_ID,
    core: CORE,
    cluster: 1,
    era,
    snapshotBlock: 1_000_000,
    validators,
    reports,
    members,
    history,
    candidates,
    params: { qosThreshold: 9_000, unitSize: GIB, replicationFactor: 3, exclusionFactor: 3, reservedPerVNode: 10n },
    policy: { failingEras: 3, maxPerEra: 1 },
    previousEvidence: ["0x" + "01".repeat(32), "0x" + "02".repeat(32), "0x" + "03".repeat(32)],
  };
}

/** 100,000 ledgers: most paid up, some with rent due for each reason. */
export function planLedgers(now: bigint): LedgerState[] {
  const random = generator(13);
  return Array.from({ length: PLAN.buckets }, (_, i) => {
    const r = random();
    return {
      bucket: i + 1,
      owed: r < 0.2 ? 0n : BigInt(Math.floor(random() * 2_000_000)),
      settledAt: now - BigInt(Math.floor(random() * 2 * Number(PLAN.eraLength))),
      coveredUntil: now + BigInt(Math.floor(random() * 30 * 86_400)),
    };
  });
}

export interface PlanRun {
  decideMs: number;
  settleMs: number;
  decision: EraDecision;
  batches: number;
}

/** The plan of one era, timed: `decideEra` then `planSettlements` (minimum 1 tUSD). */
export function runPlan(snapshot: EraSnapshot, ledgers: LedgerState[], now: bigint): PlanRun {
  const t0 = performance.now();
  const decision = decideEra(snapshot);
  const t1 = performance.now();
  const settlements = planSettlements(ledgers, now, PLAN.eraLength, 1_000_000n);
  const t2 = performance.now();
  return { decideMs: t1 - t0, settleMs: t2 - t1, decision, batches: settlements.batches.length };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
