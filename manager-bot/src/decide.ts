import { getAddress } from "ethers";
import * as build from "../../governance/actions";
import { aggregate, type Aggregation } from "./aggregate";
import { canonicalJson, evidenceHash, hashOfJson } from "./evidence";
import { planReplacements, type CandidateState, type ReplacementPolicy } from "./policy";
import { reportDigest, reportSigner, type SignedReport } from "./report";

/** What the bot knows when it decides one era of one cluster (a snapshot at `snapshotBlock`). */
export interface EraSnapshot {
  chainId: number;
  core: string;
  cluster: number;
  era: number;
  snapshotBlock: number;
  /** The validator set at the era's end. */
  validators: string[];
  /** The accepted, not equivocated reports. */
  reports: SignedReport[];
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
 * Decides one era: aggregates the reports, plans the actions, and writes the evidence document
 * (inputs, aggregation, planned actions), whose hash every action carries on chain. With
 * `evidenceBaseUrl`, the actions' descriptions say where the document is published (the document
 * and its hash do not depend on it).
 */
export function decideEra(s: EraSnapshot, options: { evidenceBaseUrl?: string } = {}): EraDecision {
  const validators = new Set(s.validators.map((v) => getAddress(v)));
  const members = s.scored ?? s.members.map((m) => m.node);
  const a = aggregate(s.reports, validators, members, {
    qosThreshold: s.params.qosThreshold,
    unitSize: s.params.unitSize,
  });
  if (!a.decided) return { decided: false, aggregation: a };
  const planned = planActions(s, a);
  // By address, compared as plain lower-case strings (a locale's collation would change the order).
  const key = (r: SignedReport) => r.validator.toLowerCase();
  const reports = [...s.reports].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
  const evidence = {
    version: 1,
    chainId: s.chainId,
    core: getAddress(s.core),
    cluster: s.cluster,
    era: s.era,
    snapshotBlock: s.snapshotBlock,
    policy: { ...s.params, ...s.policy },
    validators: [...validators].sort(),
    reports,
    members: s.members,
    ...(s.scored === undefined ? {} : { scored: s.scored }),
    history: s.history,
    candidates: s.candidates,
    previousEvidence: s.previousEvidence,
    aggregation: { scores: a.scores, ineligible: a.ineligible, usage: a.usage },
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
type EvidenceInputs = Omit<EraSnapshot, "candidates" | "params" | "policy"> & {
  candidates: Stringified<CandidateState>[];
  policy: Stringified<Omit<EraSnapshot["params"], "exclusionFactor">> & {
    exclusionFactor?: number;
  } & ReplacementPolicy;
};

/** The snapshot an evidence document was decided from (its inputs, checked for shape by use). */
export function snapshotOf(doc: Record<string, unknown>): EraSnapshot {
  const { candidates, policy, ...rest } = doc as unknown as EvidenceInputs;
  return {
    ...rest,
    candidates: candidates.map((c) => ({ ...c, capacity: BigInt(c.capacity), reserved: BigInt(c.reserved) })),
    params: {
      qosThreshold: policy.qosThreshold,
      unitSize: BigInt(policy.unitSize),
      replicationFactor: policy.replicationFactor,
      // Documents from before the core kept an exclusion factor used the replication factor.
      exclusionFactor: policy.exclusionFactor ?? policy.replicationFactor,
      reservedPerVNode: BigInt(policy.reservedPerVNode),
    },
    policy: { failingEras: policy.failingEras, maxPerEra: policy.maxPerEra },
  };
}

export interface VerifyLine {
  action: string;
  ok: boolean;
  why: string;
}

/**
 * Recomputes the decision from an evidence document and compares it, action by action, with the
 * calls found on chain (a proposal's or a Safe transaction's): every report's signature and
 * validator, the aggregation, the planned actions, the evidence hash in the calldata, the calldata
 * itself, and the value each call sends (the decided actions send none).
 */
export function verifyDecision(
  doc: Record<string, unknown>,
  onChain: { target: string; data: string; value: bigint }[],
): VerifyLine[] {
  const lines: VerifyLine[] = [];
  const s = snapshotOf(doc);
  const hash = evidenceHash(doc);
  for (const r of s.reports) {
    let signer = "";
    try {
      signer = reportSigner(r);
    } catch {
      // reported below
    }
    const okSig = signer === getAddress(r.validator);
    const inSet = s.validators.map((v) => getAddress(v)).includes(getAddress(r.validator));
    lines.push({
      action: `report of ${getAddress(r.validator)} (${reportDigest(r.chainId, r.core, r.report).slice(0, 10)}…)`,
      ok: okSig && inSet && r.report.cluster === s.cluster && r.report.era === s.era,
      why: !okSig
        ? "its signature does not match the validator"
        : !inSet
          ? "not in the validator set"
          : "signed by a validator of the era",
    });
  }
  const decision = decideEra(s);
  if (!decision.decided) {
    lines.push({
      action: "aggregation",
      ok: false,
      why: `the evidence holds ${decision.aggregation.have} of the ${decision.aggregation.need} reports needed`,
    });
    return lines;
  }
  const stated = canonicalJson(doc.actions ?? null);
  lines.push({
    action: "planned actions",
    ok: canonicalJson(decision.planned) === stated,
    why:
      canonicalJson(decision.planned) === stated
        ? "recomputed from the reports: the same"
        : "recomputed from the reports, they differ from what the evidence states",
  });
  const expected = buildActions(s, decision.planned, hash).flatMap((a) =>
    a.calls.map((c) => ({ title: a.title, ...c })),
  );
  // Each call on chain (a proposal or a Safe transaction may carry one action or all of them).
  for (const [i, o] of onChain.entries()) {
    const exact = expected.find(
      (e) => getAddress(e.target) === getAddress(o.target) && e.data.toLowerCase() === o.data.toLowerCase(),
    );
    if (exact !== undefined) {
      const sends = (v: bigint) => (v === 0n ? "sends none" : `sends ${v} wei`);
      lines.push(
        o.value === exact.value
          ? { action: exact.title, ok: true, why: `matches the evidence (${hash})` }
          : {
              action: exact.title,
              ok: false,
              why: `the call on chain ${sends(o.value)}, the decided action ${sends(exact.value)}`,
            },
      );
      continue;
    }
    const sameFunction = expected.find((e) => e.data.slice(0, 10) === o.data.slice(0, 10));
    lines.push({
      action: sameFunction?.title ?? `call ${i + 1} on chain`,
      ok: false,
      why:
        sameFunction === undefined
          ? "the evidence does not lead to this call"
          : "the call on chain differs from the one the evidence leads to (arguments or evidence hash)",
    });
  }
  return lines;
}
