import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Interface, getAddress } from "ethers";
import { ethers, network } from "hardhat";
import { aggregate } from "../manager-bot/src/aggregate";
import { buildActions } from "../manager-bot/src/decide";
import { canonicalJson, hashOfJson, keccakInUse, ready } from "../manager-bot/src/evidence";
import { readCluster, readSettlements } from "../manager-bot/src/bot";
import { coreFixture } from "../test/helpers/fixtures";
import { buildPopulation } from "../test/helpers/population";
import type { DDCLens, IDDC } from "../typechain-types";
import {
  CHAIN_ID,
  CORE,
  GIB,
  PLAN,
  median,
  planLedgers,
  planSnapshot,
  plainLowerMedians,
  runPlan,
  syntheticReports,
  type PlanRun,
  validatorAddresses,
} from "./botData";
import { CountingProvider, type RpcRequest } from "./countingProvider";

/**
 * Benchmark of the manager bot: writes reports/bot.json (an array of { name, value, unit, n }) and
 * reports/bot.md (a table with the targets). Wall-clock figures are medians of a few runs and
 * remain noisy on a shared machine, so `aggregate` also comes as a ratio to a plain lower-median
 * computation over the same numbers in the same run. The RPC count is exact.
 */
interface Row {
  name: string;
  value: number;
  unit: string;
  n: number;
  /** Set when the measurement could not complete (the value is then what was counted until it failed). */
  error?: string;
}

interface Check {
  text: string;
  ok(value: number): boolean;
}

const ROOT = join(__dirname, "..");
const TARGETS: Partial<Record<string, Check>> = {
  aggregate: { text: "< 1,000 ms", ok: (v) => v < 1_000 },
  plan: { text: "< 1,000 ms", ok: (v) => v < 1_000 },
  memory: { text: "< 512 MiB", ok: (v) => v < 512 },
  rpc: { text: "≤ 10 calls", ok: (v) => v <= 10 },
};

const AGGREGATE = { nodes: 10_000, validators: 7, buckets: 1_000, runs: 5 } as const;
const PLAN_RUNS = 3;
const RPC_BUCKETS = 1_000;
/** The per-transaction gas cap (EIP-7825), which the Hardhat network also applies to eth_call. */
const GAS_CAP = 16_777_216;

const started = performance.now();
const log = (msg: string) => console.log(`bench:bot: [${((performance.now() - started) / 1000).toFixed(0)} s] ${msg}`);
const fmt = (v: number, digits = 0) =>
  v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The core's batch maximum `name`, read from the Solidity source (the one place it is stated). */
function coreConstant(name: string): number {
  const source = readFileSync(join(ROOT, "contracts", "interfaces", "IDDCTypes.sol"), "utf8");
  const m = new RegExp(`\\b${name}\\s*=\\s*([0-9_]+)\\s*;`).exec(source);
  if (m === null) throw new Error(`bench: ${name} not found in contracts/interfaces/IDDCTypes.sol`);
  return Number(m[1].replaceAll("_", ""));
}

/** `aggregate` over 10,000 nodes × 7 validators and 1,000 buckets, against a plain lower median. */
function benchAggregate(): { ms: number; plainMs: number; notes: string[] } {
  const validators = validatorAddresses(AGGREGATE.validators);
  const reports = syntheticReports({
    validators,
    cluster: 1,
    era: 1,
    nodes: AGGREGATE.nodes,
    buckets: AGGREGATE.buckets,
    seed: 1,
  });
  const members = Array.from({ length: AGGREGATE.nodes }, (_, i) => i + 1);
  const set = new Set(validators);
  const policy = { qosThreshold: 9_000, unitSize: GIB };
  const times: number[] = [];
  const plainTimes: number[] = [];
  // One warm-up round, then `runs` rounds, the two computations alternating (they share the noise).
  for (let round = 0; round <= AGGREGATE.runs; round++) {
    const t0 = performance.now();
    const a = aggregate(reports, set, members, policy, { chainId: CHAIN_ID, core: CORE, cluster: 1, era: 1 });
    const t1 = performance.now();
    const plain = plainLowerMedians(reports, members, GIB);
    const t2 = performance.now();
    if (!a.decided) throw new Error("bench: the synthetic aggregation was not decided");
    const same =
      a.scores.length === plain.scores.length &&
      a.scores.every((s, i) => s.score === plain.scores[i]) &&
      a.usage.length === plain.usage.length &&
      a.usage.every((u, i) => u.bucket === plain.usage[i].bucket && u.units === plain.usage[i].units);
    if (!same) throw new Error("bench: aggregate and the plain lower median disagree on the synthetic reports");
    if (round === 0) continue;
    times.push(t1 - t0);
    plainTimes.push(t2 - t1);
  }
  const ms = median(times);
  const plainMs = median(plainTimes);
  return {
    ms,
    plainMs,
    notes: [
      `\`aggregate\`: ${fmt(AGGREGATE.nodes)} nodes × ${AGGREGATE.validators} validators, ${fmt(AGGREGATE.buckets)} buckets ` +
        `measured by every validator; median of ${AGGREGATE.runs} runs after a warm-up ` +
        `(${times.map((t) => fmt(t)).join(", ")} ms). The plain lower median over the same numbers: ` +
        `${fmt(plainMs, 1)} ms (${plainTimes.map((t) => fmt(t)).join(", ")} ms); both give the same result.`,
    ],
  };
}

/** `decideEra` over 100,000 buckets' usage plus `planSettlements` over 100,000 ledgers. */
function benchPlan(): { ms: number; notes: string[] } {
  const now = 1_800_000_000n;
  const snapshot = planSnapshot();
  const ledgers = planLedgers(now);
  const totals: number[] = [];
  const parts: string[] = [];
  let last: PlanRun | undefined;
  for (let run = 0; run < PLAN_RUNS; run++) {
    last = runPlan(snapshot, ledgers, now);
    totals.push(last.decideMs + last.settleMs);
    parts.push(`${fmt(last.decideMs)} + ${fmt(last.settleMs)}`);
  }
  if (last === undefined || !last.decision.decided) throw new Error("bench: the synthetic era was not decided");
  const { decision } = last;
  const usageMax = coreConstant("MAX_USAGE_BATCH");
  const described = decision.actions.map((a) => {
    // Calldata sizes, grouped: "333 × 19,428 and 1 × 6,628 bytes".
    const counts = new Map<number, number>();
    for (const c of a.calls) counts.set((c.data.length - 2) / 2, (counts.get((c.data.length - 2) / 2) ?? 0) + 1);
    const sizes = [...counts].map(([size, k]) => (k === 1 ? fmt(size) : `${fmt(k)} × ${fmt(size)}`));
    let text = `${a.key.kind}: ${a.calls.length} call${a.calls.length === 1 ? "" : "s"} (calldata ${sizes.join(" and ")} bytes)`;
    if (a.key.kind === "usage-report") {
      const largest = Math.max(...a.calls.map((c) => usageBatchSize(c.data)));
      text += `, up to ${fmt(largest)} buckets a call (the core's MAX_USAGE_BATCH is ${usageMax})`;
    }
    return text;
  });
  described.push(`an evidence document of ${fmt(decision.json.length / 2 ** 20, 1)} MiB`);
  described.push(`${last.batches} settlement batches`);
  // Where decideEra's time goes: its steps again, one at a time, on the same inputs (one run).
  const lap = timer();
  const validators = new Set(snapshot.validators.map((v) => getAddress(v)));
  const members = snapshot.members.map((m) => m.node);
  aggregate(snapshot.reports, validators, members, snapshot.params, snapshot);
  const steps = [`aggregate ${fmt(lap())}`];
  canonicalJson(decision.evidence);
  steps.push(`canonicalJson of the evidence ${fmt(lap())}`);
  hashOfJson(decision.json);
  steps.push(`keccak256 of the evidence's UTF-8 bytes (${keccakInUse()}) ${fmt(lap())}`);
  buildActions(snapshot, decision.planned, decision.hash);
  steps.push(`buildActions (ABI encoding) ${fmt(lap())}`);
  return {
    ms: median(totals),
    notes: [
      `\`plan\`: one era of a cluster of ${PLAN.nodes} nodes, ${PLAN.validators} validators each reporting every node ` +
        `and ${fmt(PLAN.buckets)} buckets (decideEra), then planSettlements over ${fmt(PLAN.buckets)} ledgers; ` +
        `median of ${PLAN_RUNS} runs (decideEra + planSettlements: ${parts.join("; ")} ms). ` +
        `What it planned: ${described.join("; ")}. Its steps, timed one at a time (ms): ${steps.join(", ")}.`,
    ],
  };
}

/** The number of buckets in a `clusterReportUsage` calldata (read from the ABI encoding: decoding 100,000 takes minutes). */
function usageBatchSize(data: string): number {
  const word = (byteOffset: number) => BigInt("0x" + data.slice(10 + 2 * byteOffset, 10 + 2 * byteOffset + 64));
  return Number(word(Number(word(2 * 32))));
}

/** Milliseconds since the last call (or since it was made). */
function timer(): () => number {
  let t = performance.now();
  return () => {
    const now = performance.now();
    const ms = now - t;
    t = now;
    return ms;
  };
}

/** The `plan` run alone in a plain Node process (ts-node, as bin/ddc runs TypeScript): its peak RSS. */
function benchMemory(): { mib: number; notes: string[] } {
  const child = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", join(__dirname, "botPlan.ts")], {
    cwd: ROOT,
    env: { ...process.env, TS_NODE_PROJECT: join(ROOT, "tsconfig.json") },
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  if (child.status !== 0) throw new Error(`bench: the plan process failed (${child.status}): ${child.stderr}`);
  const lines = child.stdout.trim().split("\n");
  const out = JSON.parse(lines[lines.length - 1]) as {
    ms: number;
    rssBeforeKiB: number;
    maxRssKiB: number;
  };
  const mib = out.maxRssKiB / 1024;
  return {
    mib,
    notes: [
      `\`memory\`: \`process.resourceUsage().maxRSS\` at the end of a Node process that builds the \`plan\` inputs and ` +
        `plans once (bench/botPlan.ts, through ts-node). Its peak before planning (Node, ts-node, the inputs): ` +
        `${fmt(out.rssBeforeKiB / 1024)} MiB; its plan took ${fmt(out.ms)} ms.`,
    ],
  };
}

/** What a request is: the method, and for an `eth_call` the contract function and its arguments. */
function describeRequest(r: RpcRequest, contracts: { name: string; address: string; iface: Interface }[]) {
  if (r.method !== "eth_call") return r.method;
  const tx = r.params[0] as { to?: string; data?: string; input?: string };
  const data = tx.data ?? tx.input ?? "0x";
  const target = contracts.find((c) => tx.to !== undefined && c.address.toLowerCase() === tx.to.toLowerCase());
  const parsed = target?.iface.parseTransaction({ data });
  if (target === undefined || parsed == null) return `eth_call to ${tx.to} (${data.slice(0, 10)})`;
  return `eth_call ${target.name}.${parsed.name}(${parsed.args.map(String).join(", ")})`;
}

/** The JSON-RPC requests that reading one era's state of a cluster of 1,000 buckets makes, as the bot reads it. */
async function benchRpc(): Promise<{ calls: number; error?: string; notes: string[] }> {
  log(`building a cluster of 4 nodes and ${fmt(RPC_BUCKETS)} buckets…`);
  const f = await coreFixture();
  const { cluster } = await buildPopulation(f, { owners: RPC_BUCKETS, nodes: 4 });
  log("counting…");
  const { chainId } = await ethers.provider.getNetwork();
  const lensAddress = await f.lens.getAddress();
  const contracts = [
    { name: "DDCLens", address: lensAddress, iface: f.lens.interface as Interface },
    { name: "IDDC", address: f.coreAddress, iface: f.ddc.interface as Interface },
  ];

  const readEra = async (provider: CountingProvider): Promise<{ requests: RpcRequest[]; error?: string }> => {
    const ddc = f.ddc.connect(provider);
    const lens = f.lens.connect(provider);
    provider.reset();
    try {
      const state = await readCluster(ddc, Number(cluster), lens);
      const ledgers = await readSettlements(lens, Number(cluster), 0n);
      await ddc.clusterEra(cluster);
      if (state.members.length !== 4) throw new Error(`read ${state.members.length} members, expected 4`);
      if (ledgers.length !== RPC_BUCKETS) throw new Error(`read ${ledgers.length} ledgers, expected ${RPC_BUCKETS}`);
      return { requests: [...provider.requests] };
    } catch (error: unknown) {
      const e = error as { shortMessage?: unknown; message?: unknown };
      const why = typeof e.shortMessage === "string" ? e.shortMessage : String(e.message ?? error);
      const last = provider.requests[provider.requests.length - 1];
      const at = last === undefined ? "before any request" : describeRequest(last, contracts);
      return { requests: [...provider.requests], error: `${at} failed: ${why}` };
    }
  };
  // As the CLI and the bot service build their providers: the chain id known, no request cache.
  const counted = await readEra(
    new CountingProvider(network.provider, Number(chainId), { staticNetwork: true, cacheTimeout: -1 }),
  );
  // With a JsonRpcProvider's defaults (network detected, and checked on every request), once warm.
  const plain = new CountingProvider(network.provider);
  await plain.getNetwork();
  const plainCounted = await readEra(plain);
  const byMethod = (list: RpcRequest[]) =>
    Object.entries(
      list.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.method]: (acc[r.method] ?? 0) + 1 }), {}),
    )
      .map(([m, k]) => `${k} × ${m}`)
      .join(", ");
  const notes = [
    `\`rpc\`: readCluster(ddc, cluster, lens) + readSettlements(lens, cluster, settledAt) + ddc.clusterEra(cluster) ` +
      `over a provider built as the CLI and the bot service (manager-bot/src/service.ts) build theirs (\`staticNetwork: true, cacheTimeout: -1\`), every request that ` +
      `reaches the in-process Hardhat node counted (each element of a batch). The requests, in order: ` +
      counted.requests.map((r) => describeRequest(r, contracts)).join("; ") +
      "." +
      (counted.error === undefined ? "" : ` **The read failed**: ${counted.error}.`) +
      ` With a provider's default options (no static network) the same reads make ${plainCounted.requests.length} ` +
      `requests (${byMethod(plainCounted.requests)}): ethers checks the chain id before each call` +
      (plainCounted.error === undefined ? "." : ` (and fail the same way).`),
  ];
  if (counted.error !== undefined) notes.push(await settlementPageGas(f.lens, f.ddc, cluster));
  return { calls: counted.requests.length, error: counted.error, notes };
}

/**
 * What `settlementPage` costs: the gas of pages of the last 100, 200 and 400 bucket ids (all the
 * cluster's), and the largest page that runs within the per-call gas cap (a binary search).
 */
async function settlementPageGas(lens: DDCLens, ddc: IDDC, cluster: bigint): Promise<string> {
  const count = Number(await ddc.bucketCount());
  const to = await lens.getAddress();
  const gasOf = async (ids: number): Promise<number | undefined> => {
    const data = lens.interface.encodeFunctionData("settlementPage", [cluster, count - ids + 1]);
    return ethers.provider.estimateGas({ to, data, gasLimit: GAS_CAP }).then(Number, () => undefined);
  };
  const sizes = [100, 200, 400];
  const gas = await Promise.all(sizes.map(gasOf));
  let [fits, fails] = [0, Math.min(count, RPC_BUCKETS) + 1];
  while (fails - fits > 1) {
    const mid = (fits + fails) >> 1;
    if ((await gasOf(mid)) === undefined) fails = mid;
    else fits = mid;
  }
  const scan = Number(await lens.MAX_SETTLEMENT_SCAN());
  return (
    "`settlementPage` gas, pages of the cluster's last buckets: " +
    sizes.map((k, i) => `${k} buckets ${gas[i] === undefined ? "over the cap" : fmt(gas[i])}`).join(", ") +
    ` (more than linear: the page's memory grows with every bucket read). A call may use at most ` +
    `${fmt(GAS_CAP)} gas (the per-transaction cap, which the Hardhat network applies to eth_call too): the ` +
    `largest page that fits holds ${fmt(fits)} buckets, while MAX_SETTLEMENT_SCAN is ${fmt(scan)}.`
  );
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const notes: string[] = [];
  // The bot's service awaits the WebAssembly keccak before deciding anything; so does this.
  await ready();

  log("aggregate…");
  const agg = benchAggregate();
  rows.push({ name: "aggregate", value: round(agg.ms, 1), unit: "ms", n: AGGREGATE.nodes });
  rows.push({
    name: "aggregate-vs-plain-median",
    value: round(agg.ms / agg.plainMs, 2),
    unit: "x",
    n: AGGREGATE.nodes,
  });
  notes.push(...agg.notes);

  log(`plan (${PLAN_RUNS} runs)…`);
  const plan = benchPlan();
  rows.push({ name: "plan", value: round(plan.ms, 1), unit: "ms", n: PLAN.buckets });
  notes.push(...plan.notes);

  log("memory (a separate process)…");
  const memory = benchMemory();
  rows.push({ name: "memory", value: round(memory.mib, 1), unit: "MiB", n: PLAN.buckets });
  notes.push(...memory.notes);

  log("rpc…");
  const rpc = await benchRpc();
  rows.push({
    name: "rpc",
    value: rpc.calls,
    unit: "calls",
    n: RPC_BUCKETS,
    ...(rpc.error === undefined ? {} : { error: rpc.error }),
  });
  notes.push(...rpc.notes);

  const met = (r: Row) => {
    const t = TARGETS[r.name];
    if (r.error !== undefined) return "**no** (failed)";
    return t === undefined ? "" : t.ok(r.value) ? "yes" : "**no**";
  };
  const missed = rows.filter((r) => met(r).startsWith("**no**"));
  const dir = join(ROOT, "reports");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "bot.json"), JSON.stringify(rows, null, 2) + "\n");
  const md = [
    "# Manager bot",
    "",
    `Measured by \`npm run bench:bot\` (Node ${process.version}; the \`memory\` figure in a separate Node process). ` +
      "Wall-clock figures are medians of a few runs on whatever machine ran them; compare `aggregate-vs-plain-median` " +
      "across machines rather than milliseconds.",
    "",
    "| name | value | unit | n | target | met |",
    "|---|---:|---|---:|---|:---:|",
    ...rows.map(
      (r) =>
        `| ${r.name} | ${fmt(r.value, r.unit === "x" ? 2 : r.unit === "calls" ? 0 : 1)} | ${r.unit} | ${r.n} | ` +
        `${TARGETS[r.name]?.text ?? ""} | ${met(r)} |`,
    ),
    "",
    ...notes.flatMap((n) => [`- ${n}`]),
    "",
  ].join("\n");
  writeFileSync(join(dir, "bot.md"), md);

  console.log("");
  console.log(
    ["name".padEnd(28), "value".padStart(12), "unit".padEnd(6), "n".padStart(7), "target".padEnd(12), "met"].join("  "),
  );
  for (const r of rows) {
    console.log(
      [
        r.name.padEnd(28),
        fmt(r.value, r.unit === "x" ? 2 : r.unit === "calls" ? 0 : 1).padStart(12),
        r.unit.padEnd(6),
        String(r.n).padStart(7),
        (TARGETS[r.name]?.text ?? "").padEnd(12),
        met(r).replaceAll("*", ""),
      ].join("  "),
    );
  }
  console.log("");
  console.log("Written: reports/bot.json, reports/bot.md");
  if (missed.length > 0) {
    console.log(`Targets missed: ${missed.map((r) => r.name).join(", ")}`);
    process.exitCode = 1;
  }
}

function round(v: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(v * k) / k;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
