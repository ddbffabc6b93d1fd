import { getAddress, recoverAddress, type Provider } from "ethers";
import { z } from "zod";
import { readSafeCall, safeTxProblems, type SafeTrust, type SafeTxFields } from "../../governance/multiSend";
import type { Aggregation } from "./aggregate";
import type { CoreChainView } from "./chain";
import { aggregateEra, buildActions, decideEra, snapshotOf, type EraSnapshot } from "./decide";
import { canonicalJson, evidenceHash } from "./evidence";
import { reportDigest, signedReportSchema, type SignedReport } from "./report";

/**
 * `ddc verify`: an evidence document checked against the chain and the validators' signatures,
 * nothing else. What the document declares about the era (its validators, the cluster's threshold
 * and unit size, the members scored, the buckets that are not the cluster's) is read again from
 * the chain as of the era's end; the reports must be signed for this chain and core, by those
 * validators, one each; the aggregation and the actions are recomputed from them with the chain's
 * values, and compared with what the document states and with the calls on chain.
 */

/** One line of the verdict: what was checked, whether it holds, and why (the field and both values). */
export interface VerifyLine {
  action: string;
  ok: boolean;
  why: string;
}

/** A call as found on chain: a proposal's, a Safe transaction's, or a transaction's. */
export interface OnChainCall {
  target: string;
  data: string;
  value: bigint;
}

/** What verify reads of the chain (`coreChainView`). */
export type EraContext = Pick<
  CoreChainView,
  "chainId" | "core" | "eraEnd" | "now" | "validatorsAt" | "membersAt" | "paramsAt" | "foreignBuckets"
>;

/** The evidence versions verify reads: 1 (with `snapshotBlock`) and 2. */
export const VERIFIED_VERSIONS = [1, 2];

const int = z.number().int().min(0);
const decimal = z.string().regex(/^\d{1,78}$/, "a decimal integer string");
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address");

/** The evidence document as {decideEra} writes it (version 1 or 2). */
export const evidenceSchema = z.object({
  version: z.union([z.literal(1), z.literal(2)]),
  chainId: z.number().int().positive(),
  core: address,
  cluster: int.min(1),
  era: int,
  snapshotBlock: int.optional(),
  policy: z.object({
    qosThreshold: int,
    unitSize: decimal,
    replicationFactor: int,
    exclusionFactor: int.optional(),
    reservedPerVNode: decimal,
    failingEras: int,
    maxPerEra: int,
  }),
  validators: z.array(address),
  reports: z.array(signedReportSchema),
  members: z.array(z.object({ node: int, vNodes: int, pendingReplacement: z.boolean() })),
  scored: z.array(int).optional(),
  history: z.record(z.string(), z.array(int)),
  candidates: z.array(
    z.object({
      node: int,
      trustsManager: z.boolean(),
      capacity: decimal,
      reserved: decimal,
      meanScore: int.nullable(),
    }),
  ),
  previousEvidence: z.array(z.string()),
  aggregation: z.object({
    scores: z.array(z.object({ node: int, score: int, eligible: z.boolean() })),
    ineligible: z.array(int),
    usage: z.array(z.object({ bucket: int, measuredBytes: decimal, units: decimal })),
    foreignBuckets: z.array(int).optional(),
  }),
  actions: z.array(z.unknown()),
});
type Evidence = z.infer<typeof evidenceSchema>;

const list = (xs: readonly (string | number)[]) => (xs.length === 0 ? "none" : xs.join(", "));
/** The first few of `items`, and how many more. */
const some = (items: string[], most = 5) =>
  items.length <= most ? items.join("; ") : `${items.slice(0, most).join("; ")}; and ${items.length - most} more`;

/** How `stated` and `actual` (two sets) differ, in words. */
function setDifference(stated: readonly (string | number)[], actual: readonly (string | number)[]): string {
  const has = (xs: readonly (string | number)[], x: string | number) => xs.includes(x);
  const extra = stated.filter((x) => !has(actual, x));
  const missing = actual.filter((x) => !has(stated, x));
  return [
    extra.length > 0 ? `not the chain's: ${list(extra)}` : "",
    missing.length > 0 ? `left out: ${list(missing)}` : "",
    extra.length === 0 && missing.length === 0 ? "listed more than once" : "",
  ]
    .filter((x) => x !== "")
    .join("; ");
}

/**
 * Each report's line: signed for this chain and core, about the era, by a validator of the chain's
 * set at the era's end, once. Returns the reports the recomputation admits: those, a duplicate
 * included (the aggregation counts it once) and an equivocator's included (it counts neither).
 */
function reportLines(
  e: Evidence,
  chain: EraContext,
  validators: Set<string>,
): { lines: VerifyLine[]; valid: SignedReport[] } {
  const core = getAddress(chain.core);
  const checked = e.reports.map((r) => {
    const problems: string[] = [];
    let digest = "";
    let signer = "";
    try {
      digest = reportDigest(r.chainId, r.core, r.report);
      signer = getAddress(recoverAddress(digest, r.signature));
    } catch {
      // reported below
    }
    const validator = getAddress(r.validator);
    if (r.chainId !== chain.chainId)
      problems.push(`chainId: signed for chain ${r.chainId}, this is chain ${chain.chainId}`);
    if (getAddress(r.core) !== core)
      problems.push(`core: signed for core ${getAddress(r.core)}, this chain's is ${core}`);
    if (r.report.cluster !== e.cluster || r.report.era !== e.era) {
      problems.push(
        `cluster/era: a report of cluster ${r.report.cluster} era ${r.report.era}, the evidence is of cluster ${e.cluster} era ${e.era}`,
      );
    }
    if (signer !== validator) {
      problems.push(
        `signature: it does not recover to the validator it names${signer === "" ? "" : ` (it recovers to ${signer})`}`,
      );
    }
    if (!validators.has(validator)) problems.push("validator: not in the chain's validator set at the era's end");
    return { validator, digest, problems, valid: problems.length === 0, r };
  });
  // Among the reports that may count, a validator's: the same report listed again, or another one.
  const byValidator = new Map<string, string[]>();
  for (const c of checked.filter((x) => x.valid))
    byValidator.set(c.validator, [...(byValidator.get(c.validator) ?? []), c.digest]);
  const lines = checked.map(({ validator, digest, problems, valid }) => {
    const digests = valid ? byValidator.get(validator)! : [];
    if (digests.length > 1) {
      problems.push(
        digests.every((d) => d === digest)
          ? `duplicate: this validator's report is listed ${digests.length} times (it counts once)`
          : `equivocation: ${new Set(digests).size} different reports of this validator (none counts)`,
      );
    }
    return {
      action: `report of ${validator}${digest === "" ? "" : ` (${digest.slice(0, 10)}…)`}`,
      ok: problems.length === 0,
      why: problems.length === 0 ? "signed for this chain and core by a validator of the era" : problems.join("; "),
    };
  });
  return { lines, valid: checked.filter((c) => c.valid).map((c) => c.r) };
}

/** The parameter lines: the document's value of each, against the chain's at the era's end. */
function parameterLines(e: Evidence, params: { qosThreshold: number; replicationFactor: number; unitSize: bigint }) {
  const line = (field: string, stated: bigint | number, actual: bigint | number): VerifyLine =>
    BigInt(stated) === BigInt(actual)
      ? { action: `policy.${field}`, ok: true, why: `${actual}, in force at the era's end` }
      : {
          action: `policy.${field}`,
          ok: false,
          why: `the evidence says ${stated}, the chain ${actual} (in force at the era's end)`,
        };
  return [
    line("qosThreshold", e.policy.qosThreshold, params.qosThreshold),
    line("unitSize", BigInt(e.policy.unitSize), params.unitSize),
    line("replicationFactor", e.policy.replicationFactor, params.replicationFactor),
  ];
}

type Decided = Extract<Aggregation, { decided: true }>;

/** The stated aggregation against the recomputed one, field by field (each difference named). */
function aggregationLines(stated: Evidence["aggregation"], a: Decided): VerifyLine[] {
  const lines: VerifyLine[] = [];
  const scoreOf = new Map(a.scores.map((s) => [s.node, s]));
  const statedOf = new Map(stated.scores.map((s) => [s.node, s]));
  const scores: string[] = [];
  for (const s of stated.scores) {
    const r = scoreOf.get(s.node);
    if (r === undefined)
      scores.push(`node ${s.node}: the evidence scores it, the chain's members at the era's end do not include it`);
    else if (r.score !== s.score || r.eligible !== s.eligible) {
      scores.push(
        `node ${s.node}: the evidence states ${s.score}${s.eligible ? "" : " (ineligible)"}, ` +
          `the reports give ${r.score}${r.eligible ? "" : " (ineligible)"}`,
      );
    }
  }
  for (const r of a.scores)
    if (!statedOf.has(r.node)) scores.push(`node ${r.node}: the evidence leaves out its score ${r.score}`);
  lines.push(
    scores.length === 0
      ? {
          action: "aggregation.scores",
          ok: true,
          why: `${a.scores.length} nodes, recomputed from the reports: the same`,
        }
      : { action: "aggregation.scores", ok: false, why: some(scores) },
  );
  const ineligible = canonicalJson(stated.ineligible) === canonicalJson(a.ineligible);
  lines.push({
    action: "aggregation.ineligible",
    ok: ineligible,
    why: ineligible
      ? `${list(a.ineligible)}, recomputed: the same`
      : `the evidence states ${list(stated.ineligible)}, the reports give ${list(a.ineligible)}`,
  });
  const usageOf = new Map(a.usage.map((u) => [u.bucket, u]));
  const statedUsage = new Map(stated.usage.map((u) => [u.bucket, u]));
  const usage: string[] = [];
  for (const u of stated.usage) {
    const r = usageOf.get(u.bucket);
    if (r === undefined) usage.push(`bucket ${u.bucket}: the evidence reports ${u.units} units, the reports give none`);
    else if (BigInt(u.units) !== r.units || BigInt(u.measuredBytes) !== r.measuredBytes) {
      usage.push(
        `bucket ${u.bucket}: the evidence states ${u.units} units (${u.measuredBytes} bytes), ` +
          `the reports give ${r.units} units (${r.measuredBytes} bytes)`,
      );
    }
  }
  for (const r of a.usage) {
    if (!statedUsage.has(r.bucket)) usage.push(`bucket ${r.bucket}: the evidence leaves out its ${r.units} units`);
  }
  lines.push(
    usage.length === 0
      ? {
          action: "aggregation.usage",
          ok: true,
          why: `${a.usage.length} buckets, recomputed from the reports: the same`,
        }
      : { action: "aggregation.usage", ok: false, why: some(usage) },
  );
  return lines;
}

/**
 * Checks an evidence document against the chain, and the calls on chain against it (a proposal's,
 * a Safe transaction's or a transaction's), line by line:
 * - the document is for this chain and core, and its era has ended;
 * - every report is signed for this chain and core, about the era, by a validator of the chain's
 *   set at the era's end, once (a duplicate and an equivocation are named);
 * - the document's threshold, unit size and replication factor are those in force at the era's
 *   end, its validators the chain's set, the members it scores the chain's members at that end;
 * - the buckets it leaves out of usage are not the cluster's, and those it keeps are;
 * - the aggregation (scores, ineligible, usage) and the planned actions, recomputed from the
 *   reports with the chain's values, are what the document states;
 * - each call on chain is one of the recomputed actions' calls, carrying the document's hash,
 *   sending the value the action sends (none).
 * The document's other inputs (the members now, the exclusion factor, the reservation, the
 * history, the candidates, the replacement policy) are taken as stated: the core enforces what
 * they lead to (exclusions, replacements) when the call runs.
 */
export async function verifyEvidence(raw: unknown, onChain: OnChainCall[], chain: EraContext): Promise<VerifyLine[]> {
  const version = (raw as { version?: unknown } | null)?.version;
  if (!VERIFIED_VERSIONS.includes(version as number)) {
    return [
      {
        action: "evidence",
        ok: false,
        why: `version: ${JSON.stringify(version)} is not a version verify reads (${VERIFIED_VERSIONS.join(", ")})`,
      },
    ];
  }
  const parsed = evidenceSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    return [{ action: "evidence", ok: false, why: `malformed: ${i.path.join(".") || "(root)"}: ${i.message}` }];
  }
  const e = parsed.data;
  const doc = raw as Record<string, unknown>;
  const hash = evidenceHash(doc);
  const lines: VerifyLine[] = [];
  const core = getAddress(chain.core);
  const where: string[] = [];
  if (e.chainId !== chain.chainId)
    where.push(`chainId: the evidence says ${e.chainId}, this chain is ${chain.chainId}`);
  if (getAddress(e.core) !== core) where.push(`core: the evidence says ${getAddress(e.core)}, this chain's is ${core}`);
  lines.push(
    where.length === 0
      ? { action: "evidence", ok: true, why: `version ${e.version} of cluster ${e.cluster} era ${e.era}, hash ${hash}` }
      : { action: "evidence", ok: false, why: where.join("; ") },
  );
  const [end, now, params] = await Promise.all([
    chain.eraEnd(e.cluster, e.era),
    chain.now(),
    chain.paramsAt(e.cluster, e.era),
  ]);
  if (end === undefined || params === undefined) {
    lines.push({
      action: `cluster ${e.cluster}`,
      ok: false,
      why: `cluster: no cluster ${e.cluster} on the core ${core}`,
    });
    return lines;
  }
  if (now < end) {
    lines.push({
      action: `era ${e.era}`,
      ok: false,
      why: `era: era ${e.era} ends at ${end}, it is ${now}: not decidable yet`,
    });
    return lines;
  }
  const [validatorSet, members] = await Promise.all([
    chain.validatorsAt(e.cluster, e.era),
    chain.membersAt(e.cluster, e.era),
  ]);
  const validators = [...validatorSet].map((v) => getAddress(v)).sort();
  lines.push(...parameterLines(e, params));
  const stated = e.validators.map((v) => getAddress(v));
  const sameValidators = canonicalJson([...stated].sort()) === canonicalJson(validators);
  lines.push({
    action: "validators",
    ok: sameValidators,
    why: sameValidators
      ? `the chain's ${validators.length} at the era's end`
      : `the evidence lists ${list(stated)}, the chain's set at the era's end is ${list(validators)} (${setDifference(stated, validators)})`,
  });
  const scored = e.scored ?? e.members.map((m) => m.node);
  const sameMembers = canonicalJson([...scored].sort((a, b) => a - b)) === canonicalJson(members);
  lines.push({
    action: "scored members",
    ok: sameMembers,
    why: sameMembers
      ? `the chain's ${members.length} members at the era's end`
      : `the evidence scores ${list(scored)}, the chain's members at the era's end are ${list(members)} (${setDifference(scored, members)})`,
  });
  const reports = reportLines(e, chain, new Set(validators));
  lines.push(...reports.lines);

  // The decision again, from the reports the chain admits, with the chain's values.
  const base = snapshotOf(doc);
  const s: EraSnapshot = {
    ...base,
    chainId: chain.chainId,
    core,
    validators,
    reports: reports.valid,
    scored: members,
    params: { ...base.params, ...params },
    foreignBuckets: [],
  };
  const counted = aggregateEra(s).aggregation;
  if (!counted.decided) {
    lines.push({
      action: "aggregation",
      ok: false,
      why: `the reports that count are ${counted.have} of the ${counted.need} needed (of ${counted.validators} validators)`,
    });
    return lines;
  }
  // The buckets a quorum measured: those the chain says are not the cluster's are left out.
  const measured = counted.usage.map((u) => u.bucket);
  s.foreignBuckets = await chain.foreignBuckets(e.cluster, measured);
  const statedForeign = e.aggregation.foreignBuckets ?? [];
  const foreign: string[] = [];
  for (const b of statedForeign) {
    if (!measured.includes(b)) foreign.push(`bucket ${b}: left out, yet no quorum of the counted reports measured it`);
    else if (!s.foreignBuckets.includes(b)) foreign.push(`bucket ${b}: left out, yet it is the cluster's`);
  }
  for (const b of s.foreignBuckets) {
    if (!statedForeign.includes(b))
      foreign.push(`bucket ${b}: kept, yet it is not the cluster's (the core reverts the call)`);
  }
  lines.push(
    foreign.length === 0
      ? {
          action: "aggregation.foreignBuckets",
          ok: true,
          why:
            statedForeign.length === 0
              ? "every bucket measured is the cluster's"
              : `${list(statedForeign)} left out: none is the cluster's`,
        }
      : { action: "aggregation.foreignBuckets", ok: false, why: some(foreign) },
  );
  const { aggregation } = aggregateEra(s);
  if (!aggregation.decided) throw new Error("an era aggregated as decided is decided");
  lines.push(...aggregationLines(e.aggregation, aggregation));
  const decision = decideEra(s);
  if (!decision.decided) throw new Error("an era aggregated as decided is decided");
  const samePlan = canonicalJson(decision.planned) === canonicalJson(e.actions);
  lines.push({
    action: "actions",
    ok: samePlan,
    why: samePlan
      ? "recomputed from the reports: the same"
      : `the evidence states ${describePlan(e.actions)}, the recomputation gives ${describePlan(decision.planned)}`,
  });
  lines.push(...callLines(buildActions(s, decision.planned, hash), onChain, hash));
  return lines;
}

/** A plan in a few words (a usage report by its size: it may list 100,000 buckets). */
function describePlan(actions: readonly unknown[]): string {
  const one = (a: unknown): string => {
    const p = a as {
      kind?: unknown;
      buckets?: unknown[];
      ineligible?: unknown[];
      node?: unknown;
      replacements?: unknown[];
    };
    switch (p.kind) {
      case "usage-report":
        return `usage of ${p.buckets?.length ?? 0} buckets (${evidenceHash(a).slice(0, 10)}…)`;
      case "distribution":
        return `distribution, ineligible [${(p.ineligible ?? []).join(", ")}]`;
      case "replace-node":
        return `replace node ${String(p.node)} by [${(p.replacements ?? []).join(", ")}]`;
      default:
        return JSON.stringify(a).slice(0, 80);
    }
  };
  return actions.length === 0 ? "no action" : actions.map(one).join(" + ");
}

/** Each call on chain against the recomputed actions' calls (target, calldata, value). */
function callLines(actions: ReturnType<typeof buildActions>, onChain: OnChainCall[], hash: string): VerifyLine[] {
  if (onChain.length === 0) return [{ action: "calls", ok: false, why: "nothing on chain to compare" }];
  const expected = actions.flatMap((a) => a.calls.map((c) => ({ title: a.title, ...c })));
  const sends = (v: bigint) => (v === 0n ? "sends none" : `sends ${v} wei`);
  return onChain.map((o, i) => {
    const exact = expected.find(
      (x) => getAddress(x.target) === getAddress(o.target) && x.data.toLowerCase() === o.data.toLowerCase(),
    );
    if (exact !== undefined) {
      return o.value === exact.value
        ? { action: exact.title, ok: true, why: `matches the evidence (${hash})` }
        : {
            action: exact.title,
            ok: false,
            why: `the call on chain ${sends(o.value)}, the decided action ${sends(exact.value)}`,
          };
    }
    const sameFunction = expected.find((x) => x.data.slice(0, 10).toLowerCase() === o.data.slice(0, 10).toLowerCase());
    if (sameFunction !== undefined && getAddress(sameFunction.target) !== getAddress(o.target)) {
      return {
        action: sameFunction.title,
        ok: false,
        why: `target: the call on chain goes to ${getAddress(o.target)}, the decided action to ${getAddress(sameFunction.target)}`,
      };
    }
    return {
      action: sameFunction?.title ?? `call ${i + 1} on chain`,
      ok: false,
      why:
        sameFunction === undefined
          ? "the evidence does not lead to this call"
          : "calldata: the call on chain differs from the one the evidence leads to (arguments or evidence hash)",
    };
  });
}

/**
 * A Safe transaction's calls (a batch through the canonical MultiSendCallOnly unpacked, any other
 * delegatecall not at all), and what makes it wrong whatever the evidence says: what multiSend.ts's
 * rule refuses (a look-alike MultiSend, a delegatecall in a batch, a gas refund), and a value on
 * the batch itself (the decided actions send none).
 */
export function safeTxCalls(
  tx: SafeTxFields & { value: string },
  trust: SafeTrust,
): { calls: OnChainCall[]; refused: VerifyLine[] } {
  const shape = readSafeCall(tx, trust);
  const value = BigInt(tx.value);
  const refused = safeTxProblems(tx, trust).map((why) => ({ action: "Safe transaction", ok: false, why }));
  if (shape.kind === "batch" && value !== 0n) {
    refused.push({
      action: "Safe transaction",
      ok: false,
      why: `the batch carries ${value} wei: the decided actions send none`,
    });
  }
  const calls =
    shape.kind === "call"
      ? [{ target: tx.to, data: tx.data, value }]
      : shape.kind === "batch"
        ? shape.calls.map((c) => ({ target: c.to, data: c.data, value: c.value }))
        : [];
  return { calls, refused };
}

/**
 * A transaction's call (an operator's usage report or distribution, sent as is), and what its
 * receipt says: mined, mined and reverted (it carried out nothing: a failure), or not mined yet
 * (its call is checked as sent). Null when the chain knows no such transaction.
 */
export async function transactionCalls(
  provider: Provider,
  hash: string,
): Promise<{ calls: OnChainCall[]; lines: VerifyLine[] } | null> {
  const tx = await provider.getTransaction(hash);
  if (tx === null) return null;
  const receipt = await provider.getTransactionReceipt(hash);
  const lines: VerifyLine[] = [
    receipt === null
      ? {
          action: "transaction",
          ok: true,
          why: `${hash} from ${tx.from} is not mined yet: its call is checked as sent`,
        }
      : receipt.status === 1
        ? { action: "transaction", ok: true, why: `${hash} from ${tx.from}, mined in block ${receipt.blockNumber}` }
        : {
            action: "transaction",
            ok: false,
            why: `status: ${hash} from ${tx.from} was mined in block ${receipt.blockNumber} and reverted: it carried out nothing`,
          },
  ];
  if (tx.to === null) {
    lines.push({ action: "transaction", ok: false, why: "to: it creates a contract, no decided action does" });
    return { calls: [], lines };
  }
  return { calls: [{ target: tx.to, data: tx.data, value: tx.value }], lines };
}
