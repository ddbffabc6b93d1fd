import type { Interface } from "ethers";
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

/** The custom error in revert data, as `Name(arg=value, …)`, or undefined. */
export function decodeRevert(data: string | undefined): { name: string; text: string } | undefined {
  if (data === undefined || data === "0x" || data.length < 10) return undefined;
  for (const iface of INTERFACES) {
    try {
      const parsed = iface.parseError(data);
      if (parsed === null) continue;
      const args = parsed.fragment.inputs.map((input, i) => `${input.name || i}=${String(parsed.args[i])}`);
      return { name: parsed.name, text: `${parsed.name}(${args.join(", ")})` };
    } catch {
      // try the next interface
    }
  }
  return undefined;
}
