import { AbiCoder, Interface, ZeroAddress, dataSlice, getAddress, getBytes, toBigInt } from "ethers";
import { getMultiSendCallOnlyDeployments } from "@safe-global/safe-deployments";
import { safeArtifact } from "../lib/safeArtifacts";

/**
 * MultiSend batches, and the one rule on what a Safe transaction may be.
 *
 * A Safe transaction with operation 1 (delegatecall) runs the target's code with the Safe's own
 * storage and funds: that code can rewrite the owners, the threshold, the modules and the guard,
 * and move everything the Safe holds. Whatever its calldata looks like (a `multiSend(bytes)` is
 * easy to fake), only one delegatecall is accepted: a batch through the canonical
 * MultiSendCallOnly, whose calls are all plain calls. A gas refund (`gasPrice`, `baseGas`,
 * `gasToken`, `refundReceiver`) pays whoever the transaction names out of the Safe's funds;
 * nothing here uses one, so none is accepted either.
 *
 * The decoder, `ddc safe sign`, `ddc verify` and the bot all ask this module; none keeps a copy.
 */

export const MULTI_SEND = new Interface(safeArtifact("MultiSend").abi as never[]);

/** One call of a batch, as MultiSend packs it. */
export interface PackedCall {
  operation: number;
  to: string;
  value: bigint;
  data: string;
}

/** MultiSend's packed batch: operation (1 byte), to (20), value (32), data length (32), data. */
export function unpackMultiSend(transactions: string): PackedCall[] {
  const bytes = getBytes(transactions);
  const out: PackedCall[] = [];
  let i = 0;
  while (i < bytes.length) {
    if (i + 85 > bytes.length) throw new Error(`MultiSend batch truncated at byte ${i}`);
    const operation = bytes[i];
    const to = getAddress(dataSlice(transactions, i + 1, i + 21));
    const value = toBigInt(dataSlice(transactions, i + 21, i + 53));
    const length = Number(toBigInt(dataSlice(transactions, i + 53, i + 85)));
    if (i + 85 + length > bytes.length) throw new Error(`MultiSend call at byte ${i} runs past the batch`);
    out.push({ operation, to, value, data: length === 0 ? "0x" : dataSlice(transactions, i + 85, i + 85 + length) });
    i += 85 + length;
  }
  return out;
}

/** The calldata of `multiSend` for `calls` (the inverse of {unpackMultiSend}). */
export function packMultiSend(calls: { operation?: number; to: string; value?: bigint; data: string }[]): string {
  const coder = AbiCoder.defaultAbiCoder();
  const parts = calls.map((c) => {
    const data = getBytes(c.data);
    return (
      (c.operation ?? 0).toString(16).padStart(2, "0") +
      getAddress(c.to).slice(2).toLowerCase() +
      coder.encode(["uint256"], [c.value ?? 0n]).slice(2) +
      coder.encode(["uint256"], [data.length]).slice(2) +
      Buffer.from(data).toString("hex")
    );
  });
  return MULTI_SEND.encodeFunctionData("multiSend", ["0x" + parts.join("")]);
}

/** What the rule trusts: the chain, and the deployment's contracts by name (a record's `contracts`). */
export interface SafeTrust {
  chainId?: number;
  contracts?: Record<string, string>;
}

/** The Safe releases whose MultiSendCallOnly safe-deployments lists (protocol-kit picks the Safe's own). */
const RELEASES = ["1.3.0", "1.4.1", "1.5.0"];

/**
 * The MultiSendCallOnly a Safe may delegatecall: the deployment record's; on a chain whose record
 * has none, Safe's own deployments of it there (`@safe-global/safe-deployments`, every release).
 * Empty when neither is known: then no delegatecall is acceptable.
 */
export function canonicalMultiSendCallOnly(trust: SafeTrust): string[] {
  const recorded = trust.contracts?.MultiSendCallOnly;
  if (recorded !== undefined) return [getAddress(recorded)];
  if (trust.chainId === undefined) return [];
  const network = String(trust.chainId);
  const found = RELEASES.flatMap((version) => {
    const at = getMultiSendCallOnlyDeployments({ version, network })?.networkAddresses[network];
    return at === undefined ? [] : [at].flat();
  });
  return [...new Set(found.map((a) => getAddress(a)))];
}

/** How a Safe transaction's call is to be read. */
export type SafeCallShape =
  /** A plain call (operation 0) to `to`. */
  | { kind: "call" }
  /** A batch through the canonical MultiSendCallOnly: its calls, each with what is wrong with it, if anything. */
  | { kind: "batch"; calls: (PackedCall & { problem?: string })[] }
  /** Any other delegatecall: not to be signed, executed or read as a batch. */
  | { kind: "refused"; problem: string };

function nameOf(address: string, trust: SafeTrust): string | undefined {
  return Object.entries(trust.contracts ?? {}).find(([, a]) => a.toLowerCase() === address.toLowerCase())?.[0];
}

/** The one rule on delegatecalls: which are an acceptable batch, and why the others are not. */
export function readSafeCall(tx: { to: string; data: string; operation?: number }, trust: SafeTrust): SafeCallShape {
  if (tx.operation !== 1) return { kind: "call" };
  const to = getAddress(tx.to);
  const canonical = canonicalMultiSendCallOnly(trust);
  if (!canonical.includes(to)) {
    const name = nameOf(to, trust);
    const expected =
      canonical.length === 0
        ? `none is known for chain ${trust.chainId ?? "(unknown)"}`
        : `it is ${canonical.join(" or ")}`;
    return {
      kind: "refused",
      problem:
        `a delegatecall to ${to}${name === undefined ? "" : ` (${name})`}, which is not the canonical ` +
        `MultiSendCallOnly (${expected}): it runs that contract's code with the Safe's own storage and ` +
        "funds, and can take over the Safe",
    };
  }
  let calls: PackedCall[];
  try {
    const parsed = MULTI_SEND.parseTransaction({ data: tx.data });
    if (parsed === null) {
      return {
        kind: "refused",
        problem: `a delegatecall to the MultiSendCallOnly ${to} that is not a multiSend batch`,
      };
    }
    calls = unpackMultiSend(parsed.args[0] as string);
  } catch (error) {
    return {
      kind: "refused",
      problem: `a malformed batch for the MultiSendCallOnly ${to}: ${(error as Error).message}`,
    };
  }
  return {
    kind: "batch",
    calls: calls.map((c, i) =>
      c.operation === 0
        ? c
        : {
            ...c,
            problem:
              `call ${i + 1} of the batch is a ${c.operation === 1 ? "delegatecall" : `call of operation ${c.operation}`} ` +
              `to ${c.to}: a batch holds plain calls only (MultiSendCallOnly reverts it)`,
          },
    ),
  };
}

/** The fields of a Safe transaction the rule reads (as stored: numbers as decimal strings). */
export interface SafeTxFields {
  to: string;
  data: string;
  operation: number;
  baseGas: string;
  gasPrice: string;
  gasToken: string;
  refundReceiver: string;
}

/** Each refund field that is set: the Safe would pay for the execution's gas out of its own funds. */
export function refundProblems(tx: SafeTxFields): string[] {
  const problems: string[] = [];
  const refund = (field: string, value: string, zero: string) =>
    problems.push(`a gas refund: ${field} is ${value}, not ${zero} (the Safe would pay it out of its own funds)`);
  if (BigInt(tx.gasPrice) !== 0n) refund("gasPrice", tx.gasPrice, "0");
  if (BigInt(tx.baseGas) !== 0n) refund("baseGas", tx.baseGas, "0");
  if (getAddress(tx.gasToken) !== ZeroAddress) refund("gasToken", getAddress(tx.gasToken), "the zero address");
  if (getAddress(tx.refundReceiver) !== ZeroAddress) {
    refund("refundReceiver", getAddress(tx.refundReceiver), "the zero address");
  }
  return problems;
}

/**
 * Why a Safe transaction must not be signed nor executed (empty when it may): a delegatecall that
 * is not a batch through the canonical MultiSendCallOnly, a call of such a batch that is not a plain
 * call, a gas refund.
 */
export function safeTxProblems(tx: SafeTxFields, trust: SafeTrust): string[] {
  const shape = readSafeCall(tx, trust);
  const call =
    shape.kind === "refused"
      ? [shape.problem]
      : shape.kind === "batch"
        ? shape.calls.flatMap((c) => (c.problem === undefined ? [] : [c.problem]))
        : [];
  return [...call, ...refundProblems(tx)];
}

/** The plain calls a Safe transaction makes (a batch unpacked), or why it makes none acceptable. */
export function callsOfSafeTx(
  tx: SafeTxFields & { value: string },
  trust: SafeTrust,
): { calls: { target: string; value: bigint; data: string }[]; problems: string[] } {
  const problems = safeTxProblems(tx, trust);
  const shape = readSafeCall(tx, trust);
  if (shape.kind === "batch" && BigInt(tx.value) !== 0n) {
    problems.push(`the batch itself carries ${tx.value} wei: a batch's calls carry their own values`);
  }
  const calls =
    shape.kind === "call"
      ? [{ target: getAddress(tx.to), value: BigInt(tx.value), data: tx.data.toLowerCase() }]
      : shape.kind === "batch"
        ? shape.calls.map((c) => ({ target: getAddress(c.to), value: c.value, data: c.data.toLowerCase() }))
        : [];
  return { calls, problems };
}

/**
 * The Safe transaction fields (nonce aside) that make exactly `calls`: one call is a plain call to
 * its target; several are a batch delegatecalled to `multiSendCallOnly`. No refund, no gas limit.
 */
export function safeTxFor(
  calls: { target: string; value: bigint; data: string }[],
  multiSendCallOnly: string | undefined,
): SafeTxFields & { value: string; safeTxGas: string; operation: 0 | 1 } {
  if (calls.length === 0) throw new Error("a Safe transaction needs at least one call");
  const zero = { safeTxGas: "0", baseGas: "0", gasPrice: "0", gasToken: ZeroAddress, refundReceiver: ZeroAddress };
  if (calls.length === 1) {
    const [c] = calls;
    return { to: getAddress(c.target), value: c.value.toString(), data: c.data, operation: 0 as const, ...zero };
  }
  if (multiSendCallOnly === undefined) {
    throw new Error("a batch of calls needs the deployment's MultiSendCallOnly, and none is known");
  }
  return {
    to: getAddress(multiSendCallOnly),
    value: "0",
    data: packMultiSend(calls.map((c) => ({ operation: 0, to: c.target, value: c.value, data: c.data }))),
    operation: 1 as const,
    ...zero,
  };
}
