import { SETTLE_BATCH } from "../../governance/actions";

/**
 * The bot's decisions beyond one era's aggregation, as pure functions of a snapshot: which failing
 * nodes to replace and by which, which buckets to settle, and which eras to decide after downtime.
 */

export interface ReplacementPolicy {
  /** Consecutive failing eras before a node is replaced (hysteresis: one bad era is not enough). */
  failingEras: number;
  /** At most this many replacements are proposed per era and cluster. */
  maxPerEra: number;
}

export interface MemberState {
  node: number;
  vNodes: number;
  /** Scores of the last eras, newest last (bps); eras the node was not a member of are left out. */
  scores: number[];
  /** A replacement of this node is already proposed and not executed (or refused) yet. */
  pending: boolean;
}

export interface CandidateState {
  node: number;
  /** Its provider trusts the cluster's current manager. */
  trustsManager: boolean;
  capacity: bigint;
  reserved: bigint;
  /** The node's mean score over its recent eras in other clusters (bps), if any. */
  meanScore: number | null;
}

export interface Replacement {
  node: number;
  /** One per vNode of `node`, in the order of its tokens. */
  replacements: number[];
  failingEras: number;
}

export interface ReplacementPlan {
  replace: Replacement[];
  /** Nodes that qualify but are not replaced this era, and why. */
  deferred: { node: number; reason: string }[];
}

/** The number of consecutive failing eras at the end of `scores`. */
export function failingStreak(scores: number[], threshold: number): number {
  let streak = 0;
  for (let i = scores.length - 1; i >= 0 && scores[i] < threshold; i--) streak++;
  return streak;
}

/**
 * Chooses the replacements of this era. A member whose last `failingEras` scores are all below the
 * threshold is replaced by one node that is not a member, trusts the manager and has capacity for
 * every vNode (`reservedPerVNode` each); the best-scoring candidate first (unknown history last),
 * then the one with most free capacity, then the lowest id. Each candidate is used once; at most
 * `maxPerEra` replacements; none for a node whose replacement is pending. A fresh node takes every
 * vNode, so the cluster keeps its number of nodes: the core allows that replacement even in a
 * cluster below its replication factor (it is the repair). The worst streaks go first.
 */
export function planReplacements(input: {
  members: MemberState[];
  candidates: CandidateState[];
  threshold: number;
  reservedPerVNode: bigint;
  policy: ReplacementPolicy;
}): ReplacementPlan {
  const { members, threshold, policy } = input;
  const memberIds = new Set(members.map((m) => m.node));
  const failing = members
    .map((m) => ({ m, streak: failingStreak(m.scores, threshold) }))
    .filter((x) => x.streak >= policy.failingEras)
    .sort((a, b) => b.streak - a.streak || a.m.node - b.m.node);
  const pool = input.candidates
    .filter((c) => !memberIds.has(c.node) && c.trustsManager)
    .sort(
      (a, b) =>
        (b.meanScore ?? -1) - (a.meanScore ?? -1) ||
        Number(b.capacity - b.reserved - (a.capacity - a.reserved)) ||
        a.node - b.node,
    );
  const used = new Set<number>();
  const plan: ReplacementPlan = { replace: [], deferred: [] };
  for (const { m, streak } of failing) {
    if (m.pending) {
      plan.deferred.push({ node: m.node, reason: "a replacement is already pending" });
      continue;
    }
    if (plan.replace.length >= policy.maxPerEra) {
      plan.deferred.push({ node: m.node, reason: `at most ${policy.maxPerEra} replacements per era` });
      continue;
    }
    const need = input.reservedPerVNode * BigInt(m.vNodes);
    const pick = pool.find((c) => !used.has(c.node) && c.capacity - c.reserved >= need);
    if (pick === undefined) {
      plan.deferred.push({ node: m.node, reason: "no node trusts the manager with capacity for its vNodes" });
      continue;
    }
    used.add(pick.node);
    plan.replace.push({
      node: m.node,
      replacements: Array.from({ length: m.vNodes }, () => pick.node),
      failingEras: streak,
    });
  }
  return plan;
}

export interface LedgerState {
  bucket: number;
  /** Rent accrued and not settled yet (token units). */
  owed: bigint;
  /** When the ledger was last settled (seconds). */
  settledAt: bigint;
  /** Until when the ledger's balance covers its rent (seconds). */
  coveredUntil: bigint;
}

export type DueReason = "accrued" | "unsettled-for-an-era" | "coverage-ending";

/**
 * Whether a bucket's ledger should be settled now, and why: its accrued rent reached `minimum`,
 * or it has not been settled for an era, or its coverage ends within the next era (so that
 * arrears are recorded on time).
 */
export function settlementDue(l: LedgerState, now: bigint, eraLength: bigint, minimum: bigint): DueReason | null {
  if (l.owed === 0n) return null;
  if (l.owed >= minimum) return "accrued";
  if (now - l.settledAt >= eraLength) return "unsettled-for-an-era";
  if (l.coveredUntil - now < eraLength) return "coverage-ending";
  return null;
}

/** The buckets to settle, in id order, in batches of at most `batch` (the core's batch maximum). */
export function planSettlements(
  ledgers: LedgerState[],
  now: bigint,
  eraLength: bigint,
  minimum: bigint,
  batch = SETTLE_BATCH,
): { batches: number[][]; reasons: Record<number, DueReason> } {
  const reasons: Record<number, DueReason> = {};
  for (const l of ledgers) {
    const why = settlementDue(l, now, eraLength, minimum);
    if (why !== null) reasons[l.bucket] = why;
  }
  const due = Object.keys(reasons)
    .map(Number)
    .sort((a, b) => a - b);
  const batches: number[][] = [];
  for (let i = 0; i < due.length; i += batch) batches.push(due.slice(i, i + batch));
  return { batches, reasons };
}

/**
 * The eras to decide after the last decided one, up to the last closed one: in order ("catch-up"),
 * or only the last with the others named as skipped ("skip": their revenue simply goes with the
 * next distribution, their usage is not reported).
 */
export function planEras(
  lastDecided: number | null,
  lastClosed: number,
  mode: "catch-up" | "skip",
): { decide: number[]; skipped: number[] } {
  const first = lastDecided === null ? lastClosed : lastDecided + 1;
  if (first > lastClosed) return { decide: [], skipped: [] };
  const all = Array.from({ length: lastClosed - first + 1 }, (_, i) => first + i);
  return mode === "catch-up" ? { decide: all, skipped: [] } : { decide: [lastClosed], skipped: all.slice(0, -1) };
}
