import { getAddress, id as idOf } from "ethers";
import type { DDCGovernor } from "../typechain-types";
import { PROPOSAL_STATE_NAMES } from "../lib/errors";
import { getLogsPaged } from "../lib/logs";
import { parseActionKey, parseEvidence, sameKey, type ActionKey, type ProposalArgs } from "./actions";

export { getLogsPaged };

/**
 * A cluster managed by the DAO: manager actions become OpenZeppelin Governor proposals executed by
 * the TimelockController (the cluster's manager). These helpers only shape proposals; voting,
 * queueing and execution are the Governor's own functions.
 */

/** One call the Timelock makes when the proposal executes. */
export interface ProposalAction {
  target: string;
  data: string;
  value?: bigint;
}

export interface Proposal {
  actions: ProposalAction[];
  /** Markdown: a title line (`# …`), the body, and the `#proposer=` suffix when restricted. */
  description: string;
}

/** The arguments of `propose` (and, with the description's hash, of `queue`, `execute`, `cancel`). */
export function proposeArgs(p: Proposal): [string[], bigint[], string[], string] {
  if (p.actions.length === 0) throw new Error("a proposal needs at least one action");
  return [
    p.actions.map((a) => a.target),
    p.actions.map((a) => a.value ?? 0n),
    p.actions.map((a) => a.data),
    p.description,
  ];
}

/** The arguments of `queue`, `execute` and `cancel`: the description goes in by its hash. */
export function operationArgs(p: Proposal): [string[], bigint[], string[], string] {
  const [targets, values, calldatas, description] = proposeArgs(p);
  return [targets, values, calldatas, idOf(description)];
}

/**
 * Restricts a description to one proposer: the Governor refuses the same proposal from anyone else
 * (`GovernorRestrictedProposer`), so a front-runner cannot take a proposal it saw in the mempool
 * and have it attributed to itself.
 */
export function restrictToProposer(description: string, proposer: string): string {
  if (/#proposer=0x[0-9a-fA-F]{40}$/.test(description)) {
    throw new Error("the description already names a proposer");
  }
  return `${description}\n\n#proposer=${getAddress(proposer)}`;
}

/** The Governor's proposal states (IGovernor.ProposalState), by number. */
export const PROPOSAL_STATES = PROPOSAL_STATE_NAMES;
export type ProposalStateName = (typeof PROPOSAL_STATES)[number];

export function stateName(state: bigint | number): ProposalStateName {
  const name = PROPOSAL_STATES[Number(state)];
  if (name === undefined) throw new Error(`unknown proposal state ${state}`);
  return name;
}

// ─────────────────────────────────────── lifecycle ───────────────────────────────────────

/** The Governor functions the lifecycle uses (a typechain DDCGovernor fits). */
export type GovernorLike = DDCGovernor;

export interface ProposalRecord {
  id: bigint;
  proposer: string;
  targets: string[];
  values: bigint[];
  calldatas: string[];
  description: string;
  voteStart: bigint;
  voteEnd: bigint;
  block: number;
}

/** Every proposal of the Governor (from its `ProposalCreated` events), oldest first. */
export async function listProposals(
  governor: GovernorLike,
  options: {
    fromBlock?: number;
    toBlock?: number;
    step?: number;
    onProgress?: (done: number, total: number) => void;
  } = {},
): Promise<ProposalRecord[]> {
  const provider = governor.runner?.provider;
  if (provider == null) throw new Error("listProposals: the Governor has no provider");
  const toBlock = options.toBlock ?? (await provider.getBlockNumber());
  const event = governor.interface.getEvent("ProposalCreated");
  const logs = await getLogsPaged(
    provider,
    { address: await governor.getAddress(), topics: [event.topicHash] },
    options.fromBlock ?? 0,
    toBlock,
    options,
  );
  return logs.map((log) => {
    const e = governor.interface.decodeEventLog(event, log.data, log.topics);
    return {
      id: e.proposalId as bigint,
      proposer: e.proposer as string,
      targets: [...(e.targets as string[])],
      values: [...(e[3] as bigint[])], // `values` is also a method of Result
      calldatas: [...(e.calldatas as string[])],
      description: e.description as string,
      voteStart: e.voteStart as bigint,
      voteEnd: e.voteEnd as bigint,
      block: log.blockNumber,
    };
  });
}

/** States in which a proposal still stands for its decision (it may yet execute, or did). */
const LIVE: ProposalStateName[] = ["Pending", "Active", "Succeeded", "Queued", "Executed"];

/**
 * The newest proposal carrying `key` that still stands, if any; with `calls`, only one making
 * exactly those calls (anyone above the threshold can propose anything under any key).
 */
export async function findByActionKey(
  governor: GovernorLike,
  key: ActionKey,
  options: { fromBlock?: number; step?: number; calls?: Pick<ProposalArgs, "targets" | "values" | "calldatas"> } = {},
): Promise<ProposalRecord | undefined> {
  const all = await listProposals(governor, options);
  const same = (p: ProposalRecord) => {
    const c = options.calls;
    if (c === undefined) return true;
    return (
      p.targets.length === c.targets.length &&
      p.targets.every(
        (t, i) =>
          getAddress(t) === getAddress(c.targets[i]) &&
          p.values[i] === c.values[i] &&
          p.calldatas[i].toLowerCase() === c.calldatas[i].toLowerCase(),
      )
    );
  };
  for (const p of all.reverse()) {
    const k = parseActionKey(p.description);
    if (k === undefined || !sameKey(k, key) || !same(p)) continue;
    if (LIVE.includes(stateName(await governor.state(p.id)))) return p;
  }
  return undefined;
}

export type ProposeOutcome =
  { id: bigint; created: true } | { id: bigint; created: false; reason: "exists" | "same action key" };

/**
 * Proposes `args` unless it is already there: the id is computed first (a proposal with the same
 * calls and description exists: skipped), then the action key is looked up (a standing proposal
 * for the same decision, making exactly the same calls: skipped), so restarts never propose one
 * decision twice, and nobody pre-empts it with other calls under its key.
 */
export async function proposeOnce(
  governor: GovernorLike,
  args: ProposalArgs,
  options: { fromBlock?: number; step?: number } = {},
): Promise<ProposeOutcome> {
  const id = await governor.hashProposal(args.targets, args.values, args.calldatas, idOf(args.description));
  if ((await governor.proposalSnapshot(id)) !== 0n) return { id, created: false, reason: "exists" };
  const key = parseActionKey(args.description);
  if (key !== undefined) {
    const standing = await findByActionKey(governor, key, { ...options, calls: args });
    if (standing !== undefined) return { id: standing.id, created: false, reason: "same action key" };
  }
  await (await governor.propose(args.targets, args.values, args.calldatas, args.description)).wait();
  return { id, created: true };
}

export const SUPPORT = { against: 0, for: 1, abstain: 2 } as const;

/** Casts the caller's vote, with a reason when given (it is on chain, in `VoteCast`). */
export async function vote(
  governor: GovernorLike,
  proposalId: bigint,
  support: keyof typeof SUPPORT,
  reason = "",
): Promise<void> {
  const tx =
    reason === ""
      ? await governor.castVote(proposalId, SUPPORT[support])
      : await governor.castVoteWithReason(proposalId, SUPPORT[support], reason);
  await tx.wait();
}

async function recordOf(
  governor: GovernorLike,
  proposalId: bigint,
  options: { fromBlock?: number },
): Promise<ProposalRecord> {
  const found = (await listProposals(governor, options)).find((p) => p.id === proposalId);
  if (found === undefined) throw new Error(`no proposal ${proposalId} on this Governor`);
  return found;
}

/** Queues a succeeded proposal, by id (its calls come from its `ProposalCreated` event). */
export async function queueById(governor: GovernorLike, proposalId: bigint, options: { fromBlock?: number } = {}) {
  const p = await recordOf(governor, proposalId, options);
  await (await governor.queue(p.targets, p.values, p.calldatas, idOf(p.description))).wait();
  return p;
}

/** Executes a queued proposal whose Timelock delay has passed, by id. */
export async function executeById(governor: GovernorLike, proposalId: bigint, options: { fromBlock?: number } = {}) {
  const p = await recordOf(governor, proposalId, options);
  await (await governor.execute(p.targets, p.values, p.calldatas, idOf(p.description))).wait();
  return p;
}

export async function proposalState(governor: GovernorLike, proposalId: bigint): Promise<ProposalStateName> {
  return stateName(await governor.state(proposalId));
}

/** The proposal by id, with its calls, state and votes. */
export async function proposalDetails(
  governor: GovernorLike,
  proposalId: bigint,
  options: { fromBlock?: number } = {},
) {
  const p = await recordOf(governor, proposalId, options);
  const [state, votes, eta] = await Promise.all([
    proposalState(governor, proposalId),
    governor.proposalVotes(proposalId),
    governor.proposalEta(proposalId),
  ]);
  return {
    ...p,
    state,
    votes: { against: votes.againstVotes, for: votes.forVotes, abstain: votes.abstainVotes },
    eta,
    key: parseActionKey(p.description),
    evidenceHash: parseEvidence(p.description),
  };
}
