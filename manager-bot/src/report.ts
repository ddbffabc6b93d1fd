import { keccak_256 } from "@noble/hashes/sha3";
import {
  SigningKey,
  getAddress,
  getBigInt,
  getBytes,
  hexlify,
  isAddress,
  recoverAddress,
  type TypedDataDomain,
} from "ethers";
import { createKeccak, type IHasher } from "hash-wasm";
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

// ───────────────────────────────── the EIP-712 encoding, by hand ─────────────────────────────────
//
// The bot hashes every report it receives before it can check the signature, so the digest of the
// largest report (512 nodes, 100,000 buckets: about 5 MB of JSON) must not hold the event loop:
// ethers' generic TypedDataEncoder takes 5–15 s for it on a 2-core machine, this encoder of exactly
// this schema 0.17 s (npm run bench:digest). Nearly all of that is the 100,000 small keccak-256s,
// one per bucket, hence the WebAssembly keccak. Its digests equal TypedDataEncoder's
// (test/bot/reportDigest.spec.ts).

/** The canonical encodeType strings (referenced types sorted by name, as EIP-712 orders them). */
export const REPORT_ENCODE_TYPES = {
  EIP712Domain: "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
  Report:
    "Report(uint32 cluster,uint32 era,NodeResult[] nodes,BucketUsage[] buckets)" +
    "BucketUsage(uint64 bucket,uint256 measuredBytes)" +
    "NodeResult(uint32 node,uint16 availabilityBps,uint32 latencyMs,bool retrievable,uint16 score)",
  NodeResult: "NodeResult(uint32 node,uint16 availabilityBps,uint32 latencyMs,bool retrievable,uint16 score)",
  BucketUsage: "BucketUsage(uint64 bucket,uint256 measuredBytes)",
} as const;

const utf8 = (s: string) => new TextEncoder().encode(s);
const DOMAIN_TYPEHASH = keccak_256(utf8(REPORT_ENCODE_TYPES.EIP712Domain));
const REPORT_TYPEHASH = keccak_256(utf8(REPORT_ENCODE_TYPES.Report));
const NODE_TYPEHASH = keccak_256(utf8(REPORT_ENCODE_TYPES.NodeResult));
const BUCKET_TYPEHASH = keccak_256(utf8(REPORT_ENCODE_TYPES.BucketUsage));
const NAME_HASH = keccak_256(utf8("DDC QoS Report"));
const VERSION_HASH = keccak_256(utf8("1"));
const TWO_32 = 2 ** 32;
const MASK_64 = (1n << 64n) - 1n;

let wasmKeccak: IHasher | undefined;
/**
 * Which keccak-256 the digest runs on, once that is settled (a few milliseconds after loading):
 * hash-wasm's WebAssembly build, about 15 times as fast per small hash here as @noble/hashes' (and
 * a large report's digest is nearly all small hashes, one per bucket), or @noble/hashes' where
 * WebAssembly is not available. Until then the digest uses @noble/hashes: the result is the same.
 */
export const reportKeccak: Promise<"hash-wasm" | "@noble/hashes"> = createKeccak(256).then(
  (hasher) => {
    wasmKeccak = hasher;
    return "hash-wasm";
  },
  () => "@noble/hashes",
);

function keccak(data: Uint8Array): Uint8Array {
  const hasher = wasmKeccak;
  if (hasher === undefined) return keccak_256(data);
  hasher.init();
  hasher.update(data);
  return hasher.digest("binary");
}

/** Where a value sits in the report, for the error message (built only when there is one). */
function fieldName(list: string, index: number, field: string): string {
  return list === "" ? field : `${list}[${index}].${field}`;
}

function describe(value: unknown): string {
  if (typeof value !== "string") return String(value);
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/**
 * Writes `value` as a uint of `bits` bits into the 32-byte word at `off` (big-endian), accepting
 * what ethers' EIP-712 encoder accepts (a safe integer number, a bigint, an integer string) and
 * refusing, with the field's name, whatever it refuses.
 */
function putUint(
  view: DataView,
  off: number,
  value: unknown,
  bits: number,
  list: string,
  index: number,
  field: string,
): void {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0 && (bits > 53 || value < 2 ** bits)) {
    const low = value % TWO_32;
    for (let i = 0; i < 24; i += 4) view.setUint32(off + i, 0);
    view.setUint32(off + 24, (value - low) / TWO_32);
    view.setUint32(off + 28, low);
    return;
  }
  if (typeof value === "number" && !Number.isInteger(value)) {
    throw new TypeError(`${fieldName(list, index, field)}: ${value} is not an integer`);
  }
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    // As ethers refuses it: the number has lost its low digits already.
    throw new RangeError(`${fieldName(list, index, field)}: ${value} is not a safe integer, not exact as a number`);
  }
  let v: bigint;
  try {
    v = getBigInt(value as string | number | bigint);
  } catch {
    throw new TypeError(`${fieldName(list, index, field)}: ${describe(value)} is not an integer`);
  }
  if (v < 0n || v >> BigInt(bits) !== 0n) {
    throw new RangeError(`${fieldName(list, index, field)}: ${v} is out of range for uint${bits}`);
  }
  for (let i = 24; i >= 0; i -= 8) {
    view.setBigUint64(off + i, v & MASK_64);
    v >>= 64n;
  }
}

function asList(value: unknown, list: string): unknown[] {
  if (!Array.isArray(value)) throw new TypeError(`${list}: not an array`);
  return value;
}

/** hashStruct(EIP712Domain) of `reportDomain(chainId, core)`. */
function domainSeparator(chainId: number, core: string): Uint8Array {
  const enc = new Uint8Array(5 * 32);
  const view = new DataView(enc.buffer);
  enc.set(DOMAIN_TYPEHASH, 0);
  enc.set(NAME_HASH, 32);
  enc.set(VERSION_HASH, 64);
  putUint(view, 96, chainId, 256, "", 0, "chainId");
  enc.set(getBytes(getAddress(core)), 128 + 12);
  return keccak(enc);
}

/**
 * The EIP-712 digest a validator signs (also the report's identity: equal digests, equal reports):
 * keccak256("\x19\x01" ‖ domainSeparator ‖ hashStruct(Report)), as ethers'
 * `TypedDataEncoder.hash(reportDomain(chainId, core), REPORT_TYPES, body)` computes it, in a
 * fraction of its time. A value outside its uint type throws, naming the field.
 */
export function reportDigest(chainId: number, core: string, body: ReportBody): string {
  const domain = domainSeparator(chainId, core);

  const nodes = asList(body.nodes, "nodes");
  const nodeHashes = new Uint8Array(nodes.length * 32);
  const nodeEnc = new Uint8Array(6 * 32);
  const nodeView = new DataView(nodeEnc.buffer);
  nodeEnc.set(NODE_TYPEHASH, 0);
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i] as Record<string, unknown>;
    putUint(nodeView, 32, n.node, 32, "nodes", i, "node");
    putUint(nodeView, 64, n.availabilityBps, 16, "nodes", i, "availabilityBps");
    putUint(nodeView, 96, n.latencyMs, 32, "nodes", i, "latencyMs");
    // Any truthy value is true, as in ethers' encoder (the schema admits only booleans).
    putUint(nodeView, 128, n.retrievable ? 1 : 0, 8, "nodes", i, "retrievable");
    putUint(nodeView, 160, n.score, 16, "nodes", i, "score");
    nodeHashes.set(keccak(nodeEnc), i * 32);
  }

  const buckets = asList(body.buckets, "buckets");
  const bucketHashes = new Uint8Array(buckets.length * 32);
  const bucketEnc = new Uint8Array(3 * 32);
  const bucketView = new DataView(bucketEnc.buffer);
  bucketEnc.set(BUCKET_TYPEHASH, 0);
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i] as Record<string, unknown>;
    putUint(bucketView, 32, b.bucket, 64, "buckets", i, "bucket");
    putUint(bucketView, 64, b.measuredBytes, 256, "buckets", i, "measuredBytes");
    bucketHashes.set(keccak(bucketEnc), i * 32);
  }

  const reportEnc = new Uint8Array(5 * 32);
  const reportView = new DataView(reportEnc.buffer);
  reportEnc.set(REPORT_TYPEHASH, 0);
  putUint(reportView, 32, body.cluster, 32, "", 0, "cluster");
  putUint(reportView, 64, body.era, 32, "", 0, "era");
  reportEnc.set(keccak(nodeHashes), 96);
  reportEnc.set(keccak(bucketHashes), 128);

  const message = new Uint8Array(2 + 32 + 32);
  message[0] = 0x19;
  message[1] = 0x01;
  message.set(domain, 2);
  message.set(keccak(reportEnc), 34);
  return hexlify(keccak(message));
}

/** Who signed the report (whatever it claims). A malformed signature throws. */
export function reportSigner(r: SignedReport): string {
  return getAddress(recoverAddress(reportDigest(r.chainId, r.core, r.report), r.signature));
}

/**
 * Signs `body` as a validator. A wallet holding its key (an ethers Wallet or HDNodeWallet) signs the
 * digest computed here; any other signer (a hardware wallet, a remote signer) gets the typed data.
 */
export async function signReport(
  signer: {
    getAddress(): Promise<string>;
    signTypedData(d: TypedDataDomain, t: typeof REPORT_TYPES, v: ReportBody): Promise<string>;
  },
  chainId: number,
  core: string,
  body: ReportBody,
): Promise<SignedReport> {
  const key = (signer as { signingKey?: unknown }).signingKey;
  const signature =
    key instanceof SigningKey
      ? key.sign(reportDigest(chainId, core, body)).serialized
      : await signer.signTypedData(reportDomain(chainId, core), REPORT_TYPES, body);
  return {
    version: REPORT_VERSION,
    chainId,
    core: getAddress(core),
    validator: getAddress(await signer.getAddress()),
    report: body,
    signature,
  };
}
