import { getAddress } from "ethers";
import type { ActionKind } from "../../governance/actions";
import type { DDCLens, IDDC } from "../../typechain-types";
import { settlement } from "../../governance/actions";
import { decideEra, type EraDecision, type EraSnapshot } from "./decide";
import { carryOut, type Target } from "./executors";
import { planSettlements, type CandidateState, type LedgerState, type ReplacementPolicy } from "./policy";
import type { ActionRecord, BotStore } from "./store";
import type { ChainView } from "./validate";

/** Usage reports and distributions are routine (an operator may run them); replacements are the manager's. */
const ROUTINE: ActionKind[] = ["usage-report", "distribution", "settlement"];

type ClusterState = Pick<EraSnapshot, "members" | "candidates" | "params"> & { manager: string };

/**
 * What the bot reads of a cluster to decide an era: its members and their vNodes, its parameters,
 * and the nodes that could replace a member (registered, not members, with their provider's trust
 * of the current manager and their free capacity). With the lens: 2 calls, plus one per 2,000
 * node ids; without: a few calls per node.
 */
export async function readCluster(ddc: IDDC, cluster: number, lens?: DDCLens): Promise<ClusterState> {
  const view = await ddc.getCluster(cluster);
  const params = {
    qosThreshold: Number(view.params.qosThreshold),
    unitSize: view.unitSize,
    replicationFactor: Number(view.params.replicationFactor),
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
 * call per 2,000 bucket ids). `settledAt` is when the bot last settled the cluster.
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

/** Each member's scores of earlier eras, from the evidence of the store's earlier distributions. */
export function historyFromStore(
  store: BotStore,
  cluster: number,
  beforeEra: number,
  eras: number,
): { history: Record<string, number[]>; evidence: string[] } {
  const history: Record<string, number[]> = {};
  const evidence: string[] = [];
  for (let era = Math.max(0, beforeEra - eras); era < beforeEra; era++) {
    const a = store.action(cluster, era, "distribution");
    if (a?.evidence == null) continue;
    const doc = JSON.parse(a.evidence) as { aggregation: { scores: { node: number; score: number }[] } };
    for (const s of doc.aggregation.scores) (history[String(s.node)] ??= []).push(s.score);
    if (a.evidenceHash !== null) evidence.push(a.evidenceHash);
  }
  return { history, evidence };
}

/**
 * Decides one closed era of one cluster from the reports in the store and carries the actions
 * out: routine ones through `routine` (an operator key, or the manager), replacements through
 * `structural` (the manager: a Governor or a Safe). Without enough reports, it says which are
 * missing and does nothing.
 */
export async function decideAndAct(input: {
  ddc: IDDC;
  chain: ChainView;
  store: BotStore;
  cluster: number;
  era: number;
  snapshotBlock: number;
  policy: ReplacementPolicy;
  routine: Target;
  structural: Target;
  /** The lens: the cluster in a few calls, and the settlement state. */
  lens?: DDCLens;
  /** With the lens, due buckets are settled first (settle → usage → distribute → replace). */
  settlement?: { minimum: bigint };
}): Promise<{ decision: EraDecision; records: ActionRecord[] }> {
  const { ddc, chain, store, cluster, era } = input;
  const settled: ActionRecord[] = [];
  if (input.settlement !== undefined) {
    if (input.lens === undefined) throw new Error("settling needs the lens (DDCLens.settlementPage)");
    // The bot settles a cluster at most once an era; a ledger it has not settled this era or the
    // last one counts as unsettled for an era.
    const now = await chain.now();
    const done = (e: number) => store.action(cluster, e, "settlement")?.state === "executed";
    const settledAt = done(era) || (era > 0 && done(era - 1)) ? now : 0n;
    const ledgers = await readSettlements(input.lens, cluster, settledAt);
    const eraLength = BigInt((await ddc.getCluster(cluster)).params.eraLength);
    const plan = planSettlements(ledgers, now, eraLength, input.settlement.minimum);
    if (plan.batches.length > 0) {
      const first = settlement(chain.core, {
        cluster: BigInt(cluster),
        era: BigInt(era),
        buckets: plan.batches[0].map(BigInt),
      });
      const calls = plan.batches.flatMap(
        (b) => settlement(chain.core, { cluster: BigInt(cluster), buckets: b.map(BigInt) }).calls,
      );
      settled.push(await carryOut(store, input.routine, { ...first, calls }, null));
    }
  }
  const validators = [...(await chain.validatorsAt(cluster, era))].map((v) => getAddress(v));
  const state = await readCluster(ddc, cluster, input.lens);
  // While a replacement is pending in the cluster (proposed, not executed nor refused), no other
  // is proposed: the topology it was decided on may still change.
  const replacing = store.open().some((a) => a.cluster === cluster && a.kind === "replace-node");
  const { history, evidence } = historyFromStore(store, cluster, era, input.policy.failingEras);
  const snapshot: EraSnapshot = {
    chainId: chain.chainId,
    core: chain.core,
    cluster,
    era,
    snapshotBlock: input.snapshotBlock,
    validators,
    reports: store.reportsFor(cluster, era),
    members: state.members.map((m) => ({ ...m, pendingReplacement: replacing })),
    history,
    candidates: state.candidates,
    params: state.params,
    policy: input.policy,
    previousEvidence: evidence,
  };
  const decision = decideEra(snapshot);
  if (!decision.decided) return { decision, records: settled };
  const records: ActionRecord[] = [...settled];
  for (const action of decision.actions) {
    const target = ROUTINE.includes(action.key.kind) ? input.routine : input.structural;
    records.push(await carryOut(store, target, action, { hash: decision.hash, json: decision.json }));
  }
  return { decision, records };
}
