import { isError } from "ethers";
import { DdcError, decodeRevert } from "../lib/errors";
import type { ValueFormat } from "../lib/format";

export { DdcError, decodeRevert };

/** A problem the user can act on: printed as is (with its hint), exit code 1. */
export class CliError extends DdcError {
  constructor(message: string, hint?: string) {
    super(message, { hint });
  }
}

/** What to do about the errors people meet most. */
const HINTS: Record<string, string> = {
  NodeNotFound: "check the node id: `ddc node show <id>`",
  NodeNotProvider: "only the node's provider may do this: use the provider's key",
  NodeManagerNotTrusted: "the node's provider must trust the cluster's manager first: `ddc node trust <manager>`",
  NodeCapacityExceeded: "the node lacks capacity: raise it (`ddc node update <id> --capacity`) or reserve less",
  NodeHasRevenue: "claim the node's revenue first: `ddc revenue claim <node>`",
  NodeInClusters: "the node is still in a cluster: it must be removed or replaced first",
  ClusterNotFound: "check the cluster id: `ddc cluster show <id>`",
  ClusterNotManager:
    "only the cluster's manager may do this: `ddc cluster show <id>` says who it is; ddc routes a manager command by it (a proposal for the DAO, the signature store for a Safe)",
  ClusterNotOperator: "only the manager or one of its operators may do this",
  ClusterNodeNotMember: "the node is not in this cluster: `ddc cluster show <cluster>`",
  ClusterBelowReplication:
    "the cluster would keep fewer nodes than its replication factor: add or replace a node instead",
  ClusterEraNotClosed: "wait until the era has ended: `ddc cluster show <cluster>` prints the current era",
  ClusterEraAlreadyDistributed: "that era (or a later one) was distributed already",
  BucketNotFound: "check the bucket id: `ddc bucket show <id>`",
  BucketNotOwner: "only the bucket's owner may do this: use the owner's key",
  LedgerInsufficientRunway: "deposit more first: `ddc account deposit <cluster> <amount>`",
  LedgerInsufficientFree: "less is free than asked: `ddc account show <cluster>`",
  LedgerLocked: "unlock first and wait the unlock delay: `ddc account withdraw` unlocks when nothing is unlocked",
  ERC20InsufficientBalance: "the account holds fewer tokens than the amount",
  ERC20InsufficientAllowance:
    "the core may not move that many of your tokens: the command approves first; check the token",
  AccessControlUnauthorizedAccount: "that role is held by the DAO's Timelock: make a proposal",
  GovernorUnexpectedProposalState: "the proposal is not in the state this step needs: `ddc gov show <id>`",
  GovernorRestrictedProposer: "the description names another proposer (#proposer=): only that address may propose it",
  GovernorAlreadyCastVote: "this account has voted on that proposal already",
  GovernorInsufficientProposerVotes: "the proposer needs more voting power: delegate to it (`ddc gov delegate`)",
  TimelockUnexpectedOperationState: "the Timelock's delay has not passed yet, or the operation was executed",
  EnforcedPause: "the core is paused: only withdrawals, deposits and claims work",
};

function revertData(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 6 && e !== null && typeof e === "object"; depth++) {
    const o = e as { data?: unknown; error?: unknown; info?: { error?: unknown } };
    if (typeof o.data === "string" && o.data.startsWith("0x")) return o.data;
    if (o.data !== null && typeof o.data === "object" && typeof (o.data as { data?: unknown }).data === "string") {
      return (o.data as { data: string }).data;
    }
    e = o.error ?? o.info?.error;
  }
  return undefined;
}

/** Any failure as one clear message and, where there is one, a hint of what to do. */
export function explain(error: unknown, format: ValueFormat = {}): { message: string; hint?: string } {
  // The project's own errors say what happened; one wrapping another failure is explained by it.
  if (error instanceof DdcError && error.cause === undefined) return { message: error.shortMessage, hint: error.hint };
  const data = revertData(error);
  const decoded = decodeRevert(data, format);
  if (decoded !== undefined) return { message: `reverted: ${decoded.text}`, hint: HINTS[decoded.name] };
  if (isError(error, "CALL_EXCEPTION")) {
    return {
      message: `reverted${error.reason ? `: ${error.reason}` : ""}`,
      hint: "the transaction would fail on chain",
    };
  }
  if (isError(error, "INSUFFICIENT_FUNDS"))
    return { message: "the key's account cannot pay for gas", hint: "fund it with the chain's native token" };
  const message = error instanceof Error ? error.message : String(error);
  if (/ECONNREFUSED|fetch failed|could not detect network|failed to detect network/i.test(message)) {
    return {
      message: `the RPC node cannot be reached (${message.split("\n")[0]})`,
      hint: "check --rpc / --network, or start a node: `npx hardhat node`",
    };
  }
  return { message: message.split("\n")[0] };
}
