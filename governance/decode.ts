import { AbiCoder, Interface, ParamType, Result, dataLength, dataSlice, getAddress, getBytes, toBigInt } from "ethers";
import {
  DDCCore__factory,
  DDCGovernanceToken__factory,
  DDCGovernor__factory,
  IDDC__factory,
  TimelockController__factory,
} from "../typechain-types";
import { safeArtifact } from "../deploy/safe";

/**
 * The reverse of the builders: any call a proposal or a Safe transaction makes, decoded from its
 * calldata (never from its description) into the function, its named arguments and the clusters,
 * nodes and buckets it touches. A MultiSend batch is unpacked into its calls. What cannot be
 * decoded is said so, with the raw data.
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
  /** The calls of a MultiSend batch. */
  calls?: DecodedCall[];
  /** Something a signer should look at twice (an unknown target, a delegatecall, a mismatch). */
  warnings: string[];
  /** One line: `DDCCore.clusterReplaceNode(cluster=1, node=2, replacements=[4], evidenceHash=0x…)`. */
  text: string;
}

const MULTI_SEND = new Interface(safeArtifact("MultiSend").abi as never[]);

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

/** MultiSend's packed batch: operation (1 byte), to (20), value (32), data length (32), data. */
export function unpackMultiSend(
  transactions: string,
): { operation: number; to: string; value: bigint; data: string }[] {
  const bytes = getBytes(transactions);
  const out: { operation: number; to: string; value: bigint; data: string }[] = [];
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

export interface DecodeContext {
  /** Known addresses by contract name (e.g. a deployment record's `contracts`). */
  contracts?: Record<string, string>;
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

/** Decodes one call (`operation` 1 = delegatecall, as in a Safe transaction). */
export function decodeCall(
  call: { to: string; value?: bigint; data: string; operation?: number },
  ctx: DecodeContext = {},
): DecodedCall {
  const to = getAddress(call.to);
  const value = call.value ?? 0n;
  const operation = call.operation === 1 ? "delegatecall" : "call";
  const known = knownName(to, ctx);
  const warnings: string[] = [];
  const base = { to, value, operation, warnings } as const;
  if (dataLength(call.data) === 0) {
    const text = `send ${value} wei to ${known ?? to}`;
    return { ...base, contract: known ?? "unknown", function: null, args: [], touches: touchesOf([]), text };
  }
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
    const label = known ?? name;
    const decoded: DecodedCall = {
      ...base,
      contract: label,
      function: parsed.name,
      args,
      touches: touchesOf(args),
      text: `${label}.${parsed.name}(${args.map((a) => `${a.name}=${show(a.value)}`).join(", ")})`,
    };
    if (name === "MultiSend") {
      const inner = unpackMultiSend(parsed.args[0] as string).map((c) => decodeCall(c, ctx));
      decoded.calls = inner;
      decoded.touches = {
        clusters: inner.flatMap((c) => c.touches.clusters),
        nodes: inner.flatMap((c) => c.touches.nodes),
        buckets: inner.flatMap((c) => c.touches.buckets),
      };
      decoded.text = `MultiSend of ${inner.length} call${inner.length === 1 ? "" : "s"}`;
      decoded.warnings.push(...inner.flatMap((c) => c.warnings));
    } else if (operation === "delegatecall") {
      warnings.push(`a delegatecall to ${label}: it runs with the Safe's own storage and funds`);
    }
    return decoded;
  }
  warnings.push("unknown function: check the raw data");
  return {
    ...base,
    contract: known ?? "unknown",
    function: null,
    args: [{ name: "data", type: "bytes", value: call.data }],
    touches: touchesOf([]),
    text: `${known ?? to}: unknown call ${dataSlice(call.data, 0, Math.min(4, dataLength(call.data)))}…`,
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
