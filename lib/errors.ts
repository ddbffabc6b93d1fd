import { decodeBytes32String, type Interface } from "ethers";
import type { ValueFormat } from "./format";
import {
  DDCCore__factory,
  DDCGovernanceToken__factory,
  DDCGovernor__factory,
  IDDC__factory,
  TimelockController__factory,
  TestStablecoin__factory,
} from "../typechain-types";

export { cleanMessage } from "./redact";

/**
 * The project's error: a failure someone can act on. `message` may carry details on further lines;
 * `shortMessage` is the one line to print, `hint` what to do about it, `cause` what went wrong below.
 * The CLI prints these as they are; the other modules throw subclasses (`CliError`, `ConfigError`,
 * `TxError`).
 */
export class DdcError extends Error {
  override name = "DdcError";
  readonly shortMessage: string;
  readonly hint?: string;

  constructor(message: string, options: { shortMessage?: string; hint?: string; cause?: unknown } = {}) {
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.shortMessage = options.shortMessage ?? message;
    this.hint = options.hint;
  }
}

/**
 * The interfaces whose custom errors revert data may carry: the core's, the Governor's, the
 * Timelock's and the tokens' (OpenZeppelin's errors come with them).
 */
const INTERFACES = [
  IDDC__factory.createInterface(),
  DDCCore__factory.createInterface(),
  DDCGovernor__factory.createInterface(),
  TimelockController__factory.createInterface(),
  DDCGovernanceToken__factory.createInterface(),
  TestStablecoin__factory.createInterface(),
] as unknown as Interface[];

/**
 * Arguments of the core's and the tokens' errors that are amounts of the payment token, and those
 * that are timestamps, by error name: shown with the token's symbol and as ISO times when the
 * caller passes a `ValueFormat`.
 */
const MONEY_ARGS: Record<string, string[]> = {
  NodeHasRevenue: ["amount"],
  ClusterReserveInsufficient: ["reserve", "requested"],
  ClusterReplacementRaisesPrice: ["price", "newPrice"],
  ClusterRentUnchanged: ["rent"],
  ClusterPriceTooHigh: ["price", "max"],
  LedgerInsufficientRunway: ["available", "required"],
  LedgerInsufficientFree: ["free", "requested"],
  LedgerPriceAboveLimit: ["price", "maxPrice"],
  LedgerUnlockExceeded: ["unlocked", "requested"],
  LedgerNothingReceived: ["amount"],
  DDCInsufficientBalance: ["balance", "requested"],
  ERC20InsufficientBalance: ["balance", "needed"],
  ERC20InsufficientAllowance: ["allowance", "needed"],
};
const TIME_ARGS: Record<string, string[]> = {
  LedgerLocked: ["unlockAt"],
  ClusterNodeAlreadyLeaving: ["leaveAt"],
  ClusterNodeLeaveNotDue: ["leaveAt"],
};

/** The Governor's proposal states (IGovernor.ProposalState), by number. */
export const PROPOSAL_STATE_NAMES = [
  "Pending",
  "Active",
  "Canceled",
  "Defeated",
  "Succeeded",
  "Queued",
  "Expired",
  "Executed",
] as const;
/** The Timelock's operation states (TimelockController.OperationState), by number. */
const OPERATION_STATE_NAMES = ["Unset", "Waiting", "Ready", "Done"] as const;

/** The states a bitmap (bit i = state i, as OpenZeppelin encodes them) names, in words. */
function statesOfBitmap(bitmap: bigint, names: readonly string[]): string {
  const set = names.filter((_n, i) => (bitmap >> BigInt(i)) & 1n);
  return set.length === 0 ? "none" : set.join(" or ");
}

/** One argument of a decoded error, in words where the error's meaning says how. */
function showArg(errorName: string, name: string, value: unknown, format: ValueFormat): string {
  if (name === "expectedStates" && typeof value === "string" && /^0x[0-9a-f]{64}$/i.test(value)) {
    // A bytes32 bitmap of states.
    value = BigInt(value);
  }
  if (typeof value === "bigint") {
    if (format.money !== undefined && MONEY_ARGS[errorName]?.includes(name)) return format.money(value);
    if (format.time !== undefined && TIME_ARGS[errorName]?.includes(name)) return format.time(value);
    if (errorName === "GovernorUnexpectedProposalState") {
      if (name === "current") return PROPOSAL_STATE_NAMES[Number(value)] ?? String(value);
      if (name === "expectedStates") return statesOfBitmap(value, PROPOSAL_STATE_NAMES);
    }
    if (errorName === "TimelockUnexpectedOperationState" && name === "expectedStates") {
      return statesOfBitmap(value, OPERATION_STATE_NAMES);
    }
  }
  if (typeof value === "string" && /^0x[0-9a-f]{64}$/i.test(value) && /^(what|name|field|set)$/.test(name)) {
    // bytes32 labels (DDCZeroAddress("to"), DDCParameterOutOfRange("networkFee")) read as text.
    try {
      return JSON.stringify(decodeBytes32String(value));
    } catch {
      return value;
    }
  }
  return String(value);
}

/**
 * The custom error in revert data, as `Name(arg=value, …)`, or undefined. With `format`, amounts
 * carry the token's symbol and timestamps read as ISO times; Governor and Timelock states always
 * read as words (`expectedStates=Succeeded`), never as bitmaps.
 */
export function decodeRevert(
  data: string | undefined,
  format: ValueFormat = {},
): { name: string; text: string } | undefined {
  if (data === undefined || data === "0x" || data.length < 10) return undefined;
  for (const iface of INTERFACES) {
    try {
      const parsed = iface.parseError(data);
      if (parsed === null) continue;
      const args = parsed.fragment.inputs.map(
        (input, i) => `${input.name || i}=${showArg(parsed.name, input.name, parsed.args[i], format)}`,
      );
      return { name: parsed.name, text: `${parsed.name}(${args.join(", ")})` };
    } catch {
      // try the next interface
    }
  }
  return undefined;
}
