import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { keccak_256 } from "@noble/hashes/sha3";
import { TypedDataEncoder, getAddress } from "ethers";
import { createKeccak } from "hash-wasm";
import {
  MAX_REPORT_BUCKETS,
  MAX_REPORT_NODES,
  REPORT_TYPES,
  reportDigest,
  reportDomain,
  reportKeccak,
  type ReportBody,
} from "../manager-bot/src/report";
import { median } from "./botData";

/**
 * Benchmark of the report's EIP-712 digest (`reportDigest`), which the bot computes for every
 * report it receives before it can check the signature: writes reports/digest.json (rows
 * { name, value, unit, n }, as reports/bot.json) and reports/digest.md. The largest report the
 * schema admits is hashed by the hand encoder and by ethers' TypedDataEncoder, alternating, in
 * the same process; the ratio of the two is the figure to compare across machines.
 */
interface Row {
  name: string;
  value: number;
  unit: string;
  n: number;
}

const ROOT = join(__dirname, "..");
const RUNS = 3;
const CHAIN = 31337;
const CORE = getAddress("0x00000000000000000000000000000000000c0de1");

const fmt = (v: number, digits = 0) =>
  v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/** The largest report: 512 nodes and 100,000 buckets, with measured sizes of up to 20 digits. */
function largestReport(): ReportBody {
  return {
    cluster: 1,
    era: 1_000,
    nodes: Array.from({ length: MAX_REPORT_NODES }, (_, i) => ({
      node: i + 1,
      availabilityBps: 9_000 + (i % 1_000),
      latencyMs: 20 + (i % 200),
      retrievable: i % 50 !== 0,
      score: 9_000 + ((i * 7) % 1_000),
    })),
    buckets: Array.from({ length: MAX_REPORT_BUCKETS }, (_, i) => ({
      bucket: i + 1,
      measuredBytes: (BigInt(i + 1) * 1_073_741_827n * 1_000_003n).toString(),
    })),
  };
}

async function main(): Promise<void> {
  const engine = await reportKeccak;
  const body = largestReport();
  const json = JSON.stringify({ version: 1, chainId: CHAIN, core: CORE, validator: CORE, report: body });
  const fast: number[] = [];
  const generic: number[] = [];
  // One warm-up round, then RUNS rounds, the two encoders alternating (they share the noise).
  for (let r = 0; r <= RUNS; r++) {
    const t0 = performance.now();
    const a = reportDigest(CHAIN, CORE, body);
    const t1 = performance.now();
    const b = TypedDataEncoder.hash(reportDomain(CHAIN, CORE), REPORT_TYPES, body).toLowerCase();
    const t2 = performance.now();
    if (a !== b) throw new Error(`bench: the digests differ (${a}, ethers ${b})`);
    console.log(`bench:digest: round ${r}: ${fmt(t1 - t0)} ms, ethers ${fmt(t2 - t1)} ms`);
    if (r === 0) continue;
    fast.push(t1 - t0);
    generic.push(t2 - t1);
  }
  // The floor: the keccak-256 of each bucket's 96-byte struct encoding, nothing else.
  const block = new Uint8Array(96);
  const k0 = performance.now();
  for (let i = 0; i < MAX_REPORT_BUCKETS; i++) keccak_256(block);
  const nobleMs = performance.now() - k0;
  const wasm = await createKeccak(256);
  const k1 = performance.now();
  for (let i = 0; i < MAX_REPORT_BUCKETS; i++) {
    wasm.init();
    wasm.update(block);
    wasm.digest("binary");
  }
  const wasmMs = performance.now() - k1;

  const ms = median(fast);
  const ethersMs = median(generic);
  const rows: Row[] = [
    { name: "report-digest", value: round(ms, 1), unit: "ms", n: MAX_REPORT_BUCKETS },
    { name: "report-digest-ethers", value: round(ethersMs, 1), unit: "ms", n: MAX_REPORT_BUCKETS },
    { name: "report-digest-vs-ethers", value: round(ms / ethersMs, 3), unit: "x", n: MAX_REPORT_BUCKETS },
  ];
  const notes = [
    `A report of ${MAX_REPORT_NODES} nodes and ${fmt(MAX_REPORT_BUCKETS)} buckets (${fmt(json.length / 1e6, 1)} MB of JSON); ` +
      `medians of ${RUNS} runs after a warm-up: \`reportDigest\` ${fast.map((t) => fmt(t)).join(", ")} ms, ` +
      `ethers' \`TypedDataEncoder.hash\` ${generic.map((t) => fmt(t)).join(", ")} ms; both give the same digest. ` +
      `\`reportDigest\` ran on ${engine}'s keccak-256.`,
    `The floor, ${fmt(MAX_REPORT_BUCKETS)} keccak-256 of 96 bytes (one per bucket) and nothing else: ` +
      `${fmt(wasmMs)} ms with hash-wasm, ${fmt(nobleMs)} ms with @noble/hashes (which ethers uses).`,
  ];

  const dir = join(ROOT, "reports");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "digest.json"), JSON.stringify(rows, null, 2) + "\n");
  const md = [
    "# The report's EIP-712 digest",
    "",
    `Measured by \`npm run bench:digest\` (Node ${process.version}). Wall-clock figures are medians of a few runs ` +
      "on whatever machine ran them; compare `report-digest-vs-ethers` across machines rather than milliseconds.",
    "",
    "| name | value | unit | n |",
    "|---|---:|---|---:|",
    ...rows.map((r) => `| ${r.name} | ${fmt(r.value, r.unit === "x" ? 3 : 1)} | ${r.unit} | ${r.n} |`),
    "",
    ...notes.map((n) => `- ${n}`),
    "",
  ].join("\n");
  writeFileSync(join(dir, "digest.md"), md);
  for (const r of rows)
    console.log(`${r.name.padEnd(26)} ${fmt(r.value, r.unit === "x" ? 3 : 1).padStart(10)} ${r.unit}`);
  console.log("Written: reports/digest.json, reports/digest.md");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
