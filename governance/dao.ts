import { getAddress, id } from "ethers";

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
  return [targets, values, calldatas, id(description)];
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
export const PROPOSAL_STATES = [
  "Pending",
  "Active",
  "Canceled",
  "Defeated",
  "Succeeded",
  "Queued",
  "Expired",
  "Executed",
] as const;
export type ProposalStateName = (typeof PROPOSAL_STATES)[number];

export function stateName(state: bigint | number): ProposalStateName {
  const name = PROPOSAL_STATES[Number(state)];
  if (name === undefined) throw new Error(`unknown proposal state ${state}`);
  return name;
}
