import { TypedDataEncoder, getAddress, isAddress, verifyTypedData, type TypedDataDomain } from "ethers";
import { z } from "zod";

/**
 * The QoS report, version 1 (frozen: validators produce it). A validator probes every node of a
 * cluster during an era and, once the era has ended, signs what it saw with EIP-712:
 *
 *   domain  { name: "DDC QoS Report", version: "1", chainId, verifyingContract: <the core> }
 *   Report  { uint32 cluster; uint32 era; NodeResult[] nodes; BucketUsage[] buckets }
 *   NodeResult  { uint32 node; uint16 availabilityBps; uint32 latencyMs; bool retrievable; uint16 score }
 *   BucketUsage { uint64 bucket; uint256 measuredBytes }
 *
 * and sends it as JSON (HTTP POST, or a file in the reports directory):
 *
 *   { "version": 1, "chainId": 31337, "core": "0x…", "validator": "0x…",
 *     "report": { "cluster": 1, "era": 42,
 *                 "nodes": [{ "node": 1, "availabilityBps": 9990, "latencyMs": 35, "retrievable": true, "score": 9950 }],
 *                 "buckets": [{ "bucket": 7, "measuredBytes": "1073741824" }] },
 *     "signature": "0x…" }
 *
 * Nodes and buckets are listed in strictly increasing id order (one report, one encoding);
 * `score` is in basis points (0–10,000) and is read as 0 when `retrievable` is false (a failed
 * proof that stored data can be read back scores 0); `measuredBytes` is a decimal string.
 */
export const REPORT_VERSION = 1;
export const MAX_REPORT_NODES = 512;
export const MAX_REPORT_BUCKETS = 100_000;

export const REPORT_TYPES = {
  Report: [
    { name: "cluster", type: "uint32" },
    { name: "era", type: "uint32" },
    { name: "nodes", type: "NodeResult[]" },
    { name: "buckets", type: "BucketUsage[]" },
  ],
  NodeResult: [
    { name: "node", type: "uint32" },
    { name: "availabilityBps", type: "uint16" },
    { name: "latencyMs", type: "uint32" },
    { name: "retrievable", type: "bool" },
    { name: "score", type: "uint16" },
  ],
  BucketUsage: [
    { name: "bucket", type: "uint64" },
    { name: "measuredBytes", type: "uint256" },
  ],
};

export function reportDomain(chainId: number, core: string): TypedDataDomain {
  return { name: "DDC QoS Report", version: "1", chainId, verifyingContract: getAddress(core) };
}

const u32 = z
  .number()
  .int()
  .min(0)
  .max(2 ** 32 - 1);
const bps = z.number().int().min(0).max(10_000);
/**
 * An address as EIP-55 allows it: all lower-case, all upper-case, or mixed case with a valid
 * checksum (a mixed case that fails it is a typo somewhere, and every later `getAddress` would throw).
 */
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, { message: "an address (0x + 40 hex digits)", abort: true })
  .refine(
    (a) => isAddress(a),
    "the mixed case fails the EIP-55 checksum (write the address all lower-case, or fix it)",
  );

const increasing =
  <T>(key: (x: T) => number | bigint, what: string) =>
  (list: T[], ctx: z.RefinementCtx) => {
    for (let i = 1; i < list.length; i++) {
      if (key(list[i]) <= key(list[i - 1])) {
        ctx.addIssue({ code: "custom", message: `${what} must be in strictly increasing order`, path: [i] });
        return;
      }
    }
  };

export const nodeResultSchema = z.object({
  node: u32.min(1),
  availabilityBps: bps,
  latencyMs: u32,
  retrievable: z.boolean(),
  score: bps,
});

export const bucketUsageSchema = z.object({
  bucket: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  // At most 77 digits: 10^77 − 1 < 2^256, so every such string fits the signed uint256.
  measuredBytes: z.string().regex(/^\d{1,77}$/, "a decimal integer string of at most 77 digits"),
});

export const reportBodySchema = z.object({
  cluster: u32.min(1),
  era: u32,
  nodes: z
    .array(nodeResultSchema)
    .max(MAX_REPORT_NODES)
    .superRefine(increasing((n) => n.node, "nodes")),
  buckets: z
    .array(bucketUsageSchema)
    .max(MAX_REPORT_BUCKETS)
    .superRefine(increasing((b) => b.bucket, "buckets")),
});
export type ReportBody = z.infer<typeof reportBodySchema>;

export const signedReportSchema = z
  .object({
    version: z.literal(REPORT_VERSION),
    chainId: z.number().int().positive(),
    core: address,
    validator: address,
    report: reportBodySchema,
    signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, "a 65-byte signature"),
  })
  .strict();
export type SignedReport = z.infer<typeof signedReportSchema>;

/** The EIP-712 digest a validator signs (also the report's identity: equal digests, equal reports). */
export function reportDigest(chainId: number, core: string, body: ReportBody): string {
  return TypedDataEncoder.hash(reportDomain(chainId, core), REPORT_TYPES, body).toLowerCase();
}

/** Who signed the report (whatever it claims). */
export function reportSigner(r: SignedReport): string {
  return getAddress(verifyTypedData(reportDomain(r.chainId, r.core), REPORT_TYPES, r.report, r.signature));
}

/** Signs `body` as a validator (a wallet or any ethers Signer). */
export async function signReport(
  signer: {
    getAddress(): Promise<string>;
    signTypedData(d: TypedDataDomain, t: typeof REPORT_TYPES, v: ReportBody): Promise<string>;
  },
  chainId: number,
  core: string,
  body: ReportBody,
): Promise<SignedReport> {
  const signature = await signer.signTypedData(reportDomain(chainId, core), REPORT_TYPES, body);
  return {
    version: REPORT_VERSION,
    chainId,
    core: getAddress(core),
    validator: getAddress(await signer.getAddress()),
    report: body,
    signature,
  };
}
