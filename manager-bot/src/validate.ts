import { getAddress, recoverAddress } from "ethers";
import { cleanMessage } from "./redact";
import { reportDigest, signedReportSchema, type SignedReport } from "./report";
import { isTransient } from "./tx";

/** Why a report is refused; each is logged and counted. */
export const REJECTIONS = [
  "malformed",
  "wrong-chain",
  "wrong-core",
  "unknown-cluster",
  "late",
  "early",
  "forged",
  "not-a-validator",
  "duplicate",
  "equivocation",
  "unverifiable",
] as const;
export type Rejection = (typeof REJECTIONS)[number];

export type Verdict =
  | { status: "accepted"; report: SignedReport; digest: string; validator: string }
  | {
      status: "rejected";
      reason: Rejection;
      detail: string;
      equivocated?: { validator: string; cluster: number; era: number };
    };

/** The parameters of a cluster that an era's aggregation depends on, as in force at its end. */
export interface EraParams {
  /** Basis points: a node scoring below is ineligible. */
  qosThreshold: number;
  replicationFactor: number;
  /** Bytes per unit (set when the cluster is created). */
  unitSize: bigint;
}

/** What validation needs to know of the chain. */
export interface ChainView {
  chainId: number;
  core: string;
  /** When `era` of `cluster` ends (seconds), or undefined for an unknown cluster. */
  eraEnd(cluster: number, era: number): Promise<bigint | undefined>;
  /** The cluster's validators as of `era`'s end. */
  validatorsAt(cluster: number, era: number): Promise<Set<string>>;
  /** The cluster's member nodes as of `era`'s end (the nodes its reports score), if known. */
  membersAt?(cluster: number, era: number): Promise<number[]>;
  /** The cluster's parameters in force at `era`'s end (undefined for an unknown cluster), if known. */
  paramsAt?(cluster: number, era: number): Promise<EraParams | undefined>;
  /** Which of `buckets` are not the cluster's (another cluster's, or no bucket at all), if known. */
  foreignBuckets?(cluster: number, buckets: number[]): Promise<number[]>;
  now(): Promise<bigint>;
}

/** What was accepted so far: each (cluster, era, validator) once; two different reports drop both. */
export interface ReportBook {
  /** The digest accepted for (cluster, era, validator), "equivocated", or undefined. */
  recorded(cluster: number, era: number, validator: string): Promise<string | "equivocated" | undefined>;
  accept(report: SignedReport, digest: string): Promise<void>;
  /** Marks the validator's era as equivocated: its accepted report no longer counts. */
  equivocate(cluster: number, era: number, validator: string): Promise<void>;
  /** The last era of the cluster decided or skipped: a report for it or an earlier one is late. */
  lastEra?(cluster: number): number | null | Promise<number | null>;
}

type Rejected = Extract<Verdict, { status: "rejected" }>;
const reject = (reason: Rejection, detail: string): Rejected => ({ status: "rejected", reason, detail });

/**
 * Thrown by `validateReport` when the chain could not be read (the node away, a timeout, rate
 * limiting: `isTransient`): nothing was decided about the report, which may be sent again later.
 */
export class ReportUndecided extends Error {
  constructor(cause: unknown) {
    super(`cannot check the report now: ${cleanMessage(cause)}`, { cause });
    this.name = "ReportUndecided";
  }
}

/** A read of the chain or of the book that failed: the bot's trouble, not the report's. */
class ReadFailure extends Error {
  constructor(readonly failure: unknown) {
    super(cleanMessage(failure));
  }
}

/** `fn()`, its failure (thrown or rejected) marked as a failed read. */
async function read<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw new ReadFailure(error);
  }
}

/**
 * The one validation path of every report, whatever brought it (HTTP or a file). In order:
 * the shape (zod), the chain and the core it is for, the cluster, the era being over, the
 * signature recovering to the validator it names, that validator being in the cluster's set at
 * the era's end, and the report being new: the same report again is a duplicate; a different one
 * from the same validator for the same era is equivocation, and both are dropped.
 *
 * Whatever the input, the answer is a verdict: a throw on the report's content is `malformed`,
 * and a failed read of the chain or the book that is not the transport's is `unverifiable`. Only
 * a transient failure to read the chain throws (a `ReportUndecided`): the report is then neither
 * accepted nor refused.
 */
export async function validateReport(raw: unknown, chain: ChainView, book: ReportBook): Promise<Verdict> {
  try {
    return await check(raw, chain, book);
  } catch (error) {
    if (!(error instanceof ReadFailure)) return reject("malformed", `cannot be read: ${cleanMessage(error)}`);
    if (isTransient(error.failure)) throw new ReportUndecided(error.failure);
    return reject("unverifiable", `the bot could not check the report: ${error.message}`);
  }
}

async function check(raw: unknown, chain: ChainView, book: ReportBook): Promise<Verdict> {
  const parsed = signedReportSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    return reject("malformed", `${i.path.join(".") || "(root)"}: ${i.message}`);
  }
  const r = parsed.data;
  if (r.chainId !== chain.chainId)
    return reject("wrong-chain", `for chain ${r.chainId}, this is chain ${chain.chainId}`);
  if (r.core.toLowerCase() !== chain.core.toLowerCase())
    return reject("wrong-core", `for core ${r.core}, this is ${chain.core}`);
  const { cluster, era } = r.report;
  // Before any chain lookup: an era closed already (decided or skipped) takes no more reports.
  const last = await read(() => (book.lastEra === undefined ? null : book.lastEra(cluster)));
  if (last !== null && era <= last) {
    return reject("late", `era ${era} of cluster ${cluster} is closed: the bot has decided up to era ${last}`);
  }
  const end = await read(() => chain.eraEnd(cluster, era));
  if (end === undefined) return reject("unknown-cluster", `no cluster ${cluster}`);
  const now = await read(() => chain.now());
  if (now < end) return reject("early", `era ${era} of cluster ${cluster} ends at ${end}, it is ${now}`);
  let digest: string;
  try {
    digest = reportDigest(r.chainId, r.core, r.report);
  } catch (error) {
    return reject("malformed", `cannot be encoded as EIP-712: ${cleanMessage(error).split(" (")[0]}`);
  }
  let signer: string;
  try {
    // From the digest just computed: hashing a 100,000-bucket report takes seconds, do it once.
    signer = getAddress(recoverAddress(digest, r.signature));
  } catch (error) {
    return reject("forged", `the signature does not verify: ${cleanMessage(error).split(" (")[0]}`);
  }
  const validator = getAddress(r.validator);
  if (signer !== validator) return reject("forged", `signed by ${signer}, not by ${validator}`);
  const set = await read(() => chain.validatorsAt(cluster, era));
  if (!set.has(validator))
    return reject("not-a-validator", `${validator} was not a validator of cluster ${cluster} at the end of era ${era}`);
  const before = await read(() => book.recorded(cluster, era, validator));
  if (before === "equivocated") {
    return {
      ...reject("equivocation", `${validator} already sent two different reports for era ${era}`),
      equivocated: { validator, cluster, era },
    };
  }
  if (before === digest) return reject("duplicate", `this report of ${validator} for era ${era} was accepted already`);
  if (before !== undefined) {
    await read(() => book.equivocate(cluster, era, validator));
    return {
      ...reject(
        "equivocation",
        `${validator} signed two different reports for era ${era} of cluster ${cluster}: both dropped`,
      ),
      equivocated: { validator, cluster, era },
    };
  }
  await read(() => book.accept(r, digest));
  return { status: "accepted", report: r, digest, validator };
}

/** A report book in memory (the bot's store keeps the same facts on disk). */
export class MemoryReportBook implements ReportBook {
  private readonly entries = new Map<string, { digest: string; report: SignedReport } | "equivocated">();

  private static key(cluster: number, era: number, validator: string): string {
    return `${cluster}/${era}/${getAddress(validator)}`;
  }

  async recorded(cluster: number, era: number, validator: string) {
    const e = this.entries.get(MemoryReportBook.key(cluster, era, validator));
    return e === undefined ? undefined : e === "equivocated" ? "equivocated" : e.digest;
  }

  async accept(report: SignedReport, digest: string): Promise<void> {
    this.entries.set(MemoryReportBook.key(report.report.cluster, report.report.era, report.validator), {
      digest,
      report,
    });
  }

  async equivocate(cluster: number, era: number, validator: string): Promise<void> {
    this.entries.set(MemoryReportBook.key(cluster, era, validator), "equivocated");
  }

  /** The reports that count for (cluster, era): accepted and not equivocated. */
  reportsFor(cluster: number, era: number): SignedReport[] {
    const out: SignedReport[] = [];
    for (const [k, e] of this.entries)
      if (k.startsWith(`${cluster}/${era}/`) && e !== "equivocated") out.push(e.report);
    return out;
  }
}
