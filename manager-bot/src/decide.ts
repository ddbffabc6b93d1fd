import { getAddress } from "ethers";
import * as build from "../../governance/actions";
import { aggregate, type Aggregation } from "./aggregate";
import { canonicalJson, hashOfJson } from "./evidence";
import { planReplacements, type CandidateState, type ReplacementPolicy } from "./policy";
import type { SignedReport } from "./report";

/** The version of the evidence document {decideEra} writes. */
export const EVIDENCE_VERSION = 2;

/** What the bot knows when it decides one era of one cluster. */
export interface EraSnapshot {
  chainId: number;
  core: string;
  cluster: number;
  era: number;
  /**
   * The block the bot read the chain at (for its logs). Not in the evidence: two replicas deciding
   * the same era a block apart write the same document (version 1 documents held it).
   */
  snapshotBlock?: number;
  /** The evidence format: 2, or 1 for an era decided (and recorded) by an earlier bot. */
  evidenceVersion?: 1 | 2;
  /** The validator set at the era's end. */
  validators: string[];
  /** The accepted, not equivocated reports. */
  reports: SignedReport[];
  /**
   * The buckets a quorum measured that are not the cluster's, as the chain says (another cluster's,
   * or none): left out of the usage report, whose call the core would revert whole.
   */
  foreignBuckets?: number[];
  /** The members now: the nodes a replacement may remove, and the exclusion cap's count. */
  members: { node: number; vNodes: number; pendingReplacement: boolean }[];
  /**
   * The members as of the era's end: the nodes the era's reports score (default: `members`). A
   * node that joined since is not scored for the era; one that left since is, but is no longer
   * excluded nor replaced.
   */
  scored?: number[];
  /** Each member's scores of earlier eras, newest last (from earlier evidence). */
  history: Record<string, number[]>;
  candidates: CandidateState[];
  /**
   * `qosThreshold`, `unitSize` and `replicationFactor` are those in force at the era's end.
   * `exclusionFactor` is the largest replication factor in force since the cluster's previous
   * distribution: the core lets this distribution exclude at most `members − exclusionFactor`.
   */
  params: {
    qosThreshold: number;
    unitSize: bigint;
    replicationFactor: number;
    exclusionFactor: number;
    reservedPerVNode: bigint;
  };
  policy: ReplacementPolicy;
  /** Hashes of earlier evidence this decision relies on (the history's sources). */
  previousEvidence: string[];
}

/** An action as the evidence states it: its arguments, without the evidence hash it will carry. */
export type PlannedAction =
  | { kind: "usage-report"; buckets: number[]; measuredUnits: string[] }
  | { kind: "distribution"; ineligible: number[] }
  | { kind: "replace-node"; node: number; replacements: number[] };

export type EraDecision =
  | { decided: false; aggregation: Extract<Aggregation, { decided: false }> }
  | {
      decided: true;
      evidence: Record<string, unknown>;
      json: string;
      hash: string;
      planned: PlannedAction[];
      actions: build.ManagerAction[];
    };

/**
 * The nodes a distribution names ineligible: the current members among those below the threshold,
 * at most (members − exclusion factor) of them as the core allows, the worst scores first (then
 * the lowest ids). The others below the threshold are paid this era; their replacement proceeds.
 */
export function excluded(s: EraSnapshot, a: Extract<Aggregation, { decided: true }>): number[] {
  const current = new Set(s.members.map((m) => m.node));
  const cap = Math.max(0, s.members.length - s.params.exclusionFactor);
  return a.scores
    .filter((x) => !x.eligible && current.has(x.node))
    .sort((x, y) => x.score - y.score || x.node - y.node)
    .slice(0, cap)
    .map((x) => x.node)
    .sort((x, y) => x - y);
}

/** The actions an era's aggregation leads to (pure: the same snapshot, the same actions). */
export function planActions(s: EraSnapshot, a: Extract<Aggregation, { decided: true }>): PlannedAction[] {
  const planned: PlannedAction[] = [];
  if (a.usage.length > 0) {
    planned.push({
      kind: "usage-report",
      buckets: a.usage.map((u) => u.bucket),
      measuredUnits: a.usage.map((u) => u.units.toString()),
    });
  }
  planned.push({ kind: "distribution", ineligible: excluded(s, a) });
  const scoreOf = new Map(a.scores.map((x) => [x.node, x.score]));
  const plan = planReplacements({
    members: s.members.map((m) => {
      const now = scoreOf.get(m.node);
      const history = s.history[String(m.node)] ?? [];
      // A member that joined after the era's end has no score for it.
      return {
        node: m.node,
        vNodes: m.vNodes,
        scores: now === undefined ? history : [...history, now],
        pending: m.pendingReplacement,
      };
    }),
    candidates: s.candidates,
    threshold: s.params.qosThreshold,
    reservedPerVNode: s.params.reservedPerVNode,
    policy: s.policy,
  });
  for (const r of plan.replace) planned.push({ kind: "replace-node", node: r.node, replacements: r.replacements });
  return planned;
}

/** Where the evidence `hash` is published under a base URL (the bot's `GET /evidence/:hash`). */
export function evidenceUrl(baseUrl: string, hash: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/evidence/${hash}`;
}

/**
 * The calls of the planned actions, each carrying the evidence hash; with `evidenceBaseUrl`, each
 * also names where the document is published (in its description only: not in the document).
 */
export function buildActions(
  s: EraSnapshot,
  planned: PlannedAction[],
  hash: string,
  evidenceBaseUrl?: string,
): build.ManagerAction[] {
  const cluster = BigInt(s.cluster);
  const era = BigInt(s.era);
  const actions = planned.map((p) => {
    switch (p.kind) {
      case "usage-report":
        return build.usageReport(s.core, {
          cluster,
          era,
          buckets: p.buckets.map(BigInt),
          measuredUnits: p.measuredUnits.map(BigInt),
          evidenceHash: hash,
        });
      case "distribution":
        return build.distribution(s.core, { cluster, era, ineligible: p.ineligible.map(BigInt), evidenceHash: hash });
      case "replace-node":
        return build.replaceNode(s.core, {
          cluster,
          era,
          node: BigInt(p.node),
          replacements: p.replacements.map(BigInt),
          evidenceHash: hash,
        });
    }
  });
  if (evidenceBaseUrl === undefined) return actions;
  const url = evidenceUrl(evidenceBaseUrl, hash);
  return actions.map((a) => ({ ...a, evidenceUrl: url }));
}

/**
 * The aggregation of an era, and the buckets a quorum measured that the usage report leaves out
 * (`s.foreignBuckets`: not the cluster's).
 */
export function aggregateEra(s: EraSnapshot): { aggregation: Aggregation; foreignBuckets: number[] } {
  const validators = new Set(s.validators.map((v) => getAddress(v)));
  const members = s.scored ?? s.members.map((m) => m.node);
  const a = aggregate(
    s.reports,
    validators,
    members,
    { qosThreshold: s.params.qosThreshold, unitSize: s.params.unitSize },
    { chainId: s.chainId, core: s.core, cluster: s.cluster, era: s.era },
  );
  if (!a.decided || s.foreignBuckets === undefined || s.foreignBuckets.length === 0) {
    return { aggregation: a, foreignBuckets: [] };
  }
  const foreign = new Set(s.foreignBuckets);
  return {
    aggregation: { ...a, usage: a.usage.filter((u) => !foreign.has(u.bucket)) },
    foreignBuckets: a.usage.filter((u) => foreign.has(u.bucket)).map((u) => u.bucket),
  };
}

/** The buckets a quorum of the era's reports measured (those the chain is asked about). */
export function measuredBuckets(s: EraSnapshot): number[] {
  const { aggregation } = aggregateEra({ ...s, foreignBuckets: [] });
  return aggregation.decided ? aggregation.usage.map((u) => u.bucket) : [];
}

/**
 * Decides one era: aggregates the reports, plans the actions, and writes the evidence document
 * (inputs, aggregation, planned actions), whose hash every action carries on chain. The document
 * depends on the snapshot only (not on when it was taken): the same era, the same hash. With
 * `evidenceBaseUrl`, the actions' descriptions say where the document is published (the document
 * and its hash do not depend on it).
 */
export function decideEra(s: EraSnapshot, options: { evidenceBaseUrl?: string } = {}): EraDecision {
  const { aggregation: a, foreignBuckets } = aggregateEra(s);
  if (!a.decided) return { decided: false, aggregation: a };
  const validators = new Set(s.validators.map((v) => getAddress(v)));
  const planned = planActions(s, a);
  // By address, compared as plain lower-case strings (a locale's collation would change the order).
  const key = (r: SignedReport) => r.validator.toLowerCase();
  const reports = [...s.reports].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
  // A version 1 document (an era an earlier bot recorded) is written as it was, to its hash.
  const v1 = s.evidenceVersion === 1;
  const evidence = {
    version: v1 ? 1 : EVIDENCE_VERSION,
    chainId: s.chainId,
    core: getAddress(s.core),
    cluster: s.cluster,
    era: s.era,
    ...(v1 ? { snapshotBlock: s.snapshotBlock } : {}),
    policy: { ...s.params, ...s.policy },
    validators: [...validators].sort(),
    reports,
    members: s.members,
    ...(s.scored === undefined ? {} : { scored: s.scored }),
    history: s.history,
    candidates: s.candidates,
    previousEvidence: s.previousEvidence,
    aggregation: {
      scores: a.scores,
      ineligible: a.ineligible,
      usage: a.usage,
      ...(v1 ? {} : { foreignBuckets }),
    },
    actions: planned,
  };
  const json = canonicalJson(evidence);
  const hash = hashOfJson(json);
  return {
    decided: true,
    evidence,
    json,
    hash,
    planned,
    actions: buildActions(s, planned, hash, options.evidenceBaseUrl),
  };
}

/** A type as it reads back from JSON: bigints were written as decimal strings. */
type Stringified<T> = { [K in keyof T]: T[K] extends bigint ? string : T[K] };

/** The inputs of an evidence document, as {decideEra} wrote them. */
type EvidenceInputs = Omit<
  EraSnapshot,
  "candidates" | "params" | "policy" | "evidenceVersion" | "foreignBuckets" | "snapshotBlock"
> & {
  version: number;
  /** In version 1 documents only. */
  snapshotBlock?: number;
  candidates: Stringified<CandidateState>[];
  policy: Stringified<Omit<EraSnapshot["params"], "exclusionFactor">> & {
    exclusionFactor?: number;
  } & ReplacementPolicy;
  aggregation?: { foreignBuckets?: number[] };
};

/**
 * The snapshot an evidence document was decided from (its inputs, checked for shape by use):
 * deciding it again writes the same document. Reads version 1 (with `snapshotBlock`) and 2.
 */
export function snapshotOf(doc: Record<string, unknown>): EraSnapshot {
  // The outputs (aggregation, actions) are recomputed, except the buckets the chain said were not
  // the cluster's: an input, read from the chain when the era was decided.
  const d = doc as unknown as EvidenceInputs;
  const { policy } = d;
  return {
    chainId: d.chainId,
    core: d.core,
    cluster: d.cluster,
    era: d.era,
    ...(d.version === 1 ? { evidenceVersion: 1 as const, snapshotBlock: d.snapshotBlock } : {}),
    validators: d.validators,
    reports: d.reports,
    ...(d.aggregation?.foreignBuckets === undefined ? {} : { foreignBuckets: d.aggregation.foreignBuckets }),
    members: d.members,
    ...(d.scored === undefined ? {} : { scored: d.scored }),
    history: d.history,
    candidates: d.candidates.map((c) => ({ ...c, capacity: BigInt(c.capacity), reserved: BigInt(c.reserved) })),
    params: {
      qosThreshold: policy.qosThreshold,
      unitSize: BigInt(policy.unitSize),
      replicationFactor: policy.replicationFactor,
      // Documents from before the core kept an exclusion factor used the replication factor.
      exclusionFactor: policy.exclusionFactor ?? policy.replicationFactor,
      reservedPerVNode: BigInt(policy.reservedPerVNode),
    },
    policy: { failingEras: policy.failingEras, maxPerEra: policy.maxPerEra },
    previousEvidence: d.previousEvidence,
  };
}
