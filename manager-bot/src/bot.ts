import { getAddress, type ContractRunner } from "ethers";
import type { ActionKind, ManagerAction } from "../../governance/actions";
import type { DDCLens, IDDC } from "../../typechain-types";
import { settlement } from "../../governance/actions";
import {
  decideEra,
  measuredBuckets,
  snapshotOf,
  type EraDecision,
  type EraSnapshot,
  type PlannedAction,
} from "./decide";
import { carryOut, type Target } from "./executors";
import { failpoint } from "./failpoints";
import { planEras, planSettlements, type CandidateState, type LedgerState, type ReplacementPolicy } from "./policy";
import type { ActionRecord, BotStore, EraRecord } from "./store";
import type { ChainView } from "./validate";

/** Usage reports and distributions are routine (an operator may run them); replacements are the manager's. */
const ROUTINE: ActionKind[] = ["usage-report", "distribution", "settlement"];

type ClusterState = Pick<EraSnapshot, "members" | "candidates" | "params"> & { manager: string };

/**
 * What the bot reads of a cluster to decide an era: its members and their vNodes, its parameters,
 * and the nodes that could replace a member (registered, not members, with their provider's trust
 * of the current manager and their free capacity). With the lens: 2 calls, plus one per 500
 * node ids; without: a few calls per node.
 */
export async function readCluster(ddc: IDDC, cluster: number, lens?: DDCLens): Promise<ClusterState> {
  const view = await ddc.getCluster(cluster);
  const params = {
    qosThreshold: Number(view.params.qosThreshold),
    unitSize: view.unitSize,
    replicationFactor: Number(view.params.replicationFactor),
    exclusionFactor: Number(view.exclusionFactor),
    reservedPerVNode: view.reservedPerVNode,
  };
  const candidates: CandidateState[] = [];
  if (lens !== undefined) {
    const [nodes, vNodes] = await lens.clusterMembers(cluster);
    let cursor = 0n;
    do {
      const [ids, trusted, free, next] = await lens.replacementCandidates(cluster, cursor);
      ids.forEach((id, i) =>
        candidates.push({
          node: Number(id),
          trustsManager: trusted[i],
          capacity: free[i],
          reserved: 0n,
          meanScore: null,
        }),
      );
      cursor = next;
    } while (cursor !== 0n);
    return {
      manager: view.manager,
      members: nodes.map((n, i) => ({ node: Number(n), vNodes: Number(vNodes[i]), pendingReplacement: false })),
      candidates,
      params,
    };
  }
  const members = await ddc.clusterNodes(cluster);
  const memberSet = new Set(members.map(Number));
  const infos = await Promise.all(members.map((n) => ddc.clusterNodeInfo(cluster, n)));
  const count = Number(await ddc.nodeCount());
  for (let id = 1; id <= count; id++) {
    if (memberSet.has(id)) continue;
    const node = await ddc.getNode(id).catch(() => undefined);
    if (node === undefined) continue; // deregistered
    candidates.push({
      node: id,
      trustsManager: await ddc.isManagerTrusted(node.provider, view.manager),
      capacity: node.capacity,
      reserved: node.reserved,
      meanScore: null,
    });
  }
  return {
    manager: view.manager,
    members: members.map((n, i) => ({ node: Number(n), vNodes: infos[i].tokens.length, pendingReplacement: false })),
    candidates,
    params,
  };
}

/**
 * The open buckets of a cluster with their ledgers' rent owed and coverage, through the lens (one
 * call per page of bucket ids). `settledAt` is when the bot last settled the cluster.
 */
export async function readSettlements(lens: DDCLens, cluster: number, settledAt: bigint): Promise<LedgerState[]> {
  const out: LedgerState[] = [];
  let cursor = 0n;
  do {
    const [items, next] = await lens.settlementPage(cluster, cursor);
    for (const b of items)
      out.push({ bucket: Number(b.bucket), owed: b.owed, settledAt, coveredUntil: b.coveredUntil });
    cursor = next;
  } while (cursor !== 0n);
  return out;
}

type EvidenceScores = { aggregation: { scores: { node: number; score: number }[] } };

/**
 * Each member's scores of the cluster's last `eras` decided eras before `beforeEra` (oldest
 * first; skipped eras are left out), as their evidence states them (the store keeps them beside
 * the documents), and those documents' hashes.
 */
export function historyFromStore(
  store: BotStore,
  cluster: number,
  beforeEra: number,
  eras: number,
): { history: Record<string, number[]>; evidence: string[] } {
  const history: Record<string, number[]> = {};
  const evidence: string[] = [];
  for (const e of store.decidedScores({ cluster, beforeEra, limit: eras }).reverse()) {
    for (const s of e.scores) (history[String(s.node)] ??= []).push(s.score);
    evidence.push(e.evidenceHash);
  }
  return { history, evidence };
}

/**
 * The mean score (floored) of each node of `nodes` over the last `eras` decided eras of every
 * other cluster the bot manages (a replacement candidate's QoS history), and the hashes of the
 * documents that scored one of them.
 */
export function candidateScores(
  store: BotStore,
  cluster: number,
  eras: number,
  nodes: Set<number>,
): { scores: Map<number, number>; evidence: string[] } {
  const sums = new Map<number, { total: number; count: number }>();
  const evidence: string[] = [];
  for (const e of store.decidedScores({ otherThan: cluster, perCluster: eras })) {
    const scored = e.scores.filter((s) => nodes.has(s.node));
    for (const s of scored) {
      const acc = sums.get(s.node) ?? { total: 0, count: 0 };
      sums.set(s.node, { total: acc.total + s.score, count: acc.count + 1 });
    }
    if (scored.length > 0) evidence.push(e.evidenceHash);
  }
  const scores = new Map([...sums].map(([node, { total, count }]) => [node, Math.floor(total / count)]));
  return { scores, evidence };
}

export interface EraInput {
  ddc: IDDC;
  chain: ChainView;
  store: BotStore;
  cluster: number;
  policy: ReplacementPolicy;
  routine: Target;
  structural: Target;
  /** The lens: the cluster in a few calls, and the settlement state. */
  lens?: DDCLens;
  /** With the lens, due buckets are settled first (settle → usage → distribute → replace). */
  settlement?: { minimum: bigint };
  /** Where the bot publishes evidence (`GET /evidence/:hash`): named in the actions' descriptions. */
  evidenceBaseUrl?: string;
}

/**
 * The settlement of the cluster's due buckets (read through the lens) as one action, or null when
 * none is due. The bot settles with each era's decision, just after the era's end: a ledger it
 * settled with the last era's decision has gone unsettled for about an era, and is due again if
 * it owes anything (so each era's rent reaches the pool before that era's distribution).
 */
export async function settlementAction(input: EraInput, era: number, minimum: bigint): Promise<ManagerAction | null> {
  const { ddc, chain, store, cluster, lens } = input;
  if (lens === undefined) throw new Error("settling needs the lens (DDCLens.settlementPage)");
  const now = await chain.now();
  // Settled with era e's decision: just after e's end (the bot settles at most once an era).
  const done = (e: number) => store.action(cluster, e, "settlement")?.state === "executed";
  const settledAt = done(era) ? now : era > 0 && done(era - 1) ? ((await chain.eraEnd(cluster, era - 1)) ?? 0n) : 0n;
  const ledgers = await readSettlements(lens, cluster, settledAt);
  const eraLength = BigInt((await ddc.getCluster(cluster)).params.eraLength);
  const plan = planSettlements(ledgers, now, eraLength, minimum);
  if (plan.batches.length === 0) return null;
  return settlement(chain.core, {
    cluster: BigInt(cluster),
    era: BigInt(era),
    buckets: plan.batches.flat().map(BigInt),
  });
}

/** The snapshot of an era as the chain and the store show it now. */
export async function snapshotNow(input: EraInput, era: number, snapshotBlock: number): Promise<EraSnapshot> {
  const { ddc, chain, store, cluster } = input;
  const validators = [...(await chain.validatorsAt(cluster, era))].map((v) => getAddress(v));
  const state = await readCluster(ddc, cluster, input.lens);
  // The threshold, unit size and replication factor in force at the era's end (what verify reads);
  // the exclusion factor, the reservation, members and candidates are what the core accepts now.
  const atEnd = await chain.paramsAt?.(cluster, era);
  // While a replacement is pending in the cluster (proposed, not executed nor refused), no other
  // is proposed: the topology it was decided on may still change.
  const replacing = store.open().some((a) => a.cluster === cluster && a.kind === "replace-node");
  const { history, evidence } = historyFromStore(store, cluster, era, input.policy.failingEras);
  const known = candidateScores(store, cluster, input.policy.failingEras, new Set(state.candidates.map((c) => c.node)));
  const candidates = state.candidates.map((c) => ({ ...c, meanScore: known.scores.get(c.node) ?? null }));
  const s: EraSnapshot = {
    chainId: chain.chainId,
    core: chain.core,
    cluster,
    era,
    snapshotBlock,
    validators,
    reports: store.reportsFor(cluster, era),
    members: state.members.map((m) => ({ ...m, pendingReplacement: replacing })),
    ...(chain.membersAt === undefined ? {} : { scored: await chain.membersAt(cluster, era) }),
    history,
    candidates,
    params: { ...state.params, ...atEnd },
    policy: input.policy,
    previousEvidence: [...evidence, ...known.evidence],
  };
  // A bucket a quorum measured that is not the cluster's is left out: the core reverts the whole call.
  if (chain.foreignBuckets === undefined) return s;
  return { ...s, foreignBuckets: await chain.foreignBuckets(cluster, measuredBuckets(s)) };
}

/**
 * Decides one closed era of one cluster from the reports in the store and carries the actions
 * out: routine ones through `routine` (an operator key, or the manager), replacements through
 * `structural` (the manager: a Governor or a Safe). The decision is recorded before any action is
 * carried out; an era decided before (a restart) is carried out from its recorded evidence, not
 * decided again. Without enough reports, it says which are missing and does nothing more.
 */
export async function decideAndAct(
  input: EraInput & { era: number; snapshotBlock: number },
): Promise<{ decision: EraDecision; records: ActionRecord[] }> {
  const { store, cluster, era } = input;
  const records: ActionRecord[] = [];
  if (input.settlement !== undefined) {
    const settle = await settlementAction(input, era, input.settlement.minimum);
    if (settle !== null) records.push(await carryOut(store, input.routine, settle, null));
  }
  const recorded = store.era(cluster, era);
  if (recorded?.status === "skipped")
    throw new Error(`era ${era} of cluster ${cluster} was skipped: ${recorded.reason}`);
  const published = { evidenceBaseUrl: input.evidenceBaseUrl };
  /** The decision an era's recorded evidence leads to (the same actions, the same hash). */
  const fromRecord = (r: EraRecord): Extract<EraDecision, { decided: true }> => {
    const again = decideEra(snapshotOf(JSON.parse(r.evidence!) as Record<string, unknown>), published);
    if (!again.decided || again.hash !== r.evidenceHash) {
      throw new Error(`the store's evidence of era ${era} of cluster ${cluster} does not reproduce its hash`);
    }
    return again;
  };
  let decision: Extract<EraDecision, { decided: true }>;
  if (recorded !== undefined) {
    decision = fromRecord(recorded);
  } else {
    const fresh = decideEra(await snapshotNow(input, era, input.snapshotBlock), published);
    if (!fresh.decided) return { decision: fresh, records };
    const { scores } = (fresh.evidence as EvidenceScores).aggregation;
    const kept = store.decideEra(cluster, era, fresh.hash, fresh.json, scores);
    // Another process recorded the era first: its decision is the one carried out.
    decision = kept.evidenceHash === fresh.hash ? fresh : fromRecord(kept);
    failpoint("era-recorded");
  }
  for (const action of decision.actions) {
    const target = ROUTINE.includes(action.key.kind) ? input.routine : input.structural;
    records.push(await carryOut(store, target, action, { hash: decision.hash, json: decision.json }));
  }
  store.carried(cluster, era);
  return { decision, records };
}

export interface MissedEras {
  /** "catch-up": every closed era in order; "skip": only the last closed one, the others recorded as skipped. */
  mode: "catch-up" | "skip";
  /**
   * An era that cannot be decided (too few reports) holds the later ones back until this many
   * later eras have closed; then it is recorded as skipped and the bot goes on.
   */
  waitEras: number;
}

export interface ClusterRun {
  cluster: number;
  decided: { era: number; hash: string; planned: PlannedAction[]; records: ActionRecord[] }[];
  skipped: SkippedEra[];
  /** Settlements carried out while the era they came with waits for reports. */
  settled?: ActionRecord[];
  /** The era waiting for reports, and which validators have not reported. */
  waiting?: { era: number; missing: string[]; have: number; need: number };
}

/** An era passed over without a decision, and why (what the store records, the log and `bot status` show). */
export interface SkippedEra {
  era: number;
  reason: string;
}

/** Why eras are skipped: each reason names the rule that skipped the era. */
export const SKIP_REASONS = {
  policy: "missed.mode=skip: only the last closed era is decided",
  distributed: (nextEra: number) =>
    `distributed on chain without this bot (the core's next distribution era is ${nextEra})`,
  noQuorum: (have: number, need: number, later: number) =>
    `no-quorum: ${have} of the ${need} reports needed after ${later} later eras closed`,
};

/**
 * The eras to decide now, and those to record as skipped first: every era from the first one the
 * bot answers for in the cluster (after the last one it decided or skipped; at its first run
 * there, the chain's next distribution era, or the last closed era when the chain has none), up to
 * the last closed one. Eras the chain shows distributed already (by the manager, an operator, a
 * bot with another store) are skipped with that reason; the rest are decided in order, or (mode
 * "skip") only the last, the others skipped by policy. The first era is recorded at the first run,
 * so an era that waits for its reports is never passed over by a later run.
 */
export async function erasToDecide(
  input: Pick<EraInput, "ddc" | "store" | "cluster">,
  missed: MissedEras,
): Promise<{ lastClosed: number; plan: { decide: number[]; skipped: SkippedEra[] } }> {
  const { ddc, store, cluster } = input;
  const [current] = await ddc.clusterEra(cluster);
  const lastClosed = Number(current) - 1;
  if (lastClosed < 0) return { lastClosed, plan: { decide: [], skipped: [] } };
  const nextEra = Number((await ddc.clusterRevenue(cluster))[2]);
  const byStore = store.lastEra(cluster);
  const first = byStore !== null ? byStore + 1 : store.startEra(cluster, nextEra > 0 ? nextEra : lastClosed)!;
  const skipped: SkippedEra[] = [];
  let from = first;
  for (; from < nextEra && from <= lastClosed; from++)
    skipped.push({ era: from, reason: SKIP_REASONS.distributed(nextEra) });
  const plan = planEras(from - 1, lastClosed, missed.mode);
  skipped.push(...plan.skipped.map((era) => ({ era, reason: SKIP_REASONS.policy })));
  return { lastClosed, plan: { decide: plan.decide, skipped } };
}

/**
 * Brings a cluster up to date: finishes an era decided before a stop, then decides the closed
 * eras from the first one not decided or skipped yet, in order, each decided or recorded as
 * skipped with its reason (see `erasToDecide`); an era without a quorum holds the later ones back
 * until `waitEras` later eras have closed, and is then skipped.
 */
export async function advanceCluster(input: EraInput & { missed: MissedEras }): Promise<ClusterRun> {
  const { ddc, store, cluster } = input;
  const run: ClusterRun = { cluster, decided: [], skipped: [] };
  const provider = (ddc.runner as ContractRunner | null)?.provider;
  if (provider == null) throw new Error("the core contract needs a provider");
  for (const e of store.uncarried(cluster)) {
    const { decision, records } = await decideAndAct({ ...input, era: e.era, snapshotBlock: 0 });
    if (decision.decided) run.decided.push({ era: e.era, hash: decision.hash, planned: decision.planned, records });
  }
  const { lastClosed, plan } = await erasToDecide(input, input.missed);
  if (lastClosed < 0) return run;
  for (const s of plan.skipped) {
    store.skipEra(cluster, s.era, s.reason);
    run.skipped.push(s);
  }
  for (const era of plan.decide) {
    const snapshotBlock = await provider.getBlockNumber();
    const { decision, records } = await decideAndAct({ ...input, era, snapshotBlock });
    if (decision.decided) {
      run.decided.push({ era, hash: decision.hash, planned: decision.planned, records });
      continue;
    }
    // Its due buckets were settled all the same.
    if (records.length > 0) run.settled = [...(run.settled ?? []), ...records];
    const { missing, have, need } = decision.aggregation;
    if (lastClosed - era >= input.missed.waitEras) {
      const reason = SKIP_REASONS.noQuorum(have, need, lastClosed - era);
      store.skipEra(cluster, era, reason);
      run.skipped.push({ era, reason });
      continue;
    }
    run.waiting = { era, missing, have, need };
    break;
  }
  return run;
}
