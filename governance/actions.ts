import { getAddress, isHexString, type Interface } from "ethers";
import { IDDC__factory } from "../typechain-types";

/**
 * Typed builders for every manager action. Each produces the calls the manager makes and a
 * description, so that the same action can go to any manager: a Governor proposal
 * (`{targets, values, calldatas, description}`), a Safe transaction (the calls, batched through
 * MultiSendCallOnly), or an operator's plain transactions.
 *
 * The description is markdown: a title, a body, the evidence hash (and where the document is
 * published, when the action says), the **action key** `(cluster, era, kind)` that identifies the
 * decision (so nobody proposes the same decision twice), and, for proposals, the `#proposer=`
 * suffix.
 */

export const ACTION_KINDS = [
  "replace-node",
  "usage-report",
  "distribution",
  "settlement",
  "parameters",
  "handover",
  "operators",
  "validators",
  "add-node",
  "reservation",
] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];

/** The decision an action carries out: one per (cluster, era, kind); `era` null when none applies. */
export interface ActionKey {
  cluster: bigint;
  era: bigint | null;
  kind: ActionKind;
}

export interface Call {
  target: string;
  value: bigint;
  data: string;
}

export interface ManagerAction {
  key: ActionKey;
  title: string;
  /** Markdown. */
  body: string;
  evidenceHash?: string;
  /** Where the evidence document is published (its description says so, under the hash). */
  evidenceUrl?: string;
  calls: Call[];
}

/** What `Governor.propose` takes. */
export interface ProposalArgs {
  targets: string[];
  values: bigint[];
  calldatas: string[];
  description: string;
}

const core = IDDC__factory.createInterface() as unknown as Interface;

/** The core's batch maxima (DDCConstants): a larger list is split into several calls. */
export const USAGE_BATCH = 300;
export const SETTLE_BATCH = 1_200;

/** `items` in slices of at most `size`. */
function slices<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function call(target: string, fn: string, args: unknown[]): Call {
  return { target: getAddress(target), value: 0n, data: core.encodeFunctionData(fn, args) };
}

const UINT64_MAX = (1n << 64n) - 1n;
const UINT32_MAX = (1n << 32n) - 1n;

const ZEROS = "0".repeat(64);
/** `clusterReportUsage`'s selector, looked up once (an era of 100,000 buckets makes 334 calls). */
const REPORT_USAGE_SELECTOR = core.getFunction("clusterReportUsage")!.selector.slice(2);

function word(value: bigint, max: bigint, what: string): string {
  if (value < 0n || value > max) throw new Error(`usage report: ${what} ${value} is out of range`);
  // Zeros and digits joined: a third faster than padStart over 200,000 words.
  const hex = value.toString(16);
  return ZEROS.slice(hex.length) + hex;
}

/**
 * `clusterReportUsage(cluster, era, buckets, measuredUnits, evidenceHash)` calldata, encoded
 * directly: an era of 100,000 buckets is 334 calls of 600 words, which the generic ABI coder
 * takes seconds to write (the test compares both encodings).
 */
export function encodeUsageReport(
  cluster: bigint,
  era: bigint,
  buckets: readonly bigint[],
  units: readonly bigint[],
  evidenceHash: string,
): string {
  const n = buckets.length;
  const words: string[] = [
    REPORT_USAGE_SELECTOR,
    word(cluster, UINT32_MAX, "cluster"),
    word(era, UINT32_MAX, "era"),
    word(160n, UINT64_MAX, "offset"),
    word(BigInt(160 + 32 * (n + 1)), UINT64_MAX, "offset"),
    evidenceHash.slice(2).toLowerCase(),
    word(BigInt(n), UINT64_MAX, "length"),
  ];
  for (const b of buckets) words.push(word(b, UINT64_MAX, "bucket"));
  words.push(word(BigInt(units.length), UINT64_MAX, "length"));
  for (const u of units) words.push(word(u, UINT64_MAX, "measured units"));
  return "0x" + words.join("");
}

function checkHash(evidenceHash: string): string {
  if (!isHexString(evidenceHash, 32)) throw new Error(`evidence hash must be 32 bytes of hex, got ${evidenceHash}`);
  return evidenceHash.toLowerCase();
}

/** `ddc-action: cluster=<id> era=<n|-> kind=<kind>`: the line of a description that carries the key. */
export function formatActionKey(key: ActionKey): string {
  return `ddc-action: cluster=${key.cluster} era=${key.era ?? "-"} kind=${key.kind}`;
}

const KEY_LINE = /^ddc-action: cluster=(\d+) era=(\d+|-) kind=([a-z-]+)$/m;

/** The action key in a description, if it carries one. */
export function parseActionKey(description: string): ActionKey | undefined {
  const m = KEY_LINE.exec(description);
  if (m === null || !(ACTION_KINDS as readonly string[]).includes(m[3])) return undefined;
  return { cluster: BigInt(m[1]), era: m[2] === "-" ? null : BigInt(m[2]), kind: m[3] as ActionKind };
}

export function sameKey(a: ActionKey, b: ActionKey): boolean {
  return a.cluster === b.cluster && a.era === b.era && a.kind === b.kind;
}

/** The description of `action`; with `proposer`, restricted to it (`#proposer=`, last line). */
export function describe(action: ManagerAction, proposer?: string): string {
  const lines = [`# ${action.title}`, "", action.body.trim(), ""];
  if (action.evidenceHash !== undefined) {
    lines.push(`Evidence: ${action.evidenceHash}`);
    if (action.evidenceUrl !== undefined) lines.push(`Evidence document: ${action.evidenceUrl}`);
    lines.push("");
  }
  lines.push(formatActionKey(action.key));
  if (proposer !== undefined) lines.push("", `#proposer=${getAddress(proposer)}`);
  return lines.join("\n");
}

/** The evidence hash a description carries, if any. */
export function parseEvidence(description: string): string | undefined {
  return /^Evidence: (0x[0-9a-fA-F]{64})$/m.exec(description)?.[1];
}

/** Where a description says its evidence document is published, if it does. */
export function parseEvidenceUrl(description: string): string | undefined {
  return /^Evidence document: (https?:\/\/\S+)$/m.exec(description)?.[1];
}

export function toProposal(action: ManagerAction, proposer?: string): ProposalArgs {
  if (action.calls.length === 0) throw new Error("an action needs at least one call");
  return {
    targets: action.calls.map((c) => c.target),
    values: action.calls.map((c) => c.value),
    calldatas: action.calls.map((c) => c.data),
    description: describe(action, proposer),
  };
}

// ───────────────────────────────────────── builders ─────────────────────────────────────────

export function replaceNode(
  coreAddress: string,
  a: { cluster: bigint; era?: bigint; node: bigint; replacements: bigint[]; evidenceHash: string; reason?: string },
): ManagerAction {
  const evidenceHash = checkHash(a.evidenceHash);
  const to = [...new Set(a.replacements.map(String))].join(", ");
  return {
    key: { cluster: a.cluster, era: a.era ?? null, kind: "replace-node" },
    title: `Replace node ${a.node} in cluster ${a.cluster} by node${a.replacements.length > 1 ? "s" : ""} ${to}`,
    body: a.reason ?? `Node ${a.node}'s vNodes go to ${a.replacements.join(", ")}, in the order of its tokens.`,
    evidenceHash,
    calls: [call(coreAddress, "clusterReplaceNode", [a.cluster, a.node, a.replacements, evidenceHash])],
  };
}

export function usageReport(
  coreAddress: string,
  a: { cluster: bigint; era: bigint; buckets: bigint[]; measuredUnits: bigint[]; evidenceHash: string },
): ManagerAction {
  if (a.buckets.length !== a.measuredUnits.length) {
    throw new Error(`usage report: ${a.buckets.length} buckets but ${a.measuredUnits.length} measurements`);
  }
  if (a.buckets.length === 0) throw new Error("usage report: no buckets");
  const evidenceHash = checkHash(a.evidenceHash);
  const target = getAddress(coreAddress);
  return {
    key: { cluster: a.cluster, era: a.era, kind: "usage-report" },
    title: `Usage of ${a.buckets.length} bucket${a.buckets.length === 1 ? "" : "s"} in cluster ${a.cluster}, era ${a.era}`,
    body: "Billed units become max(reservation, measured), capped, from the execution on.",
    evidenceHash,
    // At most USAGE_BATCH buckets a call (the core's maximum), in order; the two lists sliced
    // alike (no pair for each bucket: an era may have 100,000) and the target checksummed once.
    calls: slices(a.buckets, USAGE_BATCH).map((buckets, i) => ({
      target,
      value: 0n,
      data: encodeUsageReport(
        a.cluster,
        a.era,
        buckets,
        a.measuredUnits.slice(i * USAGE_BATCH, i * USAGE_BATCH + buckets.length),
        evidenceHash,
      ),
    })),
  };
}

export function distribution(
  coreAddress: string,
  a: { cluster: bigint; era: bigint; ineligible: bigint[]; evidenceHash: string },
): ManagerAction {
  const evidenceHash = checkHash(a.evidenceHash);
  const ineligible = [...a.ineligible].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  return {
    key: { cluster: a.cluster, era: a.era, kind: "distribution" },
    title: `Distribute cluster ${a.cluster}'s revenue for era ${a.era}`,
    body:
      ineligible.length === 0
        ? "Every node is eligible."
        : `Ineligible (their share goes to the reserve): node${ineligible.length > 1 ? "s" : ""} ${ineligible.join(", ")}.`,
    evidenceHash,
    calls: [call(coreAddress, "clusterDistributeRevenues", [a.cluster, a.era, ineligible, evidenceHash])],
  };
}

export function settlement(
  coreAddress: string,
  a: { cluster: bigint; era?: bigint; buckets: bigint[] },
): ManagerAction {
  return {
    key: { cluster: a.cluster, era: a.era ?? null, kind: "settlement" },
    title: `Settle ${a.buckets.length} bucket${a.buckets.length === 1 ? "" : "s"} of cluster ${a.cluster}`,
    body: "Moves rent already accrued from the owners' ledgers into the cluster's revenue pool.",
    // At most SETTLE_BATCH buckets a call (the core's maximum).
    calls: slices(a.buckets, SETTLE_BATCH).map((batch) => call(coreAddress, "bucketSettlePayment", [a.cluster, batch])),
  };
}

export type GlobalParameterChange =
  | { name: "networkFeeBps"; value: bigint | number }
  | { name: "feeDestination"; value: string }
  | { name: "unlockDelay"; value: bigint | number }
  | { name: "gracePeriod"; value: bigint | number };

const SETTERS = {
  networkFeeBps: "setNetworkFee",
  feeDestination: "setFeeDestination",
  unlockDelay: "setUnlockDelay",
  gracePeriod: "setGracePeriod",
} as const;

/** Global parameters (DAO only: the Timelock holds the role). The key's cluster is 0. */
export function globalParameters(coreAddress: string, changes: GlobalParameterChange[]): ManagerAction {
  if (changes.length === 0) throw new Error("parameters: nothing to change");
  return {
    key: { cluster: 0n, era: null, kind: "parameters" },
    title: `Set ${changes.map((c) => `${c.name} = ${c.value}`).join(", ")}`,
    body: "Global parameters of the core, within the caps fixed in code.",
    calls: changes.map((c) => call(coreAddress, SETTERS[c.name], [c.value])),
  };
}

export interface ClusterParamsInput {
  replicationFactor: number;
  eraLength: number;
  qosThreshold: number;
  managementFeeBps: number;
  priceNotice: number;
}

export function clusterParameters(
  coreAddress: string,
  a: { cluster: bigint; params: ClusterParamsInput },
): ManagerAction {
  const p = a.params;
  return {
    key: { cluster: a.cluster, era: null, kind: "parameters" },
    title: `Change cluster ${a.cluster}'s parameters`,
    body:
      `replicationFactor ${p.replicationFactor}, eraLength ${p.eraLength} s, qosThreshold ${p.qosThreshold} bps, ` +
      `managementFeeBps ${p.managementFeeBps}, priceNotice ${p.priceNotice} s.`,
    calls: [call(coreAddress, "clusterChangeParams", [a.cluster, p])],
  };
}

/** Handover, either side: the current manager proposes `newManager`, or the pending one accepts. */
export function handover(
  coreAddress: string,
  a: { cluster: bigint; step: "propose"; newManager: string } | { cluster: bigint; step: "accept" },
): ManagerAction {
  const propose = a.step === "propose";
  return {
    key: { cluster: a.cluster, era: null, kind: "handover" },
    title: propose
      ? `Hand cluster ${a.cluster} over to ${getAddress(a.newManager)}`
      : `Accept the management of cluster ${a.cluster}`,
    body: propose
      ? "Two steps: the new manager must accept. Operators and validators are cleared on acceptance."
      : "Operators and validators are cleared; name them again (validators before the next era counts) if routine work should go on.",
    calls: [
      propose
        ? call(coreAddress, "clusterProposeManager", [a.cluster, a.newManager])
        : call(coreAddress, "clusterAcceptManager", [a.cluster]),
    ],
  };
}

function memberSet(
  coreAddress: string,
  kind: "operators" | "validators",
  a: { cluster: bigint; add?: string[]; remove?: string[] },
): ManagerAction {
  const fn = kind === "operators" ? "clusterSetOperator" : "clusterSetValidator";
  const add = (a.add ?? []).map((x) => getAddress(x));
  const remove = (a.remove ?? []).map((x) => getAddress(x));
  if (add.length + remove.length === 0) throw new Error(`${kind}: nobody to add or remove`);
  const parts = [add.length ? `add ${add.join(", ")}` : "", remove.length ? `remove ${remove.join(", ")}` : ""];
  return {
    key: { cluster: a.cluster, era: null, kind },
    title: `Cluster ${a.cluster} ${kind}: ${parts.filter(Boolean).join("; ")}`,
    body:
      kind === "operators"
        ? "Operators run routine work: usage reports and distributions."
        : "Validators measure the nodes' quality of service.",
    calls: [
      ...add.map((x) => call(coreAddress, fn, [a.cluster, x, true])),
      ...remove.map((x) => call(coreAddress, fn, [a.cluster, x, false])),
    ],
  };
}

export function addNode(coreAddress: string, a: { cluster: bigint; node: bigint; tokens: bigint[] }): ManagerAction {
  return {
    key: { cluster: a.cluster, era: null, kind: "add-node" },
    title: `Add node ${a.node} to cluster ${a.cluster}`,
    body: `vNodes at tokens ${a.tokens.join(", ")}. A price increase waits the cluster's notice.`,
    calls: [call(coreAddress, "clusterAddNode", [a.cluster, a.node, a.tokens])],
  };
}

export function reservation(coreAddress: string, a: { cluster: bigint; unitsPerVNode: bigint }): ManagerAction {
  return {
    key: { cluster: a.cluster, era: null, kind: "reservation" },
    title: `Reserve ${a.unitsPerVNode} units per vNode in cluster ${a.cluster}`,
    body: "Each node's reserved capacity becomes units × its vNodes.",
    calls: [call(coreAddress, "clusterReserveResource", [a.cluster, a.unitsPerVNode])],
  };
}

export function operators(
  coreAddress: string,
  a: { cluster: bigint; add?: string[]; remove?: string[] },
): ManagerAction {
  return memberSet(coreAddress, "operators", a);
}

export function validators(
  coreAddress: string,
  a: { cluster: bigint; add?: string[]; remove?: string[] },
): ManagerAction {
  return memberSet(coreAddress, "validators", a);
}

/**
 * How `found` differs from the decided `calls`, one line per difference (empty when they are
 * exactly the same: targets, values and calldata, in order).
 */
export function callDifferences(calls: readonly Call[], found: readonly Call[]): string[] {
  const out: string[] = [];
  if (found.length !== calls.length) out.push(`${found.length} call(s), the decision makes ${calls.length}`);
  for (let i = 0; i < Math.min(calls.length, found.length); i++) {
    const [want, got] = [calls[i], found[i]];
    const at = calls.length === 1 ? "the call" : `call ${i + 1}`;
    if (getAddress(got.target) !== getAddress(want.target)) {
      out.push(`${at} goes to ${getAddress(got.target)}, the decision's to ${getAddress(want.target)}`);
    }
    if (got.value !== want.value) out.push(`${at} sends ${got.value} wei, the decision's ${want.value}`);
    if (got.data.toLowerCase() !== want.data.toLowerCase()) {
      const fn = (data: string) => {
        try {
          return core.parseTransaction({ data })?.name ?? data.slice(0, 10);
        } catch {
          return data.slice(0, 10);
        }
      };
      const [g, w] = [fn(got.data), fn(want.data)];
      out.push(
        g === w ? `${at}'s arguments to ${w} differ from the decision's` : `${at} calls ${g}, the decision calls ${w}`,
      );
    }
  }
  return out;
}
