import { Interface, ParamType, Result, ZeroAddress, dataLength, dataSlice, getAddress } from "ethers";
import {
  DDCCore__factory,
  DDCGovernanceToken__factory,
  DDCGovernor__factory,
  IDDC__factory,
  TimelockController__factory,
} from "../typechain-types";
import type { ValueFormat } from "../lib/format";
import { safeArtifact } from "../lib/safeArtifacts";
import {
  MULTI_SEND,
  readSafeCall,
  refundProblems,
  safeTxProblems,
  type PackedCall,
  type SafeTrust,
  type SafeTxFields,
} from "./multiSend";

export { packMultiSend, unpackMultiSend } from "./multiSend";

/**
 * The reverse of the builders: any call a proposal or a Safe transaction makes, decoded from its
 * calldata (never from its description) into the function, its named arguments and the clusters,
 * nodes and buckets it touches. A batch through the canonical MultiSendCallOnly is unpacked into
 * its calls; any other delegatecall is decoded as the danger it is, flagged and never unpacked,
 * whatever its calldata looks like. What cannot be decoded is said so, with the raw data.
 */

export interface DecodedArg {
  name: string;
  type: string;
  value: unknown;
}

export interface Touches {
  clusters: bigint[];
  nodes: bigint[];
  buckets: bigint[];
}

export interface DecodedCall {
  to: string;
  /** The contract's name when `to` is known, else the interface whose selector matched, else "unknown". */
  contract: string;
  value: bigint;
  operation: "call" | "delegatecall";
  function: string | null;
  args: DecodedArg[];
  touches: Touches;
  /** The calls of a batch through the canonical MultiSendCallOnly (no other delegatecall is unpacked). */
  calls?: DecodedCall[];
  /** Something a signer should look at twice (an unknown target, a delegatecall, a mismatch). */
  warnings: string[];
  /** One line: `DDCCore.clusterReplaceNode(cluster=1, node=2, replacements=[4], evidenceHash=0x…)`. */
  text: string;
}

/** Interfaces by contract name, tried in this order when the target is not known. */
const INTERFACES: [string, Interface][] = [
  ["DDCCore", mergedCore()],
  ["DDCGovernor", DDCGovernor__factory.createInterface() as unknown as Interface],
  ["TimelockController", TimelockController__factory.createInterface() as unknown as Interface],
  ["DDCGovernanceToken", DDCGovernanceToken__factory.createInterface() as unknown as Interface],
  ["Safe", new Interface(safeArtifact("Safe").abi as never[])],
  ["MultiSend", MULTI_SEND],
];

/** The core's client ABI (IDDC) with the core's own functions (roles, pause). */
function mergedCore(): Interface {
  const seen = new Set<string>();
  const fragments = [
    ...IDDC__factory.createInterface().fragments,
    ...DDCCore__factory.createInterface().fragments,
  ].filter((f) => {
    if (f.type === "constructor" || f.type === "fallback") return false;
    const key = `${f.type} ${f.format("sighash")}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return new Interface(fragments);
}

const CLUSTER_ARGS = new Set(["cluster"]);
const NODE_ARGS = new Set(["node", "nodes", "replacements", "ineligibleNodes"]);
const BUCKET_ARGS = new Set(["bucket", "buckets"]);

/** A decoded value as plain data, shaped by its ABI type: structs as objects, arrays as arrays. */
function plain(value: unknown, type: ParamType): unknown {
  if (type.isArray() && value instanceof Result) return value.toArray().map((v) => plain(v, type.arrayChildren));
  if (type.isTuple() && value instanceof Result) {
    return Object.fromEntries(type.components.map((c, i) => [c.name || String(i), plain(value[i], c)]));
  }
  return value;
}

function show(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(show).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}: ${show(v)}`)
      .join(", ")}}`;
  }
  return String(value);
}

function touchesOf(args: DecodedArg[]): Touches {
  const t: Touches = { clusters: [], nodes: [], buckets: [] };
  for (const a of args) {
    const ids = (Array.isArray(a.value) ? a.value : [a.value]).filter((v): v is bigint => typeof v === "bigint");
    if (CLUSTER_ARGS.has(a.name)) t.clusters.push(...ids);
    if (NODE_ARGS.has(a.name)) t.nodes.push(...ids);
    if (BUCKET_ARGS.has(a.name)) t.buckets.push(...ids);
  }
  return t;
}

/**
 * What the decoder knows: the deployment's contracts by name (a record's `contracts`), which name
 * the targets, and the chain; together they say which MultiSendCallOnly is canonical (multiSend.ts).
 */
export type DecodeContext = SafeTrust & {
  /** How amounts of the payment token show (the CLI passes the token's symbol and decimals). */
  format?: ValueFormat;
};

/** Arguments that are amounts of the payment token, by the contract that takes them. */
const MONEY_ARGS: Record<string, Set<string>> = {
  DDCCore: new Set(["amount", "rent", "maxPrice"]),
  PaymentToken: new Set(["amount", "value"]),
};

function showArgOf(contract: string, a: DecodedArg, ctx: DecodeContext): string {
  const money = ctx.format?.money;
  if (money !== undefined && typeof a.value === "bigint" && MONEY_ARGS[contract]?.has(a.name)) return money(a.value);
  return show(a.value);
}

/** Which interface a deployment's contract speaks, by its name in the record. */
function interfaceOf(name: string): string | undefined {
  if (name.startsWith("MultiSend")) return "MultiSend";
  if (name === "Safe" || name === "SafeL2" || (name.endsWith("Safe") && name !== "Safe")) return "Safe";
  return INTERFACES.some(([n]) => n === name) ? name : undefined;
}

function knownName(to: string, ctx: DecodeContext): string | undefined {
  for (const [name, address] of Object.entries(ctx.contracts ?? {})) {
    if (address.toLowerCase() === to.toLowerCase()) return name;
  }
  return undefined;
}

type RawCall = { to: string; value?: bigint; data: string; operation?: number };

/**
 * Decodes one call (`operation` 1 = delegatecall, as in a Safe transaction). A delegatecall is
 * unpacked as a batch only when it is one through the canonical MultiSendCallOnly; any other is
 * decoded as what it is, a dangerous delegatecall, and flagged (multiSend.ts holds the rule).
 */
export function decodeCall(call: RawCall, ctx: DecodeContext = {}): DecodedCall {
  const shape = readSafeCall(call, ctx);
  if (shape.kind === "batch") return decodeBatch(call, shape.calls, ctx);
  const decoded = decodeFunction(call, ctx);
  return shape.kind === "refused" ? flagged(decoded, shape.problem) : decoded;
}

/** A call marked dangerous: `problem` first among its warnings, its text saying so. */
function flagged(d: DecodedCall, problem: string): DecodedCall {
  const what =
    d.function === "multiSend"
      ? `${d.contract}.multiSend(a batch, not unpacked)`
      : d.args.length === 0 && d.function === null
        ? "its fallback (no calldata)"
        : d.text;
  return { ...d, warnings: [problem, ...d.warnings], text: `DANGEROUS ${d.operation} to ${d.to}: ${what}` };
}

/** A batch through the canonical MultiSendCallOnly, unpacked into its calls. */
function decodeBatch(call: RawCall, calls: (PackedCall & { problem?: string })[], ctx: DecodeContext): DecodedCall {
  const to = getAddress(call.to);
  const value = call.value ?? 0n;
  const inner = calls.map((c) => {
    const d = decodeFunction(c, ctx);
    if (c.problem !== undefined) return flagged(d, c.problem);
    // MultiSendCallOnly sends a call to the zero address to the Safe itself.
    if (c.to === ZeroAddress) d.warnings.unshift("to the zero address: the batch sends this call to the Safe itself");
    return d;
  });
  const transactions = (MULTI_SEND.parseTransaction({ data: call.data })?.args[0] as string | undefined) ?? "0x";
  const warnings = inner.flatMap((c) => c.warnings);
  if (value !== 0n) warnings.unshift(`the batch carries ${value} wei, which a delegatecall does not send`);
  return {
    to,
    contract: knownName(to, ctx) ?? "MultiSendCallOnly",
    value,
    operation: "delegatecall",
    function: "multiSend",
    args: [{ name: "transactions", type: "bytes", value: transactions }],
    touches: {
      clusters: inner.flatMap((c) => c.touches.clusters),
      nodes: inner.flatMap((c) => c.touches.nodes),
      buckets: inner.flatMap((c) => c.touches.buckets),
    },
    calls: inner,
    warnings,
    text: `MultiSendCallOnly batch of ${inner.length} call${inner.length === 1 ? "" : "s"}`,
  };
}

/** The function a call makes, from its calldata, against the known interfaces. */
function decodeFunction(call: RawCall, ctx: DecodeContext): DecodedCall {
  const to = getAddress(call.to);
  const value = call.value ?? 0n;
  const operation = call.operation === 1 ? "delegatecall" : "call";
  const known = knownName(to, ctx);
  const warnings: string[] = [];
  if (value !== 0n) warnings.push(`it sends ${value} wei`);
  const base = { to, value, operation, warnings } as const;
  if (dataLength(call.data) === 0) {
    const text = `send ${value} wei to ${known ?? to}`;
    return { ...base, contract: known ?? "unknown", function: null, args: [], touches: touchesOf([]), text };
  }
  const withValue = value === 0n ? "" : ` with ${value} wei`;
  const expected = known === undefined ? undefined : interfaceOf(known);
  const first = INTERFACES.find(([n]) => n === expected);
  const candidates = first !== undefined ? [first, ...INTERFACES.filter((x) => x !== first)] : INTERFACES;
  for (const [name, iface] of candidates) {
    const parsed = iface.parseTransaction({ data: call.data, value });
    if (parsed === null) continue;
    const args = parsed.fragment.inputs.map((input, i) => ({
      name: input.name,
      type: input.type,
      value: plain(parsed.args[i], input),
    }));
    if (known !== undefined && expected !== name) {
      warnings.push(`${parsed.name} is a ${name} function, but the target is ${known}`);
    }
    if (known === undefined && Object.keys(ctx.contracts ?? {}).length > 0) {
      warnings.push(`the target ${to} is not a contract of this deployment`);
    }
    if (name === "MultiSend" && operation === "call") {
      warnings.push(`multiSend by a plain call: its calls would be made by ${to}, not by the caller (not unpacked)`);
    }
    const label = known ?? name;
    return {
      ...base,
      contract: label,
      function: parsed.name,
      args,
      touches: touchesOf(args),
      text: `${label}.${parsed.name}(${args.map((a) => `${a.name}=${showArgOf(known ?? name, a, ctx)}`).join(", ")})${withValue}`,
    };
  }
  warnings.push("unknown function: check the raw data");
  return {
    ...base,
    contract: known ?? "unknown",
    function: null,
    args: [{ name: "data", type: "bytes", value: call.data }],
    touches: touchesOf([]),
    text: `${known ?? to}: unknown call ${dataSlice(call.data, 0, Math.min(4, dataLength(call.data)))}…${withValue}`,
  };
}

/** A Safe transaction decoded, with every reason not to sign or execute it. */
export interface DecodedSafeTransaction extends DecodedCall {
  /** Why it must not be signed nor executed (multiSend.ts's rule); empty when it may. */
  problems: string[];
}

/**
 * Decodes a stored Safe transaction: its call (a batch through the canonical MultiSendCallOnly
 * unpacked), and its refund fields, a refund flagged among the warnings.
 */
export function decodeSafeTransaction(
  tx: SafeTxFields & { value: string },
  ctx: DecodeContext = {},
): DecodedSafeTransaction {
  const decoded = decodeCall({ to: tx.to, value: BigInt(tx.value), data: tx.data, operation: tx.operation }, ctx);
  return {
    ...decoded,
    warnings: [...refundProblems(tx), ...decoded.warnings],
    problems: safeTxProblems(tx, ctx),
  };
}

/** Decodes a proposal's calls. */
export function decodeProposal(
  p: { targets: string[]; values: bigint[]; calldatas: string[] },
  ctx: DecodeContext = {},
): DecodedCall[] {
  if (p.targets.length !== p.calldatas.length || p.targets.length !== p.values.length) {
    throw new Error("a proposal's targets, values and calldatas differ in length");
  }
  return p.targets.map((to, i) => decodeCall({ to, value: p.values[i], data: p.calldatas[i] }, ctx));
}
